/* bench_imagefolder.c — the image pipeline's rate against ResNet50's evaluation rate, measured in
 * one run on the same machine: (1) cold: decoding + Resize(256) + CenterCrop(224) of JPEG files
 * into a fresh crop cache, (2) warm: reading that cache and normalising into float batches, (3)
 * ResNet50 (random weights: time does not depend on them) at batch 16. Images/s of each, and the
 * ratios the issue asks for: the cold pipeline should reach at least 2x the network's rate.
 * Usage: bench_imagefolder ROOT CACHE_DIR [threads]   (tests/bench/imagefolder.sh makes ROOT) */
#include "clock.h"
#include "data.h"
#include "ops.h"
#include "resnet.h"
#include "rng.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_imagefolder ROOT CACHE_DIR [threads]\n");
        return 2;
    }
    const int threads = argc > 3 ? atoi(argv[3]) : 2;
    ops_set_threads(threads);
    char spec[2048];
    snprintf(spec, sizeof spec, "imagefolder:%s", argv[1]);
    struct dataset_options o;
    dataset_options_default(&o);
    snprintf(o.cache_dir, sizeof o.cache_dir, "%s", argv[2]);
    o.threads = threads;
    struct dataset d;
    double t0 = clock_now_s();
    if (dataset_open(spec, "test", 0, &o, &d)) {
        fprintf(stderr, "bench_imagefolder: %s\n", status_message());
        return 2;
    }
    const double cold = clock_now_s() - t0;
    const int64_t n = d.n;
    dataset_free(&d);

    const int B = 16;
    float *x = malloc(sizeof(float) * B * 3 * 224 * 224);
    t0 = clock_now_s();
    if (!x || dataset_open(spec, "test", 0, &o, &d)) return 2;
    for (int rep = 0; rep < 3; rep++)
        for (int64_t i = 0; i < d.n; i += B) dataset_batch(&d, i, d.n - i < B ? d.n - i : B, x);
    const double warm = (clock_now_s() - t0) / 3;
    dataset_free(&d);

    struct resnet_config cfg;
    struct resnet *net = NULL;
    struct resnet_infer *ws = NULL;
    float *logits = malloc(sizeof(float) * B * 1000);
    if (resnet_config_load("resnet50", &cfg) || resnet_alloc(&cfg, 1, &net) || resnet_infer_alloc(net, B, &ws) || !logits) {
        fprintf(stderr, "bench_imagefolder: %s\n", status_message());
        return 2;
    }
    struct rng r;
    rng_seed(&r, 7);
    for (int64_t i = 0; i < (int64_t)B * 3 * 224 * 224; i++) x[i] = (float)rng_normal(&r);
    resnet_infer(ws, x, B, logits);   /* warm-up */
    t0 = clock_now_s();
    const int passes = 2;
    for (int p = 0; p < passes; p++) resnet_infer(ws, x, B, logits);
    const double net_s = (clock_now_s() - t0) / (passes * B);

    const double cold_rate = n / cold, warm_rate = n / warm, net_rate = 1.0 / net_s;
    printf("bench_imagefolder: %lld JPEGs, %d threads\n", (long long)n, threads);
    printf("  cold  (decode + resize + crop into the cache): %8.1f images/s\n", cold_rate);
    printf("  warm  (cache -> normalised float batches):     %8.1f images/s\n", warm_rate);
    printf("  ResNet50 fp32 inference, batch %d:             %8.2f images/s\n", B, net_rate);
    printf("  cold / ResNet50 = %.1fx, warm / ResNet50 = %.0fx\n", cold_rate / net_rate, warm_rate / net_rate);
    printf("  ImageNet val (50,000): preprocessing once %.1f min, one full ResNet50 evaluation %.1f min\n",
           50000 / cold_rate / 60, 50000 / net_rate / 60);
    resnet_infer_free(ws);
    resnet_free(net);
    free(x);
    free(logits);
    return 0;
}
