/* config.c — compression configs (YAML, coremltools' torch-side shape) read strictly and resolved
 * into a per-layer plan; see config.h for the file shape and the resolution order.
 *
 * Implements: parsing over model/yaml_load.h's document tree (every node keeps its line), type and range
 * checks with messages naming file:line and key, POSIX extended regexes anchored to match whole
 * module names, per-family weight thresholds, the pruning `scheduler` (PolynomialDecayScheduler:
 * `update_steps` as a list or "range(begin, end[, step])", `power`) with `initial_sparsity`, and
 * DKM's `palett_tau`, `kmeans_max_iter` and `milestone` (for `algorithm: dkm` only; both are
 * fine-tuning features, see compress/finetune.h). Does not implement: coremltools' Python-only keys
 * (lut_dtype, cluster_dim, ...: rejected as unknown, so a typo is never silently ignored), the
 * core-ml-side `op_type_configs` / `op_name_configs` form (that is an export format, search/export).
 * Only this file sees regex.h's types. */
#include "config.h"
#include "name_regex.h"
#include "status.h"
#include "yaml_load.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *pal_granularity_names[] = { "per_tensor", "per_grouped_channel" };
static const char *pal_algorithm_names[] = { "kmeans", "skm", "dkm" };
static const char *prune_granularity_names[] = { "per_scalar", "per_kernel", "per_channel" };
static const char *quant_observer_names[] = { "min_max", "moving_average_min_max" };
_Static_assert(sizeof pal_granularity_names / sizeof *pal_granularity_names == PAL_GRANULARITY_COUNT, "pal gran");
_Static_assert(sizeof pal_algorithm_names / sizeof *pal_algorithm_names == PAL_ALGORITHM_COUNT, "pal alg");
_Static_assert(sizeof prune_granularity_names / sizeof *prune_granularity_names == PRUNE_GRANULARITY_COUNT, "prune");
_Static_assert(sizeof quant_observer_names / sizeof *quant_observer_names == QUANT_OBSERVER_COUNT, "observer");

const char *compress_pal_granularity_name(enum pal_granularity g) { return pal_granularity_names[g]; }
const char *compress_pal_algorithm_name(enum pal_algorithm a) { return pal_algorithm_names[a]; }
const char *compress_prune_granularity_name(enum prune_granularity g) { return prune_granularity_names[g]; }
const char *compress_quant_observer_name(enum quant_observer o) { return quant_observer_names[o]; }

int compress_pal_groups_fit(const struct compress_layer_info *li, const struct palettize_cfg *p)
{
    if (p->granularity != PAL_PER_GROUPED_CHANNEL) return 1;
    const int64_t channels = p->channel_axis == 1 ? (li->IC > 0 ? li->IC : li->K) : li->OC;
    return p->group_size > 0 && channels % p->group_size == 0;
}

/* ---- plan ownership ---- */

int compress_plan_init_empty(const struct resnet *net, struct compress_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    const int n = net->n_conv + 1;
    plan->info = calloc((size_t)n, sizeof *plan->info);
    plan->layer = calloc((size_t)n, sizeof *plan->layer);
    if (!plan->info || !plan->layer) {
        compress_plan_free(plan);
        return status_error(STATUS_NOMEM, "compression plan: out of memory for %d layers", n);
    }
    for (int i = 0; i < net->n_conv; i++) {
        const struct resnet_conv *c = &net->conv[i];
        struct compress_layer_info *li = &plan->info[i];
        _Static_assert(sizeof li->name == sizeof c->name, "layer name sizes");
        memcpy(li->name, c->name, sizeof li->name);
        li->is_linear = 0;
        li->OC = c->d.OC;
        li->K = conv_k(&c->d);
        li->IC = c->d.IC;
    }
    struct compress_layer_info *fc = &plan->info[net->n_conv];
    snprintf(fc->name, sizeof fc->name, "fc");
    fc->is_linear = 1;
    fc->OC = net->param[net->fc_w].shape[0];
    fc->K = net->param[net->fc_w].shape[1];
    fc->IC = fc->K;
    plan->n_layers = n;
    plan->weight_threshold = COMPRESS_DEFAULT_WEIGHT_THRESHOLD;
    return STATUS_OK;
}

void compress_plan_free(struct compress_plan *plan)
{
    if (!plan) return;
    free(plan->info);
    free(plan->layer);
    memset(plan, 0, sizeof *plan);
}

/* ---- the parsed file, before resolution ---- */

enum family { FAM_PRUNING, FAM_PALETTIZATION, FAM_QUANTIZATION, FAM_COUNT };
static const char *family_names[] = { "pruning", "palettization", "quantization" };
_Static_assert(sizeof family_names / sizeof *family_names == FAM_COUNT, "family_names");

/* One per-module config as written: a mapping of fields, or null. */
struct src_cfg {
    int set;                 /* given in the file */
    int is_null;             /* given as null: leave the layer alone for this family */
    int64_t threshold;       /* weight_threshold inside the config, or -1: the section's */
    struct layer_plan p;     /* only the member of the section's family is used */
};

struct name_cfg {
    char *key;
    size_t line;
    regex_t re;
    int re_ok;
    int matched;
    struct src_cfg cfg;
};

struct section {
    int present;
    int64_t threshold;
    struct src_cfg global, type[2];   /* type[0]: Conv2d, type[1]: Linear (= compress_layer_info.is_linear) */
    int n_names;
    struct name_cfg *names;
};

struct reader {
    const char *path;
    struct section sec[FAM_COUNT];
};

/* "a, b or c" for messages listing the allowed values. */
static void join_names(const char *const *names, int n, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < cap; i++) {
        const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
        int w = snprintf(buf + len, cap - len, "%s%s", sep, names[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
}

static int parse_int64(const struct reader *r, const struct ynode *n, const char *where, const char *key, int64_t lo,
                       int64_t hi, int64_t *out)
{
    if (n->kind != YNODE_SCALAR || !n->plain)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key '%s': expected an integer in %" PRId64 "..%" PRId64,
                            r->path, n->line, where, key, lo, hi);
    const char *s = n->str;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return status_error(STATUS_BAD_INPUT,
                            "%s:%zu: %s: key '%s': '%s' is not an integer in %" PRId64 "..%" PRId64, r->path,
                            n->line, where, key, s, lo, hi);
    *out = v;
    return STATUS_OK;
}

static int parse_int(const struct reader *r, const struct ynode *n, const char *where, const char *key, int lo, int hi,
                     int *out)
{
    int64_t v;
    int rc = parse_int64(r, n, where, key, lo, hi, &v);
    if (!rc) *out = (int)v;
    return rc;
}

static int parse_double(const struct reader *r, const struct ynode *n, const char *where, const char *key, double lo,
                        double hi, double *out)
{
    const char *s = n->kind == YNODE_SCALAR ? n->str : "";
    char *end = NULL;
    double v = NAN;
    if (n->kind == YNODE_SCALAR && n->plain) {
        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end) v = NAN;
    }
    if (!(v >= lo && v <= hi))   /* also rejects NaN, "nan", "inf" and non-numbers */
        return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key '%s': '%s' is not a number in %g..%g", r->path,
                            n->line, where, key, s, lo, hi);
    *out = v;
    return STATUS_OK;
}

static int parse_bool(const struct reader *r, const struct ynode *n, const char *where, const char *key, int *out)
{
    if (n->kind == YNODE_SCALAR && n->plain) {
        const char *s = n->str;
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) { *out = 1; return STATUS_OK; }
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) { *out = 0; return STATUS_OK; }
    }
    return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key '%s': '%s' is not a boolean (expected true or false)",
                        r->path, n->line, where, key, n->kind == YNODE_SCALAR ? n->str : "");
}

static int parse_enum(const struct reader *r, const struct ynode *n, const char *where, const char *key,
                      const char *const *names, int count, int *out)
{
    if (n->kind == YNODE_SCALAR)
        for (int i = 0; i < count; i++)
            if (!strcmp(n->str, names[i])) {
                *out = i;
                return STATUS_OK;
            }
    char allowed[256];
    join_names(names, count, allowed, sizeof allowed);
    return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key '%s': '%s' is not allowed (expected %s)", r->path,
                        n->line, where, key, n->kind == YNODE_SCALAR ? n->str : "(not a string)",
                        allowed);
}

/* Looks up a mapping key in a table; error lists the allowed keys. */
static int lookup_key(const struct reader *r, const struct ynode *k, const char *where, const char *const *keys,
                      int n, int *out)
{
    if (k->kind == YNODE_SCALAR)
        for (int i = 0; i < n; i++)
            if (!strcmp(k->str, keys[i])) {
                *out = i;
                return STATUS_OK;
            }
    char allowed[512];
    join_names(keys, n, allowed, sizeof allowed);
    return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: unknown key '%s' (expected %s)", r->path, k->line, where,
                        k->kind == YNODE_SCALAR ? k->str : "(not a string)", allowed);
}

static int check_mapping(const struct reader *r, const struct ynode *n, const char *where, const char *what)
{
    if (n->kind != YNODE_MAP)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: expected %s", r->path, n->line, where, what);
    return STATUS_OK;
}

/* ---- per-module configs, one parser per family ---- */

enum { PK_TARGET_SPARSITY, PK_GRANULARITY, PK_BLOCK_SIZE, PK_N_M_RATIO, PK_SCHEDULER, PK_WEIGHT_THRESHOLD,
       PK_INITIAL_SPARSITY, PK_RECONSTRUCT, PK_COUNT };
static const char *prune_keys[] = { "target_sparsity", "granularity", "block_size", "n_m_ratio", "scheduler",
                                    "weight_threshold", "initial_sparsity", "reconstruct" };
_Static_assert(sizeof prune_keys / sizeof *prune_keys == PK_COUNT, "prune_keys");

enum { AK_N_BITS, AK_GRANULARITY, AK_GROUP_SIZE, AK_CHANNEL_AXIS, AK_PER_CHANNEL_SCALE, AK_ALGORITHM,
       AK_WEIGHT_THRESHOLD, AK_TAU, AK_KMEANS_MAX_ITER, AK_MILESTONE, AK_COUNT };
static const char *pal_keys[] = { "n_bits", "granularity", "group_size", "channel_axis", "enable_per_channel_scale",
                                  "algorithm", "weight_threshold", "palett_tau", "kmeans_max_iter", "milestone" };
_Static_assert(sizeof pal_keys / sizeof *pal_keys == AK_COUNT, "pal_keys");

enum { QK_SCHEME, QK_WEIGHT_DTYPE, QK_ACTIVATION_DTYPE, QK_OBSERVER, QK_CALIBRATION_SAMPLES, QK_WEIGHT_THRESHOLD,
       QK_WEIGHT_PER_CHANNEL, QK_WEIGHT_OBSERVER, QK_COUNT };
static const char *quant_keys[] = { "quantization_scheme", "weight_dtype", "activation_dtype", "activation_observer",
                                    "calibration_samples", "weight_threshold", "weight_per_channel", "weight_observer" };
_Static_assert(sizeof quant_keys / sizeof *quant_keys == QK_COUNT, "quant_keys");

#define THRESHOLD_MAX INT64_C(1000000000000)

static int parse_n_m(struct reader *r, const struct ynode *v, const char *where, struct prune_cfg *p)
{
    const size_t line = v->line;
    if (v->kind != YNODE_SEQ || v->n != 2)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key 'n_m_ratio': expected a list [n, m] of two integers",
                            r->path, line, where);
    int nm[2];
    for (int i = 0; i < 2; i++) {
        const struct ynode *it = v->item[i];
        int rc = parse_int(r, it, where, "n_m_ratio", 1, 1024, &nm[i]);
        if (rc) return rc;
    }
    if (nm[0] > nm[1] || nm[1] < 2)
        return status_error(STATUS_BAD_INPUT,
                            "%s:%zu: %s: key 'n_m_ratio': [%d, %d] needs 1 <= n <= m and m >= 2 (n zeros in every m)",
                            r->path, line, where, nm[0], nm[1]);
    p->n_m_n = nm[0];
    p->n_m_m = nm[1];
    return STATUS_OK;
}

/* update_steps: a list of increasing non-negative integers, or "range(begin, end[, step])" with
 * Python's meaning (begin, begin+step, ... < end). */
static int parse_update_steps(struct reader *r, const struct ynode *v, const char *where, struct prune_schedule *sc)
{
    const size_t line = v->line;
    sc->n_update_steps = 0;
    if (v->kind == YNODE_SEQ) {
        for (int it_i = 0; it_i < v->n; it_i++) {
            if (sc->n_update_steps == PRUNE_MAX_UPDATE_STEPS)
                return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key 'update_steps': more than %d steps", r->path, line,
                                    where, PRUNE_MAX_UPDATE_STEPS);
            int64_t s;
            int rc = parse_int64(r, v->item[it_i], where, "update_steps", 0, INT64_C(1) << 40, &s);
            if (rc) return rc;
            sc->update_steps[sc->n_update_steps++] = s;
        }
    } else if (v->kind == YNODE_SCALAR) {
        long long b = 0, e = 0, st = 1;
        int used = 0;
        const char *s = v->str;
        int n = sscanf(s, " range ( %lld , %lld , %lld ) %n", &b, &e, &st, &used);
        if (n < 3) {
            st = 1;
            used = 0;
            n = sscanf(s, " range ( %lld , %lld ) %n", &b, &e, &used);
            n = n == 2 ? 3 : n;
        }
        if (n < 3 || !used || s[used] || b < 0 || st < 1 || e <= b)
            return status_error(STATUS_BAD_INPUT,
                                "%s:%zu: %s: key 'update_steps': '%s' is not a list of steps or range(begin, end[, step]) "
                                "with 0 <= begin < end and step >= 1",
                                r->path, line, where, s);
        for (long long x = b; x < e; x += st) {
            if (sc->n_update_steps == PRUNE_MAX_UPDATE_STEPS)
                return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key 'update_steps': '%s' gives more than %d steps",
                                    r->path, line, where, s, PRUNE_MAX_UPDATE_STEPS);
            sc->update_steps[sc->n_update_steps++] = x;
        }
    } else {
        return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key 'update_steps': expected a list of steps or range(...)",
                            r->path, line, where);
    }
    if (sc->n_update_steps == 0)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key 'update_steps': no steps", r->path, line, where);
    for (int i = 1; i < sc->n_update_steps; i++)
        if (sc->update_steps[i] <= sc->update_steps[i - 1])
            return status_error(STATUS_BAD_INPUT,
                                "%s:%zu: %s: key 'update_steps': steps must increase (%" PRId64 " after %" PRId64 ")",
                                r->path, line, where, sc->update_steps[i], sc->update_steps[i - 1]);
    return STATUS_OK;
}

/* scheduler: {update_steps: ..., power: 3} (coremltools' PolynomialDecayScheduler). */
static int parse_scheduler(struct reader *r, const struct ynode *n, const char *where, struct prune_schedule *sc)
{
    static const char *keys[] = { "update_steps", "power" };
    int rc = check_mapping(r, n, where, "a mapping {update_steps: [...], power: 3} (key 'scheduler')");
    if (rc) return rc;
    int seen[2] = { 0, 0 };
    sc->power = 3.0;
    for (int pair_i = 0; pair_i < n->n; pair_i++) {
        const struct ynode *k = n->key[pair_i];
        const struct ynode *v = n->val[pair_i];
        int ki = 0;
        if ((rc = lookup_key(r, k, where, keys, 2, &ki))) return rc;
        if (seen[ki])
            return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key '%s' given twice", r->path, k->line, where, keys[ki]);
        seen[ki] = 1;
        rc = ki == 0 ? parse_update_steps(r, v, where, sc) : parse_double(r, v, where, "power", 1e-3, 1e3, &sc->power);
        if (rc) return rc;
    }
    if (!seen[0])
        return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key 'scheduler' needs 'update_steps'", r->path, n->line,
                            where);
    return STATUS_OK;
}

static int parse_family_cfg(struct reader *r, enum family fam, const struct ynode *n, const char *where,
                            struct src_cfg *out)
{
    memset(out, 0, sizeof *out);
    out->set = 1;
    out->threshold = -1;
    if (ynode_is_null(n)) {
        out->is_null = 1;
        return STATUS_OK;
    }
    int rc = check_mapping(r, n, where, "a mapping of config fields, or null to leave the layer alone");
    if (rc) return rc;

    /* coremltools' defaults (MagnitudePrunerConfig, PostTrainingPalettizerConfig, LinearQuantizerConfig). */
    struct prune_cfg *pr = &out->p.prune;
    struct palettize_cfg *pa = &out->p.pal;
    struct quant_cfg *qu = &out->p.quant;
    pr->target_sparsity = 0.5;
    pr->granularity = PRUNE_PER_SCALAR;
    pr->block_size = 1;
    pa->n_bits = 4;
    pa->granularity = PAL_PER_TENSOR;
    pa->algorithm = PAL_KMEANS;
    pa->tau = 1e-4;
    pa->kmeans_max_iter = 3;
    qu->symmetric = 1;
    qu->activations = 1;
    qu->observer = QUANT_MOVING_AVERAGE_MIN_MAX;
    qu->calibration_samples = 128;

    const char *const *keys = fam == FAM_PRUNING ? prune_keys : fam == FAM_PALETTIZATION ? pal_keys : quant_keys;
    const int n_keys = fam == FAM_PRUNING ? PK_COUNT : fam == FAM_PALETTIZATION ? AK_COUNT : QK_COUNT;
    int seen[16] = { 0 };
    _Static_assert(PK_COUNT <= 16 && AK_COUNT <= 16 && QK_COUNT <= 16, "seen[]");
    size_t group_size_line = 0;
    for (int pair_i = 0; pair_i < n->n; pair_i++) {
        const struct ynode *k = n->key[pair_i];
        const struct ynode *v = n->val[pair_i];
        int ki = 0, e = 0;
        if ((rc = lookup_key(r, k, where, keys, n_keys, &ki))) return rc;
        if (seen[ki])
            return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key '%s' given twice", r->path, k->line, where,
                                keys[ki]);
        seen[ki] = 1;
        const char *key = keys[ki];
        if (fam == FAM_PRUNING) {
            switch (ki) {
            case PK_TARGET_SPARSITY: rc = parse_double(r, v, where, key, 0.0, 1.0, &pr->target_sparsity); break;
            case PK_GRANULARITY:
                rc = parse_enum(r, v, where, key, prune_granularity_names, PRUNE_GRANULARITY_COUNT, &e);
                pr->granularity = (enum prune_granularity)e;
                break;
            case PK_BLOCK_SIZE: rc = parse_int(r, v, where, key, 1, 1 << 20, &pr->block_size); break;
            case PK_N_M_RATIO: rc = parse_n_m(r, v, where, pr); break;
            case PK_SCHEDULER: rc = parse_scheduler(r, v, where, &pr->sched); break;
            case PK_INITIAL_SPARSITY: rc = parse_double(r, v, where, key, 0.0, 1.0, &pr->initial_sparsity); break;
            case PK_WEIGHT_THRESHOLD: rc = parse_int64(r, v, where, key, 0, THRESHOLD_MAX, &out->threshold); break;
            case PK_RECONSTRUCT: rc = parse_bool(r, v, where, key, &pr->reconstruct); break;
            }
        } else if (fam == FAM_PALETTIZATION) {
            switch (ki) {
            case AK_N_BITS: rc = parse_int(r, v, where, key, 1, 8, &pa->n_bits); break;
            case AK_GRANULARITY:
                rc = parse_enum(r, v, where, key, pal_granularity_names, PAL_GRANULARITY_COUNT, &e);
                pa->granularity = (enum pal_granularity)e;
                break;
            case AK_GROUP_SIZE:
                rc = parse_int(r, v, where, key, 1, 1 << 20, &pa->group_size);
                group_size_line = k->line;
                break;
            case AK_CHANNEL_AXIS: rc = parse_int(r, v, where, key, 0, 1, &pa->channel_axis); break;
            case AK_PER_CHANNEL_SCALE: rc = parse_bool(r, v, where, key, &pa->per_channel_scale); break;
            case AK_ALGORITHM:
                rc = parse_enum(r, v, where, key, pal_algorithm_names, PAL_ALGORITHM_COUNT, &e);
                pa->algorithm = (enum pal_algorithm)e;
                break;
            case AK_WEIGHT_THRESHOLD: rc = parse_int64(r, v, where, key, 0, THRESHOLD_MAX, &out->threshold); break;
            case AK_TAU: rc = parse_double(r, v, where, key, 1e-12, 1e6, &pa->tau); break;
            case AK_KMEANS_MAX_ITER: rc = parse_int(r, v, where, key, 1, 1000, &pa->kmeans_max_iter); break;
            case AK_MILESTONE: rc = parse_int64(r, v, where, key, 0, INT64_C(1) << 40, &pa->milestone); break;
            }
        } else {
            static const char *schemes[] = { "affine", "symmetric" };   /* index = quant_cfg.symmetric */
            /* Ours and coremltools' torch-side spellings (its maybe_convert_str_to_dtype): int8
             * weights are qint8 there; activations quint8 (quantized) or float32 (left float).
             * Even indices of adtypes leave activations float, odd ones quantize them. */
            static const char *wdtypes[] = { "int8", "qint8" };
            static const char *adtypes[] = { "float16", "int8", "none", "quint8", "float32" };
            int on = 1;
            switch (ki) {
            case QK_SCHEME: rc = parse_enum(r, v, where, key, schemes, 2, &qu->symmetric); break;
            case QK_WEIGHT_DTYPE:
                /* Only int8 weights exist in our kernels and size model; 4-bit linear weights would be
                 * a new scheme, not a value of this one, so the message says so. */
                rc = parse_enum(r, v, where, key, wdtypes, 2, &e);
                break;
            case QK_ACTIVATION_DTYPE:
                rc = parse_enum(r, v, where, key, adtypes, 5, &e);
                qu->activations = e == 1 || e == 3;
                break;
            case QK_OBSERVER:
                rc = parse_enum(r, v, where, key, quant_observer_names, QUANT_OBSERVER_COUNT, &e);
                qu->observer = (enum quant_observer)e;
                break;
            case QK_CALIBRATION_SAMPLES:
                rc = parse_int(r, v, where, key, 1, 1000000, &qu->calibration_samples);
                break;
            case QK_WEIGHT_PER_CHANNEL:
                /* coremltools' default is true; our int8 weights are per output channel only. */
                if (!(rc = parse_bool(r, v, where, key, &on)) && !on)
                    rc = status_error(STATUS_BAD_INPUT,
                                      "%s:%zu: %s: key '%s': false is not supported (int8 weights have one scale per "
                                      "output channel: expected true)",
                                      r->path, v->line, where, key);
                break;
            case QK_WEIGHT_OBSERVER:
                /* The weights' range is their exact max |w| per channel, which both observers give
                 * for a fixed tensor: accepted for coremltools' files, no effect. */
                rc = parse_enum(r, v, where, key, quant_observer_names, QUANT_OBSERVER_COUNT, &e);
                break;
            case QK_WEIGHT_THRESHOLD: rc = parse_int64(r, v, where, key, 0, THRESHOLD_MAX, &out->threshold); break;
            }
        }
        if (rc) return rc;
    }

    /* Cross-field rules, reported at the config's own line. */
    const size_t line = n->line;
    if (fam == FAM_PALETTIZATION) {
        if (pa->granularity == PAL_PER_GROUPED_CHANNEL && !seen[AK_GROUP_SIZE])
            return status_error(STATUS_BAD_INPUT,
                                "%s:%zu: %s: granularity per_grouped_channel needs key 'group_size' (channels per LUT)",
                                r->path, line, where);
        if (pa->granularity == PAL_PER_TENSOR && seen[AK_GROUP_SIZE])
            return status_error(STATUS_BAD_INPUT,
                                "%s:%zu: %s: key 'group_size' applies only to granularity per_grouped_channel "
                                "(granularity is per_tensor)",
                                r->path, group_size_line, where);
        if (pa->granularity == PAL_PER_TENSOR) pa->group_size = 0;
        for (int ki = AK_TAU; ki <= AK_MILESTONE; ki++)
            if (seen[ki] && pa->algorithm != PAL_DKM)
                return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key '%s' applies only to algorithm dkm (algorithm is %s)",
                                    r->path, line, where, pal_keys[ki], pal_algorithm_names[pa->algorithm]);
    } else if (fam == FAM_PRUNING) {
        if (pr->block_size > 1 && pr->granularity != PRUNE_PER_SCALAR)
            return status_error(STATUS_BAD_INPUT,
                                "%s:%zu: %s: key 'block_size' applies only to granularity per_scalar (granularity is %s)",
                                r->path, line, where, prune_granularity_names[pr->granularity]);
        if (seen[PK_INITIAL_SPARSITY] && !seen[PK_SCHEDULER])
            return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key 'initial_sparsity' needs a 'scheduler'", r->path, line,
                                where);
        if (pr->n_m_m && pr->granularity != PRUNE_PER_SCALAR)
            return status_error(STATUS_BAD_INPUT,
                                "%s:%zu: %s: key 'n_m_ratio' applies only to granularity per_scalar (granularity is %s)",
                                r->path, line, where, prune_granularity_names[pr->granularity]);
    }
    return STATUS_OK;
}

/* ---- sections ---- */

enum { SK_GLOBAL, SK_TYPE, SK_NAME, SK_THRESHOLD, SK_COUNT };
static const char *section_keys[] = { "global_config", "module_type_configs", "module_name_configs",
                                      "weight_threshold" };
_Static_assert(sizeof section_keys / sizeof *section_keys == SK_COUNT, "section_keys");

static int parse_type_configs(struct reader *r, enum family fam, const struct ynode *n, struct section *s)
{
    char where[96];
    snprintf(where, sizeof where, "%s.module_type_configs", family_names[fam]);
    if (ynode_is_null(n)) return STATUS_OK;
    int rc = check_mapping(r, n, where, "a mapping with keys Conv2d and/or Linear");
    if (rc) return rc;
    static const char *types[] = { "Conv2d", "Linear" };
    for (int pair_i = 0; pair_i < n->n; pair_i++) {
        const struct ynode *k = n->key[pair_i];
        int t = 0;
        if ((rc = lookup_key(r, k, where, types, 2, &t))) return rc;
        if (s->type[t].set)
            return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key '%s' given twice", r->path, k->line, where,
                                types[t]);
        char w2[128];
        snprintf(w2, sizeof w2, "%s.%s", where, types[t]);
        if ((rc = parse_family_cfg(r, fam, n->val[pair_i], w2, &s->type[t]))) return rc;
    }
    return STATUS_OK;
}

static int parse_name_configs(struct reader *r, enum family fam, const struct ynode *n, struct section *s)
{
    char where[96];
    snprintf(where, sizeof where, "%s.module_name_configs", family_names[fam]);
    if (ynode_is_null(n)) return STATUS_OK;
    int rc = check_mapping(r, n, where, "a mapping from module-name regexes to configs");
    if (rc) return rc;
    const size_t count = (size_t)(n->n);
    s->names = calloc(count ? count : 1, sizeof *s->names);
    if (!s->names) return status_error(STATUS_NOMEM, "%s: out of memory", r->path);
    for (int pair_i = 0; pair_i < n->n; pair_i++) {
        const struct ynode *k = n->key[pair_i];
        if (k->kind != YNODE_SCALAR || k->len == 0)
            return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: expected a non-empty module-name regex as key",
                                r->path, k->line, where);
        const char *key = k->str;
        for (int i = 0; i < s->n_names; i++)
            if (!strcmp(s->names[i].key, key))
                return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key '%s' given twice (first at line %zu)",
                                    r->path, k->line, where, key, s->names[i].line);
        struct name_cfg *nc = &s->names[s->n_names++];
        nc->line = k->line;
        nc->key = strdup(key);
        if (!nc->key) return status_error(STATUS_NOMEM, "%s: out of memory", r->path);
        char why[128];
        if (name_regex_compile(&nc->re, key, why, sizeof why))
            return status_error(STATUS_BAD_INPUT,
                                "%s:%zu: %s: key '%.80s' is not a usable POSIX extended regular expression: %s", r->path,
                                nc->line, where, key, why);
        nc->re_ok = 1;
        char w2[160];
        snprintf(w2, sizeof w2, "%s['%.40s']", where, key);
        if ((rc = parse_family_cfg(r, fam, n->val[pair_i], w2, &nc->cfg))) return rc;
    }
    return STATUS_OK;
}

static int parse_section(struct reader *r, enum family fam, const struct ynode *n)
{
    struct section *s = &r->sec[fam];
    s->threshold = COMPRESS_DEFAULT_WEIGHT_THRESHOLD;
    if (ynode_is_null(n)) return STATUS_OK;   /* `pruning:` or `pruning: null`: the section is absent */
    s->present = 1;
    const char *where = family_names[fam];
    int rc = check_mapping(r, n, where,
                           "a mapping with global_config, module_type_configs, module_name_configs, weight_threshold");
    if (rc) return rc;
    int seen[SK_COUNT] = { 0 };
    for (int pair_i = 0; pair_i < n->n; pair_i++) {
        const struct ynode *k = n->key[pair_i];
        const struct ynode *v = n->val[pair_i];
        int ki = 0;
        if ((rc = lookup_key(r, k, where, section_keys, SK_COUNT, &ki))) return rc;
        if (seen[ki])
            return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key '%s' given twice", r->path, k->line, where,
                                section_keys[ki]);
        seen[ki] = 1;
        char w2[96];
        switch (ki) {
        case SK_GLOBAL:
            snprintf(w2, sizeof w2, "%s.global_config", where);
            rc = parse_family_cfg(r, fam, v, w2, &s->global);
            break;
        case SK_TYPE: rc = parse_type_configs(r, fam, v, s); break;
        case SK_NAME: rc = parse_name_configs(r, fam, v, s); break;
        case SK_THRESHOLD: rc = parse_int64(r, v, where, "weight_threshold", 0, THRESHOLD_MAX, &s->threshold); break;
        }
        if (rc) return rc;
    }
    return STATUS_OK;
}

static void reader_free(struct reader *r)
{
    for (int f = 0; f < FAM_COUNT; f++) {
        struct section *s = &r->sec[f];
        for (int i = 0; i < s->n_names; i++) {
            free(s->names[i].key);
            if (s->names[i].re_ok) regfree(&s->names[i].re);
        }
        free(s->names);
    }
}

/* The config that applies to layer li in section s, or NULL when none does. */
static const struct src_cfg *section_resolve(struct section *s, const struct compress_layer_info *li)
{
    for (int i = 0; i < s->n_names; i++)
        if (regexec(&s->names[i].re, li->name, 0, NULL, 0) == 0) {
            s->names[i].matched = 1;
            return &s->names[i].cfg;
        }
    if (s->type[li->is_linear ? 1 : 0].set) return &s->type[li->is_linear ? 1 : 0];
    if (s->global.set) return &s->global;
    return NULL;
}

static void resolve(struct reader *r, const struct resnet *net, struct compress_plan *plan)
{
    plan->weight_threshold = -1;
    for (int f = 0; f < FAM_COUNT; f++) {
        struct section *s = &r->sec[f];
        if (!s->present) continue;
        if (plan->weight_threshold < 0 || s->threshold < plan->weight_threshold) plan->weight_threshold = s->threshold;
        for (int i = 0; i < plan->n_layers; i++) {
            const struct compress_layer_info *li = &plan->info[i];
            const struct src_cfg *c = section_resolve(s, li);
            if (!c || c->is_null) continue;
            const int64_t thr = c->threshold >= 0 ? c->threshold : s->threshold;
            if (li->OC * li->K <= thr) continue;
            struct layer_plan *lp = &plan->layer[i];
            switch ((enum family)f) {
            case FAM_PRUNING: lp->prune = c->p.prune; lp->prune.enabled = 1; break;
            case FAM_PALETTIZATION:
                /* coremltools leaves a layer whose channels the group size does not divide in
                 * fp16; so do we, so that accuracy, size and deployment agree. */
                if (!compress_pal_groups_fit(li, &c->p.pal)) break;
                lp->pal = c->p.pal;
                lp->pal.enabled = 1;
                break;
            case FAM_QUANTIZATION: lp->quant = c->p.quant; lp->quant.enabled = 1; break;
            case FAM_COUNT: RN_ASSERT(0);
            }
        }
        /* Keys never chosen: either they match no layer (fine across model sizes, but often a typo)
         * or every layer they match was taken by an earlier key (shadowed; order matters). */
        for (int i = 0; i < s->n_names; i++) {
            if (s->names[i].matched) continue;
            int any = 0;
            for (int j = 0; j < plan->n_layers && !any; j++)
                any = regexec(&s->names[i].re, plan->info[j].name, 0, NULL, 0) == 0;
            fprintf(stderr, "%s:%zu: warning: %s.module_name_configs key '%s' %s %s\n", r->path, s->names[i].line,
                    family_names[f], s->names[i].key,
                    any ? "is never used: earlier keys take all its layers of" : "matches no layer of", net->cfg.name);
        }
    }
    if (plan->weight_threshold < 0) plan->weight_threshold = COMPRESS_DEFAULT_WEIGHT_THRESHOLD;
}

int compress_config_load(const char *path, const struct resnet *net, struct compress_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    struct reader r;
    memset(&r, 0, sizeof r);
    r.path = path;
    struct compress_plan p;
    memset(&p, 0, sizeof p);
    struct ydoc *doc = NULL;
    int rc;
    if ((rc = ydoc_read(path, "compression config", &doc))) goto fail;
    const struct ynode *root = ydoc_root(doc);
    if (!root) {
        rc = status_error(STATUS_BAD_INPUT, "%s: empty compression config (write {} for no compression)", path);
        goto fail;
    }
    if ((rc = check_mapping(&r, root, "top level", "a mapping with pruning, palettization and/or quantization ({} for none)")))
        goto fail;
    int seen[FAM_COUNT] = { 0 };
    for (int pair_i = 0; pair_i < root->n; pair_i++) {
        const struct ynode *k = root->key[pair_i];
        int fam = 0;
        if ((rc = lookup_key(&r, k, "top level", family_names, FAM_COUNT, &fam))) goto fail;
        if (seen[fam]) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: top level: key '%s' given twice", path, k->line,
                              family_names[fam]);
            goto fail;
        }
        seen[fam] = 1;
        if ((rc = parse_section(&r, (enum family)fam, root->val[pair_i]))) goto fail;
    }
    if ((rc = compress_plan_init_empty(net, &p))) goto fail;
    resolve(&r, net, &p);
    *plan = p;
    rc = STATUS_OK;
    goto done;
fail:
    compress_plan_free(&p);
done:
    reader_free(&r);
    ydoc_free(doc);
    return rc;
}
