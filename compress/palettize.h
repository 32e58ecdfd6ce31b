/* palettize.h — post-training palettization of one layer's weights (coremltools'
 * PostTrainingPalettizer and, with per-weight importances, SKMPalettizer; SPEC §3).
 *
 * Semantics: the weights (optionally divided per output channel by their max |w|) are rounded to
 * fp16; for each group, optimal 1-D k-means with 2^n_bits clusters runs on the group's distinct
 * fp16 values weighted by their counts (or by the summed importances); the centroids rounded to
 * fp16 are the group's LUT, and every weight takes the index of its nearest LUT entry. A group with
 * at most 2^n_bits distinct values keeps them exactly, its LUT zero-padded.
 *
 * Groups (struct compressed_weight's group_axis / group_size / n_groups):
 *  - per_tensor: one group; recorded as group_axis 0, group_size OC.
 *  - per_grouped_channel, channel_axis 0: group g holds output channels [g*gs, (g+1)*gs).
 *  - per_grouped_channel, channel_axis 1: group g holds input channels [g*gs, (g+1)*gs); for a
 *    conv, K = IC*KH*KW and input channel c spans the kernel_size = KH*KW consecutive columns
 *    [c*KH*KW, (c+1)*KH*KW).
 * A group_size above the channel count gives one group (recorded with group_size = channel count).
 * When the channel count is not a multiple of group_size, coremltools skips the layer; we
 * palettize it with a smaller last group (n_groups = ceil(channels / gs)), which a size model
 * counts as one more LUT.
 *
 * Pruned input (SPEC joint order prune -> palettize): when cw->mask is set on entry, only the kept
 * weights are clustered and get indices (in row-major order over the kept weights); pruned
 * weights decode to exactly 0. */
#ifndef RN_PALETTIZE_H
#define RN_PALETTIZE_H

#include "compress.h"

#include <stdint.h>

struct palettize_opts {
    int kernel_size;            /* KH*KW (1 for fc): columns per input channel, for channel_axis 1 */
    const float *importance;    /* [OC, K] per-weight importance >= 0 (SKM: Fisher diagonal), or NULL
                                   to weight each distinct value by its count */
    int lloyd_max_iter;         /* 0: exact optimal k-means (the product); > 0: plain Lloyd with
                                   k-means++ init and this many iterations at most (the reference
                                   that benchmarks compare against) */
    double sse;                 /* out: the k-means objective summed over groups, in the clustered
                                   (fp16, scaled) space, before the LUT's fp16 rounding */
};

/* Palettizes w [OC, K] (fp32, row-major) per cfg into cw.
 * cw: zeroed by the caller, or holding a pruning result (OC, K, mask, n_nonzero, dense) for the
 * same shape. Sets OC, K, n_nonzero, n_bits, n_groups, group_axis, group_size, lut
 * [n_groups][2^n_bits] (fp16), indices [n_nonzero], channel_scale [OC] (fp16, only with
 * cfg->per_channel_scale) and dense [OC, K] (the decoded weights, reusing cw->dense if set; w may
 * be cw->dense itself, e.g. prune_weights' output, as w is read before dense is written).
 * A channel whose max |w| is 0 gets scale 0 and decodes to zeros.
 * Returns STATUS_OK; STATUS_BAD_INPUT for a bad cfg (n_bits outside 1..8, group_size < 1,
 * channel_axis not 0/1, K not a multiple of kernel_size, DKM which is training-time, SKM without
 * importances), weights that are not finite fp16 values, or negative/non-finite importances;
 * STATUS_NOMEM. On error cw's palettization members are left NULL. */
int palettize(const float *w, int64_t OC, int64_t K, const struct palettize_cfg *cfg, struct palettize_opts *opts,
              struct compressed_weight *cw);

/* Shorthands: weighting by counts (PostTrainingPalettizer), and by importances (SKMPalettizer). */
int palettize_weights(const float *w, int64_t OC, int64_t K, int kernel_size, const struct palettize_cfg *cfg,
                      struct compressed_weight *cw);
int palettize_weighted(const float *w, int64_t OC, int64_t K, int kernel_size, const struct palettize_cfg *cfg,
                       const float *importance, struct compressed_weight *cw);

/* Group of weight (oc, k) under cw's grouping (kernel_size as given to palettize). */
int palettize_group_of(const struct compressed_weight *cw, int kernel_size, int64_t oc, int64_t k);

/* Decodes cw's palettized form (lut, indices, mask, channel_scale) into dense [OC, K]:
 * w = lut[group][index], times the channel scale rounded to fp16 when there is one, 0 where pruned.
 * This is what a loader of the compressed file runs; palettize() gives the same cw->dense. */
void palettize_decode(const struct compressed_weight *cw, int kernel_size, float *dense);

#endif
