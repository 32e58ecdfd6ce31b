/* finetune.c — training-time compression as train_hooks: scheduled pruning masks, DKM
 * palettization of the kept weights, and finalize into the compressed format (see finetune.h).
 *
 * State that must survive a resume (masks, centroids, whether each was initialised) lives in one
 * float array the checkpoint saves; everything else is recomputed. The DKM forward keeps every
 * layer's attention maps (T*n*2^n floats over all palettized weights) for the backward pass. */
#include "finetune.h"

#include "config.h"
#include "dkm.h"
#include "format.h"
#include "half.h"
#include "kmeans.h"
#include "palettize.h"
#include "prune.h"
#include "schedule.h"
#include "size.h"
#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FT_BN_EPS 1e-5   /* model/resnet.c's BatchNorm epsilon */

struct ft_layer {
    int plan_i;             /* index in plan */
    int layer;              /* conv index, or n_conv for fc */
    int64_t OC, K;
    int khw;
    int prune, dkm;
    const struct layer_plan *lp;
    struct dkm_opts opts;
    int n_groups;
    int64_t rows;           /* output channels per group (the last may have fewer) */
    float *flags;           /* state: [0] mask initialised, [1] centroids initialised */
    float *mask;            /* state: [OC*K] 1 keeps, or NULL */
    float *cent;            /* state: [n_groups, k] centroids after the last step, or NULL */
    float *work;            /* [n_groups, group_work] this step's DKM attention and centroids */
    int64_t group_work;     /* dkm_work_floats of a full group */
};

struct finetune {
    struct resnet *net;
    const struct compress_plan *plan;
    char *config_text;
    int n;
    struct ft_layer *L;
    int *of_layer;          /* [n_conv + 1] -> index in L, or -1 */
    float *state;
    int64_t n_state;
    float *raw;             /* the raw parameters while validation runs on finalized ones */
    float *work;            /* every DKM layer's work, one allocation */
    float *xg, *yg, *gg;    /* one group's kept weights, outputs, gradients */
    float *cents_scratch;
    int64_t step;
    struct train_hooks hooks;
    struct finetune_stats stats;
};

static float *layer_raw(const struct finetune *f, const struct ft_layer *l)
{
    const struct resnet *net = f->net;
    return resnet_param_data(net, l->layer < net->n_conv ? net->conv[l->layer].w : net->fc_w);
}

static int dkm_active(const struct finetune *f, const struct ft_layer *l)
{
    return l->dkm && f->step >= l->lp->pal.milestone;
}

/* Gathers group g's kept weights of src into dst; returns their count. */
static int64_t gather(const struct ft_layer *l, int g, const float *src, float *dst)
{
    const int64_t r1 = (g + 1) * l->rows < l->OC ? (g + 1) * l->rows : l->OC;
    int64_t n = 0;
    for (int64_t i = g * l->rows * l->K; i < r1 * l->K; i++)
        if (!l->mask || l->mask[i] != 0.0f) dst[n++] = src[i];
    return n;
}

/* Writes the gathered values back, zeros where pruned. */
static void scatter(const struct ft_layer *l, int g, const float *src, float *dst)
{
    const int64_t r1 = (g + 1) * l->rows < l->OC ? (g + 1) * l->rows : l->OC;
    int64_t n = 0;
    for (int64_t i = g * l->rows * l->K; i < r1 * l->K; i++) dst[i] = !l->mask || l->mask[i] != 0.0f ? src[n++] : 0.0f;
}

static int cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Centroids of every group by exact weighted 1-D k-means of its kept weights (distinct values
 * weighted by their counts); a group with fewer distinct values than k pads with spread copies. */
static int init_centroids(struct finetune *f, struct ft_layer *l)
{
    const float *w = layer_raw(f, l);
    const int k = l->opts.k;
    int rc = STATUS_OK;
    double *xs = malloc(sizeof(double) * (size_t)(l->rows * l->K + 1)), *ws = malloc(sizeof(double) * (size_t)(l->rows * l->K + 1));
    double c[256];
    if (!xs || !ws) rc = status_error(STATUS_NOMEM, "out of memory initialising DKM centroids");
    for (int g = 0; g < l->n_groups && !rc; g++) {
        const int64_t n = gather(l, g, w, f->xg);
        qsort(f->xg, (size_t)n, sizeof(float), cmp_float);
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) {
            if (m && xs[m - 1] == f->xg[i]) ws[m - 1] += 1;
            else { xs[m] = f->xg[i]; ws[m++] = 1; }
        }
        if (m == 0) { xs[0] = 0; ws[0] = 1; m = 1; }
        if ((rc = kmeans1d_optimal(xs, ws, m, k, c, NULL, NULL))) break;
        const int got = m < k ? (int)m : k;
        for (int j = got; j < k; j++) c[j] = c[got - 1] + 1e-3 * (j - got + 1);
        for (int j = 0; j < k; j++) l->cent[(int64_t)g * k + j] = (float)c[j];
    }
    free(xs);
    free(ws);
    if (!rc) l->flags[1] = 1;
    return rc;
}

static int recompute_mask(struct finetune *f, struct ft_layer *l, double sparsity)
{
    struct compressed_weight cw;
    memset(&cw, 0, sizeof cw);
    struct prune_cfg pc = l->lp->prune;
    pc.target_sparsity = sparsity;
    int rc = prune_weights(layer_raw(f, l), l->OC, l->K, l->khw, &pc, &cw);
    if (!rc) {
        for (int64_t i = 0; i < l->OC * l->K; i++) l->mask[i] = cw.mask[i] ? 1.0f : 0.0f;
        l->flags[0] = 1;
    }
    compressed_weight_free(&cw);
    return rc;
}

static void apply_mask(const struct ft_layer *l, float *x)
{
    for (int64_t i = 0; i < l->OC * l->K; i++) x[i] *= l->mask[i];
}

/* ---- the hooks ---- */

static int hook_transform(void *ctx, int layer, const float *w, float *w_used)
{
    struct finetune *f = ctx;
    if (f->of_layer[layer] < 0) return 0;
    struct ft_layer *l = &f->L[f->of_layer[layer]];
    if (!dkm_active(f, l)) {
        if (!l->prune) return 0;
        for (int64_t i = 0; i < l->OC * l->K; i++) w_used[i] = w[i] * l->mask[i];
        return 1;
    }
    if (!l->flags[1] && init_centroids(f, l)) return 0;   /* out of memory: train this step on w */
    const int k = l->opts.k;
    for (int g = 0; g < l->n_groups; g++) {
        const int64_t n = gather(l, g, w, f->xg);
        float *c = l->cent + (int64_t)g * k;
        if (n > 0) dkm_forward(f->xg, n, c, &l->opts, f->yg, c, l->work + g * l->group_work);
        scatter(l, g, f->yg, w_used);
    }
    return 1;
}

static void hook_transform_backward(void *ctx, int layer, const float *w, float *grad)
{
    struct finetune *f = ctx;
    struct ft_layer *l = &f->L[f->of_layer[layer]];
    if (!dkm_active(f, l)) {
        apply_mask(l, grad);
        return;
    }
    for (int g = 0; g < l->n_groups; g++) {
        const int64_t n = gather(l, g, w, f->xg);
        gather(l, g, grad, f->gg);
        if (n > 0) dkm_backward(f->xg, n, &l->opts, l->work + g * l->group_work, f->gg, f->yg);
        scatter(l, g, f->yg, grad);
    }
}

static int hook_step_begin(void *ctx, struct trainer *t, int64_t step)
{
    struct finetune *f = ctx;
    f->step = step;
    for (int i = 0; i < f->n; i++) {
        struct ft_layer *l = &f->L[i];
        if (!l->prune) continue;
        int update;
        const double s = schedule_sparsity_at(&l->lp->prune, step, &update);
        if (update || !l->flags[0]) {
            int rc = recompute_mask(f, l, s);
            if (rc) return rc;
            const struct resnet *net = f->net;
            const int p = l->layer < net->n_conv ? net->conv[l->layer].w : net->fc_w;
            apply_mask(l, layer_raw(f, l));
            apply_mask(l, trainer_momentum(t) + net->param[p].offset);
        }
    }
    return STATUS_OK;
}

static void hook_after_update(void *ctx, struct trainer *t)
{
    struct finetune *f = ctx;
    const struct resnet *net = f->net;
    for (int i = 0; i < f->n; i++) {
        const struct ft_layer *l = &f->L[i];
        if (!l->prune) continue;
        const int p = l->layer < net->n_conv ? net->conv[l->layer].w : net->fc_w;
        apply_mask(l, layer_raw(f, l));
        apply_mask(l, trainer_momentum(t) + net->param[p].offset);
    }
}

/* The fp16 LUT of group g. */
static void group_lut(const struct ft_layer *l, int g, float *c16, uint16_t *h)
{
    for (int j = 0; j < l->opts.k; j++) {
        const uint16_t v = half_from_f32(l->cent[(int64_t)g * l->opts.k + j]);
        if (h) h[j] = v;
        c16[j] = half_to_f32(v);
    }
}

static int hook_eval_begin(void *ctx)
{
    struct finetune *f = ctx;
    memcpy(f->raw, f->net->params, sizeof(float) * f->net->n_floats);
    for (int i = 0; i < f->n; i++) {
        struct ft_layer *l = &f->L[i];
        float *w = layer_raw(f, l);
        if (l->prune) {
            if (!l->flags[0]) {
                int rc = recompute_mask(f, l, schedule_sparsity_at(&l->lp->prune, f->step, NULL));
                if (rc) return rc;
            }
            apply_mask(l, w);
        }
        if (!l->dkm) continue;
        if (!l->flags[1]) {
            int rc = init_centroids(f, l);
            if (rc) return rc;
        }
        float c16[256];
        uint8_t *idx = (uint8_t *)f->gg;
        for (int g = 0; g < l->n_groups; g++) {
            group_lut(l, g, c16, NULL);
            const int64_t n = gather(l, g, w, f->xg);
            dkm_assign(f->xg, n, c16, l->opts.k, idx);
            for (int64_t q = 0; q < n; q++) f->yg[q] = c16[idx[q]];
            scatter(l, g, f->yg, w);
        }
    }
    resnet_fold(f->net);
    return STATUS_OK;
}

static void hook_eval_end(void *ctx)
{
    struct finetune *f = ctx;
    memcpy(f->net->params, f->raw, sizeof(float) * f->net->n_floats);
    resnet_fold(f->net);
}

/* Writes the compressed file from the network as it is (finalized parameters, folded). */
static int write_finalized(struct finetune *f, const char *path)
{
    struct resnet *net = f->net;
    const struct compress_plan *plan = f->plan;
    struct compressed_weight *cw = calloc((size_t)plan->n_layers, sizeof *cw);
    if (!cw) return status_error(STATUS_NOMEM, "out of memory finalizing");
    int rc = STATUS_OK, max_distinct = 0;
    int64_t total = 0, kept = 0;
    for (int i = 0; i < plan->n_layers && !rc; i++) {
        const int c = resnet_find_conv(net, plan->info[i].name);
        const int layer = c >= 0 ? c : net->n_conv;
        const struct ft_layer *l = f->of_layer[layer] >= 0 ? &f->L[f->of_layer[layer]] : NULL;
        struct compressed_weight *x = &cw[i];
        const int64_t OC = plan->info[i].OC, K = plan->info[i].K;
        const int khw = c >= 0 ? net->conv[c].d.KH * net->conv[c].d.KW : 1;
        const float *folded = c >= 0 ? net->conv[c].wf : resnet_param_data(net, net->fc_w);
        x->OC = OC;
        x->K = K;
        x->dense = malloc(sizeof(float) * OC * K);
        if (!x->dense) { rc = status_error(STATUS_NOMEM, "out of memory finalizing"); break; }
        int64_t nnz = OC * K;
        x->n_nonzero = nnz;
        if (l && l->prune) {
            x->mask = malloc((size_t)(OC * K));
            if (!x->mask) { rc = status_error(STATUS_NOMEM, "out of memory finalizing"); break; }
            nnz = 0;
            for (int64_t q = 0; q < OC * K; q++) nnz += x->mask[q] = l->mask[q] != 0.0f;
            x->n_nonzero = nnz;
            total += OC * K;
            kept += nnz;
        }
        if (l && l->dkm) {
            const int k = l->opts.k;
            x->n_bits = l->lp->pal.n_bits;
            x->n_groups = l->n_groups;
            x->group_axis = 0;
            x->group_size = (int)l->rows;
            x->lut = calloc((size_t)l->n_groups << x->n_bits, sizeof(uint16_t));
            x->indices = malloc((size_t)(nnz > 0 ? nnz : 1));
            x->channel_scale = c >= 0 ? malloc(sizeof(uint16_t) * OC) : NULL;
            if (!x->lut || !x->indices || (c >= 0 && !x->channel_scale)) {
                rc = status_error(STATUS_NOMEM, "out of memory finalizing");
                break;
            }
            const float *w = layer_raw(f, l);
            float c16[256];
            int64_t at = 0;
            for (int g = 0; g < l->n_groups; g++) {
                group_lut(l, g, c16, x->lut + ((size_t)g << x->n_bits));
                const int64_t n = gather(l, g, w, f->xg);
                dkm_assign(f->xg, n, c16, k, x->indices + at);
                int used[256] = { 0 }, distinct = 0;
                for (int64_t q = 0; q < n; q++) distinct += !used[x->indices[at + q]]++;
                if (distinct > max_distinct) max_distinct = distinct;
                at += n;
            }
            RN_ASSERT(at == nnz);
            if (c >= 0) {
                const float *gam = resnet_param_data(net, net->conv[c].gamma), *var = resnet_param_data(net, net->conv[c].var);
                for (int64_t o = 0; o < OC; o++) x->channel_scale[o] = half_from_f32((float)(gam[o] / sqrt((double)var[o] + FT_BN_EPS)));
            }
            palettize_decode(x, khw, x->dense);
        } else {
            for (int64_t q = 0; q < OC * K; q++)
                x->dense[q] = x->mask && !x->mask[q] ? 0.0f : half_to_f32(half_from_f32(folded[q]));
        }
    }
    if (!rc) rc = format_save(path, net, plan, cw, NULL, f->config_text);
    if (!rc) {
        struct size_report rep;
        if (!(rc = size_model(plan, cw, &rep))) {
            f->stats.bytes = rep.total_bytes;
            size_report_free(&rep);
        }
        f->stats.sparsity = total ? 1.0 - (double)kept / (double)total : 0.0;
        f->stats.max_distinct = max_distinct;
    }
    for (int i = 0; i < plan->n_layers; i++) compressed_weight_free(&cw[i]);
    free(cw);
    return rc;
}

static int hook_save_best(void *ctx, const char *path, const char *note)
{
    (void)note;
    return write_finalized(ctx, path);
}

int finetune_finalize(struct finetune *f, const char *path)
{
    int rc = hook_eval_begin(f);
    if (!rc) rc = write_finalized(f, path);
    hook_eval_end(f);
    return rc;
}

/* ---- setup ---- */

int finetune_alloc(struct resnet *net, const struct compress_plan *plan, const char *config_text,
                   struct finetune **out)
{
    *out = NULL;
    struct finetune *f = calloc(1, sizeof *f);
    if (!f) return status_error(STATUS_NOMEM, "out of memory");
    int rc = STATUS_OK;
    f->net = net;
    f->plan = plan;
    f->L = calloc((size_t)plan->n_layers, sizeof *f->L);
    f->of_layer = malloc(sizeof(int) * (size_t)(net->n_conv + 1));
    f->config_text = config_text ? strdup(config_text) : NULL;
    if (!f->L || !f->of_layer || (config_text && !f->config_text)) { rc = status_error(STATUS_NOMEM, "out of memory"); goto fail; }
    for (int i = 0; i <= net->n_conv; i++) f->of_layer[i] = -1;
    int64_t max_group = 1, total_work = 1;
    for (int i = 0; i < plan->n_layers; i++) {
        const struct layer_plan *lp = &plan->layer[i];
        const char *name = plan->info[i].name;
        if (lp->quant.enabled) {
            rc = status_error(STATUS_BAD_INPUT, "layer %s: quantization is post-training only (use compress after finetune)", name);
            goto fail;
        }
        if (lp->pal.enabled && lp->pal.algorithm != PAL_DKM) {
            rc = status_error(STATUS_BAD_INPUT,
                              "layer %s: palettization algorithm %s is post-training; finetune palettizes with algorithm: dkm",
                              name, compress_pal_algorithm_name(lp->pal.algorithm));
            goto fail;
        }
        if (!lp->prune.enabled && !lp->pal.enabled) continue;
        if (lp->pal.enabled && lp->pal.granularity == PAL_PER_GROUPED_CHANNEL && lp->pal.channel_axis != 0) {
            rc = status_error(STATUS_BAD_INPUT, "layer %s: dkm groups along input channels (channel_axis 1) are not supported", name);
            goto fail;
        }
        if (lp->pal.enabled && lp->pal.per_channel_scale) {
            rc = status_error(STATUS_BAD_INPUT,
                              "layer %s: enable_per_channel_scale is not supported with dkm (the BatchNorm folding gives "
                              "each conv its per-channel scale)", name);
            goto fail;
        }
        struct ft_layer *l = &f->L[f->n++];
        const int c = resnet_find_conv(net, name);
        l->plan_i = i;
        l->layer = c >= 0 ? c : net->n_conv;
        l->OC = plan->info[i].OC;
        l->K = plan->info[i].K;
        l->khw = c >= 0 ? net->conv[c].d.KH * net->conv[c].d.KW : 1;
        l->lp = lp;
        l->prune = lp->prune.enabled;
        l->dkm = lp->pal.enabled;
        l->rows = l->OC;
        l->n_groups = 1;
        if (l->dkm) {
            l->opts.k = 1 << lp->pal.n_bits;
            l->opts.max_iter = lp->pal.kmeans_max_iter;
            l->opts.tau = lp->pal.tau;
            if (lp->pal.granularity == PAL_PER_GROUPED_CHANNEL && lp->pal.group_size < l->OC) {
                l->rows = lp->pal.group_size;
                l->n_groups = (int)((l->OC + l->rows - 1) / l->rows);
            }
            const int64_t gn = l->rows * l->K;
            if (gn > max_group) max_group = gn;
            l->group_work = dkm_work_floats(gn, &l->opts);
            total_work += l->n_groups * l->group_work;
        }
        f->of_layer[l->layer] = f->n - 1;
        f->n_state += 2 + (l->prune ? l->OC * l->K : 0) + (l->dkm ? (int64_t)l->n_groups * l->opts.k : 0);
    }
    f->state = calloc((size_t)(f->n_state > 0 ? f->n_state : 1), sizeof(float));
    f->raw = malloc(sizeof(float) * net->n_floats);
    f->work = malloc(sizeof(float) * total_work);
    f->xg = malloc(sizeof(float) * max_group);
    f->yg = malloc(sizeof(float) * max_group);
    f->gg = malloc(sizeof(float) * max_group);
    if (!f->state || !f->raw || !f->work || !f->xg || !f->yg || !f->gg) { rc = status_error(STATUS_NOMEM, "out of memory"); goto fail; }
    f->stats.attention_floats = total_work;
    float *p = f->state, *wp = f->work;
    for (int i = 0; i < f->n; i++) {
        struct ft_layer *l = &f->L[i];
        l->flags = p;
        p += 2;
        if (l->prune) { l->mask = p; p += l->OC * l->K; }
        if (l->dkm) {
            l->cent = p;
            p += (int64_t)l->n_groups * l->opts.k;
            l->work = wp;
            wp += l->n_groups * l->group_work;
        }
    }
    RN_ASSERT(p == f->state + f->n_state);
    /* The output must have the target sparsity and palettized weights: only validations after
     * the last mask update and the last DKM milestone compete for it. */
    int64_t min_best = 0;
    for (int i = 0; i < f->n; i++) {
        const struct ft_layer *l = &f->L[i];
        if (l->prune && schedule_last_update(&l->lp->prune) + 1 > min_best) min_best = schedule_last_update(&l->lp->prune) + 1;
        if (l->dkm && l->lp->pal.milestone + 1 > min_best) min_best = l->lp->pal.milestone + 1;
    }
    f->hooks = (struct train_hooks){ .ctx = f, .transform = hook_transform, .transform_backward = hook_transform_backward,
                                      .step_begin = hook_step_begin, .after_update = hook_after_update,
                                      .eval_begin = hook_eval_begin, .eval_end = hook_eval_end,
                                      .save_best = hook_save_best, .state = f->state, .n_state = f->n_state,
                                      .min_best_step = min_best };
    *out = f;
    return STATUS_OK;
fail:
    finetune_free(f);
    return rc;
}

void finetune_free(struct finetune *f)
{
    if (!f) return;
    free(f->L);
    free(f->of_layer);
    free(f->config_text);
    free(f->state);
    free(f->raw);
    free(f->work);
    free(f->xg);
    free(f->yg);
    free(f->gg);
    free(f);
}

const struct train_hooks *finetune_hooks(struct finetune *f) { return &f->hooks; }

void finetune_get_stats(const struct finetune *f, struct finetune_stats *s) { *s = f->stats; }
