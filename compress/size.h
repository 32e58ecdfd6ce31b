/* size.h — deployment size: the bytes a Core ML mlpackage (iOS18 / mlprogram) takes for a
 * compressed network, layer by layer (SPEC §4).
 *
 * weight.bin (exact): a 64-byte file header, then one blob per constant of >= 10 elements, each a
 * 64-byte metadata record followed by its data, every record starting 64-byte aligned (so each
 * blob occupies 64 + round_up(data, 64) bytes, except that the file ends right after the last
 * blob's data). Sub-byte data is packed LSB-first into ceil(n*bits/8) bytes. Constants under 10
 * elements are stored inline in the program instead. Per layer (iOS18 constexpr ops):
 *
 *   dense            weight fp16 [OC, K]
 *   palettized       indices uint-n [OC, K] + lut fp16 [groups, 2^n] (ONE constant holding every
 *                    group's LUT) [+ per-channel scale fp16 [OC]]       constexpr_lut_to_dense
 *   sparse           mask uint1 [OC, K] + nonzero_data fp16 [nnz]       constexpr_sparse_to_dense
 *   sparse+palettized mask uint1 [OC, K] + indices uint-n [nnz] + lut   constexpr_lut_to_sparse
 *   int8             data int8 [OC, K] + scale fp16 [OC] (+ offset int8 [OC] only for the affine
 *                    scheme: iOS18's constexpr_blockwise_shift_scale omits a zero offset, where
 *                    iOS16's constexpr_affine_dequantize always stored a zero-point vector)
 *   sparse+int8      mask + int8 nonzero data [nnz] + scale (+ offset)
 *   bias             fp16 [OC] for every layer (BatchNorm folded into the convs), never compressed
 *
 * A layer both palettized and quantized keeps its fp16 LUT (the quantization then only concerns
 * activations); int8 LUTs are not modelled.
 *
 * The rest of the package is a documented estimate, not a measurement: the program
 * (model.mlmodel, a protobuf of the MIL program) costs a fixed part plus a per-operation and
 * per-constant amount; see the SIZE_* constants and size.c. */
#ifndef RN_SIZE_H
#define RN_SIZE_H

#include "compress.h"

#include <stddef.h>
#include <stdint.h>

#define SIZE_FILE_HEADER_BYTES 64     /* weight.bin storage header */
#define SIZE_BLOB_RECORD_BYTES 64     /* metadata record before each blob */
#define SIZE_BLOB_ALIGN 64            /* every record starts at a multiple of this */
#define SIZE_MIN_BLOB_ELEMENTS 10     /* smaller constants are inline in the program */

/* The rest of the package: Manifest.json and model.mlmodel (the MIL program), measured on
 * coremltools 9.0's packages (size.c says how). Fixed part, one dense layer (weight and bias consts,
 * the conv or linear op with its parameters, its ReLU or residual add), then what a compressed
 * form adds to the layer (its decoder ops and consts replace the weight const). */
#define SIZE_PACKAGE_FIXED_BYTES 4096 /* Manifest.json, model description, metadata, function signature,
                                       * input and output casts, stem pool and head ops */
#define SIZE_CONV_LAYER_BYTES 1455    /* dense conv, measured (rn50-fmnist; ResNet50 is 7 % smaller) */
#define SIZE_LINEAR_LAYER_BYTES 1015  /* dense linear (fewer parameters than a conv: estimated 440 less) */
#define SIZE_LUT_BYTES 147            /* constexpr_lut_to_dense, indices + lut consts (per tensor or grouped) */
#define SIZE_SPARSE_BYTES 128         /* constexpr_sparse_to_dense, mask + nonzero consts */
#define SIZE_SPARSE_LUT_BYTES 721     /* constexpr_lut_to_sparse + constexpr_sparse_to_dense */
#define SIZE_INT8_BYTES 141           /* constexpr_blockwise_shift_scale, data + scale consts */
#define SIZE_SPARSE_INT8_BYTES 714    /* constexpr_sparse_blockwise_shift_scale + constexpr_sparse_to_dense */
#define SIZE_INT8_OFFSET_BYTES 86     /* the affine scheme's offset const */
#define SIZE_SCALE_BYTES 576          /* per-channel scale: one op and one const (estimated) */
#define SIZE_ACT_QUANT_BYTES 1152     /* quantize + dequantize of a layer's input, two inline consts (estimated) */

struct size_layer {
    char name[48];
    char scheme[64];          /* "fp16", "lut4", "lut4/g16", "sparse50.0%", "sparse75.0%+lut4", "int8", ... */
    int64_t n_weights;        /* OC*K */
    int64_t n_nonzero;        /* stored weights: n_weights unless pruned */
    int n_blobs;              /* constants stored in weight.bin (weight parts and bias) */
    int n_inline;             /* constants stored inline in the program */
    int n_ops;                /* operations: the layer's op, its constexpr decoders, act. quantize pairs */
    size_t payload_bytes;     /* blob data alone */
    size_t blob_bytes;        /* in weight.bin: records + data + alignment padding after each blob */
    size_t tail_pad;          /* padding after this layer's last blob (not written if it ends the file) */
    size_t inline_bytes;      /* data of inline constants */
    size_t program_bytes;     /* estimated program bytes for the layer's ops and constants */
    size_t act_quant_bytes;   /* of program_bytes + inline_bytes: the 8-bit activations' quantize pair */
    size_t bytes;             /* blob_bytes + inline_bytes + program_bytes */
};

/* One layer (weight and bias). cw NULL: from shapes alone, with full LUTs (2^n entries per
 * group), the exact nonzero count a target sparsity gives (ceil(n*(1 - s)) kept at the
 * granularity's unit, or n:m exactly) and the group count from group_size. cw non-NULL: what cw
 * really holds (mask and n_nonzero, n_bits and n_groups, channel scale, int8 data and zero
 * point), which must have info's shape. plan may be NULL with cw (activation quantization then
 * unknown: counted as absent). */
void size_layer(const struct compress_layer_info *info, const struct layer_plan *plan,
                const struct compressed_weight *cw, struct size_layer *out);
/* size_layer(...).bytes */
size_t size_layer_bytes(const struct compress_layer_info *info, const struct layer_plan *plan,
                        const struct compressed_weight *cw);

struct size_report {
    int n_layers;
    struct size_layer *layer;       /* [n_layers], owned */
    size_t weight_file_bytes;       /* weight.bin, exact */
    size_t program_bytes;           /* model.mlmodel + manifest, estimated */
    size_t total_bytes;             /* the package */
    double mib;                     /* total_bytes / 2^20 */
    int64_t n_weights, n_nonzero;
};

/* The whole package for plan (cw: [plan->n_layers] compressed layers, or NULL for shapes
 * alone; an entry whose dense is NULL also counts from shapes). rep is owned by the caller and
 * freed with size_report_free. Returns STATUS_OK or STATUS_NOMEM (rep zeroed). */
int size_model(const struct compress_plan *plan, const struct compressed_weight *cw, struct size_report *rep);
void size_report_free(struct size_report *rep);

#endif
