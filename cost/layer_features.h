/* layer_features.h — what the cost model sees of a compressed network: each layer's kernel kind and a
 * few size features, computed from the architecture and the plan alone (no weights, no run), so
 * that a prediction is a dot product. Also the compact layer spec ("sp0.75+lut4g16") that the
 * profiler's configurations and measurement files are written in.
 *
 * The model is linear in "terms": a term is a (group, feature) pair. The groups are the five
 * kernel kinds (a layer's features count only in its own kind's group), `any` (every layer, any
 * kind) and `net` (once per network: the work outside the convolutions). A layer's latency is
 * the sum of its kind's and `any`'s terms; a network's is the sum over its layers plus `net`. */
#ifndef RN_COST_LAYER_FEATURES_H
#define RN_COST_LAYER_FEATURES_H

#include "compress.h"
#include "kern.h"
#include "resnet.h"

#include <stddef.h>
#include <stdint.h>

/* The groups: one per kernel kind (enum kern_kind, model/kern.h: a kind's group is its value and
 * is named kern_kind_name names it), then `any` and `net`. */
#define COST_GROUP_ANY KERN_KIND_COUNT
#define COST_GROUP_NET (KERN_KIND_COUNT + 1)
#define COST_GROUP_COUNT (KERN_KIND_COUNT + 2)

/* Features, in units that keep coefficients near 1 (ms per unit). Per layer unless noted:
 *   one       1 (per-layer overhead; in `net`: per-network overhead)
 *   gmacs     dense multiply-adds / 1e9
 *   gmacs_nz  multiply-adds on kept weights (x density) / 1e9
 *   weight_mb deployment bytes of the weights / 1e6 (fp16; packed indices + fp16 LUTs; fp16
 *             nonzeros + 1-bit mask; int8 + fp16 scales)
 *   in_m      input activation values / 1e6
 *   out_m     output values / 1e6 (in `net`: summed over every layer: the elementwise work)
 *   im2col_m  K x OH x OW / 1e6 for convs that need an im2col (not 1x1 stride 1), else 0
 *   luts      look-up tables / 1e3 (palettized layers)
 *   act8_m    input values / 1e6 of layers with 8-bit activations (in `net`: every layer's output
 *             values when any layer has 8-bit activations: an int8 engine quantizes every
 *             activation site of the network then)
 *   bounds    in `net` only: layers whose input crosses between 8-bit and float activations */
enum cost_feature {
    CF_ONE, CF_GMACS, CF_GMACS_NZ, CF_WEIGHT_MB, CF_IN_M, CF_OUT_M, CF_IM2COL_M, CF_LUTS, CF_ACT8_M, CF_BOUNDS,
    CF_COUNT
};
#define COST_TERMS (COST_GROUP_COUNT * CF_COUNT)

static inline int cost_term(int group, enum cost_feature f) { return group * CF_COUNT + (int)f; }

/* Writes "group.feature" (e.g. "lut.luts", "net.one") into buf. */
void cost_term_name(int term, char *buf, size_t cap);
/* The term named "group.feature", or -1. */
int cost_term_parse(const char *name);

/* A layer's kind is the kernel it runs on: kern_plan_kind / kern_plan_layer_kind
 * (compress/kern_attach.h), the decision kern_attach makes. */

/* Adds layer `layer`'s features (scaled by `scale`) into x[COST_TERMS]: into its kind's group and
 * `any`. *kind receives its kind (may be NULL). The plan must be net's (compress_plan_init_empty
 * or compress_config_load on the same architecture). */
void cost_layer_features(const struct resnet *net, const struct compress_plan *plan, int layer, double scale,
                         double *x, enum kern_kind *kind);
/* Sets x[COST_TERMS] to the whole network's features: every layer plus the `net` group. */
void cost_net_features(const struct resnet *net, const struct compress_plan *plan, double *x);
/* 1 when plan's layers are net's layers in net->conv order then fc (what the two functions above
 * need); 0 otherwise. */
int cost_plan_matches(const struct resnet *net, const struct compress_plan *plan);

/* ---- layer specs ----
 * One layer's plan as text: "dense", or '+'-joined parts in any order of
 *   spS      unstructured magnitude pruning to sparsity S in (0, 1)  ("sp0.75")
 *   lutB     palettization to B in 1..8 bits, one LUT per tensor      ("lut4")
 *   lutBgG   the same with one LUT per G output channels              ("lut4g16")
 *   w8a8     int8 weights and 8-bit activations
 *   w8a16    int8 weights, float activations
 * Palettization and int8 exclude each other (as in the compression configs' order, int8 after
 * palettization has nothing to do). */
int cost_spec_parse(const char *spec, struct layer_plan *lp);   /* STATUS_BAD_INPUT naming spec */
void cost_spec_format(const struct layer_plan *lp, char *buf, size_t cap);

#endif
