/* config_write.c — plan -> config YAML (see config_write.h). Only what the search, the
 * profiler and their tests write: per-layer entries by exact name. The coremltools forms of a
 * config (search/export_coreml.c) are written there; that file still has its own copy of the key
 * escaping, to move here once its Core ML naming work has landed. */
#include "config_write.h"

#include <string.h>

void config_write_key(struct strbuf *b, const char *name)
{
    strbuf_str(b, "'");
    for (const char *p = name; *p; p++) {
        if (strchr(".[]{}()*+?^$|\\", *p)) strbuf_str(b, "\\");
        if (*p == '\'') strbuf_str(b, "'");   /* YAML doubles a quote inside single quotes */
        strbuf_put(b, p, 1);
    }
    strbuf_str(b, "'");
}

void config_write_plan(struct strbuf *b, const struct compress_plan *plan, const char *comment)
{
    if (comment) strbuf_printf(b, "# %s\n", comment);
    const size_t body = b->len;
    static const char *const sections[] = { "pruning", "palettization", "quantization" };
    for (int s = 0; s < 3; s++) {
        int any = 0;
        for (int i = 0; i < plan->n_layers; i++) {
            const struct layer_plan *lp = &plan->layer[i];
            const int on = s == 0 ? lp->prune.enabled : s == 1 ? lp->pal.enabled : lp->quant.enabled;
            if (!on) continue;
            if (!any) strbuf_printf(b, "%s:\n  weight_threshold: 0\n  module_name_configs:\n", sections[s]);
            any = 1;
            strbuf_str(b, "    ");
            config_write_key(b, plan->info[i].name);
            if (s == 0) {
                strbuf_printf(b, ": {target_sparsity: %.17g}\n", lp->prune.target_sparsity);
            } else if (s == 1) {
                if (lp->pal.granularity == PAL_PER_GROUPED_CHANNEL)
                    strbuf_printf(b, ": {n_bits: %d, granularity: per_grouped_channel, group_size: %d}\n", lp->pal.n_bits,
                                  lp->pal.group_size);
                else
                    strbuf_printf(b, ": {n_bits: %d}\n", lp->pal.n_bits);
            } else {
                strbuf_printf(b, ": {weight_dtype: int8, activation_dtype: %s}\n", lp->quant.activations ? "int8" : "float16");
            }
        }
    }
    /* Nothing compressed: an empty mapping, which the reader takes as "leave every layer alone". */
    if (b->len == body && !b->oom) strbuf_str(b, "{}\n");
}
