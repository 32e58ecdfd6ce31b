/* kern_attach.h — puts a compressed network on the kernels of its layers' forms (model/kern.h):
 * int8 weights with 8-bit activations -> "int8" (W8A8, VNNI); pruned weights sparse enough to
 * pay -> "sparse" ("sparse-lut" when also palettized); palettized -> "lut"; the rest dense.
 * Called by compress_apply and format_load once the weights (and activation ranges) are final.
 * The environment variable RN_NO_KERNELS (set, not "0") leaves every layer on the simulation
 * (decoded fp32 weights, the act_hook / int_conv path), for side-by-side comparisons. */
#ifndef RN_KERN_ATTACH_H
#define RN_KERN_ATTACH_H

#include "compress.h"
#include "quantize.h"
#include "resnet.h"

#include <stdint.h>

/* Below this fraction of zeros a pruned layer runs dense (or "lut"): the sparse kernel reads
 * one activation strip per nonzero where the dense one reuses it across 6 output channels, so it
 * wins only when most weights are gone. Measured on ResNet50 with every layer on the sparse
 * kernel (bench --compare --layers, 2 threads, busy machine): the network 0.58x dense at 50 %
 * (every layer slower); at 75 % about half the layers faster, half slower; 1.9-2.0x at 90 %. */
#define KERN_SPARSE_MIN 0.8

/* What decides a layer's kernel: facts its compressed weights show once built (kern_attach) and
 * that its plan predicts before any weights exist (kern_plan_kind, for the cost model). */
struct kern_facts {
    int is_fc;          /* the fc layer: it runs dense or int8 only */
    int int8;           /* int8 weights (quantized and not palettized: palettization wins) */
    int int8_affine;    /* ... with zero points: no int8 kernel (the simulation's integer path) */
    int net_acts8;      /* the network has 8-bit activations: then every layer's input is 8-bit */
    int pruned;         /* has a pruning mask */
    double zeros;       /* the fraction of weights pruned away (read only when pruned) */
    int palettized;
};

/* The one choice of a layer's kernel: int8 weights in a network with 8-bit activations -> int8
 * (W8A16 layers included; affine weights stay dense: no kernel); pruned convs with at least
 * KERN_SPARSE_MIN zeros -> sparse (sparse-lut when palettized); palettized convs -> lut; the rest
 * (the fc layer unless int8, W8A16 in a float network, lightly pruned layers) dense. */
enum kern_kind kern_choose(const struct kern_facts *f);

/* The kernel a layer will run, from its plan: whether it is the fc layer, its weight count
 * (magnitude pruning zeroes floor(n * s) of n weights; n:m pruning n of every m) and whether the
 * network has any 8-bit activations (plan_quantizes_activations). */
enum kern_kind kern_plan_kind(const struct layer_plan *lp, int is_fc, int64_t n_weights, int net_acts8);
/* The same for layer `layer` of plan (the fc layer is the one named "fc"). */
enum kern_kind kern_plan_layer_kind(const struct compress_plan *plan, int layer);

/* cw[i] is the compressed form of the layer named names[i] (a conv or "fc"); aq (NULL without
 * 8-bit activations) must be calibrated. Replaces any kernels already attached. Kernels read the
 * network's decoded weights and biases by pointer: attach after they are final. */
int kern_attach(struct resnet *net, int n_layers, const char *const *names, const struct compressed_weight *cw,
                const struct act_quant *aq);

#endif
