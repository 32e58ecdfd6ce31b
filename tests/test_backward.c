/* test_backward.c — the training backward passes: conv_backward against its direct-loop reference
 * (every ResNet conv shape, odd sizes, chunked scratch, dx == NULL), col2im as the exact adjoint of
 * im2col, central finite-difference gradient checks for every layer, the BatchNorm running-stat
 * update and the softmax cross-entropy by hand. */
#include "check.h"
#include "ops.h"
#include "ops_backward.h"
#include "rng.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SEED 20240611u

/* conv_backward vs the reference: normalised error max|a - b| / max|b|. Both sides are float
 * sums of a few hundred products; 1e-5 is ~100 ulp of the largest value. */
#define CONV_REF_TOL 1e-5
/* Finite differences: central step h (relative to the typical value 1 of the test data), error
 * allowed as a fraction of the largest |gradient| in the tensor. The forward runs in float, so
 * the difference quotient carries about 1e-7 * |L| / h of rounding noise, and nonlinear layers
 * (BatchNorm) an O(h^2) truncation term; measured worst cases are below 1e-4 (BatchNorm's x), so
 * 2e-3 leaves a 20x margin while any real bug (O(1) wrong) fails by far. */
#define FD_H 1e-2
#define FD_TOL 2e-3
/* Entries probed per tensor in the finite-difference checks. */
#define FD_PROBES 24
/* Adjoint identity <im2col(x), c> == <x, col2im(c)>, both in double from float data. */
#define ADJ_TOL 1e-5
/* Hand-computed values (a handful of float operations). */
#define HAND_TOL 1e-6

static struct rng R;

static float *alloc_f(int64_t n)
{
    /* calloc: defined contents, so a test that forgets to fill a buffer is reproducible. */
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static void fill_normal(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = (float)rng_normal(&R);
}

static double dot(const float *a, const float *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static double max_abs(const float *a, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

static double max_diff(const float *a, const float *b, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* ---- conv_backward against the reference ---- */

static void test_conv_vs_ref(struct conv_desc d, int N, int H, int W, int chunked)
{
    const int OH = conv_out_size(H, d.KH, d.stride, d.pad), OW = conv_out_size(W, d.KW, d.stride, d.pad);
    const int64_t K = conv_k(&d), nx = (int64_t)d.IC * N * H * W, ny = (int64_t)d.OC * N * OH * OW;
    const int64_t nw = d.OC * K;
    /* Chunked: exactly one image's im2col, so every image is its own chunk. Otherwise the whole
     * batch fits (pointwise convs need none). */
    const int64_t sf = conv_scratch_floats(&d, chunked ? (int64_t)OH * OW : (int64_t)N * OH * OW);
    float *x = alloc_f(nx), *w = alloc_f(nw), *dy = alloc_f(ny), *scratch = alloc_f(sf);
    float *dw = alloc_f(nw), *dx = alloc_f(nx), *dw_ref = alloc_f(nw), *dx_ref = alloc_f(nx);
    fill_normal(x, nx);
    fill_normal(w, nw);
    fill_normal(dy, ny);
    /* Garbage in the outputs proves they are overwritten, not accumulated into. */
    for (int64_t i = 0; i < nw; i++) dw[i] = 777.0f;
    for (int64_t i = 0; i < nx; i++) dx[i] = -555.0f;

    conv_backward(&d, x, N, H, W, w, dy, dw, dx, scratch, sf);
    conv_backward_ref(&d, x, N, H, W, w, dy, dw_ref, dx_ref);
    const double ew = max_diff(dw, dw_ref, nw) / max_abs(dw_ref, nw);
    const double ex = max_diff(dx, dx_ref, nx) / max_abs(dx_ref, nx);
    printf("conv %dx%d s%d p%d IC%d OC%d N%d %dx%d%s: dw err %.2e, dx err %.2e\n", d.KH, d.KW, d.stride, d.pad,
           d.IC, d.OC, N, H, W, chunked ? " chunked" : "", ew, ex);
    CHECK(ew <= CONV_REF_TOL);
    CHECK(ex <= CONV_REF_TOL);

    /* The first layer passes dx == NULL: dw must not change. */
    for (int64_t i = 0; i < nw; i++) dw[i] = 777.0f;
    conv_backward(&d, x, N, H, W, w, dy, dw, NULL, scratch, sf);
    CHECK(max_diff(dw, dw_ref, nw) / max_abs(dw_ref, nw) <= CONV_REF_TOL);

    free(x); free(w); free(dy); free(scratch); free(dw); free(dx); free(dw_ref); free(dx_ref);
}

/* ---- col2im is the adjoint of im2col ---- */

static void test_col2im_adjoint(struct conv_desc d, int N, int H, int W, int n0, int n)
{
    const int OH = conv_out_size(H, d.KH, d.stride, d.pad), OW = conv_out_size(W, d.KW, d.stride, d.pad);
    const int64_t K = conv_k(&d), nx = (int64_t)d.IC * N * H * W, ncol = K * n * OH * OW;
    float *x = alloc_f(nx), *col = alloc_f(ncol), *c = alloc_f(ncol), *dx = alloc_f(nx), *dx0 = alloc_f(nx);
    fill_normal(x, nx);
    fill_normal(c, ncol);
    fill_normal(dx0, nx);
    memcpy(dx, dx0, sizeof(float) * nx);
    im2col(&d, x, N, H, W, n0, n, col);
    col2im(&d, c, N, H, W, n0, n, dx);   /* adds into dx */
    double lhs = dot(col, c, ncol), rhs = 0.0, outside = 0.0;
    for (int64_t i = 0; i < nx; i++) {
        const double g = (double)dx[i] - dx0[i];
        rhs += g * x[i];
        /* Images outside [n0, n0+n) must be untouched. */
        const int img = (int)(i / ((int64_t)H * W) % N);
        if (img < n0 || img >= n0 + n) outside = fmax(outside, fabs(g));
    }
    printf("adjoint %dx%d s%d p%d %dx%d images %d..%d: <im2col x, c> %.6f, <x, col2im c> %.6f\n", d.KH, d.KW,
           d.stride, d.pad, H, W, n0, n0 + n, lhs, rhs);
    CHECK_REL(lhs, rhs, ADJ_TOL);
    CHECK(outside == 0.0);
    free(x); free(col); free(c); free(dx); free(dx0);
}

/* ---- finite differences ---- */

/* Compares the analytic gradient g [n] with central differences of loss() at FD_PROBES random
 * entries of the parameter p [n] (one perturbed at a time, restored afterwards). */
struct fd_case;
typedef double (*fd_loss_fn)(struct fd_case *fc);
struct fd_case {
    fd_loss_fn loss;
    void *ctx;
};

static void fd_check(const char *what, struct fd_case *fc, float *p, const float *g, int64_t n)
{
    const double scale = max_abs(g, n);
    double worst = 0.0;
    for (int t = 0; t < FD_PROBES; t++) {
        const int64_t i = (int64_t)rng_below(&R, (uint64_t)n);
        const float keep = p[i];
        p[i] = (float)(keep + FD_H);
        const double lp = fc->loss(fc);
        p[i] = (float)(keep - FD_H);
        const double lm = fc->loss(fc);
        /* The actual step, since keep +- h rounds in float. */
        const double step = (double)(float)(keep + FD_H) - (double)(float)(keep - FD_H);
        p[i] = keep;
        const double num = (lp - lm) / step;
        worst = fmax(worst, fabs(num - g[i]));
        CHECK_ABS(g[i], num, FD_TOL * scale);
    }
    printf("fd %-22s max |grad| %.3e, worst |analytic - numeric| / max %.2e\n", what, scale,
           scale > 0 ? worst / scale : worst);
    CHECK(scale > 0.0);   /* a zero gradient would make the check vacuous */
}

/* Conv: L = sum(conv(x, w) * Rw). */
struct conv_ctx {
    struct conv_desc d;
    int N, H, W;
    float *x, *w, *y, *r;
    int64_t ny;
};

static double conv_loss(struct fd_case *fc)
{
    struct conv_ctx *c = fc->ctx;
    conv_forward_ref(&c->d, c->x, c->N, c->H, c->W, c->w, NULL, NULL, 0, c->y);
    return dot(c->y, c->r, c->ny);
}

static void test_conv_fd(struct conv_desc d, int N, int H, int W)
{
    const int OH = conv_out_size(H, d.KH, d.stride, d.pad), OW = conv_out_size(W, d.KW, d.stride, d.pad);
    const int64_t K = conv_k(&d), nx = (int64_t)d.IC * N * H * W, ny = (int64_t)d.OC * N * OH * OW;
    const int64_t sf = conv_scratch_floats(&d, (int64_t)N * OH * OW);
    struct conv_ctx c = {d, N, H, W, alloc_f(nx), alloc_f(d.OC * K), alloc_f(ny), alloc_f(ny), ny};
    float *dw = alloc_f(d.OC * K), *dx = alloc_f(nx), *scratch = alloc_f(sf);
    fill_normal(c.x, nx);
    fill_normal(c.w, d.OC * K);
    fill_normal(c.r, ny);
    /* dL/dy = R. */
    conv_backward(&d, c.x, N, H, W, c.w, c.r, dw, dx, scratch, sf);
    struct fd_case fc = {conv_loss, &c};
    char name[64];
    snprintf(name, sizeof name, "conv%dx%d s%d w", d.KH, d.KW, d.stride);
    fd_check(name, &fc, c.w, dw, d.OC * K);
    snprintf(name, sizeof name, "conv%dx%d s%d x", d.KH, d.KW, d.stride);
    fd_check(name, &fc, c.x, dx, nx);
    free(c.x); free(c.w); free(c.y); free(c.r); free(dw); free(dx); free(scratch);
}

/* BatchNorm (training): L = sum(bn(x) * R). */
struct bn_ctx {
    int C;
    int64_t L;
    float *x, *gamma, *beta, *y, *r, *mean, *invstd, *rm, *rv;
};

static double bn_loss(struct fd_case *fc)
{
    struct bn_ctx *c = fc->ctx;
    bn_train_forward(c->x, c->C, c->L, c->gamma, c->beta, 1e-5f, 0.1f, c->rm, c->rv, c->y, c->mean, c->invstd);
    return dot(c->y, c->r, (int64_t)c->C * c->L);
}

static void test_bn_fd(int C, int64_t L)
{
    const int64_t n = (int64_t)C * L;
    struct bn_ctx c = {C, L, alloc_f(n), alloc_f(C), alloc_f(C), alloc_f(n), alloc_f(n), alloc_f(C), alloc_f(C),
                       alloc_f(C), alloc_f(C)};
    float *dx = alloc_f(n), *dg = alloc_f(C), *db = alloc_f(C);
    /* Per-channel offsets and scales, so the normalisation has real work to do. */
    for (int ch = 0; ch < C; ch++) {
        const float off = (float)(2.0 * rng_normal(&R)), sc = (float)(0.5 + rng_uniform(&R) * 2.0);
        for (int64_t i = 0; i < L; i++) c.x[ch * L + i] = off + sc * (float)rng_normal(&R);
        c.gamma[ch] = (float)(0.5 + rng_uniform(&R));
        c.beta[ch] = (float)rng_normal(&R);
        c.rm[ch] = 0.0f;
        c.rv[ch] = 1.0f;
    }
    fill_normal(c.r, n);
    struct fd_case fc = {bn_loss, &c};
    bn_loss(&fc);   /* mean, invstd for the backward */
    /* dx aliases dy here, as the training driver does to save a buffer. */
    memcpy(dx, c.r, sizeof(float) * n);
    bn_backward(c.x, dx, C, L, c.gamma, c.mean, c.invstd, dx, dg, db);
    fd_check("bn x", &fc, c.x, dx, n);
    fd_check("bn gamma", &fc, c.gamma, dg, C);
    fd_check("bn beta", &fc, c.beta, db, C);

    /* The non-aliased call gives the same result. */
    float *dx2 = alloc_f(n);
    bn_loss(&fc);
    bn_backward(c.x, c.r, C, L, c.gamma, c.mean, c.invstd, dx2, dg, db);
    CHECK(max_diff(dx, dx2, n) == 0.0);
    free(dx2);
    free(c.x); free(c.gamma); free(c.beta); free(c.y); free(c.r); free(c.mean); free(c.invstd); free(c.rm);
    free(c.rv); free(dx); free(dg); free(db);
}

/* ReLU: L = sum(relu(x) * R). */
struct relu_ctx {
    float *x, *r;
    int64_t n;
};

static double relu_loss(struct fd_case *fc)
{
    struct relu_ctx *c = fc->ctx;
    double s = 0.0;
    for (int64_t i = 0; i < c->n; i++) s += (c->x[i] > 0.0f ? (double)c->x[i] : 0.0) * c->r[i];
    return s;
}

static void test_relu_fd(void)
{
    const int64_t n = 1000;
    struct relu_ctx c = {alloc_f(n), alloc_f(n), n};
    float *y = alloc_f(n), *g = alloc_f(n);
    /* Keep every value at least 5h from the kink, where the derivative is not defined. */
    for (int64_t i = 0; i < n; i++) {
        const double v = rng_normal(&R);
        c.x[i] = (float)(v >= 0 ? v + 5 * FD_H : v - 5 * FD_H);
    }
    fill_normal(c.r, n);
    for (int64_t i = 0; i < n; i++) y[i] = c.x[i] > 0.0f ? c.x[i] : 0.0f;
    memcpy(g, c.r, sizeof(float) * n);
    relu_backward(y, g, n);
    struct fd_case fc = {relu_loss, &c};
    fd_check("relu x", &fc, c.x, g, n);
    int64_t zeros = 0, exact = 0;
    for (int64_t i = 0; i < n; i++) {
        zeros += c.x[i] < 0.0f && g[i] == 0.0f;
        exact += c.x[i] > 0.0f && g[i] == c.r[i];
    }
    CHECK(zeros + exact == n);
    free(c.x); free(c.r); free(y); free(g);
}

/* Max-pool: L = sum(maxpool(x) * R). */
struct pool_ctx {
    int C, N, H, W, k, s, p;
    float *x, *y, *r;
    int64_t ny;
};

static double maxpool_loss(struct fd_case *fc)
{
    struct pool_ctx *c = fc->ctx;
    maxpool_forward_ref(c->x, c->C, c->N, c->H, c->W, c->k, c->s, c->p, c->y);
    return dot(c->y, c->r, c->ny);
}

static void test_maxpool_fd(int C, int N, int H, int W, int k, int s, int p)
{
    const int OH = conv_out_size(H, k, s, p), OW = conv_out_size(W, k, s, p);
    const int64_t nx = (int64_t)C * N * H * W, ny = (int64_t)C * N * OH * OW;
    struct pool_ctx c = {C, N, H, W, k, s, p, alloc_f(nx), alloc_f(ny), alloc_f(ny), ny};
    float *dx = alloc_f(nx);
    int32_t *am = malloc(sizeof(int32_t) * (size_t)ny);
    /* Distinct values 0.1 apart (a shuffled ramp), so a step of h = 0.01 never changes a window's
     * winner and there are no ties for the derivative to be ambiguous at. */
    for (int64_t i = 0; i < nx; i++) c.x[i] = (float)(0.1 * (double)(i - nx / 2));
    for (int64_t i = nx - 1; i > 0; i--) {
        const int64_t j = (int64_t)rng_below(&R, (uint64_t)i + 1);
        const float t = c.x[i];
        c.x[i] = c.x[j];
        c.x[j] = t;
    }
    fill_normal(c.r, ny);
    maxpool_forward(c.x, C, N, H, W, k, s, p, c.y, am);
    for (int64_t i = 0; i < nx; i++) dx[i] = 123.0f;
    maxpool_backward(c.r, am, C, N, OH * OW, H * W, dx);
    struct fd_case fc = {maxpool_loss, &c};
    char name[64];
    snprintf(name, sizeof name, "maxpool k%d s%d p%d x", k, s, p);
    fd_check(name, &fc, c.x, dx, nx);
    /* Every output's gradient lands somewhere: the totals agree. */
    double sdx = 0.0, sdy = 0.0;
    for (int64_t i = 0; i < nx; i++) sdx += dx[i];
    for (int64_t i = 0; i < ny; i++) sdy += c.r[i];
    CHECK_ABS(sdx, sdy, 1e-4);
    free(c.x); free(c.y); free(c.r); free(dx); free(am);
}

/* Global average pool: L = sum(avgpool(x) * R). */
struct avg_ctx {
    int C, N, HW;
    float *x, *y, *r;
};

static double avgpool_loss(struct fd_case *fc)
{
    struct avg_ctx *c = fc->ctx;
    avgpool_forward_ref(c->x, c->C, c->N, c->HW, c->y);
    return dot(c->y, c->r, (int64_t)c->C * c->N);
}

static void test_avgpool_fd(int C, int N, int HW)
{
    const int64_t nx = (int64_t)C * N * HW, ny = (int64_t)C * N;
    struct avg_ctx c = {C, N, HW, alloc_f(nx), alloc_f(ny), alloc_f(ny)};
    float *dx = alloc_f(nx);
    fill_normal(c.x, nx);
    fill_normal(c.r, ny);
    avgpool_backward(c.r, C, N, HW, dx);
    struct fd_case fc = {avgpool_loss, &c};
    fd_check("avgpool x", &fc, c.x, dx, nx);
    free(c.x); free(c.y); free(c.r); free(dx);
}

/* FC: L = sum(fc(x, w, b) * R). */
struct fc_ctx {
    int C, N, OUT;
    float *x, *w, *b, *y, *r;
};

static double fc_loss(struct fd_case *fc)
{
    struct fc_ctx *c = fc->ctx;
    fc_forward_ref(c->x, c->C, c->N, c->w, c->b, c->OUT, c->y);
    return dot(c->y, c->r, (int64_t)c->N * c->OUT);
}

static void test_fc_fd(int C, int N, int OUT)
{
    struct fc_ctx c = {C, N, OUT, alloc_f((int64_t)C * N), alloc_f((int64_t)OUT * C), alloc_f(OUT),
                       alloc_f((int64_t)N * OUT), alloc_f((int64_t)N * OUT)};
    float *dx = alloc_f((int64_t)C * N), *dw = alloc_f((int64_t)OUT * C), *db = alloc_f(OUT);
    fill_normal(c.x, (int64_t)C * N);
    fill_normal(c.w, (int64_t)OUT * C);
    fill_normal(c.b, OUT);
    fill_normal(c.r, (int64_t)N * OUT);
    fc_backward(c.x, C, N, c.w, OUT, c.r, dw, db, dx);
    struct fd_case fc = {fc_loss, &c};
    fd_check("fc x", &fc, c.x, dx, (int64_t)C * N);
    fd_check("fc w", &fc, c.w, dw, (int64_t)OUT * C);
    fd_check("fc b", &fc, c.b, db, OUT);
    /* dx == NULL and db == NULL are allowed and leave dw the same. */
    float *dw2 = alloc_f((int64_t)OUT * C);
    fc_backward(c.x, C, N, c.w, OUT, c.r, dw2, NULL, NULL);
    CHECK(max_diff(dw, dw2, (int64_t)OUT * C) == 0.0);
    free(dw2);
    free(c.x); free(c.w); free(c.b); free(c.y); free(c.r); free(dx); free(dw); free(db);
}

/* Softmax cross-entropy: L = the returned mean loss. */
struct xent_ctx {
    int N, K;
    float *z;
    int64_t *labels;
    float eps;
};

static double xent_loss(struct fd_case *fc)
{
    struct xent_ctx *c = fc->ctx;
    return softmax_xent(c->z, c->N, c->K, c->labels, c->eps, NULL, NULL);
}

static void test_xent_fd(float eps)
{
    const int N = 7, K = 10;
    int64_t labels[7];
    struct xent_ctx c = {N, K, alloc_f(N * K), labels, eps};
    float *g = alloc_f(N * K);
    for (int i = 0; i < N * K; i++) c.z[i] = (float)(3.0 * rng_normal(&R)) + 50.0f;   /* large: tests the max shift */
    for (int n = 0; n < N; n++) labels[n] = (int64_t)rng_below(&R, K);
    int64_t correct = 0;
    softmax_xent(c.z, N, K, labels, eps, g, &correct);
    int64_t expect = 0;
    for (int n = 0; n < N; n++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (c.z[n * K + k] > c.z[n * K + best]) best = k;
        expect += best == labels[n];
    }
    CHECK(correct == expect);
    /* Gradient rows of a softmax loss sum to zero. */
    for (int n = 0; n < N; n++) {
        double s = 0.0;
        for (int k = 0; k < K; k++) s += g[n * K + k];
        CHECK_ABS(s, 0.0, 1e-7);
    }
    struct fd_case fc = {xent_loss, &c};
    fd_check(eps > 0 ? "softmax_xent eps=0.1" : "softmax_xent eps=0", &fc, c.z, g, N * K);
    free(c.z); free(g);
}

/* ---- hand examples ---- */

static void test_bn_running_stats(void)
{
    /* One channel, x = {1, 2, 3, 6}: mean 3, biased variance 14/4 = 3.5, unbiased 14/3. */
    const float x[4] = {1, 2, 3, 6}, gamma = 2.0f, beta = 0.5f;
    float rm = 0.5f, rv = 2.0f, y[4], mean, invstd;
    bn_train_forward(x, 1, 4, &gamma, &beta, 1e-5f, 0.1f, &rm, &rv, y, &mean, &invstd);
    CHECK_ABS(mean, 3.0, HAND_TOL);
    CHECK_REL(invstd, 1.0 / sqrt(3.5 + 1e-5), HAND_TOL);
    CHECK_ABS(rm, 0.9 * 0.5 + 0.1 * 3.0, HAND_TOL);
    CHECK_ABS(rv, 0.9 * 2.0 + 0.1 * 14.0 / 3.0, HAND_TOL);
    for (int i = 0; i < 4; i++) CHECK_ABS(y[i], 2.0 * (x[i] - 3.0) / sqrt(3.5 + 1e-5) + 0.5, HAND_TOL);
    /* Mean of y is beta, biased variance gamma^2 * var/(var+eps). */
    CHECK_ABS((y[0] + y[1] + y[2] + y[3]) / 4.0, 0.5, HAND_TOL);
}

static void test_xent_hand(void)
{
    const float z[2] = {0.0f, (float)log(3.0)};
    const int64_t label = 1;
    float g[2];
    int64_t correct = 5;   /* counts are added */
    /* p = {1/4, 3/4}: loss -ln(3/4) = ln(4/3), gradient p - onehot. */
    double loss = softmax_xent(z, 1, 2, &label, 0.0f, g, &correct);
    CHECK_ABS(loss, log(4.0 / 3.0), HAND_TOL);
    CHECK_ABS(g[0], 0.25, HAND_TOL);
    CHECK_ABS(g[1], -0.25, HAND_TOL);
    CHECK(correct == 6);
    /* Smoothing 0.1 over K = 2: target {0.05, 0.95}. */
    loss = softmax_xent(z, 1, 2, &label, 0.1f, g, NULL);
    CHECK_ABS(loss, -(0.05 * log(0.25) + 0.95 * log(0.75)), HAND_TOL);
    CHECK_ABS(g[0], 0.20, HAND_TOL);
    CHECK_ABS(g[1], -0.20, HAND_TOL);
    /* Two rows average: the second row, label 0, has loss ln(4) and its gradient is halved. */
    const float z2[4] = {0.0f, (float)log(3.0), 0.0f, (float)log(3.0)};
    const int64_t labels2[2] = {1, 0};
    float g2[4];
    loss = softmax_xent(z2, 2, 2, labels2, 0.0f, g2, NULL);
    CHECK_ABS(loss, 0.5 * (log(4.0 / 3.0) + log(4.0)), HAND_TOL);
    CHECK_ABS(g2[2], 0.5 * (0.25 - 1.0), HAND_TOL);
    /* Huge logits stay finite. */
    const float big[2] = {1000.0f, -1000.0f};
    const int64_t l0 = 1;
    loss = softmax_xent(big, 1, 2, &l0, 0.0f, g, NULL);
    CHECK_ABS(loss, 2000.0, 1e-3);
    CHECK(isfinite(g[0]) && isfinite(g[1]));
}

int main(void)
{
    printf("seed %u\n", SEED);
    rng_seed(&R, SEED);

    /* Every conv shape a torchvision ResNet uses, with odd sizes and N = 3. */
    const struct { struct conv_desc d; int N, H, W; } shapes[] = {
        {{5, 6, 3, 3, 1, 1}, 3, 7, 9},    /* 3x3 s1 p1 */
        {{4, 7, 3, 3, 2, 1}, 3, 9, 8},    /* 3x3 s2 p1 */
        {{6, 5, 1, 1, 1, 0}, 3, 5, 7},    /* 1x1 s1 p0: the pointwise GEMM path */
        {{6, 8, 1, 1, 2, 0}, 3, 7, 5},    /* 1x1 s2 p0: downsample, im2col path */
        {{3, 4, 7, 7, 2, 3}, 3, 11, 13},  /* 7x7 s2 p3: the ImageNet stem */
        {{2, 3, 3, 3, 1, 1}, 3, 1, 1},    /* 1x1 spatial, as in the last stage at 28x28 */
        {{3, 2, 3, 3, 2, 0}, 3, 6, 6},    /* no padding, kernel that does not tile evenly */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        test_conv_vs_ref(shapes[i].d, shapes[i].N, shapes[i].H, shapes[i].W, 0);
        test_conv_vs_ref(shapes[i].d, shapes[i].N, shapes[i].H, shapes[i].W, 1);
        test_col2im_adjoint(shapes[i].d, shapes[i].N, shapes[i].H, shapes[i].W, 0, shapes[i].N);
        test_col2im_adjoint(shapes[i].d, shapes[i].N, shapes[i].H, shapes[i].W, 1, shapes[i].N - 1);
    }

    test_conv_fd((struct conv_desc){3, 4, 3, 3, 1, 1}, 2, 6, 5);
    test_conv_fd((struct conv_desc){3, 4, 3, 3, 2, 1}, 2, 7, 6);
    test_conv_fd((struct conv_desc){4, 3, 1, 1, 1, 0}, 2, 5, 5);
    test_conv_fd((struct conv_desc){4, 3, 1, 1, 2, 0}, 2, 5, 6);
    test_conv_fd((struct conv_desc){2, 3, 7, 7, 2, 3}, 2, 9, 9);
    test_bn_fd(3, 37);
    test_bn_fd(5, 3);   /* tiny batch statistics: three values per channel (two give a zero dx) */
    test_relu_fd();
    test_maxpool_fd(2, 2, 9, 7, 3, 2, 1);   /* torchvision stem pool */
    test_maxpool_fd(2, 3, 6, 6, 2, 2, 0);
    test_avgpool_fd(4, 3, 9);
    test_fc_fd(12, 5, 7);
    test_xent_fd(0.0f);
    test_xent_fd(0.1f);
    test_bn_running_stats();
    test_xent_hand();
    return check_summary();
}
