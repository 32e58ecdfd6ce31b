/* space.h — the search space of `rn50-tune tune` (issue 7): which compression choices the
 * search may combine, read strictly from YAML (configs/spaces/default.yaml shows every key).
 *
 *     palettization:
 *       n_bits: [2, 3, 4, 6, 8]          # 1..8, each at most once
 *       granularity: [per_tensor, 16]    # per_tensor, or a group size of output channels
 *     pruning:
 *       sparsity: [0.25, 0.5]            # magnitude pruning, per scalar, 0 < s < 1
 *     quantization:
 *       w8a8: true                       # int8 weights and 8-bit activations
 *       w8a16: true                      # int8 weights only
 *     workflows: [ptq, calib]            # ptq: data-free; calib: calibration data (sensitive
 *                                        # k-means, W8A8 activation ranges, per-layer pruning
 *                                        # refitted with reconstruct); finetune: training-time
 *     joint: [prune+palettize, prune+quantize, palettize+activations]
 *     per_layer:                         # false: global configs only
 *       n_bits: [1, 2, 3, 4, 6]          # per-layer palettization choices (per tensor)
 *       sparsity: []                     # per-layer pruning choices (fp16 nonzeros)
 *     leave_alone: [conv1]               # POSIX ERE matched against whole layer names
 *
 * Every key is optional (absent lists are empty, absent booleans false, workflows default to
 * [ptq]); unknown keys, duplicates, wrong types, values out of range and invalid regexes are
 * STATUS_BAD_INPUT with "FILE:LINE: KEY: ..." naming the bad value and what is allowed. */
#ifndef RN_SPACE_H
#define RN_SPACE_H

#define SPACE_MAX_CHOICES 16
#define SPACE_MAX_LEAVE 32

enum space_workflow { SPACE_PTQ = 1, SPACE_CALIB = 2, SPACE_FINETUNE = 4 };
enum space_joint { SPACE_JOINT_PRUNE_PAL = 1, SPACE_JOINT_PRUNE_QUANT = 2, SPACE_JOINT_PAL_ACT = 4 };

struct space {
    int n_bits[SPACE_MAX_CHOICES], n_n_bits;
    int group[SPACE_MAX_CHOICES], n_group;          /* 0: per_tensor, else group_size */
    double sparsity[SPACE_MAX_CHOICES];
    int n_sparsity;
    int w8a8, w8a16;
    unsigned workflows;                             /* enum space_workflow bits */
    unsigned joint;                                 /* enum space_joint bits */
    int per_layer;                                  /* per-layer mixing allowed */
    int layer_bits[SPACE_MAX_CHOICES], n_layer_bits;
    double layer_sparsity[SPACE_MAX_CHOICES];
    int n_layer_sparsity;
    char leave_alone[SPACE_MAX_LEAVE][64];
    int n_leave_alone;
};

/* Reads and validates path into *s (zeroed first). STATUS_IO when unreadable. */
int space_load(const char *path, struct space *s);

/* 1 if layer `name` is matched (whole name) by one of the leave_alone patterns. */
int space_leaves_alone(const struct space *s, const char *name);

#endif
