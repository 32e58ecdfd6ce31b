/* report_html.c — RUN/report.html (report_html.h): loads the run's inputs once, writes the page's
 * frame (head, style, script), the summary, the per-workflow and front tables, the budget
 * the plots, the per-layer sections, the budget decision and the provenance are report_plots.c,
 * report_layers.c and report_decision.c. The page is built in memory and saved atomically (file_save_strbuf). */
#include "report_html.h"

#include "atomic_file.h"
#include "config.h"
#include "cost.h"
#include "device.h"
#include "html.h"
#include "report_html_int.h"
#include "status.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIB 1048576.0

static const char page_style[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1b1b1b;margin:0 auto;max-width:1180px;padding:0 18px 40px}"
    "h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}"
    "nav{font-size:13px;margin:6px 0 10px}nav a{margin-right:12px}.lead{color:#444;margin:2px 0 8px}"
    "table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #d6d6d6;padding:3px 7px;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    "tr.chosen td{background:#fff0ef}.kv th{width:210px}code{font:12px ui-monospace,monospace;background:#f6f6f6;padding:0 3px}"
    "pre{font:12px ui-monospace,monospace;background:#f6f6f6;padding:8px;overflow-x:auto;white-space:pre-wrap}"
    ".note{color:#555;font-size:13px}.missing{color:#8a4b00;background:#fff6e5;padding:6px 9px;border-left:3px solid #e0a030}"
    ".scroll{max-height:560px;overflow:auto;border:1px solid #ddd}.scroll table{margin:0}.scroll th{position:sticky;top:0;z-index:1}"
    "th.sortable{cursor:pointer}th.sortable:after{content:' \\2195';color:#999}"
    ".plots{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}.plots p{max-width:440px}.plots figure{margin:0}.plots figcaption{font-size:12px;color:#555;max-width:480px}"
    "svg.plot{font:11px system-ui,sans-serif;background:#fff}svg .frame{fill:none;stroke:#888}svg .grid{stroke:#eee}"
    "svg .tick{fill:#555}svg .axis{fill:#222;font-size:12px}svg .budget{stroke:#c0392b;stroke-dasharray:6 4}"
    "svg .budget-label{fill:#c0392b}svg .frontline{stroke:#1f5fa8;stroke-width:1.5}svg .lbl{fill:#b01010;font-weight:600}"
    "svg .screened{fill:none;stroke:#a8a8a8}svg .outside{fill:#c9c9c9;stroke:#999}svg .within{fill:#8fb8de;stroke:#4f7fae}"
    "svg .front{fill:#1f5fa8;stroke:#0c3466}svg .chosen{fill:#d62728;stroke:#7a0000}svg .baseline{fill:#222}"
    "svg .clipped{stroke-width:.5}svg :hover{stroke:#000;stroke-width:2}"
    ".legend span{display:inline-block;margin-right:14px;font-size:12px}.sw{display:inline-block;width:11px;height:11px;"
    "vertical-align:-1px;margin-right:4px;border:1px solid #777}"
    "table.heat td{text-align:center;min-width:44px;font-size:12px;font-variant-numeric:tabular-nums;padding:2px 4px}"
    "table.heat td.pick{outline:3px solid #111;outline-offset:-3px;font-weight:700}table.heat th{font-size:12px}"
    "td{white-space:nowrap}.kv td,td.missing{white-space:normal}table.heat td.layer{text-align:left;font:12px ui-monospace,monospace;white-space:nowrap}";

/* Table sorting (click a header of a .sortable table) and a mark that the script ran (the
 * chromium test checks it). */
static const char page_script[] =
    "document.documentElement.dataset.js='ok';"
    "document.querySelectorAll('table.sort').forEach(function(t){t.querySelectorAll('th').forEach(function(th,i){"
    "th.classList.add('sortable');th.addEventListener('click',function(){var tb=t.tBodies[0],rows=[].slice.call(tb.rows),"
    "d=th.dataset.dir=th.dataset.dir==='1'?'-1':'1';rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent,"
    "y=b.cells[i].dataset.v||b.cells[i].textContent,p=parseFloat(x),q=parseFloat(y);"
    "return (isNaN(p)||isNaN(q)?x.localeCompare(y):p-q)*d;});rows.forEach(function(r){tb.appendChild(r);});});});});";

void rh_layer_choice(const struct layer_plan *lp, char *out, size_t n)
{
    const int pal = lp->pal.enabled, pr = lp->prune.enabled, q = lp->quant.enabled;
    if (!pal && !pr && !q) snprintf(out, n, "fp16");
    else if (pal && !pr && !q) snprintf(out, n, "pal%d", lp->pal.n_bits);
    else if (pr && !pal && !q) snprintf(out, n, "prune%.0f", 100 * lp->prune.target_sparsity);
    else if (q && !pal && !pr) snprintf(out, n, lp->quant.activations ? "w8a8" : "w8a16");
    else snprintf(out, n, "%s", "");
}

/* A failure to read a required input is the user's (a damaged or foreign file): exit 2, the
 * message kept (copied first: status_error writes into the buffer status_message returns). */
static int bad_input(int rc)
{
    if (rc != STATUS_IO) return rc;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", status_message());
    return status_error(STATUS_BAD_INPUT, "%s", msg);
}

static int file_needed(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return status_error(STATUS_BAD_INPUT, "%s: missing (a run directory that rn50-tune tune finished has points.csv, "
                                              "front.json and results.db)", path);
    return STATUS_OK;
}

/* Loads what every section needs; notes instead of errors for the optional parts. */
static int rh_load(struct rh *h, const struct resnet *net, struct resnet **own)
{
    struct stat st;
    if (stat(h->run_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return status_error(STATUS_BAD_INPUT, "%s: no such run directory", h->run_dir);
    int rc = file_needed(h->run_dir, "points.csv");
    if (!rc) rc = file_needed(h->run_dir, "front.json");
    if (!rc) rc = file_needed(h->run_dir, DB_FILE);
    if (!rc) rc = report_read_tables(h->run_dir, &h->run, &h->pts, &h->n);
    if (rc) return bad_input(rc);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", h->run_dir, DB_FILE);
    struct db *db = NULL;
    if ((rc = db_open(path, 0, &db))) return bad_input(rc);
    rc = db_all(db, &h->rows, &h->n_rows);
    if (!rc) rc = provenance_read(db, &h->prov);
    db_close(db);
    if (rc) return rc;
    for (int i = 0; i < h->n_rows; i++)
        if (!strcmp(h->rows[i].stage, "baseline") && !strcmp(h->rows[i].split, "val") && h->rows[i].n_images > h->n_val)
            h->n_val = h->rows[i].n_images;
    const double v = strtod(h->run.budget, NULL);
    h->budget_points = strstr(h->run.budget, "rel") ? v * h->run.baseline_top1_val / 100.0 : v;

    /* The optional parts: architecture, chosen config, device profile. */
    if (!net) {
        struct resnet_config cfg;
        if (!(rc = resnet_config_load(h->run.model, &cfg))) rc = resnet_alloc(&cfg, 1, own);
        if (rc) snprintf(h->net_note, sizeof h->net_note, "model '%s' cannot be built here: %s", h->run.model, status_message());
        net = *own;
    }
    h->net = net;
    const struct report_point *c = report_chosen(&h->run, h->pts, h->n);
    if (!net) {
        snprintf(h->plan_note, sizeof h->plan_note, "%s", h->net_note);
    } else if (!c || !c->config[0]) {
        snprintf(h->plan_note, sizeof h->plan_note, "the run has no chosen point with a config file");
    } else {
        snprintf(path, sizeof path, "%s/%s", h->run_dir, c->config);
        if (compress_config_load(path, net, &h->plan)) snprintf(h->plan_note, sizeof h->plan_note, "%s", status_message());
        else h->have_plan = 1;
    }
    if (!strcmp(h->run.device, "none") || !h->run.device[0])
        snprintf(h->cost_note, sizeof h->cost_note, "the run used no device (--device none): no latency predictions");
    else {
        /* Read without cost_model_load's machine check: the profile splits the run's own
         * predictions here, it does not describe the machine showing the page. */
        cost_device_path(h->run.device, path, sizeof path);
        if (cost_model_read(path, &h->cost))
            snprintf(h->cost_note, sizeof h->cost_note, "device profile '%s' cannot be loaded: %s", h->run.device, status_message());
    }
    status_clear();
    return STATUS_OK;
}

void rh_kv(struct strbuf *b, const char *key) { strbuf_printf(b, "<tr><th>%s</th><td>", key); }

static void point_name(struct strbuf *b, const struct report_point *p)
{
    strbuf_str(b, "<code>");
    html_text(b, p->config[0] ? p->config : "(none)");
    strbuf_printf(b, "</code> (id %" PRId64 ", ", p->id);
    html_text(b, p->workflow);
    strbuf_str(b, ", ");
    html_text(b, p->stage);
    strbuf_str(b, ")");
}

static void point_figures(struct strbuf *b, const struct report_point *p)
{
    html_num(b, "top-1 %.2f %% val", p->top1_val);
    html_num(b, ", %.2f %% test; ", p->top1_test);
    html_num(b, "%.3f MiB", p->bytes / MIB);
    html_num(b, " (%.0f bytes); ", p->bytes);
    html_num(b, "%.4g ms predicted, ", p->latency_ms);
    html_num(b, "%.4g ms measured", p->latency_measured_ms);
}

static const char point_head[] =
    "<thead><tr><th>id</th><th>workflow</th><th>stage</th><th>config</th><th class=n>top-1 val (%)</th>"
    "<th class=n>top-1 test (%)</th><th class=n>size (MiB)</th><th class=n>latency pred. (ms)</th>"
    "<th class=n>latency meas. (ms)</th><th class=n>compress (s)</th><th>within budget</th></tr></thead><tbody>\n";

static void point_row(struct strbuf *b, const struct report_point *p, const char *first)
{
    strbuf_printf(b, "<tr%s><td>", p->chosen ? " class=chosen" : "");
    if (first) html_text(b, first);
    else strbuf_printf(b, "%" PRId64, p->id);
    strbuf_str(b, "</td><td>");
    html_text(b, p->workflow);
    strbuf_str(b, "</td><td>");
    html_text(b, p->stage);
    strbuf_str(b, "</td><td><code>");
    html_text(b, p->config);
    strbuf_str(b, p->chosen ? "</code> <b>(chosen)</b>" : "</code>");
    const double v[] = { p->top1_val, p->top1_test, p->bytes / MIB, p->latency_ms, p->latency_measured_ms, p->seconds };
    const char *const f[] = { "%.2f", "%.2f", "%.3f", "%.4g", "%.4g", "%.1f" };
    for (int k = 0; k < 6; k++) {
        strbuf_str(b, "</td><td class=n>");
        html_num(b, f[k], v[k]);
    }
    strbuf_printf(b, "</td><td>%s</td></tr>\n", p->within_budget ? "yes" : "no");
}

static void section_summary(struct rh *h)
{
    struct strbuf *b = h->b;
    const struct report_run *r = &h->run;
    const struct report_point *c = report_chosen(r, h->pts, h->n), *g = report_best_global(r, h->pts, h->n);
    strbuf_str(b, "<h2 id=summary>Summary</h2><table class=kv>");
    rh_kv(b, "model");
    html_text(b, r->model);
    strbuf_str(b, " (weights: ");
    html_text(b, r->weights[0] ? r->weights : "the embedded default");
    strbuf_str(b, "), data ");
    html_text(b, r->data);
    strbuf_str(b, ", device ");
    html_text(b, r->device);
    strbuf_str(b, "</td></tr>");
    rh_kv(b, "baseline (fp16)");
    html_num(b, "top-1 %.2f %% val", r->baseline_top1_val);
    html_num(b, ", %.2f %% test; ", r->baseline_top1_test);
    html_num(b, "%.3f MiB; ", r->baseline_bytes / MIB);
    html_num(b, "%.4g ms predicted", r->baseline_latency_ms);
    strbuf_str(b, "</td></tr>");
    rh_kv(b, "budget");
    html_text(b, r->budget);
    html_num(b, ": a point needs top-1 on val &ge; %.2f %%", r->threshold_top1);
    strbuf_str(b, " (<a href=\"#budget\">how it was decided</a>)");
    strbuf_str(b, "</td></tr>");
    rh_kv(b, "result");
    if (!c) strbuf_str(b, "no chosen point recorded");
    else if (r->budget_met) strbuf_printf(b, "point %" PRId64 " meets the budget and is the best for the objective (%s)", c->id,
                      r->objective);
    else strbuf_printf(b, "<b>no point met the budget</b>; the best effort is point %" PRId64, c->id);
    if (c) {
        strbuf_str(b, "</td></tr>");
    rh_kv(b, "chosen point");
        point_name(b, c);
        strbuf_str(b, ": ");
        point_figures(b, c);
    }
    strbuf_str(b, "</td></tr>");
    rh_kv(b, "best global point");
    if (g) {
        point_name(b, g);
        strbuf_str(b, ": ");
        point_figures(b, g);
        if (c && c != g) {
            html_num(b, "; the chosen point is %+.1f %% in size", 100.0 * (c->bytes / g->bytes - 1.0));
            html_num(b, ", %+.2f %% in predicted latency", 100.0 * (c->latency_ms / g->latency_ms - 1.0));
            html_num(b, ", %+.2f %% measured", 100.0 * (c->latency_measured_ms / g->latency_measured_ms - 1.0));
        }
    } else {
        strbuf_str(b, "no global config met the budget");
    }
    strbuf_str(b, "</td></tr>");
    rh_kv(b, "hypervolume");
    html_num(b, "%.6g", r->hypervolume);
    strbuf_str(b, " (reference point: ");
    html_text(b, r->hypervolume_ref[0] ? r->hypervolume_ref : "not recorded");
    strbuf_str(b, ")</td></tr>");
    rh_kv(b, "wall time");
    html_num(b, "%.0f s", r->seconds);
    html_num(b, " (%.1f min)", r->seconds / 60);
    strbuf_str(b, "</td></tr>");
    rh_kv(b, "evaluations");
    strbuf_printf(b, "%d run by the last invocation; %d in the results store (screening, sensitivity and test "
                     "evaluations included); %d fully evaluated points</td></tr></table>\n", r->n_evaluations, h->n_rows, r->n_points);

    strbuf_str(b, "<h3>Best point per workflow</h3><p class=note>Best for the objective among the points within the budget; "
                  "a workflow with none shows its most accurate point, marked <i>outside budget</i>.</p><table>");
    strbuf_str(b, point_head);
    const struct report_point base = { .id = -1, .workflow = "baseline", .stage = "baseline", .config = "uncompressed (fp16)",
                                       .top1_val = r->baseline_top1_val, .top1_test = r->baseline_top1_test,
                                       .bytes = r->baseline_bytes, .latency_ms = r->baseline_latency_ms,
                                       .latency_measured_ms = NAN, .seconds = 0, .within_budget = 1 };
    point_row(b, &base, "baseline");
    for (int i = 0; i < h->n; i++) {
        int seen = !strcmp(h->pts[i].stage, "baseline");
        for (int j = 0; j < i && !seen; j++) seen = strcmp(h->pts[j].stage, "baseline") && !strcmp(h->pts[j].workflow, h->pts[i].workflow);
        if (seen) continue;
        int within = 0;
        const struct report_point *p = report_best_of_workflow(r, h->pts, h->n, h->pts[i].workflow, &within);
        struct report_point row = *p;
        if (!within) snprintf(row.stage, sizeof row.stage, "%.6s*", p->stage);
        point_row(b, &row, p->workflow);
    }
    strbuf_str(b, "</tbody></table><p class=note>The first column names the workflow; * marks a point outside the budget.</p>\n");

    int nf = 0;
    for (int i = 0; i < h->n; i++) nf += h->pts[i].on_front;
    strbuf_printf(b, "<h3>Front (%d points) and all %d fully evaluated points</h3>"
                     "<p class=note>Click a column header to sort.</p><div class=scroll><table class=sort>", nf, h->n);
    strbuf_str(b, point_head);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < h->n; i++)
            if (h->pts[i].on_front == !pass) point_row(b, &h->pts[i], NULL);
    strbuf_str(b, "</tbody></table></div><p class=note>Front points first; the rest follow.</p>\n");
}

static void page(struct rh *h)
{
    struct strbuf *b = h->b;
    strbuf_str(b, "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
                  "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
                  "script-src 'unsafe-inline'; img-src data:\">"
                  "<meta name=viewport content=\"width=device-width,initial-scale=1\"><title>rn50-tune report: ");
    html_text(b, h->run.objective);
    strbuf_str(b, ", budget ");
    html_text(b, h->run.budget);
    strbuf_printf(b, "</title><style>%s</style></head><body>\n<h1>rn50-tune run: objective ", page_style);
    html_text(b, h->run.objective);
    strbuf_str(b, ", budget ");
    html_text(b, h->run.budget);
    strbuf_str(b, "</h1><p class=lead>");
    html_text(b, h->run_dir);
    strbuf_str(b, " &middot; model ");
    html_text(b, h->run.model);
    strbuf_str(b, "</p><nav><a href=\"#summary\">Summary</a><a href=\"#plots\">Pareto plots</a><a href=\"#sensitivity\">"
                  "Layer sensitivity</a><a href=\"#layers\">Chosen config per layer</a><a href=\"#budget\">Budget decision</a>"
                  "<a href=\"#versions\">Reproduce</a></nav>\n");
    section_summary(h);
    rh_section_plots(h);
    rh_section_heatmap(h);
    rh_section_layers(h);
    rh_section_budget(h);
    rh_section_versions(h);
    strbuf_printf(b, "<script>%s</script>\n</body></html>\n", page_script);
}

int report_html_write(const char *run_dir, const struct resnet *net)
{
    struct rh h;
    memset(&h, 0, sizeof h);
    h.run_dir = run_dir;
    struct resnet *own = NULL;
    struct strbuf b = { 0 };
    h.b = &b;
    int rc = rh_load(&h, net, &own);
    if (!rc) {
        page(&h);
        rc = file_save_strbuf(run_dir, "report.html", &b);
    }
    free(b.p);
    free(h.pts);
    free(h.rows);
    compress_plan_free(&h.plan);
    cost_model_free(h.cost);
    resnet_free(own);
    return rc;
}
