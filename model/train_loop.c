/* train_loop.c — the training loop: shuffled epochs with random-crop and flip augmentation, linear
 * warm-up then cosine learning rate, validation after every epoch keeping the best weights,
 * checkpoints (weights + momentum + position) every epoch and on SIGINT, and resume.
 *
 * Everything random is derived from (seed, epoch, batch), so a resumed run sees exactly the
 * batches the uninterrupted run would have seen. With train_hooks (training-time compression),
 * the hooks' state travels in the checkpoint too, validation runs on the finalized weights and
 * the best output is written by the hooks. */
#include "train.h"
#include "clock.h"

#include "rng.h"
#include "safetensors.h"
#include "status.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t train_interrupted;

static void train_on_sigint(int sig)
{
    (void)sig;
    train_interrupted = 1;
}


void train_opts_default(struct train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 8;
    o->batch = 128;
    o->lr = 0.1;
    o->warmup_epochs = 0.5;
    o->momentum = 0.9;
    o->weight_decay = 5e-4;
    o->nesterov = 1;
    o->label_smoothing = 0.1f;
    o->crop_pad = 2;
    o->flip = 1;
    o->seed = 1;
}

static double lr_at(const struct train_opts *o, int64_t step, int64_t total, int64_t warmup)
{
    if (step < warmup) return o->lr * (0.1 + 0.9 * (double)step / (double)warmup);
    const double p = total > warmup ? (double)(step - warmup) / (double)(total - warmup) : 1.0;
    return o->lr * 0.5 * (1.0 + cos(3.141592653589793 * p));
}

int train_evaluate(struct resnet *net, const struct dataset *d, int batch, double *top1)
{
    resnet_fold(net);
    if (batch > d->n) batch = (int)d->n;
    struct resnet_infer *ws = NULL;
    int rc = resnet_infer_alloc(net, batch, &ws);
    if (rc) return rc;
    const int K = net->cfg.n_classes;
    float *logits = malloc(sizeof(float) * batch * K);
    float *xb = d->images ? NULL : malloc(sizeof(float) * batch * (size_t)dataset_image_floats(d));   /* [batch, C, H, W] */
    if (!logits || (!d->images && !xb)) {
        free(logits);
        free(xb);
        resnet_infer_free(ws);
        return status_error(STATUS_NOMEM, "out of memory");
    }
    int64_t correct = 0;
    for (int64_t i = 0; i < d->n; i += batch) {
        const int n = (int)(d->n - i < batch ? d->n - i : batch);
        resnet_infer(ws, dataset_batch_ptr(d, i, n, xb), n, logits);
        for (int k = 0; k < n; k++) {
            const float *row = logits + (int64_t)k * K;
            int best = 0;
            for (int c = 1; c < K; c++)
                if (row[c] > row[best]) best = c;
            correct += best == d->labels[i + k];
        }
    }
    *top1 = 100.0 * (double)correct / (double)d->n;
    free(logits);
    free(xb);
    resnet_infer_free(ws);
    return STATUS_OK;
}

/* Copies image `src` [C, H, W] to `dst`, shifted by (dy, dx) with `fill` outside, optionally
 * mirrored left-right. */
static void augment_image(const float *src, int C, int H, int W, int dy, int dx, int flip, float fill, float *dst)
{
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const int sy = y + dy, sx0 = x + dx, sx = flip ? W - 1 - sx0 : sx0;
                dst[((int64_t)c * H + y) * W + x] =
                    (sy >= 0 && sy < H && sx0 >= 0 && sx0 < W) ? src[((int64_t)c * H + sy) * W + sx] : fill;
            }
}

/* ---- checkpoints ---- */

static int checkpoint_save(const struct resnet *net, struct trainer *t, const char *path, int epoch, int64_t batch_in_epoch,
                           int64_t steps, const struct train_opts *o, double best_val, int best_epoch)
{
    struct st_writer *w = st_writer_alloc();
    if (!w) return status_error(STATUS_NOMEM, "out of memory writing %s", path);
    int rc = STATUS_OK;
    char name[128], val[64];
    for (int i = 0; i < net->n_param && !rc; i++) {
        const struct resnet_param *p = &net->param[i];
        rc = st_writer_add(w, p->name, ST_F32, p->ndim, p->shape, resnet_param_data(net, i));
        if (!rc && p->trainable) {
            snprintf(name, sizeof name, "optimizer.momentum.%s", p->name);
            rc = st_writer_add(w, name, ST_F32, p->ndim, p->shape, trainer_momentum(t) + p->offset);
        }
    }
#define META(key, fmt, v) do { if (!rc) { snprintf(val, sizeof val, fmt, v); rc = st_writer_set_metadata(w, key, val); } } while (0)
    META("format", "%s", "rn50-tune checkpoint");
    META("model", "%s", net->cfg.name);
    META("epoch", "%d", epoch);
    META("batch_in_epoch", "%lld", (long long)batch_in_epoch);
    META("steps", "%lld", (long long)steps);
    META("seed", "%llu", (unsigned long long)o->seed);
    META("best_val_top1", "%.17g", best_val);
    META("best_epoch", "%d", best_epoch);
#undef META
    if (!rc && o->hooks && o->hooks->n_state > 0)
        rc = st_writer_add(w, "finetune.state", ST_F32, 1, (int64_t[]){ o->hooks->n_state }, o->hooks->state);
    if (!rc) rc = st_writer_save(w, path);
    st_writer_free(w);
    return rc;
}

static int meta_int64(const struct st_file *f, const char *path, const char *key, int64_t min, int64_t *out)
{
    const char *s = safetensors_metadata(f, key);
    char *end;
    if (!s) return status_error(STATUS_BAD_INPUT, "%s: not an rn50-tune checkpoint (no '%s' in __metadata__)", path, key);
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min)
        return status_error(STATUS_BAD_INPUT, "%s: __metadata__ '%s' = '%s', expected an integer >= %lld", path, key, s,
                            (long long)min);
    *out = v;
    return STATUS_OK;
}

static int checkpoint_load(struct resnet *net, struct trainer *t, const char *path, const struct train_hooks *h,
                           int64_t *epoch, int64_t *batch_in_epoch, int64_t *steps, double *best_val, int64_t *best_epoch)
{
    struct st_file *f = NULL;
    int rc = safetensors_read(path, &f);
    if (rc) return rc;
    const char *fmt = safetensors_metadata(f, "format");
    if (!fmt || strcmp(fmt, "rn50-tune checkpoint") != 0) {
        rc = status_error(STATUS_BAD_INPUT, "%s: not an rn50-tune checkpoint (metadata 'format' missing)", path);
        goto done;
    }
    const char *model = safetensors_metadata(f, "model");
    if (!model || strcmp(model, net->cfg.name) != 0) {
        rc = status_error(STATUS_BAD_INPUT, "%s: checkpoint of model '%s', expected '%s'", path, model ? model : "?",
                          net->cfg.name);
        goto done;
    }
    /* best_epoch is -1 until a first epoch has been validated. */
    if ((rc = meta_int64(f, path, "epoch", 0, epoch)) || (rc = meta_int64(f, path, "batch_in_epoch", 0, batch_in_epoch)) ||
        (rc = meta_int64(f, path, "steps", 0, steps)) || (rc = meta_int64(f, path, "best_epoch", -1, best_epoch)))
        goto done;
    const char *bv = safetensors_metadata(f, "best_val_top1");
    *best_val = bv ? strtod(bv, NULL) : -1.0;
    char name[128];
    for (int i = 0; i < net->n_param && !rc; i++) {
        const struct resnet_param *p = &net->param[i];
        for (int m = 0; m < 1 + p->trainable && !rc; m++) {
            if (m) snprintf(name, sizeof name, "optimizer.momentum.%s", p->name);
            const struct st_tensor *st = safetensors_find(f, m ? name : p->name);
            if (!st || st->numel != p->numel) {
                rc = status_error(STATUS_BAD_INPUT, "%s: tensor '%s' missing or of the wrong size", path, m ? name : p->name);
                break;
            }
            rc = st_tensor_to_f32(f, st, m ? trainer_momentum(t) + p->offset : resnet_param_data(net, i));
        }
    }
    if (!rc && h && h->n_state > 0) {
        const struct st_tensor *st = safetensors_find(f, "finetune.state");
        if (!st || st->numel != h->n_state)
            rc = status_error(STATUS_BAD_INPUT,
                              "%s: no fine-tuning state of %lld floats (a checkpoint of another config or of `train`?)",
                              path, (long long)h->n_state);
        else
            rc = st_tensor_to_f32(f, st, h->state);
    }
done:
    safetensors_free(f);
    return rc;
}

/* ---- the loop ---- */

int train_run(struct resnet *net, const struct dataset *train, const struct dataset *val, const struct train_opts *o,
              struct train_result *res)
{
    memset(res, 0, sizeof *res);
    res->best_val_top1 = -1.0;
    res->best_epoch = -1;
    const struct resnet_config *cfg = &net->cfg;
    if (train->C != cfg->in_channels || train->H != cfg->in_h || train->W != cfg->in_w)
        return status_error(STATUS_BAD_INPUT, "%s: images are [%d, %d, %d], model %s expects [%d, %d, %d]", train->name,
                            train->C, train->H, train->W, cfg->name, cfg->in_channels, cfg->in_h, cfg->in_w);
    int batch = o->batch;
    if (batch > train->n) batch = (int)train->n;
    const int64_t per = (int64_t)train->C * train->H * train->W;
    const int64_t steps_per_epoch = train->n / batch;   /* the last partial batch is dropped */
    const int64_t total_steps = steps_per_epoch * o->epochs;
    const int64_t warmup = (int64_t)(o->warmup_epochs * steps_per_epoch);
    const float fill = strncmp(train->name, "fmnist", 6) == 0 ? DATA_FMNIST_BLACK : 0.0f;

    struct trainer *t = NULL;
    int rc = trainer_alloc(net, batch, &t);
    if (rc) return rc;
    if (o->hooks && (rc = trainer_set_hooks(t, o->hooks))) {
        trainer_free(t);
        return rc;
    }
    float *xb = malloc(sizeof(float) * per * batch);
    float *one = train->images ? NULL : malloc(sizeof(float) * per);   /* [C, H, W] an image read from a folder's cache */
    int64_t *yb = malloc(sizeof(int64_t) * batch), *perm = malloc(sizeof(int64_t) * train->n);
    if (!xb || !yb || !perm || (!train->images && !one)) {
        rc = status_error(STATUS_NOMEM, "out of memory for training batches");
        goto done;
    }
    int64_t start_epoch = 0, start_batch = 0, steps = 0, best_epoch = -1;
    double best_val = -1.0;
    if (o->resume) {
        if ((rc = checkpoint_load(net, t, o->resume, o->hooks, &start_epoch, &start_batch, &steps, &best_val, &best_epoch))) goto done;
        if (!o->quiet)
            fprintf(stderr, "train: resumed from %s at epoch %lld, batch %lld (step %lld)\n", o->resume,
                    (long long)start_epoch + 1, (long long)start_batch, (long long)steps);
    }
    res->best_val_top1 = best_val;
    res->best_epoch = (int)best_epoch;

    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = train_on_sigint;
    sigemptyset(&sa.sa_mask);
    train_interrupted = 0;
    sigaction(SIGINT, &sa, &old_sa);

    const double t_start = clock_now_s();
    int64_t images_done = 0;
    for (int64_t epoch = start_epoch; epoch < o->epochs && !rc; epoch++) {
        /* This epoch's order: Fisher-Yates from a generator seeded by (seed, epoch). */
        struct rng r;
        rng_seed(&r, o->seed * 1000003u + (uint64_t)epoch);
        for (int64_t i = 0; i < train->n; i++) perm[i] = i;
        for (int64_t i = train->n - 1; i > 0; i--) {
            const int64_t j = (int64_t)rng_below(&r, (uint64_t)i + 1);
            const int64_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        double loss_sum = 0;
        int64_t correct = 0, seen = 0;
        const double t_epoch = clock_now_s();
        double t_progress = t_epoch;
        int64_t b = epoch == start_epoch ? start_batch : 0;
        for (; b < steps_per_epoch; b++) {
            if (train_interrupted || (o->max_steps && steps >= o->max_steps)) break;
            struct rng ra;
            rng_seed(&ra, (o->seed * 1000003u + (uint64_t)epoch) * 1000003u + (uint64_t)b + 17);
            for (int k = 0; k < batch; k++) {
                const int64_t idx = perm[b * batch + k];
                const int dy = o->crop_pad ? (int)rng_below(&ra, 2 * o->crop_pad + 1) - o->crop_pad : 0;
                const int dx = o->crop_pad ? (int)rng_below(&ra, 2 * o->crop_pad + 1) - o->crop_pad : 0;
                const int flip = o->flip ? (int)rng_below(&ra, 2) : 0;
                yb[k] = train->labels[idx];
                if (dataset_augments(train)) {
                    /* An image folder: torchvision's RandomResizedCrop + flip on the decoded file. */
                    if ((rc = dataset_train_image(train, idx, rng_next(&ra), xb + k * per))) break;
                    continue;
                }
                const float *src = dataset_batch_ptr(train, idx, 1, one);
                augment_image(src, train->C, train->H, train->W, dy, dx, flip, fill, xb + k * per);
            }
            if (rc) break;
            struct sgd_opts so = { .lr = lr_at(o, steps, total_steps, warmup), .momentum = o->momentum,
                                   .weight_decay = o->weight_decay, .nesterov = o->nesterov };
            if (o->hooks && o->hooks->step_begin && (rc = o->hooks->step_begin(o->hooks->ctx, t, steps))) break;
            const double loss = trainer_step(t, xb, yb, batch, o->label_smoothing, &correct);
            trainer_sgd(t, &so);
            if (o->hooks && o->hooks->after_update) o->hooks->after_update(o->hooks->ctx, t);
            if (res->first_loss == 0) res->first_loss = loss;
            res->last_loss = loss;
            loss_sum += loss * batch;
            seen += batch;
            steps++;
            images_done += batch;
            const double now = clock_now_s();
            if (!o->quiet && now - t_progress > 15.0) {
                const double ips = seen / (now - t_epoch);
                const double eta = ((double)(total_steps - steps) * batch) / ips;
                fprintf(stderr, "train: epoch %lld/%d  batch %lld/%lld  loss %.4f  train top-1 %.2f %%  lr %.4f  %.0f images/s  ETA %.0f min\n",
                        (long long)epoch + 1, o->epochs, (long long)b + 1, (long long)steps_per_epoch, loss_sum / seen,
                        100.0 * correct / seen, so.lr, ips, eta / 60);
                t_progress = now;
            }
        }
        const double ips = seen ? seen / (clock_now_s() - t_epoch) : 0;
        res->last_train_top1 = seen ? 100.0 * correct / seen : 0;
        if (rc) break;
        if (train_interrupted || b < steps_per_epoch) {
            /* Stopped mid-epoch (Ctrl-C or max_steps): keep the exact position. */
            if (o->checkpoint) rc = checkpoint_save(net, t, o->checkpoint, (int)epoch, b, steps, o, best_val, (int)best_epoch);
            if (!rc && train_interrupted && !o->quiet)
                fprintf(stderr, "train: interrupted at epoch %lld, batch %lld; checkpoint %s\n", (long long)epoch + 1,
                        (long long)b, o->checkpoint ? o->checkpoint : "(none: pass --checkpoint)");
            res->interrupted = train_interrupted != 0;
            res->epochs_done = (int)epoch;
            break;
        }
        double vtop1 = -1;
        const struct train_hooks *h = o->hooks;
        if (h && h->eval_begin && (rc = h->eval_begin(h->ctx))) break;
        if (val && val->n > 0) rc = train_evaluate(net, val, 250, &vtop1);
        const int eligible = !h || steps >= h->min_best_step || (epoch + 1 == o->epochs && best_epoch < 0);
        if (!rc && eligible && vtop1 > best_val) {
            best_val = vtop1;
            best_epoch = epoch + 1;
            if (o->out) {
                char meta[128];
                snprintf(meta, sizeof meta, "epoch %lld, val top-1 %.2f, seed %llu", (long long)epoch + 1, vtop1,
                         (unsigned long long)o->seed);
                rc = h && h->save_best ? h->save_best(h->ctx, o->out, meta)
                                       : resnet_save_weights(net, o->out, ST_F16, "rn50-tune", meta);
            }
        }
        if (h && h->eval_end) h->eval_end(h->ctx);
        if (rc) break;
        if (o->checkpoint && (rc = checkpoint_save(net, t, o->checkpoint, (int)epoch + 1, 0, steps, o, best_val, (int)best_epoch)))
            break;
        res->epochs_done = (int)epoch + 1;
        if (!o->quiet)
            fprintf(stderr, "train: epoch %lld/%d done: loss %.4f  train top-1 %.2f %%  val top-1 %.2f %%  %.0f images/s  %.1f s%s\n",
                    (long long)epoch + 1, o->epochs, seen ? loss_sum / seen : 0, res->last_train_top1, vtop1, ips,
                    clock_now_s() - t_epoch, best_epoch == epoch + 1 ? "  (best)" : "");
    }
    sigaction(SIGINT, &old_sa, NULL);
    res->steps = steps;
    res->best_val_top1 = best_val;
    res->best_epoch = (int)best_epoch;
    res->seconds = clock_now_s() - t_start;
    res->images_per_s = res->seconds > 0 ? images_done / res->seconds : 0;
done:
    free(xb);
    free(one);
    free(yb);
    free(perm);
    trainer_free(t);
    resnet_fold(net);
    return rc;
}
