/* compress.h — the compression plan (what to do to each layer) and the compressed form of one
 * layer's weights, shared by the config reader, the algorithms (palettize, prune, quantize), the
 * size model and the compressed-file format. Semantics follow coremltools (SPEC §3); where we do
 * better it is said at the field.
 *
 * Weights are seen as 2-D [OC, K], K = IC*KH*KW (conv) or IC (fc), as coremltools reshapes them.
 * The layers that can be compressed are every conv (torchvision module type "Conv2d", names such
 * as "layer3.1.conv2", "layer1.0.downsample.0") and the fc layer ("Linear", name "fc"). */
#ifndef RN_COMPRESS_H
#define RN_COMPRESS_H

#include <stdint.h>

#define COMPRESS_DEFAULT_WEIGHT_THRESHOLD 2048

/* ---- the plan ---- */

enum pal_granularity { PAL_PER_TENSOR, PAL_PER_GROUPED_CHANNEL, PAL_GRANULARITY_COUNT };
enum pal_algorithm { PAL_KMEANS, PAL_SKM, PAL_DKM, PAL_ALGORITHM_COUNT };

struct palettize_cfg {
    int enabled;
    int n_bits;                 /* 1..8 */
    enum pal_granularity granularity;
    int group_size;             /* channels per LUT for PAL_PER_GROUPED_CHANNEL */
    int channel_axis;           /* 0: output channels share a LUT; 1: input channels */
    int per_channel_scale;      /* enable_per_channel_scale: divide rows by max |w| first */
    enum pal_algorithm algorithm;
    /* DKM only (training-time, compress/dkm.h; coremltools' ModuleDKMPalettizerConfig defaults). */
    double tau;                 /* palett_tau: softmax temperature, default 1e-4 */
    int kmeans_max_iter;        /* centroid updates per training step, default 3 */
    int64_t milestone;          /* training step at which palettization starts, default 0 */
};

/* PolynomialDecayScheduler (SPEC §3, compress/schedule.h): at the i-th of the N update steps the
 * sparsity becomes target + (initial - target) * (1 - i/(N-1))^power. n_update_steps 0: no
 * scheduler (one-shot pruning at target_sparsity). */
#define PRUNE_MAX_UPDATE_STEPS 256
struct prune_schedule {
    int n_update_steps;
    int64_t update_steps[PRUNE_MAX_UPDATE_STEPS];   /* strictly increasing training steps */
    double power;               /* default 3 */
};

enum prune_granularity { PRUNE_PER_SCALAR, PRUNE_PER_KERNEL, PRUNE_PER_CHANNEL, PRUNE_GRANULARITY_COUNT };

struct prune_cfg {
    int enabled;
    double target_sparsity;     /* 0..1 */
    enum prune_granularity granularity;
    int block_size;             /* >1: blocks of output channels pruned together (per_scalar) */
    int n_m_n, n_m_m;           /* n:m — n zeros in every m consecutive weights along K (0: off) */
    double initial_sparsity;    /* the scheduler's start, default 0 (fine-tuning only) */
    struct prune_schedule sched;
    int reconstruct;            /* ours, not coremltools': refit the kept weights and the bias on
                                   calibration data (compress/reconstruct.h); default 0 */
};

enum quant_observer { QUANT_MIN_MAX, QUANT_MOVING_AVERAGE_MIN_MAX, QUANT_OBSERVER_COUNT };

struct quant_cfg {
    int enabled;                /* int8 weights, symmetric per output channel, fp16 scales */
    int symmetric;              /* quantization_scheme: symmetric (1) | affine (0) */
    int activations;            /* activation_dtype int8 (1) | none (0): W8A8 vs W8A16 */
    enum quant_observer observer;
    int calibration_samples;    /* default 128 */
};

struct layer_plan {
    struct prune_cfg prune;
    struct palettize_cfg pal;
    struct quant_cfg quant;
};

struct compress_layer_info {
    char name[48];              /* torchvision module name */
    int is_linear;              /* module type Linear (fc) vs Conv2d */
    int64_t OC, K;
    int64_t IC;                 /* input channels, K = IC*KH*KW (fc: IC = K); added by config.c for
                                 * channel_axis 1 groups and the size model; 0 = unknown, use K */
};

struct compress_plan {
    int n_layers;
    struct compress_layer_info *info;   /* [n_layers], the network's layers in forward order */
    struct layer_plan *layer;           /* [n_layers]; all families disabled = leave alone */
    int64_t weight_threshold;           /* compress only tensors with more elements than this */
};

/* ---- the compressed form of one layer ---- */

struct compressed_weight {
    int64_t OC, K;
    /* Pruning: mask[i] = 1 keeps weight i (row-major [OC, K]); NULL when not pruned. */
    uint8_t *mask;
    int64_t n_nonzero;
    /* Palettization: one fp16 LUT of 2^n_bits entries per group; indices[i] in [0, 2^n_bits) for
     * every kept weight, in row-major order over the kept weights (all weights if not pruned).
     * NULL when not palettized. */
    int n_bits;
    int n_groups;
    int group_axis, group_size;
    uint16_t *lut;              /* [n_groups][1 << n_bits], fp16 */
    uint8_t *indices;           /* [n_nonzero] (unpacked; the file packs them LSB-first) */
    uint16_t *channel_scale;    /* [OC] fp16 per-channel scale, or NULL */
    /* int8 quantization: q [OC, K] (pruned weights are 0), fp16 scale per output channel,
     * zero point per channel for the affine scheme (NULL when symmetric). NULL when not quantized. */
    int8_t *q;
    uint16_t *q_scale;
    int8_t *q_zero;
    /* The weights the compressed form decodes to, [OC, K] fp32 (always set). */
    float *dense;
};

void compressed_weight_free(struct compressed_weight *cw);   /* frees members; the struct itself is the caller's */

#endif
