/* tune.h — the search driver of `rn50-tune tune` (issue 7, SPEC §7).
 *
 * Stages, every decision on the val split:
 *   baseline      the uncompressed (fp16) model on the full val split
 *   global        every global combination the space allows, screened by successive halving:
 *                 evaluated on growing prefixes of val (rungs) and promoted to the next rung only
 *                 while, at the upper end of its top-1's interval, it meets the budget and
 *                 would add more than hv_delta to the hypervolume of the other candidates at
 *                 their current estimates (so a dominated one drops out); the
 *                 interval is the baseline's full-val top-1 plus a Wilson (binomial) interval on
 *                 the paired disagreements with the baseline on the same prefix
 *   sensitivity   per eligible layer and per-layer choice, that layer alone compressed: the change
 *                 of the mean cross-entropy and of top-1 against the baseline on the same images
 *   mixed         for a ladder of size (or latency) targets, the per-layer assignment of least
 *                 summed sensitivity by dynamic programming (knapsack over the exact per-layer
 *                 bytes, or the cost model's per-layer latencies, int8 layers sharing the cost of
 *                 8-bit activations), the ladder steered by each mix's accuracy on the screening
 *                 prefix (bisection once one misses the budget), then screened like the global
 *                 stage
 *   nsga2         generations of crossover and mutation over per-layer choices, same screening
 *   finetune      (workflow finetune) the points that beat the best point within budget for the
 *                 objective but missed the budget, fewest bytes (or ms) first, fine-tuned while
 *                 compressed (DKM palettization, scheduled pruning: compress/finetune.h) and
 *                 evaluated from their files on the full val split
 *   final         the front of the fully evaluated points within budget (the lower end of a
 *                 one-sided paired interval of val top-1 clears the threshold: cand_meets_budget),
 *                 re-evaluated on test
 * Every evaluation goes through the results store (db.h) first, so a resumed run recomputes
 * nothing that finished and, being deterministic, retraces the same decisions. */
#ifndef RN_TUNE_H
#define RN_TUNE_H

#include "evaluate.h"
#include "space.h"

#include <stdint.h>

enum tune_objective { TUNE_SIZE, TUNE_LATENCY, TUNE_ACCURACY, TUNE_OBJECTIVE_COUNT };

#define TUNE_MAX_RUNGS 4

struct tune_options {
    enum tune_objective objective;
    double budget;                  /* percentage points (or percent of baseline when relative) */
    int budget_relative;
    char budget_text[32];           /* as given, e.g. "5%" */
    double margin;                  /* points added to the val threshold (default 0: the interval is the guard) */
    double confidence;              /* one-sided level of the paired lower bound the budget rule uses
                                     * (0.95); 0: the plain val figure decides */
    double max_bytes, max_latency_ms;   /* constraints on the chosen point; 0: none */
    unsigned workflows;             /* enum space_workflow bits allowed */
    const char *out_dir;            /* run directory (exists) */
    const char *model_name, *weights_name, *data_name, *device_name;   /* for the report */
    const char *command_line;       /* the invocation, shell-quoted, for the run's provenance (NULL: not recorded) */
    int threads;                    /* threads in use, for the provenance */
    double time_limit_s;            /* 0: none; past it, no new stage starts */
    uint64_t seed;
    int64_t rungs[TUNE_MAX_RUNGS];  /* global screening prefixes of val, ascending; the full split is appended */
    int n_rungs;
    int64_t mixed_rung;             /* screening prefix for mixed candidates */
    int64_t sens_images;            /* images per sensitivity evaluation */
    double z;                       /* Wilson interval width in standard errors */
    double hv_delta;                /* promote only if the optimistic hypervolume gain exceeds this fraction */
    int ladder;                     /* targets of the dynamic-programming ladder */
    int generations, offspring;     /* NSGA-II */
    int global_only;                /* stop after the global stage (benchmark) */
    int compare_exhaustive;         /* then evaluate every global candidate on full val and compare hypervolumes */
    int measure_latency;            /* measure the front's batch-1 latency here (cpu-local) */
    int progress_tty;               /* one rewritten status line instead of log lines */
    /* finetune workflow (workflows & SPACE_FINETUNE) */
    int ft_points;                  /* points fine-tuned */
    int ft_epochs;                  /* epochs each */
    double ft_lr;                   /* peak learning rate */
};

struct tune_summary {
    int n_evals_run, n_evals_loaded;        /* this invocation: computed / found in the store */
    int n_points, n_front;
    int64_t chosen_id;
    int budget_met;
    double hypervolume;
    /* compare_exhaustive: the global stage's full-val evaluations and hypervolume against the
     * exhaustive grid's. */
    int staged_full, grid_full;
    double staged_hv, grid_hv;
};

/* Runs the search with ev on space sp and writes results/RUN (o->out_dir). */
int tune_run(struct evaluator *ev, const struct space *sp, const struct tune_options *o, struct tune_summary *sum);

/* Wilson score interval of k successes in n trials at z standard errors, in percent. */
void tune_wilson(int64_t k, int64_t n, double z, double *lo, double *hi);

/* Minimum-cost multiple-choice knapsack used by the mixed stage: m items (layers) with k choices
 * each, cost[i*k+c] >= 0 (sensitivity) and gain[i*k+c] in whole units (savings); a gain < 0 marks
 * a choice unavailable; choice 0 must have gain 0. Finds, for the required total gain `need`,
 * the assignment of least total cost with total gain >= need, into choice[m]. Returns 0, or -1
 * when no assignment reaches need (or on allocation failure). Exact: O(m * k * need). */
int tune_knapsack(int m, int k, const double *cost, const int *gain, int need, unsigned char *choice);

/* The same with a shared cost: the choices c with shared_choice[c] != 0 (int8 layers, whose
 * 8-bit activations are quantized at every site once any layer is W8A8) save `shared` units less
 * together than their gains add up to, so an assignment that uses any of them must reach
 * need + shared. Exact; same returns. */
int tune_knapsack_shared(int m, int k, const double *cost, const int *gain, const unsigned char *shared_choice, int shared,
                         int need, unsigned char *choice);

#endif
