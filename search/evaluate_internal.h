/* evaluate_internal.h — what evaluate.c shares with evaluate_many.c (the spreading of
 * evaluations over ranks) and nothing else: one evaluation on a group of ranks, and the costs
 * measured so far that choose the groups. Not a public API. */
#ifndef RN_EVALUATE_INTERNAL_H
#define RN_EVALUATE_INTERNAL_H

#include "dist.h"
#include "evaluate.h"

/* The spreading's state in an evaluator: what the last evaluations cost this rank (seconds to
 * compress one candidate, to infer and score one image; 0 until measured), what was handed out,
 * and whether workers wait for rank 0's jobs. */
struct evaluator_spread {
    double compress_seconds, image_seconds;
    int64_t jobs, candidates, data_parallel, candidate_parallel;
    double plan_bytes;           /* compressed plans broadcast */
    int serving;                 /* rank 0 of several: the workers are in evaluator_serve */
};
struct evaluator_spread *evaluator_spread(struct evaluator *ev);

/* evaluator_run on the ranks of g together (every rank of g calls it with the same arguments):
 * each compresses the model alike (a hash of the compressed weights is checked across g) and
 * scores its shard of the n images; the figures are those of one process. Each image's
 * correctness into correct_out[n] when non-NULL. A failure on any rank of g is every rank's. */
int evaluator_run_group(struct evaluator *ev, const struct compress_plan *plan, enum eval_split split, int64_t n,
                        struct eval_result *out, unsigned char *correct_out, struct dist_group *g);

/* Rank 0, serving: tells the workers that no more evaluations come (evaluator_serve returns). */
void evaluator_jobs_end(struct evaluator *ev);

#endif
