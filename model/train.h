/* train.h — training a ResNet: forward with batch-statistics BatchNorm, backward through every
 * layer, and SGD with momentum (train.c); the epoch loop with augmentation, the learning-rate
 * schedule, validation, checkpoints and resume (train_loop.c). */
#ifndef RN_TRAIN_H
#define RN_TRAIN_H

#include "data.h"
#include "resnet.h"

#include <stdint.h>

/* ---- one step (train.c) ---- */

struct trainer;   /* activations, gradients and optimiser state for one network and batch size */

int trainer_alloc(struct resnet *net, int batch, struct trainer **out);
void trainer_free(struct trainer *t);

/* Forward and backward on x [N, C, H, W] (NCHW, N <= batch) with labels [N]: fills the gradient
 * of the mean (label-smoothed) cross-entropy for every trainable parameter, updates the BN running
 * statistics (momentum 0.1), returns the mean loss, and counts correct top-1 into *correct. */
double trainer_step(struct trainer *t, const float *x, const int64_t *labels, int N, float smoothing, int64_t *correct);

/* The gradient buffer, in the layout of resnet.params (entries of buffers are zero). */
float *trainer_grad(struct trainer *t);
/* The momentum buffer, same layout (saved in checkpoints). */
float *trainer_momentum(struct trainer *t);

struct sgd_opts {
    double lr, momentum, weight_decay;
    int nesterov;
};
/* One SGD update of every trainable parameter from the current gradient; refolds nothing (call
 * resnet_fold before inference). Weight decay applies to conv and fc weights only, not to
 * BatchNorm parameters or biases. */
void trainer_sgd(struct trainer *t, const struct sgd_opts *o);

/* ---- training-time compression (compress/finetune.c implements these) ---- */

/* Layers are numbered as compression sees them: 0..n_conv-1 the convs (net->conv order, raw
 * unfolded weights [OC, IC*KH*KW]), n_conv the fc layer. Every member may be NULL. */
struct train_hooks {
    void *ctx;
    /* Training forward: fill w_used (same shape) from the raw weights w and return 1, or return 0
     * to train on w itself. Called for every layer at the start of each trainer_step. */
    int (*transform)(void *ctx, int layer, const float *w, float *w_used);
    /* Training backward, for the layers transform returned 1 for: grad holds dL/dw_used on entry
     * and must hold dL/dw on return. */
    void (*transform_backward)(void *ctx, int layer, const float *w, float *grad);
    /* Before training step `step` (0-based over the whole run, resumes included), and after its
     * SGD update (e.g. to recompute and apply pruning masks to weights and momentum). */
    int (*step_begin)(void *ctx, struct trainer *t, int64_t step);
    void (*after_update)(void *ctx, struct trainer *t);
    /* Around validation: put the weights finalize would give into the network (eval_begin), and
     * the raw ones back (eval_end). */
    int (*eval_begin)(void *ctx);
    void (*eval_end)(void *ctx);
    /* Writes the best-by-validation output instead of fp16 weights (called inside eval_begin/end). */
    int (*save_best)(void *ctx, const char *path, const char *note);
    /* State kept in checkpoints ("finetune.state", F32): n_state floats at `state`. */
    float *state;
    int64_t n_state;
    /* Validations before this many steps do not compete for the best output (a pruning schedule
     * or a DKM milestone not reached yet), except the last epoch's when none did. */
    int64_t min_best_step;
};

/* Makes trainer_step use h (NULL: none). Allocates the transformed-weights buffer. Returns
 * STATUS_OK or STATUS_NOMEM. h must outlive the trainer's use of it. */
int trainer_set_hooks(struct trainer *t, const struct train_hooks *h);

/* ---- the loop (train_loop.c) ---- */

struct train_opts {
    int epochs;
    int batch;
    double lr;              /* peak learning rate */
    double warmup_epochs;   /* linear warm-up from lr/10, then cosine to 0 */
    double momentum, weight_decay;
    int nesterov;
    float label_smoothing;
    int crop_pad;           /* random crop after padding by this many pixels (0: off) */
    int flip;               /* random horizontal flip */
    uint64_t seed;
    int64_t train_limit, val_limit;   /* use the first N images of each split (0: all) */
    int64_t max_steps;      /* stop after this many steps in all (0: no limit), for smoke tests */
    const char *out;        /* best-by-validation weights (F16 safetensors) */
    const char *checkpoint; /* weights + momentum + position, written every epoch and on SIGINT */
    const char *resume;     /* checkpoint to continue from (NULL: start) */
    int quiet;
    const struct train_hooks *hooks;   /* training-time compression, or NULL */
};

void train_opts_default(struct train_opts *o);

struct train_result {
    int epochs_done;
    int64_t steps;
    double best_val_top1;
    int best_epoch;
    /* The first and last mini-batch loss of this call (augmented, label-smoothed): one batch
     * each, so noisy, and a resumed call starts from its first step after the checkpoint. */
    double last_loss, first_loss;
    double last_train_top1;
    double images_per_s;
    double seconds;
    int interrupted;
};

/* Trains `net` on `train` data, validating on `val` after every epoch. Progress goes to stderr.
 * On SIGINT the current position is checkpointed and the function returns with interrupted = 1. */
int train_run(struct resnet *net, const struct dataset *train, const struct dataset *val, const struct train_opts *o,
              struct train_result *res);

/* Top-1 accuracy (percent) of net (folded) on a dataset, in batches of `batch`. */
int train_evaluate(struct resnet *net, const struct dataset *d, int batch, double *top1);

#endif
