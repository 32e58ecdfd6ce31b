/* test_kernels.c — the compressed kernels against their references on odd shapes (1x1 stride 1
 * and 2, 3x3 stride 1 and 2, the 7x7 stem, 1-3 channels, batches of 1-3), on the SIMD path the
 * CPU offers and forced to the portable path (and the int8 kernel's AVX2 fallback); the fused quantization pass; and whole networks:
 * a compressed network on its kernels against the simulation (net->simulate), after
 * compress_apply and after format_save / format_load, with per-layer profiling and kernel names.
 *
 * Bounds: the int8 kernel and the quantization pass do the simulation's float operations in its
 * order, so they are compared bit for bit. The sparse kernel sums the same products in another
 * order than the dense reference: |diff| <= 1e-5 * (1 + sum |w x|) per output. Network logits:
 * W8A8 equal to the simulation bit for bit; fp32 kernels within 1e-4 * (1 + |logit|). */
#include "apply.h"
#include "check.h"
#include "config.h"
#include "conv_direct.h"
#include "fixture.h"
#include "format.h"
#include "kern.h"
#include "kern_int8.h"
#include "kern_lut.h"
#include "kern_pool.h"
#include "kern_sparse.h"
#include "rng.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

#ifndef RN_SOURCE_DIR
#define RN_SOURCE_DIR "."
#endif
#define SEED 4711

struct shape {
    int IC, OC, k, stride, pad, H, W, N;
};

static const struct shape shapes[] = {
    { 5, 7, 1, 1, 0, 9, 7, 3 },      /* 1x1 pointwise, batch 3 */
    { 6, 10, 1, 2, 0, 9, 9, 2 },     /* 1x1 stride 2 (downsample) */
    { 3, 13, 3, 1, 1, 11, 5, 2 },    /* 3x3 same, 3 input channels */
    { 9, 8, 3, 2, 1, 13, 13, 1 },    /* 3x3 stride 2 */
    { 3, 8, 7, 2, 3, 20, 18, 2 },    /* 7x7 stem */
    { 1, 1, 3, 1, 1, 4, 4, 1 },      /* one channel in and out */
    { 2, 3, 1, 1, 0, 1, 1, 3 },      /* fc-like: 1x1 on 1x1 maps */
    { 64, 70, 1, 1, 0, 14, 14, 1 },  /* full register tiles and ragged ends */
    { 36, 20, 3, 1, 1, 7, 7, 2 },    /* stage-4 map size */
    { 16, 12, 3, 2, 1, 14, 14, 2 },  /* 3x3 stride 2 on an even map, batch 2 (sparse: phase planes) */
    { 5, 6, 3, 2, 0, 9, 8, 2 },      /* 3x3 stride 2 unpadded (sparse: im2col) */
    { 24, 40, 1, 2, 0, 8, 8, 3 },    /* 1x1 stride 2, even map, batch 3 */
};
#define N_SHAPES ((int)(sizeof shapes / sizeof *shapes))

static int out_h(const struct shape *s) { return conv_out_size(s->H, s->k, s->stride, s->pad); }
static int out_w(const struct shape *s) { return conv_out_size(s->W, s->k, s->stride, s->pad); }

/* Fake-quantizes x with q (what the kernel path feeds an int8 layer). */
static void fake_quant(float *x, int64_t n, const struct act_qparams *q) { kern_fq_ref(x, NULL, 0, q, x, n); }

static void test_int8_shape(const struct shape *s, struct rng *r, int symmetric, int with_res, int with_outq)
{
    const struct conv_desc d = { s->IC, s->OC, s->k, s->k, s->stride, s->pad };
    const int64_t K = conv_k(&d), n_in = (int64_t)s->IC * s->N * s->H * s->W;
    const int64_t n_out = (int64_t)s->OC * s->N * out_h(s) * out_w(s);
    int8_t *q = malloc((size_t)(s->OC * K));
    float *ws = malloc(sizeof(float) * s->OC), *bias = malloc(sizeof(float) * s->OC);
    float *x = malloc(sizeof(float) * n_in), *res = malloc(sizeof(float) * n_out);
    float *y = malloc(sizeof(float) * n_out), *yr = malloc(sizeof(float) * n_out);
    for (int64_t i = 0; i < s->OC * K; i++) q[i] = (int8_t)((int)rng_below(r, 255) - 127);
    for (int o = 0; o < s->OC; o++) {
        ws[o] = 0.001f + 0.01f * (float)rng_uniform(r);
        bias[o] = (float)rng_normal(r);
    }
    /* Signed inputs: affine with a zero point inside the range, or symmetric. */
    const struct act_qparams in_q = symmetric ? (struct act_qparams){ 0.02f, 0, -127, 127 }
                                              : (struct act_qparams){ 0.015f, 77, 0, 255 };
    const struct act_qparams out_q = { 0.05f, 31, 0, 255 };
    for (int64_t i = 0; i < n_in; i++) x[i] = 1.5f * (float)rng_normal(r);
    fake_quant(x, n_in, &in_q);
    for (int64_t i = 0; i < n_out; i++) res[i] = (float)rng_normal(r);
    const float *rp = with_res ? res : NULL;
    const struct act_qparams *oq = with_outq ? &out_q : NULL;
    kern_int8_ref(&d, x, s->N, s->H, s->W, q, ws, bias, &in_q, rp, 1, oq, yr);
    struct conv_kernel *k = kern_int8_new(&d, s->H, s->W, q, ws, bias, &in_q);
    CHECK(k != NULL && k->kind == KERN_INT8);
    if (k) {
        const int64_t scr = k->scratch_per_image(k, (int64_t)out_h(s) * out_w(s));
        /* Room for one image only: the kernel must work through the batch in chunks. */
        float *scratch = malloc(sizeof(float) * (size_t)(scr + 1));
        /* 0: the CPU's best (VNNI here), 1: plain C, 2: the AVX2 fallback. */
        for (int portable = 0; portable <= 2; portable++) {
            kern_force_portable(portable);
            memset(y, 0xff, sizeof(float) * n_out);
            k->forward(k, x, s->N, s->H, s->W, rp, 1, oq, y, scratch, scr);
            int same = 1;
            for (int64_t i = 0; i < n_out; i++) same &= y[i] == yr[i];
            if (!same)
                fprintf(stderr, "int8 %dx%d s%d IC %d OC %d N %d sym %d res %d outq %d portable %d differs\n", s->k,
                        s->k, s->stride, s->IC, s->OC, s->N, symmetric, with_res, with_outq, portable);
            CHECK(same);
        }
        kern_force_portable(0);
        free(scratch);
        k->free(k);
    }
    free(q);
    free(ws);
    free(bias);
    free(x);
    free(res);
    free(y);
    free(yr);
}

/* Sparse (mask at `sparsity`) and lut kernels against conv_forward_ref on the same weights. */
static void test_fp32_shape(const struct shape *s, struct rng *r, double sparsity)
{
    const struct conv_desc d = { s->IC, s->OC, s->k, s->k, s->stride, s->pad };
    const int64_t K = conv_k(&d), n_in = (int64_t)s->IC * s->N * s->H * s->W;
    const int64_t n_out = (int64_t)s->OC * s->N * out_h(s) * out_w(s);
    float *w = malloc(sizeof(float) * s->OC * K), *bias = malloc(sizeof(float) * s->OC);
    uint8_t *mask = malloc((size_t)(s->OC * K));
    float *x = malloc(sizeof(float) * n_in), *res = malloc(sizeof(float) * n_out);
    float *y = malloc(sizeof(float) * n_out), *yr = malloc(sizeof(float) * n_out), *mag = malloc(sizeof(float) * n_out);
    float *wabs = malloc(sizeof(float) * s->OC * K), *xabs = malloc(sizeof(float) * n_in);
    for (int64_t i = 0; i < s->OC * K; i++) {
        mask[i] = rng_uniform(r) >= sparsity;
        w[i] = mask[i] ? (float)rng_normal(r) : 0.0f;
        wabs[i] = fabsf(w[i]);
    }
    for (int o = 0; o < s->OC; o++) bias[o] = (float)rng_normal(r);
    for (int64_t i = 0; i < n_in; i++) {
        x[i] = (float)rng_normal(r);
        xabs[i] = fabsf(x[i]);
    }
    for (int64_t i = 0; i < n_out; i++) res[i] = (float)rng_normal(r);
    conv_forward_ref(&d, x, s->N, s->H, s->W, w, bias, res, 1, yr);
    conv_forward_ref(&d, xabs, s->N, s->H, s->W, wabs, NULL, NULL, 0, mag);
    struct conv_kernel *ks = kern_sparse_new(&d, s->H, s->W, w, mask, bias, KERN_SPARSE);
    struct conv_kernel *kl = kern_lut_new(&d, w, bias);
    CHECK(ks && kl);
    struct conv_kernel *kern[2] = { ks, kl };
    for (int which = 0; which < 2; which++) {
        struct conv_kernel *k = kern[which];
        if (!k) continue;
        const int64_t scr = k->scratch_per_image(k, (int64_t)out_h(s) * out_w(s));
        float *scratch = malloc(sizeof(float) * (size_t)(scr + 1));
        for (int portable = 0; portable <= 1; portable++) {
            kern_force_portable(portable);
            conv_direct_force(portable ? 0 : -1);
            memset(y, 0xff, sizeof(float) * n_out);
            k->forward(k, x, s->N, s->H, s->W, res, 1, NULL, y, scratch, scr);
            int ok = 1;
            for (int64_t i = 0; i < n_out; i++) ok &= fabsf(y[i] - yr[i]) <= 1e-5f * (1.0f + mag[i]);
            if (!ok)
                fprintf(stderr, "%s %dx%d s%d IC %d OC %d N %d sparsity %.2f portable %d differs\n",
                        kern_kind_name(k->kind), s->k, s->k, s->stride, s->IC, s->OC, s->N, sparsity, portable);
            CHECK(ok);
            if (!k->fuses_out_q) continue;
            /* Without the residual, with the output's fake quantization fused (the sparse kernel
             * in an 8-bit network): the reference's output through kern_fq_ref. A value on a
             * rounding boundary may land one level off (summation order), never more. */
            const struct act_qparams oq = { 0.05f, 31, 0, 255 };
            float *yq = malloc(sizeof(float) * n_out);
            conv_forward_ref(&d, x, s->N, s->H, s->W, w, bias, NULL, 1, yq);
            kern_fq_ref(yq, NULL, 0, &oq, yq, n_out);
            k->forward(k, x, s->N, s->H, s->W, NULL, 1, &oq, y, scratch, scr);
            int64_t off = 0;
            for (int64_t i = 0; i < n_out; i++) {
                CHECK(fabsf(y[i] - yq[i]) <= oq.scale * 1.001f);
                off += y[i] != yq[i];
            }
            CHECK(off * 100 <= n_out);
            free(yq);
        }
        kern_force_portable(0);
        conv_direct_force(-1);
        free(scratch);
        k->free(k);
    }
    CHECK_ABS(kern_sparsity(w, mask, s->OC * K), kern_sparsity(w, NULL, s->OC * K), 1e-12);
    free(w);
    free(bias);
    free(mask);
    free(x);
    free(res);
    free(y);
    free(yr);
    free(mag);
    free(wabs);
    free(xabs);
}

/* The fused residual add + ReLU + fake quantization equals its reference, ties included. */
static void test_fq(struct rng *r)
{
    const int64_t n = 1000;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n),
          *yr = malloc(sizeof(float) * n);
    const struct act_qparams q = { 0.25f, 3, 0, 255 }, sym = { 0.5f, 0, -127, 127 }, zero = { 0.0f, 0, 0, 255 };
    for (int64_t i = 0; i < n; i++) {
        /* Every fourth value sits exactly on a rounding tie (x / scale = k + 0.5). */
        a[i] = i % 4 == 0 ? 0.25f * ((float)(i / 4 % 40) - 20.0f + 0.5f) : 30.0f * (float)rng_normal(r);
        b[i] = i % 4 == 0 ? 0.0f : (float)rng_normal(r);
    }
    const struct act_qparams *qs[] = { &q, &sym, &zero, NULL };
    for (int portable = 0; portable <= 1; portable++) {
        kern_force_portable(portable);
        for (int iq = 0; iq < 4; iq++)
            for (int relu = 0; relu <= 1; relu++)
                for (int withb = 0; withb <= 1; withb++) {
                    kern_fq_ref(a, withb ? b : NULL, relu, qs[iq], yr, n);
                    kern_fq(a, withb ? b : NULL, relu, qs[iq], y, n - 3);   /* a ragged end */
                    int same = 1;
                    for (int64_t i = 0; i < n - 3; i++) same &= y[i] == yr[i];
                    CHECK(same);
                }
    }
    kern_force_portable(0);
    /* The reference is act_fake_quant's arithmetic: ties round away from zero. */
    float t[2] = { 0.25f * 2.5f, -0.25f * 2.5f };
    const struct act_qparams s0 = { 0.25f, 0, -127, 127 };
    kern_fq(t, NULL, 0, &s0, t, 2);
    CHECK(t[0] == 0.75f && t[1] == -0.75f);
    free(a);
    free(b);
    free(y);
    free(yr);
}

/* The LUT decoder against plain indexing, SIMD (<= 4 bits) and portable, ragged lengths. */
static void test_lut_decode(struct rng *r)
{
    const int64_t n = 1003;
    uint8_t *idx = malloc((size_t)n);
    float *out = malloc(sizeof(float) * n), table[256];
    for (int bits = 1; bits <= 8; bits++) {
        for (int v = 0; v < 1 << bits; v++) table[v] = (float)rng_normal(r);
        for (int64_t i = 0; i < n; i++) idx[i] = (uint8_t)rng_below(r, 1u << bits);
        for (int portable = 0; portable <= 1; portable++) {
            kern_force_portable(portable);
            kern_lut_decode(idx, n - bits, table, bits, out);
            int same = 1;
            for (int64_t i = 0; i < n - bits; i++) same &= out[i] == table[idx[i]];
            CHECK(same);
        }
    }
    kern_force_portable(0);
    free(idx);
    free(out);
}

/* The inference max-pool equals the reference (stem 3x3/2 pad 1, odd sizes, batch 2). */
static void test_maxpool(struct rng *r)
{
    const int C = 3, N = 2, dims[][5] = { { 13, 11, 3, 2, 1 }, { 8, 8, 3, 2, 1 }, { 7, 9, 2, 2, 0 }, { 5, 6, 3, 1, 1 } };
    for (int t = 0; t < 4; t++) {
        const int H = dims[t][0], W = dims[t][1], k = dims[t][2], s = dims[t][3], p = dims[t][4];
        const int OH = conv_out_size(H, k, s, p), OW = conv_out_size(W, k, s, p);
        float *x = malloc(sizeof(float) * C * N * H * W), *y = malloc(sizeof(float) * C * N * OH * OW),
              *yr = malloc(sizeof(float) * C * N * OH * OW);
        for (int i = 0; i < C * N * H * W; i++) x[i] = (float)rng_normal(r) - 3.0f;
        maxpool_forward_ref(x, C, N, H, W, k, s, p, yr);
        kern_maxpool(x, C, N, H, W, k, s, p, y);
        CHECK(memcmp(y, yr, sizeof(float) * C * N * OH * OW) == 0);
        free(x);
        free(y);
        free(yr);
    }
}

static struct resnet *fixture_net(void) { return fixture_net_seeded(SEED); }

static void run(struct resnet *net, const float *x, int N, float *logits, double *prof)
{
    struct resnet_infer *ws = NULL;
    CHECK(resnet_infer_alloc(net, N, &ws) == STATUS_OK);
    if (!ws) return;
    resnet_infer_set_profile(ws, prof);
    resnet_infer(ws, x, N, logits);
    resnet_infer_free(ws);
}

/* A compressed network on its kernels against the simulation; `kind` must run somewhere. */
static void test_network(const char *config_name, const char *kind, const struct dataset *calib, const float *x, int N,
                         double tol)
{
    char config[1024];
    if (strchr(config_name, '/'))
        snprintf(config, sizeof config, "%s", config_name);
    else
        snprintf(config, sizeof config, "%s/configs/compress/%s", RN_SOURCE_DIR, config_name);
    struct resnet *net = fixture_net();
    CHECK(net != NULL);
    if (!net) return;
    struct compress_plan plan;
    struct apply_result res;
    CHECK(compress_config_load(config, net, &plan) == STATUS_OK);
    CHECK(compress_apply(net, &plan, calib, &res) == STATUS_OK);
    const int C = net->cfg.n_classes;
    float *kern = malloc(sizeof(float) * N * C), *sim = malloc(sizeof(float) * N * C), *back = malloc(sizeof(float) * N * C);
    double *prof = calloc((size_t)net->n_conv + 1, sizeof *prof);
    int n_kind = 0;
    for (int i = 0; i <= net->n_conv; i++) n_kind += strcmp(resnet_conv_kernel_name(net, i), kind) == 0;
    CHECK(n_kind > 0);
    /* 0: the CPU's best; 1: plain C, profiled (one sub-batch after another); 2: AVX2 at most;
     * 3: plain C unprofiled, where resnet_infer must not split an 8-bit network's batch (its
     * dense layers on OpenBLAS give bits that depend on the batch). */
    for (int pass = 0; pass <= 3; pass++) {
        const int portable = pass == 3 ? 1 : pass;
        kern_force_portable(portable);
        /* Plain C: the dense layers through OpenBLAS too; AVX2 at most: the direct convolution
         * capped at AVX2, as an AVX2-only CPU runs it. */
        conv_direct_force(portable == 1 ? 0 : -1);
        /* Profiling runs sub-batches one after another: only on the portable pass, so that the
         * SIMD pass of a large batch takes the parallel sub-batch path. */
        run(net, x, N, kern, pass == 1 ? prof : NULL);
        net->simulate = 1;
        run(net, x, N, sim, NULL);
        net->simulate = 0;
        double worst = 0;
        for (int i = 0; i < N * C; i++) {
            CHECK_ABS(kern[i], sim[i], tol * (1 + fabs(sim[i])));
            worst = fmax(worst, fabs(kern[i] - sim[i]));
        }
        printf("%-28s %-10s on %d layers, pass %d: max |logit diff| vs simulation %.3g\n", config_name, kind, n_kind,
               pass, worst);
        if (!pass) memcpy(back, kern, sizeof(float) * N * C);   /* the SIMD path's, for the file below */
    }
    memcpy(kern, back, sizeof(float) * N * C);
    kern_force_portable(0);
    conv_direct_force(-1);
    /* Profiling saw every layer. */
    int timed = 1;
    for (int i = 0; i <= net->n_conv; i++) timed &= prof[i] > 0;
    CHECK(timed);
    /* Saved and loaded back, the file runs on the same kernels with the same logits. */
    const char *path = "test_kernels_model.safetensors";
    CHECK(format_save(path, net, &plan, res.cw, res.aq, NULL) == STATUS_OK);
    struct resnet *loaded = NULL;
    CHECK(format_load(path, &loaded, NULL) == STATUS_OK);
    if (loaded) {
        for (int i = 0; i <= net->n_conv; i++)
            CHECK(strcmp(resnet_conv_kernel_name(net, i), resnet_conv_kernel_name(loaded, i)) == 0);
        run(loaded, x, N, back, NULL);
        CHECK(memcmp(kern, back, sizeof(float) * N * C) == 0);
        format_free_activations(loaded);
        resnet_free(loaded);
    }
    remove(path);
    free(kern);
    free(sim);
    free(back);
    free(prof);
    apply_result_free(&res);
    format_free_activations(net);
    compress_plan_free(&plan);
    resnet_free(net);
}

int main(void)
{
    printf("seed %d, avx512 %d, vnni %d\n", SEED, kern_cpu_avx512(), kern_cpu_vnni());
    ops_set_threads(2);
    struct rng r;
    rng_seed(&r, SEED);
    test_fq(&r);
    test_lut_decode(&r);
    test_maxpool(&r);
    for (int i = 0; i < N_SHAPES; i++) {
        for (int sym = 0; sym <= 1; sym++) test_int8_shape(&shapes[i], &r, sym, 0, 1);
        test_int8_shape(&shapes[i], &r, 0, 1, 0);
        test_fp32_shape(&shapes[i], &r, 0.0);
        test_fp32_shape(&shapes[i], &r, 0.7);
        test_fp32_shape(&shapes[i], &r, 0.95);
    }
    printf("kernels: %d shapes agree with their references (SIMD and portable)\n", N_SHAPES);

    struct dataset calib;
    fixture_random_images(&calib, 32, &r);
    const int N = 3;
    test_network("w8a8.yaml", "int8", &calib, calib.images, N, 0.0);
    /* A batch of 8 on 2 threads runs as sub-batches in parallel on the kernel path. */
    test_network("w8a8.yaml", "int8", &calib, calib.images, 8, 0.0);
    test_network("prune-90.yaml", "sparse", &calib, calib.images, 8, 1e-4);
    test_network("prune-90.yaml", "sparse", &calib, calib.images, N, 1e-4);
    test_network("palettize-4bit.yaml", "lut", &calib, calib.images, N, 1e-4);
    /* Joint pruning + palettization, sparse enough for the sparse kernel (KERN_SPARSE_MIN). */
    const char *joint = "./test_kernels_prune90_pal4.yaml";
    FILE *f = fopen(joint, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("pruning:\n  global_config:\n    target_sparsity: 0.9\n"
              "palettization:\n  global_config:\n    n_bits: 4\n", f);
        fclose(f);
        test_network(joint, "sparse-lut", &calib, calib.images, N, 1e-4);
        remove(joint);
    }
    test_network("palettize4-a8.yaml", "lut", &calib, calib.images, N, 1e-4);
    /* Sparse layers inside an 8-bit network (a latency mix): their outputs are quantized in the
     * sparse kernel's epilogue; the pruned layers are refitted on the calibration images. */
    const char *mix = "./test_kernels_w8a8_sparse.yaml";
    if ((f = fopen(mix, "w"))) {
        fputs("pruning:\n  module_name_configs:\n    'layer3\\..*conv[12]': {target_sparsity: 0.9, reconstruct: true}\n"
              "quantization:\n  global_config:\n    weight_dtype: int8\n    activation_dtype: int8\n"
              "  module_name_configs:\n    'layer3\\..*conv[12]': null\n", f);
        fclose(f);
        test_network(mix, "sparse", &calib, calib.images, N, 1e-2);
        remove(mix);
    }
    CHECK(f != NULL);
    dataset_free(&calib);
    return check_summary();
}
