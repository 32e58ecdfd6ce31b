/* cmd_infer.c — `rn50-tune infer`: logits for a batch of images given as a .npy file, or for a
 * split of a dataset in its evaluation order (with the path and label of every row). */
#include "cli.h"
#include "clock.h"
#include "data.h"
#include "npy.h"
#include "status.h"
#include "model_load.h"

#include <stdlib.h>
#include <string.h>

static const char infer_usage[] =
    "usage: rn50-tune infer --model M [--weights W.safetensors] --input X.npy --output Y.npy\n"
    "       rn50-tune infer --model M [--weights W] --data D [--split S] [--limit N] --output Y.npy\n"
    "                       [--paths LIST.tsv] [--batch B] [--threads T] [--json]\n"
    "\n"
    "Runs the model on X.npy (float32 [N, C, H, W], already normalised), or on a split of a\n"
    "dataset in its evaluation order, and writes the logits as float32 [N, classes] to Y.npy\n"
    "(written whole or not at all).\n"
    "\n"
    "  --model M      resnet18|34|50|101|152, rn50-fmnist, or a YAML model file\n"
    "  --weights W    safetensors with torchvision state_dict names (default: rn50-fmnist's own)\n"
    "  --data D       fmnist, npy:IMAGES.npy,LABELS.npy or imagefolder:ROOT (see rn50-tune eval --help)\n"
    "  --split S      test (default), val or train\n"
    "  --limit N      the first N images of the split only\n"
    "  --paths P      also write row, label, class and file of every logits row (TSV)\n"
    "  --cache-dir D  imagefolder: where preprocessed crops are kept (default ~/.cache/rn50-tune)\n"
    "  --skip-bad     imagefolder: leave out undecodable files (counted) instead of stopping\n"
    "  --batch B      images per forward pass (default 32)\n"
    "  --threads T    threads (default: all cores)\n"
    "  --json         print a one-line JSON summary last\n"
    "\n"
    "example: rn50-tune infer --model resnet50 --weights rn50.safetensors --input x.npy --output logits.npy\n";

int cmd_infer(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *input = NULL, *output = NULL, *data = NULL, *split = "test", *paths = NULL, *v;
    int batch = 32, threads = 0, json = 0, rc = STATUS_OK;
    int64_t limit = 0;
    struct cli_common cm = { 0 };
    struct cli_args a = cli_args_init(argc, argv);
    while (!rc && cli_next(&a)) {
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) { fputs(infer_usage, stdout); return 0; }
        else if (cli_is(&a, "--input")) rc = cli_value(&a, &input);
        else if (cli_is(&a, "--output")) rc = cli_value(&a, &output);
        else if (cli_is(&a, "--data")) rc = cli_value(&a, &data);
        else if (cli_is(&a, "--split")) rc = cli_value(&a, &split);
        else if (cli_is(&a, "--paths")) rc = cli_value(&a, &paths);
        else if (cli_is(&a, "--limit")) { if (!(rc = cli_value(&a, &v))) rc = cli_int64("--limit", v, 1, INT64_MAX, &limit); }
        else if (cli_is(&a, "--batch")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--batch", v, 1, 65536, &batch); }
        else if (!cli_common_option(&a, &cm, &rc)) rc = cli_unknown(&a);
    }
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
