/* measurements.c — reading latency measurements for the fit (see profile.h): the profiler's CSV
 * (per-layer plans and times, network times, the machine in '#' lines) and end-to-end tables in
 * the shape of the published Apple one (one uniform configuration per row).
 *
 * Plain comma-separated fields (neither file format quotes); a quote character is an error rather
 * than a silent misparse. */
#include "config.h"
#include "profile.h"
#include "status.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 32

static const char profile_header[] = COST_PROFILE_HEADER;

static const char *const stat_names[] = { "median", "p10", "min", "quiet" };
static const int stat_column[] = { 7, 10, 11, 12 };
_Static_assert(sizeof stat_names / sizeof *stat_names == COST_STAT_COUNT, "stat_names");
_Static_assert(sizeof stat_column / sizeof *stat_column == COST_STAT_COUNT, "stat_column");

const char *cost_stat_name(enum cost_stat s) { return stat_names[s]; }

int cost_stat_parse(const char *name)
{
    for (int i = 0; i < COST_STAT_COUNT; i++)
        if (!strcmp(name, stat_names[i])) return i;
    return -1;
}

void cost_measurements_free(struct cost_measurements *m)
{
    if (!m) return;
    for (int i = 0; i < m->n; i++) cost_sample_free(&m->s[i]);
    free(m->s);
    for (int i = 0; i < m->n_nets; i++) resnet_free(m->nets[i]);
    memset(m, 0, sizeof *m);
}

/* Splits line in place at commas; returns the field count or -1 (too many fields / a quote). */
static int split(char *line, char **f)
{
    line[strcspn(line, "\r\n")] = '\0';
    if (strchr(line, '"')) return -1;
    int n = 0;
    for (char *p = line;;) {
        if (n == MAX_FIELDS) return -1;
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

/* The network for model `name` (built once, architecture only). */
static int get_net(struct cost_measurements *m, const char *name, const char *where, struct resnet **out)
{
    for (int i = 0; i < m->n_nets; i++)
        if (!strcmp(m->net_names[i], name)) { *out = m->nets[i]; return STATUS_OK; }
    if (m->n_nets == COST_PROFILE_MAX_MODELS)
        return status_error(STATUS_BAD_INPUT, "%s: more than %d models", where, COST_PROFILE_MAX_MODELS);
    struct resnet_config cfg;
    int rc = resnet_config_load(name, &cfg);
    if (rc) return status_error(rc, "%s: model '%s': %s", where, name, status_message());
    if ((rc = resnet_alloc(&cfg, 1, &m->nets[m->n_nets]))) return rc;
    snprintf(m->net_names[m->n_nets], sizeof m->net_names[0], "%s", name);
    *out = m->nets[m->n_nets++];
    return STATUS_OK;
}

/* A new zeroed sample at the end of m->s, or NULL (out of memory, recorded). */
static struct cost_sample *add_sample(struct cost_measurements *m, int *cap)
{
    if (m->n == *cap) {
        const int nc = *cap ? 2 * *cap : 64;
        void *p = realloc(m->s, sizeof *m->s * (size_t)nc);
        if (!p) {
            status_error(STATUS_NOMEM, "out of memory reading measurements");
            return NULL;
        }
        m->s = p;
        *cap = nc;
    }
    struct cost_sample *s = &m->s[m->n++];
    memset(s, 0, sizeof *s);
    s->e2e_ms = NAN;
    return s;
}

static int parse_ms(const char *path, int line, const char *col, const char *s, double *out)
{
    if (!*s) { *out = NAN; return STATUS_OK; }
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0.0)
        return status_error(STATUS_BAD_INPUT, "%s:%d: column %s: '%s' is not a non-negative number of milliseconds", path,
                            line, col, s);
    *out = v;
    return STATUS_OK;
}

/* '# key: value' metadata of the profiler's file. */
static void read_meta(struct cost_measurements *m, const char *line)
{
    static const char *const keys[] = { "# cpu: ", "# features: ", "# cores: ", "# threads: ", "# date: " };
    for (int k = 0; k < 5; k++) {
        const size_t n = strlen(keys[k]);
        if (strncmp(line, keys[k], n)) continue;
        char v[512];
        snprintf(v, sizeof v, "%s", line + n);
        v[strcspn(v, "\r\n")] = '\0';
        m->has_machine = 1;
        switch (k) {
        case 0: snprintf(m->machine.cpu, sizeof m->machine.cpu, "%.127s", v); break;
        case 1: snprintf(m->machine.features, sizeof m->machine.features, "%.255s", v); break;
        case 2: m->machine.cores = atoi(v) > 0 ? atoi(v) : 0; break;   /* metadata: 0 if unreadable */
        case 3: m->machine.threads = atoi(v) > 0 ? atoi(v) : 0; break;
        default: snprintf(m->machine.date, sizeof m->machine.date, "%.31s", v); break;
        }
    }
}

static int read_profile_csv(FILE *f, const char *path, int header_line, enum cost_stat stat, struct cost_measurements *m)
{
    char buf[4096], *fld[MAX_FIELDS];
    int line = header_line, cap = 0, rc = STATUS_OK;
    unsigned char **seen = NULL;   /* per sample: which layers have a row */
    int seen_cap = 0;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        if (buf[0] == '#') { read_meta(m, buf); continue; }
        if (buf[0] == '\n' || buf[0] == '\r') continue;
        const int nf = split(buf, fld);
        if (nf != 14) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%d: expected 14 comma-separated fields (%s), got %d", path, line,
                              profile_header, nf);
            goto done;
        }
        const char *config = fld[0], *model = fld[1], *scope = fld[2], *layer = fld[3], *spec = fld[4];
        const int is_net = !strcmp(scope, "network");
        if (!is_net && strcmp(scope, "layer")) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%d: column scope: '%s' is not network or layer", path, line, scope);
            goto done;
        }
        if (!*config || strlen(config) >= sizeof m->s[0].config || !*model || strlen(model) >= sizeof m->s[0].model) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%d: columns config and model: empty or longer than 63 characters", path, line);
            goto done;
        }
        double ms = NAN;
        char col[24];
        snprintf(col, sizeof col, "%s_ms", stat_names[stat]);
        if ((rc = parse_ms(path, line, col, fld[stat_column[stat]], &ms))) goto done;
        int idx = -1;
        for (int i = 0; i < m->n && idx < 0; i++)
            if (!strcmp(m->s[i].config, config) && !strcmp(m->s[i].model, model)) idx = i;
        if (idx < 0) {
            struct resnet *net;
            char where[600];
            snprintf(where, sizeof where, "%s:%d: column model", path, line);
            if ((rc = get_net(m, model, where, &net))) goto done;
            struct cost_sample *s = add_sample(m, &cap);
            if (!s) { rc = STATUS_NOMEM; goto done; }
            snprintf(s->config, sizeof s->config, "%s", config);
            snprintf(s->model, sizeof s->model, "%s", model);
            s->net = net;
            if ((rc = compress_plan_init_empty(net, &s->plan))) goto done;
            s->layer_ms = malloc(sizeof(double) * (size_t)s->plan.n_layers);
            if (m->n > seen_cap) {
                void *p = realloc(seen, sizeof *seen * (size_t)cap);
                if (!p) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
                seen = p;
                for (int i = seen_cap; i < cap; i++) seen[i] = NULL;
                seen_cap = cap;
            }
            idx = m->n - 1;
            seen[idx] = calloc((size_t)s->plan.n_layers, 1);
            if (!s->layer_ms || !seen[idx]) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
            for (int l = 0; l < s->plan.n_layers; l++) s->layer_ms[l] = NAN;
        }
        struct cost_sample *s = &m->s[idx];
        if (is_net) {
            if (!isnan(s->e2e_ms)) {
                rc = status_error(STATUS_BAD_INPUT, "%s:%d: configuration %s (%s) has a second network row", path, line,
                                  config, model);
                goto done;
            }
            if (isnan(ms)) {
                rc = status_error(STATUS_BAD_INPUT, "%s:%d: column %s: the network row needs a time", path, line, col);
                goto done;
            }
            s->e2e_ms = ms;
            continue;
        }
        int l = resnet_find_conv(s->net, layer);
        if (l < 0 && !strcmp(layer, "fc")) l = s->net->n_conv;
        if (l < 0) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%d: column layer: '%s' is not a layer of %s", path, line, layer, model);
            goto done;
        }
        if (seen[idx][l]) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%d: configuration %s (%s): layer %s given twice", path, line, config,
                              model, layer);
            goto done;
        }
        seen[idx][l] = 1;
        if ((rc = cost_spec_parse(spec, &s->plan.layer[l]))) {
            rc = status_error(rc, "%s:%d: column spec: %s", path, line, status_message());
            goto done;
        }
        s->layer_ms[l] = ms;
    }
    for (int i = 0; i < m->n && !rc; i++) {
        for (int l = 0; l < m->s[i].plan.n_layers && !rc; l++)
            if (!seen[i][l])
                rc = status_error(STATUS_BAD_INPUT, "%s: configuration %s (%s): no row for layer %s (its plan would be "
                                  "incomplete)", path, m->s[i].config, m->s[i].model, m->s[i].plan.info[l].name);
        if (!rc && isnan(m->s[i].e2e_ms))
            rc = status_error(STATUS_BAD_INPUT, "%s: configuration %s (%s): no network row", path, m->s[i].config, m->s[i].model);
        /* Per-layer times are all or nothing per configuration. */
        int timed = 0;
        for (int l = 0; l < m->s[i].plan.n_layers; l++) timed += !isnan(m->s[i].layer_ms[l]);
        if (!timed) {
            free(m->s[i].layer_ms);
            m->s[i].layer_ms = NULL;
        }
    }
done:
    for (int i = 0; i < seen_cap; i++) free(seen[i]);
    free(seen);
    return rc;
}

/* ---- end-to-end tables ---- */

enum { TC_BITS, TC_GRAN, TC_GROUP, TC_SPARSITY, TC_W8, TC_A8, TC_LATENCY, TC_COUNT };
static const char *const table_cols[] = { "palettize_bits", "granularity", "group_size", "sparsity",
                                          "weight_int8",    "act_int8",    "latency_ms" };
_Static_assert(sizeof table_cols / sizeof *table_cols == TC_COUNT, "table_cols");

struct select_term {
    int col;
    char value[128];
};

static int table_spec(const char *path, int line, char **fld, const int *col, char *spec, size_t cap)
{
    const char *bits = fld[col[TC_BITS]], *gran = fld[col[TC_GRAN]], *group = fld[col[TC_GROUP]];
    const char *sp = fld[col[TC_SPARSITY]], *w8 = fld[col[TC_W8]], *a8 = fld[col[TC_A8]];
    size_t n = 0;
    spec[0] = '\0';
    if (*sp) n += (size_t)snprintf(spec + n, cap - n, "sp%s", sp);
    if (*bits) {
        if (!strcmp(gran, "per_grouped_channel"))
            n += (size_t)snprintf(spec + n, cap - n, "%slut%sg%s", n ? "+" : "", bits, group);
        else if (!*gran || !strcmp(gran, "per_tensor"))
            n += (size_t)snprintf(spec + n, cap - n, "%slut%s", n ? "+" : "", bits);
        else
            return status_error(STATUS_BAD_INPUT, "%s:%d: column granularity: '%s' is not per_tensor or per_grouped_channel",
                                path, line, gran);
    }
    const int w = !strcmp(w8, "1"), a = !strcmp(a8, "1");
    if ((*w8 && !w && strcmp(w8, "0")) || (*a8 && !a && strcmp(a8, "0")))
        return status_error(STATUS_BAD_INPUT, "%s:%d: columns weight_int8/act_int8: '%s'/'%s' (expected 0 or 1)", path,
                            line, w8, a8);
    if (a && !w)
        return status_error(STATUS_BAD_INPUT, "%s:%d: act_int8 1 without weight_int8 (not a configuration we model)", path, line);
    if (w) n += (size_t)snprintf(spec + n, cap - n, "%s%s", n ? "+" : "", a ? "w8a8" : "w8a16");
    if (!n) snprintf(spec, cap, "dense");
    return STATUS_OK;
}

static int read_table_csv(FILE *f, char *header, const char *path, int header_line, const char *select,
                          const char *table_model, struct cost_measurements *m)
{
    char buf[4096], *fld[MAX_FIELDS], *hdr[MAX_FIELDS];
    const int nh = split(header, hdr);
    if (nh < 0) return status_error(STATUS_BAD_INPUT, "%s:%d: header: quoted or too many fields", path, header_line);
    int col[TC_COUNT], workflow = -1;
    for (int c = 0; c < TC_COUNT; c++) {
        col[c] = -1;
        for (int i = 0; i < nh; i++)
            if (!strcmp(hdr[i], table_cols[c])) col[c] = i;
        if (col[c] < 0)
            return status_error(STATUS_BAD_INPUT,
                                "%s:%d: header: no column '%s' (a table needs palettize_bits, granularity, group_size, "
                                "sparsity, weight_int8, act_int8 and latency_ms)",
                                path, header_line, table_cols[c]);
    }
    for (int i = 0; i < nh; i++)
        if (!strcmp(hdr[i], "workflow")) workflow = i;
    /* select: COLUMN=VALUE terms joined by ';' */
    struct select_term sel[8];
    int n_sel = 0;
    if (select && *select) {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s", select);
        char *save = NULL;
        for (char *t = strtok_r(tmp, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
            char *eq = strchr(t, '=');
            if (!eq || n_sel == 8)
                return status_error(STATUS_BAD_INPUT, "--select '%s': expected up to 8 COLUMN=VALUE terms joined by ';'", select);
            *eq = '\0';
            sel[n_sel].col = -1;
            for (int i = 0; i < nh; i++)
                if (!strcmp(hdr[i], t)) sel[n_sel].col = i;
            if (sel[n_sel].col < 0)
                return status_error(STATUS_BAD_INPUT, "--select: %s has no column '%s'", path, t);
            snprintf(sel[n_sel].value, sizeof sel[n_sel].value, "%s", eq + 1);
            n_sel++;
        }
    }
    struct resnet *net;
    char where[600];
    snprintf(where, sizeof where, "%s", path);
    int rc = get_net(m, table_model, where, &net);
    if (rc) return rc;
    int line = header_line, cap = 0;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        if (buf[0] == '#' || buf[0] == '\n' || buf[0] == '\r') continue;
        const int nf = split(buf, fld);
        if (nf != nh)
            return status_error(STATUS_BAD_INPUT, "%s:%d: %d fields, the header has %d", path, line, nf < 0 ? 0 : nf, nh);
        int keep = 1;
        for (int i = 0; i < n_sel; i++) keep &= !strcmp(fld[sel[i].col], sel[i].value);
        if (!keep || !*fld[col[TC_LATENCY]]) continue;
        double ms = NAN;
        if ((rc = parse_ms(path, line, "latency_ms", fld[col[TC_LATENCY]], &ms))) return rc;
        if (!(ms > 0.0)) return status_error(STATUS_BAD_INPUT, "%s:%d: column latency_ms: must be positive", path, line);
        char spec[128];
        if ((rc = table_spec(path, line, fld, col, spec, sizeof spec))) return rc;
        struct cost_sample *s = add_sample(m, &cap);
        if (!s) return STATUS_NOMEM;
        snprintf(s->config, sizeof s->config, "%.20s:%.40s", workflow >= 0 ? fld[workflow] : "row", spec);
        snprintf(s->model, sizeof s->model, "%s", table_model);
        s->net = net;
        s->e2e_ms = ms;
        if ((rc = cost_plan_uniform(net, spec, COMPRESS_DEFAULT_WEIGHT_THRESHOLD, &s->plan)))
            return status_error(rc, "%s:%d: %s", path, line, status_message());
    }
    if (!m->n)
        return status_error(STATUS_BAD_INPUT, "%s: no rows with a latency%s%s", path, n_sel ? " match --select " : "",
                            n_sel ? select : "");
    return STATUS_OK;
}

int cost_measurements_read(const char *path, const char *select, const char *table_model, enum cost_stat stat,
                           struct cost_measurements *m)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "r");
    if (!f) return status_error(STATUS_IO, "%s: cannot open measurements: %s", path, strerror(errno));
    char buf[4096];
    int line = 0, rc = STATUS_OK, have_header = 0;
    struct cost_measurements tmp;
    memset(&tmp, 0, sizeof tmp);
    /* The first line that is neither a comment nor blank is the header; a file of comments
     * only has none (its last comment is not a header even when it holds a comma). */
    while (fgets(buf, sizeof buf, f)) {
        line++;
        if (buf[0] == '#') { read_meta(&tmp, buf); continue; }
        if (buf[0] == '\n' || buf[0] == '\r') continue;
        have_header = 1;
        break;
    }
    if (!have_header) {
        rc = status_error(STATUS_BAD_INPUT, "%s: no header line (expected '%s' or a latency table)", path, profile_header);
    } else if (!strncmp(buf, profile_header, strlen(profile_header))) {
        if (select && *select)
            rc = status_error(STATUS_BAD_INPUT, "--select: only for tables; %s is a profile (all its rows are used)", path);
        else {
            *m = tmp;
            rc = read_profile_csv(f, path, line, stat, m);
        }
    } else {
        rc = read_table_csv(f, buf, path, line, select, table_model ? table_model : "resnet50", m);
    }
    fclose(f);
    if (rc) cost_measurements_free(m);
    return rc;
}
