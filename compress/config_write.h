/* config_write.h — compression plan -> config YAML (the format config.h reads): the one place a
 * layer name becomes a module_name_configs key, and the writer of a resolved plan layer by layer.
 * What is written reads back (compress_config_load) to the same plan for the fields it writes. */
#ifndef RN_CONFIG_WRITE_H
#define RN_CONFIG_WRITE_H

#include "compress.h"
#include "strbuf.h"

/* Appends the module_name_configs key that matches the module `name` and nothing else: every
 * POSIX ERE special character escaped (config.c anchors a key as ^(KEY)$), as a YAML
 * single-quoted scalar (so neither '\\' nor ':' needs YAML escaping). No colon follows. */
void config_write_key(struct strbuf *b, const char *name);

/* Appends a config that gives every compressed layer of plan its own entry by exact name, with
 * weight_threshold 0 so the reader takes each entry as written: for pruning target_sparsity, for
 * palettization n_bits (and granularity, group_size when grouped), for quantization the int8
 * weights with int8 or float16 activations. `comment` (one line, may be NULL) opens the file as
 * "# comment". A plan with nothing compressed is "{}". Out of memory shows in b->oom. */
void config_write_plan(struct strbuf *b, const struct compress_plan *plan, const char *comment);

#endif
