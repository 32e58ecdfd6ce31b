/* report.c — the tables a search run leaves in results/RUN/ (report.h): points.csv, front.csv,
 * front.json and summary.md, and the reader that lets `rn50-tune plot` and the tests read them
 * back. The writers know nothing of the search: they format what the driver put in the structs.
 *
 * Numbers are written in the shortest "%.{15,16,17}g" that reads back to the same double, so a
 * table read back holds exactly what was written. The CSV quoting is plots/csv_table.c's, shared
 * with the plots. Does not implement: plots (plots/), the chosen config's files
 * (export_coreml.c). */
#include "report.h"

#include "atomic_file.h"
#include "csv_table.h"
#include "json.h"
#include "status.h"
#include "strbuf.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB 1048576.0

static const char *const columns[] = { "id",         "workflow", "config",    "top1_val",      "top1_test",
                                       "bytes",      "latency_ms", "latency_measured_ms", "seconds", "stage",
                                       "mixed",      "within_budget", "on_front", "chosen" };
enum { C_ID, C_WORKFLOW, C_CONFIG, C_TOP1_VAL, C_TOP1_TEST, C_BYTES, C_LATENCY, C_LATENCY_MEASURED, C_SECONDS,
       C_STAGE, C_MIXED, C_WITHIN, C_ON_FRONT, C_CHOSEN, C_COUNT };
_Static_assert(sizeof columns / sizeof *columns == C_COUNT, "columns");

void report_format_double(char *buf, size_t cap, double v)
{
    if (!isfinite(v)) {
        if (cap) buf[0] = '\0';
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void put_double(struct strbuf *b, double v)
{
    char s[40];
    report_format_double(s, sizeof s, v);
    strbuf_str(b, s);
}

/* ---- CSV ---- */

static void csv_header(struct strbuf *b)
{
    for (int c = 0; c < C_COUNT; c++) {
        if (c) strbuf_str(b, ",");
        strbuf_str(b, columns[c]);
    }
    strbuf_str(b, "\n");
}

static void csv_row(struct strbuf *b, const struct report_point *p)
{
    strbuf_printf(b, "%" PRId64 ",", p->id);
    csv_put_field(b, p->workflow);
    strbuf_str(b, ",");
    csv_put_field(b, p->config);
    const double nums[] = { p->top1_val, p->top1_test, p->bytes, p->latency_ms, p->latency_measured_ms, p->seconds };
    for (size_t k = 0; k < sizeof nums / sizeof *nums; k++) {
        strbuf_str(b, ",");
        put_double(b, nums[k]);
    }
    strbuf_str(b, ",");
    csv_put_field(b, p->stage);
    strbuf_printf(b, ",%d,%d,%d,%d\n", p->mixed ? 1 : 0, p->within_budget ? 1 : 0, p->on_front ? 1 : 0, p->chosen ? 1 : 0);
}

/* ---- JSON ---- */

static void json_put_str(struct strbuf *b, const char *s)
{
    char *q = json_quote(s, strlen(s));
    if (!q) {
        b->oom = 1;
        return;
    }
    strbuf_str(b, q);
    free(q);
}

static void json_put_num(struct strbuf *b, double v)
{
    if (isfinite(v))
        put_double(b, v);
    else
        strbuf_str(b, "null");
}

static void json_point(struct strbuf *b, const struct report_point *p)
{
    strbuf_printf(b, "{\"id\": %" PRId64 ", \"workflow\": ", p->id);
    json_put_str(b, p->workflow);
    strbuf_str(b, ", \"config\": ");
    json_put_str(b, p->config);
    strbuf_str(b, ", \"stage\": ");
    json_put_str(b, p->stage);
    const struct {
        const char *k;
        double v;
    } nums[] = { { "top1_val", p->top1_val },     { "top1_test", p->top1_test },
                 { "bytes", p->bytes },           { "latency_ms", p->latency_ms },
                 { "latency_measured_ms", p->latency_measured_ms }, { "seconds", p->seconds } };
    for (size_t k = 0; k < sizeof nums / sizeof *nums; k++) {
        strbuf_printf(b, ", \"%s\": ", nums[k].k);
        json_put_num(b, nums[k].v);
    }
    strbuf_printf(b, ", \"mixed\": %s, \"within_budget\": %s, \"on_front\": %s, \"chosen\": %s}", p->mixed ? "true" : "false",
         p->within_budget ? "true" : "false", p->on_front ? "true" : "false", p->chosen ? "true" : "false");
}

static void json_run(struct strbuf *b, const struct report_run *r)
{
    const struct {
        const char *k, *v;
    } strs[] = { { "model", r->model },         { "weights", r->weights }, { "data", r->data },
                 { "device", r->device },       { "objective", r->objective }, { "budget", r->budget },
                 { "hypervolume_ref", r->hypervolume_ref }, { "best_effort", r->best_effort } };
    strbuf_str(b, "{");
    for (size_t k = 0; k < sizeof strs / sizeof *strs; k++) {
        strbuf_printf(b, "%s\"%s\": ", k ? ", " : "", strs[k].k);
        json_put_str(b, strs[k].v);
    }
    const struct {
        const char *k;
        double v;
    } nums[] = { { "baseline_top1_val", r->baseline_top1_val }, { "baseline_top1_test", r->baseline_top1_test },
                 { "baseline_bytes", r->baseline_bytes },       { "baseline_latency_ms", r->baseline_latency_ms },
                 { "threshold_top1", r->threshold_top1 },       { "hypervolume", r->hypervolume },
                 { "seconds", r->seconds },                     { "confidence", r->confidence },
                 { "chosen_top1_val_low", r->chosen_top1_val_low } };
    for (size_t k = 0; k < sizeof nums / sizeof *nums; k++) {
        strbuf_printf(b, ", \"%s\": ", nums[k].k);
        json_put_num(b, nums[k].v);
    }
    strbuf_printf(b, ", \"chosen_id\": %" PRId64 ", \"budget_met\": %s, \"n_evaluations\": %d, \"n_points\": %d}", r->chosen_id,
         r->budget_met ? "true" : "false", r->n_evaluations, r->n_points);
}

/* ---- summary.md ---- */

/* A table cell: "n/a" for unknown numbers. */
static void md_num(struct strbuf *b, double v, const char *fmt)
{
    if (isfinite(v))
        strbuf_printf(b, fmt, v);
    else
        strbuf_str(b, "n/a");
}

/* Text in a table cell: '|' would end the cell and a line break the row. */
static void md_text(struct strbuf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '|')
            strbuf_str(b, "\\|");
        else if (*p == '\n' || *p == '\r')
            strbuf_str(b, " ");
        else if (*p == '`')
            strbuf_str(b, "'");
        else
            strbuf_put(b, p, 1);
    }
}

static void md_point_cells(struct strbuf *b, const struct report_point *p)
{
    strbuf_str(b, " | ");
    md_num(b, p->top1_val, "%.2f");
    strbuf_str(b, " | ");
    md_num(b, p->top1_test, "%.2f");
    strbuf_str(b, " | ");
    md_num(b, p->bytes / MIB, "%.2f");
    strbuf_str(b, " | ");
    md_num(b, p->latency_ms, "%.3g");
    strbuf_str(b, " | ");
    md_num(b, p->latency_measured_ms, "%.3g");
    strbuf_str(b, " | ");
    md_num(b, p->seconds, "%.1f");
    strbuf_str(b, " |");
}

static void md_config(struct strbuf *b, const struct report_point *p)
{
    strbuf_str(b, "`");
    md_text(b, p->config[0] ? p->config : "(none)");
    strbuf_str(b, "`");
}

/* 1 if a is better than b for the objective (ties: smaller id, so the result is deterministic). */
static int better(const char *objective, const struct report_point *a, const struct report_point *b)
{
    double ka, kb;
    if (!strcmp(objective, "latency")) {
        ka = a->latency_ms;
        kb = b->latency_ms;
    } else if (!strcmp(objective, "accuracy")) {
        ka = -a->top1_val;
        kb = -b->top1_val;
    } else {
        ka = a->bytes;
        kb = b->bytes;
    }
    if (!isfinite(kb)) return isfinite(ka) || a->id < b->id;
    if (!isfinite(ka)) return 0;
    return ka < kb || (ka == kb && a->id < b->id);
}

/* 1 if a goes before b as the global point a mixed choice is compared with: better for the
 * objective or, equal for it (g-w8a8 and g-prune25-w8a8 predict the same latency), measured where
 * b is not, so that the measured comparison can be made, or measured faster. */
static int global_first(const char *objective, const struct report_point *a, const struct report_point *b)
{
    const int same = !strcmp(objective, "latency")    ? a->latency_ms == b->latency_ms
                     : !strcmp(objective, "accuracy") ? a->top1_val == b->top1_val
                                                      : a->bytes == b->bytes;
    if (same && isfinite(a->latency_measured_ms) != isfinite(b->latency_measured_ms)) return isfinite(a->latency_measured_ms);
    /* Both measured: the faster one, so that the chosen point meets the stronger of them. */
    if (same && isfinite(a->latency_measured_ms) && a->latency_measured_ms != b->latency_measured_ms)
        return a->latency_measured_ms < b->latency_measured_ms;
    return better(objective, a, b);
}

const struct report_point *report_chosen(const struct report_run *r, const struct report_point *pts, int n)
{
    const struct report_point *chosen = NULL;
    for (int i = 0; i < n; i++)
        if (pts[i].chosen || (r->chosen_id >= 0 && pts[i].id == r->chosen_id)) chosen = &pts[i];
    return chosen;
}

const struct report_point *report_best_global(const struct report_run *r, const struct report_point *pts, int n)
{
    const struct report_point *global = NULL;
    for (int i = 0; i < n; i++) {
        const struct report_point *p = &pts[i];
        if (p->mixed || !p->within_budget || !strcmp(p->stage, "baseline")) continue;
        if (!global || global_first(r->objective, p, global)) global = p;
    }
    return global;
}

const struct report_point *report_best_of_workflow(const struct report_run *r, const struct report_point *pts, int n,
                                                   const char *workflow, int *within)
{
    /* effort: the most accurate point with a val figure; fallback: the first, when none has one. */
    const struct report_point *best = NULL, *effort = NULL, *fallback = NULL;
    for (int j = 0; j < n; j++) {
        const struct report_point *q = &pts[j];
        if (!strcmp(q->stage, "baseline") || strcmp(q->workflow, workflow)) continue;
        if (q->within_budget && (!best || better(r->objective, q, best))) best = q;
        if (isfinite(q->top1_val) && (!effort || q->top1_val > effort->top1_val)) effort = q;
        if (!fallback) fallback = q;
    }
    *within = best != NULL;
    return best ? best : effort ? effort : fallback;
}

static void summary(struct strbuf *b, const struct report_run *r, const struct report_point *pts, int n,
                    const struct report_point *const *front, int nf)
{
    const struct report_point *chosen = report_chosen(r, pts, n);

    strbuf_printf(b, "# rn50-tune: objective %s, budget %s\n\n", r->objective[0] ? r->objective : "?",
         r->budget[0] ? r->budget : "none");
    strbuf_str(b, "| | |\n|---|---|\n| model | ");
    md_text(b, r->model);
    strbuf_str(b, " (weights: ");
    md_text(b, r->weights[0] ? r->weights : "the embedded default");
    strbuf_str(b, ") |\n| data | ");
    md_text(b, r->data);
    strbuf_str(b, " |\n| device | ");
    md_text(b, r->device);
    strbuf_str(b, " |\n| baseline | top-1 ");
    md_num(b, r->baseline_top1_val, "%.2f %%");
    strbuf_str(b, " val, ");
    md_num(b, r->baseline_top1_test, "%.2f %%");
    strbuf_str(b, " test; ");
    md_num(b, r->baseline_bytes / MIB, "%.2f MiB");
    strbuf_str(b, "; ");
    md_num(b, r->baseline_latency_ms, "%.3g ms");
    strbuf_str(b, " predicted |\n| budget | ");
    md_text(b, r->budget[0] ? r->budget : "none");
    strbuf_str(b, ": a point needs top-1 on val >= ");
    md_num(b, r->threshold_top1, "%.2f %%");
    if (isfinite(r->confidence) && r->confidence > 0)
        strbuf_printf(b, " at the lower end of a one-sided %g %% interval paired with the baseline on the same images", 100.0 * r->confidence);
    strbuf_str(b, " |\n| result | ");
    if (r->budget_met && chosen) {
        strbuf_printf(b, "point %" PRId64 " meets the budget and is the best for the objective (%s) |\n", chosen->id,
             r->objective);
    }
    if (!r->budget_met && chosen) {
        strbuf_str(b, "**no point met the budget**");
        if (r->best_effort[0]) {
            strbuf_str(b, ": ");
            md_text(b, r->best_effort);
        }
        strbuf_printf(b, "; the best effort is point %" PRId64 " (top-1 on val ", chosen->id);
        md_num(b, chosen->top1_val, "%.2f %%");
        if (chosen->top1_val < r->threshold_top1) {
            strbuf_str(b, ", ");
            md_num(b, r->threshold_top1 - chosen->top1_val, "%.2f");
            strbuf_str(b, " points below the threshold) |\n");
        } else {
            strbuf_str(b, ", at or above the threshold: a size or latency limit is what it misses) |\n");
        }
    }
    if (!chosen) strbuf_str(b, r->budget_met ? "no chosen point recorded |\n" : "**no point met the budget** and no point was evaluated |\n");
    if (chosen) {
        strbuf_str(b, "| chosen | ");
        md_config(b, chosen);
        strbuf_str(b, " (");
        md_text(b, chosen->workflow);
        strbuf_str(b, ", ");
        md_text(b, chosen->stage);
        strbuf_str(b, "): top-1 ");
        md_num(b, chosen->top1_val, "%.2f %%");
        if (isfinite(r->chosen_top1_val_low) && isfinite(r->confidence) && r->confidence > 0) {
            strbuf_printf(b, " val (one-sided %g %% lower bound ", 100.0 * r->confidence);
            md_num(b, r->chosen_top1_val_low, "%.2f %%");
            strbuf_str(b, "), ");
        } else {
            strbuf_str(b, " val, ");
        }
        md_num(b, chosen->top1_test, "%.2f %%");
        strbuf_str(b, " test; ");
        md_num(b, chosen->bytes / MIB, "%.2f MiB");
        strbuf_str(b, "; ");
        md_num(b, chosen->latency_ms, "%.3g ms");
        strbuf_str(b, " predicted, ");
        md_num(b, chosen->latency_measured_ms, "%.3g ms");
        strbuf_str(b, " measured; its coremltools configs in `chosen/` |\n");
    }
    /* A mixed choice against the best single global config within budget: the gain that per-layer
     * mixing brought, predicted and (latency) measured, so a gain smaller than the cost model's
     * error is visible as such. */
    const struct report_point *global = report_best_global(r, pts, n);
    if (chosen && chosen->mixed && global && r->budget_met) {
        strbuf_str(b, "| against the best global config | ");
        md_config(b, global);
        strbuf_str(b, ": top-1 ");
        md_num(b, global->top1_val, "%.2f %%");
        strbuf_str(b, " val, ");
        md_num(b, global->bytes, "%.0f bytes");
        strbuf_str(b, ", ");
        md_num(b, global->latency_ms, "%.4g ms");
        strbuf_str(b, " predicted, ");
        md_num(b, global->latency_measured_ms, "%.4g ms");
        strbuf_str(b, " measured; the chosen point is ");
        md_num(b, 100.0 * (chosen->bytes / global->bytes - 1.0), "%+.1f %%");
        strbuf_str(b, " in size, ");
        md_num(b, 100.0 * (chosen->latency_ms / global->latency_ms - 1.0), "%+.2f %%");
        strbuf_str(b, " in predicted latency, ");
        md_num(b, 100.0 * (chosen->latency_measured_ms / global->latency_measured_ms - 1.0), "%+.2f %%");
        strbuf_str(b, " measured |\n");
    }
    strbuf_str(b, "| hypervolume | ");
    md_num(b, r->hypervolume, "%.6g");
    strbuf_str(b, " (reference point: ");
    md_text(b, r->hypervolume_ref[0] ? r->hypervolume_ref : "not recorded");
    strbuf_printf(b, ") |\n| evaluations | %d run this time, %d points in total |\n| wall time | ", r->n_evaluations,
         r->n_points);
    md_num(b, r->seconds, "%.0f s");
    strbuf_str(b, " |\n\n");

    /* The table of SPEC §2: one row per workflow, its best configuration for the objective. */
    strbuf_str(b, "## Best configuration per workflow\n\n"
                  "Best for the objective among the points within the budget; a workflow with none is shown "
                  "with its most accurate point, marked *outside budget*. Decisions use val; test is reported.\n\n"
                  "| workflow | best config | top-1 val (%) | top-1 test (%) | size (MiB) | latency predicted (ms) | "
                  "latency measured (ms) | time to compress (s) |\n|---|---|---|---|---|---|---|---|\n");
    strbuf_str(b, "| baseline | uncompressed (fp16) | ");
    md_num(b, r->baseline_top1_val, "%.2f");
    strbuf_str(b, " | ");
    md_num(b, r->baseline_top1_test, "%.2f");
    strbuf_str(b, " | ");
    md_num(b, r->baseline_bytes / MIB, "%.2f");
    strbuf_str(b, " | ");
    md_num(b, r->baseline_latency_ms, "%.3g");
    strbuf_str(b, " | n/a | 0 |\n");
    for (int i = 0; i < n; i++) {
        if (!strcmp(pts[i].stage, "baseline")) continue;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = strcmp(pts[j].stage, "baseline") && !strcmp(pts[j].workflow, pts[i].workflow);
        if (seen) continue;
        int within = 0;
        const struct report_point *row = report_best_of_workflow(r, pts, n, pts[i].workflow, &within);
        const struct report_point *best = within ? row : NULL;
        strbuf_str(b, "| ");
        md_text(b, pts[i].workflow);
        strbuf_str(b, " | ");
        md_config(b, row);
        if (!best) strbuf_str(b, " *outside budget*");
        if (row == chosen) strbuf_str(b, " **(chosen)**");
        md_point_cells(b, row);
        strbuf_str(b, "\n");
    }

    strbuf_printf(b, "\n## Front (%d points, by size)\n\n", nf);
    strbuf_str(b, "| id | workflow | stage | config | top-1 val (%) | top-1 test (%) | size (MiB) | latency predicted "
                  "(ms) | latency measured (ms) | time to compress (s) | within budget |\n"
                  "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < nf; k++) {
        const struct report_point *next = front[k];
        strbuf_printf(b, "| %" PRId64 " | ", next->id);
        md_text(b, next->workflow);
        strbuf_str(b, " | ");
        md_text(b, next->stage);
        strbuf_str(b, " | ");
        md_config(b, next);
        if (next == chosen) strbuf_str(b, " **(chosen)**");
        md_point_cells(b, next);
        strbuf_str(b, next->within_budget ? " yes |\n" : " no |\n");
    }
}

/* ---- the writer ---- */

static int cmp_front(const void *pa, const void *pb)
{
    const struct report_point *a = *(const struct report_point *const *)pa, *b = *(const struct report_point *const *)pb;
    const int na = isnan(a->bytes), nb = isnan(b->bytes);
    if (na != nb) return na - nb;
    if (!na && a->bytes != b->bytes) return a->bytes < b->bytes ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

int report_write_tables(const char *run_dir, const struct report_run *run, const struct report_point *pts, int n)
{
    struct strbuf b = { 0 };
    csv_header(&b);
    for (int i = 0; i < n; i++) csv_row(&b, &pts[i]);
    int rc = file_save_strbuf(run_dir, "points.csv", &b);
    if (rc) return rc;

    const struct report_point **front = calloc((size_t)(n > 0 ? n : 1), sizeof *front);
    if (!front) return status_error(STATUS_NOMEM, "%s/front.csv: out of memory", run_dir);
    int nf = 0;
    for (int i = 0; i < n; i++)
        if (pts[i].on_front) front[nf++] = &pts[i];
    qsort(front, (size_t)nf, sizeof *front, cmp_front);
    csv_header(&b);
    for (int i = 0; i < nf; i++) csv_row(&b, front[i]);
    if ((rc = file_save_strbuf(run_dir, "front.csv", &b))) goto done;

    strbuf_str(&b, "{\"run\": ");
    json_run(&b, run);
    strbuf_str(&b, ",\n \"front\": [");
    for (int i = 0; i < nf; i++) {
        strbuf_str(&b, i ? ",\n  " : "\n  ");
        json_point(&b, front[i]);
    }
    strbuf_str(&b, nf ? "\n ]}\n" : "]}\n");
    if ((rc = file_save_strbuf(run_dir, "front.json", &b))) goto done;

    summary(&b, run, pts, n, front, nf);
    rc = file_save_strbuf(run_dir, "summary.md", &b);
done:
    free(front);
    return rc;
}

/* ---- the reader ---- */

static int copy_text(const char *path, size_t line, const char *col, const char *s, char *dst, size_t cap)
{
    if (strlen(s) >= cap)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: column '%s': '%.40s...' is longer than %zu bytes", path, line, col,
                            s, cap - 1);
    memcpy(dst, s, strlen(s) + 1);
    return STATUS_OK;
}

static int parse_num(const char *path, size_t line, const char *col, const char *s, double *out)
{
    if (!*s) {
        *out = NAN;
        return STATUS_OK;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE && fabs(v) > 1.0) errno = 0, v = NAN;   /* overflow: unknown, never a huge number */
    if (errno || end == s || *end)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: column '%s': '%s' is not a number (or empty for unknown)", path,
                            line, col, s);
    *out = v;
    return STATUS_OK;
}

static int parse_flag(const char *path, size_t line, const char *col, const char *s, int *out)
{
    if (!strcmp(s, "0") || !strcmp(s, "1")) {
        *out = s[0] == '1';
        return STATUS_OK;
    }
    return status_error(STATUS_BAD_INPUT, "%s:%zu: column '%s': '%s' is not 0 or 1", path, line, col, s);
}

static int read_points(const char *path, struct report_point **out, int *n_out)
{
    struct csv_table t;
    int rc = csv_table_read(path, &t);
    if (rc) return rc;
    int col[C_COUNT];
    for (int c = 0; c < C_COUNT; c++)
        if ((col[c] = csv_table_col(&t, columns[c])) < 0) {
            csv_table_free(&t);
            return status_error(STATUS_BAD_INPUT, "%s:1: no column '%s' in the header", path, columns[c]);
        }
    struct report_point *p = t.n_rows ? calloc((size_t)t.n_rows, sizeof *p) : NULL;
    if (t.n_rows && !p) {
        csv_table_free(&t);
        return status_error(STATUS_NOMEM, "%s: out of memory", path);
    }
    for (int r = 0; r < t.n_rows && !rc; r++) {
        const size_t line = t.line[r];
        struct report_point *q = &p[r];
#define CELL(c) csv_table_get(&t, r, col[c])
        const char *ids = CELL(C_ID);
        char *end;
        errno = 0;
        long long id = strtoll(ids, &end, 10);
        if (errno || end == ids || *end) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: column 'id': '%s' is not an integer", path, line, ids);
            break;
        }
        q->id = id;
        if (!rc) rc = copy_text(path, line, "workflow", CELL(C_WORKFLOW), q->workflow, sizeof q->workflow);
        if (!rc) rc = copy_text(path, line, "config", CELL(C_CONFIG), q->config, sizeof q->config);
        if (!rc) rc = copy_text(path, line, "stage", CELL(C_STAGE), q->stage, sizeof q->stage);
        if (!rc) rc = parse_num(path, line, "top1_val", CELL(C_TOP1_VAL), &q->top1_val);
        if (!rc) rc = parse_num(path, line, "top1_test", CELL(C_TOP1_TEST), &q->top1_test);
        if (!rc) rc = parse_num(path, line, "bytes", CELL(C_BYTES), &q->bytes);
        if (!rc) rc = parse_num(path, line, "latency_ms", CELL(C_LATENCY), &q->latency_ms);
        if (!rc) rc = parse_num(path, line, "latency_measured_ms", CELL(C_LATENCY_MEASURED), &q->latency_measured_ms);
        if (!rc) rc = parse_num(path, line, "seconds", CELL(C_SECONDS), &q->seconds);
        if (!rc) rc = parse_flag(path, line, "mixed", CELL(C_MIXED), &q->mixed);
        if (!rc) rc = parse_flag(path, line, "within_budget", CELL(C_WITHIN), &q->within_budget);
        if (!rc) rc = parse_flag(path, line, "on_front", CELL(C_ON_FRONT), &q->on_front);
        if (!rc) rc = parse_flag(path, line, "chosen", CELL(C_CHOSEN), &q->chosen);
#undef CELL
    }
    const int n = t.n_rows;
    csv_table_free(&t);
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    *n_out = n;
    return STATUS_OK;
}

static int run_str(const char *path, const struct json_value *o, const char *key, char *dst, size_t cap)
{
    const struct json_value *v = json_object_get(o, key);
    if (!v || v->type != JSON_STRING)
        return status_error(STATUS_BAD_INPUT, "%s: run.%s: expected a string", path, key);
    if (v->str_len >= cap || strlen(v->str) != v->str_len)
        return status_error(STATUS_BAD_INPUT, "%s: run.%s: longer than %zu bytes or holds a NUL", path, key, cap - 1);
    memcpy(dst, v->str, v->str_len + 1);
    return STATUS_OK;
}

static int run_num(const char *path, const struct json_value *o, const char *key, double *out)
{
    const struct json_value *v = json_object_get(o, key);
    if (v && v->type == JSON_NULL) {
        *out = NAN;
        return STATUS_OK;
    }
    if (!v || v->type != JSON_NUMBER)
        return status_error(STATUS_BAD_INPUT, "%s: run.%s: expected a number or null", path, key);
    *out = v->number;
    return STATUS_OK;
}

static int run_int(const char *path, const struct json_value *o, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const struct json_value *v = json_object_get(o, key);
    if (!v || v->type != JSON_NUMBER || !v->is_integer || v->integer < lo || v->integer > hi)
        return status_error(STATUS_BAD_INPUT, "%s: run.%s: expected an integer in %" PRId64 "..%" PRId64, path, key, lo,
                            hi);
    *out = v->integer;
    return STATUS_OK;
}

static int read_run(const char *path, struct report_run *r)
{
    struct strbuf b;
    int rc = file_read_all(path, &b);
    if (rc) return rc;
    struct json_value *root = NULL;
    rc = json_parse(b.p ? b.p : "", b.len, path, &root);
    free(b.p);
    if (rc) return rc;
    const struct json_value *o = json_object_get(root, "run");
    if (!o || o->type != JSON_OBJECT) {
        json_free(root);
        return status_error(STATUS_BAD_INPUT, "%s: expected an object with a \"run\" object", path);
    }
    memset(r, 0, sizeof *r);
    int64_t v = 0;
    const struct json_value *met = json_object_get(o, "budget_met");
    rc = run_str(path, o, "model", r->model, sizeof r->model);
    if (!rc) rc = run_str(path, o, "weights", r->weights, sizeof r->weights);
    if (!rc) rc = run_str(path, o, "data", r->data, sizeof r->data);
    if (!rc) rc = run_str(path, o, "device", r->device, sizeof r->device);
    if (!rc) rc = run_str(path, o, "objective", r->objective, sizeof r->objective);
    /* One of three words, so the summary and the page may print it as it is. */
    if (!rc && strcmp(r->objective, "size") && strcmp(r->objective, "latency") && strcmp(r->objective, "accuracy"))
        rc = status_error(STATUS_BAD_INPUT, "%s: run.objective: expected size, latency or accuracy", path);
    if (!rc) rc = run_str(path, o, "budget", r->budget, sizeof r->budget);
    if (!rc) rc = run_str(path, o, "hypervolume_ref", r->hypervolume_ref, sizeof r->hypervolume_ref);
    if (!rc) rc = run_num(path, o, "baseline_top1_val", &r->baseline_top1_val);
    if (!rc) rc = run_num(path, o, "baseline_top1_test", &r->baseline_top1_test);
    if (!rc) rc = run_num(path, o, "baseline_bytes", &r->baseline_bytes);
    if (!rc) rc = run_num(path, o, "baseline_latency_ms", &r->baseline_latency_ms);
    if (!rc) rc = run_num(path, o, "threshold_top1", &r->threshold_top1);
    if (!rc) rc = run_num(path, o, "hypervolume", &r->hypervolume);
    if (!rc) rc = run_num(path, o, "seconds", &r->seconds);
    /* Written since the interval rule (issue 17); a run from before has none of them. */
    r->confidence = r->chosen_top1_val_low = NAN;
    r->best_effort[0] = '\0';
    if (!rc && json_object_get(o, "confidence")) rc = run_num(path, o, "confidence", &r->confidence);
    if (!rc && json_object_get(o, "chosen_top1_val_low")) rc = run_num(path, o, "chosen_top1_val_low", &r->chosen_top1_val_low);
    if (!rc && json_object_get(o, "best_effort")) rc = run_str(path, o, "best_effort", r->best_effort, sizeof r->best_effort);
    if (!rc && !(rc = run_int(path, o, "chosen_id", -1, INT64_MAX, &v))) r->chosen_id = v;
    if (!rc && !(rc = run_int(path, o, "n_evaluations", 0, INT32_MAX, &v))) r->n_evaluations = (int)v;
    if (!rc && !(rc = run_int(path, o, "n_points", 0, INT32_MAX, &v))) r->n_points = (int)v;
    if (!rc && (!met || met->type != JSON_BOOL))
        rc = status_error(STATUS_BAD_INPUT, "%s: run.budget_met: expected true or false", path);
    if (!rc) r->budget_met = met->boolean;
    json_free(root);
    return rc;
}

int report_read_tables(const char *run_dir, struct report_run *run, struct report_point **pts, int *n)
{
    *pts = NULL;
    *n = 0;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/front.json", run_dir) >= sizeof path)
        return status_error(STATUS_BAD_INPUT, "%s: path too long", run_dir);
    struct report_run r;
    int rc = read_run(path, &r);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/points.csv", run_dir);
    if ((rc = read_points(path, pts, n))) return rc;
    *run = r;
    return STATUS_OK;
}
