/* tune.c — the search driver (see tune.h): candidates, the store-first evaluation, successive
 * halving, the sensitivity tables, the dynamic-programming ladder, NSGA-II and the final front.
 * The outputs themselves are written by report.c, export_coreml.c and plots/. */
#include "tune.h"

#include "apply.h"
#include "atomic_file.h"
#include "cli.h"
#include "config.h"
#include "db.h"
#include "export_coreml.h"
#include "pareto.h"
#include "plots.h"
#include "provenance.h"
#include "report.h"
#include "report_html.h"
#include "rng.h"
#include "size.h"
#include "status.h"
#include "strbuf.h"
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TUNE_MAX_LAYER_CHOICES (1 + 8 + SPACE_MAX_CHOICES + 1)   /* fp16, bit widths 1..8, sparsities, int8 */
#define TUNE_DP_UNITS 2000

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
    int64_t n, correct;            /* at the largest val prefix evaluated */
    int64_t lost, gained;          /* paired counts against the baseline on that prefix */
    double loss, bytes, latency, compress_s;
    int64_t full_id;               /* store id of the full-val evaluation, or -1 */
    int alive;
    double test_top1, measured_ms;
    int on_front, within, chosen;
    char ft_path[256];             /* finetune workflow: the fine-tuned file, relative to the run dir */
    double ft_seconds;             /* its training time when trained by this invocation */
};

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
};

/* ---- small helpers ---- */

static void sb_printf(struct strbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    strbuf_put(b, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static int write_text(FILE *f, void *ctx)
{
    const char *s = ctx;
    return fputs(s, f) >= 0;
}

static int ensure_dir(const char *path)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST) return STATUS_OK;
    return status_error(STATUS_IO, "%s: cannot create directory: %s", path, strerror(errno));
}

void tune_wilson(int64_t k, int64_t n, double z, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = 0;
        *hi = 100;
        return;
    }
    const double p = (double)k / (double)n, z2 = z * z, d = 1 + z2 / (double)n;
    const double mid = (p + z2 / (2.0 * (double)n)) / d;
    const double half = z * sqrt(p * (1 - p) / (double)n + z2 / (4.0 * (double)n * (double)n)) / d;
    *lo = 100.0 * fmax(0.0, mid - half);
    *hi = 100.0 * fmin(1.0, mid + half);
}

int tune_knapsack(int m, int k, const double *cost, const int *gain, int need, unsigned char *choice)
{
    if (need < 0) need = 0;
    const int W = need + 1;
    double *f = malloc(sizeof(double) * (size_t)W), *g = malloc(sizeof(double) * (size_t)W);
    unsigned char *pick = malloc((size_t)m * (size_t)W);
    int rc = -1;
    if (!f || !g || !pick) goto done;
    /* f[j]: least cost over the layers so far with total gain >= j (gains capped at need). */
    for (int j = 0; j < W; j++) f[j] = j == 0 ? 0.0 : INFINITY;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < W; j++) {
            g[j] = INFINITY;
            pick[(size_t)i * W + j] = 0;
            for (int c = 0; c < k; c++) {
                const int u = gain[i * k + c];
                if (u < 0) continue;
                const int from = j - u < 0 ? 0 : j - u;
                const double v = f[from] + cost[i * k + c];
                if (v < g[j]) {
                    g[j] = v;
                    pick[(size_t)i * W + j] = (unsigned char)c;
                }
            }
        }
        memcpy(f, g, sizeof(double) * (size_t)W);
    }
    if (!isfinite(f[need])) goto done;
    for (int i = m - 1, j = need; i >= 0; i--) {
        const int c = pick[(size_t)i * W + j];
        choice[i] = (unsigned char)c;
        j -= gain[i * k + c];
        if (j < 0) j = 0;
    }
    rc = 0;
done:
    free(f);
    free(g);
    free(pick);
    return rc;
}

int tune_knapsack_shared(int m, int k, const double *cost, const int *gain, const unsigned char *shared_choice, int shared,
                         int need, unsigned char *choice)
{
    /* The optimum either uses no shared choice (the knapsack without them) or uses some and so
     * must reach need + shared (the knapsack with all choices at that need: a solution of it
     * that happens to use none is feasible for the first case too, never better than its
     * optimum). The cheaper of the two is exact. */
    if (shared <= 0) return tune_knapsack(m, k, cost, gain, need, choice);
    int *g = malloc(sizeof(int) * (size_t)(m * k));
    unsigned char *alt = malloc((size_t)m);
    if (!g || !alt) {
        free(g);
        free(alt);
        return -1;
    }
    for (int i = 0; i < m * k; i++) g[i] = shared_choice[i % k] ? -1 : gain[i];
    const int ok_plain = tune_knapsack(m, k, cost, g, need, alt) == 0;
    const int ok_shared = tune_knapsack(m, k, cost, gain, need + shared, choice) == 0;
    double cost_plain = 0, cost_shared = 0;
    for (int i = 0; i < m; i++) {
        if (ok_plain) cost_plain += cost[i * k + alt[i]];
        if (ok_shared) cost_shared += cost[i * k + choice[i]];
    }
    if (ok_plain && (!ok_shared || cost_plain <= cost_shared)) memcpy(choice, alt, (size_t)m);
    free(g);
    free(alt);
    return ok_plain || ok_shared ? 0 : -1;
}

/* The canonical text of a resolved plan: what the store key hashes (two configs that resolve to
 * the same plan are the same evaluation). */
static void plan_canonical(const struct compress_plan *p, struct strbuf *b)
{
    sb_printf(b, "threshold %lld\n", (long long)p->weight_threshold);
    for (int i = 0; i < p->n_layers; i++) {
        const struct layer_plan *l = &p->layer[i];
        sb_printf(b, "%s", p->info[i].name);
        if (l->prune.enabled)
            sb_printf(b, " prune %.9g %d %d %d:%d%s", l->prune.target_sparsity, (int)l->prune.granularity, l->prune.block_size,
                      l->prune.n_m_n, l->prune.n_m_m, l->prune.reconstruct ? " reconstruct" : "");
        if (l->pal.enabled)
            sb_printf(b, " pal %d %d %d %d %d %d", l->pal.n_bits, (int)l->pal.granularity, l->pal.group_size, l->pal.channel_axis,
                      l->pal.per_channel_scale, (int)l->pal.algorithm);
        if (l->quant.enabled)
            sb_printf(b, " quant %d %d %d %d", l->quant.symmetric, l->quant.activations, (int)l->quant.observer,
                      l->quant.calibration_samples);
        sb_printf(b, "\n");
    }
}

static double elapsed(const struct tune *t) { return cli_now() - t->t0; }

static void progress(struct tune *t, const char *what)
{
    const int remaining = t->planned > t->done ? t->planned - t->done : 0;
    const double per = t->run ? t->eval_time / t->run : 0;
    const double eta = per * remaining;
    /* Best so far: the smallest (or fastest) fully evaluated point within budget. */
    const char *best = "none yet";
    char bestbuf[96];
    int bi = -1;
    for (int i = 0; i < t->n; i++) {
        const struct cand *c = &t->c[i];
        if (c->full_id < 0 || 100.0 * (double)c->correct / (double)c->n < t->thr) continue;
        const double m = t->o->objective == TUNE_LATENCY ? c->latency : c->bytes;
        const double mb = bi < 0 ? INFINITY : t->o->objective == TUNE_LATENCY ? t->c[bi].latency : t->c[bi].bytes;
        if (m < mb) bi = i;
    }
    if (bi >= 0) {
        const struct cand *c = &t->c[bi];
        if (t->o->objective == TUNE_LATENCY) snprintf(bestbuf, sizeof bestbuf, "%.3f ms (val %.2f %%)", c->latency, 100.0 * c->correct / c->n);
        else snprintf(bestbuf, sizeof bestbuf, "%.1f KiB (val %.2f %%)", c->bytes / 1024.0, 100.0 * c->correct / c->n);
        best = bestbuf;
    }
    if (t->o->progress_tty)
        fprintf(stderr, "\r\033[Ktune: [%s] %d/%d evaluations, best within budget %s, ETA %.0f s", t->stage, t->done,
                t->planned, best, eta);
    else
        fprintf(stderr, "tune: [%s] %d/%d evaluations (%d computed, %d from the store) %s; best within budget %s; %.0f s elapsed\n",
                t->stage, t->done, t->planned, t->run, t->loaded, what, best, elapsed(t));
}

/* ---- candidates ---- */

static void cand_free(struct cand *c)
{
    compress_plan_free(&c->plan);
    free(c->genome);
}

/* Writes yaml as configs/NAME.yaml, resolves it and adds the candidate; an existing candidate
 * with the same resolved plan is reused (*idx points at it). */
static int cand_add_salted(struct tune *t, const char *name, const char *stage, int mixed, const char *yaml,
                           const unsigned char *genome, const char *salt, int *idx);

static int cand_add(struct tune *t, const char *name, const char *stage, int mixed, const char *yaml,
                    const unsigned char *genome, int *idx)
{
    return cand_add_salted(t, name, stage, mixed, yaml, genome, NULL, idx);
}

/* cand_add with `salt` (NULL: none) hashed into the config hash: the fine-tuning options of a
 * finetune candidate, whose plan alone may equal a post-training one (pruning). */
static int cand_add_salted(struct tune *t, const char *name, const char *stage, int mixed, const char *yaml,
                           const unsigned char *genome, const char *salt, int *idx)
{
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, "configs/%s.yaml", name);
    snprintf(path, sizeof path, "%s/%s", t->o->out_dir, rel);
    int rc = file_write_atomic(path, write_text, (void *)yaml);
    if (rc) return rc;
    struct cand c;
    memset(&c, 0, sizeof c);
    if ((rc = compress_config_load(path, evaluator_net(t->ev), &c.plan))) return rc;
    struct strbuf b = { 0 };
    plan_canonical(&c.plan, &b);
    if (salt) sb_printf(&b, "salt %s\n", salt);
    if (b.oom) {
        free(b.p);
        compress_plan_free(&c.plan);
        return status_error(STATUS_NOMEM, "out of memory");
    }
    db_hex(db_fnv1a(DB_FNV_OFFSET, b.p, b.len), c.config_hash);
    free(b.p);
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->c[i].config_hash, c.config_hash) == 0) {
            compress_plan_free(&c.plan);
            /* A global config that equals a per-layer genome (every layer the same) takes the
             * genome, so that NSGA-II can cross it. */
            if (genome && !t->c[i].genome) {
                t->c[i].genome = malloc((size_t)t->n_elig);
                if (!t->c[i].genome) return status_error(STATUS_NOMEM, "out of memory");
                memcpy(t->c[i].genome, genome, (size_t)t->n_elig);
            }
            *idx = i;
            return STATUS_OK;
        }
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(c.stage, sizeof c.stage, "%s", stage);
    snprintf(c.workflow, sizeof c.workflow, "%s", plan_needs_calibration(&c.plan) ? "calib" : "ptq");
    snprintf(c.config, sizeof c.config, "%s", rel);
    c.mixed = mixed;
    c.full_id = -1;
    c.alive = 1;
    c.test_top1 = NAN;
    c.measured_ms = NAN;
    c.latency = NAN;
    if (genome) {
        c.genome = malloc((size_t)t->n_elig);
        if (!c.genome) {
            compress_plan_free(&c.plan);
            return status_error(STATUS_NOMEM, "out of memory");
        }
        memcpy(c.genome, genome, (size_t)t->n_elig);
    }
    if (t->n == t->cap) {
        const int cap = t->cap ? 2 * t->cap : 128;
        struct cand *p = realloc(t->c, sizeof *p * (size_t)cap);
        if (!p) {
            cand_free(&c);
            return status_error(STATUS_NOMEM, "out of memory");
        }
        t->c = p;
        t->cap = cap;
    }
    t->c[t->n] = c;
    *idx = t->n++;
    return STATUS_OK;
}

/* The store key of c's evaluation on the first n images of split: model, config, split, n and
 * workflow. */
static void eval_key(const struct tune *t, const struct cand *c, enum eval_split split, int64_t n, char key[DB_HASH_LEN + 1])
{
    char key_text[128];
    snprintf(key_text, sizeof key_text, "%s %s %s %lld %s", t->model_hex, c->config_hash, split == EVAL_VAL ? "val" : "test",
             (long long)n, c->workflow);
    db_hex(db_fnv1a(DB_FNV_OFFSET, key_text, strlen(key_text)), key);
}

/* Evaluates candidate i on the first n images of split, from the store when it is there. */
static int cand_eval(struct tune *t, int i, enum eval_split split, int64_t n, struct db_eval *out)
{
    struct cand *c = &t->c[i];
    char key[DB_HASH_LEN + 1];
    eval_key(t, c, split, n, key);
    int found = 0;
    int rc = db_find(t->db, key, out, &found);
    if (rc) return rc;
    if (found) {
        /* Latency is the device model's, not the store's: a run resumed or repeated with another
         * --device reuses every accuracy and size and predicts latency afresh. */
        if ((rc = evaluator_predict_ms(t->ev, &c->plan, &out->latency_ms))) return rc;
        t->loaded++;
    } else {
        struct eval_result r;
        const double t0 = cli_now();
        if (c->ft_path[0]) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", t->o->out_dir, c->ft_path);
            if ((rc = evaluator_run_file(t->ev, path, &c->plan, split, n, &r))) return rc;
            r.compress_seconds = c->ft_seconds > 0 ? c->ft_seconds : c->compress_s;
        } else if ((rc = evaluator_run(t->ev, &c->plan, split, n, &r))) {
            return rc;
        }
        t->eval_time += cli_now() - t0;
        memset(out, 0, sizeof *out);
        snprintf(out->key, sizeof out->key, "%s", key);
        snprintf(out->config_hash, sizeof out->config_hash, "%s", c->config_hash);
        snprintf(out->split, sizeof out->split, "%s", split == EVAL_VAL ? "val" : "test");
        out->n_images = n;
        snprintf(out->workflow, sizeof out->workflow, "%s", c->workflow);
        snprintf(out->stage, sizeof out->stage, "%s", c->stage);
        snprintf(out->name, sizeof out->name, "%s", c->name);
        snprintf(out->config, sizeof out->config, "%s", c->config);
        out->correct = r.correct;
        out->lost = r.lost;
        out->gained = r.gained;
        out->loss = r.loss;
        out->bytes = r.bytes;
        out->latency_ms = r.latency_ms;
        out->compress_seconds = r.compress_seconds;
        out->eval_seconds = r.eval_seconds;
        if ((rc = db_insert(t->db, out))) return rc;
        t->run++;
    }
    t->done++;
    if (split == EVAL_VAL) {
        if (n >= c->n) {
            c->n = n;
            c->correct = out->correct;
            c->lost = out->lost;
            c->gained = out->gained;
            c->loss = out->loss;
        }
        if (n == t->n_val) c->full_id = out->id;
    } else {
        c->test_top1 = 100.0 * (double)out->correct / (double)n;
    }
    c->bytes = out->bytes;
    c->latency = out->latency_ms;
    c->compress_s = out->compress_seconds;
    char what[160];
    snprintf(what, sizeof what, "%s on %s[:%lld] top-1 %.2f %%", c->name, out->split, (long long)n,
             100.0 * (double)out->correct / (double)n);
    progress(t, what);
    return STATUS_OK;
}

static int check_time(struct tune *t)
{
    if (t->o->time_limit_s > 0 && elapsed(t) > t->o->time_limit_s && !t->out_of_time) {
        t->out_of_time = 1;
        if (t->o->progress_tty) fputc('\n', stderr);
        fprintf(stderr, "tune: time limit of %.0f s reached during stage %s: no new stage starts; reporting what is evaluated\n",
                t->o->time_limit_s, t->stage);
    }
    return t->out_of_time;
}

static double top1_of(const struct cand *c) { return c->n ? 100.0 * (double)c->correct / (double)c->n : NAN; }

/* The interval of c's full-val top-1 from its prefix: the baseline's full-val top-1 plus the paired
 * difference on the same images (McNemar): of the m images where c and the baseline disagree,
 * c wins `gained`; a Wilson interval on that fraction (one pseudo-win and pseudo-loss, so that no
 * disagreement yet is not certainty) bounds the difference m (2q - 1) / n. Pairing cancels the
 * images both get right or wrong, which makes the interval several times narrower than a
 * binomial one on top-1 alone. A fully evaluated candidate is its measurement. */
static void cand_interval(const struct tune *t, const struct cand *c, double *lo, double *hi)
{
    if (c->n >= t->n_val) {
        *lo = *hi = top1_of(c);
        return;
    }
    const double base = top1_of(&t->c[t->base]);
    const int64_t m = c->lost + c->gained + 2;
    double qlo, qhi;
    tune_wilson(c->gained + 1, m, t->o->z, &qlo, &qhi);
    *lo = base + (double)m * (2.0 * qlo / 100.0 - 1.0) * 100.0 / (double)c->n;
    *hi = base + (double)m * (2.0 * qhi / 100.0 - 1.0) * 100.0 / (double)c->n;
}

/* The latency of the hypervolume's reference point: 1.05 x the slowest prediction so far. */
static void update_ref_lat(struct tune *t)
{
    for (int i = 0; i < t->n; i++)
        if (isfinite(t->c[i].latency) && t->c[i].latency * 1.05 > t->ref_lat) t->ref_lat = t->c[i].latency * 1.05;
}

/* Hypervolume of pts against (budget threshold, baseline bytes, ref latency); 2-D without latency. */
static double hv_points(const struct tune *t, const struct pareto_point *pts, int k)
{
    const struct pareto_point ref = { t->thr_budget, t->c[t->base].bytes, t->has_lat ? t->ref_lat : 1, -1 };
    if (t->screen_2d) return pareto_hypervolume_2d(pts, k, t->screen_2d, &ref);
    return t->has_lat ? pareto_hypervolume_3d(pts, k, &ref) : pareto_hypervolume_2d(pts, k, PARETO_ACCURACY | PARETO_SIZE, &ref);
}

static double metric_of(const struct tune *t, const struct cand *c);

/* 1 if c, at top-1 `hi`, meets the budget and the size and latency limits. */
static int may_qualify(const struct tune *t, const struct cand *c, double hi)
{
    return hi >= t->thr && !(t->o->max_bytes > 0 && c->bytes > t->o->max_bytes) &&
           !(t->o->max_latency_ms > 0 && t->has_lat && c->latency > t->o->max_latency_ms);
}

/* Successive halving over candidates idx[0..m): each alive candidate is evaluated on prefix
 * rungs[r]; before the next rung, those that cannot meet the budget or could add too little
 * hypervolume (against every candidate evaluated at least as far, the earlier stages' included)
 * drop out. The last rung must be the full split. */
static int screen(struct tune *t, const int *idx, int m, const int64_t *rungs, int n_rungs)
{
    int rc = STATUS_OK;
    for (int r = 0; r < n_rungs; r++) {
        int alive = 0;
        for (int j = 0; j < m; j++) alive += t->c[idx[j]].alive;
        t->planned += alive;
        for (int j = 0; j < m && !rc; j++) {
            if (!t->c[idx[j]].alive) continue;
            struct db_eval e;
            rc = cand_eval(t, idx[j], EVAL_VAL, rungs[r], &e);
        }
        if (rc || r == n_rungs - 1) break;
        /* Decide on everything evaluated at this rung or further (earlier stages too), all
         * decisions against the state before any of them. */
        update_ref_lat(t);
        unsigned char *drop = calloc((size_t)m, 1);
        struct pareto_point *pts = malloc(sizeof *pts * (size_t)(t->n + 1));
        if (!drop || !pts) {
            free(drop);
            free(pts);
            return status_error(STATUS_NOMEM, "out of memory");
        }
        for (int j = 0; j < m; j++) {
            struct cand *c = &t->c[idx[j]];
            if (!c->alive) continue;
            double lo, hi;
            cand_interval(t, c, &lo, &hi);
            if (!may_qualify(t, c, hi)) {
                drop[j] = 1;
                continue;
            }
            /* The hypervolume c could add at its accuracy upper bound to the others at their
             * current estimates (the middle of their intervals; a fully evaluated one is its
             * measurement). Zero when another point dominates even c's optimistic value; below
             * hv_delta of the total, c cannot matter to the front enough to be worth a larger
             * rung. */
            int k = 0;
            for (int i = 0; i < t->n; i++) {
                const struct cand *d = &t->c[i];
                if (d == c || d->n < rungs[r] || (!d->alive && d->full_id < 0)) continue;
                double dlo, dhi;
                cand_interval(t, d, &dlo, &dhi);
                pts[k++] = (struct pareto_point){ 0.5 * (dlo + dhi), d->bytes, t->has_lat ? d->latency : 0, i };
            }
            const double without = hv_points(t, pts, k);
            pts[k] = (struct pareto_point){ hi, c->bytes, t->has_lat ? c->latency : 0, idx[j] };
            const double with = hv_points(t, pts, k + 1);
            if (!(with - without > t->o->hv_delta * without)) drop[j] = 1;
        }
        /* The hypervolume rule can drop a point that is only a little better for the objective
         * (a fraction of a percent faster at a lower accuracy adds little area); the one that,
         * at its accuracy upper bound, would be the best for the objective within budget goes
         * on, so the chosen point is always a full evaluation. */
        double best = metric_of(t, &t->c[t->base]);
        for (int i = 0; i < t->n; i++)
            if (t->c[i].full_id >= 0 && may_qualify(t, &t->c[i], top1_of(&t->c[i]))) best = fmin(best, metric_of(t, &t->c[i]));
        int contender = -1;
        for (int j = 0; j < m; j++) {
            const struct cand *c = &t->c[idx[j]];
            double lo, hi;
            if (!c->alive) continue;
            cand_interval(t, c, &lo, &hi);
            if (!may_qualify(t, c, hi)) continue;
            if (metric_of(t, c) < best && (contender < 0 || metric_of(t, c) < metric_of(t, &t->c[idx[contender]]))) contender = j;
        }
        if (contender >= 0) drop[contender] = 0;
        for (int j = 0; j < m; j++)
            if (drop[j]) t->c[idx[j]].alive = 0;
        free(drop);
        free(pts);
    }
    return rc;
}

/* ---- YAML of candidates ---- */

static void yaml_leave_alone(const struct tune *t, struct strbuf *b)
{
    if (!t->sp->n_leave_alone) return;
    sb_printf(b, "  module_name_configs:\n");
    for (int i = 0; i < t->sp->n_leave_alone; i++) {
        /* Single-quoted: backslashes stay literal, a quote is doubled. */
        sb_printf(b, "    '");
        for (const char *p = t->sp->leave_alone[i]; *p; p++) sb_printf(b, *p == '\'' ? "''" : "%c", *p);
        sb_printf(b, "': null\n");
    }
}

struct global_desc {
    int bits, group, skm;          /* bits 0: not palettized */
    double sparsity;               /* 0: not pruned */
    int int8, a8;                  /* int8 weights; 8-bit activations */
};

static void global_name(const struct global_desc *g, char *out, size_t n)
{
    char part[48];
    out[0] = 0;
    if (g->sparsity > 0) {
        snprintf(part, sizeof part, "prune%g", 100 * g->sparsity);
        strncat(out, part, n - strlen(out) - 1);
    }
    if (g->bits) {
        snprintf(part, sizeof part, "%spal%d%s%s", out[0] ? "-" : "", g->bits, g->group ? "" : "", g->skm ? "-skm" : "");
        strncat(out, part, n - strlen(out) - 1);
        if (g->group) {
            snprintf(part, sizeof part, "-g%d", g->group);
            strncat(out, part, n - strlen(out) - 1);
        }
    }
    if (g->int8) strncat(out, out[0] ? (g->a8 ? "-w8a8" : "-w8a16") : (g->a8 ? "w8a8" : "w8a16"), n - strlen(out) - 1);
    else if (g->a8) strncat(out, "-a8", n - strlen(out) - 1);
}

static void global_yaml(const struct tune *t, const struct global_desc *g, const char *name, struct strbuf *b)
{
    sb_printf(b, "# rn50-tune tune: global candidate %s\n", name);
    if (g->sparsity > 0) {
        sb_printf(b, "pruning:\n  global_config:\n    target_sparsity: %g\n    granularity: per_scalar\n", g->sparsity);
        yaml_leave_alone(t, b);
    }
    if (g->bits) {
        sb_printf(b, "palettization:\n  global_config:\n    n_bits: %d\n", g->bits);
        if (g->group) sb_printf(b, "    granularity: per_grouped_channel\n    group_size: %d\n    channel_axis: 0\n", g->group);
        else sb_printf(b, "    granularity: per_tensor\n");
        sb_printf(b, "    algorithm: %s\n", g->skm ? "skm" : "kmeans");
        yaml_leave_alone(t, b);
    }
    if (g->int8 || g->a8) {
        sb_printf(b, "quantization:\n  global_config:\n    quantization_scheme: symmetric\n");
        if (g->int8) sb_printf(b, "    weight_dtype: int8\n");
        sb_printf(b, "    activation_dtype: %s\n", g->a8 ? "int8" : "float16");
        if (g->a8) sb_printf(b, "    activation_observer: moving_average_min_max\n    calibration_samples: 128\n");
        yaml_leave_alone(t, b);
    }
    if (!g->sparsity && !g->bits && !g->int8 && !g->a8) sb_printf(b, "{}\n");
}

/* A layer name as a module_name_configs key matching it alone (a regex: dots escaped). */
static void yaml_layer_key(const char *name, char *esc, size_t cap)
{
    size_t k = 0;
    for (; *name && k + 2 < cap; name++) {
        if (*name == '.') esc[k++] = '\\';
        esc[k++] = *name;
    }
    esc[k] = 0;
}

/* The config of a per-layer genome: for each family used, every eligible layer by its exact
 * (anchored, dots escaped) name, with its config or null. */
static void mixed_yaml(const struct tune *t, const unsigned char *genome, const char *name, struct strbuf *b)
{
    const struct compress_plan *p = &t->c[t->base].plan;
    sb_printf(b, "# rn50-tune tune: per-layer mixed candidate %s\n", name);
    static const char *const section[3] = { "pruning", "palettization", "quantization" };
    static const enum choice_kind kind_of[3] = { CH_PRUNE, CH_PAL, CH_INT8 };
    int any_layer = 0;
    for (int s = 0; s < 3; s++) {
        int used = 0;
        for (int i = 0; i < t->n_elig; i++) used |= t->choice[genome[i]].kind == kind_of[s];
        if (!used) continue;
        any_layer = 1;
        sb_printf(b, "%s:\n  module_name_configs:\n", section[s]);
        for (int i = 0; i < t->n_elig; i++) {
            const struct choice *ch = &t->choice[genome[i]];
            char esc[96];
            yaml_layer_key(p->info[t->elig[i]].name, esc, sizeof esc);
            if (ch->kind != kind_of[s]) sb_printf(b, "    %s: null\n", esc);
            else if (ch->kind == CH_PAL)
                sb_printf(b, "    %s: {n_bits: %d, granularity: per_tensor, algorithm: %s}\n", esc, ch->bits, t->mixed_alg);
            else if (ch->kind == CH_PRUNE)
                sb_printf(b, "    %s: {target_sparsity: %g, granularity: per_scalar%s}\n", esc, ch->sparsity,
                          t->mixed_reconstruct ? ", reconstruct: true" : "");
            else if (ch->bits == 8)
                sb_printf(b, "    %s: {weight_dtype: int8, activation_dtype: int8, activation_observer: moving_average_min_max}\n", esc);
            else sb_printf(b, "    %s: {weight_dtype: int8, activation_dtype: float16}\n", esc);
        }
    }
    if (!any_layer) sb_printf(b, "{}\n");
}

/* ---- stages ---- */

static int stage_baseline(struct tune *t)
{
    t->stage = "baseline";
    int rc = cand_add(t, "baseline", "baseline", 0, "# rn50-tune tune: the uncompressed (fp16) baseline\n{}\n", NULL, &t->base);
    if (rc) return rc;
    t->planned++;
    struct db_eval e;
    if ((rc = cand_eval(t, t->base, EVAL_VAL, t->n_val, &e))) return rc;
    const double base = top1_of(&t->c[t->base]);
    t->thr_budget = pareto_budget_threshold(base, t->o->budget, t->o->budget_relative ? PARETO_BUDGET_RELATIVE : PARETO_BUDGET_ABSOLUTE);
    t->thr = t->thr_budget + t->o->margin;
    fprintf(stderr, "tune: baseline val top-1 %.2f %% (%lld images), %.1f KiB; budget %s: val top-1 >= %.2f %% (+ margin %.2f = %.2f %%)\n",
            base, (long long)t->n_val, t->c[t->base].bytes / 1024.0, t->o->budget_text, t->thr_budget, t->o->margin, t->thr);
    return STATUS_OK;
}

static int stage_global(struct tune *t, int **idx_out, int *m_out)
{
    t->stage = "global";
    const struct space *sp = t->sp;
    struct global_desc w[1 + 2 * SPACE_MAX_CHOICES * SPACE_MAX_CHOICES + 2];
    int nw = 0;
    w[nw++] = (struct global_desc){ 0 };   /* weights untouched (only pruned) */
    for (int bi = 0; bi < sp->n_n_bits; bi++)
        for (int gi = 0; gi < sp->n_group; gi++)
            for (int skm = 0; skm < 2; skm++) {
                if (!((t->o->workflows >> skm) & 1)) continue;   /* SPACE_PTQ = 1, SPACE_CALIB = 2 */
                w[nw++] = (struct global_desc){ .bits = sp->n_bits[bi], .group = sp->group[gi], .skm = skm };
            }
    if (sp->w8a16) w[nw++] = (struct global_desc){ .int8 = 1 };
    if (sp->w8a8 && (t->o->workflows & SPACE_CALIB)) w[nw++] = (struct global_desc){ .int8 = 1, .a8 = 1 };
    int *idx = malloc(sizeof(int) * (size_t)(nw * 2 * (sp->n_sparsity + 1) + 1));
    if (!idx) return status_error(STATUS_NOMEM, "out of memory");
    int m = 0, rc = STATUS_OK;
    for (int si = -1; si < sp->n_sparsity && !rc; si++) {
        const double s = si < 0 ? 0.0 : sp->sparsity[si];
        for (int wi = 0; wi < nw && !rc; wi++) {
            for (int a8 = 0; a8 < 2 && !rc; a8++) {
                struct global_desc g = w[wi];
                g.sparsity = s;
                if (a8) {   /* palettized weights with 8-bit activations */
                    if (!g.bits || !sp->w8a8 || !(sp->joint & SPACE_JOINT_PAL_ACT) || !(t->o->workflows & SPACE_CALIB)) continue;
                    g.a8 = 1;
                }
                if (!g.bits && !g.int8 && s == 0) continue;                         /* the baseline */
                if (s > 0 && g.bits && !(sp->joint & SPACE_JOINT_PRUNE_PAL)) continue;
                if (s > 0 && g.int8 && !(sp->joint & SPACE_JOINT_PRUNE_QUANT)) continue;
                if (s > 0 && g.a8 && g.bits) continue;                             /* three families: not in the grid */
                char name[96], fname[104];
                global_name(&g, name, sizeof name);
                snprintf(fname, sizeof fname, "g-%s", name);
                struct strbuf b = { 0 };
                global_yaml(t, &g, name, &b);
                if (b.oom) rc = status_error(STATUS_NOMEM, "out of memory");
                int k = -1;
                if (!rc) rc = cand_add(t, fname, "global", 0, b.p, NULL, &k);
                free(b.p);
                if (!rc && k != t->base) {
                    int dup = 0;
                    for (int j = 0; j < m; j++) dup |= idx[j] == k;
                    if (!dup) idx[m++] = k;
                }
            }
        }
    }
    if (rc) {
        free(idx);
        return rc;
    }
    fprintf(stderr, "tune: %d global candidates\n", m);
    int64_t rungs[TUNE_MAX_RUNGS + 1];
    int nr = 0;
    for (int r = 0; r < t->o->n_rungs; r++)
        if (t->o->rungs[r] < t->n_val && (nr == 0 || t->o->rungs[r] > rungs[nr - 1])) rungs[nr++] = t->o->rungs[r];
    rungs[nr++] = t->n_val;
    rc = screen(t, idx, m, rungs, nr);
    *idx_out = idx;
    *m_out = m;
    return rc;
}

/* Chooses the eligible layers and the per-layer choices of the mixed stages. */
static int mixed_setup(struct tune *t)
{
    const struct compress_plan *p = &t->c[t->base].plan;
    t->elig = malloc(sizeof(int) * (size_t)p->n_layers);
    if (!t->elig) return status_error(STATUS_NOMEM, "out of memory");
    for (int i = 0; i < p->n_layers; i++)
        if (p->info[i].OC * p->info[i].K > p->weight_threshold && !space_leaves_alone(t->sp, p->info[i].name)) t->elig[t->n_elig++] = i;
    t->choice[t->n_choice++] = (struct choice){ .kind = CH_LEAVE, .name = "fp16" };
    for (int i = 0; i < t->sp->n_layer_bits; i++) {
        struct choice c = { .kind = CH_PAL, .bits = t->sp->layer_bits[i] };
        snprintf(c.name, sizeof c.name, "pal%d", c.bits);
        t->choice[t->n_choice++] = c;
    }
    /* Sparse fp16 storage (mask + fp16 nonzeros) and int8 weights never beat palettization in
     * bytes; they are choices only when latency is the objective. */
    if (t->o->objective == TUNE_LATENCY) {
        for (int i = 0; i < t->sp->n_layer_sparsity; i++) {
            struct choice c = { .kind = CH_PRUNE, .sparsity = t->sp->layer_sparsity[i] };
            snprintf(c.name, sizeof c.name, "prune%.0f", 100 * c.sparsity);
            t->choice[t->n_choice++] = c;
        }
        /* int8 weights; with 8-bit activations (W8A8, int8 kernels) when the space and the
         * calibration workflow allow them. Activation quantization is global in the engine: any
         * W8A8 layer quantizes every activation site. */
        if (t->sp->w8a8 && (t->o->workflows & SPACE_CALIB)) t->choice[t->n_choice++] = (struct choice){ .kind = CH_INT8, .bits = 8, .name = "w8a8" };
        else if (t->sp->w8a16) t->choice[t->n_choice++] = (struct choice){ .kind = CH_INT8, .name = "w8a16" };
    }
    /* Sensitive k-means when calibration data is allowed: it is never worse than plain k-means
     * on this model (results/rn50-fmnist/ptq.csv); the sensitivities are measured with plain
     * k-means, which makes them conservative. */
    t->mixed_alg = (t->o->workflows & SPACE_CALIB) ? "skm" : "kmeans";
    t->mixed_workflow = (t->o->workflows & SPACE_CALIB) ? "calib" : "ptq";
    /* Per-layer pruning with calibration data refits the kept weights (compress/reconstruct.h):
     * on rn50-fmnist, W8A8 with 13 layers pruned 90 % keeps 90.5 % val top-1 with it, 16.9 %
     * without. Sensitivities are measured the same way. */
    t->mixed_reconstruct = (t->o->workflows & SPACE_CALIB) != 0;
    return STATUS_OK;
}

/* A layer's plan for choice ch, as the config reader resolves the mixed YAML (for estimates of
 * size and latency only; evaluated candidates always go through their config file). */
static void choice_apply(const struct tune *t, const struct choice *ch, struct layer_plan *lp)
{
    memset(lp, 0, sizeof *lp);
    if (ch->kind == CH_PAL) {
        lp->pal = (struct palettize_cfg){ .enabled = 1, .n_bits = ch->bits, .granularity = PAL_PER_TENSOR,
                                          .algorithm = strcmp(t->mixed_alg, "skm") == 0 ? PAL_SKM : PAL_KMEANS };
    } else if (ch->kind == CH_PRUNE) {
        lp->prune = (struct prune_cfg){ .enabled = 1, .target_sparsity = ch->sparsity, .granularity = PRUNE_PER_SCALAR,
                                        .block_size = 1, .reconstruct = t->mixed_reconstruct };
    } else if (ch->kind == CH_INT8) {
        lp->quant = (struct quant_cfg){ .enabled = 1, .symmetric = 1, .activations = ch->bits == 8,
                                        .observer = QUANT_MOVING_AVERAGE_MIN_MAX, .calibration_samples = 128 };
    }
}

/* Per-layer savings of each choice, marginal at the point where every eligible layer takes that
 * choice: metric(all at c, layer i left alone) - metric(all at c). Bytes are additive, so this is
 * the layer's own saving; latency is not quite (8-bit activations cost once, at every site, as
 * soon as one layer quantizes them), and the marginal form keeps that shared cost out of every
 * layer's saving. */
static int marginal_savings(struct tune *t, double *saving)
{
    const struct compress_plan *base = &t->c[t->base].plan;
    struct compress_plan p = *base;
    p.layer = malloc(sizeof *p.layer * (size_t)base->n_layers);
    if (!p.layer) return status_error(STATUS_NOMEM, "out of memory");
    double base_b = 0, base_l = 0;
    int rc = evaluator_estimate(t->ev, base, &base_b, &base_l);
    t->whole_int8 = 0;
    for (int c = 0; c < t->n_choice && !rc; c++) {
        memcpy(p.layer, base->layer, sizeof *p.layer * (size_t)base->n_layers);
        for (int i = 0; i < t->n_elig; i++) choice_apply(t, &t->choice[c], &p.layer[t->elig[i]]);
        double all_b, all_l;
        if ((rc = evaluator_estimate(t->ev, &p, &all_b, &all_l))) break;

        for (int i = 0; i < t->n_elig && !rc; i++) {
            const struct layer_plan keep = p.layer[t->elig[i]];
            p.layer[t->elig[i]] = base->layer[t->elig[i]];
            double b, l;
            rc = evaluator_estimate(t->ev, &p, &b, &l);
            p.layer[t->elig[i]] = keep;
            saving[i * t->n_choice + c] = c == 0 ? 0.0 : t->o->objective == TUNE_LATENCY ? l - all_l : b - all_b;
        }
        if (t->choice[c].kind == CH_INT8) t->whole_int8 = t->o->objective == TUNE_LATENCY ? base_l - all_l : base_b - all_b;
    }
    free(p.layer);
    return rc;
}

/* Sensitivity tables: dloss[i*k+c] (mean cross-entropy increase per image), gain in bytes or ms. */
static int stage_sensitivity(struct tune *t, double *dloss, double *saving)
{
    t->stage = "sensitivity";
    const int k = t->n_choice;
    const int64_t n = t->o->sens_images < t->n_val ? t->o->sens_images : t->n_val;
    struct db_eval e;
    int rc = STATUS_OK;
    t->planned += 1 + t->n_elig * (k - 1);
    if ((rc = cand_eval(t, t->base, EVAL_VAL, n, &e))) return rc;
    const double base_loss = e.loss / (double)n;
    if ((rc = marginal_savings(t, saving))) return rc;
    unsigned char *genome = calloc((size_t)t->n_elig, 1);
    if (!genome) return status_error(STATUS_NOMEM, "out of memory");
    for (int i = 0; i < t->n_elig && !rc; i++) {
        dloss[i * k] = 0;
        for (int c = 1; c < k && !rc; c++) {
            /* A choice that saves nothing is never taken (the knapsack marks it unavailable):
             * no need to measure what it costs in accuracy. */
            if (!(saving[i * k + c] > 0)) {
                t->planned--;
                continue;
            }
            memset(genome, 0, (size_t)t->n_elig);
            genome[i] = (unsigned char)c;
            char name[128];
            snprintf(name, sizeof name, "s-%s-%s", t->c[t->base].plan.info[t->elig[i]].name, t->choice[c].name);
            /* Sensitivity is measured with plain k-means (no Fisher pass per evaluation). */
            const char *alg = t->mixed_alg;
            t->mixed_alg = "kmeans";
            struct strbuf b = { 0 };
            mixed_yaml(t, genome, name, &b);
            t->mixed_alg = alg;
            int idx = -1;
            rc = b.oom ? status_error(STATUS_NOMEM, "out of memory") : cand_add(t, name, "sensitivity", 1, b.p, genome, &idx);
            free(b.p);
            if (rc) break;
            if ((rc = cand_eval(t, idx, EVAL_VAL, n, &e))) break;
            dloss[i * k + c] = fmax(0.0, e.loss / (double)n - base_loss);
        }
        /* Fewer bits never hurt less: a measured loss below that of more bits (noise on a few
         * hundred images, clipped at zero) would make aggressive choices look free to the
         * knapsack. Palettization costs are made monotone in the bit width. */
        for (int c = 1; c < k; c++)
            for (int d = 1; d < k; d++)
                if (t->choice[c].kind == CH_PAL && t->choice[d].kind == CH_PAL && t->choice[c].bits < t->choice[d].bits &&
                    saving[i * k + d] > 0 && dloss[i * k + c] < dloss[i * k + d])
                    dloss[i * k + c] = dloss[i * k + d];
    }
    free(genome);
    return rc;
}

static int add_mixed(struct tune *t, const unsigned char *genome, const char *stage, int *idx)
{
    uint64_t h = db_fnv1a(DB_FNV_OFFSET, genome, (size_t)t->n_elig);
    h = db_fnv1a(h, t->mixed_alg, strlen(t->mixed_alg));
    if (t->mixed_reconstruct) h = db_fnv1a(h, "reconstruct", 11);
    char hex[DB_HASH_LEN + 1], name[64];
    db_hex(h, hex);
    snprintf(name, sizeof name, "m-%.10s", hex);
    struct strbuf b = { 0 };
    mixed_yaml(t, genome, name, &b);
    int rc = b.oom ? status_error(STATUS_NOMEM, "out of memory") : cand_add(t, name, stage, 1, b.p, genome, idx);
    free(b.p);
    return rc;
}

/* The best fully evaluated point within budget for the objective (global stage), or the baseline. */
static double best_metric(const struct tune *t, int mixed)
{
    double best = t->o->objective == TUNE_LATENCY ? t->c[t->base].latency : t->c[t->base].bytes;
    for (int i = 0; i < t->n; i++) {
        const struct cand *c = &t->c[i];
        if (c->full_id < 0 || c->mixed != mixed || top1_of(c) < t->thr) continue;
        const double m = t->o->objective == TUNE_LATENCY ? c->latency : c->bytes;
        if (m < best) best = m;
    }
    return best;
}

static int stage_mixed(struct tune *t, const double *dloss, const double *saving, int **pop, int *n_pop)
{
    t->stage = "mixed";
    const int m = t->n_elig, k = t->n_choice;
    /* The per-layer stages refine the objective: they screen on accuracy and it alone (in three
     * dimensions, latency differences of a fraction of a percent dilute a real size gain). */
    t->screen_2d = PARETO_ACCURACY | (t->o->objective == TUNE_LATENCY ? PARETO_LATENCY : PARETO_SIZE);
    /* The best global point within budget anchors the ladder. When it palettizes per tensor at b
     * bits, per-layer palettization below b - 1 bits is left out: the sensitivities are measured
     * one layer at a time and add up, while the damage of many layers at very few bits compounds
     * (on rn50-fmnist, knapsack mixes with 1-bit layers at the size of global 3-bit fell from 93 %
     * to under 90 %), so the mixes are kept near the uniform point they refine. */
    int anchor = -1, anchor_bits = 0;
    for (int i = 0; i < t->n; i++) {
        const struct cand *c = &t->c[i];
        if (c->full_id < 0 || c->mixed || i == t->base || top1_of(c) < t->thr) continue;
        if (anchor < 0 || metric_of(t, c) < metric_of(t, &t->c[anchor])) anchor = i;
    }
    int anchor_int8 = -1;   /* the anchor's int8 kind: 8 (W8A8) or 0 (W8A16), -1 none */
    if (anchor >= 0 && m > 0) {
        const struct layer_plan *lp = &t->c[anchor].plan.layer[t->elig[0]];
        if (lp->pal.enabled && lp->pal.granularity == PAL_PER_TENSOR) anchor_bits = lp->pal.n_bits;
        else if (lp->quant.enabled && !lp->pal.enabled) anchor_int8 = lp->quant.activations ? 8 : 0;
    }
    int *gain = malloc(sizeof(int) * (size_t)(m * k));
    unsigned char *genome = malloc((size_t)m);
    int *idx = malloc(sizeof(int) * (size_t)(t->o->ladder + 2));
    if (!gain || !genome || !idx) {
        free(gain);
        free(genome);
        free(idx);
        return status_error(STATUS_NOMEM, "out of memory");
    }
    double max_saving = 0;
    for (int i = 0; i < m; i++) {
        double best = 0;
        for (int c = 1; c < k; c++)
            if (!(t->choice[c].kind == CH_PAL && t->choice[c].bits < anchor_bits - 1)) best = fmax(best, saving[i * k + c]);
        max_saving += best;
    }
    const double unit = max_saving > 0 ? max_saving / TUNE_DP_UNITS : 1;
    for (int i = 0; i < m * k; i++) {
        const struct choice *ch = &t->choice[i % k];
        gain[i] = i % k == 0 ? 0 : saving[i] > 0 && !(ch->kind == CH_PAL && ch->bits < anchor_bits - 1) ? (int)floor(saving[i] / unit) : -1;
    }
    const double base = t->o->objective == TUNE_LATENCY ? t->c[t->base].latency : t->c[t->base].bytes;
    const double ref = best_metric(t, 0);
    int n = 0, rc = STATUS_OK;
    /* The uniform genome of the anchor joins the population (NSGA-II crosses it with the mixes):
     * all layers at its bit width, or all int8 when the anchor is a W8A8 / W8A16 point (the
     * latency objective's usual anchor, which the mixes must beat by adding sparse layers). */
    for (int c = 1; c < k; c++)
        if ((anchor_bits && t->choice[c].kind == CH_PAL && t->choice[c].bits == anchor_bits) ||
            (anchor_int8 >= 0 && t->choice[c].kind == CH_INT8 && t->choice[c].bits == anchor_int8)) {
            memset(genome, c, (size_t)m);
            if ((rc = add_mixed(t, genome, "mixed", &idx[n]))) break;
            n++;
        }
    /* Targets between the best global point (f = 0) and the least the choices allow (f = 1), at
     * ref - (ref - least) f^2: denser near the former, where the useful points lie. The
     * sensitivities are one layer at a time and the damage of many compressed layers compounds
     * (on rn50-fmnist, seven 90 %-pruned layers that each cost under 1 point alone took top-1 to
     * 49 %), so the ladder is steered by real evaluations: each mix is evaluated on the screening
     * prefix as it is made; f steps up while the mixes stay within budget and, after the first
     * that does not, bisects between the last within and the first outside. */
    /* The shared cost of int8 layers in the knapsack's units: what all of them save by their
     * (floored) per-layer gains beyond what they save together, so that the all-int8 genome
     * reaches exactly its own saving. */
    int shared = 0;
    unsigned char is_int8[TUNE_MAX_LAYER_CHOICES] = { 0 };
    for (int c = 1; c < k; c++) {
        if (t->choice[c].kind != CH_INT8) continue;
        is_int8[c] = 1;
        int sum = 0;
        for (int i = 0; i < m; i++) sum += gain[i * k + c] > 0 ? gain[i * k + c] : 0;
        shared = sum - (int)floor(t->whole_int8 / unit);
    }
    if (shared > 0)
        fprintf(stderr, "tune: int8 layers share %.4g %s beyond their summed savings (activation quantization)\n", shared * unit,
                t->o->objective == TUNE_LATENCY ? "ms" : "bytes");
    const int64_t rung0 = t->o->mixed_rung < t->n_val ? t->o->mixed_rung : t->n_val;
    double f_in = 0, f_out = -1;
    for (int l = 0; l < t->o->ladder && !rc; l++) {
        const double f = f_out < 0 ? (double)(l + 1) / (double)t->o->ladder : 0.5 * (f_in + f_out);
        const double target = ref - (ref - (base - max_saving)) * f * f;
        const int need = (int)ceil((base - target) / unit);
        if (need > TUNE_DP_UNITS || tune_knapsack_shared(m, k, dloss, gain, is_int8, shared, need, genome)) {
            f_out = f;   /* beyond what the choices can save */
            continue;
        }
        int ci = -1;
        if ((rc = add_mixed(t, genome, "mixed", &ci))) break;
        int dup = 0;
        for (int j = 0; j < n; j++) dup |= idx[j] == ci;
        if (!dup) idx[n++] = ci;
        struct db_eval e;
        t->planned++;
        if ((rc = cand_eval(t, ci, EVAL_VAL, rung0, &e))) break;
        if (top1_of(&t->c[ci]) >= t->thr) f_in = fmax(f_in, f);
        else f_out = f_out < 0 ? f : fmin(f_out, f);
    }
    free(gain);
    free(genome);
    if (!rc) {
        fprintf(stderr, "tune: %d per-layer candidates from the dynamic-programming ladder\n", n);
        const int64_t rungs[2] = { t->o->mixed_rung < t->n_val ? t->o->mixed_rung : t->n_val, t->n_val };
        rc = screen(t, idx, n, rungs, rungs[0] < t->n_val ? 2 : 1);
    }
    *pop = idx;
    *n_pop = n;
    return rc;
}

/* Measures the batch-1 latency of the front, the chosen point, the baseline and the best global
 * points within budget (those a mixed choice is compared with) side by side: each is written as
 * a compressed model file (fine-tuned points have theirs; the chosen one is written where the
 * run keeps it, chosen.safetensors) and all are timed together, one warm pass of each per round
 * in a shuffled order (evaluator_measure_files_ms), so that the figures compare. Measured one
 * after another instead, g-prune25-w8a8 measured 0.994, 0.984 and 0.943 ms in three runs, as
 * much apart as the front points. At most TUNE_MEASURE_GROUP networks are held at once; the
 * chosen point and the best global ones go first, into the same group. */
#define TUNE_MEASURE_GROUP 12
#define TUNE_MEASURE_REPS 201
/* Writes candidate c's compressed model file to path: a fine-tuned point's file as trained,
 * else the model compressed with its plan, with its config file's text. */
static int save_point(struct tune *t, const struct cand *c, const char *path)
{
    char src[1024];
    if (c->ft_path[0]) {
        snprintf(src, sizeof src, "%s/%s", t->o->out_dir, c->ft_path);
        return file_copy_atomic(src, path);
    }
    snprintf(src, sizeof src, "%s/%s", t->o->out_dir, c->config);
    FILE *f = fopen(src, "rb");
    char *text = NULL;
    if (f) {
        text = calloc(1, 1 << 20);
        if (text) (void)!fread(text, 1, (1 << 20) - 1, f);
        fclose(f);
    }
    const int rc = evaluator_save(t->ev, &c->plan, path, text);
    free(text);
    return rc;
}

static void chosen_path(const struct tune *t, char *path, size_t cap)
{
    snprintf(path, cap, "%s/chosen.safetensors", t->o->out_dir);
}

static double objective_of(const struct tune *t, const struct cand *c)
{
    return t->o->objective == TUNE_ACCURACY ? -top1_of(c) : metric_of(t, c);
}

static int measure_points(struct tune *t, const int *map, int k)
{
    double best_global = INFINITY;
    for (int j = 0; j < k; j++) {
        const struct cand *c = &t->c[map[j]];
        if (c->within && !c->mixed && map[j] != t->base && objective_of(t, c) < best_global) best_global = objective_of(t, c);
    }
    int *idx = malloc(sizeof(int) * (size_t)k);
    char (*path)[1024] = malloc(sizeof *path * (size_t)k);
    const char **paths = malloc(sizeof *paths * (size_t)k);
    double *ms = malloc(sizeof(double) * (size_t)k);
    int n = 0, rc = !idx || !path || !paths || !ms ? status_error(STATUS_NOMEM, "out of memory") : STATUS_OK;
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (int j = 0; j < k; j++) {
            const struct cand *c = &t->c[map[j]];
            const int first = c->chosen || (c->within && !c->mixed && map[j] != t->base && objective_of(t, c) == best_global);
            if (pass == 0 ? first : !first && (c->on_front || map[j] == t->base)) idx[n++] = map[j];
        }
    char dir[900];
    snprintf(dir, sizeof dir, "%s/measure", t->o->out_dir);
    if (!rc && mkdir(dir, 0777) && errno != EEXIST) rc = status_error(STATUS_IO, "%s: cannot create: %s", dir, strerror(errno));
    int made = 0;   /* model files written into dir, to remove after */
    for (int i = 0; i < n && !rc; i++) {
        const struct cand *c = &t->c[idx[i]];
        if (c->ft_path[0]) {
            snprintf(path[i], sizeof path[i], "%s/%s", t->o->out_dir, c->ft_path);
        } else if (c->chosen) {
            chosen_path(t, path[i], sizeof path[i]);
            if (!(rc = save_point(t, c, path[i]))) t->chosen_saved = 1;
        } else {
            snprintf(path[i], sizeof path[i], "%s/%lld.safetensors", dir, (long long)c->full_id);
            rc = evaluator_save(t->ev, &c->plan, path[i], NULL);
            made = i + 1;
        }
        paths[i] = path[i];
    }
    if (!rc) fprintf(stderr, "tune: measuring %d points side by side (%d passes each)\n", n, TUNE_MEASURE_REPS);
    for (int g = 0; g < n && !rc; g += TUNE_MEASURE_GROUP) {
        const int m = n - g < TUNE_MEASURE_GROUP ? n - g : TUNE_MEASURE_GROUP;
        rc = evaluator_measure_files_ms(t->ev, paths + g, m, TUNE_MEASURE_REPS, ms + g);
        for (int i = g; i < g + m && !rc; i++) t->c[idx[i]].measured_ms = ms[i];
    }
    for (int i = 0; i < made; i++)
        if (!t->c[idx[i]].ft_path[0] && !t->c[idx[i]].chosen) remove(path[i]);
    rmdir(dir);   /* only if empty */
    free(idx);
    free(path);
    free(paths);
    free(ms);
    return rc;
}

/* NSGA-II ranking of pool members: constrained domination on (accuracy estimate, objective metric). */
static double metric_of(const struct tune *t, const struct cand *c)
{
    return t->o->objective == TUNE_LATENCY ? c->latency : c->bytes;
}

static int nsga_better(const struct tune *t, const struct cand *a, const struct cand *b)
{
    const double va = fmax(0, t->thr - top1_of(a)), vb = fmax(0, t->thr - top1_of(b));
    if (va != vb) return va < vb;
    const double aa = top1_of(a), ab = top1_of(b), ma = metric_of(t, a), mb = metric_of(t, b);
    return aa >= ab && ma <= mb && (aa > ab || ma < mb);
}

/* Sorts pool by (non-dominated rank, crowding distance descending) and keeps the first keep. */
static void nsga_select(const struct tune *t, int *pool, int n, int keep, int *out_n)
{
    int *rank = calloc((size_t)n, sizeof(int));
    double *crowd = calloc((size_t)n, sizeof(double));
    if (!rank || !crowd) {
        free(rank);
        free(crowd);
        *out_n = n < keep ? n : keep;
        return;
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            if (j != i && nsga_better(t, &t->c[pool[j]], &t->c[pool[i]])) rank[i]++;   /* domination count as rank */
    }
    for (int i = 0; i < n; i++) {   /* crowding along the objective metric among equal ranks */
        double lo = INFINITY, hi = -INFINITY;
        const double mi = metric_of(t, &t->c[pool[i]]);
        double below = -INFINITY, above = INFINITY;
        for (int j = 0; j < n; j++) {
            if (rank[j] != rank[i]) continue;
            const double mj = metric_of(t, &t->c[pool[j]]);
            lo = fmin(lo, mj);
            hi = fmax(hi, mj);
            if (j != i && mj < mi && mj > below) below = mj;
            if (j != i && mj > mi && mj < above) above = mj;
        }
        crowd[i] = !isfinite(below) || !isfinite(above) ? INFINITY : (above - below) / (hi > lo ? hi - lo : 1);
    }
    for (int i = 1; i < n; i++)   /* insertion sort: the pool is small */
        for (int j = i; j > 0; j--) {
            const int better = rank[j] < rank[j - 1] || (rank[j] == rank[j - 1] && crowd[j] > crowd[j - 1]);
            if (!better) break;
            int ti = pool[j]; pool[j] = pool[j - 1]; pool[j - 1] = ti;
            ti = rank[j]; rank[j] = rank[j - 1]; rank[j - 1] = ti;
            const double tc = crowd[j]; crowd[j] = crowd[j - 1]; crowd[j - 1] = tc;
        }
    free(rank);
    free(crowd);
    *out_n = n < keep ? n : keep;
}

static int stage_nsga2(struct tune *t, int *pop, int n_pop)
{
    t->stage = "nsga2";
    const int m = t->n_elig;
    struct rng rng;
    rng_seed(&rng, t->o->seed);
    int cap = n_pop + t->o->generations * t->o->offspring + 1;
    int *pool = malloc(sizeof(int) * (size_t)cap);
    unsigned char *child = malloc((size_t)m);
    int *kids = malloc(sizeof(int) * (size_t)(t->o->offspring + 1));
    if (!pool || !child || !kids) {
        free(pool);
        free(child);
        free(kids);
        return status_error(STATUS_NOMEM, "out of memory");
    }
    int n = 0, rc = STATUS_OK;
    for (int i = 0; i < n_pop; i++) pool[n++] = pop[i];
    const int P = n_pop > 4 ? n_pop : 4;
    for (int g = 0; g < t->o->generations && !rc && n >= 2 && !check_time(t); g++) {
        int np = 0;
        nsga_select(t, pool, n, P, &np);
        int nk = 0;
        for (int o = 0; o < t->o->offspring && !rc; o++) {
            /* Binary tournaments (the population is sorted, so the smaller index wins). */
            int a = (int)(rng_next(&rng) % (uint64_t)np), b = (int)(rng_next(&rng) % (uint64_t)np);
            const int pa = pool[a < b ? a : b];
            a = (int)(rng_next(&rng) % (uint64_t)np);
            b = (int)(rng_next(&rng) % (uint64_t)np);
            const int pb = pool[a < b ? a : b];
            for (int i = 0; i < m; i++) child[i] = (rng_next(&rng) & 1) ? t->c[pa].genome[i] : t->c[pb].genome[i];
            /* Mutation: about two layers move one palettization step (or to a random choice). */
            for (int i = 0; i < m; i++) {
                if (rng_next(&rng) % (uint64_t)m >= 2) continue;
                const int c = child[i];
                if (t->choice[c].kind == CH_PAL && t->n_choice > 2) {
                    const int up = rng_next(&rng) & 1;
                    const int nc = up ? c + 1 : c - 1;
                    if (nc >= 1 && nc < t->n_choice && t->choice[nc].kind == CH_PAL) child[i] = (unsigned char)nc;
                } else {
                    child[i] = (unsigned char)(rng_next(&rng) % (uint64_t)t->n_choice);
                }
            }
            int ci = -1;
            if ((rc = add_mixed(t, child, "nsga2", &ci))) break;
            int dup = 0;
            for (int j = 0; j < n; j++) dup |= pool[j] == ci;
            for (int j = 0; j < nk; j++) dup |= kids[j] == ci;
            if (!dup) kids[nk++] = ci;
        }
        if (rc) break;
        const int64_t rungs[2] = { t->o->mixed_rung < t->n_val ? t->o->mixed_rung : t->n_val, t->n_val };
        if ((rc = screen(t, kids, nk, rungs, rungs[0] < t->n_val ? 2 : 1))) break;
        for (int j = 0; j < nk; j++) pool[n++] = kids[j];
    }
    free(pool);
    free(child);
    free(kids);
    return rc;
}

/* ---- fine-tuning ---- */

/* A plan's training-time form: each layer's palettization with algorithm dkm (same bits and
 * groups), its pruning with a PolynomialDecayScheduler over the first third of the training
 * steps (ten updates), listed by exact layer name. Returns 0, or -1 when the plan has something
 * fine-tuning does not do (int8 quantization, channel_axis 1 groups, non-scalar pruning). */
static int finetune_yaml(const struct compress_plan *p, const char *name, int64_t steps, struct strbuf *b)
{
    /* Ten updates (fewer in a run of fewer steps), all within the run, over its first third. */
    const int64_t n_upd = steps >= 10 ? 10 : steps >= 1 ? steps : 1;
    const int64_t span = steps / 3 > n_upd ? steps / 3 : n_upd, every = span / n_upd;
    int any_pal = 0, any_prune = 0;
    for (int i = 0; i < p->n_layers; i++) {
        const struct layer_plan *l = &p->layer[i];
        if (l->quant.enabled) return -1;
        if (l->pal.enabled && (l->pal.granularity == PAL_PER_GROUPED_CHANNEL && l->pal.channel_axis != 0)) return -1;
        if (l->prune.enabled && (l->prune.granularity != PRUNE_PER_SCALAR || l->prune.n_m_m > 0)) return -1;
        any_pal |= l->pal.enabled;
        any_prune |= l->prune.enabled;
    }
    if (!any_pal && !any_prune) return -1;
    sb_printf(b, "# rn50-tune tune: fine-tuned candidate %s\n", name);
    for (int fam = 0; fam < 2; fam++) {
        if (fam == 0 ? !any_prune : !any_pal) continue;
        sb_printf(b, "%s:\n  module_name_configs:\n", fam == 0 ? "pruning" : "palettization");
        for (int i = 0; i < p->n_layers; i++) {
            const struct layer_plan *l = &p->layer[i];
            if (fam == 0 ? !l->prune.enabled : !l->pal.enabled) continue;
            char esc[96];
            yaml_layer_key(p->info[i].name, esc, sizeof esc);
            if (fam == 0)
                sb_printf(b, "    %s: {target_sparsity: %.9g, granularity: per_scalar, scheduler: {update_steps: \"range(0, %lld, %lld)\", power: 3}}\n",
                          esc, l->prune.target_sparsity, (long long)(every * n_upd), (long long)every);
            else if (l->pal.granularity == PAL_PER_GROUPED_CHANNEL)
                sb_printf(b, "    %s: {n_bits: %d, granularity: per_grouped_channel, group_size: %d, channel_axis: 0, algorithm: dkm}\n", esc,
                          l->pal.n_bits, l->pal.group_size);
            else
                sb_printf(b, "    %s: {n_bits: %d, granularity: per_tensor, algorithm: dkm}\n", esc, l->pal.n_bits);
        }
    }
    return 0;
}

/* Stage 4: fine-tunes the candidates that beat the best point within budget for the objective
 * but missed the budget (fine-tuning can bring them back), best for the objective first, up to
 * ft_points distinct training configs. Each is trained from the original weights (its epoch
 * chosen on the whole val split), saved in RUN/finetune/, and evaluated from that file; a
 * resumed run finds the evaluation in the store and trains nothing, or continues the training
 * from its checkpoint. */
static int stage_finetune(struct tune *t)
{
    t->stage = "finetune";
    const struct tune_options *o = t->o;
    int64_t n_train;
    int rc = evaluator_train_size(t->ev, &n_train);
    if (rc) return rc;
    /* The training options every point shares (per point: out, checkpoint, resume); the pruning
     * schedules are laid out over the steps these make. */
    struct train_opts base;
    train_opts_default(&base);
    base.epochs = o->ft_epochs;
    base.lr = o->ft_lr;
    base.warmup_epochs = 0.1;
    base.seed = o->seed;
    const int64_t steps = (int64_t)base.epochs * ((n_train + base.batch - 1) / base.batch);
    double best = metric_of(t, &t->c[t->base]);
    for (int i = 0; i < t->n; i++)
        if (t->c[i].full_id >= 0 && may_qualify(t, &t->c[i], top1_of(&t->c[i])) && !t->c[i].ft_path[0])
            best = fmin(best, metric_of(t, &t->c[i]));
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/finetune", o->out_dir);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return status_error(STATUS_IO, "%s: cannot create: %s", dir, strerror(errno));
    unsigned char *used = calloc((size_t)t->n, 1);
    if (!used) return status_error(STATUS_NOMEM, "out of memory");
    const int n_before = t->n;
    int done = 0;
    /* The fine-tuning options are part of a fine-tuned point's identity: in its store key (the
     * salt) and in its file names, so a run resumed with other options trains afresh. */
    char salt[128], tag[DB_HASH_LEN + 1];
    snprintf(salt, sizeof salt, "epochs %d lr %.9g train %lld seed %llu", o->ft_epochs, o->ft_lr, (long long)n_train,
             (unsigned long long)o->seed);
    db_hex(db_fnv1a(DB_FNV_OFFSET, salt, strlen(salt)), tag);
    while (done < o->ft_points && !rc && !check_time(t)) {
        /* The next: best for the objective among those left (deterministic: ties by index). */
        int pick = -1;
        for (int i = 0; i < n_before; i++) {
            const struct cand *c = &t->c[i];
            /* Missed the budget on accuracy alone (training cannot fix size or latency limits). */
            if (used[i] || i == t->base || c->n == 0 || c->ft_path[0] || top1_of(c) >= t->thr || !may_qualify(t, c, INFINITY) ||
                !(metric_of(t, c) < best))
                continue;
            if (pick < 0 || metric_of(t, c) < metric_of(t, &t->c[pick])) pick = i;
        }
        if (pick < 0) break;
        used[pick] = 1;
        char name[128];
        snprintf(name, sizeof name, "ft-%s-%.6s", t->c[pick].name, tag);
        struct strbuf b = { 0 };
        if (finetune_yaml(&t->c[pick].plan, name, steps, &b)) {
            free(b.p);
            continue;
        }
        int k = -1;
        const int n_cands = t->n;
        rc = b.oom ? status_error(STATUS_NOMEM, "out of memory") : cand_add_salted(t, name, "finetune", t->c[pick].mixed, b.p, NULL, salt, &k);
        if (rc || t->n == n_cands) {   /* an error, or the same training config as one picked already (k-means and skm) */
            free(b.p);
            continue;
        }
        struct cand *c = &t->c[k];
        snprintf(c->workflow, sizeof c->workflow, "finetune");
        snprintf(c->ft_path, sizeof c->ft_path, "finetune/%s.safetensors", name);
        done++;
        t->planned += 1;
        /* Trained already (the store has its full-val evaluation)? Then nothing to do here. */
        char key[DB_HASH_LEN + 1];
        eval_key(t, c, EVAL_VAL, t->n_val, key);
        struct db_eval e;
        int found = 0;
        if ((rc = db_find(t->db, key, &e, &found))) {
            free(b.p);
            break;
        }
        if (!found) {
            char out[1024], ckpt[1024];
            snprintf(out, sizeof out, "%s/%s", o->out_dir, c->ft_path);
            snprintf(ckpt, sizeof ckpt, "%s/finetune/%s.ckpt.safetensors", o->out_dir, name);
            struct train_opts to = base;
            to.out = out;
            to.checkpoint = ckpt;
            to.resume = access(ckpt, R_OK) == 0 ? ckpt : NULL;
            const struct cand *from = &t->c[pick];
            fprintf(stderr, "tune: [finetune] %s (from %s: %.1f KiB, %.3f ms, val top-1 %.2f %% on %lld images): %d epochs of %lld images%s\n",
                    name, from->name, from->bytes / 1024.0, from->latency, top1_of(from), (long long)from->n, o->ft_epochs,
                    (long long)n_train, to.resume ? ", resuming" : "");
            int interrupted = 0;
            rc = evaluator_finetune(t->ev, &c->plan, b.p, &to, &c->ft_seconds, &interrupted);
            if (rc && !interrupted && rc != STATUS_NOMEM) {
                /* One point that cannot be fine-tuned does not end the search: it stays out. */
                fprintf(stderr, "tune: warning: [finetune] %s: %s; left out\n", name, status_message());
                c->ft_path[0] = 0;
                free(b.p);
                rc = STATUS_OK;
                continue;
            }
        }
        free(b.p);
        if (!rc) rc = cand_eval(t, k, EVAL_VAL, t->n_val, &e);
    }
    free(used);
    return rc;
}

/* ---- hypervolume ---- */

/* Hypervolume of the fully evaluated points among idx[0..m) (all candidates if idx NULL) within
 * the budget threshold, against the reference (threshold, baseline bytes, ref latency). */
static double tune_hv(const struct tune *t, const int *idx, int m)
{
    const int n = idx ? m : t->n;
    struct pareto_point *pts = malloc(sizeof *pts * (size_t)(n + 1));
    if (!pts) return NAN;
    int k = 0;
    for (int j = 0; j <= n; j++) {   /* j == n: the baseline, always a point of the run */
        const struct cand *c = &t->c[j == n ? t->base : idx ? idx[j] : j];
        if (c->full_id < 0 || (j < n && c == &t->c[t->base])) continue;
        pts[k++] = (struct pareto_point){ top1_of(c), c->bytes, t->has_lat ? c->latency : 0, c->full_id };
    }
    const double hv = hv_points(t, pts, k);
    free(pts);
    return hv;
}

/* ---- final ---- */

static int stage_final(struct tune *t, struct report_run *run, struct report_point **pts_out, int *n_pts)
{
    t->stage = "final";
    t->screen_2d = 0;
    const struct tune_options *o = t->o;
    int n_full = 0;
    for (int i = 0; i < t->n; i++) n_full += t->c[i].full_id >= 0;
    struct pareto_point *pp = malloc(sizeof *pp * (size_t)(n_full + 1));
    int *map = malloc(sizeof(int) * (size_t)(n_full + 1));
    unsigned char *keep = malloc((size_t)n_full + 1);
    struct report_point *rp = calloc((size_t)n_full + 1, sizeof *rp);
    int rc = !pp || !map || !keep || !rp ? status_error(STATUS_NOMEM, "out of memory") : STATUS_OK;
    int k = 0;
    for (int i = 0; !rc && i < t->n; i++) {
        struct cand *c = &t->c[i];
        if (c->full_id < 0) continue;
        c->within = top1_of(c) >= t->thr - 1e-9 && !(o->max_bytes > 0 && c->bytes > o->max_bytes) &&
                    !(o->max_latency_ms > 0 && t->has_lat && c->latency > o->max_latency_ms);
        /* Points outside the budget get a NaN accuracy, which keeps them off the front. */
        pp[k] = (struct pareto_point){ c->within ? top1_of(c) : NAN, c->bytes, t->has_lat ? c->latency : 0, i };
        map[k++] = i;
    }
    if (!rc) pareto_front_in(pp, k, t->objectives, keep);
    int chosen = -1, n_front = 0;
    for (int j = 0; !rc && j < k; j++) {
        struct cand *c = &t->c[map[j]];
        c->on_front = keep[j];
        n_front += keep[j];
    }
    t->planned += n_front + 1;
    /* Test accuracy of the front and the baseline. */
    for (int j = 0; !rc && j < k; j++) {
        struct cand *c = &t->c[map[j]];
        if (!c->on_front && map[j] != t->base) continue;
        struct db_eval e;
        rc = cand_eval(t, map[j], EVAL_TEST, t->n_test, &e);
    }
    /* The chosen point: on the front, by the objective; ties go to the higher val accuracy. */
    for (int j = 0; !rc && j < k; j++) {
        const struct cand *c = &t->c[map[j]];
        if (!c->on_front) continue;
        if (chosen < 0) { chosen = map[j]; continue; }
        const struct cand *b = &t->c[chosen];
        const double mc = o->objective == TUNE_ACCURACY ? -top1_of(c) : metric_of(t, c);
        const double mb = o->objective == TUNE_ACCURACY ? -top1_of(b) : metric_of(t, b);
        if (mc < mb || (mc == mb && top1_of(c) > top1_of(b))) chosen = map[j];
    }
    const int budget_met = chosen >= 0;
    if (!rc && chosen < 0) {   /* best effort: the most accurate compressed point */
        for (int j = 0; j < k; j++)
            if (map[j] != t->base && (chosen < 0 || top1_of(&t->c[map[j]]) > top1_of(&t->c[chosen]))) chosen = map[j];
        if (chosen < 0) chosen = t->base;
        if (!isfinite(t->c[chosen].test_top1)) {
            struct db_eval e;
            t->planned++;
            rc = cand_eval(t, chosen, EVAL_TEST, t->n_test, &e);
        }
        fprintf(stderr, "tune: no point meets the budget (val top-1 >= %.2f %%); the best effort is reported\n", t->thr);
    }
    if (!rc && chosen >= 0) t->c[chosen].chosen = 1;
    if (!rc && o->measure_latency) rc = measure_points(t, map, k);
    if (o->progress_tty) fputc('\n', stderr);
    if (rc) goto done;
    const double base_test = t->c[t->base].test_top1;
    for (int j = 0; j < k; j++) {
        const struct cand *c = &t->c[map[j]];
        struct report_point *r = &rp[j];
        r->id = c->full_id;
        snprintf(r->workflow, sizeof r->workflow, "%s", c->workflow);
        snprintf(r->config, sizeof r->config, "%s", c->config);
        snprintf(r->stage, sizeof r->stage, "%s", c->stage);
        r->top1_val = top1_of(c);
        r->top1_test = c->test_top1;
        r->bytes = c->bytes;
        r->latency_ms = c->latency;
        r->latency_measured_ms = c->measured_ms;
        r->seconds = c->compress_s;
        r->mixed = c->mixed;
        r->within_budget = c->within;
        r->on_front = c->on_front;
        r->chosen = c->chosen;
        if (c->on_front && isfinite(c->test_top1) &&
            c->test_top1 < pareto_budget_threshold(base_test, o->budget, o->budget_relative ? PARETO_BUDGET_RELATIVE : PARETO_BUDGET_ABSOLUTE))
            fprintf(stderr, "tune: warning: front point %s meets the budget on val (%.2f %%) but not on test (%.2f %%)\n", c->name,
                    top1_of(c), c->test_top1);
    }
    memset(run, 0, sizeof *run);
    snprintf(run->model, sizeof run->model, "%s", o->model_name);
    snprintf(run->weights, sizeof run->weights, "%s", o->weights_name ? o->weights_name : "");
    snprintf(run->data, sizeof run->data, "%s", o->data_name);
    snprintf(run->device, sizeof run->device, "%s", o->device_name ? o->device_name : "none");
    static const char *const objective_names[TUNE_OBJECTIVE_COUNT] = { "size", "latency", "accuracy" };
    snprintf(run->objective, sizeof run->objective, "%s", objective_names[o->objective]);
    snprintf(run->budget, sizeof run->budget, "%s", o->budget_text);
    const struct cand *b = &t->c[t->base];
    run->baseline_top1_val = top1_of(b);
    run->baseline_top1_test = b->test_top1;
    run->baseline_bytes = b->bytes;
    run->baseline_latency_ms = b->latency;
    run->threshold_top1 = t->thr;
    run->chosen_id = budget_met ? t->c[chosen].full_id : -1;
    run->budget_met = budget_met;
    run->n_evaluations = t->run;
    run->n_points = k;
    int *front = malloc(sizeof(int) * (size_t)(n_front + 1));
    int nf = 0;
    for (int j = 0; front && j < k; j++)
        if (t->c[map[j]].on_front) front[nf++] = map[j];
    run->hypervolume = front ? tune_hv(t, front, nf) : NAN;
    free(front);
    if (t->has_lat)
        snprintf(run->hypervolume_ref, sizeof run->hypervolume_ref, "top-1 %.2f %% (budget), %.0f bytes (baseline), %.4g ms", t->thr_budget,
                 b->bytes, t->ref_lat);
    else
        snprintf(run->hypervolume_ref, sizeof run->hypervolume_ref, "top-1 %.2f %% (budget), %.0f bytes (baseline); 2-D, no latency",
                 t->thr_budget, b->bytes);
    run->seconds = elapsed(t);
    *pts_out = rp;
    *n_pts = k;
    rp = NULL;
    if (chosen >= 0) {
        const struct cand *c = &t->c[chosen];
        fprintf(stderr, "tune: chosen %s (%s): val %.2f %%, test %.2f %%, %.1f KiB, %.4g ms predicted%s\n", c->name, c->config, top1_of(c),
                c->test_top1, c->bytes / 1024.0, c->latency, budget_met ? "" : " (best effort: budget not met)");
    }
done:
    free(pp);
    free(map);
    free(keep);
    free(rp);
    return rc;
}

static int write_outputs(struct tune *t, const struct report_run *run, const struct report_point *pts, int n)
{
    int rc = report_write_tables(t->o->out_dir, run, pts, n);
    if (rc) return rc;
    int chosen = -1;
    for (int i = 0; i < t->n; i++)
        if (t->c[i].chosen) chosen = i;
    if (chosen >= 0) {
        char dir[1024], path[1024];
        snprintf(dir, sizeof dir, "%s/chosen", t->o->out_dir);
        if ((rc = export_coreml_write(&t->c[chosen].plan, dir))) return rc;
        chosen_path(t, path, sizeof path);
        if (!t->chosen_saved) rc = save_point(t, &t->c[chosen], path);   /* else written when measured */
        if (rc) return rc;
    }
    return plots_draw(t->o->out_dir);
}

static int check_meta(struct tune *t, const char *key, const char *value)
{
    char have[512];
    int found = 0;
    int rc = db_meta_get(t->db, key, have, sizeof have, &found);
    if (rc) return rc;
    if (!found) return db_meta_set(t->db, key, value);
    if (strcmp(have, value) != 0)
        return status_error(STATUS_BAD_INPUT, "%s/%s: this run was started with %s '%s', not '%s' (resume with the same options, or use another --out)",
                            t->o->out_dir, DB_FILE, key, have, value);
    return STATUS_OK;
}

int tune_run(struct evaluator *ev, const struct space *sp, const struct tune_options *o, struct tune_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    struct tune t;
    memset(&t, 0, sizeof t);
    t.ev = ev;
    t.sp = sp;
    t.o = o;
    t.t0 = cli_now();
    t.stage = "start";
    t.base = -1;
    t.n_val = evaluator_split_size(ev, EVAL_VAL);
    t.n_test = evaluator_split_size(ev, EVAL_TEST);
    t.has_lat = evaluator_has_latency(ev);
    t.objectives = t.has_lat ? PARETO_ALL : PARETO_ACCURACY | PARETO_SIZE;
    db_hex(evaluator_model_hash(ev), t.model_hex);
    struct report_point *pts = NULL;
    int n_pts = 0, *gidx = NULL, m_global = 0, *pop = NULL, n_pop = 0;
    double *dloss = NULL, *saving = NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/configs", o->out_dir);
    int rc = ensure_dir(path);
    snprintf(path, sizeof path, "%s/%s", o->out_dir, DB_FILE);
    if (!rc) rc = db_open(path, 1, &t.db);
    if (!rc) {
        char v[64];
        snprintf(v, sizeof v, "%lld", (long long)t.n_val);
        rc = check_meta(&t, "model", t.model_hex);
        if (!rc) rc = check_meta(&t, "val_images", v);
        if (!rc) rc = provenance_record(t.db, o->command_line, o->threads, o->device_name);
    }
    if (!rc) rc = stage_baseline(&t);
    if (!rc && t.o->objective == TUNE_LATENCY && !t.has_lat)
        rc = status_error(STATUS_BAD_INPUT, "--objective latency needs a device with a cost model (--device)");
    if (!rc) rc = stage_global(&t, &gidx, &m_global);
    if (!rc) update_ref_lat(&t);
    if (!rc && o->compare_exhaustive) {
        sum->staged_hv = tune_hv(&t, gidx, m_global);
        for (int j = 0; j < m_global; j++) sum->staged_full += t.c[gidx[j]].full_id >= 0;
        t.stage = "grid";
        t.planned += m_global - sum->staged_full;
        for (int j = 0; j < m_global && !rc; j++) {
            struct db_eval e;
            if (t.c[gidx[j]].full_id < 0) rc = cand_eval(&t, gidx[j], EVAL_VAL, t.n_val, &e);
        }
        sum->grid_full = m_global;
        sum->grid_hv = tune_hv(&t, gidx, m_global);
        if (o->progress_tty) fputc('\n', stderr);
        fprintf(stderr, "tune: staged global search: %d of %d candidates evaluated on full val (%.1f %%), hypervolume %.6g of the grid's %.6g (%.2f %%)\n",
                sum->staged_full, sum->grid_full, 100.0 * sum->staged_full / (m_global ? m_global : 1), sum->staged_hv, sum->grid_hv,
                100.0 * sum->staged_hv / sum->grid_hv);
    }
    if (!rc && !o->global_only && sp->per_layer && !check_time(&t)) {
        rc = mixed_setup(&t);
        const size_t cells = (size_t)t.n_elig * (size_t)t.n_choice;
        if (!rc && t.n_elig > 0 && t.n_choice > 1) {
            dloss = calloc(cells, sizeof *dloss);
            saving = calloc(cells, sizeof *saving);
            if (!dloss || !saving) rc = status_error(STATUS_NOMEM, "out of memory");
            if (!rc) rc = stage_sensitivity(&t, dloss, saving);
            if (!rc && !check_time(&t)) rc = stage_mixed(&t, dloss, saving, &pop, &n_pop);
            if (!rc && !check_time(&t) && o->generations > 0) rc = stage_nsga2(&t, pop, n_pop);
        }
    }
    if (!rc && !o->global_only && (o->workflows & SPACE_FINETUNE) && o->ft_points > 0 && !check_time(&t)) rc = stage_finetune(&t);
    struct report_run run;
    if (!rc) rc = stage_final(&t, &run, &pts, &n_pts);
    if (!rc) rc = write_outputs(&t, &run, pts, n_pts);
    if (!rc) {
        sum->n_evals_run = t.run;
        sum->n_evals_loaded = t.loaded;
        sum->n_points = n_pts;
        for (int i = 0; i < n_pts; i++) sum->n_front += pts[i].on_front;
        sum->chosen_id = run.chosen_id;
        sum->budget_met = run.budget_met;
        sum->hypervolume = run.hypervolume;
    }
    if (rc && o->progress_tty) fputc('\n', stderr);
    free(pts);
    free(gidx);
    free(pop);
    free(dloss);
    free(saving);
    free(t.elig);
    for (int i = 0; i < t.n; i++) cand_free(&t.c[i]);
    free(t.c);
    db_close(t.db);   /* before the page reads the store: the run holds it locked */
    if (!rc) rc = report_html_write(o->out_dir, evaluator_net(ev));
    return rc;
}
