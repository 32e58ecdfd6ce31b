/* export_coreml.h — the chosen point's compression as the configs coremltools reads (SPEC §7):
 * one YAML file per family in apply order (prune, palettize, quantize), each with `config_type`
 * (OpMagnitudePrunerConfig, OpPalettizerConfig, OpLinearQuantizerConfig) and `global_config` /
 * `op_type_configs` / `op_name_configs` (Core ML model side), plus the same in coremltools'
 * torch-side form (`global_config` / `module_type_configs` / `module_name_configs`) and our own
 * config file, which compress_config_load reads back into the same plan.
 *
 * Files written into dir (a family the plan does not use gets no file; files of an earlier export
 * into the same dir that this plan does not need are removed):
 *   config.yaml                          ours (compress/config.h)
 *   README.md                            the files and the order of the coremltools calls
 *   coreml/1_prune.yaml                  OpMagnitudePrunerConfig       -> cto.coreml.prune_weights
 *   coreml/2_palettize.yaml              OpPalettizerConfig            -> cto.coreml.palettize_weights
 *   coreml/3_quantize_activations.yaml   OpLinearQuantizerConfig  -> cto.coreml.linear_quantize_activations
 *                                        (calibration samples; before the weights), op_type_configs
 *                                        conv / linear, per-layer keys the weight consts
 *   coreml/layers.tsv                    every layer: weight const, module, OC, K
 *   coreml/3_quantize_weights.yaml       OpLinearQuantizerConfig       -> cto.coreml.linear_quantize_weights
 *   torch/1_prune.yaml                   MagnitudePrunerConfig
 *   torch/2_palettize_{kmeans,skm,dkm}.yaml  PostTrainingPalettizerConfig / SKMPalettizerConfig /
 *                                        DKMPalettizerConfig, one per algorithm the plan uses, each
 *                                        with the other algorithms' layers null
 *   torch/3_quantize.yaml                LinearQuantizerConfig
 * The torch-side files carry no config_type (their from_dict rejects unknown keys); the class is
 * named in the first comment line.
 *
 * Compaction, the same in every file: per family, the most common setting of the Conv2d layers the
 * threshold lets through is global_config, the Linear layers' most common setting (when it differs)
 * the Linear / linear type config, and only the layers that differ from their level get per-name
 * entries (null: leave alone). Our config groups equal entries into one key, the ERE-escaped names
 * joined by '|' (config.c matches the whole name). A layer the plan compresses although it is at or
 * below the threshold gets an entry with weight_threshold 0.
 *
 * Names. Ours: torchvision module names, regex-escaped ('layer1\.0\.conv1'). Torch side: the exact
 * torchvision names (an exact key works both where coremltools looks names up literally and where
 * it treats them as regexes). Core ML side: op_name_configs keys are exact names of the weight
 * consts, which coremltools checks before the consuming op's name and type. They are the names
 * coremltools 9.0 gives the deployment model of scripts/coreml_deploy.py (BatchNorm folded into
 * conv biases, traced, ct.convert at the default float16 precision for iOS18): the const of
 * `layer1.0.conv1.weight` is `layer1_0_conv1_weight_to_fp16` (dots to underscores, then
 * `_weight_to_fp16`). A torchvision model converted with its BatchNorms has fused, unnamed consts
 * (`const_N_to_fp16`); the deployment script maps layers.tsv onto such a model by order and shape
 * and refuses any mismatch. Activations (3_quantize_activations.yaml) are looked up by the consuming
 * op's name, then its type: those keys are the conv and linear ops, named as the module with dots
 * as underscores (`layer1_0_conv1`), the names the deployment script gives them after conversion
 * (a plain conversion names ops after torch's trace values, `input_5_cast_fp16`).
 *
 * Fields. Palettization: ours/torch `n_bits`, Core ML `nbits` with `mode: kmeans`; `granularity`,
 * `group_size` and `channel_axis` (grouped LUTs only), `enable_per_channel_scale` (when on); Core ML
 * accepts nbits 1, 2, 3, 4, 6, 8 (a plan with 5 or 7 gets no Core ML file: export_coreml_refusals); SKM and DKM LUTs
 * exist only on the torch side, the Core ML file carries kmeans with a comment saying so. Pruning:
 * `target_sparsity`, torch `granularity` (per_scalar | per_kernel | per_channel), `block_size`
 * (Core ML: with dim 0, output channels), `n_m_ratio` (Core ML: with dim 1 and without
 * target_sparsity, which it forbids beside n_m_ratio; our n:m groups run along the flattened row
 * IC*KH*KW, Core ML's along the input channels: the same for 1x1 convs and fc); per_kernel and
 * per_channel have no Core ML op config: those entries become OpThresholdPrunerConfig (store the
 * zeros the torch side made) with a comment. Quantization: ours `quantization_scheme`,
 * `activation_dtype`, `activation_observer`, `calibration_samples`; torch `quantization_scheme`,
 * `weight_dtype: qint8`, `weight_per_channel`, `activation_dtype` quint8 | float32,
 * `activation_observer`; Core ML `mode` linear_symmetric | linear, `dtype: int8`,
 * `granularity: per_channel`. Every Core ML config states `weight_threshold` (the plan's).
 * Fine-tuning fields (ours and torch side, same names): `initial_sparsity` and `scheduler:
 * {update_steps, power}` (PolynomialDecayScheduler; evenly spaced steps as 'range(b, e, s)'),
 * DKM's `palett_tau`, `kmeans_max_iter`, `milestone`; the Core ML side gets the final state with a
 * comment. */
#ifndef RN_EXPORT_COREML_H
#define RN_EXPORT_COREML_H

#include "compress.h"

/* Writes the files for `plan` into dir (created if missing, with coreml/ and torch/). Returns
 * STATUS_OK, STATUS_IO or STATUS_NOMEM with a message naming the file; files already written stay
 * (each one is whole: written atomically). */
int export_coreml_write(const struct compress_plan *plan, const char *dir);

/* The files the plan needs that coremltools would reject, one line each into why ("FILE: not
 * written: layer L: reason"): Core ML palettization with 5 or 7 bits, DKM with channel_axis 1, a
 * torch-side LinearQuantizerConfig mixing symmetric and affine layers. export_coreml_write leaves
 * them out, lists them in README.md and on stderr. Returns their count. */
struct strbuf;
int export_coreml_refusals(const struct compress_plan *plan, struct strbuf *why);

#endif
