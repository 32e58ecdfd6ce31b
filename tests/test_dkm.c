/* test_dkm.c — differentiable k-means (compress/dkm.h) and the fine-tuning driver
 * (compress/finetune.h): the fast forward against the plain double-precision reference, the
 * backward pass against central finite differences of that reference on small groups, hard
 * assignment, and a finalized model (DKM with grouped LUTs, joint with scheduled pruning) that has
 * at most 2^n values per group before the per-channel scale, the exact sparsity, and that loads
 * back with the weights validation saw. Seed printed. */
#include "check.h"

#include "config.h"
#include "dkm.h"
#include "finetune.h"
#include "format.h"
#include "half.h"
#include "prune.h"
#include "rng.h"
#include "status.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEED 20261127u
#define FWD_TOL 2e-5   /* float forward vs double reference, relative to the weights' scale */
#define GRAD_TOL 2e-3  /* analytic vs central differences, relative to the largest gradient */

static void forward_vs_ref(int n, int k, int T, double tau, double scale)
{
    struct rng r;
    rng_seed(&r, SEED + (uint64_t)n * 7 + (uint64_t)k);
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), c0[16], c[16];
    double *xd = malloc(sizeof(double) * n), *yd = malloc(sizeof(double) * n), c0d[16], cd[16];
    const struct dkm_opts o = { .k = k, .max_iter = T, .tau = tau };
    float *work = malloc(sizeof(float) * dkm_work_floats(n, &o));
    for (int i = 0; i < n; i++) xd[i] = x[i] = (float)(scale * rng_normal(&r));
    for (int j = 0; j < k; j++) c0d[j] = c0[j] = (float)(scale * (2.0 * (j + 0.5) / k - 1.0) * 1.5);
    dkm_forward(x, n, c0, &o, y, c, work);
    dkm_forward_ref(xd, n, c0d, &o, yd, cd);
    double worst = 0;
    for (int i = 0; i < n; i++) worst = fmax(worst, fabs(y[i] - yd[i]));
    CHECK_ABS(worst / scale, 0, FWD_TOL);
    for (int j = 0; j < k; j++) CHECK_ABS((c[j] - cd[j]) / scale, 0, FWD_TOL);
    /* The soft weights stay within the centroids' range and near the weights. */
    double err = 0, var = 0;
    for (int i = 0; i < n; i++) {
        err += (y[i] - x[i]) * (y[i] - x[i]);
        var += (double)x[i] * x[i];
    }
    CHECK(err < var);
    free(x); free(y); free(xd); free(yd); free(work);
}

/* L = sum_i r_i y_i; dL/dx by dkm_backward against central differences of dkm_forward_ref. */
static void gradient_check(int n, int k, int T, double tau)
{
    struct rng r;
    rng_seed(&r, SEED + 99 + (uint64_t)k * 3 + (uint64_t)T);
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), *gy = malloc(sizeof(float) * n),
          *gx = malloc(sizeof(float) * n), c0[16];
    double *xd = malloc(sizeof(double) * n), *yd = malloc(sizeof(double) * n), c0d[16];
    const struct dkm_opts o = { .k = k, .max_iter = T, .tau = tau };
    float *work = malloc(sizeof(float) * dkm_work_floats(n, &o));
    for (int i = 0; i < n; i++) {
        xd[i] = x[i] = (float)rng_normal(&r);
        gy[i] = (float)rng_normal(&r);
    }
    for (int j = 0; j < k; j++) c0d[j] = c0[j] = (float)(2.0 * (j + 0.5) / k - 1.0);
    dkm_forward(x, n, c0, &o, y, NULL, work);
    dkm_backward(x, n, &o, work, gy, gx);
    double gmax = 0, worst = 0;
    for (int i = 0; i < n; i++) gmax = fmax(gmax, fabs(gx[i]));
    const double h = 1e-5;
    for (int i = 0; i < n; i++) {
        double lp = 0, lm = 0;
        const double keep = xd[i];
        xd[i] = keep + h;
        dkm_forward_ref(xd, n, c0d, &o, yd, NULL);
        for (int q = 0; q < n; q++) lp += gy[q] * yd[q];
        xd[i] = keep - h;
        dkm_forward_ref(xd, n, c0d, &o, yd, NULL);
        for (int q = 0; q < n; q++) lm += gy[q] * yd[q];
        xd[i] = keep;
        worst = fmax(worst, fabs((lp - lm) / (2 * h) - gx[i]));
    }
    printf("dkm gradient n %d k %d T %d tau %g: max |analytic - numeric| %.3g (max |g| %.3g)\n", n, k, T, tau, worst, gmax);
    CHECK(gmax > 0.1);
    CHECK_ABS(worst / gmax, 0, GRAD_TOL);
    free(x); free(y); free(gy); free(gx); free(xd); free(yd); free(work);
}

static void assign_check(void)
{
    const float c[4] = { -1.0f, -0.25f, 0.5f, 2.0f };
    const float x[7] = { -3.0f, -0.7f, -0.5f, 0.1f, 0.125f, 1.24f, 9.0f };
    uint8_t idx[7];
    dkm_assign(x, 7, c, 4, idx);
    const uint8_t want[7] = { 0, 0, 1, 1, 1, 2, 3 };   /* 0.125 is equidistant from -0.25 and 0.5: the lower */
    for (int i = 0; i < 7; i++) CHECK(idx[i] == want[i]);
}

/* A finalized model: per group, at most 2^n distinct LUT values used; with the BatchNorm scale
 * divided out, each decoded row uses only LUT values; pruned layers have exactly the target's
 * kept count. */
static void finalize_check(const char *yaml, int n_bits, double sparsity)
{
    char cfg_path[] = "/tmp/rn_test_dkm_XXXXXX";
    int fd = mkstemp(cfg_path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    CHECK(write(fd, yaml, strlen(yaml)) == (ssize_t)strlen(yaml));
    close(fd);
    struct resnet_config cfg;
    struct resnet *net = NULL;
    struct compress_plan plan;
    struct finetune *ft = NULL;
    struct trainer *t = NULL;
    CHECK(resnet_config_load(RN_SOURCE_DIR "/tests/data/rn50w8-small.yaml", &cfg) == STATUS_OK);
    CHECK(resnet_alloc(&cfg, SEED, &net) == STATUS_OK);
    CHECK(compress_config_load(cfg_path, net, &plan) == STATUS_OK);
    CHECK(finetune_alloc(net, &plan, yaml, &ft) == STATUS_OK);
    const int N = 4;
    CHECK(trainer_alloc(net, N, &t) == STATUS_OK);
    CHECK(trainer_set_hooks(t, finetune_hooks(ft)) == STATUS_OK);
    const int64_t per = (int64_t)cfg.in_channels * cfg.in_h * cfg.in_w;
    float *x = malloc(sizeof(float) * per * N);
    int64_t y[4];
    struct rng r;
    rng_seed(&r, SEED + 5);
    const struct train_hooks *h = finetune_hooks(ft);
    const struct sgd_opts so = { .lr = 0.01, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = 1 };
    for (int step = 0; step < 6; step++) {
        for (int64_t i = 0; i < per * N; i++) x[i] = (float)rng_normal(&r);
        for (int i = 0; i < N; i++) y[i] = (int64_t)rng_below(&r, (uint64_t)cfg.n_classes);
        CHECK(h->step_begin(h->ctx, t, step) == STATUS_OK);
        const double loss = trainer_step(t, x, y, N, 0.1f, NULL);
        CHECK(isfinite(loss));
        trainer_sgd(t, &so);
        h->after_update(h->ctx, t);
    }
    char out[] = "/tmp/rn_test_dkm_out_XXXXXX";
    fd = mkstemp(out);
    close(fd);
    CHECK(finetune_finalize(ft, out) == STATUS_OK);
    struct resnet *back = NULL;
    struct compressed_weight *cw = NULL;
    CHECK(format_load(out, &back, &cw) == STATUS_OK);
    int n_pal = 0, n_pruned = 0;
    for (int i = 0; back && cw && i < plan.n_layers; i++) {
        const int c = resnet_find_conv(back, plan.info[i].name);
        const int layer = c >= 0 ? c : back->n_conv;
        const struct compressed_weight *x_cw = &cw[layer];
        if (plan.layer[i].pal.enabled) {
            n_pal++;
            CHECK(x_cw->lut && x_cw->n_bits == n_bits);
            const int k = 1 << n_bits;
            if (!x_cw->lut) continue;
            /* Every decoded weight is one of its group's LUT entries times the row's scale (the
             * product rounded to fp16, as the loader decodes). */
            int64_t misses = 0;
            for (int64_t oc = 0; oc < x_cw->OC; oc++) {
                const int g = (int)(oc / x_cw->group_size);
                const float s = x_cw->channel_scale ? half_to_f32(x_cw->channel_scale[oc]) : 1.0f;
                for (int64_t q = 0; q < x_cw->K; q++) {
                    const float v = x_cw->dense[oc * x_cw->K + q];
                    if (x_cw->mask && !x_cw->mask[oc * x_cw->K + q]) { CHECK(v == 0.0f); continue; }
                    int hit = 0;
                    for (int j = 0; j < k; j++)
                        hit |= v == (x_cw->channel_scale ? half_to_f32(half_from_f32(half_to_f32(x_cw->lut[g * k + j]) * s))
                                                         : half_to_f32(x_cw->lut[g * k + j]));
                    misses += !hit;
                }
            }
            CHECK(misses == 0);
        }
        if (plan.layer[i].prune.enabled) {
            n_pruned++;
            CHECK(x_cw->mask != NULL);
            CHECK(x_cw->n_nonzero == prune_keep_count(x_cw->OC * x_cw->K, sparsity));
        }
    }
    CHECK(n_pal + n_pruned > 0);
    if (cw)
        for (int i = 0; i <= back->n_conv; i++) compressed_weight_free(&cw[i]);
    free(cw);
    resnet_free(back);
    free(x);
    trainer_free(t);
    finetune_free(ft);
    compress_plan_free(&plan);
    resnet_free(net);
    unlink(out);
    unlink(cfg_path);
}

int main(void)
{
    printf("seed %u\n", SEED);
    forward_vs_ref(5000, 4, 3, 1e-4, 0.05);
    forward_vs_ref(3000, 2, 3, 1e-4, 0.05);
    forward_vs_ref(2000, 16, 2, 1e-3, 0.1);
    forward_vs_ref(20000, 4, 3, 1e-4, 0.05);   /* above the threaded threshold (16384 rows) */
    gradient_check(24, 4, 3, 0.3);
    gradient_check(30, 2, 2, 0.5);
    gradient_check(20, 8, 1, 0.2);
    gradient_check(16, 4, 4, 0.05);
    assign_check();
    finalize_check("palettization:\n  global_config:\n    n_bits: 2\n    granularity: per_grouped_channel\n"
                   "    group_size: 4\n    algorithm: dkm\n    weight_threshold: 512\n",
                   2, 0.0);
    finalize_check("pruning:\n  global_config:\n    target_sparsity: 0.75\n    weight_threshold: 512\n"
                   "    scheduler: {update_steps: [0, 2, 4]}\n"
                   "palettization:\n  global_config:\n    n_bits: 1\n    algorithm: dkm\n    weight_threshold: 512\n",
                   1, 0.75);
    return check_summary();
}
