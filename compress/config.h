/* config.h — compression configs: a YAML file in coremltools' torch-side shape, read strictly and
 * resolved into a per-layer plan (compress.h) for one network.
 *
 * File shape (any subset of the three sections, applied prune -> palettize -> quantize; `{}` is
 * the uncompressed fp16 baseline):
 *
 *     palettization:
 *       weight_threshold: 2048          # compress only tensors with MORE elements than this
 *       global_config: {n_bits: 4, granularity: per_tensor}
 *       module_type_configs: {Conv2d: ..., Linear: null}
 *       module_name_configs:
 *         "layer4\\..*": {n_bits: 6}    # POSIX ERE, must match the WHOLE torchvision name
 *         conv1: null                   # null: leave this layer alone for this family
 *
 * Resolution per layer and family: the first module_name_configs key (file order) that fully
 * matches the layer name wins, else module_type_configs (Conv2d or Linear), else global_config;
 * a null at the chosen level leaves the layer uncompressed for that family (no fall-through).
 * weight_threshold may also be given inside any per-module config, where it overrides the
 * section's value for the layers that config applies to.
 *
 * Field values: ours and coremltools' torch-side spellings are both read (quantization:
 * weight_dtype int8 | qint8, activation_dtype int8 | quint8 (8-bit) or float16 | float32 | none
 * (float), weight_per_channel true, weight_observer). Our additions, which coremltools' classes do
 * not have and reject (its from_dict forbids extra keys): `algorithm` (palettization: kmeans | skm |
 * dkm), `reconstruct` (pruning) and `calibration_samples` (quantization; default 128). The
 * exporter (search/export_coreml.h) writes coremltools' files without them. */
#ifndef RN_CONFIG_H
#define RN_CONFIG_H

#include "compress.h"
#include "resnet.h"

/* Fills plan with net's compressible layers, none compressed: every conv in net->conv order
 * (torchvision names, type Conv2d, [OC, IC*KH*KW]) then "fc" (Linear, [classes, features]).
 * weight_threshold = COMPRESS_DEFAULT_WEIGHT_THRESHOLD. The plan owns its arrays (free with
 * compress_plan_free). Returns STATUS_OK or STATUS_NOMEM (plan then zeroed). */
int compress_plan_init_empty(const struct resnet *net, struct compress_plan *plan);

/* Reads the YAML config at `path` and resolves it against net's layers into plan. Unknown keys,
 * duplicate keys, wrong types, out-of-range values and invalid regexes are STATUS_BAD_INPUT with
 * a message naming the file, line, key, bad value and what is allowed; an unreadable file is
 * STATUS_IO. On failure *plan is zeroed (safe to free), never half filled.
 *
 * Weight thresholds are applied here, per family: a family is enabled for a layer only if the
 * layer has more than its threshold elements. plan->weight_threshold is the smallest threshold
 * of the present sections (informational: re-applying it can disable nothing more).
 *
 * A module_name_configs key that matches no layer of net is NOT an error (coremltools accepts it
 * silently, and one config file serves several model sizes); it prints a one-line warning with
 * the file and line on stderr. */
int compress_config_load(const char *path, const struct resnet *net, struct compress_plan *plan);

/* 1 when palettization p can be stored for layer li as coremltools stores it: per tensor, or
 * per_grouped_channel with group_size dividing the channels of its axis (output channels for
 * channel_axis 0, input channels for 1). coremltools' palettize_weights leaves any other layer in
 * fp16, and compress_config_load leaves it unpalettized too, so that the accuracy, the size and
 * the deployed model agree. */
int compress_pal_groups_fit(const struct compress_layer_info *li, const struct palettize_cfg *p);

/* Frees the plan's arrays and zeroes it; NULL and zeroed plans are no-ops. */
void compress_plan_free(struct compress_plan *plan);

/* Names for the enums of compress.h, as they are spelled in config files. */
const char *compress_pal_granularity_name(enum pal_granularity g);
const char *compress_pal_algorithm_name(enum pal_algorithm a);
const char *compress_prune_granularity_name(enum prune_granularity g);
const char *compress_quant_observer_name(enum quant_observer o);

#endif
