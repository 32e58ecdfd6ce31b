/* apply.h — turns a plan into a compressed network: every layer's BatchNorm-folded weights go
 * through pruning, then palettization (of the kept weights), then int8 quantization, in that
 * order (SPEC §3 joint order); layers left alone are stored fp16, like biases. The decoded
 * weights are installed into the network, so `resnet_infer` evaluates the compressed model.
 * With 8-bit activations, the activation ranges are calibrated on `calib` and the network's
 * act_hook is set. Finally every layer is put on the kernel of its compressed form
 * (compress/kern_attach.h: int8, sparse, lut, sparse-lut); net->simulate = 1 (or the environment
 * variable RN_NO_KERNELS=1 before applying) runs the simulation instead. */
#ifndef RN_APPLY_H
#define RN_APPLY_H

#include "compress.h"
#include "data.h"
#include "quantize.h"
#include "resnet.h"

struct apply_result {
    int n_layers;
    struct compressed_weight *cw;   /* [n_layers], owned */
    struct act_quant *aq;           /* 8-bit activations, or NULL; owned by the network (its act_ctx),
                                       freed by format_free_activations(net) */
    double seconds;                 /* time to compress (including calibration) */
    double sparsity;                /* pruned fraction over all compressed layers' weights */
};

/* net: freshly loaded (folded) network; it is modified in place (decoded weights, fp16 biases,
 * activation hook). calib: images for sensitive k-means and activation calibration (the `val`
 * split), or NULL when the plan needs none. Errors: a plan that needs data without `calib`,
 * DKM (training-time: see `rn50-tune finetune`), and the algorithms' own. */
int compress_apply(struct resnet *net, const struct compress_plan *plan, const struct dataset *calib,
                   struct apply_result *res);
void apply_result_free(struct apply_result *res);

/* 1 if any layer of the plan quantizes activations to 8 bits. */
int plan_quantizes_activations(const struct compress_plan *plan);

/* 1 if compress_apply needs calibration images for the plan: 8-bit activations, sensitive
 * k-means, or pruning with reconstruct. */
int plan_needs_calibration(const struct compress_plan *plan);

#endif
