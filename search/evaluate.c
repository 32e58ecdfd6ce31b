/* evaluate.c — the search's evaluator (see evaluate.h): restore, compress, size, predict, infer.
 * It does not decide anything; the search (tune.c and its stages, tune_*.c) does. */
#include "evaluate.h"
#include "clock.h"

#include "apply.h"
#include "config.h"
#include "cost.h"
#include "data.h"
#include "db.h"
#include "dist.h"
#include "evaluate_internal.h"
#include "finetune.h"
#include "format.h"
#include "rng.h"
#include "size.h"
#include "status.h"
#include "train.h"
#include "model_load.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_BATCH 250

struct evaluator {
    struct resnet *net;          /* working copy, restored before every use */
    float *original;             /* [net->n_floats] the loaded parameters */
    uint64_t model_hash;
    struct dataset split[EVAL_SPLIT_COUNT];
    struct cost_model *cost;     /* NULL: no latency */
    unsigned char *ref_correct;  /* [val n] 1 where the fp16 baseline is right */
    int has_latency;
    char data[256];              /* dataset spec, for the train split */
    int64_t train_limit;
    struct dataset train;        /* loaded on first use (finetune workflow) */
    int has_train;
    struct evaluator_spread spread;  /* costs measured, for the choice of groups (evaluate_many.c) */
};

int evaluator_alloc(const struct eval_setup *setup, struct evaluator **out)
{
    *out = NULL;
    struct evaluator *ev = calloc(1, sizeof *ev);
    if (!ev) return status_error(STATUS_NOMEM, "out of memory");
    int rc = STATUS_OK;
    const char *used = NULL;
    ops_set_threads(setup->threads);
    snprintf(ev->data, sizeof ev->data, "%s", setup->data);
    ev->train_limit = setup->train_limit;
    if (!dataset_splits_distinct(setup->data)) {
        rc = status_error(STATUS_BAD_INPUT,
                          "--data %s: val and test would be the same images, so the test figure would be measured on the images the "
                          "search decided on; give a pair per split: npy:val=I.npy,L.npy;test=I.npy,L.npy",
                          setup->data);
        goto loaded;
    }
    if ((rc = model_load(setup->model, setup->weights, 0, &ev->net, &used))) goto loaded;
    if (ev->net->act_hook) {
        rc = status_error(STATUS_BAD_INPUT, "--weights %s: already compressed with 8-bit activations; tune needs the uncompressed model",
                          used);
        goto loaded;
    }
    ev->original = malloc(sizeof(float) * (size_t)ev->net->n_floats);
    if (!ev->original) { rc = status_error(STATUS_NOMEM, "out of memory"); goto loaded; }
    memcpy(ev->original, ev->net->params, sizeof(float) * (size_t)ev->net->n_floats);
    ev->model_hash = db_fnv1a(DB_FNV_OFFSET, ev->original, sizeof(float) * (size_t)ev->net->n_floats);
    ev->model_hash = db_fnv1a(ev->model_hash, &ev->net->cfg, sizeof ev->net->cfg);
    static const char *const names[EVAL_SPLIT_COUNT] = { "val", "test" };
    const int64_t limits[EVAL_SPLIT_COUNT] = { setup->val_limit, setup->test_limit };
    for (int s = 0; s < EVAL_SPLIT_COUNT; s++) {
        if ((rc = dataset_load(setup->data, names[s], limits[s], &ev->split[s]))) goto loaded;
        const struct dataset *d = &ev->split[s];
        const struct resnet_config *cfg = &ev->net->cfg;
        if (d->C != cfg->in_channels || d->H != cfg->in_h || d->W != cfg->in_w || d->n_classes > cfg->n_classes) {
            rc = status_error(STATUS_BAD_INPUT, "--data %s: images [%d, %d, %d] with %d classes do not fit model %s ([%d, %d, %d], %d classes)",
                              setup->data, d->C, d->H, d->W, d->n_classes, cfg->name, cfg->in_channels, cfg->in_h, cfg->in_w,
                              cfg->n_classes);
            goto loaded;
        }
    }
    if (setup->device) {
        if ((rc = cost_model_load(setup->device, &ev->cost))) goto loaded;
        ev->has_latency = 1;
    }
    ev->ref_correct = malloc((size_t)ev->split[EVAL_VAL].n);
    if (!ev->ref_correct) rc = status_error(STATUS_NOMEM, "out of memory");
loaded:
    /* Every rank loads the same inputs; one that cannot (weights or data not visible on its
     * node) stops them all with its message before the first collective evaluation, and the
     * model hash proves they all loaded the same weights. */
    if ((rc = dist_agree(dist_world(), rc, rc ? 0 : ev->model_hash, "model (weights)"))) goto fail;
    {
        struct eval_result r;
        unsigned char *ref = ev->ref_correct;
        ev->ref_correct = NULL;   /* not yet a reference while it is computed */
        rc = evaluator_run_group(ev, NULL, EVAL_VAL, ev->split[EVAL_VAL].n, &r, ref, dist_world());
        ev->ref_correct = ref;
        if (rc) goto fail;
    }
    ev->spread.serving = dist_size() > 1 && dist_rank() == 0;
    *out = ev;
    return STATUS_OK;
fail:
    evaluator_free(ev);
    return rc;
}

void evaluator_free(struct evaluator *ev)
{
    if (!ev) return;
    if (ev->spread.serving) evaluator_jobs_end(ev);
    if (ev->net) {
        format_free_activations(ev->net);
        model_unload(ev->net);
    }
    free(ev->original);
    free(ev->ref_correct);
    for (int s = 0; s < EVAL_SPLIT_COUNT; s++) dataset_free(&ev->split[s]);
    if (ev->has_train) dataset_free(&ev->train);
    cost_model_free(ev->cost);
    free(ev);
}

int evaluator_write_split_lists(const struct evaluator *ev, const char *dir)
{
    static const char *const names[EVAL_SPLIT_COUNT] = { "val", "test" };
    for (int s = 0; s < EVAL_SPLIT_COUNT; s++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/split_%s.tsv", dir, names[s]);
        int rc = dataset_write_list(&ev->split[s], path);
        if (rc) return rc;
    }
    return STATUS_OK;
}

int64_t evaluator_skipped(const struct evaluator *ev) { return ev->split[EVAL_VAL].n_skipped + ev->split[EVAL_TEST].n_skipped; }

const struct resnet *evaluator_net(const struct evaluator *ev) { return ev->net; }
uint64_t evaluator_model_hash(const struct evaluator *ev) { return ev->model_hash; }
int64_t evaluator_split_size(const struct evaluator *ev, enum eval_split split) { return ev->split[split].n; }
int evaluator_has_latency(const struct evaluator *ev) { return ev->has_latency; }
struct evaluator_spread *evaluator_spread(struct evaluator *ev) { return &ev->spread; }

/* The working network back to the original parameters, no activation quantizer. */
static void evaluator_restore(struct evaluator *ev)
{
    format_free_activations(ev->net);
    memcpy(ev->net->params, ev->original, sizeof(float) * (size_t)ev->net->n_floats);
    resnet_fold(ev->net);
}

/* Restores and compresses the working network; applied->cw holds the compressed layers. A NULL
 * plan is the fp16 baseline (every layer left alone, stored fp16). */
static int evaluator_compress(struct evaluator *ev, const struct compress_plan *plan, struct compress_plan *empty,
                              struct apply_result *applied)
{
    evaluator_restore(ev);
    if (!plan) {
        int rc = compress_plan_init_empty(ev->net, empty);
        if (rc) return rc;
        plan = empty;
    }
    return compress_apply(ev->net, plan, plan_needs_calibration(plan) ? &ev->split[EVAL_VAL] : NULL, applied);
}

static int evaluator_latency(struct evaluator *ev, const struct compress_plan *plan, double *ms)
{
    *ms = NAN;
    return ev->cost ? cost_predict(ev->cost, ev->net, plan, ms) : STATUS_OK;
}

/* One image's outcome; a shard's are gathered so that every sum runs over the images in order. */
struct image_score {
    double loss;                 /* cross-entropy (nats) */
    int64_t correct;             /* 1 if top-1 is right */
};

/* Top-1, summed cross-entropy and (val) the paired counts against the baseline of net on the first
 * n images of split into out; each image's correctness into correct_out[n] when non-NULL. The
 * ranks of g each infer their own shard of the n images and exchange the per-image outcomes, so
 * the sums (the loss in image order) are those of one process, bit for bit: the logits of an
 * image do not depend on the batch it runs in (tests/test_ops.c). `hash` (the compressed
 * model's) must agree across g, and so must the outcome. */
static int score(struct evaluator *ev, struct resnet *net, enum eval_split split, int64_t n, struct eval_result *out,
                 unsigned char *correct_out, struct dist_group *g, uint64_t hash)
{
    const struct dataset *d = &ev->split[split];
    RN_ASSERT(n > 0 && n <= d->n);
    const int gr = dist_group_rank(g), gs = dist_group_size(g);
    const int64_t lo = n * gr / gs, hi = n * (gr + 1) / gs;   /* this rank's shard [lo, hi) */
    const int classes = net->cfg.n_classes;
    const int batch = hi - lo < EVAL_BATCH ? (int)(hi - lo > 0 ? hi - lo : 1) : EVAL_BATCH;
    struct resnet_infer *ws = NULL;
    float *logits = malloc(sizeof(float) * (size_t)batch * (size_t)classes);
    /* Images not held in memory (imagefolder) come through this [batch, C, H, W] buffer. */
    float *xb = d->images ? NULL : malloc(sizeof(float) * (size_t)batch * (size_t)dataset_image_floats(d));
    struct image_score *img = malloc(sizeof *img * (size_t)n);   /* [n], this shard's part filled here */
    size_t *counts = malloc(sizeof *counts * (size_t)gs);
    int rc = logits && img && counts && (d->images || xb) ? resnet_infer_alloc(net, batch, &ws)
                                                          : status_error(STATUS_NOMEM, "out of memory");
    const double t0 = clock_now_s();
    for (int64_t i = lo; i < hi && !rc; i += batch) {
        const int b = (int)(hi - i < batch ? hi - i : batch);
        resnet_infer(ws, dataset_batch_ptr(d, i, b, xb), b, logits);
        for (int k = 0; k < b; k++) {
            const float *z = logits + (int64_t)k * classes;
            const int64_t label = d->labels[i + k];
            int rank = 0;
            float mx = z[0];
            for (int c = 0; c < classes; c++) {
                rank += z[c] > z[label];
                if (z[c] > mx) mx = z[c];
            }
            double sum = 0;
            for (int c = 0; c < classes; c++) sum += exp((double)z[c] - mx);
            img[i + k].loss = log(sum) - ((double)z[label] - mx);
            img[i + k].correct = rank == 0;
        }
    }
    const double t_local = clock_now_s() - t0;
    if ((rc = dist_agree(g, rc, hash, "compressed model"))) goto done;
    for (int r = 0; r < gs; r++) counts[r] = sizeof *img * (size_t)(n * (r + 1) / gs - n * r / gs);
    dist_allgatherv(g, img + lo, counts, img);
    for (int64_t i = 0; i < n; i++) {
        out->loss += img[i].loss;
        out->correct += img[i].correct;
        if (correct_out) correct_out[i] = (unsigned char)img[i].correct;
        if (split == EVAL_VAL && ev->ref_correct) {
            out->lost += ev->ref_correct[i] && !img[i].correct;
            out->gained += !ev->ref_correct[i] && img[i].correct;
        }
    }
    out->eval_seconds = clock_now_s() - t0;
    out->n = n;
    out->top1 = 100.0 * (double)out->correct / (double)n;
    if (hi > lo) ev->spread.image_seconds = t_local / (double)(hi - lo);
done:
    resnet_infer_free(ws);
    free(logits);
    free(xb);
    free(img);
    free(counts);
    return rc;
}

int evaluator_run_group(struct evaluator *ev, const struct compress_plan *plan, enum eval_split split, int64_t n,
                        struct eval_result *out, unsigned char *correct_out, struct dist_group *g)
{
    memset(out, 0, sizeof *out);
    struct compress_plan empty;
    memset(&empty, 0, sizeof empty);
    struct apply_result applied;
    memset(&applied, 0, sizeof applied);
    struct size_report size;
    memset(&size, 0, sizeof size);
    int rc = evaluator_compress(ev, plan, &empty, &applied);
    if (rc) goto done;
    const struct compress_plan *p = plan ? plan : &empty;
    out->compress_seconds = applied.seconds;
    if ((rc = size_model(p, applied.cw, &size))) goto done;
    out->bytes = (double)size.total_bytes;
    if ((rc = evaluator_latency(ev, plan, &out->latency_ms))) goto done;
    ev->spread.compress_seconds = applied.seconds;
done:
    /* Also after a failure: the other ranks of g learn of it in score's agreement. */
    if (!rc || dist_group_size(g) > 1) {
        const uint64_t hash = rc || dist_group_size(g) == 1 ? 0 : db_fnv1a(DB_FNV_OFFSET, ev->net->params, sizeof(float) * (size_t)ev->net->n_floats);
        rc = rc ? dist_agree(g, rc, 0, "compressed model") : score(ev, ev->net, split, n, out, correct_out, g, hash);
    }
    size_report_free(&size);
    apply_result_free(&applied);
    compress_plan_free(&empty);
    evaluator_restore(ev);
    return rc;
}

int evaluator_run(struct evaluator *ev, const struct compress_plan *plan, enum eval_split split, int64_t n,
                  struct eval_result *out)
{
    return evaluator_run_many(ev, &plan, 1, split, n, out);
}

int evaluator_predict_ms(struct evaluator *ev, const struct compress_plan *plan, double *ms)
{
    return evaluator_latency(ev, plan, ms);
}

int evaluator_estimate(struct evaluator *ev, const struct compress_plan *plan, double *bytes, double *latency_ms)
{
    struct size_report size;
    memset(&size, 0, sizeof size);
    int rc = size_model(plan, NULL, &size);
    if (rc) return rc;
    *bytes = (double)size.total_bytes;
    size_report_free(&size);
    return evaluator_latency(ev, plan, latency_ms);
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- the finetune workflow ---- */

int evaluator_train_size(struct evaluator *ev, int64_t *n)
{
    if (!ev->has_train) {
        int rc = dataset_load(ev->data, "train", ev->train_limit, &ev->train);
        if (rc) return rc;
        ev->has_train = 1;
    }
    *n = ev->train.n;
    return STATUS_OK;
}

int evaluator_finetune(struct evaluator *ev, const struct compress_plan *plan, const char *config_text,
                       const struct train_opts *opts, double *seconds, int *interrupted)
{
    *interrupted = 0;
    int64_t n_train;
    int rc = evaluator_train_size(ev, &n_train);
    if (rc) return rc;
    evaluator_restore(ev);
    struct finetune *ft = NULL;
    if ((rc = finetune_alloc(ev->net, plan, config_text, &ft))) return rc;
    struct train_opts o = *opts;
    o.hooks = finetune_hooks(ft);
    struct train_result res;
    memset(&res, 0, sizeof res);
    rc = train_run(ev->net, &ev->train, &ev->split[EVAL_VAL], &o, &res);
    if (!rc && res.interrupted) rc = status_error(STATUS_IO, "fine-tuning interrupted; --resume continues it from %s", o.checkpoint);
    if (!rc && res.best_epoch < 1) rc = status_error(STATUS_IO, "fine-tuning wrote no model (no epoch was validated)");
    *seconds = res.seconds;
    *interrupted = res.interrupted;
    finetune_free(ft);
    evaluator_restore(ev);
    return rc;
}

static void free_loaded(struct resnet *net, struct compressed_weight *cw)
{
    if (cw) {
        for (int i = 0; i <= net->n_conv; i++) compressed_weight_free(&cw[i]);
        free(cw);
    }
    format_free_activations(net);
    model_unload(net);
}

int evaluator_run_file(struct evaluator *ev, const char *path, const struct compress_plan *plan, enum eval_split split,
                       int64_t n, struct eval_result *out)
{
    memset(out, 0, sizeof *out);
    struct resnet *net = NULL;
    struct compressed_weight *cw = NULL;
    struct size_report size;
    memset(&size, 0, sizeof size);
    int rc = format_load(path, &net, &cw);
    if (rc) return rc;
    if (net->n_conv + 1 != plan->n_layers)
        rc = status_error(STATUS_BAD_INPUT, "%s: %d layers, the plan has %d", path, net->n_conv + 1, plan->n_layers);
    if (!rc) rc = size_model(plan, cw, &size);
    if (!rc) {
        out->bytes = (double)size.total_bytes;
        rc = evaluator_latency(ev, plan, &out->latency_ms);
    }
    /* A fine-tuned file is on rank 0's disk only: rank 0 scores it alone. */
    if (!rc) rc = score(ev, net, split, n, out, NULL, dist_group_of(1), 0);
    size_report_free(&size);
    free_loaded(net, cw);
    return rc;
}

int evaluator_measure_files_ms(struct evaluator *ev, const char *const *paths, int n, int reps, double *ms)
{
    struct resnet **net = calloc((size_t)n, sizeof *net);
    struct compressed_weight **cw = calloc((size_t)n, sizeof *cw);
    struct resnet_infer **ws = calloc((size_t)n, sizeof *ws);
    double *t = malloc(sizeof(double) * (size_t)n * (size_t)reps);
    float *logits = NULL;
    int rc = !net || !cw || !ws || !t ? status_error(STATUS_NOMEM, "out of memory") : STATUS_OK;
    if (!rc && (n < 1 || reps < 1)) rc = status_error(STATUS_BAD_INPUT, "side-by-side timing of %d files with %d passes", n, reps);
    int classes = 1;
    for (int i = 0; i < n && !rc; i++) {
        if ((rc = format_load(paths[i], &net[i], &cw[i]))) break;
        if (net[i]->cfg.n_classes > classes) classes = net[i]->cfg.n_classes;
        rc = resnet_infer_alloc(net[i], 1, &ws[i]);
    }
    const struct dataset *dv = &ev->split[EVAL_VAL];
    float *x = NULL;   /* [C, H, W] the first val image */
    if (!rc && !(logits = malloc(sizeof(float) * (size_t)classes))) rc = status_error(STATUS_NOMEM, "out of memory");
    if (!rc && !(x = malloc(sizeof(float) * (size_t)dataset_image_floats(dv)))) rc = status_error(STATUS_NOMEM, "out of memory");
    if (!rc) {
        dataset_batch(dv, 0, 1, x);
        for (int w = 0; w < 10; w++)
            for (int i = 0; i < n; i++) resnet_infer(ws[i], x, 1, logits);
        /* Each round times one pass of each network, in a shuffled order, so that a slow spell
         * of the machine falls on all of them alike; each timed pass follows an untimed one of
         * the same network, so that it runs warm as a deployed model does. In a fixed order
         * without the warm pass, two networks one layer apart (g-w8a8, m-b05970ae70) measured
         * 1.002 and 0.894 ms; with both, 0.902 and 0.883 ms. */
        struct rng g;
        rng_seed(&g, 12345);
        int *order = malloc(sizeof(int) * (size_t)n);
        if (!order) rc = status_error(STATUS_NOMEM, "out of memory");
        for (int i = 0; i < n && order; i++) order[i] = i;
        for (int r = 0; r < reps && order; r++) {
            for (int i = n - 1; i > 0; i--) {
                const int j = (int)(rng_next(&g) % (uint64_t)(i + 1)), tmp = order[i];
                order[i] = order[j];
                order[j] = tmp;
            }
            for (int q = 0; q < n; q++) {
                const int i = order[q];
                resnet_infer(ws[i], x, 1, logits);
                const double t0 = clock_now_s();
                resnet_infer(ws[i], x, 1, logits);
                t[(int64_t)i * reps + r] = clock_now_s() - t0;
            }
        }
        free(order);
        for (int i = 0; i < n && !rc; i++) {
            double *ti = t + (int64_t)i * reps;
            qsort(ti, (size_t)reps, sizeof *ti, cmp_double);
            ms[i] = 1e3 * ti[reps / 2];
        }
    }
    for (int i = 0; i < n && net; i++) {
        resnet_infer_free(ws ? ws[i] : NULL);
        if (net[i]) free_loaded(net[i], cw[i]);
    }
    free(net);
    free(cw);
    free(ws);
    free(t);
    free(logits);
    free(x);
    return rc;
}

int evaluator_save(struct evaluator *ev, const struct compress_plan *plan, const char *path, const char *config_text)
{
    struct compress_plan empty;
    memset(&empty, 0, sizeof empty);
    struct apply_result applied;
    memset(&applied, 0, sizeof applied);
    int rc = evaluator_compress(ev, plan, &empty, &applied);
    if (!rc) rc = format_save(path, ev->net, plan ? plan : &empty, applied.cw, applied.aq, config_text);
    apply_result_free(&applied);
    compress_plan_free(&empty);
    evaluator_restore(ev);
    return rc;
}
