/* calibrate.c — measurements -> fitted device profile (see cost_calibrate in device.h): reads the
 * file, chooses the terms, fits, prints the per-configuration table and writes the YAML. */
#include "device.h"
#include "kern_attach.h"
#include "profile.h"
#include "home.h"
#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* This machine's kernels: per kind a per-layer overhead, the multiply-adds actually done (all of
 * them for dense, lut and int8 — the int8 kernel does not skip zeros —, the kept ones for the
 * sparse kinds), the im2col and output traffic, the weight bytes where the kernel streams a
 * compressed form, the input quantization of int8 layers; outside the layers, a per-network
 * constant, the elementwise work (residual adds, pooling), the activation quantization an int8
 * network does at every site and the crossings between int8 and float layers. Chosen on the
 * designed profile's leave-one-configuration-out error (see results/cost/README.md). */
const char cost_default_terms_profile[] =
    "dense.one,dense.gmacs,dense.im2col_m,dense.out_m,"
    "lut.one,lut.gmacs,lut.im2col_m,lut.out_m,lut.weight_mb,"
    "sparse.one,sparse.gmacs_nz,sparse.im2col_m,sparse.out_m,sparse.weight_mb,"
    "sparse-lut.one,sparse-lut.gmacs_nz,sparse-lut.im2col_m,sparse-lut.out_m,sparse-lut.weight_mb,"
    "int8.one,int8.gmacs,int8.im2col_m,int8.out_m,int8.in_m,"
    "net.one,net.out_m,net.act8_m,net.bounds";

/* An end-to-end table of one network: few rows, so few shared terms: the constant, the weight
 * bytes read (what palettization and pruning cut), the number of LUTs (grouped palettization's
 * cost), the multiply-adds left after pruning and the 8-bit activations. Chosen on the iPhone 15
 * Pro rows' leave-one-out error among small sets of these features (see results/cost/README.md). */
const char cost_default_terms_table[] = "net.one,any.weight_mb,any.luts,any.gmacs_nz,net.act8_m";

static int parse_terms(const char *list, int *terms, int *n)
{
    char buf[2048];
    if (strlen(list) >= sizeof buf) return status_error(STATUS_BAD_INPUT, "--terms: longer than %zu characters", sizeof buf - 1);
    memcpy(buf, list, strlen(list) + 1);
    *n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        const int id = cost_term_parse(t);
        if (id < 0)
            return status_error(STATUS_BAD_INPUT,
                                "--terms: '%s' is not a term (GROUP.FEATURE: GROUP dense, lut, sparse, sparse-lut, int8, "
                                "any or net; FEATURE one, gmacs, gmacs_nz, weight_mb, in_m, out_m, im2col_m, luts, "
                                "act8_m or bounds)",
                                t);
        if (*n == COST_TERMS) return status_error(STATUS_BAD_INPUT, "--terms: more than %d terms", COST_TERMS);
        terms[(*n)++] = id;
    }
    if (!*n) return status_error(STATUS_BAD_INPUT, "--terms: empty");
    return STATUS_OK;
}

/* The measurements path as recorded: relative to the project when inside it. */
static void record_path(const char *path, char *buf, size_t cap)
{
    const char *home = home_dir();
    const size_t n = strlen(home);
    if (!strncmp(path, home, n) && path[n] == '/') snprintf(buf, cap, "%s", path + n + 1);
    else snprintf(buf, cap, "%s", path);
}

int cost_calibrate(const char *device, const char *measurements, const char *select, const char *table_model,
                   const char *terms, const char *statistic, const char *out_path, FILE *report, struct cost_model **out)
{
    if (out) *out = NULL;
    struct cost_measurements ms;
    struct cost_fit_result fr;
    memset(&fr, 0, sizeof fr);
    struct cost_model *m = NULL;
    /* Default: the 10th percentile of the passes. On this 2-core machine shared with other jobs
     * (load average 7 to 10 during the runs), medians of rn50-fmnist came out bimodal (2.3 or 6 ms
     * depending on what else ran); `quiet` (the passes with the least run-queue delay) found no
     * quiet passes to choose, every pass waited; p10 gave the best held-out error
     * (results/cost/README.md). */
    const int stat = statistic ? cost_stat_parse(statistic) : COST_STAT_P10;
    if (stat < 0) return status_error(STATUS_BAD_INPUT, "--stat: '%s' is not median, p10, min or quiet", statistic);
    int rc = cost_measurements_read(measurements, select, table_model, (enum cost_stat)stat, &ms);
    if (rc) return rc;
    int term_ids[COST_TERMS], n_terms = 0;
    if (!terms) terms = ms.has_machine ? cost_default_terms_profile : cost_default_terms_table;
    if ((rc = parse_terms(terms, term_ids, &n_terms))) goto done;
    /* Terms of kinds no measured layer ran on cannot be fitted: with default terms they are dropped
     * (and predict then has no cost for that kind; say so); given terms are the user's choice and a
     * missing kind is an error from the fit. */
    if (terms == cost_default_terms_profile) {
        int keep = 0;
        for (int j = 0; j < n_terms; j++) {
            const int g = term_ids[j] / CF_COUNT;
            int present = g >= KERN_KIND_COUNT;
            double x[COST_TERMS];
            for (int i = 0; i < ms.n && !present; i++) {
                for (int l = 0; l < ms.s[i].plan.n_layers && !present; l++)
                    present = kern_plan_layer_kind(&ms.s[i].plan, l) == (enum kern_kind)g;
            }
            if (g == COST_GROUP_NET && term_ids[j] != cost_term(COST_GROUP_NET, CF_ONE)) {
                /* a net feature that is zero everywhere (no int8 configuration measured) */
                present = 0;
                for (int i = 0; i < ms.n && !present; i++) {
                    cost_net_features(ms.s[i].net, &ms.s[i].plan, x);
                    present = x[term_ids[j]] != 0.0;
                }
            }
            if (present) term_ids[keep++] = term_ids[j];
            else if (report) {
                char name[48];
                cost_term_name(term_ids[j], name, sizeof name);
                fprintf(report, "cost fit: no measurement has term %s; left out\n", name);
            }
        }
        n_terms = keep;
    }
    if ((rc = cost_fit(ms.s, ms.n, term_ids, n_terms, &fr))) goto done;
    for (int i = 0; report && i < fr.n_merged; i++) {
        char name[48], into[48];
        cost_term_name(fr.merged[i].term, name, sizeof name);
        cost_term_name(fr.merged[i].into, into, sizeof into);
        fprintf(report,
                "cost fit: term %s merged into %s: in every measured row %s, so the measurements cannot separate "
                "them; written with coefficient 0, the fitted terms carry its cost\n",
                name, into, fr.merged[i].relation);
    }
    if (report && fr.n_merged)
        fprintf(report,
                "cost fit: predictions with merged terms hold where those relations hold (for net.* terms: the "
                "models measured, %s); measure other models together with these to separate them\n",
                ms.n_nets == 1 ? ms.net_names[0] : "these");
    m = calloc(1, sizeof *m);
    if (!m) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
    snprintf(m->device, sizeof m->device, "%s", device);
    m->source = ms.has_machine ? COST_SOURCE_PROFILE : COST_SOURCE_TABLE;
    m->has_machine = ms.has_machine;
    m->machine = ms.machine;
    record_path(measurements, m->measurements, sizeof m->measurements);
    if (select) snprintf(m->select, sizeof m->select, "%s", select);
    if (ms.has_machine) snprintf(m->statistic, sizeof m->statistic, "%s", cost_stat_name((enum cost_stat)stat));
    if ((rc = cost_model_set_fit(m, &fr, ms.s, ms.n))) goto done;
    char path[1024];
    if (out_path) snprintf(path, sizeof path, "%s", out_path);
    else cost_device_path(device, path, sizeof path);
    snprintf(m->path, sizeof m->path, "%.511s", path);
    if (report) {
        fprintf(report, "%-28s %-12s %10s %10s %10s %7s\n", "config", "model", "measured", "fitted", "loo", "loo %");
        for (int i = 0; i < m->n_data; i++) {
            const struct cost_data_row *d = &m->data[i];
            fprintf(report, "%-28s %-12s %10.3f %10.3f %10.3f %+7.2f\n", d->config, d->model, d->measured_ms, d->fitted_ms,
                    d->loo_ms, 100.0 * (d->loo_ms - d->measured_ms) / d->measured_ms);
        }
        fprintf(report,
                "cost fit %s: %d terms (%d merged) on %d rows (%d per-layer) from %d configurations; fit MAPE %.2f %% "
                "(max %.2f); leave-one-out MAPE %.2f %% (max %.2f)%s\n",
                device, n_terms, fr.n_merged, fr.n_rows, fr.n_layer_rows, fr.n_configs, fr.fit_mape, fr.fit_max,
                fr.loo_mape, fr.loo_max,
                fr.n_loo_deficient ? " (some folds lost a term's only data)" : "");
    }
    rc = cost_model_write(m, path);
done:
    cost_fit_result_free(&fr);
    cost_measurements_free(&ms);
    if (rc || !out) cost_model_free(m);
    else *out = m;
    return rc;
}
