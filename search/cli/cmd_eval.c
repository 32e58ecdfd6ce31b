/* cmd_eval.c — `rn50-tune eval`: top-1 / top-5 accuracy of a model on a dataset split; on several
 * ranks each scores its shard and rank 0 adds the counts (dist.h). */
#include "apply.h"
#include "clock.h"
#include "cli.h"
#include "config.h"
#include "data.h"
#include "db.h"
#include "dist.h"
#include "status.h"
#include "model_load.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The options of eval besides the shared ones (cli_common_option). */
struct eval_opts {
    const char *data, *split, *config;
    int64_t limit;
    int batch;
};

static const struct cli_option eval_options[] = {
    { "--model", CLI_COMMON, .arg = "M", .help = "resnet18|34|50|101|152, rn50-fmnist, or a YAML model file" },
    { "--weights", CLI_COMMON, .arg = "W",
      .help = "safetensors with torchvision names (default for rn50-fmnist: its trained weights)" },
    { "--data", CLI_STR, offsetof(struct eval_opts, data), .arg = "D",
      .help = "fmnist (Debian's dataset-fashion-mnist; fmnist:DIR elsewhere),\n"
              "npy:IMAGES.npy,LABELS.npy (float32 NCHW normalised, integer labels; or\n"
              "npy:val=I,L;test=I,L a pair per split), or imagefolder:ROOT (JPEG/PNG class\n"
              "folders as torchvision's ImageFolder, preprocessed as the model file says;\n"
              "ROOT/train + ROOT/val: test = ROOT/val, val = 10 per class of ROOT/train)" },
    { "--val-per-class", CLI_COMMON, .arg = "N", .help = "imagefolder: val images per class (default 10)" },
    { "--cache-dir", CLI_COMMON, .arg = "D", .help = "imagefolder: preprocessed crops (default $RN50_CACHE_DIR, ~/.cache/rn50-tune)" },
    { "--skip-bad", CLI_COMMON, .help = "imagefolder: leave out undecodable files (counted) instead of stopping" },
    { "--split", CLI_STR, offsetof(struct eval_opts, split), "test", .arg = "S",
      .help = "test, val (last 5,000 training images) or train (first 55,000)" },
    { "--config", CLI_STR, offsetof(struct eval_opts, config), .arg = "C",
      .help = "compress in memory first (configs/compress/*.yaml); calibration data for\n"
              "sensitive k-means and 8-bit activations is the val split of --data" },
    { "--limit", CLI_INT64, offsetof(struct eval_opts, limit), .min = 1, .max = INT64_MAX, .arg = "N",
      .help = "evaluate the first N images of the split only" },
    { "--batch", CLI_INT, offsetof(struct eval_opts, batch), "250", .min = 1, .max = 65536, .arg = "B",
      .help = "images per forward pass" },
    { "--threads", CLI_COMMON, .arg = "T",
      .help = "threads (default: all cores; under mpirun or srun, per rank: the node's\n"
              "cores divided among its ranks)" },
    { "--json", CLI_COMMON, .help = "print a one-line JSON summary last" },
};

static const struct cli_command eval_command = {
    "usage: rn50-tune eval --model M [--weights W.safetensors] --data D [--split test|val|train]\n"
    "                      [--config C.yaml] [--limit N] [--batch B] [--threads T] [--json]\n"
    "\n"
    "Reports top-1 and top-5 accuracy (percent) and the inference speed.\n"
    "\n",
    eval_options, (int)(sizeof eval_options / sizeof *eval_options),
    "\n"
    "Under mpirun -np N every rank scores a shard of the images and rank 0 prints the sums.\n"
    "\n"
    "example: rn50-tune eval --model rn50-fmnist --data fmnist --split test\n",    0,
};

/* Top-k correctness for one row of logits: the label's rank counts logits strictly greater, so
 * ties go in the label's favour, as torch.topk does not guarantee either way. */
static int label_rank(const float *logits, int n_classes, int64_t label)
{
    int rank = 0;
    for (int c = 0; c < n_classes; c++) rank += logits[c] > logits[label];
    return rank;
}

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL;
    int threads = 0, json = 0, rc = STATUS_OK;
    struct eval_opts eo = { 0 };
    struct cli_common cm = { 0 };
    if (cli_parse(&eval_command, argc, argv, &eo, &cm, &rc)) return 0;
    const char *data = eo.data, *split = eo.split, *config = eo.config;
    const int64_t limit = eo.limit;
    int batch = eo.batch;
    model = cm.model;
    weights = cm.weights;
    threads = cm.threads;
    json = cm.json;
    if (!rc && !model) rc = status_error(STATUS_BAD_INPUT, "--model: required (see rn50-tune eval --help)");
    if (!rc && !data) rc = status_error(STATUS_BAD_INPUT, "--data: required (see rn50-tune eval --help)");
    if (rc) return cli_fail(rc);

    threads = ops_set_threads(threads);
    struct resnet *net = NULL;
    struct resnet_infer *ws = NULL;
    struct dataset ds, calib;
    memset(&ds, 0, sizeof ds);
    memset(&calib, 0, sizeof calib);
    struct compress_plan plan;
    memset(&plan, 0, sizeof plan);
    struct apply_result applied;
    memset(&applied, 0, sizeof applied);
    float *logits = NULL, *xb = NULL;
    const char *weights_used = NULL;
    int64_t lo = 0, hi = 0;   /* this rank's shard of the images */
    const struct resnet_config *cfg = NULL;
    if ((rc = model_load(model, weights, 0, &net, &weights_used))) goto done_loading;
    if ((rc = dataset_load(data, split, limit, &ds))) {
        if (rc == STATUS_BAD_INPUT) {   /* name the options the bad values came from */
            char msg[512];
            snprintf(msg, sizeof msg, "%s", status_message());
            rc = status_error(rc, "--data %s --split %s: %s", data, split, msg);
        }
        goto done_loading;
    }
    if (config) {
        if ((rc = compress_config_load(config, net, &plan))) goto done_loading;
        const int need_data = plan_needs_calibration(&plan);
        if (need_data && (rc = dataset_load(data, "val", 0, &calib))) goto done_loading;
        if ((rc = compress_apply(net, &plan, need_data ? &calib : NULL, &applied))) goto done_loading;
        if (dist_rank() == 0) fprintf(stderr, "eval: compressed with %s in %.2f s\n", config, applied.seconds);
    }
    cfg = &net->cfg;
    if (ds.C != cfg->in_channels || ds.H != cfg->in_h || ds.W != cfg->in_w) {
        rc = status_error(STATUS_BAD_INPUT, "--data %s: images are [%d, %d, %d], model %s expects [%d, %d, %d]", data, ds.C,
                          ds.H, ds.W, cfg->name, cfg->in_channels, cfg->in_h, cfg->in_w);
        goto done_loading;
    }
    if (ds.n_classes > cfg->n_classes) {
        rc = status_error(STATUS_BAD_INPUT, "--data %s: labels go up to %d, model %s has %d classes", data, ds.n_classes - 1,
                          cfg->name, cfg->n_classes);
        goto done_loading;
    }
    /* On several ranks each scores its shard [lo, hi) of the images with the model every rank
     * built alike (the hash of the compressed weights agrees), and rank 0 adds the counts. */
    lo = ds.n * dist_rank() / dist_size();
    hi = ds.n * (dist_rank() + 1) / dist_size();
    if (batch > hi - lo) batch = (int)(hi - lo > 0 ? hi - lo : 1);
    logits = malloc(sizeof(float) * batch * cfg->n_classes);
    if (!logits) rc = status_error(STATUS_NOMEM, "out of memory");
    if (!rc) rc = resnet_infer_alloc(net, batch, &ws);
    if (!rc && !ds.images && !(xb = malloc(sizeof(float) * batch * (size_t)dataset_image_floats(&ds))))   /* [batch, C, H, W] */
        rc = status_error(STATUS_NOMEM, "out of memory");
done_loading:
    if (dist_size() > 1 &&
        (rc = dist_agree(dist_world(), rc, rc ? 0 : db_fnv1a(DB_FNV_OFFSET, net->params, sizeof(float) * (size_t)net->n_floats),
                         "compressed model")))
        goto done;
    if (rc) goto done;

    int64_t top1 = 0, top5 = 0;
    const int progress = isatty(STDERR_FILENO) && dist_rank() == 0;
    const double t0 = clock_now_s();
    double last = t0;
    for (int64_t i = lo; i < hi; i += batch) {
        const int n = (int)(hi - i < batch ? hi - i : batch);
        resnet_infer(ws, dataset_batch_ptr(&ds, i, n, xb), n, logits);
        for (int k = 0; k < n; k++) {
            const int r = label_rank(logits + (int64_t)k * cfg->n_classes, cfg->n_classes, ds.labels[i + k]);
            top1 += r < 1;
            top5 += r < 5;
        }
        const double now = clock_now_s();
        if (progress && now - last > 1.0) {
            fprintf(stderr, "\reval: %lld/%lld images, top-1 %.2f %%", (long long)(i + n - lo), (long long)(hi - lo),
                    100.0 * top1 / (i + n - lo));
            last = now;
        }
    }
    {
        const int64_t mine[2] = { top1, top5 };
        int64_t *all = dist_rank() == 0 ? malloc(sizeof mine * (size_t)dist_size()) : NULL;
        if (dist_rank() == 0 && !all) {   /* a few bytes a rank; the others are past their last collective */
            fprintf(stderr, "rn50-tune: error: out of memory\n");
            dist_abort(2);
        }
        dist_gather(mine, sizeof mine, all);
        for (int r = 1; r < dist_size() && all; r++) {
            top1 += all[2 * r];
            top5 += all[2 * r + 1];
        }
        free(all);
    }
    const double secs = clock_now_s() - t0;
    if (progress && secs > 1.0) fputc('\n', stderr);
    if (dist_rank() != 0) goto done;
    if (dist_size() > 1) {
        struct dist_stats st;
        dist_stats_get(&st);
        fprintf(stderr, "eval: %d ranks: rank 0 communication %.0f bytes and %.4f s in %lld collectives\n", dist_size(), st.bytes,
                st.seconds, (long long)st.calls);
    }
    const double p1 = 100.0 * top1 / ds.n, p5 = 100.0 * top5 / ds.n;
    printf("eval: %s (%s) on %s: top-1 %.2f %%, top-5 %.2f %%, n %lld, %.0f images/s (%.2f GFLOP/s), batch %d, %d threads x %d ranks\n",
           cfg->name, weights_used, ds.name, p1, p5, (long long)ds.n, ds.n / secs, 1e-9 * net->flops * ds.n / secs, batch,
           threads, dist_size());
    if (json) {
        struct jout j;
        jout_begin(&j, stdout);
        jout_str(&j, "command", "eval");
        jout_str(&j, "model", cfg->name);
        jout_str(&j, "weights", weights_used);
        jout_str(&j, "data", ds.name);
        if (config) {
            jout_str(&j, "config", config);
            jout_num(&j, "compress_seconds", applied.seconds);
        }
        jout_num(&j, "top1", p1);
        jout_num(&j, "top5", p5);
        jout_int(&j, "n", ds.n);
        jout_num(&j, "images_per_s", ds.n / secs);
        jout_num(&j, "gflops", 1e-9 * net->flops * ds.n / secs);
        jout_int(&j, "batch", batch);
        jout_int(&j, "threads", threads);
        jout_int(&j, "skipped", ds.n_skipped);
        jout_int(&j, "ranks", dist_size());
        jout_end(&j);
    }
done:
    free(logits);
    free(xb);
    dataset_free(&ds);
    dataset_free(&calib);
    apply_result_free(&applied);
    compress_plan_free(&plan);
    resnet_infer_free(ws);
    model_unload(net);
    return rc ? cli_fail(rc) : 0;
}
