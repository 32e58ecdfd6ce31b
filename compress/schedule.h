/* schedule.h — when pruning masks change during fine-tuning: coremltools' PolynomialDecayScheduler
 * (SPEC §3) over the update steps of a pruning config (compress.h, struct prune_schedule).
 *
 * Before the first update step the sparsity is initial_sparsity; at the i-th of N update steps
 * (i = 0..N-1) it becomes target + (initial - target) * (1 - i/(N-1))^power and stays there until
 * the next update step. Without a scheduler the sparsity is the target from step 0 (one shot). */
#ifndef RN_SCHEDULE_H
#define RN_SCHEDULE_H

#include "compress.h"

#include <stdint.h>

/* The sparsity in force at training step `step` (>= 0); *is_update (may be NULL) is set to 1 when
 * `step` is one of the update steps (the mask is to be recomputed then), else 0. */
double schedule_sparsity_at(const struct prune_cfg *p, int64_t step, int *is_update);

/* The last update step, or 0 without a scheduler: from then on the sparsity is the target. */
int64_t schedule_last_update(const struct prune_cfg *p);

#endif
