/* config_write.c — plan -> config YAML (see config_write.h): the YAML quoting of names and
 * patterns, and per-layer entries by exact name, for the search, the profiler and their tests. The coremltools forms of a
 * config (search/export_coreml.c) are written there; that file still has its own copy of the key
 * escaping, to move here once its Core ML naming work has landed. */
#include "config_write.h"
#include "config.h"

#include <stdlib.h>
#include <string.h>

void config_write_quoted(struct strbuf *b, const char *text)
{
    strbuf_str(b, "'");
    for (const char *p = text; *p; p++) {
        if (*p == '\'') strbuf_str(b, "'");   /* YAML doubles a quote inside single quotes */
        strbuf_put(b, p, 1);
    }
    strbuf_str(b, "'");
}

void config_write_key(struct strbuf *b, const char *name)
{
    struct strbuf re = { 0 };
    for (const char *p = name; *p; p++) {
        if (strchr(".[]{}()*+?^$|\\", *p)) strbuf_str(&re, "\\");
        strbuf_put(&re, p, 1);
    }
    if (re.oom) b->oom = 1;
    else config_write_quoted(b, re.p ? re.p : "");
    free(re.p);
}

/* One layer's config of family s (0 pruning, 1 palettization, 2 quantization) as a flow
 * mapping: the family's main field always, every other field the store's plan hash covers
 * (search/tune_cand.c) only where it differs from the reader's default (compress/config.c), so a
 * plain plan stays one short line. `own_threshold`: the layer is at or under the section's
 * weight_threshold, so its entry carries weight_threshold 0 to be taken as written. */
static void write_layer(struct strbuf *b, int s, const struct layer_plan *lp, int own_threshold)
{
    if (s == 0) {
        const struct prune_cfg *p = &lp->prune;
        strbuf_printf(b, ": {target_sparsity: %.17g", p->target_sparsity);
        if (p->granularity != PRUNE_PER_SCALAR) strbuf_printf(b, ", granularity: %s", compress_prune_granularity_name(p->granularity));
        if (p->block_size > 1) strbuf_printf(b, ", block_size: %d", p->block_size);
        if (p->n_m_m) strbuf_printf(b, ", n_m_ratio: [%d, %d]", p->n_m_n, p->n_m_m);
        if (p->reconstruct) strbuf_str(b, ", reconstruct: true");
    } else if (s == 1) {
        const struct palettize_cfg *p = &lp->pal;
        strbuf_printf(b, ": {n_bits: %d", p->n_bits);
        if (p->granularity == PAL_PER_GROUPED_CHANNEL) strbuf_printf(b, ", granularity: per_grouped_channel, group_size: %d", p->group_size);
        if (p->channel_axis) strbuf_printf(b, ", channel_axis: %d", p->channel_axis);
        if (p->per_channel_scale) strbuf_str(b, ", enable_per_channel_scale: true");
        if (p->algorithm != PAL_KMEANS) strbuf_printf(b, ", algorithm: %s", compress_pal_algorithm_name(p->algorithm));
    } else {
        const struct quant_cfg *q = &lp->quant;
        strbuf_printf(b, ": {weight_dtype: int8, activation_dtype: %s", q->activations ? "int8" : "float16");
        if (!q->symmetric) strbuf_str(b, ", quantization_scheme: affine");
        if (q->observer != QUANT_MOVING_AVERAGE_MIN_MAX)
            strbuf_printf(b, ", activation_observer: %s", compress_quant_observer_name(q->observer));
        if (q->calibration_samples != 128) strbuf_printf(b, ", calibration_samples: %d", q->calibration_samples);
    }
    if (own_threshold) strbuf_str(b, ", weight_threshold: 0");
    strbuf_str(b, "}\n");
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
            /* The plan's own threshold, so that it reads back too (the store hashes it). */
            if (!any)
                strbuf_printf(b, "%s:\n  weight_threshold: %lld\n  module_name_configs:\n", sections[s],
                              (long long)plan->weight_threshold);
            any = 1;
            strbuf_str(b, "    ");
            config_write_key(b, plan->info[i].name);
            write_layer(b, s, lp, plan->info[i].OC * plan->info[i].K <= plan->weight_threshold);
        }
    }
    /* Nothing compressed: an empty mapping, which the reader takes as "leave every layer alone". */
    if (b->len == body && !b->oom) strbuf_str(b, "{}\n");
}
