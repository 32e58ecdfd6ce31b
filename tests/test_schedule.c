/* test_schedule.c — the pruning schedule of fine-tuning (compress/schedule.h): coremltools'
 * PolynomialDecayScheduler example (update steps [4, 7, 9], sparsity 0 -> 1 gives 0, 0.875, 1.0),
 * the steps in between, no scheduler, the config keys (list and range forms), and the masks the
 * fine-tuning hooks keep: recomputed at each update step to the scheduled sparsity, applied to the
 * weights and the momentum, and never loosened between updates. Seed printed. */
#include "check.h"

#include "config.h"
#include "finetune.h"
#include "prune.h"
#include "rng.h"
#include "schedule.h"
#include "status.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEED 7301u

static void coremltools_example(void)
{
    struct prune_cfg p;
    memset(&p, 0, sizeof p);
    p.target_sparsity = 1.0;
    p.initial_sparsity = 0.0;
    p.sched.n_update_steps = 3;
    p.sched.update_steps[0] = 4;
    p.sched.update_steps[1] = 7;
    p.sched.update_steps[2] = 9;
    p.sched.power = 3;
    /* step: sparsity in force, update step? */
    const struct { int64_t step; double s; int upd; } want[] = {
        { 0, 0.0, 0 }, { 3, 0.0, 0 }, { 4, 0.0, 1 }, { 5, 0.0, 0 }, { 6, 0.0, 0 }, { 7, 0.875, 1 },
        { 8, 0.875, 0 }, { 9, 1.0, 1 }, { 10, 1.0, 0 }, { 1000, 1.0, 0 },
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        int upd = -1;
        CHECK_ABS(schedule_sparsity_at(&p, want[i].step, &upd), want[i].s, 1e-15);
        CHECK(upd == want[i].upd);
    }
    CHECK(schedule_last_update(&p) == 9);
    /* The polynomial itself: i-th of N uses i/(N-1). */
    CHECK_ABS(prune_polynomial_sparsity(0.0, 1.0, 1, 3, 3.0), 0.875, 1e-15);
    CHECK_ABS(prune_polynomial_sparsity(0.2, 0.9, 2, 5, 3.0), 0.9 - 0.7 * 0.125, 1e-15);
    /* No scheduler: the target from step 0, which is the only update. */
    struct prune_cfg q;
    memset(&q, 0, sizeof q);
    q.target_sparsity = 0.6;
    int upd = 0;
    CHECK_ABS(schedule_sparsity_at(&q, 0, &upd), 0.6, 0);
    CHECK(upd == 1);
    CHECK_ABS(schedule_sparsity_at(&q, 5, &upd), 0.6, 0);
    CHECK(upd == 0);
}

static int write_tmp(char *path, const char *text)
{
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    const ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static struct resnet *tiny_net(void)
{
    struct resnet_config cfg;
    struct resnet *net = NULL;
    CHECK(resnet_config_load(RN_SOURCE_DIR "/tests/data/rn50w8-small.yaml", &cfg) == STATUS_OK);
    CHECK(resnet_alloc(&cfg, SEED, &net) == STATUS_OK);
    return net;
}

static void config_keys(void)
{
    struct resnet *net = tiny_net();
    if (!net) return;
    char path[] = "/tmp/rn_test_schedule_XXXXXX";
    CHECK(write_tmp(path, "pruning:\n  global_config:\n    target_sparsity: 0.8\n    initial_sparsity: 0.1\n"
                          "    scheduler:\n      update_steps: \"range(10, 50, 20)\"\n      power: 2\n"
                          "  module_name_configs:\n    fc:\n      target_sparsity: 0.5\n"
                          "      scheduler: {update_steps: [3, 5, 8, 13]}\n") == 0);
    struct compress_plan plan;
    CHECK(compress_config_load(path, net, &plan) == STATUS_OK);
    int seen_conv = 0, seen_fc = 0;
    for (int i = 0; i < plan.n_layers; i++) {
        const struct prune_cfg *p = &plan.layer[i].prune;
        if (!p->enabled) continue;
        if (!strcmp(plan.info[i].name, "fc")) {
            seen_fc = 1;
            CHECK(p->sched.n_update_steps == 4 && p->sched.update_steps[3] == 13 && p->sched.power == 3.0);
            CHECK(p->initial_sparsity == 0.0);
        } else if (!seen_conv) {
            seen_conv = 1;
            CHECK(p->sched.n_update_steps == 2 && p->sched.update_steps[0] == 10 && p->sched.update_steps[1] == 30);
            CHECK(p->sched.power == 2.0 && p->initial_sparsity == 0.1 && p->target_sparsity == 0.8);
        }
    }
    CHECK(seen_conv && seen_fc);
    compress_plan_free(&plan);
    unlink(path);
    resnet_free(net);
}

/* Through the fine-tuning hooks: after step_begin at every step, each pruned layer has exactly the
 * kept count of the scheduled sparsity, zeros in its weights and momentum where pruned, and a
 * pruned weight stays pruned. */
static void masks_follow_schedule(void)
{
    struct resnet *net = tiny_net();
    if (!net) return;
    char path[] = "/tmp/rn_test_schedule_XXXXXX";
    const char *yaml = "pruning:\n  global_config:\n    target_sparsity: 0.9\n    weight_threshold: 512\n"
                       "    scheduler: {update_steps: [1, 3, 5, 7]}\n";
    CHECK(write_tmp(path, yaml) == 0);
    struct compress_plan plan;
    struct finetune *ft = NULL;
    struct trainer *t = NULL;
    CHECK(compress_config_load(path, net, &plan) == STATUS_OK);
    CHECK(finetune_alloc(net, &plan, yaml, &ft) == STATUS_OK);
    const int N = 4;
    CHECK(trainer_alloc(net, N, &t) == STATUS_OK);
    if (!ft || !t) return;
    CHECK(trainer_set_hooks(t, finetune_hooks(ft)) == STATUS_OK);
    const struct train_hooks *h = finetune_hooks(ft);
    const int64_t per = (int64_t)net->cfg.in_channels * net->cfg.in_h * net->cfg.in_w;
    float *x = malloc(sizeof(float) * per * N);
    uint8_t *was_zero = calloc((size_t)net->n_floats, 1);
    int64_t y[4];
    struct rng r;
    rng_seed(&r, SEED);
    printf("seed %u\n", SEED);
    const struct sgd_opts so = { .lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = 1 };
    for (int64_t step = 0; step < 9; step++) {
        CHECK(h->step_begin(h->ctx, t, step) == STATUS_OK);
        int64_t revived = 0, bad_count = 0, bad_mom = 0, n_layers = 0;
        for (int i = 0; i < plan.n_layers; i++) {
            if (!plan.layer[i].prune.enabled) continue;
            n_layers++;
            const int c = resnet_find_conv(net, plan.info[i].name);
            const int p = c >= 0 ? net->conv[c].w : net->fc_w;
            const int64_t n = plan.info[i].OC * plan.info[i].K, off = net->param[p].offset;
            const float *w = net->params + off, *m = trainer_momentum(t) + off;
            int64_t nz = 0;
            for (int64_t q = 0; q < n; q++) {
                nz += w[q] != 0.0f;
                bad_mom += w[q] == 0.0f && m[q] != 0.0f;
                revived += was_zero[off + q] && w[q] != 0.0f;
            }
            const double s = schedule_sparsity_at(&plan.layer[i].prune, step, NULL);
            bad_count += nz != prune_keep_count(n, s);
        }
        CHECK(n_layers > 0);
        CHECK(bad_count == 0);
        CHECK(bad_mom == 0);
        CHECK(revived == 0);
        for (int64_t i = 0; i < per * N; i++) x[i] = (float)rng_normal(&r);
        for (int i = 0; i < N; i++) y[i] = (int64_t)rng_below(&r, (uint64_t)net->cfg.n_classes);
        CHECK(isfinite(trainer_step(t, x, y, N, 0.1f, NULL)));
        trainer_sgd(t, &so);
        h->after_update(h->ctx, t);
        for (int i = 0; i < plan.n_layers; i++) {
            if (!plan.layer[i].prune.enabled) continue;
            const int c = resnet_find_conv(net, plan.info[i].name);
            const int p = c >= 0 ? net->conv[c].w : net->fc_w;
            const int64_t off = net->param[p].offset;
            for (int64_t q = 0; q < plan.info[i].OC * plan.info[i].K; q++) was_zero[off + q] = net->params[off + q] == 0.0f;
        }
    }
    free(x);
    free(was_zero);
    trainer_free(t);
    finetune_free(ft);
    compress_plan_free(&plan);
    unlink(path);
    resnet_free(net);
}

int main(void)
{
    coremltools_example();
    config_keys();
    masks_follow_schedule();
    return check_summary();
}
