/* cmd_train.c — `rn50-tune train`: trains a model on a dataset (the `train` split), choosing the
 * weights by the `val` split, with checkpoints and resume. */
#include "cli.h"
#include "data.h"
#include "safetensors.h"
#include "status.h"
#include "train.h"
#include "model_load.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const struct cli_option train_options[] = {
    { "--model", CLI_COMMON, .arg = "M", .help = "resnet18|34|50|101|152, rn50-fmnist, or a YAML model file" },
    { "--weights", CLI_COMMON, .arg = "INIT", .help = "start from these weights (default: torchvision's initialisation)" },
    CLI_TRAIN_OPTIONS,
    { "--no-nesterov", CLI_SET, CLI_TA(o.nesterov), .min = 0, .help = "plain momentum instead of Nesterov's" },
    { "--threads", CLI_COMMON, .arg = "T", .help = "threads (default: all cores)" },
    { "--json", CLI_COMMON, .help = "print a one-line JSON summary last" },
};

static const struct cli_command train_command = {
    "usage: rn50-tune train --model M --out W.safetensors [--data D] [--epochs E] [--batch B]\n"
    "                       [--lr LR] [--warmup EPOCHS] [--momentum MU] [--weight-decay WD]\n"
    "                       [--no-nesterov] [--label-smoothing S] [--crop-pad P] [--no-flip]\n"
    "                       [--seed N] [--train-limit N] [--val-limit N] [--max-steps N]\n"
    "                       [--weights INIT.safetensors] [--checkpoint C.safetensors] [--resume C]\n"
    "                       [--threads T] [--json]\n"
    "\n"
    "Trains with SGD (Nesterov momentum), linear warm-up then cosine learning rate, label\n"
    "smoothing, random crops after padding and horizontal flips, on the `train` split; after every\n"
    "epoch evaluates the `val` split and writes the best weights so far to --out (fp16\n"
    "safetensors, torchvision names). The checkpoint (weights, momentum, position) is written\n"
    "after every epoch and when interrupted with Ctrl-C; --resume continues from it exactly.\n"
    "\n",
    train_options, (int)(sizeof train_options / sizeof *train_options),
    "\n"
    "example: rn50-tune train --model rn50-fmnist --data fmnist --epochs 10 --out rn50-fmnist.safetensors\n",
    21,
};

int cmd_train(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL;
    int threads = 0, json = 0, rc = STATUS_OK;
    struct cli_train_args ta;
    cli_train_args_init(&ta);
    struct cli_common cm = { 0 };
    if (cli_parse(&train_command, argc, argv, &ta, &cm, &rc)) return 0;
    char ckpt[4096];
    cli_train_args_finish(&ta, ckpt, sizeof ckpt);
    struct train_opts o = ta.o;
    const char *data = ta.data;
    model = cm.model;
    weights = cm.weights;
    threads = cm.threads;
    json = cm.json;
    if (!rc && !model) rc = status_error(STATUS_BAD_INPUT, "--model: required (see rn50-tune train --help)");
    if (!rc && !o.out) rc = status_error(STATUS_BAD_INPUT, "--out: required (see rn50-tune train --help)");
    if (rc) return cli_fail(rc);

    threads = ops_set_threads(threads);
    struct resnet *net = NULL;
    struct dataset train, val;
    memset(&train, 0, sizeof train);
    memset(&val, 0, sizeof val);
    struct train_result res;
    const char *weights_used = NULL;
    /* Training starts from torchvision's initialisation unless --weights names a start. */
    if ((rc = model_load(model, weights ? weights : NULL, 1, &net, &weights_used))) goto done;
    if (!weights) {
        resnet_free(net);
        struct resnet_config cfg;
        if ((rc = resnet_config_load(model, &cfg)) || (rc = resnet_alloc(&cfg, o.seed, &net))) goto done;
        weights_used = "torchvision initialisation";
    }
    if ((rc = cli_train_data_load(data, &o, &train, &val))) goto done;
    fprintf(stderr, "train: %s from %s on %s (%lld images), val %s (%lld), %d epochs, batch %d, lr %g, seed %llu, %d threads\n",
            net->cfg.name, weights_used, train.name, (long long)train.n, val.name, (long long)val.n, o.epochs, o.batch, o.lr,
            (unsigned long long)o.seed, threads);
    if ((rc = train_run(net, &train, &val, &o, &res))) goto done;
    printf("train: %d epochs, %lld steps, best val top-1 %.2f %% (epoch %d), %.0f images/s, %.1f min%s; weights %s, checkpoint %s\n",
           res.epochs_done, (long long)res.steps, res.best_val_top1, res.best_epoch, res.images_per_s, res.seconds / 60,
           res.interrupted ? " (interrupted)" : "", o.out, o.checkpoint);
    if (json) {
        struct jout j;
        jout_begin(&j, stdout);
        jout_str(&j, "command", "train");
        jout_str(&j, "model", net->cfg.name);
        jout_str(&j, "out", o.out);
        jout_str(&j, "checkpoint", o.checkpoint);
        jout_int(&j, "epochs_done", res.epochs_done);
        jout_int(&j, "steps", res.steps);
        jout_num(&j, "best_val_top1", res.best_val_top1);
        jout_int(&j, "best_epoch", res.best_epoch);
        jout_num(&j, "first_loss", res.first_loss);
        jout_num(&j, "last_loss", res.last_loss);
        jout_num(&j, "images_per_s", res.images_per_s);
        jout_num(&j, "seconds", res.seconds);
        jout_int(&j, "interrupted", res.interrupted);
        jout_int(&j, "seed", (int64_t)o.seed);
        jout_int(&j, "threads", threads);
        jout_end(&j);
    }
    if (res.interrupted) rc = status_error(STATUS_IO, "interrupted; resume with --resume %s", o.checkpoint);
done:
    dataset_free(&train);
    dataset_free(&val);
    resnet_free(net);
    return rc ? cli_fail(rc) : 0;
}
