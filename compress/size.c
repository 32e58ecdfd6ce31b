/* size.c — the deployment size of a compressed network as a Core ML mlpackage (size.h lists the
 * storage per scheme).
 *
 * Implements: weight.bin exactly (file header, blob records, 64-byte alignment, LSB-first sub-byte
 * packing, the 10-element inline rule), from real compressed layers or from shapes alone; an
 * estimate of the rest of the package. Does not implement: the legacy neuralnetwork format,
 * iOS16's constexpr ops (an always-present zero-point vector, packed uint8 indices with per-tensor
 * LUTs only), int8 LUTs, vector palettization (cluster_dim > 1), filesystem block rounding.
 *
 * The program. model.mlmodel is a protobuf of the MIL program; its size is dominated by operations
 * and const declarations (type names, input bindings, typed outputs, names). The constants of
 * size.h are measured on packages written by coremltools 9.0 itself (scripts/coreml_deploy.py's
 * conversion of rn50-fmnist at fp16 for iOS18, then prune_weights / palettize_weights /
 * linear_quantize_weights on every layer above the threshold; tests/coreml_compat.py checks the
 * totals in CI): what a dense layer costs, and what each compressed form adds to it. Per-channel
 * scales and 8-bit activations' quantize/dequantize pairs are not measured (estimated from the
 * ops and consts they add). */
#include "size.h"
#include "config.h"
#include "status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* Bytes of `count` values of `bits` each, packed LSB-first with no padding between values. */
static size_t packed_bytes(int64_t count, int bits) { return (size_t)((count * bits + 7) / 8); }

/* Adds one constant of n_elem elements and data_bytes bytes: a blob in weight.bin, or inline. */
static void add_const(struct size_layer *o, int64_t n_elem, size_t data_bytes)
{
    if (n_elem >= SIZE_MIN_BLOB_ELEMENTS) {
        const size_t padded = round_up(data_bytes, SIZE_BLOB_ALIGN);
        o->blob_bytes += SIZE_BLOB_RECORD_BYTES + padded;
        o->payload_bytes += data_bytes;
        o->tail_pad = padded - data_bytes;
        o->n_blobs++;
    } else {
        o->inline_bytes += data_bytes;
        o->n_inline++;
    }
}

static void add_op(struct size_layer *o, int n) { o->n_ops += n; }

/* Nonzero weights kept by a pruning config, from shapes alone: ceil(units*(1 - s)) units of the
 * granularity kept (SPEC §3 keeps the ceil(n*(1-s)) largest), or n:m exactly. Blocks of output
 * channels (block_size) change which weights go, not how many, up to rounding: counted as
 * per_scalar. */
static int64_t prune_nnz_from_shape(const struct compress_layer_info *li, const struct prune_cfg *p)
{
    const int64_t numel = li->OC * li->K;
    if (p->n_m_m > 0) return numel - li->OC * (li->K / p->n_m_m) * p->n_m_n;
    int64_t units = numel, unit = 1;
    if (p->granularity == PRUNE_PER_CHANNEL) {
        units = li->OC;
        unit = li->K;
    } else if (p->granularity == PRUNE_PER_KERNEL) {
        const int64_t ic = li->IC > 0 ? li->IC : li->K;
        units = li->OC * ic;
        unit = li->K / ic;
    }
    /* The epsilon keeps 0.5 * 4096 = 2048 from becoming 2049 through binary rounding of 1 - s. */
    int64_t kept = (int64_t)ceil((double)units * (1.0 - p->target_sparsity) - 1e-9);
    if (kept < 0) kept = 0;
    if (kept > units) kept = units;
    return kept * unit;
}

static int64_t lut_groups_from_shape(const struct compress_layer_info *li, const struct palettize_cfg *p)
{
    if (p->granularity != PAL_PER_GROUPED_CHANNEL || p->group_size <= 0) return 1;
    const int64_t channels = p->channel_axis == 1 ? (li->IC > 0 ? li->IC : li->K) : li->OC;
    return channels / p->group_size;   /* compress_pal_groups_fit: the groups divide the channels */
}

void size_layer(const struct compress_layer_info *info, const struct layer_plan *plan,
                const struct compressed_weight *cw, struct size_layer *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", info->name);
    const int64_t numel = info->OC * info->K;
    if (cw && !cw->dense) cw = NULL;   /* an unfilled entry: the plan decides */
    RN_ASSERT(cw || plan);
    if (cw) RN_ASSERT(cw->OC == info->OC && cw->K == info->K);

    /* What is stored. */
    int pruned, palettized, int8, zero_point = 0, scale = 0, n_bits = 16;
    int64_t nnz = numel, groups = 1;
    if (cw) {
        pruned = cw->mask != NULL;
        if (pruned) nnz = cw->n_nonzero;
        palettized = cw->lut != NULL;
        if (palettized) {
            n_bits = cw->n_bits;
            groups = cw->n_groups;
            scale = cw->channel_scale != NULL;
        }
        int8 = !palettized && cw->q != NULL;
        zero_point = int8 && cw->q_zero != NULL;
    } else {
        pruned = plan->prune.enabled;
        if (pruned) nnz = prune_nnz_from_shape(info, &plan->prune);
        /* A ragged group size is stored in fp16 by coremltools (config.h). */
        palettized = plan->pal.enabled && compress_pal_groups_fit(info, &plan->pal);
        if (palettized) {
            n_bits = plan->pal.n_bits;
            groups = lut_groups_from_shape(info, &plan->pal);
            scale = plan->pal.per_channel_scale;
        }
        int8 = !palettized && plan->quant.enabled;
        zero_point = int8 && !plan->quant.symmetric;
    }
    RN_ASSERT(nnz >= 0 && nnz <= numel);
    RN_ASSERT(!palettized || (n_bits >= 1 && n_bits <= 8 && groups >= 1));
    out->n_weights = numel;
    out->n_nonzero = nnz;

    /* Weight constants, in the order the decoding ops consume them, then the layer's own op. */
    if (pruned) add_const(out, numel, packed_bytes(numel, 1));   /* the mask over all weights */
    if (palettized) {
        add_const(out, nnz, packed_bytes(nnz, n_bits));
        const int64_t lut_n = groups << n_bits;
        add_const(out, lut_n, (size_t)lut_n * 2);
        if (scale) add_const(out, info->OC, (size_t)info->OC * 2);
        add_op(out, pruned ? 2 : 1);   /* lut_to_sparse + sparse_to_dense, or lut_to_dense */
        if (scale) add_op(out, 1);     /* constexpr_blockwise_shift_scale */
    } else if (int8) {
        add_const(out, nnz, (size_t)nnz);
        add_const(out, info->OC, (size_t)info->OC * 2);
        if (zero_point) add_const(out, info->OC, (size_t)info->OC);
        add_op(out, pruned ? 2 : 1);   /* sparse_blockwise_shift_scale + sparse_to_dense, or shift_scale */
    } else {
        add_const(out, nnz, (size_t)nnz * 2);
        if (pruned) add_op(out, 1);    /* constexpr_sparse_to_dense */
    }
    add_const(out, info->OC, (size_t)info->OC * 2);   /* the folded bias */
    add_op(out, 1);                                   /* conv or linear */
    /* The program: a dense layer's cost, plus what its compressed form adds (size.h). */
    out->program_bytes = info->is_linear ? SIZE_LINEAR_LAYER_BYTES : SIZE_CONV_LAYER_BYTES;
    if (palettized)
        out->program_bytes += pruned ? SIZE_SPARSE_LUT_BYTES : SIZE_LUT_BYTES;
    else if (int8)
        out->program_bytes += (pruned ? SIZE_SPARSE_INT8_BYTES : SIZE_INT8_BYTES) + (zero_point ? SIZE_INT8_OFFSET_BYTES : 0);
    else if (pruned)
        out->program_bytes += SIZE_SPARSE_BYTES;
    if (scale) out->program_bytes += SIZE_SCALE_BYTES;
    if (plan && plan->quant.enabled && plan->quant.activations) {
        /* quantize + dequantize of the layer's input, with a scalar scale and zero point inline. */
        add_op(out, 2);
        add_const(out, 1, 2);
        add_const(out, 1, 1);
        out->program_bytes += SIZE_ACT_QUANT_BYTES;
        out->act_quant_bytes = SIZE_ACT_QUANT_BYTES + 3;
    }
    out->bytes = out->blob_bytes + out->inline_bytes + out->program_bytes;

    /* A short name for breakdowns. */
    char part[40];
    size_t len = 0;
    out->scheme[0] = '\0';
    if (pruned) {
        len += (size_t)snprintf(out->scheme, sizeof out->scheme, "sparse%.1f%%",
                                numel ? 100.0 * (double)(numel - nnz) / (double)numel : 0.0);
    }
    if (palettized) {
        if (groups > 1)
            snprintf(part, sizeof part, "lut%d/%lldg", n_bits, (long long)groups);
        else
            snprintf(part, sizeof part, "lut%d", n_bits);
    } else if (int8) {
        snprintf(part, sizeof part, "%s", zero_point ? "int8-affine" : "int8");
    } else {
        snprintf(part, sizeof part, "%s", pruned ? "" : "fp16");
    }
    if (part[0]) snprintf(out->scheme + len, sizeof out->scheme - len, "%s%s", len ? "+" : "", part);
    if (scale) {
        len = strlen(out->scheme);
        snprintf(out->scheme + len, sizeof out->scheme - len, "+scale");
    }
}

size_t size_layer_bytes(const struct compress_layer_info *info, const struct layer_plan *plan,
                        const struct compressed_weight *cw)
{
    struct size_layer l;
    size_layer(info, plan, cw, &l);
    return l.bytes;
}

int size_model(const struct compress_plan *plan, const struct compressed_weight *cw, struct size_report *rep)
{
    memset(rep, 0, sizeof *rep);
    rep->layer = calloc(plan->n_layers > 0 ? (size_t)plan->n_layers : 1, sizeof *rep->layer);
    if (!rep->layer) return status_error(STATUS_NOMEM, "size: out of memory for %d layers", plan->n_layers);
    rep->n_layers = plan->n_layers;
    size_t blobs = 0, program = SIZE_PACKAGE_FIXED_BYTES, last_pad = 0;
    for (int i = 0; i < plan->n_layers; i++) {
        struct size_layer *l = &rep->layer[i];
        size_layer(&plan->info[i], &plan->layer[i], cw ? &cw[i] : NULL, l);
        blobs += l->blob_bytes;
        program += l->program_bytes + l->inline_bytes;
        if (l->n_blobs) last_pad = l->tail_pad;
        rep->n_weights += l->n_weights;
        rep->n_nonzero += l->n_nonzero;
    }
    /* The writer aligns each record when it writes it, so nothing follows the last blob. */
    rep->weight_file_bytes = SIZE_FILE_HEADER_BYTES + blobs - last_pad;
    rep->program_bytes = program;
    rep->total_bytes = rep->weight_file_bytes + rep->program_bytes;
    rep->mib = (double)rep->total_bytes / (1024.0 * 1024.0);
    return STATUS_OK;
}

void size_report_free(struct size_report *rep)
{
    if (!rep) return;
    free(rep->layer);
    memset(rep, 0, sizeof *rep);
}
