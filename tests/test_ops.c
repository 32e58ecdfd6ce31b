/* test_ops.c — every fast forward kernel against its plain reference, on random data. */
#include "check.h"
#include "conv_direct.h"
#include "kern.h"
#include "ops.h"
#include "resnet.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEED 20261127
/* Normalised error of float GEMM sums against double-accumulated references. */
#define TOL_KERNEL 1e-5

static float *random_floats(struct rng *r, int64_t n)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = (float)rng_normal(r);
    return p;
}

/* sqrt(sum (a-b)^2 / sum b^2) */
static double nrmse(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void test_conv(struct rng *r, struct conv_desc d, int N, int H, int W, int use_bias, int use_res, int relu,
                      int64_t scratch_images)
{
    const int OH = conv_out_size(H, d.KH, d.stride, d.pad), OW = conv_out_size(W, d.KW, d.stride, d.pad);
    const int64_t nx = (int64_t)d.IC * N * H * W, ny = (int64_t)d.OC * N * OH * OW;
    float *x = random_floats(r, nx), *w = random_floats(r, d.OC * conv_k(&d)), *b = random_floats(r, d.OC);
    float *res = random_floats(r, ny), *y = malloc(sizeof(float) * ny), *yr = malloc(sizeof(float) * ny);
    const int64_t sf = conv_scratch_floats(&d, (int64_t)OH * OW * scratch_images);
    float *scratch = malloc(sizeof(float) * (sf ? sf : 1));
    conv_forward_ref(&d, x, N, H, W, w, use_bias ? b : NULL, use_res ? res : NULL, relu, yr);
    /* Every conv_forward path: portable (im2col + OpenBLAS), and direct on the CPU's best
     * instruction set and capped at AVX2 (where the CPU has them). */
    for (int path = 0; path <= 2; path++) {
        const int direct = path > 0;
        conv_direct_force(direct);
        kern_force_portable(path == 2 ? 2 : 0);
        for (int64_t i = 0; i < ny; i++) y[i] = -12345.0f;   /* every output must be written */
        conv_forward(&d, x, N, H, W, w, use_bias ? b : NULL, use_res ? res : NULL, relu, y, scratch, sf);
        const double e = nrmse(y, yr, ny);
        if (!(e <= TOL_KERNEL))
            fprintf(stderr, "conv %s IC%d OC%d k%d s%d p%d N%d %dx%d chunk %lld: nrmse %g\n",
                    path == 2 ? "direct (AVX2 at most)" : direct ? "direct" : "portable", d.IC, d.OC, d.KH, d.stride, d.pad, N, H, W, (long long)scratch_images, e);
        CHECK(e <= TOL_KERNEL);
    }
    conv_direct_force(-1);
    kern_force_portable(0);
    free(x); free(w); free(b); free(res); free(y); free(yr); free(scratch);
}

/* What the direct path computes, in C: per output one fmaf chain over (ic, kh, kw) from +0, an
 * outside pixel read as 0 (the kernels' masked loads and im2col's padding give 0 and still do
 * the FMA, which can turn -0 into +0), then + bias (+0 without one), + residual, and ReLU as
 * maxps(o, 0) (o > 0 ? o : 0). Both instruction sets must equal it bit for bit: this is what
 * makes them equal to each other on a CPU that has only one of them. */
static void direct_bits_ref(const struct conv_desc *d, const float *x, int N, int H, int W, const float *w,
                            const float *bias, const float *res, int relu, float *y)
{
    const int OH = conv_out_size(H, d->KH, d->stride, d->pad), OW = conv_out_size(W, d->KW, d->stride, d->pad);
    for (int oc = 0; oc < d->OC; oc++)
        for (int n = 0; n < N; n++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    float acc = 0.0f;
                    for (int ic = 0; ic < d->IC; ic++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                const int ih = oh * d->stride - d->pad + kh, iw = ow * d->stride - d->pad + kw;
                                const int in = ih >= 0 && ih < H && iw >= 0 && iw < W;
                                const float xv = in ? x[(((int64_t)ic * N + n) * H + ih) * W + iw] : 0.0f;
                                acc = fmaf(w[((oc * d->IC + ic) * d->KH + kh) * d->KW + kw], xv, acc);
                            }
                    const int64_t o = (((int64_t)oc * N + n) * OH + oh) * OW + ow;
                    float v = acc + (bias ? bias[oc] : 0.0f);
                    if (res) v = v + res[o];
                    if (relu) v = v > 0.0f ? v : 0.0f;
                    y[o] = v;
                }
}

static void test_direct_bits(struct rng *r, struct conv_desc d, int N, int H, int W)
{
    const int OH = conv_out_size(H, d.KH, d.stride, d.pad), OW = conv_out_size(W, d.KW, d.stride, d.pad);
    const int64_t nx = (int64_t)d.IC * N * H * W, ny = (int64_t)d.OC * N * OH * OW;
    float *x = random_floats(r, nx), *w = random_floats(r, d.OC * conv_k(&d)), *b = random_floats(r, d.OC);
    float *res = random_floats(r, ny), *y = malloc(sizeof(float) * ny), *yr = malloc(sizeof(float) * ny);
    const int64_t sf = conv_scratch_floats(&d, (int64_t)OH * OW * N);
    float *scratch = malloc(sizeof(float) * (sf ? sf : 1));
    direct_bits_ref(&d, x, N, H, W, w, b, res, 1, yr);
    conv_direct_force(1);
    for (int cap = 0; cap <= 1; cap++) {
        kern_force_portable(cap ? 2 : 0);
        if (!conv_direct_available()) continue;
        conv_forward(&d, x, N, H, W, w, b, res, 1, y, scratch, sf);
        const int same = memcmp(y, yr, sizeof(float) * ny) == 0;
        if (!same)
            fprintf(stderr, "direct conv IC%d OC%d k%d s%d N%d %dx%d%s: not the reference's bits\n", d.IC, d.OC, d.KH,
                    d.stride, N, H, W, cap ? " (AVX2 at most)" : "");
        CHECK(same);
    }
    kern_force_portable(0);
    conv_direct_force(-1);
    free(x); free(w); free(b); free(res); free(y); free(yr); free(scratch);
}

/* The direct path's promise (conv_direct.h): an image's outputs are the same bits whatever batch
 * it is computed in, on 1 or 2 threads, and on AVX-512 or capped at AVX2. The kernel path of an
 * 8-bit network relies on it: it runs sub-batches in parallel where the simulation runs the
 * batch whole, and one last-bit difference flips a quantization level of the next layer (on
 * AVX2-only CPUs, whose dense layers went through OpenBLAS, W8A8 logits differed by 0.48). The
 * batch of 8 in sub-batches of 4 on 2 threads against the whole batch is that case. */
static void test_conv_invariance(struct rng *r, struct conv_desc d, int H, int W)
{
    const int N = 8, OH = conv_out_size(H, d.KH, d.stride, d.pad), OW = conv_out_size(W, d.KW, d.stride, d.pad);
    const int64_t in_img = (int64_t)H * W, out_img = (int64_t)OH * OW;
    const int64_t nx = d.IC * N * in_img, ny = d.OC * N * out_img;
    float *x = random_floats(r, nx), *w = random_floats(r, d.OC * conv_k(&d)), *b = random_floats(r, d.OC);
    float *res = random_floats(r, ny), *whole = malloc(sizeof(float) * ny), *part = malloc(sizeof(float) * ny);
    float *ref = malloc(sizeof(float) * ny);
    float *xs = malloc(sizeof(float) * nx), *rs = malloc(sizeof(float) * ny), *ys = malloc(sizeof(float) * ny);
    const int64_t sf = conv_scratch_floats(&d, out_img * N);
    float *scratch = malloc(sizeof(float) * (sf ? sf : 1));
    conv_direct_force(1);
    /* Wherever the int8 kernels run their AVX2 path, the dense layers between them must be
     * direct too (before, an AVX2-only CPU sent them through OpenBLAS). */
    CHECK(!kern_cpu_avx2() || conv_direct_available());
    for (int cap = 0; cap <= 1; cap++) {
        kern_force_portable(cap ? 2 : 0);
        if (!conv_direct_available()) continue;
        ops_set_threads(2);
        conv_forward(&d, x, N, H, W, w, b, res, 1, whole, scratch, sf);
        if (cap == 0) memcpy(ref, whole, sizeof(float) * ny);
        /* Against the first available path: AVX-512 and AVX2 give the same bits. */
        CHECK(memcmp(whole, ref, sizeof(float) * ny) == 0);
        const int sub[] = { 1, 3, 4 };
        for (int si = 0; si < 3; si++)
            for (int threads = 1; threads <= 2; threads++) {
                ops_set_threads(threads);
                for (int n0 = 0; n0 < N; n0 += sub[si]) {
                    const int n = N - n0 < sub[si] ? N - n0 : sub[si];
                    /* [C, n, H, W] slices of the [C, N, H, W] batch. */
                    for (int c = 0; c < d.IC; c++)
                        memcpy(xs + (int64_t)c * n * in_img, x + ((int64_t)c * N + n0) * in_img, sizeof(float) * n * in_img);
                    for (int c = 0; c < d.OC; c++)
                        memcpy(rs + (int64_t)c * n * out_img, res + ((int64_t)c * N + n0) * out_img, sizeof(float) * n * out_img);
                    conv_forward(&d, xs, n, H, W, w, b, rs, 1, ys, scratch, sf);
                    for (int c = 0; c < d.OC; c++)
                        memcpy(part + ((int64_t)c * N + n0) * out_img, ys + (int64_t)c * n * out_img, sizeof(float) * n * out_img);
                }
                const int same = memcmp(part, whole, sizeof(float) * ny) == 0;
                if (!same)
                    fprintf(stderr, "conv IC%d OC%d k%d s%d: batch %d differs from sub-batches of %d on %d threads%s\n",
                            d.IC, d.OC, d.KH, d.stride, N, sub[si], threads, cap ? " (AVX2 at most)" : "");
                CHECK(same);
            }
    }
    ops_set_threads(2);
    kern_force_portable(0);
    conv_direct_force(-1);
    free(x); free(w); free(b); free(res); free(whole); free(part); free(ref); free(xs); free(rs); free(ys); free(scratch);
}

/* The panel layout (conv_direct.h): conv_direct_im2col holds im2col's matrix in [64, K]-column
 * panels, value for value, with zeros past the last column; the GEMM on panels gives the bits of
 * the GEMM on plain rows. Images [n0, n0 + n) of a batch of N, odd sizes, every stride and pad. */
static void test_im2col_panels(struct rng *r, struct conv_desc d, int N, int H, int W, int n0, int n)
{
    const int OH = conv_out_size(H, d.KH, d.stride, d.pad), OW = conv_out_size(W, d.KW, d.stride, d.pad);
    const int64_t K = conv_k(&d), cols = (int64_t)n * OH * OW, np = conv_direct_panel_floats(K, cols);
    float *x = random_floats(r, (int64_t)d.IC * N * H * W), *w = random_floats(r, d.OC * K);
    float *col = malloc(sizeof(float) * K * cols), *pan = malloc(sizeof(float) * np);
    for (int64_t i = 0; i < np; i++) pan[i] = -7.0f;   /* every value must be written */
    im2col(&d, x, N, H, W, n0, n, col);
    conv_direct_im2col(&d, x, N, H, W, n0, n, pan);
    int same = 1;
    for (int64_t j = 0; j < np / K; j++)
        for (int64_t k = 0; k < K; k++) {
            const float v = pan[j / CONV_DIRECT_PANEL * K * CONV_DIRECT_PANEL + k * CONV_DIRECT_PANEL + j % CONV_DIRECT_PANEL];
            same &= j < cols ? v == col[k * cols + j] : v == 0.0f;
        }
    if (!same) fprintf(stderr, "panels IC%d k%d s%d p%d N%d %dx%d images %d+%d: not im2col's values\n", d.IC, d.KH, d.stride, d.pad, N, H, W, n0, n);
    CHECK(same);
    for (int cap = 0; cap <= 1; cap++) {
        kern_force_portable(cap ? 2 : 0);
        if (!conv_direct_available()) continue;
        float *y = malloc(sizeof(float) * d.OC * cols), *yp = malloc(sizeof(float) * d.OC * cols);
        conv_direct_gemm(d.OC, (int)K, 1, 1, 0, 1, 1, (int)cols, w, col, cols, NULL, NULL, 1, y, cols);
        conv_direct_gemm_panels(d.OC, (int)K, (int)cols, w, pan, NULL, NULL, 1, yp, cols);
        CHECK(memcmp(y, yp, sizeof(float) * d.OC * cols) == 0);
        free(y); free(yp);
    }
    kern_force_portable(0);
    free(x); free(w); free(col); free(pan);
}

int main(void)
{
    printf("seed %d\n", SEED);
    struct rng r;
    rng_seed(&r, SEED);
    ops_set_threads(2);

    /* Shapes of every convolution kind in a torchvision ResNet, with odd sizes and chunking. */
    test_conv(&r, (struct conv_desc){ 3, 8, 3, 3, 1, 1 }, 3, 9, 7, 1, 0, 1, 3);
    test_conv(&r, (struct conv_desc){ 3, 8, 3, 3, 1, 1 }, 3, 9, 7, 1, 1, 1, 1);   /* one image per chunk */
    test_conv(&r, (struct conv_desc){ 4, 6, 3, 3, 2, 1 }, 2, 11, 10, 1, 1, 0, 1);
    test_conv(&r, (struct conv_desc){ 5, 7, 1, 1, 1, 0 }, 3, 6, 5, 1, 1, 1, 3);   /* pointwise, no im2col */
    test_conv(&r, (struct conv_desc){ 5, 7, 1, 1, 2, 0 }, 2, 7, 7, 0, 0, 0, 2);   /* downsample */
    test_conv(&r, (struct conv_desc){ 3, 4, 7, 7, 2, 3 }, 2, 19, 17, 1, 0, 1, 1); /* ImageNet stem */
    test_conv(&r, (struct conv_desc){ 2, 3, 3, 3, 1, 1 }, 1, 1, 1, 1, 0, 0, 1);   /* 1x1 image, all padding */
    /* Direct-path tiles: output-channel tails (13 = 2*6 + 1), column blocks of 64 with a ragged end
     * crossing image boundaries, 1..4 vectors per block, generic tap counts, non-"same" padding. */
    printf("conv: direct path %s\n", !conv_direct_available() ? "not available, portable only"
                                      : kern_cpu_avx512()      ? "available (AVX-512, and capped at AVX2)"
                                                               : "available (AVX2)");
    test_conv(&r, (struct conv_desc){ 5, 13, 3, 3, 1, 1 }, 3, 10, 9, 1, 1, 1, 3);
    test_conv(&r, (struct conv_desc){ 7, 11, 1, 1, 1, 0 }, 5, 8, 9, 1, 1, 1, 5);
    test_conv(&r, (struct conv_desc){ 6, 20, 3, 3, 1, 1 }, 1, 4, 4, 1, 0, 1, 1);    /* 16 columns: 1 vector */
    test_conv(&r, (struct conv_desc){ 6, 9, 3, 3, 1, 1 }, 2, 5, 5, 0, 1, 0, 2);     /* 50 columns: 4 vectors */
    test_conv(&r, (struct conv_desc){ 4, 7, 5, 5, 1, 2 }, 2, 9, 11, 1, 1, 1, 2);    /* 25 taps */
    test_conv(&r, (struct conv_desc){ 4, 7, 3, 3, 1, 0 }, 2, 9, 11, 1, 1, 1, 1);    /* pad 0: im2col */
    test_conv(&r, (struct conv_desc){ 33, 70, 3, 3, 1, 1 }, 2, 14, 14, 1, 1, 1, 2); /* many tiles */
    /* Bits independent of batch, threads and instruction set: 1x1, 3x3 same, strided (im2col),
     * the stem, and 130 input channels (two input-channel blocks of the 1x1 path). */
    test_conv_invariance(&r, (struct conv_desc){ 64, 40, 1, 1, 1, 0 }, 7, 7);
    test_conv_invariance(&r, (struct conv_desc){ 16, 13, 3, 3, 1, 1 }, 9, 9);
    test_conv_invariance(&r, (struct conv_desc){ 12, 20, 3, 3, 2, 1 }, 14, 14);
    test_conv_invariance(&r, (struct conv_desc){ 3, 8, 7, 7, 2, 3 }, 20, 20);
    test_conv_invariance(&r, (struct conv_desc){ 130, 24, 1, 1, 1, 0 }, 5, 6);
    /* The same bits as the FMA-order reference on each instruction set: 1x1 over three input-
     * channel blocks with ragged columns, 3x3 same over two blocks, strided (im2col), the stem. */
    test_direct_bits(&r, (struct conv_desc){ 300, 13, 1, 1, 1, 0 }, 3, 5, 7);
    test_direct_bits(&r, (struct conv_desc){ 70, 11, 3, 3, 1, 1 }, 2, 6, 9);
    test_direct_bits(&r, (struct conv_desc){ 9, 8, 3, 3, 2, 1 }, 2, 11, 13);
    test_direct_bits(&r, (struct conv_desc){ 3, 7, 7, 7, 2, 3 }, 1, 20, 19);
    /* Outputs 64 or more wide take the panel layout (the stem at 224: OW 112): conv_forward
     * against the reference, chunked by one image and whole, its bits, and batch invariance. */
    test_conv(&r, (struct conv_desc){ 3, 7, 7, 7, 2, 3 }, 3, 131, 129, 1, 1, 1, 1);
    test_conv(&r, (struct conv_desc){ 2, 5, 3, 3, 1, 0 }, 2, 70, 67, 1, 0, 1, 2);
    test_direct_bits(&r, (struct conv_desc){ 3, 7, 7, 7, 2, 3 }, 2, 131, 129);
    test_conv_invariance(&r, (struct conv_desc){ 3, 8, 7, 7, 2, 3 }, 130, 130);
    test_im2col_panels(&r, (struct conv_desc){ 3, 4, 7, 7, 2, 3 }, 3, 23, 21, 1, 2);
    test_im2col_panels(&r, (struct conv_desc){ 5, 6, 3, 3, 2, 1 }, 4, 11, 9, 0, 4);
    test_im2col_panels(&r, (struct conv_desc){ 4, 3, 3, 3, 1, 0 }, 2, 9, 12, 1, 1);
    test_im2col_panels(&r, (struct conv_desc){ 6, 9, 1, 1, 2, 0 }, 3, 13, 13, 0, 3);
    test_im2col_panels(&r, (struct conv_desc){ 2, 5, 5, 5, 1, 2 }, 2, 3, 2, 0, 2);   /* padding wider than the image */
    test_im2col_panels(&r, (struct conv_desc){ 3, 7, 7, 7, 2, 3 }, 2, 130, 131, 0, 2);

    /* Max-pool 3x3/2 pad 1 (odd and even sizes) and its argmax. */
    for (int sz = 5; sz <= 8; sz++) {
        const int C = 3, N = 2, OH = conv_out_size(sz, 3, 2, 1);
        float *x = random_floats(&r, (int64_t)C * N * sz * sz);
        float *y = malloc(sizeof(float) * C * N * OH * OH), *yr = malloc(sizeof(float) * C * N * OH * OH);
        int32_t *am = malloc(sizeof(int32_t) * C * N * OH * OH);
        maxpool_forward(x, C, N, sz, sz, 3, 2, 1, y, am);
        maxpool_forward_ref(x, C, N, sz, sz, 3, 2, 1, yr);
        int same = 1, arg_ok = 1;
        for (int64_t i = 0; i < (int64_t)C * N * OH * OH; i++) {
            same &= y[i] == yr[i];
            arg_ok &= x[(i / (OH * OH)) * sz * sz + am[i]] == y[i];
        }
        CHECK(same);
        CHECK(arg_ok);
        free(x); free(y); free(yr); free(am);
    }

    /* Average pool and fully connected. */
    {
        const int C = 37, N = 5, HW = 49, OUT = 11;
        float *x = random_floats(&r, (int64_t)C * N * HW), *p = malloc(sizeof(float) * C * N),
              *pr = malloc(sizeof(float) * C * N);
        avgpool_forward(x, C, N, HW, p);
        avgpool_forward_ref(x, C, N, HW, pr);
        CHECK(nrmse(p, pr, C * N) <= TOL_KERNEL);
        float *w = random_floats(&r, OUT * C), *b = random_floats(&r, OUT);
        float *y = malloc(sizeof(float) * N * OUT), *yr = malloc(sizeof(float) * N * OUT);
        fc_forward(p, C, N, w, b, OUT, y);
        fc_forward_ref(p, C, N, w, b, OUT, yr);
        CHECK(nrmse(y, yr, N * OUT) <= TOL_KERNEL);
        /* On the direct path an image's logits do not depend on its batch or the instruction set:
         * image n alone (its column of the [C, N] input) against its row of the whole batch. */
        if (conv_direct_available()) {
            float xn[37], yn[11];
            for (int cap = 0; cap <= 1; cap++) {
                kern_force_portable(cap ? 2 : 0);
                for (int n = 0; n < N; n++) {
                    for (int c = 0; c < C; c++) xn[c] = p[c * N + n];
                    fc_forward(xn, C, 1, w, b, OUT, yn);
                    CHECK(memcmp(yn, y + n * OUT, sizeof yn) == 0);
                }
            }
            kern_force_portable(0);
        }
        free(x); free(p); free(pr); free(w); free(b); free(y); free(yr);
    }
    /* The fully connected layer in tiles (ops_layers.c: a 4096-float buffer): 1000 or 5000
     * outputs and 9 images need several column tiles, 5000 a row tile too; each image's logits
     * still equal its own single-image pass bit for bit, and the reference within tolerance. */
    if (conv_direct_available()) {
        for (int shape = 0; shape < 2; shape++) {
            const int C = 37, N = 9, OUT = shape ? 5000 : 1000;
            float *x = random_floats(&r, (int64_t)C * N), *w = random_floats(&r, (int64_t)OUT * C), *b = random_floats(&r, OUT);
            float *y = malloc(sizeof(float) * N * OUT), *yr = malloc(sizeof(float) * N * OUT), *yn = malloc(sizeof(float) * OUT);
            float xn[37];
            fc_forward(x, C, N, w, b, OUT, y);
            fc_forward_ref(x, C, N, w, b, OUT, yr);
            CHECK(nrmse(y, yr, (int64_t)N * OUT) <= TOL_KERNEL);
            for (int n = 0; n < N; n++) {
                for (int c = 0; c < C; c++) xn[c] = x[c * N + n];
                fc_forward(xn, C, 1, w, b, OUT, yn);
                CHECK(memcmp(yn, y + (int64_t)n * OUT, sizeof(float) * OUT) == 0);
            }
            free(x); free(w); free(b); free(y); free(yr); free(yn);
        }
    }

    /* BatchNorm folding: conv(x, w') + b' == BN(conv(x, w)) computed by hand. */
    {
        struct conv_desc d = { 3, 4, 3, 3, 1, 1 };
        const int N = 2, H = 5, W = 5, L = N * H * W;
        float *x = random_floats(&r, 3 * L), *w = random_floats(&r, 4 * 27);
        float gamma[4], beta[4], mean[4], var[4];
        for (int c = 0; c < 4; c++) {
            gamma[c] = (float)(0.5 + rng_uniform(&r));
            beta[c] = (float)rng_normal(&r);
            mean[c] = (float)rng_normal(&r);
            var[c] = (float)(0.5 + rng_uniform(&r));
        }
        float wf[4 * 27], bf[4], y0[4 * 50], y1[4 * 50];
        conv_forward_ref(&d, x, N, H, W, w, NULL, NULL, 0, y0);
        bn_fold(4, 27, w, gamma, beta, mean, var, 1e-5f, wf, bf);
        conv_forward_ref(&d, x, N, H, W, wf, bf, NULL, 0, y1);
        for (int c = 0; c < 4; c++)
            for (int i = 0; i < L; i++)
                CHECK_ABS(y1[c * L + i], gamma[c] * (y0[c * L + i] - mean[c]) / sqrt(var[c] + 1e-5) + beta[c], 1e-4);
        free(x); free(w);
    }

    /* Layout round trip. */
    {
        const int N = 3, C = 4;
        const int64_t HW = 10;
        float *x = random_floats(&r, N * C * HW), *t = malloc(sizeof(float) * N * C * HW),
              *back = malloc(sizeof(float) * N * C * HW);
        layout_nchw_to_cnhw(x, N, C, HW, t);
        CHECK(t[(1 * N + 2) * HW + 7] == x[(2 * C + 1) * HW + 7]);
        layout_cnhw_to_nchw(t, N, C, HW, back);
        CHECK(memcmp(x, back, sizeof(float) * N * C * HW) == 0);
        free(x); free(t); free(back);
    }
    /* resnet_infer runs large batches as cache-sized sub-batches (rn50-fmnist: 5 images of 200 KB
     * activations each); a batch of 7 must give what 7 single-image passes give. */
    {
        struct resnet_config cfg;
        struct resnet *net = NULL;
        struct resnet_infer *ws = NULL;
        CHECK(resnet_config_load("rn50-fmnist", &cfg) == 0);
        CHECK(resnet_alloc(&cfg, SEED, &net) == 0);
        const int N = 7;
        CHECK(net && resnet_infer_alloc(net, N, &ws) == 0);
        if (net && ws) {
            const int64_t per = (int64_t)cfg.in_channels * cfg.in_h * cfg.in_w;
            float *x = random_floats(&r, N * per), *all = malloc(sizeof(float) * N * cfg.n_classes),
                  *one = malloc(sizeof(float) * N * cfg.n_classes);
            resnet_infer(ws, x, N, all);
            for (int n = 0; n < N; n++) resnet_infer(ws, x + n * per, 1, one + n * cfg.n_classes);
            CHECK(nrmse(all, one, N * cfg.n_classes) <= TOL_KERNEL);
            free(x); free(all); free(one);
        }
        resnet_infer_free(ws);
        resnet_free(net);
    }
    return check_summary();
}
