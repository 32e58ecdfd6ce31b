/* cmd_bench.c — `rn50-tune bench`: latency of whole forward passes after warm-up. */
#include "apply.h"
#include "clock.h"
#include "cli.h"
#include "config.h"
#include "data.h"
#include "format.h"
#include "rng.h"
#include "status.h"
#include "strbuf.h"
#include "train.h"
#include "model_load.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define BENCH_MAX_CONFIGS 16

/* Random normal images standing in for a calibration split. */
static int random_calibration(const struct resnet_config *cfg, int n, struct dataset *d)
{
    memset(d, 0, sizeof *d);
    const int64_t per = (int64_t)cfg->in_channels * cfg->in_h * cfg->in_w;
    d->images = malloc(sizeof(float) * per * n);
    d->labels = calloc((size_t)n, sizeof *d->labels);
    if (!d->images || !d->labels) {
        dataset_free(d);
        return status_error(STATUS_NOMEM, "out of memory for calibration images");
    }
    d->n = n;
    d->C = cfg->in_channels;
    d->H = cfg->in_h;
    d->W = cfg->in_w;
    d->n_classes = cfg->n_classes;
    snprintf(d->name, sizeof d->name, "random");
    struct rng r;
    rng_seed(&r, 7);
    for (int64_t i = 0; i < per * n; i++) d->images[i] = (float)rng_normal(&r);
    return STATUS_OK;
}

/* "int8 53, dense 1, ..." : how many layers (convs and fc) run on each kernel kind. */
static void kernel_summary(const struct resnet *net, char *buf, size_t n)
{
    int count[KERN_KIND_COUNT] = { 0 };
    for (int i = 0; i <= net->n_conv; i++)
        for (int k = 0; k < KERN_KIND_COUNT; k++)
            if (strcmp(resnet_conv_kernel_name(net, i), kern_kind_name((enum kern_kind)k)) == 0) count[k]++;
    size_t used = 0;
    buf[0] = 0;
    for (int k = 0; k < KERN_KIND_COUNT && used < n; k++)
        if (count[k])
            used += (size_t)snprintf(buf + used, n - used, "%s%s %d", used ? ", " : "", kern_kind_name((enum kern_kind)k),
                                     count[k]);
}

static double median_of(double *ms, int reps)
{
    qsort(ms, (size_t)reps, sizeof *ms, cmp_double);
    return reps % 2 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
}

/* One model being timed. */
struct bench_variant {
    const char *label;          /* "dense" or the config path */
    struct resnet *net;
    struct resnet_infer *ws;
    double *ms;                 /* [reps] */
    double median;
    char kernels[160];
};

/* Builds variant v: the loaded model, compressed with `config` when non-NULL. */
static int bench_variant_load(const char *model, const char *weights, const char *config, const char *data,
                              struct bench_variant *v)
{
    const char *used = NULL;
    int rc = model_load(model, weights, 1, &v->net, &used);
    if (rc || !config) return rc;
    struct compress_plan plan;
    memset(&plan, 0, sizeof plan);
    struct dataset calib;
    memset(&calib, 0, sizeof calib);
    struct apply_result applied;
    memset(&applied, 0, sizeof applied);
    if ((rc = compress_config_load(config, v->net, &plan))) return rc;
    const int need_data = plan_needs_calibration(&plan);
    if (need_data) rc = data ? dataset_load(data, "val", 512, &calib) : random_calibration(&v->net->cfg, 128, &calib);
    if (!rc) rc = compress_apply(v->net, &plan, need_data ? &calib : NULL, &applied);
    if (!rc) fprintf(stderr, "bench: compressed with %s in %.2f s\n", config, applied.seconds);
    apply_result_free(&applied);
    dataset_free(&calib);
    compress_plan_free(&plan);
    return rc;
}

/* s as the body of a JSON string (quotes, backslashes and control characters escaped). */
static void json_escape(const char *s, char *out, size_t n)
{
    size_t o = 0;
    for (; *s && o + 7 < n; s++) {
        const unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, n - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = 0;
}

/* Per-layer milliseconds per pass of every variant (profiled passes, interleaved). */
static void print_layers(struct bench_variant *var, int n_var, const float *x, int batch, float *logits, int reps)
{
    const struct resnet *net = var[0].net;
    double *sec = calloc((size_t)n_var * (net->n_conv + 1), sizeof *sec);
    if (!sec) return;
    for (int i = 0; i < n_var; i++) resnet_infer_set_profile(var[i].ws, sec + (size_t)i * (net->n_conv + 1));
    for (int rep = 0; rep < reps; rep++)
        for (int i = 0; i < n_var; i++) resnet_infer(var[i].ws, x, batch, logits);
    printf("%-4s %-28s %-22s", "#", "layer", "shape");
    for (int i = 0; i < n_var; i++) printf(" %14.14s", var[i].label);
    printf("   (ms per pass, kernel)\n");
    for (int l = 0; l <= net->n_conv; l++) {
        char shape[64];
        if (l < net->n_conv) {
            const struct resnet_conv *c = &net->conv[l];
            snprintf(shape, sizeof shape, "%dx%d/%d %d>%d @%dx%d", c->d.KH, c->d.KW, c->d.stride, c->d.IC, c->d.OC, c->OH, c->OW);
        } else {
            snprintf(shape, sizeof shape, "fc %d>%d", net->features, net->cfg.n_classes);
        }
        printf("%-4d %-28s %-22s", l, l < net->n_conv ? net->conv[l].name : "fc", shape);
        for (int i = 0; i < n_var; i++)
            printf(" %7.3f %-6.6s", 1e3 * sec[(size_t)i * (net->n_conv + 1) + l] / reps, resnet_conv_kernel_name(var[i].net, l));
        printf("\n");
    }
    for (int i = 0; i < n_var; i++) resnet_infer_set_profile(var[i].ws, NULL);
    free(sec);
}

/* What bench parses besides the shared options. --config is repeatable and takes lists; the
 * lists are strdup'd (the names point into them) and freed by the caller. */
struct bench_args {
    const char *data;
    const char *configs[BENCH_MAX_CONFIGS];
    char *config_lists[BENCH_MAX_CONFIGS];
    int n_configs, n_lists, compare, layers, batch, reps, warmup, train;
};

static int bench_add_configs(void *opts, const char *v)
{
    struct bench_args *ba = opts;
    if (ba->n_lists == BENCH_MAX_CONFIGS) return status_error(STATUS_BAD_INPUT, "--config: at most %d", BENCH_MAX_CONFIGS);
    char *list = ba->config_lists[ba->n_lists++] = strdup(v);
    if (!list) return status_error(STATUS_NOMEM, "out of memory");
    int rc = STATUS_OK;
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        if (ba->n_configs == BENCH_MAX_CONFIGS) rc = status_error(STATUS_BAD_INPUT, "--config: at most %d configs", BENCH_MAX_CONFIGS);
        else if (!*tok) rc = status_error(STATUS_BAD_INPUT, "--config '%s': empty name in the list", v);
        else ba->configs[ba->n_configs++] = tok;
    }
    return rc;
}

#define BA(field) offsetof(struct bench_args, field)
static const struct cli_option bench_options[] = {
    { "--model", CLI_COMMON, .arg = "M", .help = "resnet18|34|50|101|152, rn50-fmnist, or a YAML model file" },
    { "--weights", CLI_COMMON, .arg = "W", .help = "safetensors or a compressed file (default: random weights)" },
    { "--config", CLI_CUSTOM, .custom = bench_add_configs, .arg = "C",
      .help = "compress in memory first (configs/compress/*.yaml); repeat it (or give a\n"
              "comma-separated list) to time several compressed versions side by side" },
    { "--compare", CLI_FLAG, BA(compare),
      .help = "also time the uncompressed fp32 model, interleaved with the others in the\n"
              "same run (one pass of each in turn), and print each one's speed-up over it" },
    { "--layers", CLI_FLAG, BA(layers), .help = "then time every layer (profiled passes) and print a per-layer table" },
    { "--data", CLI_STR, BA(data), .arg = "D",
      .help = "calibration images for 8-bit activations and sensitive k-means (its val\n"
              "split, see rn50-tune eval); default: random images" },
    { "--batch", CLI_INT, BA(batch), "1", .min = 1, .max = 65536, .arg = "B", .help = "images per pass" },
    { "--threads", CLI_COMMON, .arg = "T", .help = "threads (default: all cores)" },
    { "--reps", CLI_INT, BA(reps), "20", .min = 1, .max = 100000, .arg = "R", .help = "timed passes" },
    { "--warmup", CLI_INT, BA(warmup), "3", .min = 0, .max = 100000, .arg = "K", .help = "untimed passes first" },
    { "--train", CLI_FLAG, BA(train), .help = "time training steps instead (forward + backward + SGD, random labels)" },
    { "--json", CLI_COMMON, .help = "print a one-line JSON summary last" },
};
#undef BA

static const struct cli_command bench_command = {
    "usage: rn50-tune bench --model M [--weights W.safetensors] [--config C.yaml ...] [--compare]\n"
    "                       [--data D] [--batch B] [--threads T] [--reps R] [--warmup K] [--train]\n"
    "                       [--json]\n"
    "\n"
    "Times R forward passes of a batch of B random images after K warm-up passes and reports the\n"
    "median, min and max in milliseconds. Without --weights the weights are random (latency does\n"
    "not depend on their values). A compressed model (a file from rn50-tune compress, or --config)\n"
    "runs on its layers' compressed kernels (int8, sparse, lut, sparse-lut; rn50-tune bench lists\n"
    "which); RN_NO_KERNELS=1 runs the simulation instead, RN_NO_AVX512=1 the portable kernels.\n"
    "\n",
    bench_options, (int)(sizeof bench_options / sizeof *bench_options),
    "\n"
    "example: rn50-tune bench --model resnet50 --batch 1 --threads 2 --reps 30 --json\n"
    "         rn50-tune bench --model resnet50 --threads 2 --compare --config configs/compress/w8a8.yaml\n",
    0,
};

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL;
    int threads = 0, json = 0, rc = STATUS_OK;
    struct bench_args ba;
    memset(&ba, 0, sizeof ba);
    struct cli_common cm = { 0 };
    const int help = cli_parse(&bench_command, argc, argv, &ba, &cm, &rc);
    const char *data = ba.data;
    const char *const *configs = ba.configs;
    char **config_lists = ba.config_lists;
    const int n_configs = ba.n_configs, n_lists = ba.n_lists, compare = ba.compare, layers = ba.layers;
    const int batch = ba.batch, reps = ba.reps, warmup = ba.warmup, train = ba.train;
    if (help) {
        for (int i = 0; i < n_lists; i++) free(config_lists[i]);
        return 0;
    }
    model = cm.model;
    weights = cm.weights;
    threads = cm.threads;
    json = cm.json;
    if (!rc && !model) rc = status_error(STATUS_BAD_INPUT, "--model: required (see rn50-tune bench --help)");
    if (!rc && train && (n_configs || compare || (weights && format_is_compressed(weights))))
        rc = status_error(STATUS_BAD_INPUT, "--train: times the fp32 training step; it takes no --config, --compare or compressed --weights");
    if (rc) {
        for (int i = 0; i < n_lists; i++) free(config_lists[i]);
        return cli_fail(rc);
    }

    threads = ops_set_threads(threads);
    /* Variants: [dense,] then one per config; without configs and --compare, the model itself. */
    /* A compressed --weights file is a variant of its own, compared with the dense model. */
    const int weights_compressed = weights && format_is_compressed(weights);
    struct bench_variant var[BENCH_MAX_CONFIGS + 2];
    memset(var, 0, sizeof var);
    int n_var = 0;
    if (compare || (!n_configs && !weights_compressed)) var[n_var++].label = "dense";
    if (weights_compressed) var[n_var++].label = weights;
    for (int i = 0; i < n_configs; i++) var[n_var++].label = configs[i];
    float *x = NULL, *logits = NULL;
    int64_t *labels = NULL;
    struct trainer *tr = NULL;
    for (int i = 0; i < n_var && !rc; i++) {
        const int is_dense = i == 0 && strcmp(var[i].label, "dense") == 0;
        const int is_file = weights_compressed && var[i].label == weights;
        /* dense: the model's own (or random) fp32 weights, never the compressed file's */
        rc = bench_variant_load(model, is_dense && weights_compressed ? NULL : weights,
                                is_dense || is_file ? NULL : var[i].label, data, &var[i]);
    }
    if (rc) goto done;
    struct resnet *net = var[0].net;
    const struct resnet_config *cfg = &net->cfg;
    const int64_t per = (int64_t)cfg->in_channels * cfg->in_h * cfg->in_w;
    x = malloc(sizeof(float) * per * batch);
    logits = malloc(sizeof(float) * batch * cfg->n_classes);
    for (int i = 0; i < n_var && x; i++) var[i].ms = malloc(sizeof(double) * reps);
    for (int i = 0; i < n_var; i++)
        if (!var[i].ms) x = NULL;
    if (!x || !logits) { rc = status_error(STATUS_NOMEM, "out of memory for batch %d", batch); goto done; }
    struct rng r;
    rng_seed(&r, 1);
    for (int64_t i = 0; i < per * batch; i++) x[i] = (float)rng_normal(&r);
    if (train) {
        /* A training step: forward with batch statistics, backward, SGD. */
        double *ms = var[0].ms;
        labels = malloc(sizeof(int64_t) * batch);
        if (!labels) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
        for (int i = 0; i < batch; i++) labels[i] = (int64_t)rng_below(&r, (uint64_t)cfg->n_classes);
        if ((rc = trainer_alloc(net, batch, &tr))) goto done;
        const struct sgd_opts so = { .lr = 1e-3, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = 1 };
        for (int i = 0; i < warmup + reps; i++) {
            const double t0 = clock_now_s();
            trainer_step(tr, x, labels, batch, 0.1f, NULL);
            trainer_sgd(tr, &so);
            if (i >= warmup) ms[i - warmup] = 1e3 * (clock_now_s() - t0);
        }
    } else {
        for (int i = 0; i < n_var; i++)
            if ((rc = resnet_infer_alloc(var[i].net, batch, &var[i].ws))) goto done;
        for (int w = 0; w < warmup; w++)
            for (int i = 0; i < n_var; i++) resnet_infer(var[i].ws, x, batch, logits);
        /* Interleaved: every variant sees the same machine state (other jobs, clock) in turn. */
        for (int rep = 0; rep < reps; rep++)
            for (int i = 0; i < n_var; i++) {
                const double t0 = clock_now_s();
                resnet_infer(var[i].ws, x, batch, logits);
                var[i].ms[rep] = 1e3 * (clock_now_s() - t0);
            }
    }
    for (int i = 0; i < n_var; i++) {
        const double *ms = var[i].ms;
        var[i].median = median_of(var[i].ms, reps);
        kernel_summary(var[i].net, var[i].kernels, sizeof var[i].kernels);
        const double gflops = (train ? 3.0 : 1.0) * 1e-9 * net->flops * batch / (var[i].median * 1e-3);
        printf("bench%s: %s%s%s, batch %d, %d threads: median %.3f ms, min %.3f, max %.3f (%d reps), %.1f images/s, %.1f GFLOP/s",
               train ? " --train" : "", cfg->name, n_var > 1 ? " " : "", n_var > 1 ? var[i].label : "",
               batch, threads, var[i].median, ms[0], ms[reps - 1], reps, batch / (var[i].median * 1e-3), gflops);
        if (compare && i > 0) printf(", %.2fx dense", var[0].median / var[i].median);
        if (!train && (n_configs || weights_compressed)) printf(" [kernels: %s]", var[i].kernels);
        printf("\n");
    }
    if (layers && !train) print_layers(var, n_var, x, batch, logits, reps);
    if (json) {
        struct jout j;
        jout_begin(&j, stdout);
        jout_str(&j, "command", "bench");
        jout_str(&j, "model", cfg->name);
        jout_str(&j, "weights", weights ? weights : "");
        jout_str(&j, "mode", train ? "train" : "infer");
        jout_int(&j, "batch", batch);
        jout_int(&j, "threads", threads);
        jout_int(&j, "reps", reps);
        /* The last variant: the compressed model when there is one. */
        const struct bench_variant *m = &var[n_var - 1];
        jout_num(&j, "median_ms", m->median);
        jout_num(&j, "min_ms", m->ms[0]);
        jout_num(&j, "max_ms", m->ms[reps - 1]);
        jout_num(&j, "images_per_s", batch / (m->median * 1e-3));
        jout_num(&j, "gflops", (train ? 3.0 : 1.0) * 1e-9 * net->flops * batch / (m->median * 1e-3));
        if (n_var > 1 || n_configs || weights_compressed) {
            struct strbuf sb = { 0 };
            char item[2560], label[2048];
            strbuf_str(&sb, "[");
            for (int i = 0; i < n_var; i++) {
                json_escape(var[i].label, label, sizeof label);
                snprintf(item, sizeof item, "%s{\"label\":\"%s\",\"median_ms\":%.6g,\"speedup\":%.6g,\"kernels\":\"%s\"}",
                         i ? "," : "", label, var[i].median, compare ? var[0].median / var[i].median : 1.0,
                         var[i].kernels);
                strbuf_str(&sb, item);
            }
            strbuf_str(&sb, "]");
            jout_raw(&j, "variants", sb.p && !sb.oom ? sb.p : "[]");
            free(sb.p);
        }
        jout_end(&j);
    }
done:
    free(x);
    free(logits);
    free(labels);
    trainer_free(tr);
    for (int i = 0; i < n_var; i++) {
        free(var[i].ms);
        resnet_infer_free(var[i].ws);
        model_unload(var[i].net);
    }
    for (int i = 0; i < n_lists; i++) free(config_lists[i]);
    return rc ? cli_fail(rc) : 0;
}
