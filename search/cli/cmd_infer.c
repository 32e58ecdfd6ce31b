/* cmd_infer.c — `rn50-tune infer`: logits for a batch of images given as a .npy file, or for a
 * split of a dataset in its evaluation order (with the path and label of every row). */
#include "cli.h"
#include "clock.h"
#include "data.h"
#include "npy.h"
#include "status.h"
#include "model_load.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The options of infer besides the shared ones (cli_common_option). */
struct infer_opts {
    const char *input, *output, *data, *split, *paths;
    int64_t limit;
    int batch;
};

static const struct cli_option infer_options[] = {
    { "--model", CLI_COMMON, .arg = "M", .help = "resnet18|34|50|101|152, rn50-fmnist, or a YAML model file" },
    { "--weights", CLI_COMMON, .arg = "W", .help = "safetensors with torchvision state_dict names (default: rn50-fmnist's own)" },
    { "--input", CLI_STR, offsetof(struct infer_opts, input), .arg = "X", .help = "images, float32 [N, C, H, W] .npy, already normalised" },
    { "--output", CLI_STR, offsetof(struct infer_opts, output), .arg = "Y", .help = "the logits, float32 [N, classes] .npy" },
    { "--data", CLI_STR, offsetof(struct infer_opts, data), .arg = "D",
      .help = "fmnist, npy:IMAGES.npy,LABELS.npy or imagefolder:ROOT (see rn50-tune eval --help)" },
    { "--split", CLI_STR, offsetof(struct infer_opts, split), "test", .arg = "S", .help = "test, val or train" },
    { "--limit", CLI_INT64, offsetof(struct infer_opts, limit), .min = 1, .max = INT64_MAX, .arg = "N",
      .help = "the first N images of the split only" },
    { "--paths", CLI_STR, offsetof(struct infer_opts, paths), .arg = "P",
      .help = "also write row, label, class and file of every logits row (TSV)" },
    { "--cache-dir", CLI_COMMON, .arg = "D", .help = "imagefolder: where preprocessed crops are kept (default ~/.cache/rn50-tune)" },
    { "--skip-bad", CLI_COMMON, .help = "imagefolder: leave out undecodable files (counted) instead of stopping" },
    { "--batch", CLI_INT, offsetof(struct infer_opts, batch), "32", .min = 1, .max = 65536, .arg = "B",
      .help = "images per forward pass" },
    { "--threads", CLI_COMMON, .arg = "T", .help = "threads (default: all cores)" },
    { "--json", CLI_COMMON, .help = "print a one-line JSON summary last" },
};

static const struct cli_command infer_command = {
    "usage: rn50-tune infer --model M [--weights W.safetensors] --input X.npy --output Y.npy\n"
    "       rn50-tune infer --model M [--weights W] --data D [--split S] [--limit N] --output Y.npy\n"
    "                       [--paths LIST.tsv] [--batch B] [--threads T] [--json]\n"
    "\n"
    "Runs the model on X.npy (float32 [N, C, H, W], already normalised), or on a split of a\n"
    "dataset in its evaluation order, and writes the logits as float32 [N, classes] to Y.npy\n"
    "(written whole or not at all).\n"
    "\n",
    infer_options, (int)(sizeof infer_options / sizeof *infer_options),
    "\n"
    "example: rn50-tune infer --model resnet50 --weights rn50.safetensors --input x.npy --output logits.npy\n",    0,
};

int cmd_infer(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL;
    int threads = 0, json = 0, rc = STATUS_OK;
    struct infer_opts io = { 0 };
    struct cli_common cm = { 0 };
    if (cli_parse(&infer_command, argc, argv, &io, &cm, &rc)) return 0;
    const char *input = io.input, *output = io.output, *data = io.data, *split = io.split, *paths = io.paths;
    int64_t limit = io.limit;
    int batch = io.batch;
    model = cm.model;
    weights = cm.weights;
    threads = cm.threads;
    json = cm.json;
    if (!rc && !model) rc = status_error(STATUS_BAD_INPUT, "--model: required (see rn50-tune infer --help)");
    if (!rc && !input && !data) rc = status_error(STATUS_BAD_INPUT, "--input: required, or --data (see rn50-tune infer --help)");
    if (!rc && input && data) rc = status_error(STATUS_BAD_INPUT, "--input and --data: give one of them, not both");
    if (!rc && paths && !data) rc = status_error(STATUS_BAD_INPUT, "--paths: needs --data (the rows of --input have no files)");
    if (!rc && !output) rc = status_error(STATUS_BAD_INPUT, "--output: required (see rn50-tune infer --help)");
    if (rc) return cli_fail(rc);

    threads = ops_set_threads(threads);
    struct resnet *net = NULL;
    struct resnet_infer *ws = NULL;
    float *x = NULL, *logits = NULL;
    const char *weights_used = NULL;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    double t0 = 0, t1 = 0;
    struct dataset ds = { 0 };
    if ((rc = model_load(model, weights, 0, &net, &weights_used))) goto done;
    const struct resnet_config *cfg = &net->cfg;
    if (data) {
        if ((rc = dataset_load(data, split, limit, &ds))) goto done;
        ndim = 4;
        const int64_t s[4] = { ds.n, ds.C, ds.H, ds.W };
        memcpy(shape, s, sizeof s);
        input = data;
    } else if ((rc = npy_read_f32(input, &x, &ndim, shape))) {
        goto done;
    }
    if (ndim != 4 || shape[0] < 1 || shape[1] != cfg->in_channels || shape[2] != cfg->in_h || shape[3] != cfg->in_w) {
        rc = status_error(STATUS_BAD_INPUT, "%s: input is %d-dimensional [%lld, %lld, ...], expected float32 [N, %d, %d, %d] for model %s",
                          input, ndim, (long long)shape[0], ndim > 1 ? (long long)shape[1] : 0LL, cfg->in_channels, cfg->in_h,
                          cfg->in_w, cfg->name);
        goto done;
    }
    const int64_t N = shape[0], per = (int64_t)cfg->in_channels * cfg->in_h * cfg->in_w;
    if (batch > N) batch = (int)N;
    logits = malloc(sizeof(float) * N * cfg->n_classes);
    if (!logits) { rc = status_error(STATUS_NOMEM, "out of memory for %lld logits", (long long)N); goto done; }
    if (data && !(x = malloc(sizeof(float) * (size_t)(batch * per)))) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
    if ((rc = resnet_infer_alloc(net, batch, &ws))) goto done;
    t0 = clock_now_s();
    for (int64_t i = 0; i < N; i += batch) {
        const int n = (int)(N - i < batch ? N - i : batch);
        resnet_infer(ws, data ? dataset_batch_ptr(&ds, i, n, x) : x + i * per, n, logits + i * cfg->n_classes);
    }
    t1 = clock_now_s();
    if (paths && (rc = dataset_write_list(&ds, paths))) goto done;
    if ((rc = npy_write_f32(output, logits, 2, (int64_t[]){ N, cfg->n_classes }))) goto done;
    fprintf(stderr, "infer: %s (%s), %lld images, %d threads, %.1f ms\n", cfg->name, weights_used, (long long)N,
            threads, 1e3 * (t1 - t0));
    if (json) {
        struct jout j;
        jout_begin(&j, stdout);
        jout_str(&j, "command", "infer");
        jout_str(&j, "model", cfg->name);
        jout_str(&j, "weights", weights_used);
        jout_str(&j, "output", output);
        jout_int(&j, "n", N);
        jout_int(&j, "classes", cfg->n_classes);
        jout_int(&j, "threads", threads);
        jout_num(&j, "seconds", t1 - t0);
        if (data) jout_int(&j, "skipped", ds.n_skipped);
        jout_end(&j);
    }
done:
    dataset_free(&ds);
    free(x);
    free(logits);
    resnet_infer_free(ws);
    model_unload(net);
    return rc ? cli_fail(rc) : 0;
}
