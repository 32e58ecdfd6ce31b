/* cmd_bench.c — `rn50-tune bench`: latency of whole forward passes after warm-up. */
#include "cli.h"
#include "rng.h"
#include "status.h"
#include "train.h"

#include <stdlib.h>
#include <string.h>

static const char bench_usage[] =
    "usage: rn50-tune bench --model M [--weights W.safetensors] [--batch B] [--threads T]\n"
    "                       [--reps R] [--warmup K] [--train] [--json]\n"
    "\n"
    "Times R forward passes of a batch of B random images after K warm-up passes and reports the\n"
    "median, min and max in milliseconds. Without --weights the weights are random (latency does\n"
    "not depend on their values).\n"
    "\n"
    "  --model M      resnet18|34|50|101|152, rn50-fmnist, or a YAML model file\n"
    "  --batch B      images per pass (default 1)\n"
    "  --threads T    threads (default: all cores)\n"
    "  --reps R       timed passes (default 20)\n"
    "  --warmup K     untimed passes first (default 3)\n"
    "  --train        time training steps instead (forward + backward + SGD, random labels)\n"
    "  --json         print a one-line JSON summary last\n"
    "\n"
    "example: rn50-tune bench --model resnet50 --batch 1 --threads 2 --reps 30 --json\n";

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *v;
    int batch = 1, threads = 0, reps = 20, warmup = 3, json = 0, train = 0, rc = STATUS_OK;
    struct cli_common cm = { 0 };
    struct cli_args a = cli_args_init(argc, argv);
    while (!rc && cli_next(&a)) {
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) { fputs(bench_usage, stdout); return 0; }
        else if (cli_is(&a, "--batch")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--batch", v, 1, 65536, &batch); }
        else if (cli_is(&a, "--reps")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--reps", v, 1, 100000, &reps); }
        else if (cli_is(&a, "--warmup")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--warmup", v, 0, 100000, &warmup); }
        else if (cli_is(&a, "--train")) train = 1;
        else if (!cli_common_option(&a, &cm, &rc)) rc = cli_unknown(&a);
    }
    model = cm.model;
    weights = cm.weights;
    threads = cm.threads;
    json = cm.json;
    if (!rc && !model) rc = status_error(STATUS_BAD_INPUT, "--model: required (see rn50-tune bench --help)");
    if (rc) return cli_fail(rc);

    threads = ops_set_threads(threads);
    struct resnet *net = NULL;
    struct resnet_infer *ws = NULL;
    float *x = NULL, *logits = NULL;
    double *ms = NULL;
    int64_t *labels = NULL;
    struct trainer *tr = NULL;
    const char *weights_used = NULL;
    if ((rc = cli_load_model(model, weights, 1, &net, &weights_used))) goto done;
    const struct resnet_config *cfg = &net->cfg;
    const int64_t per = (int64_t)cfg->in_channels * cfg->in_h * cfg->in_w;
    x = malloc(sizeof(float) * per * batch);
    logits = malloc(sizeof(float) * batch * cfg->n_classes);
    ms = malloc(sizeof(double) * reps);
    if (!x || !logits || !ms) { rc = status_error(STATUS_NOMEM, "out of memory for batch %d", batch); goto done; }
    struct rng r;
    rng_seed(&r, 1);
    for (int64_t i = 0; i < per * batch; i++) x[i] = (float)rng_normal(&r);
    if (train) {
        /* A training step: forward with batch statistics, backward, SGD. */
        labels = malloc(sizeof(int64_t) * batch);
        if (!labels) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
        for (int i = 0; i < batch; i++) labels[i] = (int64_t)rng_below(&r, (uint64_t)cfg->n_classes);
        if ((rc = trainer_alloc(net, batch, &tr))) goto done;
        const struct sgd_opts so = { .lr = 1e-3, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = 1 };
        for (int i = 0; i < warmup + reps; i++) {
            const double t0 = cli_now();
            trainer_step(tr, x, labels, batch, 0.1f, NULL);
            trainer_sgd(tr, &so);
            if (i >= warmup) ms[i - warmup] = 1e3 * (cli_now() - t0);
        }
    } else {
        if ((rc = resnet_infer_alloc(net, batch, &ws))) goto done;
        for (int i = 0; i < warmup; i++) resnet_infer(ws, x, batch, logits);
        for (int i = 0; i < reps; i++) {
            const double t0 = cli_now();
            resnet_infer(ws, x, batch, logits);
            ms[i] = 1e3 * (cli_now() - t0);
        }
    }
    qsort(ms, reps, sizeof *ms, cmp_double);
    const double median = reps % 2 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
    /* A training step costs about three forward passes (forward, input and weight gradients). */
    const double gflops = (train ? 3.0 : 1.0) * 1e-9 * net->flops * batch / (median * 1e-3);
    printf("bench%s: %s, batch %d, %d threads: median %.3f ms, min %.3f, max %.3f (%d reps), %.1f images/s, %.1f GFLOP/s\n",
           train ? " --train" : "", cfg->name, batch, threads, median, ms[0], ms[reps - 1], reps, batch / (median * 1e-3), gflops);
    if (json) {
        struct jout j;
        jout_begin(&j, stdout);
        jout_str(&j, "command", "bench");
        jout_str(&j, "model", cfg->name);
        jout_str(&j, "weights", weights_used);
        jout_str(&j, "mode", train ? "train" : "infer");
        jout_int(&j, "batch", batch);
        jout_int(&j, "threads", threads);
        jout_int(&j, "reps", reps);
        jout_num(&j, "median_ms", median);
        jout_num(&j, "min_ms", ms[0]);
        jout_num(&j, "max_ms", ms[reps - 1]);
        jout_num(&j, "images_per_s", batch / (median * 1e-3));
        jout_num(&j, "gflops", gflops);
        jout_end(&j);
    }
done:
    free(x);
    free(logits);
    free(ms);
    free(labels);
    trainer_free(tr);
    resnet_infer_free(ws);
    cli_free_model(net);
    return rc ? cli_fail(rc) : 0;
}
