/* export_coreml.c — the chosen point's compression plan written as the configs coremltools reads
 * (export_coreml.h): our own config (compress_config_load reads it back into the same plan), the
 * torch-side files (coremltools.optimize.torch) and the Core ML side files
 * (coremltools.optimize.coreml OptimizationConfig.from_yaml).
 *
 * Every file is made compact the same way: per family, the most common per-layer setting among
 * the layers the threshold lets through becomes global_config, a different common setting of the
 * Linear layers becomes the Linear type config, and only the layers that differ get per-name
 * entries (null for a layer left alone). Implements the field-name mapping documented in the
 * header, including the fine-tuning fields (the pruning scheduler with initial_sparsity, DKM's
 * palett_tau, kmeans_max_iter and milestone) on our side and the torch side. */
#include "export_coreml.h"

#include "atomic_file.h"
#include "config.h"
#include "report.h"
#include "status.h"
#include "strbuf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum fam { FAM_PRUNE, FAM_PAL, FAM_QUANT, FAM_COUNT_ };

/* Where a file goes: our config, the torch side, the Core ML side (weights), Core ML activations. */
enum side { SIDE_OURS, SIDE_TORCH, SIDE_COREML, SIDE_COREML_ACT };

static void put_double(struct strbuf *b, double v)
{
    char s[40];
    report_format_double(s, sizeof s, v);
    strbuf_str(b, s);
}

/* ---- per-layer settings ---- */

static int enabled(const struct layer_plan *lp, enum fam f)
{
    return f == FAM_PRUNE ? lp->prune.enabled : f == FAM_PAL ? lp->pal.enabled : lp->quant.enabled;
}

/* The fine-tuning fields with config.c's defaults for values a hand-built plan leaves at 0. */
static double dkm_tau(const struct palettize_cfg *p) { return p->tau > 0 ? p->tau : 1e-4; }
static int dkm_iters(const struct palettize_cfg *p) { return p->kmeans_max_iter > 0 ? p->kmeans_max_iter : 3; }
static double sched_power(const struct prune_cfg *p) { return p->sched.power > 0 ? p->sched.power : 3.0; }

/* Equality of the fields a config file can state (the ones compress_config_load fills). */
static int same_setting(const struct layer_plan *a, const struct layer_plan *b, enum fam f)
{
    if (f == FAM_PRUNE) {
        const struct prune_cfg *x = &a->prune, *y = &b->prune;
        /* block_size 0 and 1 both mean no blocks (config.c writes 1). */
        if (x->target_sparsity != y->target_sparsity || x->granularity != y->granularity ||
            (x->block_size > 1 ? x->block_size : 1) != (y->block_size > 1 ? y->block_size : 1) || x->n_m_n != y->n_m_n ||
            x->n_m_m != y->n_m_m || x->sched.n_update_steps != y->sched.n_update_steps || x->reconstruct != y->reconstruct)
            return 0;
        if (!x->sched.n_update_steps) return 1;   /* initial_sparsity and power only mean something with steps */
        if (x->initial_sparsity != y->initial_sparsity || sched_power(x) != sched_power(y)) return 0;
        for (int i = 0; i < x->sched.n_update_steps; i++)
            if (x->sched.update_steps[i] != y->sched.update_steps[i]) return 0;
        return 1;
    }
    if (f == FAM_PAL) {
        const struct palettize_cfg *x = &a->pal, *y = &b->pal;
        return x->n_bits == y->n_bits && x->granularity == y->granularity &&
               (x->granularity == PAL_PER_TENSOR || x->group_size == y->group_size) &&
               x->channel_axis == y->channel_axis && !x->per_channel_scale == !y->per_channel_scale &&
               x->algorithm == y->algorithm &&
               (x->algorithm != PAL_DKM || (dkm_tau(x) == dkm_tau(y) && dkm_iters(x) == dkm_iters(y) &&
                                            x->milestone == y->milestone));
    }
    const struct quant_cfg *x = &a->quant, *y = &b->quant;
    return !x->symmetric == !y->symmetric && !x->activations == !y->activations && x->observer == y->observer &&
           x->calibration_samples == y->calibration_samples;
}

/* A family's view of the plan: setting[i] is the index of layer i's setting among the distinct
 * ones (rep[k] is a layer holding setting k), or -1 when the layer is left alone. A filter keeps
 * only some layers (the torch side has one palettization file per algorithm). */
struct view {
    int n_layers;
    int *setting;   /* [n_layers] */
    int n_settings;
    int *rep;       /* [n_layers] */
};

static int view_init(struct view *v, const struct compress_plan *plan, enum fam f, int pal_algorithm /* -1: any */)
{
    v->n_layers = plan->n_layers;
    v->n_settings = 0;
    v->setting = calloc((size_t)(plan->n_layers ? plan->n_layers : 1), sizeof *v->setting);
    v->rep = calloc((size_t)(plan->n_layers ? plan->n_layers : 1), sizeof *v->rep);
    if (!v->setting || !v->rep) return 0;
    for (int i = 0; i < plan->n_layers; i++) {
        const struct layer_plan *lp = &plan->layer[i];
        v->setting[i] = -1;
        if (!enabled(lp, f)) continue;
        if (f == FAM_PAL && pal_algorithm >= 0 && (int)lp->pal.algorithm != pal_algorithm) continue;
        int k = 0;
        while (k < v->n_settings && !same_setting(&plan->layer[v->rep[k]], lp, f)) k++;
        if (k == v->n_settings) v->rep[v->n_settings++] = i;
        v->setting[i] = k;
    }
    return 1;
}

static void view_free(struct view *v)
{
    free(v->setting);
    free(v->rep);
}

/* The three levels of a file. A level value is a setting index, -1 for null (leave alone) or
 * NONE when the level is not written. */
#define NONE (-2)
struct levels {
    int global;          /* global_config */
    int linear;          /* module_type_configs Linear / op_type_configs linear */
    int *name;           /* [n_layers] per-name entry, NONE for none */
    int *zero_thr;       /* [n_layers] 1: the entry must lower weight_threshold to 0 (layer at or
                          * below the file's threshold but compressed) */
};

/* Most common value of v->setting over the layers with want(i) (ties: the first seen). */
static int most_common(const struct view *v, const struct compress_plan *plan, int64_t thr, int linear, int *found)
{
    int best = -1, best_n = 0;
    *found = 0;
    for (int i = 0; i < v->n_layers; i++) {
        const struct compress_layer_info *li = &plan->info[i];
        if (!!li->is_linear != linear || (thr >= 0 && li->OC * li->K <= thr)) continue;
        *found = 1;
        int n = 0;
        for (int j = 0; j < v->n_layers; j++) {
            const struct compress_layer_info *lj = &plan->info[j];
            if (!!lj->is_linear != linear || (thr >= 0 && lj->OC * lj->K <= thr)) continue;
            n += v->setting[j] == v->setting[i];
        }
        if (n > best_n) {
            best_n = n;
            best = v->setting[i];
        }
    }
    return best;
}

/* thr < 0: no threshold (every layer is listed as it is; the torch-side configs have none). */
static int levels_init(struct levels *L, const struct view *v, const struct compress_plan *plan, int64_t thr)
{
    L->name = malloc((size_t)(v->n_layers ? v->n_layers : 1) * sizeof *L->name);
    L->zero_thr = calloc((size_t)(v->n_layers ? v->n_layers : 1), sizeof *L->zero_thr);
    if (!L->name || !L->zero_thr) return 0;
    int have_conv, have_lin;
    const int s_conv = most_common(v, plan, thr, 0, &have_conv);
    const int s_lin = most_common(v, plan, thr, 1, &have_lin);
    L->global = have_conv ? s_conv : have_lin ? s_lin : -1;
    L->linear = have_lin && s_lin != L->global ? s_lin : NONE;
    for (int i = 0; i < v->n_layers; i++) {
        const struct compress_layer_info *li = &plan->info[i];
        const int passes = thr < 0 || li->OC * li->K > thr;
        const int level = li->is_linear && L->linear != NONE ? L->linear : L->global;
        L->name[i] = NONE;
        if (passes && v->setting[i] != level) L->name[i] = v->setting[i];
        if (!passes && v->setting[i] >= 0) {
            L->name[i] = v->setting[i];
            L->zero_thr[i] = 1;
        }
    }
    return 1;
}

static void levels_free(struct levels *L)
{
    free(L->name);
    free(L->zero_thr);
}

/* ---- writing one setting as a flow mapping ---- */

static const char *coreml_const_suffix = "_weight_to_fp16";

/* The Core ML name of a torchvision module: dots become underscores; its weight const adds
 * '_weight_to_fp16' (what coremltools 9.0 names it), its conv or linear op is the bare name (what
 * scripts/coreml_deploy.py names it: the conversion's own op names come from torch's trace). */
static void coreml_name_of(char *dst, size_t cap, const char *torch_name, int weight)
{
    size_t k = 0;
    for (const char *p = torch_name; *p && k + 1 < cap; p++) dst[k++] = *p == '.' ? '_' : *p;
    dst[k] = '\0';
    if (weight) snprintf(dst + k, cap - k, "%s", coreml_const_suffix);
}

static void coreml_name(char *dst, size_t cap, const char *torch_name)
{
    coreml_name_of(dst, cap, torch_name, 1);
}

/* update_steps as "range(begin, end, step)" when evenly spaced (the form coremltools' examples
 * use), else as a list. */
static void put_update_steps(struct strbuf *b, const struct prune_schedule *sc)
{
    const int n = sc->n_update_steps;
    int even = n >= 2;
    const int64_t step = n >= 2 ? sc->update_steps[1] - sc->update_steps[0] : 1;
    for (int i = 2; i < n && even; i++) even = sc->update_steps[i] - sc->update_steps[i - 1] == step;
    if (even) {
        strbuf_printf(b, "'range(%" PRId64 ", %" PRId64 ", %" PRId64 ")'", sc->update_steps[0], sc->update_steps[n - 1] + step,
             step);
        return;
    }
    strbuf_str(b, "[");
    for (int i = 0; i < n; i++) strbuf_printf(b, "%s%" PRId64, i ? ", " : "", sc->update_steps[i]);
    strbuf_str(b, "]");
}

/* thr: the weight_threshold to state inside the mapping, or -1 for none. */
static void put_setting(struct strbuf *b, enum side side, enum fam f, const struct layer_plan *lp, int64_t thr)
{
    int first = 1;
#define SEP() (strbuf_str(b, first ? "{" : ", "), first = 0)
    if (f == FAM_PRUNE) {
        const struct prune_cfg *p = &lp->prune;
        if (side == SIDE_COREML) {
            if (p->granularity != PRUNE_PER_SCALAR) {
                /* No Core ML post-training op config prunes whole kernels or channels; the torch
                 * side does, and this stores the zeros it left. */
                SEP();
                strbuf_str(b, "config_type: OpThresholdPrunerConfig, threshold: 1.0e-12, minimum_sparsity_percentile: 0.0");
            } else if (p->n_m_m) {
                SEP();
                strbuf_printf(b, "n_m_ratio: [%d, %d], dim: 1", p->n_m_n, p->n_m_m);
            } else {
                SEP();
                strbuf_str(b, "target_sparsity: ");
                put_double(b, p->target_sparsity);
                if (p->block_size > 1) strbuf_printf(b, ", block_size: %d, dim: 0", p->block_size);
            }
        } else {
            SEP();
            strbuf_str(b, "target_sparsity: ");
            put_double(b, p->target_sparsity);
            strbuf_printf(b, ", granularity: %s", compress_prune_granularity_name(p->granularity));
            if (p->block_size > 1) strbuf_printf(b, ", block_size: %d", p->block_size);
            if (p->n_m_m) strbuf_printf(b, ", n_m_ratio: [%d, %d]", p->n_m_n, p->n_m_m);
            if (side == SIDE_OURS && p->reconstruct) strbuf_str(b, ", reconstruct: true");
            if (p->sched.n_update_steps) {
                /* PolynomialDecayScheduler, the same keys on the torch side and in ours. */
                strbuf_str(b, ", initial_sparsity: ");
                put_double(b, p->initial_sparsity);
                strbuf_str(b, ", scheduler: {update_steps: ");
                put_update_steps(b, &p->sched);
                strbuf_str(b, ", power: ");
                put_double(b, sched_power(p));
                strbuf_str(b, "}");
            }
        }
    } else if (f == FAM_PAL) {
        const struct palettize_cfg *p = &lp->pal;
        SEP();
        if (side == SIDE_COREML)
            strbuf_printf(b, "mode: kmeans, nbits: %d", p->n_bits);
        else
            strbuf_printf(b, "n_bits: %d", p->n_bits);
        /* Defaults left out: channel_axis matters only for grouped LUTs, the per-channel scale is
         * off and the algorithm kmeans unless stated (the same defaults in coremltools and ours). */
        strbuf_printf(b, ", granularity: %s", compress_pal_granularity_name(p->granularity));
        if (p->granularity == PAL_PER_GROUPED_CHANNEL)
            strbuf_printf(b, ", group_size: %d, channel_axis: %d", p->group_size, p->channel_axis);
        else if (side == SIDE_OURS && p->channel_axis)   /* kept for an exact round trip */
            strbuf_printf(b, ", channel_axis: %d", p->channel_axis);
        if (p->per_channel_scale) strbuf_str(b, ", enable_per_channel_scale: true");
        if (side == SIDE_OURS && p->algorithm != PAL_KMEANS)
            strbuf_printf(b, ", algorithm: %s", compress_pal_algorithm_name(p->algorithm));
        if (side != SIDE_COREML && p->algorithm == PAL_DKM) {
            /* ModuleDKMPalettizerConfig's names, which ours shares. */
            strbuf_str(b, ", palett_tau: ");
            put_double(b, dkm_tau(p));
            strbuf_printf(b, ", kmeans_max_iter: %d", dkm_iters(p));
            if (p->milestone) strbuf_printf(b, ", milestone: %" PRId64, p->milestone);
        }
    } else {
        const struct quant_cfg *q = &lp->quant;
        SEP();
        if (side == SIDE_COREML) {
            strbuf_printf(b, "mode: %s, dtype: int8, granularity: per_channel", q->symmetric ? "linear_symmetric" : "linear");
        } else if (side == SIDE_COREML_ACT) {
            strbuf_str(b, "mode: linear_symmetric, dtype: int8");
        } else if (side == SIDE_TORCH) {
            strbuf_printf(b, "quantization_scheme: %s, weight_dtype: qint8, weight_per_channel: true, activation_dtype: %s, "
                    "activation_observer: %s",
                 q->symmetric ? "symmetric" : "affine", q->activations ? "quint8" : "float32",
                 compress_quant_observer_name(q->observer));
        } else {
            strbuf_printf(b, "quantization_scheme: %s, weight_dtype: int8, activation_dtype: %s, activation_observer: %s, "
                    "calibration_samples: %d",
                 q->symmetric ? "symmetric" : "affine", q->activations ? "int8" : "none",
                 compress_quant_observer_name(q->observer), q->calibration_samples);
        }
    }
    if (thr >= 0) {
        SEP();
        strbuf_printf(b, "weight_threshold: %" PRId64, thr);
    }
#undef SEP
    strbuf_str(b, "}");
}

/* ---- names ---- */

/* A YAML single-quoted scalar holding s (single quotes doubled, nothing else escaped). */
static void put_yaml_squoted(struct strbuf *b, const char *s)
{
    strbuf_str(b, "'");
    for (const char *p = s; *p; p++) {
        if (*p == '\'') strbuf_str(b, "'");
        strbuf_put(b, p, 1);
    }
    strbuf_str(b, "'");
}

/* s with every POSIX ERE special character escaped, so the key matches s literally (config.c
 * anchors the whole key: ^(KEY)$). */
static void put_ere_escaped(struct strbuf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (strchr(".[]{}()*+?^$|\\", *p)) strbuf_str(b, "\\");
        strbuf_put(b, p, 1);
    }
}

/* ---- the three kinds of file ---- */

struct file_ctx {
    const struct compress_plan *plan;
    const struct view *v;
    const struct levels *L;
    enum side side;
    enum fam f;
    int64_t thr;        /* weight_threshold stated in every Core ML config; -1 for none */
    const char *indent; /* of the level keys */
};

static int64_t entry_thr(const struct file_ctx *c, int zero)
{
    if (c->side == SIDE_COREML || c->side == SIDE_COREML_ACT) return zero ? 0 : c->thr;
    return zero ? 0 : -1;
}

static void put_value(struct strbuf *b, const struct file_ctx *c, int setting, int zero)
{
    if (setting < 0)
        strbuf_str(b, "null");
    else
        put_setting(b, c->side, c->f, &c->plan->layer[c->v->rep[setting]], entry_thr(c, zero));
}

/* A comment line before an entry whose setting Core ML cannot do as stated. */
static void put_coreml_note(struct strbuf *b, const struct file_ctx *c, int setting, const char *pad)
{
    if (setting < 0 || c->side != SIDE_COREML) return;
    const struct layer_plan *lp = &c->plan->layer[c->v->rep[setting]];
    if (c->f == FAM_PAL && lp->pal.algorithm != PAL_KMEANS)
        strbuf_printf(b, "%s# %s: the LUT comes from the torch side (torch/2_palettize_%s.yaml); kmeans here is the data-free "
                "stand-in\n",
             pad, compress_pal_algorithm_name(lp->pal.algorithm), compress_pal_algorithm_name(lp->pal.algorithm));
    if (c->f == FAM_PRUNE && lp->prune.granularity != PRUNE_PER_SCALAR)
        strbuf_printf(b, "%s# %s pruning: no Core ML op config computes it; prune in torch (torch/1_prune.yaml), convert, then "
                "this stores the zeros\n",
             pad, compress_prune_granularity_name(lp->prune.granularity));
    if (c->f == FAM_PRUNE && lp->prune.sched.n_update_steps)
        strbuf_printf(b, "%s# scheduled pruning with fine-tuning is torch-side (torch/1_prune.yaml); here the final sparsity\n",
             pad);
    if (c->f == FAM_PRUNE && lp->prune.n_m_m && lp->prune.granularity == PRUNE_PER_SCALAR)
        strbuf_printf(b, "%s# n:m groups: ours run along the flattened row [IC*KH*KW]; Core ML's along dim 1 (the same for "
                "1x1 convs and fc)\n",
             pad);
}

static void write_levels(struct strbuf *b, const struct file_ctx *c)
{
    const char *pad = c->indent;
    const int coreml = c->side == SIDE_COREML || c->side == SIDE_COREML_ACT;
    int refit = 0;
    for (int i = 0; c->f == FAM_PRUNE && c->side != SIDE_OURS && i < c->plan->n_layers; i++)
        refit |= c->plan->layer[i].prune.enabled && c->plan->layer[i].prune.reconstruct;
    if (refit)
        strbuf_printf(b, "%s# reconstruct: rn50-tune refitted the kept weights and biases of the layers marked so in\n"
                         "%s# config.yaml on calibration data; coremltools prunes data-free: this sets the same masks,\n"
                         "%s# the weights to deploy are those of the compressed model file (chosen.safetensors)\n",
                      pad, pad, pad);
    if (c->side == SIDE_COREML_ACT) {
        /* Activation configs are looked up by op name, then op type, then global_config, for every
         * op kind coremltools can quantize (add, pool, ...); ours quantize conv and linear inputs
         * only, so the levels are the conv and linear op types, and global_config stays unset. */
        const int conv = c->L->global, lin = c->L->linear != NONE ? c->L->linear : c->L->global;
        strbuf_printf(b, "%sop_type_configs:\n%s  conv: ", pad, pad);
        put_value(b, c, conv >= 0 ? conv : -1, 0);
        strbuf_printf(b, "\n%s  linear: ", pad);
        put_value(b, c, lin >= 0 ? lin : -1, 0);
        strbuf_str(b, "\n");
    } else if (c->L->global != NONE && c->L->global >= 0) {
        put_coreml_note(b, c, c->L->global, pad);
        strbuf_printf(b, "%sglobal_config: ", pad);
        put_value(b, c, c->L->global, 0);
        strbuf_str(b, "\n");
    }
    if (c->L->linear != NONE && c->side != SIDE_COREML_ACT) {
        put_coreml_note(b, c, c->L->linear, pad);
        strbuf_printf(b, "%s%s:\n%s  %s: ", pad, coreml ? "op_type_configs" : "module_type_configs", pad,
             coreml ? "linear" : "Linear");
        put_value(b, c, c->L->linear, 0);
        strbuf_str(b, "\n");
    }
    int any = 0;
    for (int i = 0; i < c->v->n_layers; i++) any |= c->L->name[i] != NONE;
    if (!any) return;
    strbuf_printf(b, "%s%s:\n", pad, coreml ? "op_name_configs" : "module_name_configs");
    if (c->side == SIDE_OURS) {
        /* One key per distinct entry: the escaped names joined by '|', in layer order. */
        char *done = calloc((size_t)c->v->n_layers, 1);
        if (!done) {
            b->oom = 1;
            return;
        }
        for (int i = 0; i < c->v->n_layers; i++) {
            if (c->L->name[i] == NONE || done[i]) continue;
            struct strbuf key = { 0 };
            for (int j = i; j < c->v->n_layers; j++) {
                if (c->L->name[j] != c->L->name[i] || c->L->zero_thr[j] != c->L->zero_thr[i]) continue;
                if (key.len) strbuf_str(&key, "|");
                put_ere_escaped(&key, c->plan->info[j].name);
                done[j] = 1;
            }
            strbuf_printf(b, "%s  ", pad);
            if (key.oom) b->oom = 1;
            put_yaml_squoted(b, key.p ? key.p : "");
            strbuf_str(b, ": ");
            put_value(b, c, c->L->name[i], c->L->zero_thr[i]);
            strbuf_str(b, "\n");
            free(key.p);
        }
        free(done);
        return;
    }
    for (int i = 0; i < c->v->n_layers; i++) {
        if (c->L->name[i] == NONE) continue;
        char nm[96];
        if (coreml)
            coreml_name_of(nm, sizeof nm, c->plan->info[i].name, c->side != SIDE_COREML_ACT);
        else
            snprintf(nm, sizeof nm, "%s", c->plan->info[i].name);
        char pad2[16];
        snprintf(pad2, sizeof pad2, "%s  ", pad);
        put_coreml_note(b, c, c->L->name[i], pad2);
        strbuf_printf(b, "%s  ", pad);
        put_yaml_squoted(b, nm);
        strbuf_str(b, ": ");
        put_value(b, c, c->L->name[i], c->L->zero_thr[i]);
        strbuf_str(b, "\n");
    }
}

/* ---- files ---- */

static const char *const family_key[FAM_COUNT_] = { "pruning", "palettization", "quantization" };

/* Our config: one section per family used, the plan's threshold as each section's. */
static int write_ours(const char *dir, const struct compress_plan *plan)
{
    struct strbuf b = { 0 };
    strbuf_str(&b, "# rn50-tune compression config (compress/config.h): `rn50-tune compress --config config.yaml`.\n"
                   "# module_name_configs keys are POSIX extended regexes matching whole torchvision names.\n");
    int any = 0, ok = 1;
    for (int f = 0; f < FAM_COUNT_ && ok; f++) {
        struct view v;
        struct levels L = { 0 };
        ok = view_init(&v, plan, (enum fam)f, -1) && levels_init(&L, &v, plan, plan->weight_threshold);
        if (ok && v.n_settings > 0) {
            any = 1;
            strbuf_printf(&b, "%s:\n  weight_threshold: %" PRId64 "\n", family_key[f], plan->weight_threshold);
            struct file_ctx c = { plan, &v, &L, SIDE_OURS, (enum fam)f, -1, "  " };
            write_levels(&b, &c);
        }
        view_free(&v);
        levels_free(&L);
    }
    if (!ok) {
        free(b.p);
        return status_error(STATUS_NOMEM, "%s/config.yaml: out of memory", dir);
    }
    if (!any) strbuf_str(&b, "{}\n");
    return file_save_strbuf(dir, "config.yaml", &b);
}

/* Why coremltools cannot take file `file` as the plan needs it (one line into why), or 0 when it
 * can. The rules are coremltools 9.0's own checks (OpPalettizerConfig._VALID_NBITS, the torch-side
 * LinearQuantizerConfig's single scheme, DKM's output-channel groups). */
static int refusal(const struct compress_plan *plan, const char *file, char *why, size_t cap)
{
    int sym = -1;
    for (int i = 0; i < plan->n_layers; i++) {
        const struct layer_plan *lp = &plan->layer[i];
        const char *name = plan->info[i].name;
        if (!strcmp(file, "coreml/2_palettize.yaml") && lp->pal.enabled && (lp->pal.n_bits == 5 || lp->pal.n_bits == 7)) {
            snprintf(why, cap, "layer %s: nbits %d: OpPalettizerConfig accepts 1, 2, 3, 4, 6 or 8 only", name, lp->pal.n_bits);
            return 1;
        }
        if (!strcmp(file, "torch/2_palettize_dkm.yaml") && lp->pal.enabled && lp->pal.algorithm == PAL_DKM &&
            lp->pal.granularity == PAL_PER_GROUPED_CHANNEL && lp->pal.channel_axis == 1) {
            snprintf(why, cap, "layer %s: DKMPalettizerConfig groups output channels only (channel_axis 1 asked)", name);
            return 1;
        }
        if (!strcmp(file, "torch/3_quantize.yaml") && lp->quant.enabled) {
            if (sym >= 0 && sym != !!lp->quant.symmetric) {
                snprintf(why, cap, "layer %s: LinearQuantizer takes one quantization_scheme for the whole model; the plan mixes "
                         "symmetric and affine layers", name);
                return 1;
            }
            sym = !!lp->quant.symmetric;
        }
    }
    return 0;
}

int export_coreml_refusals(const struct compress_plan *plan, struct strbuf *why)
{
    static const char *const files[] = { "coreml/2_palettize.yaml", "torch/2_palettize_dkm.yaml", "torch/3_quantize.yaml" };
    int n = 0;
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        char line[256];
        if (!refusal(plan, files[k], line, sizeof line)) continue;
        strbuf_printf(why, "%s: not written: %s\n", files[k], line);
        n++;
    }
    return n;
}

/* coreml/layers.tsv: every layer's Core ML weight const, torchvision name and [OC, K], for the
 * deployment script's check that the converted model is the planned one. */
static int write_layers(const char *dir, const struct compress_plan *plan)
{
    struct strbuf b = { 0 };
    strbuf_str(&b, "# const\tmodule\tOC\tK (K = IC*KH*KW): the layers of the plan, in forward order\n");
    for (int i = 0; i < plan->n_layers; i++) {
        char nm[96];
        coreml_name(nm, sizeof nm, plan->info[i].name);
        strbuf_printf(&b, "%s\t%s\t%" PRId64 "\t%" PRId64 "\n", nm, plan->info[i].name, plan->info[i].OC, plan->info[i].K);
    }
    return file_save_strbuf(dir, "coreml/layers.tsv", &b);
}

static int write_coreml(const char *dir, const struct compress_plan *plan, int *written)
{
    static const struct {
        enum fam f;
        enum side side;
        const char *file, *config_type, *call;
    } files[] = {
        { FAM_PRUNE, SIDE_COREML, "coreml/1_prune.yaml", "OpMagnitudePrunerConfig", "cto.coreml.prune_weights" },
        { FAM_PAL, SIDE_COREML, "coreml/2_palettize.yaml", "OpPalettizerConfig", "cto.coreml.palettize_weights" },
        { FAM_QUANT, SIDE_COREML_ACT, "coreml/3_quantize_activations.yaml", "OpLinearQuantizerConfig",
          "cto.coreml.linear_quantize_activations(model, config, sample_data), before the weights" },
        { FAM_QUANT, SIDE_COREML, "coreml/3_quantize_weights.yaml", "OpLinearQuantizerConfig",
          "cto.coreml.linear_quantize_weights" },
    };
    int rc = write_layers(dir, plan);
    for (size_t k = 0; k < sizeof files / sizeof *files && !rc; k++) {
        struct view v;
        struct levels L = { 0 };
        char why[256];
        if (refusal(plan, files[k].file, why, sizeof why)) continue;
        if (!view_init(&v, plan, files[k].f, -1)) {
            view_free(&v);
            return status_error(STATUS_NOMEM, "%s: out of memory", dir);
        }
        for (int i = 0; i < plan->n_layers; i++) {
            /* Activations: only the layers whose inputs are quantized. Weights: a palettized layer
             * keeps its fp16 LUT (its quantization section means 8-bit activations only). */
            if (files[k].side == SIDE_COREML_ACT && v.setting[i] >= 0 && !plan->layer[i].quant.activations) v.setting[i] = -1;
            if (files[k].side == SIDE_COREML && files[k].f == FAM_QUANT && plan->layer[i].pal.enabled) v.setting[i] = -1;
        }
        int used = 0;
        for (int i = 0; i < plan->n_layers; i++) used |= v.setting[i] >= 0;
        /* Activation configs have no size threshold: every layer is listed as it is. */
        const int64_t thr = files[k].side == SIDE_COREML_ACT ? -1 : plan->weight_threshold;
        if (used) {
            if (!levels_init(&L, &v, plan, thr)) {
                rc = status_error(STATUS_NOMEM, "%s: out of memory", dir);
            } else {
                struct strbuf b = { 0 };
                strbuf_printf(&b,
                     "# coremltools 9.0, coremltools.optimize.coreml: config = OptimizationConfig.from_yaml(this file);\n"
                     "# then %s.\n", files[k].call);
                if (files[k].side != SIDE_COREML_ACT)
                    strbuf_str(&b,
                     "# Op names: the weight consts of the deployment model (scripts/coreml_deploy.py: BatchNorm folded\n"
                     "# into conv biases, converted with ct.convert(torch.jit.trace(model, x), inputs=[ct.TensorType(\n"
                     "# name=\"input\", shape=x.shape)], minimum_deployment_target=ct.target.iOS18), which keeps the\n"
                     "# torchvision name: dots as underscores + '_weight_to_fp16' (layer1.0.conv1 ->\n"
                     "# layer1_0_conv1_weight_to_fp16). A model converted with its BatchNorms has unnamed fused consts\n"
                     "# (const_N_to_fp16): apply through scripts/coreml_deploy.py, which maps layers.tsv onto the\n"
                     "# model by order and shape and refuses any mismatch.\n");
                else
                    strbuf_str(&b, "# Activation configs are looked up by op name, then op type (coremltools' _get_op_config):\n"
                                   "# op_name_configs keys are conv and linear ops, named as the module with dots as underscores\n"
                                   "# (layer1.0.conv1 -> layer1_0_conv1): scripts/coreml_deploy.py converts the deployment model\n"
                                   "# (BatchNorm folded into conv biases, ct.convert of the traced model for iOS18) and gives each\n"
                                   "# conv and linear op that name (a plain ct.convert names them after torch's trace values,\n"
                                   "# input_5_cast_fp16, ...); it refuses a key that names no op. Calibration data: the calib\n"
                                   "# workflow's first 128 val images as [{\"input\": x[i:i+1]} for i in range(128)], NCHW\n"
                                   "# float32, normalised as for rn50-tune; calibration runs the model (MLModel.predict): macOS.\n");
                strbuf_printf(&b, "config_type: %s\n", files[k].config_type);
                struct file_ctx c = { plan, &v, &L, files[k].side, files[k].f, plan->weight_threshold, "" };
                write_levels(&b, &c);
                rc = file_save_strbuf(dir, files[k].file, &b);
                (*written)++;
            }
        }
        view_free(&v);
        levels_free(&L);
    }
    return rc;
}

static int write_torch(const char *dir, const struct compress_plan *plan, int *written)
{
    struct {
        enum fam f;
        int alg;
        const char *file, *cls;
    } files[] = {
        { FAM_PRUNE, -1, "torch/1_prune.yaml", "coremltools.optimize.torch.pruning.MagnitudePrunerConfig" },
        { FAM_PAL, PAL_KMEANS, "torch/2_palettize_kmeans.yaml",
          "coremltools.optimize.torch.palettization.PostTrainingPalettizerConfig" },
        { FAM_PAL, PAL_SKM, "torch/2_palettize_skm.yaml", "coremltools.optimize.torch.palettization.SKMPalettizerConfig" },
        { FAM_PAL, PAL_DKM, "torch/2_palettize_dkm.yaml", "coremltools.optimize.torch.palettization.DKMPalettizerConfig" },
        { FAM_QUANT, -1, "torch/3_quantize.yaml", "coremltools.optimize.torch.quantization.LinearQuantizerConfig" },
    };
    int rc = STATUS_OK;
    for (size_t k = 0; k < sizeof files / sizeof *files && !rc; k++) {
        struct view v;
        struct levels L = { 0 };
        char why[256];
        if (refusal(plan, files[k].file, why, sizeof why)) continue;
        if (!view_init(&v, plan, files[k].f, files[k].alg)) {
            view_free(&v);
            return status_error(STATUS_NOMEM, "%s: out of memory", dir);
        }
        if (v.n_settings > 0) {
            /* The torch-side configs have no weight_threshold (but DKM's): every layer is listed as
             * it is, with null where a higher level would otherwise compress it. */
            if (!levels_init(&L, &v, plan, -1)) {
                rc = status_error(STATUS_NOMEM, "%s: out of memory", dir);
            } else {
                struct strbuf b = { 0 };
                strbuf_printf(&b,
                     "# %s.from_yaml(this file). Module names are torchvision's, exact.\n"
                     "# No config_type key: the class above reads the file.\n"
                     "# What coremltools recomputes: it works on the torch model's conv weights before BatchNorm is\n"
                     "# folded, where rn50-tune compressed the folded ones; so the %s it computes are not\n"
                     "# the ones of the evaluated point, nor is its accuracy (the layer choices are the same).\n"
                     "# To deploy exactly the evaluated weights: scripts/coreml_deploy.py --exact (README).\n",
                     files[k].cls,
                     files[k].f == FAM_PRUNE ? "masks (largest |w| per layer)" :
                     files[k].f == FAM_PAL ? "LUTs and indices" : "scales and activation ranges");
                if (files[k].alg == PAL_DKM)
                    strbuf_str(&b, "# DKM's own weight_threshold (default 2048) is on top of the listing below.\n");
                struct file_ctx c = { plan, &v, &L, SIDE_TORCH, files[k].f, -1, "" };
                write_levels(&b, &c);
                rc = file_save_strbuf(dir, files[k].file, &b);
                (*written)++;
            }
        }
        view_free(&v);
        levels_free(&L);
    }
    return rc;
}

static int write_readme(const char *dir, const struct compress_plan *plan)
{
    struct strbuf b = { 0 };
    strbuf_str(&b,
               "# The chosen configuration\n\n"
               "- `config.yaml`: rn50-tune's own config; `rn50-tune compress --config config.yaml` rebuilds the "
               "compressed model.\n"
               "- `torch/`: coremltools.optimize.torch configs, apply in file order (1 prune, 2 palettize, 3 "
               "quantize); each file names its class on its first line. Palettization has one file per algorithm "
               "(kmeans: PostTrainingPalettizer, skm: SKMPalettizer, dkm: DKMPalettizer), each leaving the other "
               "algorithms' layers alone (null).\n"
               "- `coreml/`: coremltools 9.0 coremltools.optimize.coreml configs for a converted mlpackage, "
               "`config_type` inside, apply in file order: prune_weights, palettize_weights (joint_compression=True "
               "when pruned first), linear_quantize_activations (with calibration samples, before the weights), "
               "linear_quantize_weights; `layers.tsv` lists every layer's weight const, module and shape.\n\n"
               "Deploy: `rn50-tune compress --config config.yaml --out c.safetensors --dequantized dq.safetensors`, then "
               "`scripts/coreml_deploy.py --model M --weights dq.safetensors --chosen THIS_DIR --out m.mlpackage "
               "--exact`: BatchNorm folded into conv biases (the const names of `layers.tsv` survive the conversion), "
               "converted, checked against `layers.tsv`, and compressed by coremltools keeping our values (exact zeros, "
               "palettization mode unique). Without `--exact` coremltools recomputes masks and LUTs from the files "
               "(k-means on the deployed weights). Comments in the files mark what Core ML cannot do as stated "
               "(per_kernel/per_channel pruning, sensitive or differentiable k-means LUTs).\n");
    struct strbuf why = { 0 };
    if (export_coreml_refusals(plan, &why)) {
        strbuf_str(&b, "\nRefused (coremltools would reject these files):\n\n");
        for (char *line = why.p, *nl; line && *line; line = nl + 1) {
            nl = strchr(line, '\n');
            strbuf_printf(&b, "- %.*s\n", (int)(nl - line), line);
            fprintf(stderr, "export: %s/%.*s\n", dir, (int)(nl - line), line);
        }
    }
    if (why.oom) b.oom = 1;
    free(why.p);
    return file_save_strbuf(dir, "README.md", &b);
}

/* Every file this exporter can write, so that a second export into the same folder leaves no
 * file of the previous plan behind. */
static const char *const all_files[] = {
    "coreml/1_prune.yaml",         "coreml/2_palettize.yaml",        "coreml/3_quantize_activations.yaml",
    "coreml/3_quantize_weights.yaml", "torch/1_prune.yaml",         "torch/2_palettize_kmeans.yaml",
    "torch/2_palettize_skm.yaml",  "torch/2_palettize_dkm.yaml",     "torch/3_quantize.yaml",
    "coreml/layers.tsv",
};

int export_coreml_write(const struct compress_plan *plan, const char *dir)
{
    char sub[4096];
    int rc = file_make_dir(dir, 0);
    if (rc) return rc;
    if ((rc = write_ours(dir, plan))) return rc;
    int n_coreml = 0, n_torch = 0;
    if ((size_t)snprintf(sub, sizeof sub, "%s/coreml", dir) >= sizeof sub)
        return status_error(STATUS_BAD_INPUT, "%s: path too long", dir);
    if ((rc = file_make_dir(sub, 0))) return rc;
    snprintf(sub, sizeof sub, "%s/torch", dir);
    if ((rc = file_make_dir(sub, 0))) return rc;
    for (size_t k = 0; k < sizeof all_files / sizeof *all_files; k++) {
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", dir, all_files[k]) >= sizeof sub) continue;
        if (remove(sub) != 0 && errno != ENOENT)
            return status_error(STATUS_IO, "%s: cannot remove the previous export's file: %s", sub, strerror(errno));
    }
    if ((rc = write_coreml(dir, plan, &n_coreml))) return rc;
    if ((rc = write_torch(dir, plan, &n_torch))) return rc;
    return write_readme(dir, plan);
}
