/* resnet.h — torchvision's ResNet family: architecture description, parameters under
 * torchvision's state_dict names, and batched fp32 inference.
 *
 * A network is built from a config (resnet_config_load: a known name or a YAML model file). Its
 * parameters live in one allocation (`params`) described by a table in state_dict order, so that
 * gradients and optimiser state can reuse the same layout. Inference uses BatchNorm folded into
 * the convolutions (resnet_fold), refreshed whenever the parameters change. */
#ifndef RN_RESNET_H
#define RN_RESNET_H

#include "kern.h"
#include "ops.h"

#include "image_transform.h"

#include <stdint.h>

enum resnet_block { RESNET_BASIC, RESNET_BOTTLENECK, RESNET_BLOCK_COUNT };
enum resnet_stem { RESNET_STEM_IMAGENET, RESNET_STEM_SMALL, RESNET_STEM_COUNT };

struct resnet_config {
    char name[64];
    enum resnet_block block;
    int layers[4];        /* blocks per stage */
    int width;            /* stem channels; stage s has width << s planes (torchvision: 64) */
    enum resnet_stem stem;
    int in_channels;
    int n_classes;
    int in_h, in_w;
    /* Preprocessing of image files for this model (imagefolder: data; model YAML keys resize,
     * crop, mean, std, interpolation). Defaults: resnet_config_default_preprocess. */
    struct image_transform pre;
};

/* The preprocessing a model gets when its file says nothing: 3 channels, torchvision's
 * IMAGENET1K_V1 (Resize(256) for a 224 crop, scaled as crop * 256 / 224 for other inputs,
 * ImageNet mean and std, bilinear); 1 channel, the crop alone with Fashion-MNIST's mean and std
 * (what the default model was trained on). The crop is the input size. */
void resnet_config_default_preprocess(struct resnet_config *cfg);

/* Fills cfg from `name`: resnet18/34/50/101/152 (torchvision ImageNet models, 3x224x224, 1000
 * classes), rn50-fmnist (the embedded default), or the path of a YAML model file
 * (configs/models/rn50-fmnist.yaml shows the keys). Errors name the file, line and key. */
int resnet_config_load(const char *name, struct resnet_config *cfg);
/* Checks ranges (blocks 1..64 per stage, width 1..1024, ...); `where` prefixes messages. */
int resnet_config_validate(const struct resnet_config *cfg, const char *where);

/* One state_dict entry. Running BatchNorm statistics are buffers, not trainable. */
struct resnet_param {
    char name[64];
    int ndim;
    int64_t shape[4];
    int64_t offset;      /* into resnet.params */
    int64_t numel;
    int trainable;
};

/* A convolution followed by its BatchNorm (every conv in a ResNet has one). */
struct resnet_conv {
    char name[48];        /* torchvision module name: "conv1", "layer1.0.conv2", "layer2.0.downsample.0" */
    struct conv_desc d;
    int H, W;             /* input size at the network's configured input size */
    int OH, OW;
    int w, gamma, beta, mean, var;   /* indices into resnet.param */
    float *wf, *bf;       /* folded weights [OC, K] and bias [OC], owned by resnet.folded */
    /* The compressed kernel this conv runs on (model/kern.h), attached by compress_apply or
     * format_load; NULL: dense fp32 on wf (the default). wf always holds the decoded weights, so
     * the reference path and the simulation ignore it. */
    struct conv_kernel *kern;
};

struct resnet_block_desc {
    int conv[3];          /* indices into resnet.conv: conv1, conv2[, conv3] */
    int n_conv;           /* 2 (basic) or 3 (bottleneck) */
    int downsample;       /* conv index, or -1 for the identity shortcut */
};

struct resnet {
    struct resnet_config cfg;
    int n_param;
    struct resnet_param *param;
    int64_t n_floats;     /* size of params */
    float *params;        /* every parameter and buffer, one allocation */
    int n_conv;
    struct resnet_conv *conv;   /* forward order: stem, then each block's convs, downsample last */
    int n_block;
    struct resnet_block_desc *block;
    int fc_w, fc_b;       /* param indices: fc.weight [classes, features], fc.bias [classes] */
    int features;         /* channels into the fc layer */
    float *folded;        /* one allocation for every conv's wf and bf */
    int64_t flops;        /* multiply-adds x 2 per image at the configured input size */
    /* Activation hook for 8-bit activation simulation (compress/quantize.h): when set, inference
     * calls it on every tensor an int8 engine would store as 8-bit — the network input, each
     * block's input, each conv's input inside a block, both inputs of every residual add, and the
     * fc layer's input — numbered 0..resnet_act_sites()-1 in forward order, with x [C, N, H, W]
     * to observe or fake-quantize in place. Inference then runs sub-batches one after another so
     * that observers see a deterministic order. NULL (the default) costs nothing. */
    void (*act_hook)(void *ctx, int site, float *x, int64_t n);
    void *act_ctx;
    /* With act_hook, an integer engine's arithmetic for one conv or the fc layer (the int32
     * accumulation of an int8 kernel, compress/quantize.h), called with act_ctx instead of the
     * float kernel; in_site is the activation site of the layer's input. Returning 0 lets the
     * float kernel run (a layer without int8 weights). NULL: float kernels everywhere. */
    int (*int_conv)(void *ctx, int conv, int in_site, const float *x, int N, const float *residual, int relu, float *y);
    int (*int_fc)(void *ctx, int in_site, const float *x, int N, float *logits);
    /* The kernel path (model/kern.h), set up with the kernels (compress/kern_attach.h): the
     * per-site activation quantization the engine then applies itself, instead of act_hook (fused
     * into the int8 kernels' epilogues where they produce a site, else one vectorized pass), or
     * NULL; the fc layer's kernel or NULL. Kernels (conv[i].kern, fc_kern) are owned by the
     * network and freed by resnet_free. simulate = 1 ignores kernels and site_q: inference is
     * then the simulation (dense kernels on decoded weights, act_hook, int_conv, int_fc). */
    const struct act_qparams *site_q;
    struct conv_kernel *fc_kern;
    int simulate;
    int kern_self_contained;   /* the kernel path calls no int_conv / int_fc hook (so sub-batches
                                  may run in parallel); set with the kernels */
};

/* The kernel kind a layer runs on, by name: conv in [0, n_conv) (net->conv order), or n_conv for
 * the fc layer. The names are stable (the cost model uses them as its term names):
 *   "dense"       fp32 GEMM / direct convolution on the folded weights (the default)
 *   "lut"         palettized weights: LUT-decoded to fp32 once when attached, then the dense kernel
 *   "sparse"      unstructured-sparse fp32 weights: packed nonzeros per output channel x dense
 *                 activations (kern_sparse.c)
 *   "sparse-lut"  pruned + palettized: the sparse kernel on the LUT-decoded nonzeros
 *   "int8"        W8A8: u8 activations x s8 weights -> int32 (AVX-512 VNNI), requantized in the
 *                 epilogue (kern_int8.c) */
const char *resnet_conv_kernel_name(const struct resnet *net, int conv);

/* The activation site (act_hook numbering) of the input of conv `conv`, or of the fc layer for
 * conv == n_conv. */
int resnet_conv_in_site(const struct resnet *net, int conv);

/* The number of activation sites act_hook is called on per forward pass. */
int resnet_act_sites(const struct resnet *net);

/* Builds the network with parameters initialised as torchvision does (Kaiming normal fan_out for
 * convs, BN weight 1 bias 0, running stats 0/1, fc uniform(-1/sqrt(in), 1/sqrt(in))). */
int resnet_alloc(const struct resnet_config *cfg, uint64_t seed, struct resnet **out);
void resnet_free(struct resnet *net);
/* Frees the layers' kernels and clears site_q: the network runs dense again. */
void resnet_free_kernels(struct resnet *net);

static inline float *resnet_param_data(const struct resnet *net, int i) { return net->params + net->param[i].offset; }
/* Index of the parameter called `name`, or -1. */
int resnet_find_param(const struct resnet *net, const char *name);
int resnet_find_conv(const struct resnet *net, const char *name);

/* Loads parameters from a safetensors file with torchvision state_dict names (F32/F16/BF16; the
 * I64 num_batches_tracked entries are accepted and ignored). Missing or extra tensors, wrong
 * shapes or dtypes are errors naming the file and tensor. Refolds. */
int resnet_load_weights(struct resnet *net, const char *path);
/* Saves parameters (and BN buffers) under torchvision names, as F32, F16 or BF16 (st_dtype). */
int resnet_save_weights(const struct resnet *net, const char *path, int dtype, const char *metadata_key,
                        const char *metadata_value);

/* Recomputes every conv's folded weights from the current parameters (and drops any compressed
 * kernels: they were built from the old weights). */
void resnet_fold(struct resnet *net);

/* Inference workspace for up to max_batch images at the configured input size. */
struct resnet_infer;
int resnet_infer_alloc(const struct resnet *net, int max_batch, struct resnet_infer **out);
void resnet_infer_free(struct resnet_infer *ws);
/* x [N, C, H, W] (NCHW, N <= max_batch) -> logits [N, classes]. Uses the folded weights. */
void resnet_infer(struct resnet_infer *ws, const float *x, int N, float *logits);
/* Per-layer timing: when `seconds` is non-NULL, each resnet_infer call adds the wall time of every
 * conv (index in net->conv order) and of the fc layer (index net->n_conv) into seconds[] (which
 * has net->n_conv + 1 entries); NULL turns it off. While profiling, a batch runs as sub-batches
 * one after another (each layer uses all threads), so that layers do not overlap. */
void resnet_infer_set_profile(struct resnet_infer *ws, double *seconds);
/* The same with every layer's plain reference kernel (slow; for tests). */
void resnet_infer_ref(struct resnet_infer *ws, const float *x, int N, float *logits);

/* Forward passes over the first n images of `images` (NCHW at the network's input size) in
 * batches of 32, the logits discarded: for what net->act_hook sees on the way (activation
 * calibration, reconstruct's capture). STATUS_NOMEM when the workspace cannot be allocated. */
int resnet_run_images(struct resnet *net, const float *images, int64_t n);

#endif
