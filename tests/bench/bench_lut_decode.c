/* bench_lut_decode.c — what decoding palettized weights in every call would cost: for each conv of
 * torchvision ResNet50 (random weights, 4-bit per-tensor palettization, configs/compress/
 * palettize-4bit.yaml), the time to decode its indices into fp32 (kern_lut_decode) against the
 * time of the layer's dense fp32 convolution at batch 1, both medians of R runs measured side by
 * side. The "lut" kernel decodes once when attached instead (model/kern_lut.h); this prints the
 * extra time a decode-per-call kernel would pay, per layer and in total.
 * Usage: bench_lut_decode [reps]   (OMP_NUM_THREADS=2 for the 2-thread figure) */
#include "apply.h"
#include "config.h"
#include "half.h"
#include "kern_lut.h"
#include "resnet.h"
#include "status.h"
#include "home.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const int reps = argc > 1 ? atoi(argv[1]) : 20;
    ops_set_threads(2);
    struct resnet_config cfg;
    struct resnet *net = NULL;
    struct compress_plan plan;
    struct apply_result res;
    char config[1024];
    snprintf(config, sizeof config, "%s/configs/compress/palettize-4bit.yaml", home_dir());
    if (resnet_config_load("resnet50", &cfg) || resnet_alloc(&cfg, 1, &net) || compress_config_load(config, net, &plan) ||
        compress_apply(net, &plan, NULL, &res)) {
        fprintf(stderr, "bench_lut_decode: %s\n", status_message());
        return 1;
    }
    int64_t max_w = 0, max_act = 0, max_scr = 0;
    for (int i = 0; i < net->n_conv; i++) {
        const struct resnet_conv *c = &net->conv[i];
        const int64_t w = c->d.OC * conv_k(&c->d), a = (int64_t)c->d.IC * c->H * c->W, o = (int64_t)c->d.OC * c->OH * c->OW;
        max_w = w > max_w ? w : max_w;
        max_act = a > max_act ? a : max_act;
        max_act = o > max_act ? o : max_act;
        const int64_t s = conv_scratch_floats(&c->d, (int64_t)c->OH * c->OW);
        max_scr = s > max_scr ? s : max_scr;
    }
    float *wbuf = malloc(sizeof(float) * max_w), *x = malloc(sizeof(float) * max_act), *y = malloc(sizeof(float) * max_act);
    float *scr = malloc(sizeof(float) * (max_scr + 1));
    double *td = malloc(sizeof(double) * reps), *tc = malloc(sizeof(double) * reps);
    for (int64_t i = 0; i < max_act; i++) x[i] = (float)((i * 7919) % 13) * 0.1f;
    double sum_d = 0, sum_c = 0;
    printf("%-24s %10s %10s %8s\n", "layer", "decode ms", "conv ms", "ratio");
    for (int l = 0; l < plan.n_layers; l++) {
        const int ci = resnet_find_conv(net, plan.info[l].name);
        const struct compressed_weight *cw = &res.cw[l];
        if (ci < 0 || !cw->lut || cw->n_groups != 1 || cw->channel_scale) continue;
        const struct resnet_conv *c = &net->conv[ci];
        float table[256];
        for (int v = 0; v < 1 << cw->n_bits; v++) table[v] = half_to_f32(cw->lut[v]);
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            kern_lut_decode(cw->indices, cw->n_nonzero, table, cw->n_bits, wbuf);
            td[r] = now() - t0;
            t0 = now();
            conv_forward(&c->d, x, 1, c->H, c->W, wbuf, c->bf, NULL, 1, y, scr, max_scr);
            tc[r] = now() - t0;
        }
        if (memcmp(wbuf, c->wf, sizeof(float) * (size_t)cw->n_nonzero) != 0) {
            fprintf(stderr, "bench_lut_decode: %s decodes differently from compress_apply\n", c->name);
            return 1;
        }
        qsort(td, (size_t)reps, sizeof *td, cmp);
        qsort(tc, (size_t)reps, sizeof *tc, cmp);
        const double d = td[reps / 2], cv = tc[reps / 2];
        sum_d += d;
        sum_c += cv;
        printf("%-24s %10.4f %10.4f %7.1f%%\n", c->name, 1e3 * d, 1e3 * cv, 100 * d / cv);
    }
    printf("total: decode %.3f ms per inference over conv %.3f ms (+%.1f %% for decode-per-call)\n", 1e3 * sum_d, 1e3 * sum_c,
           100 * sum_d / sum_c);
    free(wbuf);
    free(x);
    free(y);
    free(scr);
    free(td);
    free(tc);
    apply_result_free(&res);
    compress_plan_free(&plan);
    resnet_free(net);
    return 0;
}
