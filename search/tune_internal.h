/* tune_internal.h — the search engine behind tune_run (tune.h), for its own files and its tests
 * only: the candidate table every stage shares, the stage functions the driver's table calls
 * (tune.c), and the pieces a stage takes from another file. One file a stage:
 *   tune_cand.c      the candidate table, the store-first evaluation (cand_add, cand_eval, keys)
 *   tune_screen.c    successive halving, the intervals and the hypervolume it screens on
 *   tune_global.c    the baseline, the global grid and its exhaustive comparison (grid)
 *   tune_layer.c     per layer: eligible layers and choices, sensitivities, the knapsack ladder
 *                    (tune_knapsack.c), the mixed genomes' YAML
 *   tune_nsga.c      NSGA-II over per-layer genomes
 *   tune_finetune.c  the finetune workflow's points
 *   tune_final.c     the front, its test evaluations and latencies, the run's outputs
 * Not a public API: nothing outside search/tune*.c and tests/ includes this. */
#ifndef RN_TUNE_INTERNAL_H
#define RN_TUNE_INTERNAL_H

#include "config.h"
#include "db.h"
#include "pareto.h"
#include "report.h"
#include "strbuf.h"
#include "tune.h"

#include <stdint.h>
#include <stdio.h>

#define TUNE_MAX_LAYER_CHOICES (1 + 8 + SPACE_MAX_CHOICES + 1)   /* fp16, bit widths 1..8, sparsities, int8 */

/* A kind of per-layer choice of the mixed stages. */
enum choice_kind { CH_LEAVE, CH_PAL, CH_PRUNE, CH_INT8 };

struct choice {
    enum choice_kind kind;
    int bits;
    double sparsity;
    char name[16];
};

struct cand {
    char name[96], stage[16], workflow[16];
    int mixed;
    char config[256];              /* relative to the run directory */
    char config_hash[DB_HASH_LEN + 1];
    struct compress_plan plan;
    unsigned char *genome;         /* mixed: the choice of each eligible layer */
    int64_t n;                     /* the largest val prefix evaluated */
    /* Its evaluation there: correct, lost and gained (paired against the baseline) and loss on
     * that prefix; bytes, latency_ms, compress_seconds and eval_seconds of the latest. */
    EVAL_METRICS_MEMBER;
    int64_t full_id;               /* store id of the full-val evaluation, or -1 */
    int alive;
    double test_top1, measured_ms;
    int on_front, within, chosen;
    char ft_path[256];             /* finetune workflow: the fine-tuned file, relative to the run dir */
    double ft_seconds;             /* its training time when trained by this invocation */
};

/* The state of one run, shared by every stage. The last block is what a stage leaves for a later
 * one (tune_run's locals before the stage table). */
struct tune {
    struct evaluator *ev;
    const struct space *sp;
    const struct tune_options *o;
    struct db *db;
    char model_hex[DB_HASH_LEN + 1];
    int64_t n_val, n_test;
    struct cand *c;
    int n, cap;
    int base;                      /* index of the baseline candidate */
    double thr_budget, thr;        /* val top-1 the budget needs, without and with the margin */
    double z_budget;               /* standard normal quantile of o->confidence (0: no interval) */
    int has_lat;
    unsigned objectives;           /* pareto objectives in use */
    /* mixed stages */
    int n_elig;
    int *elig;                     /* plan layer index of each eligible layer */
    int n_choice;
    struct choice choice[TUNE_MAX_LAYER_CHOICES];
    const char *mixed_alg, *mixed_workflow;
    int mixed_reconstruct;         /* per-layer pruning refits on calibration data (calib workflow) */
    int chosen_saved;              /* chosen.safetensors written (by the latency measurement) */
    double whole_int8;             /* the saving of every eligible layer int8 together (not the sum of
                                    * their marginal savings: activation quantization is shared) */
    /* bookkeeping */
    int run, loaded, planned, done;
    double t0, eval_time;
    const char *stage;
    int out_of_time;
    double ref_lat;
    unsigned screen_2d;            /* non-zero: screen on accuracy and this one objective (mixed stages) */
    /* what one stage hands to the next */
    struct tune_summary *sum;      /* the caller's summary (grid writes its comparison) */
    int *gidx, m_global;           /* global: its candidates (for grid) */
    double *dloss, *saving;        /* sensitivity: [n_elig * n_choice] loss and saving tables (for mixed) */
    int *pop, n_pop;               /* mixed: the population NSGA-II starts from */
    struct report_run report;      /* final: the run's record and its points (for outputs) */
    struct report_point *pts;
    int n_pts;
};

/* ---- the driver (tune.c) ---- */

double tune_elapsed(const struct tune *t);
/* One progress line (or the rewritten status line) after an evaluation described by what. */
void tune_progress(struct tune *t, const char *what);
/* 1 once past the time limit (saying so once): no new stage or generation starts. */
int tune_check_time(struct tune *t);

/* ---- candidates (tune_cand.c) ---- */

void cand_free(struct cand *c);
/* Writes yaml as configs/NAME.yaml, resolves it and adds the candidate; an existing candidate
 * with the same resolved plan is reused (*idx points at it). */
int cand_add(struct tune *t, const char *name, const char *stage, int mixed, const char *yaml, const unsigned char *genome, int *idx);
/* cand_add with `salt` (NULL: none) hashed into the config hash. */
int cand_add_salted(struct tune *t, const char *name, const char *stage, int mixed, const char *yaml, const unsigned char *genome,
                    const char *salt, int *idx);
/* The store key of c's evaluation on the first n images of split. */
void eval_key(const struct tune *t, const struct cand *c, enum eval_split split, int64_t n, char key[DB_HASH_LEN + 1]);
/* Evaluates candidate i on the first n images of split, from the store when it is there. */
int cand_eval(struct tune *t, int i, enum eval_split split, int64_t n, struct db_eval *out);
/* The same for the independent candidates idx[0..m) at once (spread over the ranks of a run);
 * stored and taken in the order of idx; their records into out[m] when non-NULL. */
int cand_eval_many(struct tune *t, const int *idx, int m, enum eval_split split, int64_t n, struct db_eval *out);
/* c's val top-1 in percent on its largest prefix; NaN before any evaluation. */
double tune_top1(const struct cand *c);
/* c's objective metric: latency (ms) for the latency objective, else bytes. */
double tune_metric(const struct tune *t, const struct cand *c);
/* As metric_of, and minus top-1 for the accuracy objective. */
double tune_objective(const struct tune *t, const struct cand *c);

/* ---- screening (tune_screen.c) ---- */

/* The interval [lo, hi] of c's full-val top-1 in percent from its prefix (paired against the
 * baseline t->c[t->base], which must be fully evaluated); a fully evaluated c is its measurement. */
void cand_interval(const struct tune *t, const struct cand *c, double *lo, double *hi);
/* The budget rule: the lower end of the one-sided o->confidence paired interval of c's val top-1
 * (the baseline's val top-1 plus a Wilson bound on the disagreements c wins, as cand_interval's,
 * on the images c was evaluated on); the baseline itself and a run without an interval
 * (z_budget 0) give the plain figure. NaN before any evaluation. */
double cand_budget_top1(const struct tune *t, const struct cand *c);
/* 1 if c is fully evaluated and cand_budget_top1 clears t->thr: within the budget on val. */
int cand_meets_budget(const struct tune *t, const struct cand *c);
/* The latency of the hypervolume's reference point: 1.05 x the slowest prediction so far. */
void update_ref_lat(struct tune *t);
/* Hypervolume of pts[0..k) against (budget threshold, baseline bytes, ref latency). */
double hv_points(const struct tune *t, const struct pareto_point *pts, int k);
/* 1 if c meets --max-size and --max-latency (the latter only with a cost model). */
int cand_meets_limits(const struct tune *t, const struct cand *c);
/* 1 if c, at top-1 `hi`, meets the budget and the size and latency limits. */
int may_qualify(const struct tune *t, const struct cand *c, double hi);
/* Successive halving of candidates idx[0..m) over rungs[0..n_rungs) (the last the full split). */
int tune_screen_rungs(struct tune *t, const int *idx, int m, const int64_t *rungs, int n_rungs);
/* The decision after a rung: clears `alive` of those among idx[0..m) evaluated at prefix rung
 * that cannot meet the budget or could add too little hypervolume. Evaluates nothing (the
 * candidates' counts are the caller's); returns STATUS_OK or STATUS_NOMEM. */
int screen_rung(struct tune *t, const int *idx, int m, int64_t rung);
/* Hypervolume of the fully evaluated points among idx[0..m) (all if idx is NULL) and the baseline. */
double tune_hv(const struct tune *t, const int *idx, int m);

/* ---- per layer (tune_layer.c) ---- */

/* Adds (or finds) the mixed candidate of genome[n_elig], named by its hash. */
int add_mixed(struct tune *t, const unsigned char *genome, const char *stage, int *idx);

/* ---- NSGA-II (tune_nsga.c) ---- */

/* Sorts pool[0..n) (candidate indices) by (non-dominated rank, crowding distance descending),
 * domination constrained by the budget (t->thr), on top-1 and metric_of; *out_n = min(n, keep). */
void nsga_select(const struct tune *t, int *pool, int n, int keep, int *out_n);

/* ---- final (tune_final.c) ---- */

/* Writes candidate c's compressed model file to path. Returns STATUS_OK, STATUS_IO naming the
 * file that could not be read or written, or STATUS_NOMEM. */
int save_point(struct tune *t, const struct cand *c, const char *path);

/* ---- the stages, in the order of the driver's table (tune.c) ---- */

int stage_baseline(struct tune *t);
int stage_global(struct tune *t);
int stage_grid(struct tune *t);
int stage_sensitivity(struct tune *t);
int stage_mixed(struct tune *t);
int stage_nsga2(struct tune *t);
int stage_finetune(struct tune *t);
int stage_final(struct tune *t);
int stage_outputs(struct tune *t);

#endif
