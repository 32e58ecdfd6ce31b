/* export_coreml.h — the chosen point's compression as the configs coremltools reads (SPEC §7):
 * one YAML file per family in apply order (prune, palettize, quantize), each with `config_type`
 * (OpMagnitudePrunerConfig, OpPalettizerConfig, OpLinearQuantizerConfig) and `global_config` /
 * `op_type_configs` / `op_name_configs` (Core ML model side), plus the same in coremltools'
 * torch-side form (`global_config` / `module_type_configs` / `module_name_configs`) and our own
 * config file, which compress_config_load reads back into the same plan. */
#ifndef RN_EXPORT_COREML_H
#define RN_EXPORT_COREML_H

#include "compress.h"

/* Writes the files for `plan` into dir (created if missing); families the plan does not use get
 * no file. Returns STATUS_OK or an error naming the file. */
int export_coreml_write(const struct compress_plan *plan, const char *dir);

#endif
