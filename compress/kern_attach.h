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

/* Below this fraction of zeros a pruned layer runs dense (or "lut"): the sparse kernel reads
 * one activation strip per nonzero where the dense one reuses it across 6 output channels, so it
 * wins only when most weights are gone. Measured on ResNet50 with every layer on the sparse
 * kernel (bench --compare --layers, 2 threads, busy machine): the network 0.58x dense at 50 %
 * (every layer slower); at 75 % about half the layers faster, half slower; 1.9-2.0x at 90 %. */
#define KERN_SPARSE_MIN 0.8

/* cw[i] is the compressed form of the layer named names[i] (a conv or "fc"); aq (NULL without
 * 8-bit activations) must be calibrated. Replaces any kernels already attached. Kernels read the
 * network's decoded weights and biases by pointer: attach after they are final. */
int kern_attach(struct resnet *net, int n_layers, const char *const *names, const struct compressed_weight *cw,
                const struct act_quant *aq);

#endif
