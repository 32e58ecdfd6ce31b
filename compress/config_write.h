/* config_write.h — compression plan -> config YAML (the format config.h reads): the one place a
 * layer name becomes a module_name_configs key, and the writer of a resolved plan layer by layer.
 * What is written reads back (compress_config_load) to the same plan for the fields it writes. */
#ifndef RN_CONFIG_WRITE_H
#define RN_CONFIG_WRITE_H

#include "compress.h"
#include "strbuf.h"

/* Appends text as a YAML single-quoted scalar (a quote doubled, nothing else escaped): a
 * module_name_configs key that is already a regex, such as a search space's leave_alone. */
void config_write_quoted(struct strbuf *b, const char *text);

/* Appends the module_name_configs key that matches the module `name` and nothing else: every
 * POSIX ERE special character escaped (config.c anchors a key as ^(KEY)$), as a YAML
 * single-quoted scalar (so neither '\\' nor ':' needs YAML escaping). No colon follows. */
void config_write_key(struct strbuf *b, const char *name);

/* Appends a config that gives every compressed layer of plan its own entry by exact name, under
 * the plan's weight_threshold (a layer at or under it carries its own weight_threshold 0, so the
 * reader takes each entry as written): for pruning target_sparsity, granularity, block_size,
 * n_m_ratio and reconstruct; for palettization n_bits, granularity, group_size, channel_axis,
 * enable_per_channel_scale and algorithm; for quantization the int8 weights with int8 or float16
 * activations, the scheme, observer and calibration_samples. Fields other than the main one are
 * written only where they differ from the reader's default. Not written: pruning schedules and
 * DKM's fine-tuning fields (tau, kmeans_max_iter, milestone), which come back as defaults.
 * `comment` (one line, may be NULL) opens the file as "# comment". A plan with nothing
 * compressed is "{}". Out of memory shows in b->oom. */
void config_write_plan(struct strbuf *b, const struct compress_plan *plan, const char *comment);

#endif
