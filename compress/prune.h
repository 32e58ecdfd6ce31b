/* prune.h — data-free magnitude pruning masks (coremltools' MagnitudePruner / prune_weights,
 * SPEC §3) and the polynomial sparsity schedule.
 *
 * A weight [OC, K] (K = IC*KH*KW) is split into units scored by magnitude; the
 * ceil(n_units * (1 - s)) best-scored units are kept, the rest zeroed:
 *  - per_scalar: a unit is one weight, score |w|;
 *  - per_scalar with block_size > 1: a unit is block_size consecutive output channels at one column
 *    (the last block is smaller when OC is not a multiple), score its L2 norm;
 *  - per_kernel: a unit is one kernel, the KH*KW consecutive columns of one (oc, ic), score L2;
 *  - per_channel: a unit is one output channel (a row), score L2;
 *  - n:m (n_m_m > 0): in every m consecutive weights of a row the n smallest |w| are zeroed; a last
 *    run of r < m weights loses floor(n * r / m). n:m sets the sparsity itself (target_sparsity is
 *    ignored, as in coremltools) and ties there go to the lower index, so counts are exact.
 * Ties at the threshold are kept (coremltools keeps them too), so the kept count can exceed
 * ceil(n_units * (1 - s)) by the number of tied units. One exception: when the threshold score is
 * 0, zero-scored units are pruned rather than kept — they are zeros already, pruning them changes
 * no value and only makes the stored form smaller, so the sparsity then exceeds the target.
 * s = 0 keeps every unit (zeros too); s = 1 prunes every unit. The resulting sparsity is reported
 * exactly (prune_sparsity). */
#ifndef RN_PRUNE_H
#define RN_PRUNE_H

#include "compress.h"

#include <stdint.h>

/* Computes the mask of w [OC, K] under cfg into cw, which must hold no mask yet: sets OC, K, mask
 * [OC, K] (1 = kept), n_nonzero (kept weights) and dense [OC, K] = w where kept, else 0 (reusing
 * cw->dense when set; w may be cw->dense). kernel_size = KH*KW (1 for fc) defines per_kernel units.
 * Returns STATUS_OK; STATUS_BAD_INPUT for target_sparsity outside [0, 1], block_size < 0,
 * block_size > 1 or n:m with a granularity other than per_scalar, n:m with n > m or m < 1 while
 * n > 0, n:m combined with block_size, kernel_size not dividing K, non-finite weights;
 * STATUS_NOMEM. On error cw is unchanged. */
int prune_weights(const float *w, int64_t OC, int64_t K, int kernel_size, const struct prune_cfg *cfg,
                  struct compressed_weight *cw);

/* Exact resulting sparsity: 1 - n_nonzero / (OC*K) (0 when there is no mask). */
double prune_sparsity(const struct compressed_weight *cw);

/* Units kept for sparsity s out of n: ceil(n * (1 - s)), computed so that decimal sparsities hit
 * their exact count (100 units at s = 0.7 keep 30, not 31 from 30.000000000000004). */
int64_t prune_keep_count(int64_t n_units, double sparsity);

/* PolynomialDecayScheduler: sparsity at update step i of n_steps,
 * target + (initial - target) * (1 - i / (n_steps - 1))^power, i clamped to [0, n_steps - 1];
 * n_steps <= 1 gives target. */
double prune_polynomial_sparsity(double initial, double target, int64_t step_i, int64_t n_steps, double power);

#endif
