/* device.c — device profiles: strict YAML reading (model/yaml_load.h's document tree, every
 * error with file, line and key), whole-file writing, the machine check, and cost_predict (see
 * device.h, cost.h).
 *
 * The profile's `merged`, `data` and `fit` sections are provenance: read and checked for shape,
 * not used to predict (a merged term's coefficient in `terms` is 0, so prediction stays one dot
 * product). */
#include "device.h"
#include "atomic_file.h"
#include "config.h"
#include "home.h"
#include "status.h"
#include "yaml_load.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *source_names[] = { "profile", "table" };
_Static_assert(sizeof source_names / sizeof *source_names == COST_SOURCE_COUNT, "source_names");

/* ---- where profiles live ---- */

void cost_device_path(const char *device, char *buf, size_t cap)
{
    const size_t n = strlen(device);
    if (strchr(device, '/') || (n > 5 && !strcmp(device + n - 5, ".yaml")))
        snprintf(buf, cap, "%s", device);
    else
        snprintf(buf, cap, "%s/configs/devices/%s.yaml", home_dir(), device);
}

/* ---- reading ---- */

struct rd {
    const char *path;
};

static const char *str_of(const struct ynode *n) { return n->kind == YNODE_SCALAR ? n->str : ""; }

static int rd_string(struct rd *r, const struct ynode *v, const char *key, char *out, size_t cap)
{
    if (v->kind != YNODE_SCALAR)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected a string", r->path, v->line, key);
    const char *s = str_of(v);
    if (strlen(s) >= cap)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': '%.40s...' is longer than %zu characters", r->path,
                            v->line, key, s, cap - 1);
    memcpy(out, s, strlen(s) + 1);
    return STATUS_OK;
}

static int rd_number(struct rd *r, const struct ynode *v, const char *key, double lo, double hi, double *out)
{
    const char *s = str_of(v);
    double x = NAN;
    if (v->kind == YNODE_SCALAR && v->plain) {
        char *end;
        errno = 0;
        x = strtod(s, &end);
        if (errno || end == s || *end) x = NAN;
    }
    if (!(x >= lo && x <= hi))
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': '%s' is not a number in %g..%g", r->path, v->line,
                            key, s, lo, hi);
    *out = x;
    return STATUS_OK;
}

static int rd_int(struct rd *r, const struct ynode *v, const char *key, int lo, int hi, int *out)
{
    double x = 0.0;
    int rc = rd_number(r, v, key, lo, hi, &x);
    if (rc) return rc;
    if (x != floor(x))
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': '%s' is not an integer", r->path, v->line, key,
                            str_of(v));
    *out = (int)x;
    return STATUS_OK;
}

/* The index of key k in keys[0..n), with "unknown key" and "given twice" errors. */
static int rd_key(struct rd *r, const struct ynode *k, const char *where, const char *const *keys, int n, unsigned *seen,
                  int *out)
{
    for (int i = 0; k->kind == YNODE_SCALAR && i < n; i++) {
        if (strcmp(str_of(k), keys[i])) continue;
        if (*seen & (1u << i))
            return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: key '%s' given twice", r->path, k->line, where, keys[i]);
        *seen |= 1u << i;
        *out = i;
        return STATUS_OK;
    }
    char allowed[512];
    size_t len = 0;
    allowed[0] = '\0';
    for (int i = 0; i < n; i++) {
        int w = snprintf(allowed + len, sizeof allowed - len, "%s%s", i ? ", " : "", keys[i]);
        if (w > 0 && (size_t)w < sizeof allowed - len) len += (size_t)w;
    }
    return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: unknown key '%s' (expected %s)", r->path, k->line, where,
                        str_of(k), allowed);
}

static int rd_missing(struct rd *r, const struct ynode *map, const char *where, const char *const *keys, int n,
                      unsigned seen, unsigned required)
{
    for (int i = 0; i < n; i++)
        if ((required & (1u << i)) && !(seen & (1u << i)))
            return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: missing key '%s'", r->path, map->line, where, keys[i]);
    return STATUS_OK;
}

static int rd_mapping(struct rd *r, const struct ynode *v, const char *key)
{
    if (v->kind != YNODE_MAP)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected a mapping", r->path, v->line, key);
    return STATUS_OK;
}

enum { MK_CPU, MK_FEATURES, MK_CORES, MK_THREADS, MK_DATE, MK_COUNT };
static const char *machine_keys[] = { "cpu", "features", "cores", "threads", "date" };
_Static_assert(sizeof machine_keys / sizeof *machine_keys == MK_COUNT, "machine_keys");

static int rd_machine(struct rd *r, const struct ynode *map, struct cost_machine *m)
{
    int rc = rd_mapping(r, map, "machine");
    unsigned seen = 0;
    for (int p_i = 0; !rc && p_i < map->n; p_i++) {
        const struct ynode *k = map->key[p_i], *v = map->val[p_i];
        int i = 0;
        if ((rc = rd_key(r, k, "machine", machine_keys, MK_COUNT, &seen, &i))) break;
        switch (i) {
        case MK_CPU: rc = rd_string(r, v, "machine.cpu", m->cpu, sizeof m->cpu); break;
        case MK_FEATURES: rc = rd_string(r, v, "machine.features", m->features, sizeof m->features); break;
        case MK_CORES: rc = rd_int(r, v, "machine.cores", 1, 1 << 20, &m->cores); break;
        case MK_THREADS: rc = rd_int(r, v, "machine.threads", 1, 1 << 20, &m->threads); break;
        default: rc = rd_string(r, v, "machine.date", m->date, sizeof m->date); break;
        }
    }
    return rc ? rc : rd_missing(r, map, "machine", machine_keys, MK_COUNT, seen, (1u << MK_COUNT) - 1);
}

static int rd_terms(struct rd *r, const struct ynode *map, struct cost_model *m)
{
    int rc = rd_mapping(r, map, "terms");
    for (int p_i = 0; !rc && p_i < map->n; p_i++) {
        const struct ynode *k = map->key[p_i], *v = map->val[p_i];
        const int t = k->kind == YNODE_SCALAR ? cost_term_parse(str_of(k)) : -1;
        if (t < 0)
            return status_error(STATUS_BAD_INPUT,
                                "%s:%zu: terms: unknown term '%s' (expected GROUP.FEATURE with GROUP one of dense, lut, "
                                "sparse, sparse-lut, int8, any, net and FEATURE one of one, gmacs, gmacs_nz, weight_mb, "
                                "in_m, out_m, im2col_m, luts, act8_m, bounds)",
                                r->path, k->line, str_of(k));
        if (m->used[t]) return status_error(STATUS_BAD_INPUT, "%s:%zu: terms: term '%s' given twice", r->path, k->line, str_of(k));
        char key[64];
        snprintf(key, sizeof key, "terms.%s", str_of(k));
        if ((rc = rd_number(r, v, key, -1e12, 1e12, &m->coef[t]))) return rc;
        m->used[t] = 1;
    }
    if (!rc && map->n == 0)
        rc = status_error(STATUS_BAD_INPUT, "%s:%zu: terms: no terms (a profile needs at least one)", r->path, map->line);
    return rc;
}

/* merged: {TERM: INTO, ...}. Checked against `terms` once the whole file is read. */
static int rd_merged(struct rd *r, const struct ynode *map, struct cost_model *m)
{
    int rc = rd_mapping(r, map, "merged");
    for (int p_i = 0; !rc && p_i < map->n; p_i++) {
        const struct ynode *k = map->key[p_i], *v = map->val[p_i];
        const int t = k->kind == YNODE_SCALAR ? cost_term_parse(str_of(k)) : -1;
        const int into = v->kind == YNODE_SCALAR ? cost_term_parse(str_of(v)) : -1;
        if (t < 0) return status_error(STATUS_BAD_INPUT, "%s:%zu: merged: unknown term '%s'", r->path, k->line, str_of(k));
        if (m->merged[t]) return status_error(STATUS_BAD_INPUT, "%s:%zu: merged: term '%s' given twice", r->path, k->line, str_of(k));
        if (into < 0 || into == t)
            return status_error(STATUS_BAD_INPUT, "%s:%zu: key 'merged.%s': '%s' is not another term (expected the "
                                "term it was merged into, e.g. net.one)", r->path, v->line, str_of(k), str_of(v));
        m->merged[t] = 1;
        m->merged_into[t] = into;
    }
    return rc;
}

/* A merged term is in `terms` at 0 (so that predictions need no special case) and merged into a
 * term that was fitted. */
static int rd_merged_check(struct rd *r, const struct ynode *map, const struct cost_model *m)
{
    for (int p_i = 0; p_i < map->n; p_i++) {
        const struct ynode *k = map->key[p_i];
        const int t = cost_term_parse(str_of(k)), into = m->merged_into[t];
        char iname[48];
        cost_term_name(into, iname, sizeof iname);
        if (!m->used[t] || m->coef[t] != 0.0)
            return status_error(STATUS_BAD_INPUT, "%s:%zu: merged: term '%s' must be in terms with coefficient 0",
                                r->path, k->line, str_of(k));
        if (!m->used[into] || m->merged[into])
            return status_error(STATUS_BAD_INPUT, "%s:%zu: key 'merged.%s': '%s' is not a fitted term of terms",
                                r->path, k->line, str_of(k), iname);
    }
    return STATUS_OK;
}

enum { FK_ROWS, FK_LAYER_ROWS, FK_CONFIGS, FK_RANK, FK_FIT_MAPE, FK_FIT_MAX, FK_LOO_MAPE, FK_LOO_MAX, FK_LOO_DEF, FK_COUNT };
static const char *fit_keys[] = { "rows",        "layer_rows",   "configs",     "rank", "fit_mape_pct",
                                  "fit_max_pct", "loo_mape_pct", "loo_max_pct", "loo_deficient_folds" };
_Static_assert(sizeof fit_keys / sizeof *fit_keys == FK_COUNT, "fit_keys");

static int rd_fit(struct rd *r, const struct ynode *map, struct cost_model *m)
{
    int rc = rd_mapping(r, map, "fit");
    unsigned seen = 0;
    for (int p_i = 0; !rc && p_i < map->n; p_i++) {
        const struct ynode *k = map->key[p_i], *v = map->val[p_i];
        int i = 0;
        if ((rc = rd_key(r, k, "fit", fit_keys, FK_COUNT, &seen, &i))) break;
        char key[48];
        snprintf(key, sizeof key, "fit.%s", fit_keys[i]);
        switch (i) {
        case FK_ROWS: rc = rd_int(r, v, key, 0, 1 << 30, &m->fit.rows); break;
        case FK_LAYER_ROWS: rc = rd_int(r, v, key, 0, 1 << 30, &m->fit.layer_rows); break;
        case FK_CONFIGS: rc = rd_int(r, v, key, 0, 1 << 30, &m->fit.configs); break;
        case FK_RANK: rc = rd_int(r, v, key, 0, COST_TERMS, &m->fit.rank); break;
        case FK_FIT_MAPE: rc = rd_number(r, v, key, 0, 1e9, &m->fit.fit_mape); break;
        case FK_FIT_MAX: rc = rd_number(r, v, key, 0, 1e9, &m->fit.fit_max); break;
        case FK_LOO_MAPE: rc = rd_number(r, v, key, 0, 1e9, &m->fit.loo_mape); break;
        case FK_LOO_MAX: rc = rd_number(r, v, key, 0, 1e9, &m->fit.loo_max); break;
        default: rc = rd_int(r, v, key, 0, 1 << 30, &m->fit.loo_deficient); break;
        }
    }
    return rc;
}

enum { DK_CONFIG, DK_MODEL, DK_MEASURED, DK_FITTED, DK_LOO, DK_COUNT };
static const char *data_keys[] = { "config", "model", "measured_ms", "fitted_ms", "loo_ms" };
_Static_assert(sizeof data_keys / sizeof *data_keys == DK_COUNT, "data_keys");

static int rd_data(struct rd *r, const struct ynode *seq, struct cost_model *m)
{
    if (seq->kind != YNODE_SEQ)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key 'data': expected a list of measured rows", r->path, seq->line);
    const int n = (int)(seq->n);
    m->data = calloc((size_t)(n ? n : 1), sizeof *m->data);
    if (!m->data) return status_error(STATUS_NOMEM, "%s: out of memory", r->path);
    for (int j = 0; j < n; j++) {
        const struct ynode *map = seq->item[j];
        struct cost_data_row *d = &m->data[m->n_data++];
        int rc = rd_mapping(r, map, "data[]");
        unsigned seen = 0;
        for (int p_i = 0; !rc && p_i < map->n; p_i++) {
            const struct ynode *k = map->key[p_i], *v = map->val[p_i];
            int i = 0;
            if ((rc = rd_key(r, k, "data[]", data_keys, DK_COUNT, &seen, &i))) break;
            char key[48];
            snprintf(key, sizeof key, "data.%s", data_keys[i]);
            switch (i) {
            case DK_CONFIG: rc = rd_string(r, v, key, d->config, sizeof d->config); break;
            case DK_MODEL: rc = rd_string(r, v, key, d->model, sizeof d->model); break;
            case DK_MEASURED: rc = rd_number(r, v, key, 0, 1e12, &d->measured_ms); break;
            case DK_FITTED: rc = rd_number(r, v, key, -1e12, 1e12, &d->fitted_ms); break;
            default: rc = rd_number(r, v, key, -1e12, 1e12, &d->loo_ms); break;
            }
        }
        if (!rc) rc = rd_missing(r, map, "data[]", data_keys, DK_COUNT, seen, (1u << DK_COUNT) - 1);
        if (rc) return rc;
    }
    return STATUS_OK;
}

enum { TK_DEVICE, TK_SOURCE, TK_MACHINE, TK_MEASUREMENTS, TK_SELECT, TK_STATISTIC, TK_TERMS, TK_MERGED, TK_FIT, TK_DATA, TK_COUNT };
static const char *top_keys[] = { "device",    "source", "machine", "measurements", "select",
                                  "statistic", "terms",  "merged",  "fit",          "data" };
_Static_assert(sizeof top_keys / sizeof *top_keys == TK_COUNT, "top_keys");

void cost_model_free(struct cost_model *m)
{
    if (!m) return;
    free(m->data);
    free(m);
}

int cost_model_read(const char *path, struct cost_model **out)
{
    *out = NULL;
    struct rd r = { .path = path };
    struct cost_model *m = calloc(1, sizeof *m);
    struct ydoc *doc = NULL;
    int rc = STATUS_OK;
    if (!m) { rc = status_error(STATUS_NOMEM, "%s: out of memory", path); goto done; }
    snprintf(m->path, sizeof m->path, "%s", path);
    if ((rc = ydoc_read(path, "device profile", &doc))) goto done;
    const struct ynode *root = ydoc_root(doc);
    if (!root) { rc = status_error(STATUS_BAD_INPUT, "%s: empty device profile", path); goto done; }
    if (root->kind != YNODE_MAP) {
        rc = status_error(STATUS_BAD_INPUT, "%s:%zu: top level: expected a mapping (device, source, terms, ...)", path,
                          root->line);
        goto done;
    }
    unsigned seen = 0;
    const struct ynode *machine_node = NULL, *merged_node = NULL;
    for (int p_i = 0; !rc && p_i < root->n; p_i++) {
        const struct ynode *k = root->key[p_i], *v = root->val[p_i];
        int i = 0;
        if ((rc = rd_key(&r, k, "top level", top_keys, TK_COUNT, &seen, &i))) break;
        switch (i) {
        case TK_DEVICE: rc = rd_string(&r, v, "device", m->device, sizeof m->device); break;
        case TK_SOURCE: {
            int s = -1;
            for (int j = 0; j < COST_SOURCE_COUNT; j++)
                if (v->kind == YNODE_SCALAR && !strcmp(str_of(v), source_names[j])) s = j;
            if (s < 0)
                rc = status_error(STATUS_BAD_INPUT, "%s:%zu: key 'source': '%s' is not allowed (expected profile or table)",
                                  path, v->line, str_of(v));
            else
                m->source = (enum cost_source)s;
            break;
        }
        case TK_MACHINE:
            machine_node = v;
            rc = rd_machine(&r, v, &m->machine);
            m->has_machine = 1;
            break;
        case TK_MEASUREMENTS: rc = rd_string(&r, v, "measurements", m->measurements, sizeof m->measurements); break;
        case TK_SELECT: rc = rd_string(&r, v, "select", m->select, sizeof m->select); break;
        case TK_STATISTIC:
            if (!(rc = rd_string(&r, v, "statistic", m->statistic, sizeof m->statistic)) && strcmp(m->statistic, "median") &&
                strcmp(m->statistic, "p10") && strcmp(m->statistic, "min") && strcmp(m->statistic, "quiet"))
                rc = status_error(STATUS_BAD_INPUT, "%s:%zu: key 'statistic': '%s' is not allowed (expected median, p10, min or quiet)",
                                  path, v->line, m->statistic);
            break;
        case TK_TERMS: rc = rd_terms(&r, v, m); break;
        case TK_MERGED:
            merged_node = v;
            rc = rd_merged(&r, v, m);
            break;
        case TK_FIT: rc = rd_fit(&r, v, m); break;
        default: rc = rd_data(&r, v, m); break;
        }
    }
    if (!rc)
        rc = rd_missing(&r, root, "top level", top_keys, TK_COUNT, seen,
                        (1u << TK_DEVICE) | (1u << TK_SOURCE) | (1u << TK_TERMS));
    if (!rc && m->source == COST_SOURCE_PROFILE && !m->has_machine)
        rc = status_error(STATUS_BAD_INPUT, "%s:%zu: source 'profile' needs the key 'machine' (where it was measured)",
                          path, root->line);
    if (!rc && m->source == COST_SOURCE_TABLE && machine_node)
        rc = status_error(STATUS_BAD_INPUT, "%s:%zu: key 'machine': only for source 'profile'", path, machine_node->line);
    if (!rc && merged_node) rc = rd_merged_check(&r, merged_node, m);
done:
    ydoc_free(doc);
    if (rc) cost_model_free(m);
    else *out = m;
    return rc;
}

int cost_model_load(const char *device, struct cost_model **out)
{
    char path[1024];
    cost_device_path(device, path, sizeof path);
    int rc = cost_model_read(path, out);
    if (rc == STATUS_IO && !strchr(device, '/'))
        rc = status_error(STATUS_IO, "device '%s': no profile %s (make one: %s, or rn50-tune cost fit --device %s ...)",
                          device, path, COST_REPROFILE_COMMAND, device);
    if (rc) return rc;
    struct cost_model *m = *out;
    if (m->source == COST_SOURCE_PROFILE) {
        struct cost_machine here;
        char why[600];
        cost_machine_detect(&here, m->machine.threads);
        if (!cost_machine_same(&m->machine, &here, why, sizeof why))
            fprintf(stderr,
                    "rn50-tune: warning: %s was measured on another machine (%s); its latencies do not describe this "
                    "one. Re-profile this machine with: %s\n",
                    path, why, COST_REPROFILE_COMMAND);
    }
    return STATUS_OK;
}

/* ---- prediction ---- */

int cost_predict(const struct cost_model *m, const struct resnet *net, const struct compress_plan *plan,
                 double *latency_ms)
{
    struct compress_plan dense;
    memset(&dense, 0, sizeof dense);
    if (!plan) {
        int rc = compress_plan_init_empty(net, &dense);
        if (rc) return rc;
        plan = &dense;
    }
    if (!cost_plan_matches(net, plan)) {
        compress_plan_free(&dense);
        return status_error(STATUS_BAD_INPUT, "cost predict: the plan's %d layers are not model %s's %d layers",
                            plan->n_layers, net->cfg.name, net->n_conv + 1);
    }
    *latency_ms = cost_fit_predict(m->coef, net, plan);
    compress_plan_free(&dense);
    return STATUS_OK;
}

int cost_predict_layers(const struct cost_model *m, const struct resnet *net, const struct compress_plan *plan,
                        double *layer_ms, double *net_ms)
{
    if (!cost_plan_matches(net, plan))
        return status_error(STATUS_BAD_INPUT, "cost predict: the plan's %d layers are not model %s's %d layers",
                            plan->n_layers, net->cfg.name, net->n_conv + 1);
    double sum = 0.0;
    for (int i = 0; i < plan->n_layers; i++) {
        double x[COST_TERMS] = { 0 };
        cost_layer_features(net, plan, i, 1.0, x, NULL);
        layer_ms[i] = 0.0;
        for (int t = 0; t < COST_TERMS; t++) layer_ms[i] += m->coef[t] * x[t];
        sum += layer_ms[i];
    }
    *net_ms = cost_fit_predict(m->coef, net, plan) - sum;
    return STATUS_OK;
}

/* ---- writing ---- */

int cost_model_set_fit(struct cost_model *m, const struct cost_fit_result *r, const struct cost_sample *s, int n)
{
    memcpy(m->coef, r->coef, sizeof m->coef);
    memcpy(m->used, r->used, sizeof m->used);
    memset(m->merged, 0, sizeof m->merged);
    for (int i = 0; i < r->n_merged; i++) {
        m->merged[r->merged[i].term] = 1;
        m->merged_into[r->merged[i].term] = r->merged[i].into;
    }
    m->fit.rows = r->n_rows;
    m->fit.layer_rows = r->n_layer_rows;
    m->fit.configs = r->n_configs;
    m->fit.rank = r->rank;
    m->fit.loo_deficient = r->n_loo_deficient;
    m->fit.fit_mape = r->fit_mape;
    m->fit.fit_max = r->fit_max;
    m->fit.loo_mape = r->loo_mape;
    m->fit.loo_max = r->loo_max;
    free(m->data);
    m->n_data = 0;
    m->data = calloc((size_t)(n ? n : 1), sizeof *m->data);
    if (!m->data) return status_error(STATUS_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (isnan(s[i].e2e_ms)) continue;
        struct cost_data_row *d = &m->data[m->n_data++];
        snprintf(d->config, sizeof d->config, "%s", s[i].config);
        snprintf(d->model, sizeof d->model, "%s", s[i].model);
        d->measured_ms = s[i].e2e_ms;
        d->fitted_ms = r->fitted[i];
        d->loo_ms = r->loo[i];
    }
    return STATUS_OK;
}

/* A double-quoted YAML string. */
static int put_str(FILE *f, const char *s)
{
    if (fputc('"', f) == EOF) return 0;
    for (; *s; s++) {
        if ((*s == '"' || *s == '\\') && fputc('\\', f) == EOF) return 0;
        if (fputc(*s, f) == EOF) return 0;
    }
    return fputc('"', f) != EOF;
}

static int write_profile(FILE *f, void *ctx)
{
    const struct cost_model *m = ctx;
    int ok = fprintf(f,
                     "# Device profile (SPEC section 6), written by rn50-tune cost fit. A layer's predicted latency is\n"
                     "# the sum of its kernel kind's terms and the `any` terms; a network adds the `net` terms.\n"
                     "# Coefficients are milliseconds per feature unit (cost/layer_features.h).\n") > 0;
    ok = ok && fputs("device: ", f) != EOF && put_str(f, m->device) && fprintf(f, "\nsource: %s\n", source_names[m->source]) > 0;
    if (m->has_machine) {
        ok = ok && fputs("machine:\n  cpu: ", f) != EOF && put_str(f, m->machine.cpu);
        ok = ok && fputs("\n  features: ", f) != EOF && put_str(f, m->machine.features);
        ok = ok && fprintf(f, "\n  cores: %d\n  threads: %d\n  date: ", m->machine.cores, m->machine.threads) > 0 &&
             put_str(f, m->machine.date) && fputc('\n', f) != EOF;
    }
    if (m->measurements[0]) ok = ok && fputs("measurements: ", f) != EOF && put_str(f, m->measurements) && fputc('\n', f) != EOF;
    if (m->select[0]) ok = ok && fputs("select: ", f) != EOF && put_str(f, m->select) && fputc('\n', f) != EOF;
    if (m->statistic[0]) ok = ok && fprintf(f, "statistic: %s\n", m->statistic) > 0;
    ok = ok && fputs("terms:\n", f) != EOF;
    for (int t = 0; t < COST_TERMS && ok; t++) {
        if (!m->used[t]) continue;
        char name[48];
        cost_term_name(t, name, sizeof name);
        ok = fprintf(f, "  %s: %.17g\n", name, m->coef[t]) > 0;
    }
    int any_merged = 0;
    for (int t = 0; t < COST_TERMS; t++) any_merged |= m->merged[t];
    if (any_merged)
        ok = ok && fputs("merged:   # terms the measurements could not separate: 0 in terms, the named term carries "
                         "their cost\n", f) != EOF;
    for (int t = 0; t < COST_TERMS && ok; t++) {
        if (!m->merged[t]) continue;
        char name[48], into[48];
        cost_term_name(t, name, sizeof name);
        cost_term_name(m->merged_into[t], into, sizeof into);
        ok = fprintf(f, "  %s: %s\n", name, into) > 0;
    }
    ok = ok && fprintf(f,
                       "fit:   # percentages are end-to-end; loo: each configuration predicted by a fit without it\n"
                       "  rows: %d\n  layer_rows: %d\n  configs: %d\n  rank: %d\n  fit_mape_pct: %.3f\n"
                       "  fit_max_pct: %.3f\n  loo_mape_pct: %.3f\n  loo_max_pct: %.3f\n  loo_deficient_folds: %d\n",
                       m->fit.rows, m->fit.layer_rows, m->fit.configs, m->fit.rank, m->fit.fit_mape, m->fit.fit_max,
                       m->fit.loo_mape, m->fit.loo_max, m->fit.loo_deficient) > 0;
    if (m->n_data) ok = ok && fputs("data:   # end-to-end rows the fit used (ms)\n", f) != EOF;
    for (int i = 0; i < m->n_data && ok; i++) {
        const struct cost_data_row *d = &m->data[i];
        ok = fputs("  - {config: ", f) != EOF && put_str(f, d->config) && fputs(", model: ", f) != EOF &&
             put_str(f, d->model) &&
             fprintf(f, ", measured_ms: %.4f, fitted_ms: %.4f, loo_ms: %.4f}\n", d->measured_ms, d->fitted_ms, d->loo_ms) > 0;
    }
    return ok;
}

int cost_model_write(const struct cost_model *m, const char *path)
{
    return file_write_atomic(path, write_profile, (void *)m);
}
