/* layer_features.c — layer kinds, size features and layer specs for the cost model (see layer_features.h).
 *
 * Implements the feature arithmetic from shapes and plans only. Does not look at weights: the
 * density of a pruned layer is its target (magnitude pruning hits it exactly, up to rounding). */
#include "layer_features.h"
#include "apply.h"
#include "kern_attach.h"
#include "status.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The groups after the kernel kinds' (named by kern_kind_name). */
static const char *extra_group_names[] = { "any", "net" };
_Static_assert(sizeof extra_group_names / sizeof *extra_group_names == COST_GROUP_COUNT - KERN_KIND_COUNT, "group names");
static const char *feature_names[] = { "one",   "gmacs",    "gmacs_nz", "weight_mb", "in_m",
                                       "out_m", "im2col_m", "luts",     "act8_m",    "bounds" };
_Static_assert(sizeof feature_names / sizeof *feature_names == CF_COUNT, "feature_names");

static const char *group_name(int g)
{
    return g < KERN_KIND_COUNT ? kern_kind_name((enum kern_kind)g) : extra_group_names[g - KERN_KIND_COUNT];
}

void cost_term_name(int term, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.%s", group_name(term / CF_COUNT), feature_names[term % CF_COUNT]);
}

int cost_term_parse(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return -1;
    const size_t glen = (size_t)(dot - name);
    for (int g = 0; g < COST_GROUP_COUNT; g++) {
        const char *gn = group_name(g);
        if (strlen(gn) != glen || strncmp(name, gn, glen)) continue;
        for (int f = 0; f < CF_COUNT; f++)
            if (!strcmp(dot + 1, feature_names[f])) return cost_term(g, (enum cost_feature)f);
    }
    return -1;
}

static double layer_density(const struct prune_cfg *p)
{
    if (!p->enabled) return 1.0;
    if (p->n_m_m > 0) return 1.0 - (double)p->n_m_n / p->n_m_m;
    return 1.0 - p->target_sparsity;
}

static int acts8(const struct layer_plan *lp) { return lp->quant.enabled && lp->quant.activations; }

int cost_plan_matches(const struct resnet *net, const struct compress_plan *plan)
{
    if (plan->n_layers != net->n_conv + 1) return 0;
    for (int i = 0; i < net->n_conv; i++)
        if (strcmp(plan->info[i].name, net->conv[i].name)) return 0;
    return strcmp(plan->info[net->n_conv].name, "fc") == 0;
}

void cost_layer_features(const struct resnet *net, const struct compress_plan *plan, int layer, double scale,
                         double *x, enum kern_kind *kind_out)
{
    RN_ASSERT(layer >= 0 && layer <= net->n_conv && plan->n_layers == net->n_conv + 1);
    const struct layer_plan *lp = &plan->layer[layer];
    double OC, K, IC, in, out, spatial, im2col = 0.0;
    if (layer < net->n_conv) {
        const struct resnet_conv *c = &net->conv[layer];
        OC = c->d.OC;
        K = (double)conv_k(&c->d);
        IC = c->d.IC;
        spatial = (double)c->OH * c->OW;
        in = (double)c->d.IC * c->H * c->W;
        out = OC * spatial;
        if (!conv_is_pointwise(&c->d)) im2col = K * spatial;
    } else {
        OC = (double)net->param[net->fc_w].shape[0];
        K = (double)net->param[net->fc_w].shape[1];
        IC = K;
        spatial = 1.0;
        in = K;
        out = OC;
    }
    const double dens = layer_density(&lp->prune), w = OC * K, nz = w * dens;
    const int net8 = plan_quantizes_activations(plan);
    const enum kern_kind kind = kern_plan_kind(lp, layer == net->n_conv, (int64_t)w, net8);
    double bytes, luts = 0.0;
    if (lp->pal.enabled) {
        const int b = lp->pal.n_bits;
        if (lp->pal.granularity == PAL_PER_GROUPED_CHANNEL && lp->pal.group_size > 0) {
            const double axis = lp->pal.channel_axis ? IC : OC;
            luts = ceil(axis / lp->pal.group_size);
        } else {
            luts = 1.0;
        }
        bytes = nz * b / 8.0 + luts * (double)(1 << b) * 2.0 + (lp->pal.per_channel_scale ? 2.0 * OC : 0.0);
    } else if (lp->quant.enabled) {
        bytes = w + 2.0 * OC;
    } else {
        bytes = 2.0 * nz;
    }
    if (lp->prune.enabled && !lp->quant.enabled) bytes += w / 8.0;   /* the 1-bit mask */
    double v[CF_COUNT] = { 0 };
    v[CF_ONE] = 1.0;
    v[CF_GMACS] = w * spatial * 1e-9;
    v[CF_GMACS_NZ] = nz * spatial * 1e-9;
    v[CF_WEIGHT_MB] = bytes * 1e-6;
    v[CF_IN_M] = in * 1e-6;
    v[CF_OUT_M] = out * 1e-6;
    v[CF_IM2COL_M] = im2col * 1e-6;
    v[CF_LUTS] = luts * 1e-3;
    v[CF_ACT8_M] = kind == KERN_INT8 ? in * 1e-6 : 0.0;
    for (int f = 0; f < CF_COUNT; f++) {
        x[cost_term((int)kind, (enum cost_feature)f)] += scale * v[f];
        x[cost_term(COST_GROUP_ANY, (enum cost_feature)f)] += scale * v[f];
    }
    if (kind_out) *kind_out = kind;
}

void cost_net_features(const struct resnet *net, const struct compress_plan *plan, double *x)
{
    memset(x, 0, sizeof(double) * COST_TERMS);
    double out_m = 0.0, bounds = 0.0;
    int any8 = 0;
    for (int l = 0; l < plan->n_layers; l++) {
        double one[COST_TERMS] = { 0 };
        cost_layer_features(net, plan, l, 1.0, one, NULL);
        for (int t = 0; t < COST_TERMS; t++) x[t] += one[t];
        out_m += one[cost_term(COST_GROUP_ANY, CF_OUT_M)];
        any8 |= acts8(&plan->layer[l]);
    }
    /* Crossings between 8-bit and float activations, along each layer's actual input: a block's
     * first conv and downsample read the block input (the previous block's last conv's output),
     * the others read the previous conv in the block. */
    int prev_last = 0;   /* the stem */
    for (int b = 0; b < net->n_block; b++) {
        const struct resnet_block_desc *blk = &net->block[b];
        const int in8 = acts8(&plan->layer[prev_last]);
        for (int k = 0; k < blk->n_conv; k++) {
            const int src = k == 0 ? prev_last : blk->conv[k - 1];
            bounds += acts8(&plan->layer[blk->conv[k]]) != acts8(&plan->layer[src]);
        }
        if (blk->downsample >= 0) bounds += acts8(&plan->layer[blk->downsample]) != in8;
        prev_last = blk->conv[blk->n_conv - 1];
    }
    bounds += acts8(&plan->layer[net->n_conv]) != acts8(&plan->layer[prev_last]);
    x[cost_term(COST_GROUP_NET, CF_ONE)] = 1.0;
    x[cost_term(COST_GROUP_NET, CF_OUT_M)] = out_m;
    x[cost_term(COST_GROUP_NET, CF_ACT8_M)] = any8 ? out_m : 0.0;
    x[cost_term(COST_GROUP_NET, CF_BOUNDS)] = bounds;
}

/* ---- layer specs ---- */

static int spec_fail(const char *spec, const char *part, const char *why)
{
    return status_error(STATUS_BAD_INPUT,
                        "layer spec '%s': '%s' %s (expected 'dense' or parts spS, lutB, lutBgG, w8a8, w8a16 "
                        "joined by '+', e.g. sp0.75+lut4g16)",
                        spec, part, why);
}

int cost_spec_parse(const char *spec, struct layer_plan *lp)
{
    memset(lp, 0, sizeof *lp);
    if (!strcmp(spec, "dense")) return STATUS_OK;
    char buf[128];
    if (strlen(spec) >= sizeof buf || !*spec) return spec_fail(spec, spec, "is empty or too long");
    memcpy(buf, spec, strlen(spec) + 1);
    char *save = NULL;
    for (char *part = strtok_r(buf, "+", &save); part; part = strtok_r(NULL, "+", &save)) {
        char *end;
        if (!strncmp(part, "sp", 2)) {
            if (lp->prune.enabled) return spec_fail(spec, part, "repeats pruning");
            errno = 0;
            const double s = strtod(part + 2, &end);
            if (errno || end == part + 2 || *end || !(s > 0.0 && s < 1.0))
                return spec_fail(spec, part, "needs a sparsity in (0, 1)");
            lp->prune.enabled = 1;
            lp->prune.target_sparsity = s;
            lp->prune.granularity = PRUNE_PER_SCALAR;
        } else if (!strncmp(part, "lut", 3)) {
            if (lp->pal.enabled || lp->quant.enabled) return spec_fail(spec, part, "repeats palettization or follows int8");
            errno = 0;
            const long b = strtol(part + 3, &end, 10);
            if (errno || end == part + 3 || b < 1 || b > 8) return spec_fail(spec, part, "needs bits in 1..8");
            lp->pal.enabled = 1;
            lp->pal.n_bits = (int)b;
            lp->pal.granularity = PAL_PER_TENSOR;
            lp->pal.algorithm = PAL_KMEANS;
            if (*end == 'g') {
                const char *g = end + 1;
                errno = 0;
                const long gs = strtol(g, &end, 10);
                if (errno || end == g || gs < 1 || gs > 65536) return spec_fail(spec, part, "needs a group size in 1..65536");
                lp->pal.granularity = PAL_PER_GROUPED_CHANNEL;
                lp->pal.group_size = (int)gs;
            }
            if (*end) return spec_fail(spec, part, "has trailing characters");
        } else if (!strcmp(part, "w8a8") || !strcmp(part, "w8a16")) {
            if (lp->quant.enabled || lp->pal.enabled) return spec_fail(spec, part, "repeats int8 or follows palettization");
            lp->quant.enabled = 1;
            lp->quant.symmetric = 1;
            lp->quant.activations = part[3] == '8';
            lp->quant.observer = QUANT_MOVING_AVERAGE_MIN_MAX;
            lp->quant.calibration_samples = 128;
        } else {
            return spec_fail(spec, part, "is not a known part");
        }
    }
    return STATUS_OK;
}

void cost_spec_format(const struct layer_plan *lp, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
#define PUT(...)                                                                              \
    do {                                                                                      \
        int w_ = snprintf(buf + n, n < cap ? cap - n : 0, "%s", n ? "+" : "");                \
        n += w_ > 0 ? (size_t)w_ : 0;                                                         \
        w_ = snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__);                           \
        n += w_ > 0 ? (size_t)w_ : 0;                                                         \
    } while (0)
    if (lp->prune.enabled) {
        if (lp->prune.n_m_m > 0)
            PUT("sp%.4g", 1.0 - layer_density(&lp->prune));
        else
            PUT("sp%.4g", lp->prune.target_sparsity);
    }
    if (lp->pal.enabled) {
        if (lp->pal.granularity == PAL_PER_GROUPED_CHANNEL)
            PUT("lut%dg%d", lp->pal.n_bits, lp->pal.group_size);
        else
            PUT("lut%d", lp->pal.n_bits);
    }
    if (lp->quant.enabled) PUT("%s", lp->quant.activations ? "w8a8" : "w8a16");
    if (!n) PUT("dense");
#undef PUT
}
