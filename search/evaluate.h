/* evaluate.h — one candidate in, one result out: compresses the model with a plan and measures
 * top-1 and cross-entropy on the first n images of a split, the deployment size and the predicted
 * latency (issue 7).
 *
 * The evaluator holds read-only inputs (the model's original parameters, the val and test images,
 * the device's cost model) and one working copy of the network that every call first restores
 * from the original, so a result depends on the plan, the split and n alone, never on which
 * evaluations ran before. That keeps evaluation independent of the driver: a process (or an MPI
 * rank) with its own evaluator computes the same numbers. */
#ifndef RN_EVALUATE_H
#define RN_EVALUATE_H

#include "compress.h"
#include "eval_metrics.h"
#include "resnet.h"

#include <stdint.h>
#include <stdio.h>

enum eval_split { EVAL_VAL, EVAL_TEST, EVAL_SPLIT_COUNT };

struct eval_setup {
    const char *model, *weights;  /* as for model_load (weights NULL: the default's) */
    const char *data;             /* dataset spec (data.h), e.g. "fmnist" */
    const char *device;           /* cost model device (cost.h), or NULL: no latency */
    int threads;                  /* 0: all cores */
    int64_t val_limit, test_limit;/* > 0: use only the first that many images of the split */
    int64_t train_limit;          /* the same for the train split (finetune workflow only) */
};

struct eval_result {
    EVAL_METRICS_MEMBER;          /* correct, lost, gained, loss, bytes, latency_ms, seconds */
    int64_t n;                    /* images classified */
    double top1;                  /* percent: 100 correct / n */
};

struct evaluator;

/* Loads the model, both splits and the cost model, and classifies the val split once with the
 * uncompressed (fp16) model: the reference of the paired counts (lost, gained). Errors as their
 * loaders report them. */
int evaluator_alloc(const struct eval_setup *setup, struct evaluator **out);
void evaluator_free(struct evaluator *ev);   /* NULL is a no-op */
/* Writes DIR/split_val.tsv and DIR/split_test.tsv: the images of each split in evaluation order
 * (data.h dataset_write_list), so a run can be audited and repeated. STATUS_IO naming the file. */
int evaluator_write_split_lists(const struct evaluator *ev, const char *dir);
/* Bad images left out of the val and test splits (--skip-bad). */
int64_t evaluator_skipped(const struct evaluator *ev);

/* The network with its original parameters (for compress_plan_init_empty / compress_config_load). */
const struct resnet *evaluator_net(const struct evaluator *ev);
/* FNV-1a over the original parameters: part of every evaluation's store key. */
uint64_t evaluator_model_hash(const struct evaluator *ev);
/* Images available in a split (after the limits). */
int64_t evaluator_split_size(const struct evaluator *ev, enum eval_split split);
/* 1 if latency predictions are available. */
int evaluator_has_latency(const struct evaluator *ev);

/* Compresses a fresh copy of the model with plan (NULL: the fp16 baseline) and evaluates it on the
 * first n images of split (n <= evaluator_split_size). */
int evaluator_run(struct evaluator *ev, const struct compress_plan *plan, enum eval_split split, int64_t n,
                  struct eval_result *out);

/* Evaluates plans[0..m) (an entry NULL: the fp16 baseline) on the first n images of split into
 * out[m], each as evaluator_run would. Started on several ranks (dist.h), this is rank 0's call
 * and the others serve it (evaluator_serve): the ranks are cut into groups, a group compresses a
 * candidate and scores disjoint shards of its images, the groups take different candidates; the
 * figures are those of one process whatever the cut (only the seconds differ). The cut comes from
 * the measured costs (evaluate_many.c). A failure on any rank is returned here with that rank's
 * message. */
int evaluator_run_many(struct evaluator *ev, const struct compress_plan *const *plans, int m, enum eval_split split, int64_t n,
                       struct eval_result *out);

/* Ranks other than 0 of a run: evaluates what rank 0's evaluator_run_many hands out until rank
 * 0 frees its evaluator. Returns STATUS_OK then, or the status of a failure (every rank's). */
int evaluator_serve(struct evaluator *ev);

/* On several ranks, one line to f (prefixed "PREFIX: ") on how evaluator_run_many spread the
 * candidates and what rank 0 communicated for them, in all and per candidate; nothing on one
 * rank or before any. */
void evaluator_spread_print(struct evaluator *ev, FILE *f, const char *prefix);

/* Size and predicted latency of plan from shapes alone, without compressing (for planning). */
int evaluator_estimate(struct evaluator *ev, const struct compress_plan *plan, double *bytes, double *latency_ms);

/* The cost model's latency for plan (NaN without a device); cheap, runs nothing. */
int evaluator_predict_ms(struct evaluator *ev, const struct compress_plan *plan, double *ms);

/* ---- the finetune workflow ---- */

/* Images in the train split (loaded on first use, like the splits above: the first train_limit of
 * them when eval_setup.train_limit > 0). */
int evaluator_train_size(struct evaluator *ev, int64_t *n);

/* Fine-tunes the model from its original parameters while compressing it as plan says
 * (compress/finetune.h: pruning with a scheduler, palettization with algorithm dkm; no
 * quantization) on the train split, choosing the epoch on the whole val split, and writes the
 * finalized compressed file to opts->out (checkpoints to opts->checkpoint; opts->resume
 * continues one). opts->hooks is set here. *seconds: the training time. The working network is
 * restored afterwards. *interrupted: 1 when stopped by SIGINT (checkpointed; an error). */
struct train_opts;
int evaluator_finetune(struct evaluator *ev, const struct compress_plan *plan, const char *config_text,
                       const struct train_opts *opts, double *seconds, int *interrupted);

/* evaluator_run for a compressed file (a fine-tuned point) instead of a plan: plan is the one the
 * file was made with (for the size model and the latency prediction); compress_seconds is 0. */
int evaluator_run_file(struct evaluator *ev, const char *path, const struct compress_plan *plan, enum eval_split split,
                       int64_t n, struct eval_result *out);

/* The median batch-1 latencies ms[0..n) of the compressed model files paths[0..n), timed side by
 * side: all loaded at once, 10 warm-up rounds, then reps rounds that each time one warm pass of
 * every network (after an untimed pass of the same network), in a shuffled order. */
int evaluator_measure_files_ms(struct evaluator *ev, const char *const *paths, int n, int reps, double *ms);

/* Compresses with plan and writes the compressed model file (compress/format.h) to path. */
int evaluator_save(struct evaluator *ev, const struct compress_plan *plan, const char *path, const char *config_text);

#endif
