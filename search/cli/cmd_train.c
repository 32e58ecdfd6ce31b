/* cmd_train.c — `rn50-tune train`: trains a model on a dataset (the `train` split), choosing the
 * weights by the `val` split, with checkpoints and resume. */
#include "cli.h"
#include "data.h"
#include "safetensors.h"
#include "status.h"
#include "train.h"
#include "model_load.h"

#include <stdlib.h>
#include <string.h>

static const char train_usage[] =
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
    "\n"
    "  --model M          resnet18|34|50|101|152, rn50-fmnist, or a YAML model file\n"
    "  --data D           fmnist (default) or npy:IMAGES.npy,LABELS.npy (then val = the same file)\n"
    "  --epochs E         default 8          --batch B          default 128\n"
    "  --lr LR            peak, default 0.1  --warmup EPOCHS    default 0.5\n"
    "  --momentum MU      default 0.9        --weight-decay WD  default 5e-4 (conv and fc weights)\n"
    "  --label-smoothing  default 0.1        --crop-pad P       default 2 (0: no crops)\n"
    "  --seed N           default 1          --max-steps N      stop after N steps (checkpointed)\n"
    "  --checkpoint C     default: OUT with .ckpt.safetensors\n"
    "\n"
    "example: rn50-tune train --model rn50-fmnist --data fmnist --epochs 10 --out rn50-fmnist.safetensors\n";

int cmd_train(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *data = "fmnist", *v;
    struct train_opts o;
    train_opts_default(&o);
    int threads = 0, json = 0, rc = STATUS_OK;
    double d;
    int64_t i64;
    struct cli_common cm = { 0 };
    struct cli_args a = cli_args_init(argc, argv);
    while (!rc && cli_next(&a)) {
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) { fputs(train_usage, stdout); return 0; }
        else if (cli_is(&a, "--data")) rc = cli_value(&a, &data);
        else if (cli_is(&a, "--out")) rc = cli_value(&a, &o.out);
        else if (cli_is(&a, "--checkpoint")) rc = cli_value(&a, &o.checkpoint);
        else if (cli_is(&a, "--resume")) rc = cli_value(&a, &o.resume);
        else if (cli_is(&a, "--epochs")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--epochs", v, 1, 10000, &o.epochs); }
        else if (cli_is(&a, "--batch")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--batch", v, 1, 65536, &o.batch); }
        else if (cli_is(&a, "--lr")) { if (!(rc = cli_value(&a, &v))) rc = cli_double("--lr", v, 0, 100, &o.lr); }
        else if (cli_is(&a, "--warmup")) { if (!(rc = cli_value(&a, &v))) rc = cli_double("--warmup", v, 0, 10000, &o.warmup_epochs); }
        else if (cli_is(&a, "--momentum")) { if (!(rc = cli_value(&a, &v))) rc = cli_double("--momentum", v, 0, 0.999, &o.momentum); }
        else if (cli_is(&a, "--weight-decay")) { if (!(rc = cli_value(&a, &v))) rc = cli_double("--weight-decay", v, 0, 1, &o.weight_decay); }
        else if (cli_is(&a, "--label-smoothing")) { if (!(rc = cli_value(&a, &v)) && !(rc = cli_double("--label-smoothing", v, 0, 0.999, &d))) o.label_smoothing = (float)d; }
        else if (cli_is(&a, "--crop-pad")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--crop-pad", v, 0, 64, &o.crop_pad); }
        else if (cli_is(&a, "--no-flip")) o.flip = 0;
        else if (cli_is(&a, "--no-nesterov")) o.nesterov = 0;
        else if (cli_is(&a, "--seed")) { if (!(rc = cli_value(&a, &v)) && !(rc = cli_int64("--seed", v, 0, INT64_MAX, &i64))) o.seed = (uint64_t)i64; }
        else if (cli_is(&a, "--train-limit")) { if (!(rc = cli_value(&a, &v))) rc = cli_int64("--train-limit", v, 1, INT64_MAX, &o.train_limit); }
        else if (cli_is(&a, "--val-limit")) { if (!(rc = cli_value(&a, &v))) rc = cli_int64("--val-limit", v, 1, INT64_MAX, &o.val_limit); }
        else if (cli_is(&a, "--max-steps")) { if (!(rc = cli_value(&a, &v))) rc = cli_int64("--max-steps", v, 1, INT64_MAX, &o.max_steps); }
        else if (!cli_common_option(&a, &cm, &rc)) rc = cli_unknown(&a);
    }
    model = cm.model;
    weights = cm.weights;
    threads = cm.threads;
    json = cm.json;
    if (!rc && !model) rc = status_error(STATUS_BAD_INPUT, "--model: required (see rn50-tune train --help)");
    if (!rc && !o.out) rc = status_error(STATUS_BAD_INPUT, "--out: required (see rn50-tune train --help)");
    if (rc) return cli_fail(rc);

    char ckpt[4096];
    if (!o.checkpoint) {
        size_t n = strlen(o.out);
        const char *ext = ".safetensors";
        if (n > strlen(ext) && strcmp(o.out + n - strlen(ext), ext) == 0) n -= strlen(ext);
        snprintf(ckpt, sizeof ckpt, "%.*s.ckpt.safetensors", (int)n, o.out);
        o.checkpoint = ckpt;
    }
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
    if ((rc = dataset_load(data, "train", o.train_limit, &train)) || (rc = dataset_load(data, "val", o.val_limit, &val))) {
        if (rc == STATUS_BAD_INPUT) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", status_message());
            rc = status_error(rc, "--data %s: %s", data, msg);
        }
        goto done;
    }
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
