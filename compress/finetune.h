/* finetune.h — training-time compression (SPEC §3): DKM palettization and scheduled magnitude
 * pruning, alone or joint (palettize the kept weights), as train_hooks for model/train_loop.c,
 * and the finalize step that writes a truly compressed file (compress/format.h).
 *
 * During training, layer weights are the raw, unfolded conv weights (BatchNorm stays live) and
 * the fc weights:
 *  - pruning: at each update step of the layer's scheduler (compress/schedule.h) the mask is
 *    recomputed from the current weights' magnitudes at the scheduled sparsity (prune_weights, so
 *    every granularity of the config works) and multiplied into the weights and the momentum;
 *    between updates the forward uses w*mask, the gradient is masked, and after each SGD update
 *    the weights and momentum are masked again;
 *  - DKM (from step `milestone` on): each group (per_tensor, or per_grouped_channel along output
 *    channels) of kept weights goes through dkm_forward with the centroids of the previous step,
 *    and the gradient through dkm_backward (compress/dkm.h). The first active step initialises
 *    the centroids by exact 1-D k-means (kmeans1d_optimal) of the group's weights.
 *
 * Finalize (at validation and for the output): pruned weights are exactly 0 under the current
 * mask (its sparsity is the schedule's, the target after the last update step); each kept weight
 * takes the nearest fp16-rounded centroid (hard assignment), so a group has at most 2^n distinct
 * values. Folding BatchNorm then multiplies every output row of a conv by gamma/sqrt(var + eps):
 * that factor is stored as the layer's fp16 per-channel scale (compressed_weight.channel_scale,
 * counted by the size model as one fp16 [OC] constant), so the LUT stays the trained one. The fc
 * layer has no BatchNorm and no scale. Layers that are not compressed are stored fp16.
 *
 * Not supported (STATUS_BAD_INPUT at finetune_alloc): DKM with channel_axis 1 groups, DKM with
 * enable_per_channel_scale (BatchNorm folding gives the scale), quantization sections. */
#ifndef RN_FINETUNE_H
#define RN_FINETUNE_H

#include "compress.h"
#include "resnet.h"
#include "train.h"

#include <stddef.h>

struct finetune;

/* net: the network being trained (its parameters are modified in place); plan: from
 * compress_config_load on net; config_text (may be NULL): stored in the output's metadata. The
 * plan and net must outlive the object. Returns STATUS_OK, STATUS_BAD_INPUT or STATUS_NOMEM. */
int finetune_alloc(struct resnet *net, const struct compress_plan *plan, const char *config_text,
                   struct finetune **out);
void finetune_free(struct finetune *f);

/* The hooks to pass in train_opts.hooks. */
const struct train_hooks *finetune_hooks(struct finetune *f);

/* Finalizes the current weights into `path` (what save_best does at the best validation):
 * returns STATUS_OK or the format's/allocation errors. The network's parameters are unchanged. */
int finetune_finalize(struct finetune *f, const char *path);

struct finetune_stats {
    size_t bytes;           /* deployment size of the last file written (compress/size.h) */
    double sparsity;        /* pruned fraction over the pruned layers' weights in that file */
    int max_distinct;       /* most distinct LUT values used by one palettized group, in that file */
    int64_t attention_floats;   /* DKM work kept between the passes: T*n*2^n attention + centroids */
};
void finetune_get_stats(const struct finetune *f, struct finetune_stats *s);

#endif
