/* bench_conv_direct.c — the dense fp32 engine on the direct convolution (conv_direct.c: the CPU's
 * best instruction set, and capped at AVX2) against the portable im2col + OpenBLAS path, whole
 * networks at batch 1 and a larger batch, measured side by side: one pass of each path in turn per
 * round, medians over R rounds. Random weights and inputs (time does not depend on their values).
 * Usage: bench_conv_direct [reps]   (2 threads) */
#include "conv_direct.h"
#include "kern.h"
#include "resnet.h"
#include "rng.h"
#include "status.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Path p: 0 portable (OpenBLAS), 1 direct on the CPU's best, 2 direct capped at AVX2. */
static void set_path(int p)
{
    conv_direct_force(p > 0);
    kern_force_portable(p == 2 ? 2 : 0);
}

static void bench(const char *model, int batch, int reps)
{
    struct resnet_config cfg;
    struct resnet *net = NULL;
    struct resnet_infer *ws = NULL;
    if (resnet_config_load(model, &cfg) || resnet_alloc(&cfg, 1, &net) || resnet_infer_alloc(net, batch, &ws)) {
        fprintf(stderr, "bench_conv_direct: %s\n", status_message());
        exit(1);
    }
    const int64_t per = (int64_t)cfg.in_channels * cfg.in_h * cfg.in_w;
    float *x = malloc(sizeof(float) * (size_t)(per * batch)), *logits = malloc(sizeof(float) * (size_t)(cfg.n_classes * batch));
    struct rng r;
    rng_seed(&r, 7);
    for (int64_t i = 0; i < per * batch; i++) x[i] = (float)rng_normal(&r);
    const int np = kern_cpu_avx512() ? 3 : 2;
    double *t = malloc(sizeof(double) * (size_t)(np * reps));
    for (int p = 0; p < np; p++) {   /* warm-up */
        set_path(p);
        resnet_infer(ws, x, batch, logits);
    }
    for (int i = 0; i < reps; i++)
        for (int p = 0; p < np; p++) {
            set_path(p);
            const double t0 = omp_get_wtime();
            resnet_infer(ws, x, batch, logits);
            t[p * reps + i] = omp_get_wtime() - t0;
        }
    double med[3];
    for (int p = 0; p < np; p++) {
        qsort(t + p * reps, (size_t)reps, sizeof(double), cmp);
        med[p] = t[p * reps + reps / 2];
    }
    printf("%-12s batch %3d  portable %8.2f ms  direct %8.2f ms%s", model, batch, 1e3 * med[0], 1e3 * med[1],
           kern_cpu_avx512() ? " (AVX-512)" : " (AVX2)");
    if (np == 3) printf("  direct capped at AVX2 %8.2f ms", 1e3 * med[2]);
    printf("  ratio portable/direct %.2fx\n", med[0] / med[1]);
    conv_direct_force(-1);
    kern_force_portable(0);
    free(t);
    free(x);
    free(logits);
    resnet_infer_free(ws);
    resnet_free(net);
}

int main(int argc, char **argv)
{
    const int reps = argc > 1 ? atoi(argv[1]) : 20;
    ops_set_threads(2);
    printf("bench_conv_direct: 2 threads, %d rounds, medians\n", reps);
    bench("rn50-fmnist", 1, reps * 10);
    bench("rn50-fmnist", 64, reps);
    bench("resnet50", 1, reps);
    bench("resnet50", 8, reps > 5 ? reps / 4 : 2);
    return 0;
}
