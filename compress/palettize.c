/* palettize.c — post-training palettization (see palettize.h): fp16 rounding, per-group
 * histograms of the distinct fp16 values, optimal (or, for reference, Lloyd) weighted k-means on
 * them, fp16 LUTs, nearest-entry indices, decoding. DKM (training-time) lives elsewhere; this
 * file does not pack indices into bytes (the file format does).
 *
 * Every weight is reduced to its fp16 bit pattern mapped to an order-preserving 16-bit key, so a
 * group's distinct values and their weights come from one pass over a 65,536-entry table instead
 * of a sort of the group, and the clustering runs on at most 65,536 points whatever the layer size.
 * Groups run in parallel (OpenMP) when there are several; a single group (per_tensor) instead uses
 * the threads inside the k-means DP. */
#include "palettize.h"

#include "half.h"
#include "kmeans.h"
#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PAL_CODES 65536
#define PAL_MAX_BITS 8

/* fp16 bits -> key whose unsigned order is the numeric order; -0 is folded into +0 first, as the
 * two are one value to cluster. Negative codes order by reversed magnitude. */
static inline uint16_t pal_key(uint16_t code)
{
    if (code == 0x8000u) code = 0;
    return (code & 0x8000u) ? (uint16_t)~code : (uint16_t)(code | 0x8000u);
}

static inline uint16_t pal_code(uint16_t key)
{
    return (key & 0x8000u) ? (uint16_t)(key & 0x7fffu) : (uint16_t)~key;
}

/* A LUT value times the channel's fp16 scale, rounded to fp16 as the deployed fp16 model computes
 * it. Scale 0 (an all-zero channel) gives 0. */
static inline float pal_decode_one(uint16_t lut_entry, const uint16_t *scale, int64_t oc)
{
    const float v = half_to_f32(lut_entry);
    return scale ? half_to_f32(half_from_f32(v * half_to_f32(scale[oc]))) : v;
}

int palettize_group_of(const struct compressed_weight *cw, int kernel_size, int64_t oc, int64_t k)
{
    return (int)(cw->group_axis == 0 ? oc / cw->group_size : (k / kernel_size) / cw->group_size);
}

/* Per-thread tables, sized for the 65,536 possible fp16 values. */
struct pal_scratch {
    double *hist;        /* [PAL_CODES] weight per key */
    uint8_t *present;    /* [PAL_CODES] key seen in this group */
    uint8_t *map;        /* [PAL_CODES] key -> LUT index */
    uint16_t *keys;      /* [PAL_CODES] the group's distinct keys, sorted */
    double *x, *wt;      /* [PAL_CODES] distinct values and their weights */
    double *cent;        /* [256] */
    int64_t *bounds;     /* [257] */
};

static void pal_scratch_free(struct pal_scratch *s)
{
    free(s->hist);
    free(s->present);
    free(s->map);
    free(s->keys);
    free(s->x);
    free(s->wt);
    free(s->cent);
    free(s->bounds);
}

static int pal_scratch_alloc(struct pal_scratch *s)
{
    s->hist = calloc(PAL_CODES, sizeof(double));
    s->present = calloc(PAL_CODES, 1);
    s->map = malloc(PAL_CODES);
    s->keys = malloc(sizeof(uint16_t) * PAL_CODES);
    s->x = malloc(sizeof(double) * PAL_CODES);
    s->wt = malloc(sizeof(double) * PAL_CODES);
    s->cent = malloc(sizeof(double) << PAL_MAX_BITS);
    s->bounds = malloc(sizeof(int64_t) * ((1 << PAL_MAX_BITS) + 1));
    return s->hist && s->present && s->map && s->keys && s->x && s->wt && s->cent && s->bounds;
}

static int pal_cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

struct pal_job {
    const float *importance;
    const uint8_t *mask;
    uint16_t *wkey;           /* [OC, K] key of each (scaled, fp16-rounded) weight; overwritten by
                                 its LUT index once its group is done (groups are disjoint) */
    int64_t OC, K;
    int axis, gs, ks, n_bits, lloyd_max_iter;
    struct compressed_weight *cw;
};

/* Clusters group g and writes its LUT, the indices and decoded weights of its elements. */
static int pal_group(const struct pal_job *j, int g, struct pal_scratch *s, double *sse)
{
    const int64_t r0 = j->axis == 0 ? (int64_t)g * j->gs : 0;
    const int64_t r1 = j->axis == 0 ? (r0 + j->gs < j->OC ? r0 + j->gs : j->OC) : j->OC;
    const int64_t c0 = j->axis == 1 ? (int64_t)g * j->gs * j->ks : 0;
    const int64_t c1 = j->axis == 1 ? (c0 + (int64_t)j->gs * j->ks < j->K ? c0 + (int64_t)j->gs * j->ks : j->K) : j->K;
    const int k = 1 << j->n_bits;
    uint16_t *lut = j->cw->lut + (size_t)g * (size_t)k;
    int64_t nu = 0;

    /* Histogram of the group's keys, remembering which keys occur (importances may be 0). */
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c = c0; c < c1; c++) {
            const int64_t i = r * j->K + c;
            if (j->mask && !j->mask[i]) continue;
            const uint16_t key = j->wkey[i];
            if (!s->present[key]) {
                s->present[key] = 1;
                s->keys[nu++] = key;
            }
            s->hist[key] += j->importance ? (double)j->importance[i] : 1.0;
        }
    /* Few distinct keys: sort them; many: one ordered scan of the table is cheaper. */
    if (nu * 16 < PAL_CODES) {
        qsort(s->keys, (size_t)nu, sizeof(uint16_t), pal_cmp_u16);
    } else {
        int64_t u = 0;
        for (int64_t key = 0; key < PAL_CODES; key++)
            if (s->present[key]) s->keys[u++] = (uint16_t)key;
        RN_ASSERT(u == nu);
    }
    for (int64_t u = 0; u < nu; u++) {
        s->x[u] = half_to_f32(pal_code(s->keys[u]));
        s->wt[u] = s->hist[s->keys[u]];
    }

    int rc = STATUS_OK;
    double e = 0.0;
    if (j->lloyd_max_iter > 0) {
        struct kmeans_lloyd_opts o = { .max_iter = j->lloyd_max_iter, .init = KMEANS_INIT_KMEANSPP,
                                       .seed = 0x5eed0000u + (uint64_t)g };
        rc = kmeans1d_lloyd(s->x, s->wt, nu, k, &o, s->cent, s->bounds, &e);
    } else {
        rc = kmeans1d_optimal(s->x, s->wt, nu, k, s->cent, s->bounds, &e);
    }
    const int nc = nu < k ? (int)nu : k;
    if (rc == STATUS_OK) {
        *sse += e;
        /* Centroids are sorted and fp16 rounding is monotone, so the LUT is sorted: each distinct
         * value's nearest entry follows from one sweep (ties to the lower entry). */
        float lutf[1 << PAL_MAX_BITS];
        for (int c = 0; c < k; c++) {
            lut[c] = c < nc ? half_from_f32((float)s->cent[c]) : 0;
            lutf[c] = half_to_f32(lut[c]);
        }
        int c = 0;
        for (int64_t u = 0; u < nu; u++) {
            const double xv = s->x[u];
            while (c + 1 < nc && xv - lutf[c] > lutf[c + 1] - xv) c++;
            s->map[s->keys[u]] = (uint8_t)c;
        }
        /* Decode as pal_decode_one does, with the LUT already widened. */
        const uint16_t *sc = j->cw->channel_scale;
        for (int64_t r = r0; r < r1; r++) {
            const float sc_r = sc ? half_to_f32(sc[r]) : 1.0f;
            for (int64_t cc = c0; cc < c1; cc++) {
                const int64_t i = r * j->K + cc;
                if (j->mask && !j->mask[i]) {
                    j->cw->dense[i] = 0.0f;
                    continue;
                }
                const uint8_t q = s->map[j->wkey[i]];
                j->wkey[i] = q;
                j->cw->dense[i] = sc ? half_to_f32(half_from_f32(lutf[q] * sc_r)) : lutf[q];
            }
        }
    }
    for (int64_t u = 0; u < nu; u++) {   /* leave the tables clean for the next group */
        s->present[s->keys[u]] = 0;
        s->hist[s->keys[u]] = 0.0;
    }
    return rc;
}

static int pal_validate(int64_t OC, int64_t K, const struct palettize_cfg *cfg, const struct palettize_opts *o)
{
    if (OC < 1 || K < 1)
        return status_error(STATUS_BAD_INPUT, "palettize: weight shape [%lld, %lld], expected positive sizes",
                            (long long)OC, (long long)K);
    if (cfg->n_bits < 1 || cfg->n_bits > PAL_MAX_BITS)
        return status_error(STATUS_BAD_INPUT, "palettize: n_bits = %d, expected 1..8", cfg->n_bits);
    if (cfg->granularity < 0 || cfg->granularity >= PAL_GRANULARITY_COUNT)
        return status_error(STATUS_BAD_INPUT, "palettize: granularity = %d, expected per_tensor or "
                            "per_grouped_channel", (int)cfg->granularity);
    if (cfg->algorithm == PAL_DKM)
        return status_error(STATUS_BAD_INPUT, "palettize: algorithm dkm is training-time palettization, "
                            "expected kmeans or skm here");
    if (cfg->algorithm < 0 || cfg->algorithm >= PAL_ALGORITHM_COUNT)
        return status_error(STATUS_BAD_INPUT, "palettize: algorithm = %d, expected kmeans or skm",
                            (int)cfg->algorithm);
    if (cfg->algorithm == PAL_SKM && !o->importance)
        return status_error(STATUS_BAD_INPUT, "palettize: algorithm skm needs per-weight importances "
                            "(calibration gradients), none given");
    if (o->lloyd_max_iter < 0)
        return status_error(STATUS_BAD_INPUT, "palettize: lloyd_max_iter = %d, expected >= 0", o->lloyd_max_iter);
    if (cfg->granularity == PAL_PER_GROUPED_CHANNEL) {
        if (cfg->group_size < 1)
            return status_error(STATUS_BAD_INPUT, "palettize: group_size = %d, expected >= 1 for "
                                "per_grouped_channel", cfg->group_size);
        if (cfg->channel_axis != 0 && cfg->channel_axis != 1)
            return status_error(STATUS_BAD_INPUT, "palettize: channel_axis = %d, expected 0 or 1",
                                cfg->channel_axis);
        if (cfg->channel_axis == 1 && (o->kernel_size < 1 || K % o->kernel_size != 0))
            return status_error(STATUS_BAD_INPUT, "palettize: kernel_size = %d does not divide K = %lld "
                                "(channel_axis 1 groups input channels of KH*KW columns)",
                                o->kernel_size, (long long)K);
    }
    return STATUS_OK;
}

int palettize(const float *w, int64_t OC, int64_t K, const struct palettize_cfg *cfg, struct palettize_opts *opts,
              struct compressed_weight *cw)
{
    int rc = pal_validate(OC, K, cfg, opts);
    if (rc) return rc;
    const uint8_t *mask = cw->mask;
    if (mask && (cw->OC != OC || cw->K != K))
        return status_error(STATUS_BAD_INPUT, "palettize: pruning mask is for [%lld, %lld], weight is [%lld, %lld]",
                            (long long)cw->OC, (long long)cw->K, (long long)OC, (long long)K);
    RN_ASSERT(!cw->lut && !cw->indices && !cw->channel_scale);   /* palettize a layer once */
    const int own_dense = cw->dense == NULL;
    const int64_t n = OC * K;
    const int axis = cfg->granularity == PAL_PER_GROUPED_CHANNEL ? cfg->channel_axis : 0;
    const int ks = axis == 1 ? opts->kernel_size : 1;
    const int64_t channels = axis == 0 ? OC : K / ks;
    const int gs = cfg->granularity == PAL_PER_GROUPED_CHANNEL
                       ? (cfg->group_size < channels ? cfg->group_size : (int)channels)
                       : (int)OC;
    const int n_groups = (int)((channels + gs - 1) / gs);
    const int k = 1 << cfg->n_bits;

    /* Check every weight that will be clustered before writing anything. */
    int64_t bad_w = n, bad_i = n;
    #pragma omp parallel for reduction(min : bad_w, bad_i) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        if (mask && !mask[i]) continue;
        if (!(fabsf(w[i]) <= 65504.0f)) bad_w = i < bad_w ? i : bad_w;   /* NaN fails too */
        if (opts->importance && !(opts->importance[i] >= 0.0f && isfinite(opts->importance[i])))
            bad_i = i < bad_i ? i : bad_i;
    }
    if (bad_w < n)
        return status_error(STATUS_BAD_INPUT, "palettize: weight [%lld, %lld] = %g is not a finite fp16 value",
                            (long long)(bad_w / K), (long long)(bad_w % K), (double)w[bad_w]);
    if (bad_i < n)
        return status_error(STATUS_BAD_INPUT, "palettize: importance [%lld, %lld] = %g, expected finite and >= 0",
                            (long long)(bad_i / K), (long long)(bad_i % K), (double)opts->importance[bad_i]);

    int64_t n_kept = n;
    if (mask) {
        n_kept = 0;
        for (int64_t i = 0; i < n; i++) n_kept += mask[i] != 0;
    }
    uint16_t *wkey = malloc(sizeof(uint16_t) * (size_t)n);
    uint16_t *lut = malloc(sizeof(uint16_t) * (size_t)n_groups * (size_t)k);
    uint8_t *indices = malloc(n_kept > 0 ? (size_t)n_kept : 1);
    uint16_t *scale = cfg->per_channel_scale ? malloc(sizeof(uint16_t) * (size_t)OC) : NULL;
    float *dense = cw->dense ? cw->dense : malloc(sizeof(float) * (size_t)n);
    if (!wkey || !lut || !indices || (cfg->per_channel_scale && !scale) || !dense) {
        rc = status_error(STATUS_NOMEM, "palettize: out of memory for a [%lld, %lld] weight", (long long)OC,
                          (long long)K);
        goto fail;
    }

    /* Per-channel scale (max |w| of the kept weights, stored fp16), then the key of each weight's
     * scaled fp16 value. Dividing by the fp16-rounded scale keeps decode = lut * scale exact up to
     * the final fp16 rounding. */
    #pragma omp parallel for schedule(static)
    for (int64_t oc = 0; oc < OC; oc++) {
        const float *row = w + oc * K;
        const uint8_t *mrow = mask ? mask + oc * K : NULL;
        float inv = 1.0f;
        if (scale) {
            float mx = 0.0f;
            for (int64_t c = 0; c < K; c++)
                if (!mrow || mrow[c]) mx = fmaxf(mx, fabsf(row[c]));
            scale[oc] = half_from_f32(mx);
            const float s = half_to_f32(scale[oc]);
            inv = s > 0.0f ? 1.0f / s : 0.0f;   /* all-zero channel: scale 0, values 0 */
        }
        for (int64_t c = 0; c < K; c++) wkey[oc * K + c] = pal_key(half_from_f32(row[c] * inv));
    }

    cw->channel_scale = scale;
    cw->lut = lut;
    cw->dense = dense;
    struct pal_job job = { .importance = opts->importance, .mask = mask, .wkey = wkey,
                           .OC = OC, .K = K, .axis = axis, .gs = gs, .ks = ks, .n_bits = cfg->n_bits,
                           .lloyd_max_iter = opts->lloyd_max_iter, .cw = cw };
    double sse = 0.0;
    int grc = STATUS_OK;
    /* Several groups: one per thread. One group: no outer team, so the DP can use the threads. */
    #pragma omp parallel if (n_groups > 1) reduction(+ : sse)
    {
        struct pal_scratch s;
        memset(&s, 0, sizeof s);
        int trc = pal_scratch_alloc(&s) ? STATUS_OK : STATUS_NOMEM;
        #pragma omp for schedule(dynamic, 1)
        for (int g = 0; g < n_groups; g++) {
            if (trc == STATUS_OK) trc = pal_group(&job, g, &s, &sse);
        }
        if (trc) {
            #pragma omp critical(palettize_rc)
            grc = trc;
        }
        pal_scratch_free(&s);
    }
    if (grc) {
        cw->channel_scale = NULL;
        cw->lut = NULL;
        if (own_dense) cw->dense = NULL;
        rc = grc == STATUS_NOMEM ? status_error(STATUS_NOMEM, "palettize: out of memory clustering") : grc;
        goto fail;
    }
    int64_t p = 0;
    for (int64_t i = 0; i < n; i++)
        if (!mask || mask[i]) indices[p++] = (uint8_t)wkey[i];
    RN_ASSERT(p == n_kept);
    cw->OC = OC;
    cw->K = K;
    cw->n_nonzero = n_kept;
    cw->n_bits = cfg->n_bits;
    cw->n_groups = n_groups;
    cw->group_axis = axis;
    cw->group_size = gs;
    cw->indices = indices;
    opts->sse = sse;
    free(wkey);
    return STATUS_OK;
fail:
    free(wkey);
    free(lut);
    free(indices);
    free(scale);
    if (own_dense) free(dense);
    return rc;
}

int palettize_weights(const float *w, int64_t OC, int64_t K, int kernel_size, const struct palettize_cfg *cfg,
                      struct compressed_weight *cw)
{
    struct palettize_opts o = { .kernel_size = kernel_size };
    return palettize(w, OC, K, cfg, &o, cw);
}

int palettize_weighted(const float *w, int64_t OC, int64_t K, int kernel_size, const struct palettize_cfg *cfg,
                       const float *importance, struct compressed_weight *cw)
{
    struct palettize_opts o = { .kernel_size = kernel_size, .importance = importance };
    return palettize(w, OC, K, cfg, &o, cw);
}

void palettize_decode(const struct compressed_weight *cw, int kernel_size, float *dense)
{
    const int k = 1 << cw->n_bits;
    int64_t p = 0;
    for (int64_t oc = 0; oc < cw->OC; oc++)
        for (int64_t c = 0; c < cw->K; c++) {
            const int64_t i = oc * cw->K + c;
            if (cw->mask && !cw->mask[i]) {
                dense[i] = 0.0f;
                continue;
            }
            const int g = palettize_group_of(cw, kernel_size, oc, c);
            RN_ASSERT(g < cw->n_groups && p < cw->n_nonzero);
            dense[i] = pal_decode_one(cw->lut[(size_t)g * (size_t)k + cw->indices[p++]], cw->channel_scale, oc);
        }
}
