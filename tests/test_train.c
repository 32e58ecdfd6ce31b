/* test_train.c — the training engine as a whole: central finite differences of the loss of a
 * whole small network against trainer_step's gradients (both stems, both block kinds), the
 * SGD update by hand, and a short training smoke run on Fashion-MNIST (loss falls, accuracy rises
 * above chance) with checkpoint and resume. */
#include "check.h"
#include "rng.h"
#include "status.h"
#include "train.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEED 99
/* Directional finite differences of a float32 network: relative error allowed. */
#define TOL_FD 2e-2
/* Loss changes below this are float32 rounding noise of the forward pass (loss ~1.6). */
#define TOL_FD_ABS 5e-6
#ifndef GC_STEP
#define GC_STEP 1e-4   /* relative step: at 1e-2 and 1e-3 ReLU kinks and small-batch BN make the loss visibly nonlinear */
#endif

static double loss_of(struct trainer *t, const float *x, const int64_t *y, int N)
{
    return trainer_step(t, x, y, N, 0.1f, NULL);
}

static void gradcheck(const char *model, int width, int block_layers, int H)
{
    struct resnet_config cfg;
    CHECK(resnet_config_load(model, &cfg) == STATUS_OK);
    cfg.width = width;
    for (int s = 0; s < 4; s++) cfg.layers[s] = block_layers;
    cfg.in_h = cfg.in_w = H;
    cfg.n_classes = 5;
    struct resnet *net = NULL;
    struct trainer *t = NULL;
    CHECK(resnet_alloc(&cfg, SEED, &net) == STATUS_OK);
    const int N = 8;
    CHECK(trainer_alloc(net, N, &t) == STATUS_OK);
    if (!net || !t) return;
    struct rng r;
    rng_seed(&r, SEED);
    /* Random BN scales and shifts so that no layer is at its initial symmetric point. */
    for (int i = 0; i < net->n_conv; i++)
        for (int c = 0; c < net->conv[i].d.OC; c++) {
            resnet_param_data(net, net->conv[i].gamma)[c] = (float)(0.5 + rng_uniform(&r));
            resnet_param_data(net, net->conv[i].beta)[c] = (float)(0.2 * rng_normal(&r));
        }
    const int64_t per = (int64_t)cfg.in_channels * H * H;
    float *x = malloc(sizeof(float) * N * per);
    int64_t y[8];
    for (int64_t i = 0; i < N * per; i++) x[i] = (float)rng_normal(&r);
    for (int n = 0; n < N; n++) y[n] = (int64_t)rng_below(&r, 5);
    loss_of(t, x, y, N);
    float *g = malloc(sizeof(float) * net->n_floats);
    memcpy(g, trainer_grad(t), sizeof(float) * net->n_floats);

    /* Directional derivatives, one per trainable tensor: move the whole tensor along a random
     * direction d and compare (L(w + d) - L(w - d)) / 2 with g . d. Probing single entries of a
     * float32 network drowns in ReLU kinks and rounding; a whole tensor moves the loss enough to
     * measure while staying in the linear regime. */
    int checked = 0, bad = 0;
    float *dir = malloc(sizeof(float) * net->n_floats);
    for (int p = 0; p < net->n_param; p++) {
        const struct resnet_param *par = &net->param[p];
        if (!par->trainable) continue;
        float *w = net->params + par->offset;
        double wn = 0, dn = 0, an = 0;
        for (int64_t k = 0; k < par->numel; k++) {
            dir[k] = (float)rng_normal(&r);
            wn += (double)w[k] * w[k];
            dn += (double)dir[k] * dir[k];
        }
        const double h = GC_STEP * fmax(sqrt(wn), 0.1 * sqrt((double)par->numel)) / sqrt(dn);
        for (int64_t k = 0; k < par->numel; k++) {
            dir[k] = (float)(h * dir[k]);
            an += (double)g[par->offset + k] * dir[k];
        }
        float *w0 = malloc(sizeof(float) * par->numel);
        memcpy(w0, w, sizeof(float) * par->numel);
        for (int64_t k = 0; k < par->numel; k++) w[k] = w0[k] + dir[k];
        const double lp = loss_of(t, x, y, N);
        for (int64_t k = 0; k < par->numel; k++) w[k] = w0[k] - dir[k];
        const double lm = loss_of(t, x, y, N);
        memcpy(w, w0, sizeof(float) * par->numel);
        free(w0);
        const double fd = (lp - lm) / 2.0;
        checked++;
        if (fabs(fd - an) > TOL_FD * fabs(an) + TOL_FD_ABS) {
            bad++;
            fprintf(stderr, "%s %s: g.d %.6g, finite difference %.6g\n", model, par->name, an, fd);
        }
    }
    free(dir);
    printf("gradcheck %s width %d: %d tensors, %d off\n", model, width, checked, bad);
    CHECK(bad == 0);
    free(x);
    free(g);
    trainer_free(t);
    resnet_free(net);
}

static void test_sgd(void)
{
    struct resnet_config cfg;
    struct resnet *net = NULL;
    struct trainer *t = NULL;
    CHECK(resnet_config_load("resnet18", &cfg) == STATUS_OK);
    cfg.width = 2;
    cfg.in_h = cfg.in_w = 32;
    CHECK(resnet_alloc(&cfg, SEED, &net) == STATUS_OK);
    CHECK(trainer_alloc(net, 1, &t) == STATUS_OK);
    if (!net || !t) return;
    const int w = net->fc_w, gmm = net->conv[0].gamma;
    float *g = trainer_grad(t);
    g[net->param[w].offset] = 0.5f;
    g[net->param[gmm].offset] = 0.25f;
    const float w0 = resnet_param_data(net, w)[0], g0 = resnet_param_data(net, gmm)[0];
    struct sgd_opts o = { .lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = 1 };
    trainer_sgd(t, &o);
    /* v = g + wd*w; nesterov step = (g + wd*w) + mu*v */
    const double gw = 0.5 + 0.01 * w0;
    CHECK_ABS(resnet_param_data(net, w)[0], w0 - 0.1 * (gw + 0.9 * gw), 1e-6);
    CHECK_ABS(resnet_param_data(net, gmm)[0], g0 - 0.1 * (0.25 + 0.9 * 0.25), 1e-6);   /* no decay on BN */
    trainer_free(t);
    resnet_free(net);
}

static int test_smoke(void)
{
    struct dataset train, val;
    if (dataset_load("fmnist", "train", 4096, &train) != STATUS_OK) {
        fprintf(stderr, "skip smoke: %s\n", status_message());
        return 0;
    }
    CHECK(dataset_load("fmnist", "val", 1000, &val) == STATUS_OK);
    struct resnet_config cfg;
    struct resnet *net = NULL;
    CHECK(resnet_config_load("rn50-fmnist", &cfg) == STATUS_OK);
    cfg.width = 4;   /* small enough for CI and the sanitizers, the same topology */
    CHECK(resnet_alloc(&cfg, SEED, &net) == STATUS_OK);
    double before = 0;
    CHECK(train_evaluate(net, &val, 250, &before) == STATUS_OK);
    struct train_opts o;
    train_opts_default(&o);
    o.epochs = 2;
    o.batch = 32;
    o.lr = 0.05;
    o.quiet = 1;
    o.warmup_epochs = 0.2;
    char ckpt[] = "test_train_ckpt.safetensors";
    o.checkpoint = ckpt;
    o.max_steps = 128;   /* one epoch = 128 steps: stop exactly at its end, checkpointed */
    struct train_result res;
    CHECK(train_run(net, &train, &val, &o, &res) == STATUS_OK);
    CHECK(res.steps == 128);
    /* Resume for the second epoch. */
    o.resume = ckpt;
    o.max_steps = 0;
    CHECK(train_run(net, &train, &val, &o, &res) == STATUS_OK);
    CHECK(res.steps == 256);
    double after = 0;
    CHECK(train_evaluate(net, &val, 250, &after) == STATUS_OK);
    printf("smoke: loss %.3f -> %.3f, val top-1 %.1f %% -> %.1f %%, %.0f images/s\n", res.first_loss, res.last_loss,
           before, after, res.images_per_s);
    CHECK(res.last_loss < 0.8 * res.first_loss || res.last_loss < 1.0);
    CHECK(after > 50.0);   /* chance is 10 % */
    remove(ckpt);
    dataset_free(&train);
    dataset_free(&val);
    resnet_free(net);
    return 1;
}

int main(void)
{
    printf("seed %d\n", SEED);
    ops_set_threads(2);
    gradcheck("rn50-fmnist", 2, 1, 16);
    gradcheck("resnet18", 2, 1, 64);
    gradcheck("resnet50", 2, 1, 64);
    test_sgd();
    if (!getenv("RN_SKIP_SMOKE")) test_smoke();
    return check_summary();
}
