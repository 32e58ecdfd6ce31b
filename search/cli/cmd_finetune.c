/* cmd_finetune.c — `rn50-tune finetune`: training-time compression (DKM palettization, scheduled
 * pruning, both) of a trained model with a compression config, written as a compressed file that
 * eval, infer and bench load (compress/finetune.h); progress, checkpoints and resume come from the
 * training loop. */
#include "atomic_file.h"
#include "cli.h"
#include "config.h"
#include "data.h"
#include "finetune.h"
#include "format.h"
#include "status.h"
#include "strbuf.h"
#include "train.h"
#include "model_load.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const struct cli_option finetune_options[] = {
    { "--model", CLI_COMMON, .arg = "M", .help = "resnet18|34|50|101|152, rn50-fmnist, or a YAML model file" },
    { "--weights", CLI_COMMON, .arg = "W", .help = "trained torchvision weights (default: rn50-fmnist's own)" },
    { "--config", CLI_STR, CLI_TA(config), .arg = "C", .help = "the training-time compression config" },
    CLI_TRAIN_OPTIONS,
    { "--no-test", CLI_FLAG, CLI_TA(no_test), .help = "evaluate --out on val only at the end" },
    { "--threads", CLI_COMMON, .arg = "T", .help = "threads (default: all cores)" },
    { "--json", CLI_COMMON, .help = "print a one-line JSON summary last" },
};

static const struct cli_command finetune_command = {
    "usage: rn50-tune finetune --model M [--weights W] --config C.yaml --out OUT.safetensors\n"
    "                          [--epochs E] [--data D] [--batch B] [--lr LR] [--warmup EPOCHS]\n"
    "                          [--momentum MU] [--weight-decay WD] [--label-smoothing S] [--crop-pad P]\n"
    "                          [--no-flip] [--seed N] [--train-limit N] [--val-limit N] [--max-steps N]\n"
    "                          [--checkpoint C] [--resume C] [--no-test] [--threads T] [--json]\n"
    "\n"
    "Fine-tunes the model while compressing it as the config says: `palettization` with\n"
    "`algorithm: dkm` (differentiable k-means: n_bits, granularity, group_size, palett_tau,\n"
    "kmeans_max_iter, milestone, weight_threshold) and/or `pruning` with a `scheduler`\n"
    "({update_steps: [..] or \"range(begin, end, step)\", power: 3}, initial_sparsity,\n"
    "target_sparsity). After every epoch the finalized model (hard assignment, exact masks) is\n"
    "evaluated on the `val` split; the best is written to --out in the compressed format. At the end\n"
    "--out is evaluated on val and test (unless --no-test). Ctrl-C checkpoints; --resume continues.\n"
    "\n",
    finetune_options, (int)(sizeof finetune_options / sizeof *finetune_options),
    "\n"
    "example: rn50-tune finetune --model rn50-fmnist --config configs/compress/dkm-2bit.yaml --epochs 3 --out dkm2.safetensors\n",
    21,
};

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;   /* Linux: kilobytes */
}

/* Top-1 of the compressed file at `path` on a split, as `rn50-tune eval` computes it. */
static int eval_file(const char *path, const char *data, const char *split, int64_t limit, double *top1)
{
    struct resnet *net = NULL;
    struct dataset ds;
    memset(&ds, 0, sizeof ds);
    int rc = format_load(path, &net, NULL);
    if (!rc) rc = dataset_load(data, split, limit, &ds);
    if (!rc) {
        /* train_evaluate refolds from the parameters; a loaded compressed network has its decoded
         * weights only in the folded arrays, so evaluate it directly. */
        const int batch = ds.n < 250 ? (int)ds.n : 250;
        struct resnet_infer *ws = NULL;
        float *logits = malloc(sizeof(float) * batch * net->cfg.n_classes);
        float *xb = ds.images ? NULL : malloc(sizeof(float) * batch * (size_t)dataset_image_floats(&ds));   /* [batch, C, H, W] */
        if (!logits || (!ds.images && !xb) || (rc = resnet_infer_alloc(net, batch, &ws))) {
            if (!rc) rc = status_error(STATUS_NOMEM, "out of memory");
        } else {
            int64_t correct = 0;
            const int K = net->cfg.n_classes;
            for (int64_t i = 0; i < ds.n; i += batch) {
                const int n = (int)(ds.n - i < batch ? ds.n - i : batch);
                resnet_infer(ws, dataset_batch_ptr(&ds, i, n, xb), n, logits);
                for (int q = 0; q < n; q++) {
                    int best = 0;
                    for (int c = 1; c < K; c++)
                        if (logits[q * K + c] > logits[q * K + best]) best = c;
                    correct += best == ds.labels[i + q];
                }
            }
            *top1 = 100.0 * (double)correct / (double)ds.n;
        }
        resnet_infer_free(ws);
        free(logits);
        free(xb);
    }
    dataset_free(&ds);
    if (net) model_unload(net);
    return rc;
}

int cmd_finetune(int argc, char **argv)
{
    struct cli_train_args ta;
    cli_train_args_init(&ta);
    /* Fine-tuning starts from trained weights: fewer epochs, a tenth of the learning rate, a short
     * warm-up (--help shows these as the defaults). */
    ta.o.epochs = 3;
    ta.o.lr = 0.01;
    ta.o.warmup_epochs = 0.1;
    int rc = STATUS_OK;
    struct cli_common cm = { 0 };
    if (cli_parse(&finetune_command, argc, argv, &ta, &cm, &rc)) return 0;
    char ckpt[4096];
    cli_train_args_finish(&ta, ckpt, sizeof ckpt);
    struct train_opts o = ta.o;
    const char *config = ta.config, *data = ta.data;
    const int no_test = ta.no_test;
    if (!rc && !cm.model) rc = status_error(STATUS_BAD_INPUT, "--model: required (see rn50-tune finetune --help)");
    if (!rc && !config) rc = status_error(STATUS_BAD_INPUT, "--config: required (see rn50-tune finetune --help)");
    if (!rc && !o.out) rc = status_error(STATUS_BAD_INPUT, "--out: required (see rn50-tune finetune --help)");
    if (rc) return cli_fail(rc);

    const int threads = ops_set_threads(cm.threads);
    struct resnet *net = NULL;
    struct dataset train, val;
    memset(&train, 0, sizeof train);
    memset(&val, 0, sizeof val);
    struct compress_plan plan;
    memset(&plan, 0, sizeof plan);
    struct finetune *ft = NULL;
    struct strbuf config_text = { 0 };
    const char *weights_used = NULL;
    struct train_result res;
    memset(&res, 0, sizeof res);
    double top1_val = -1, top1_test = -1;
    if (cm.weights && format_is_compressed(cm.weights)) {
        rc = status_error(STATUS_BAD_INPUT, "--weights %s: a compressed file; finetune starts from trained torchvision weights",
                          cm.weights);
        goto done;
    }
    if ((rc = model_load(cm.model, cm.weights, 1, &net, &weights_used))) goto done;
    if ((rc = compress_config_load(config, net, &plan))) goto done;
    /* The config as written travels into the output file; read once more, and a failure (the file
     * removed meanwhile) is an error rather than a file without it. */
    if ((rc = file_read_all(config, &config_text))) goto done;
    if ((rc = finetune_alloc(net, &plan, config_text.p ? config_text.p : "", &ft))) goto done;
    o.hooks = finetune_hooks(ft);
    if ((rc = cli_train_data_load(data, &o, &train, &val))) goto done;
    fprintf(stderr, "finetune: %s from %s with %s on %s (%lld images), val %s (%lld), %d epochs, batch %d, lr %g, seed %llu, %d threads\n",
            net->cfg.name, weights_used, config, train.name, (long long)train.n, val.name, (long long)val.n, o.epochs, o.batch,
            o.lr, (unsigned long long)o.seed, threads);
    if ((rc = train_run(net, &train, &val, &o, &res))) goto done;
    struct finetune_stats st;
    finetune_get_stats(ft, &st);
    if (!res.interrupted && res.best_epoch >= 1) {
        if ((rc = eval_file(o.out, data, "val", o.val_limit, &top1_val))) goto done;
        if (!no_test && (rc = eval_file(o.out, data, "test", 0, &top1_test))) goto done;
    }
    const double rss = peak_rss_mb();
    printf("finetune: %d epochs, %lld steps, best val top-1 %.2f %% (epoch %d), %.1f min%s; %s: %zu bytes, val %.2f %%, "
           "test %.2f %%, sparsity %.4f, at most %d values per LUT, peak RSS %.0f MB\n",
           res.epochs_done, (long long)res.steps, res.best_val_top1, res.best_epoch, res.seconds / 60,
           res.interrupted ? " (interrupted)" : "", o.out, st.bytes, top1_val, top1_test, st.sparsity, st.max_distinct, rss);
    if (cm.json) {
        struct jout j;
        jout_begin(&j, stdout);
        jout_str(&j, "command", "finetune");
        jout_str(&j, "model", net->cfg.name);
        jout_str(&j, "config", config);
        jout_str(&j, "out", o.out);
        jout_str(&j, "checkpoint", o.checkpoint);
        jout_int(&j, "epochs_done", res.epochs_done);
        jout_int(&j, "steps", res.steps);
        jout_num(&j, "best_val_top1", res.best_val_top1);
        jout_int(&j, "best_epoch", res.best_epoch);
        jout_num(&j, "top1_val", top1_val);
        jout_num(&j, "top1_test", top1_test);
        jout_int(&j, "bytes", (int64_t)st.bytes);
        jout_num(&j, "sparsity", st.sparsity);
        jout_int(&j, "max_lut_values", st.max_distinct);
        jout_num(&j, "seconds", res.seconds);
        jout_num(&j, "images_per_s", res.images_per_s);
        jout_num(&j, "peak_rss_mb", rss);
        jout_int(&j, "attention_floats", st.attention_floats);
        jout_int(&j, "interrupted", res.interrupted);
        jout_int(&j, "threads", threads);
        jout_end(&j);
    }
    if (res.interrupted) rc = status_error(STATUS_IO, "interrupted; resume with --resume %s", o.checkpoint);
done:
    finetune_free(ft);
    free(config_text.p);
    compress_plan_free(&plan);
    dataset_free(&train);
    dataset_free(&val);
    if (net) model_unload(net);
    return rc ? cli_fail(rc) : 0;
}
