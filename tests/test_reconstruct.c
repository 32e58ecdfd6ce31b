/* test_reconstruct.c — calibration-data refit of pruned layers (compress/reconstruct.h): patches
 * against im2col, the fast fit against the loop reference, the fit's optimality conditions and
 * that it never does worse than the magnitude-pruned weights, and on a small ResNet-50 that
 * pruning with reconstruct keeps the magnitude mask and brings the logits closer to the
 * original network's. */
#include "apply.h"
#include "check.h"
#include "config.h"
#include "fixture.h"
#include "reconstruct.h"
#include "resnet.h"
#include "rng.h"
#include "status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED 4242

/* recon_patches row (n, j) is im2col's column n * OH*OW + pos[j]. */
static void test_patches(struct rng *r)
{
    const struct conv_desc descs[] = { { 3, 4, 3, 3, 1, 1 }, { 2, 4, 3, 3, 2, 1 }, { 5, 4, 1, 1, 2, 0 }, { 2, 3, 3, 3, 1, 0 } };
    const int N = 3, H = 7, W = 6;
    for (size_t t = 0; t < sizeof descs / sizeof *descs; t++) {
        const struct conv_desc *d = &descs[t];
        const int OH = conv_out_size(H, d->KH, d->stride, d->pad), OW = conv_out_size(W, d->KW, d->stride, d->pad);
        const int64_t K = conv_k(d), cols = (int64_t)N * OH * OW;
        float *x = malloc(sizeof(float) * d->IC * N * H * W), *col = malloc(sizeof(float) * K * cols);
        float *p = malloc(sizeof(float) * K * OH * OW);
        int *pos = malloc(sizeof(int) * OH * OW);
        for (int64_t i = 0; i < (int64_t)d->IC * N * H * W; i++) x[i] = (float)rng_normal(r);
        im2col(d, x, N, H, W, 0, N, col);
        for (int j = 0; j < OH * OW; j++) pos[j] = (j * 5 + 3) % (OH * OW);   /* a permutation: 5 is coprime */
        int ok = 1;
        for (int n = 0; n < N; n++) {
            recon_patches(x, N, n, H, W, d, pos, OH * OW, p);
            for (int j = 0; j < OH * OW; j++)
                for (int64_t k = 0; k < K; k++) ok &= p[j * K + k] == col[k * cols + (int64_t)n * OH * OW + pos[j]];
        }
        CHECK(ok);
        free(x), free(col), free(p), free(pos);
    }
}

/* The damped least-squares objective of one channel, in double. */
static double objective(const float *wr, float b, int64_t K, const float *y, int64_t OC, int64_t o, const float *xh, int64_t P,
                        double damp)
{
    double e = 0.0;
    for (int64_t p = 0; p < P; p++) {
        double v = b;
        for (int64_t k = 0; k < K; k++) v += (double)wr[k] * xh[p * K + k];
        e += (v - y[p * OC + o]) * (v - y[p * OC + o]);
    }
    for (int64_t k = 0; k < K; k++) e += damp * wr[k] * wr[k];
    return e;
}

static void test_fit(struct rng *r)
{
    const int64_t OC = 6, K = 14, P = 60;
    float *w = malloc(sizeof(float) * OC * K), *b = malloc(sizeof(float) * OC), *x = malloc(sizeof(float) * P * K);
    float *xh = malloc(sizeof(float) * P * K), *y = malloc(sizeof(float) * P * OC);
    float *wf = malloc(sizeof(float) * OC * K), *bf = malloc(sizeof(float) * OC), *wr = malloc(sizeof(float) * OC * K),
          *br = malloc(sizeof(float) * OC);
    unsigned char *mask = malloc((size_t)(OC * K));
    for (int64_t i = 0; i < OC * K; i++) w[i] = (float)rng_normal(r);
    for (int64_t o = 0; o < OC; o++) b[o] = (float)rng_normal(r);
    for (int64_t i = 0; i < P * K; i++) {
        x[i] = (float)rng_normal(r);
        xh[i] = x[i] + 0.3f * (float)rng_normal(r);   /* the drift of the layers before */
    }
    for (int64_t p = 0; p < P; p++)
        for (int64_t o = 0; o < OC; o++) {
            double v = b[o];
            for (int64_t k = 0; k < K; k++) v += (double)w[o * K + k] * x[p * K + k];
            y[p * OC + o] = (float)v;
        }
    /* Row 0 keeps nothing (only its bias is refitted), row 1 everything, the rest about 30 %. */
    for (int64_t o = 0; o < OC; o++)
        for (int64_t k = 0; k < K; k++) mask[o * K + k] = o == 0 ? 0 : o == 1 ? 1 : rng_uniform(r) < 0.3;
    CHECK(recon_fit(w, b, OC, K, y, xh, P, mask, wf, bf) == STATUS_OK);
    CHECK(recon_fit_ref(w, b, OC, K, y, xh, P, mask, wr, br) == STATUS_OK);
    for (int64_t i = 0; i < OC * K; i++) {
        CHECK_ABS(wf[i], wr[i], 1e-4 * (1 + fabs(wr[i])));
        CHECK(mask[i] || wf[i] == 0.0f);
    }
    for (int64_t o = 0; o < OC; o++) CHECK_ABS(bf[o], br[o], 1e-4 * (1 + fabs(br[o])));
    double damp = 0.0;
    for (int64_t k = 0; k < K; k++)
        for (int64_t p = 0; p < P; p++) damp += (double)xh[p * K + k] * xh[p * K + k];
    damp = 0.01 * damp / (double)K;
    for (int64_t o = 0; o < OC; o++) {
        /* Optimality: the gradient over the kept weights and the bias vanishes. */
        double gb = 0.0, scale = 0.0;
        for (int64_t p = 0; p < P; p++) {
            double v = br[o];
            for (int64_t k = 0; k < K; k++) v += (double)wr[o * K + k] * xh[p * K + k];
            gb += v - y[p * OC + o];
            scale += fabs(y[p * OC + o]);
        }
        CHECK(fabs(gb) <= 1e-4 * scale);
        for (int64_t k = 0; k < K; k++) {
            if (!mask[o * K + k]) continue;
            double g = damp * wr[o * K + k];
            for (int64_t p = 0; p < P; p++) {
                double v = br[o];
                for (int64_t j = 0; j < K; j++) v += (double)wr[o * K + j] * xh[p * K + j];
                g += (v - y[p * OC + o]) * xh[p * K + k];
            }
            CHECK(fabs(g) <= 1e-3 * scale);
        }
        /* Never worse than keeping the magnitude-pruned weights and the old bias. */
        float mag[14];
        for (int64_t k = 0; k < K; k++) mag[k] = mask[o * K + k] ? w[o * K + k] : 0.0f;
        CHECK(objective(wf + o * K, bf[o], K, y, OC, o, xh, P, damp) <= objective(mag, b[o], K, y, OC, o, xh, P, damp) * (1 + 1e-6));
    }
    /* In place (w_out = w) gives the same. */
    memcpy(wr, w, sizeof(float) * OC * K);
    memcpy(br, b, sizeof(float) * OC);
    CHECK(recon_fit(wr, br, OC, K, y, xh, P, mask, wr, br) == STATUS_OK);
    CHECK(memcmp(wr, wf, sizeof(float) * OC * K) == 0 && memcmp(br, bf, sizeof(float) * OC) == 0);
    free(w), free(b), free(x), free(xh), free(y), free(wf), free(bf), free(wr), free(br), free(mask);
}

static struct resnet *fixture_net(void) { return fixture_net_seeded(SEED); }

/* Logits of net on x (N images), simulation path. */
static void logits_of(struct resnet *net, const float *x, int N, float *out)
{
    struct resnet_infer *ws = NULL;
    CHECK(resnet_infer_alloc(net, N, &ws) == STATUS_OK);
    if (!ws) return;
    net->simulate = 1;
    resnet_infer(ws, x, N, out);
    net->simulate = 0;
    resnet_infer_free(ws);
}

static void test_network(struct rng *r)
{
    struct dataset calib;
    fixture_random_images(&calib, 64, r);
    const char *paths[2] = { "./test_reconstruct_plain.yaml", "./test_reconstruct_refit.yaml" };
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen(paths[k], "w");
        CHECK(f != NULL);
        if (!f) return;
        fprintf(f, "pruning:\n  global_config:\n    target_sparsity: 0.75\n%s", k ? "    reconstruct: true\n" : "");
        fclose(f);
    }
    /* Capture: the stem's input is the images themselves (one channel: CNHW is NCHW), so its
     * patches can be computed directly; 48 images run as a batch of 32 and one of 16, each in
     * sub-batches, and every image must land in its own rows. */
    {
        struct resnet *net = fixture_net();
        CHECK(net != NULL);
        if (net) {
            unsigned char *want = calloc((size_t)net->n_conv + 1, 1);
            float **patches = calloc((size_t)net->n_conv + 1, sizeof *patches);
            int *n_pos = calloc((size_t)net->n_conv + 1, sizeof *n_pos);
            want[0] = 1;
            calib.n = 48;
            CHECK(recon_capture(net, &calib, 48, want, patches, n_pos) == STATUS_OK);
            const struct resnet_conv *stem = &net->conv[0];
            const int ohw = stem->OH * stem->OW;
            const int64_t K = conv_k(&stem->d);
            CHECK(n_pos[0] == (ohw < RECON_POSITIONS_PER_IMAGE ? ohw : RECON_POSITIONS_PER_IMAGE));
            float *row = malloc(sizeof(float) * (size_t)(n_pos[0] * K));
            int pos[RECON_POSITIONS_PER_IMAGE], same = patches[0] != NULL;
            for (int img = 0; img < 48 && same; img++) {
                recon_positions(img, ohw, n_pos[0], pos);
                recon_patches(calib.images, 48, img, stem->H, stem->W, &stem->d, pos, n_pos[0], row);
                same &= memcmp(row, patches[0] + (int64_t)img * n_pos[0] * K, sizeof(float) * (size_t)(n_pos[0] * K)) == 0;
            }
            CHECK(same);
            for (int i = 0; i <= net->n_conv; i++) free(patches[i]);
            free(patches), free(n_pos), free(want), free(row);
            calib.n = 64;
            resnet_free(net);
        }
    }
    /* Held-out images: the last 16 are not among the first 48 used for calibration. */
    const int N = 16;
    const float *x = calib.images + 48 * 784;
    struct resnet *ref = fixture_net();
    CHECK(ref != NULL);
    if (!ref) return;
    const int C = ref->cfg.n_classes;
    float *l0 = malloc(sizeof(float) * N * C), *l[2] = { malloc(sizeof(float) * N * C), malloc(sizeof(float) * N * C) };
    logits_of(ref, x, N, l0);
    struct apply_result res[2];
    struct compress_plan plan[2];
    struct resnet *net[2] = { fixture_net(), fixture_net() };
    calib.n = 48;
    for (int k = 0; k < 2; k++) {
        CHECK(net[k] && compress_config_load(paths[k], net[k], &plan[k]) == STATUS_OK);
        if (k) CHECK(plan_needs_calibration(&plan[k]) && !plan_needs_calibration(&plan[0]));
        CHECK(compress_apply(net[k], &plan[k], &calib, &res[k]) == STATUS_OK);
        logits_of(net[k], x, N, l[k]);
    }
    /* The refit keeps within the magnitude mask: it changes kept values and biases only. A kept
     * weight whose input is always zero (a dead channel) is refitted to exactly 0, and the
     * stored form then drops it, so the mask may only shrink. */
    int subset = res[0].n_layers == res[1].n_layers;
    for (int i = 0; subset && i < res[0].n_layers; i++) {
        const struct compressed_weight *a = &res[0].cw[i], *b = &res[1].cw[i];
        if (!a->mask || !b->mask) {
            subset &= !a->mask && !b->mask;
            continue;
        }
        for (int64_t j = 0; j < a->OC * a->K; j++) subset &= !b->mask[j] || a->mask[j];
    }
    CHECK(subset);
    CHECK(res[1].sparsity >= res[0].sparsity);
    printf("sparsity: magnitude %.4f, reconstructed %.4f\n", res[0].sparsity, res[1].sparsity);
    double e[2] = { 0, 0 };
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < N * C; i++) e[k] += (l[k][i] - l0[i]) * (l[k][i] - l0[i]);
    printf("logit squared error against the original on held-out images: magnitude %.4g, reconstructed %.4g\n", e[0], e[1]);
    CHECK(e[1] < 0.5 * e[0]);
    /* Without calibration images the config is refused, naming why. */
    struct apply_result none;
    struct resnet *bare = fixture_net();
    CHECK(bare && compress_apply(bare, &plan[1], NULL, &none) == STATUS_BAD_INPUT);
    CHECK(strstr(status_message(), "reconstruct") != NULL);
    for (int k = 0; k < 2; k++) {
        apply_result_free(&res[k]);
        compress_plan_free(&plan[k]);
        resnet_free(net[k]);
        free(l[k]);
        remove(paths[k]);
    }
    resnet_free(bare);
    resnet_free(ref);
    free(l0);
    calib.n = 64;
    dataset_free(&calib);
}

int main(void)
{
    struct rng r;
    rng_seed(&r, SEED);
    test_patches(&r);
    test_fit(&r);
    test_network(&r);
    return check_summary();
}
