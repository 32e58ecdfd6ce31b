/* tune_layer.c — the per-layer stages: the eligible layers and choices, the sensitivity tables
 * (one layer compressed at a time), and the mixed stage's ladder of knapsack assignments
 * (tune_knapsack.c) steered by real evaluations, then screened; the config of a per-layer genome
 * (compress/config_write.c writes it).
 * NSGA-II, which crosses these genomes, is tune_nsga.c. */
#include "tune_internal.h"
#include "config_write.h"

#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TUNE_DP_UNITS 2000


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

/* The config of a per-layer genome: the base plan with each eligible layer's choice applied,
 * written by the one plan writer (every compressed layer by its exact name). The file is what
 * the candidate is (cand_add reads it back); the plan here only says what to write. */
static int mixed_yaml(const struct tune *t, const unsigned char *genome, const char *name, struct strbuf *b)
{
    const struct compress_plan *base = &t->c[t->base].plan;
    struct compress_plan p = *base;   /* borrows base's info; owns only layer */
    p.layer = malloc(sizeof *p.layer * (size_t)base->n_layers);
    if (!p.layer) return status_error(STATUS_NOMEM, "out of memory");
    memcpy(p.layer, base->layer, sizeof *p.layer * (size_t)base->n_layers);
    for (int i = 0; i < t->n_elig; i++) choice_apply(t, &t->choice[genome[i]], &p.layer[t->elig[i]]);
    char comment[160];
    snprintf(comment, sizeof comment, "rn50-tune tune: per-layer mixed candidate %s", name);
    config_write_plan(b, &p, comment);
    free(p.layer);
    return b->oom ? status_error(STATUS_NOMEM, "out of memory") : STATUS_OK;
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
static int sensitivity_tables(struct tune *t, double *dloss, double *saving)
{
    const int k = t->n_choice;
    const int64_t n = t->o->sens_images < t->n_val ? t->o->sens_images : t->n_val;
    struct db_eval e;
    int rc = STATUS_OK;
    t->planned += 1 + t->n_elig * (k - 1);
    if ((rc = cand_eval(t, t->base, EVAL_VAL, n, &e))) return rc;
    const double base_loss = e.loss / (double)n;
    if ((rc = marginal_savings(t, saving))) return rc;
    /* Every cell's candidate first, then all of them in one batch (independent evaluations:
     * spread over the ranks of a run), in the order of the cells. */
    unsigned char *genome = calloc((size_t)t->n_elig, 1);
    int *cell = malloc(sizeof(int) * (size_t)t->n_elig * (size_t)k), *batch = malloc(sizeof(int) * (size_t)t->n_elig * (size_t)k);
    if (!genome || !cell || !batch) {
        free(genome);
        free(cell);
        free(batch);
        return status_error(STATUS_NOMEM, "out of memory");
    }
    int nb = 0;
    for (int i = 0; i < t->n_elig && !rc; i++) {
        dloss[i * k] = 0;
        for (int c = 1; c < k && !rc; c++) {
            cell[i * k + c] = -1;
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
            rc = mixed_yaml(t, genome, name, &b);
            t->mixed_alg = alg;
            int idx = -1;
            if (!rc) rc = cand_add(t, name, "sensitivity", 1, b.p, genome, &idx);
            free(b.p);
            cell[i * k + c] = nb;
            batch[nb++] = idx;
        }
    }
    struct db_eval *se = rc ? NULL : malloc(sizeof *se * (size_t)(nb ? nb : 1));
    if (!rc && !se) rc = status_error(STATUS_NOMEM, "out of memory");
    if (!rc) rc = cand_eval_many(t, batch, nb, EVAL_VAL, n, se);
    for (int i = 0; i < t->n_elig && !rc; i++) {
        for (int c = 1; c < k; c++)
            if (cell[i * k + c] >= 0) dloss[i * k + c] = fmax(0.0, se[cell[i * k + c]].loss / (double)n - base_loss);
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
    free(cell);
    free(batch);
    free(se);
    return rc;
}

/* The eligible layers and choices; then, when there is something to choose, the sensitivity
 * tables t->dloss and t->saving ([n_elig * n_choice]) the mixed stage starts from. */
int stage_sensitivity(struct tune *t)
{
    int rc = mixed_setup(t);
    if (rc || !(t->n_elig > 0 && t->n_choice > 1)) return rc;
    const size_t cells = (size_t)t->n_elig * (size_t)t->n_choice;
    t->dloss = calloc(cells, sizeof *t->dloss);
    t->saving = calloc(cells, sizeof *t->saving);
    if (!t->dloss || !t->saving) return status_error(STATUS_NOMEM, "out of memory");
    return sensitivity_tables(t, t->dloss, t->saving);
}

int add_mixed(struct tune *t, const unsigned char *genome, const char *stage, int *idx)
{
    uint64_t h = db_fnv1a(DB_FNV_OFFSET, genome, (size_t)t->n_elig);
    h = db_fnv1a(h, t->mixed_alg, strlen(t->mixed_alg));
    if (t->mixed_reconstruct) h = db_fnv1a(h, "reconstruct", 11);
    char hex[DB_HASH_LEN + 1], name[64];
    db_hex(h, hex);
    snprintf(name, sizeof name, "m-%.10s", hex);
    struct strbuf b = { 0 };
    int rc = mixed_yaml(t, genome, name, &b);
    if (!rc) rc = cand_add(t, name, stage, 1, b.p, genome, idx);
    free(b.p);
    return rc;
}

/* The best fully evaluated point within budget for the objective (global stage), or the baseline. */
static double best_metric(const struct tune *t, int mixed)
{
    double best = t->o->objective == TUNE_LATENCY ? t->c[t->base].latency_ms : t->c[t->base].bytes;
    for (int i = 0; i < t->n; i++) {
        const struct cand *c = &t->c[i];
        if (c->mixed != mixed || !cand_meets_budget(t, c)) continue;
        const double m = t->o->objective == TUNE_LATENCY ? c->latency_ms : c->bytes;
        if (m < best) best = m;
    }
    return best;
}

/* The best global point within budget anchors the ladder: its per-tensor palettization bits
 * (*anchor_bits, 0 if none) and its int8 kind (*anchor_int8: 8 W8A8, 0 W8A16, -1 none). */
static void mixed_anchor(const struct tune *t, int *anchor_bits_out, int *anchor_int8_out)
{
    const int m = t->n_elig;
    int anchor = -1, anchor_bits = 0;
    for (int i = 0; i < t->n; i++) {
        const struct cand *c = &t->c[i];
        if (c->mixed || i == t->base || !cand_meets_budget(t, c)) continue;
        if (anchor < 0 || tune_metric(t, c) < tune_metric(t, &t->c[anchor])) anchor = i;
    }
    int anchor_int8 = -1;   /* the anchor's int8 kind: 8 (W8A8) or 0 (W8A16), -1 none */
    if (anchor >= 0 && m > 0) {
        const struct layer_plan *lp = &t->c[anchor].plan.layer[t->elig[0]];
        if (lp->pal.enabled && lp->pal.granularity == PAL_PER_TENSOR) anchor_bits = lp->pal.n_bits;
        else if (lp->quant.enabled && !lp->pal.enabled) anchor_int8 = lp->quant.activations ? 8 : 0;
    }
    *anchor_bits_out = anchor_bits;
    *anchor_int8_out = anchor_int8;
}

/* The shared cost of the int8 choices (marked in is_int8[n_choice]) in the knapsack's units of
 * `unit`, from the gain table [n_elig * n_choice]. */
static int mixed_shared(const struct tune *t, const int *gain, double unit, unsigned char *is_int8)
{
    const int m = t->n_elig, k = t->n_choice;
    int shared = 0;
    for (int c = 1; c < k; c++) {
        if (t->choice[c].kind != CH_INT8) continue;
        is_int8[c] = 1;
        int sum = 0;
        for (int i = 0; i < m; i++) sum += gain[i * k + c] > 0 ? gain[i * k + c] : 0;
        shared = sum - (int)floor(t->whole_int8 / unit);
    }
    return shared;
}

/* The ladder of knapsack mixes, screened; they are the population t->pop[0..n_pop) of NSGA-II. */
int stage_mixed(struct tune *t)
{
    const double *dloss = t->dloss, *saving = t->saving;
    const int m = t->n_elig, k = t->n_choice;
    /* The per-layer stages refine the objective: they screen on accuracy and it alone (in three
     * dimensions, latency differences of a fraction of a percent dilute a real size gain). */
    t->screen_2d = PARETO_ACCURACY | (t->o->objective == TUNE_LATENCY ? PARETO_LATENCY : PARETO_SIZE);
    /* The best global point within budget anchors the ladder. When it palettizes per tensor at b
     * bits, per-layer palettization below b - 1 bits is left out: the sensitivities are measured
     * one layer at a time and add up, while the damage of many layers at very few bits compounds
     * (on rn50-fmnist, knapsack mixes with 1-bit layers at the size of global 3-bit fell from 93 %
     * to under 90 %), so the mixes are kept near the uniform point they refine. */
    int anchor_bits, anchor_int8;
    mixed_anchor(t, &anchor_bits, &anchor_int8);
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
    const double base = t->o->objective == TUNE_LATENCY ? t->c[t->base].latency_ms : t->c[t->base].bytes;
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
    unsigned char is_int8[TUNE_MAX_LAYER_CHOICES] = { 0 };
    const int shared = mixed_shared(t, gain, unit, is_int8);
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
        /* Steering on the prefix's figure: the final decision (cand_meets_budget) is made on the
         * whole split, where the interval is narrower. */
        if (tune_top1(&t->c[ci]) >= t->thr) f_in = fmax(f_in, f);
        else f_out = f_out < 0 ? f : fmin(f_out, f);
    }
    free(gain);
    free(genome);
    if (!rc) {
        fprintf(stderr, "tune: %d per-layer candidates from the dynamic-programming ladder\n", n);
        const int64_t rungs[2] = { t->o->mixed_rung < t->n_val ? t->o->mixed_rung : t->n_val, t->n_val };
        rc = tune_screen_rungs(t, idx, n, rungs, rungs[0] < t->n_val ? 2 : 1);
    }
    t->pop = idx;
    t->n_pop = n;
    return rc;
}
