/* test_evaluate.c — the evaluator (search/evaluate.c) on the fixture network rn50w8-small
 * (tests/data: a width-8 ResNet50 for 1x28x28 inputs, 10 classes) and an npy dataset written
 * here: random normal images (seed printed) labelled by the network's own fp32 predictions for
 * even images and by the next class for odd ones, so about half are right. Checked: the baseline's
 * top-1 and summed cross-entropy against a forward pass computed here, its paired counts against
 * itself (none lost or gained), a compressed plan's paired identity (correct = baseline - lost +
 * gained), its smaller size, prefixes, and that every evaluation starts from the original
 * network (the same plan twice, the baseline again after a compression: identical records). */
#include "check.h"
#include "config.h"
#include "evaluate.h"
#include "model_load.h"
#include "npy.h"
#include "resnet.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RN_SOURCE_DIR
#define RN_SOURCE_DIR "."
#endif

#define N_IMAGES 48
#define SEED 20261202u
/* The fixture is evaluated with fp16-rounded weights (the baseline the search compares with):
 * its logits move by well under 1e-3 of their range, so an image whose top-2 margin is below this
 * (relative to the logit range) may change its answer; the count bounds allow for each. */
#define MARGIN_FRAGILE 2e-3
/* The summed cross-entropy of fp16-rounded weights against fp32 ones (2e-4 measured). */
#define LOSS_REL_TOL 2e-3

static int same_record(const struct eval_result *a, const struct eval_result *b)
{
    return a->correct == b->correct && a->n == b->n && a->lost == b->lost && a->gained == b->gained && a->loss == b->loss &&
           a->bytes == b->bytes && a->top1 == b->top1;
}

int main(void)
{
    char model[512], weights[512];
    snprintf(model, sizeof model, "%s/tests/data/rn50w8-small.yaml", RN_SOURCE_DIR);
    snprintf(weights, sizeof weights, "%s/tests/data/rn50w8-small.safetensors", RN_SOURCE_DIR);
    if (access(model, R_OK) || access(weights, R_OK)) {
        printf("skip: fixture %s missing\n", weights);
        return CHECK_SKIP;
    }
    char dir[256];
    snprintf(dir, sizeof dir, "%s/rn_test_evaluate_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    printf("seed %u, %d images\n", SEED, N_IMAGES);

    /* The images and their labels, from the fp32 network. */
    struct resnet *net = NULL;
    CHECK(model_load(model, weights, 0, &net, NULL) == 0);
    if (!net) return check_summary();
    const int C = net->cfg.in_channels, H = net->cfg.in_h, W = net->cfg.in_w, K = net->cfg.n_classes;
    const int64_t per = (int64_t)C * H * W;
    float *x = malloc(sizeof(float) * (size_t)(N_IMAGES * per));         /* [N, C, H, W] */
    float *logits = malloc(sizeof(float) * (size_t)(N_IMAGES * K));      /* [N, K] */
    int64_t *labels = malloc(sizeof(int64_t) * N_IMAGES);
    struct rng r;
    rng_seed(&r, SEED);
    for (int64_t i = 0; i < N_IMAGES * per; i++) x[i] = (float)rng_normal(&r);
    struct resnet_infer *ws = NULL;
    CHECK(resnet_infer_alloc(net, N_IMAGES, &ws) == 0);
    if (ws) resnet_infer(ws, x, N_IMAGES, logits);
    int fragile = 0, want_correct = 0;
    double want_loss = 0;
    for (int i = 0; i < N_IMAGES; i++) {
        const float *z = logits + (int64_t)i * K;
        int best = 0;
        float lo = z[0], hi = z[0];
        for (int c = 1; c < K; c++) {
            if (z[c] > z[best]) best = c;
            lo = fminf(lo, z[c]);
            hi = fmaxf(hi, z[c]);
        }
        float second = -INFINITY;
        for (int c = 0; c < K; c++)
            if (c != best && z[c] > second) second = z[c];
        fragile += (z[best] - second) < MARGIN_FRAGILE * (hi - lo);
        labels[i] = i % 2 == 0 ? best : (best + 1) % K;
        want_correct += i % 2 == 0;
        double sum = 0;
        for (int c = 0; c < K; c++) sum += exp((double)z[c] - hi);
        want_loss += log(sum) - ((double)z[labels[i]] - hi);
    }
    resnet_infer_free(ws);
    model_unload(net);
    printf("fp32: %d of %d right by construction, %d fragile, loss %.6f\n", want_correct, N_IMAGES, fragile, want_loss);

    /* val: the images in order; test: the same reversed (another pair of files). */
    char iv[320], lv[320], it[320], lt[320], data[1400];
    snprintf(iv, sizeof iv, "%s/val_x.npy", dir);
    snprintf(lv, sizeof lv, "%s/val_y.npy", dir);
    snprintf(it, sizeof it, "%s/test_x.npy", dir);
    snprintf(lt, sizeof lt, "%s/test_y.npy", dir);
    const int64_t xshape[4] = { N_IMAGES, C, H, W }, yshape[1] = { N_IMAGES };
    CHECK(npy_write_f32(iv, x, 4, xshape) == 0 && npy_write_i64(lv, labels, 1, yshape) == 0);
    float *xr = malloc(sizeof(float) * (size_t)(N_IMAGES * per));
    int64_t *yr = malloc(sizeof(int64_t) * N_IMAGES);
    for (int i = 0; i < N_IMAGES; i++) {
        memcpy(xr + (int64_t)i * per, x + (int64_t)(N_IMAGES - 1 - i) * per, sizeof(float) * (size_t)per);
        yr[i] = labels[N_IMAGES - 1 - i];
    }
    CHECK(npy_write_f32(it, xr, 4, xshape) == 0 && npy_write_i64(lt, yr, 1, yshape) == 0);
    snprintf(data, sizeof data, "npy:val=%s,%s;test=%s,%s", iv, lv, it, lt);

    struct eval_setup setup = { model, weights, data, NULL, 2, 0, 0, 0 };
    struct evaluator *ev = NULL;
    CHECK(evaluator_alloc(&setup, &ev) == 0);
    if (!ev) return check_summary();
    CHECK(evaluator_split_size(ev, EVAL_VAL) == N_IMAGES && evaluator_split_size(ev, EVAL_TEST) == N_IMAGES);
    CHECK(!evaluator_has_latency(ev));

    /* The baseline: its paired counts are against itself. */
    struct eval_result base, base_test, again;
    CHECK(evaluator_run(ev, NULL, EVAL_VAL, N_IMAGES, &base) == 0);
    CHECK(base.n == N_IMAGES && base.lost == 0 && base.gained == 0);
    CHECK(llabs(base.correct - want_correct) <= fragile);
    printf("baseline (fp16 weights): %lld right, loss %.6f\n", (long long)base.correct, base.loss);
    CHECK_ABS(base.top1, 100.0 * (double)base.correct / N_IMAGES, 1e-12);
    CHECK_REL(base.loss, want_loss, LOSS_REL_TOL);
    CHECK(base.bytes > 0 && isnan(base.latency_ms));
    /* test holds the same images: the same counts and (in another order) nearly the same loss. */
    CHECK(evaluator_run(ev, NULL, EVAL_TEST, N_IMAGES, &base_test) == 0);
    CHECK(base_test.correct == base.correct && base_test.lost == 0 && base_test.gained == 0);
    CHECK_REL(base_test.loss, base.loss, 1e-9);

    /* A compressed plan: 2-bit LUTs everywhere change answers; the paired identity holds exactly. */
    char cfg_path[320];
    snprintf(cfg_path, sizeof cfg_path, "%s/pal2.yaml", dir);
    FILE *f = fopen(cfg_path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("palettization:\n  global_config: {n_bits: 2, weight_threshold: 0}\n", f);
        fclose(f);
    }
    struct compress_plan plan;
    memset(&plan, 0, sizeof plan);
    CHECK(compress_config_load(cfg_path, evaluator_net(ev), &plan) == 0);
    struct eval_result c1, c2, half;
    CHECK(evaluator_run(ev, &plan, EVAL_VAL, N_IMAGES, &c1) == 0);
    CHECK(c1.correct == base.correct - c1.lost + c1.gained);
    CHECK(c1.lost <= base.correct && c1.gained <= N_IMAGES - base.correct);
    CHECK(c1.bytes < base.bytes);
    printf("2-bit: %lld right (lost %lld, gained %lld), %.0f bytes against %.0f\n", (long long)c1.correct, (long long)c1.lost,
           (long long)c1.gained, c1.bytes, base.bytes);
    /* Every evaluation starts from the original network. */
    CHECK(evaluator_run(ev, &plan, EVAL_VAL, N_IMAGES, &c2) == 0);
    CHECK(same_record(&c1, &c2));
    CHECK(evaluator_run(ev, NULL, EVAL_VAL, N_IMAGES, &again) == 0);
    CHECK(same_record(&base, &again));
    /* A prefix counts its images only. */
    CHECK(evaluator_run(ev, &plan, EVAL_VAL, N_IMAGES / 2, &half) == 0);
    CHECK(half.n == N_IMAGES / 2 && half.correct <= c1.correct && half.lost <= c1.lost && half.gained <= c1.gained);
    CHECK(half.loss < c1.loss && half.bytes == c1.bytes);

    compress_plan_free(&plan);
    evaluator_free(ev);
    remove(iv);
    remove(lv);
    remove(it);
    remove(lt);
    remove(cfg_path);
    rmdir(dir);
    free(x);
    free(xr);
    free(yr);
    free(logits);
    free(labels);
    return check_summary();
}
