/* report_decision.c — the report page's last two sections (report_html.h): how the budget
 * decision was made (the rule the run applied, its figures, intervals computed from the stored
 * counts for reading them) and how to reproduce the run (its recorded command and versions, or
 * what can be reconstructed for a run that predates them). */
#include "html.h"
#include "pareto.h"
#include "provenance.h"
#include "report_html_int.h"
#include "tune.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rh_section_budget(struct rh *h)
{
    struct strbuf *b = h->b;
    const struct report_run *r = &h->run;
    const struct report_point *c = report_chosen(r, h->pts, h->n);
    const int rel = strstr(r->budget, "rel") != NULL;
    const double budget = strtod(r->budget, NULL);
    const double thr_budget = pareto_budget_threshold(r->baseline_top1_val, budget, rel ? PARETO_BUDGET_RELATIVE : PARETO_BUDGET_ABSOLUTE);
    const double margin = r->threshold_top1 - thr_budget;
    strbuf_str(b, "<h2 id=budget>How the budget decision was made</h2>");
    const int interval = isfinite(r->confidence) && r->confidence > 0;
    if (interval)
        strbuf_printf(b, "<p><b>Rule used by this run:</b> a point is within the budget when the lower end of a one-sided %g %% "
                         "interval of its top-1 on the <i>whole</i> val split (%" PRId64 " images), paired with the baseline on the "
                         "same images (the baseline's val top-1 plus a Wilson bound on the share of their disagreements the point "
                         "wins), is at least the threshold; the threshold is the baseline's val top-1 %s the budget, plus the margin "
                         "if one was given. The chosen point is the best for the objective (%s) among the front points within the "
                         "budget.</p><table class=kv>",
                      100.0 * r->confidence, h->n_val, rel ? "times (1 &minus; budget/100) for" : "minus", r->objective);
    else
        strbuf_printf(b, "<p><b>Rule used by this run:</b> a point is within the budget when its top-1 on the <i>whole</i> val split "
                         "(%" PRId64 " images) is at least the threshold; the threshold is the baseline's val top-1 %s the budget plus "
                         "a fixed margin against the val/test gap. The chosen point is the best for the objective (%s) among the front "
                         "points within the budget. No confidence interval enters this rule; the intervals below are shown for "
                         "reading the figures and are computed from the stored counts.</p><table class=kv>",
                      h->n_val, rel ? "times (1 &minus; budget/100) for" : "minus", r->objective);
    rh_kv(b, "baseline val top-1");
    html_num(b, "%.2f %%", r->baseline_top1_val);
    strbuf_str(b, "</td></tr>");
    rh_kv(b, "budget");
    html_text(b, r->budget);
    html_num(b, " &rarr; %.2f %%", thr_budget);
    strbuf_str(b, "</td></tr>");
    rh_kv(b, "margin");
    html_num(b, "%+.2f points", margin);
    strbuf_str(b, "</td></tr>");
    rh_kv(b, "threshold (val)");
    html_num(b, "<b>%.2f %%</b>", r->threshold_top1);
    strbuf_str(b, "</td></tr>");
    const struct db_eval *e = NULL;
    for (int i = 0; c && i < h->n_rows; i++)
        if (h->rows[i].id == c->id) e = &h->rows[i];
    if (c && e && e->n_images > 0) {
        double lo, hi, qlo, qhi;
        tune_wilson(e->correct, e->n_images, 1.96, &lo, &hi);
        if (interval && isfinite(r->chosen_top1_val_low)) {
            rh_kv(b, "chosen point, the rule's figure");
            strbuf_printf(b, "<b>%.2f %%</b>: the lower end of its one-sided %g %% paired interval; %s the threshold by %.2f points",
                          r->chosen_top1_val_low, 100.0 * r->confidence, r->chosen_top1_val_low >= r->threshold_top1 ? "above" : "below",
                          fabs(r->chosen_top1_val_low - r->threshold_top1));
            strbuf_str(b, "</td></tr>");
        }
        if (r->best_effort[0]) {
            rh_kv(b, "why no point met the budget");
            html_text(b, r->best_effort);
            strbuf_str(b, "</td></tr>");
        }
        rh_kv(b, "chosen point, val");
        strbuf_printf(b, "<b>%.2f %%</b> (%" PRId64 " of %" PRId64 " images); %s the threshold by %.2f points", c->top1_val,
                      e->correct, e->n_images, c->top1_val >= r->threshold_top1 ? "above" : "below", fabs(c->top1_val - r->threshold_top1));
        strbuf_str(b, "</td></tr>");
        rh_kv(b, "its 95 % interval (Wilson)");
        strbuf_printf(b, "%.2f &ndash; %.2f %% (binomial, z = 1.96, on %" PRId64 " of %" PRId64 ")", lo, hi, e->correct, e->n_images);
        /* The paired view: of the images where the point and the baseline disagree, the share it
         * wins bounds its difference to the baseline much more tightly than two binomials. */
        const int64_t m = e->lost + e->gained;
        tune_wilson(e->gained, m, 1.96, &qlo, &qhi);
        strbuf_str(b, "</td></tr>");
        rh_kv(b, "paired with the baseline");
        strbuf_printf(b, "%" PRId64 " images lost, %" PRId64 " gained: difference %+.2f points, 95 %% interval %+.2f to %+.2f "
                         "(Wilson on the disagreements, McNemar-style)", e->lost, e->gained, -100.0 * (double)(e->lost - e->gained) / (double)e->n_images,
                      m ? 100.0 * (double)m * (2 * qlo / 100 - 1) / (double)e->n_images : 0.0,
                      m ? 100.0 * (double)m * (2 * qhi / 100 - 1) / (double)e->n_images : 0.0);
        strbuf_str(b, "</td></tr>");
    } else {
        strbuf_str(b, "<tr><td colspan=2 class=missing>the chosen point's val evaluation is not in results.db: no counts for an interval</td></tr>");
    }
    if (c) {
        const double thr_test = pareto_budget_threshold(r->baseline_top1_test, budget, rel ? PARETO_BUDGET_RELATIVE : PARETO_BUDGET_ABSOLUTE);
        rh_kv(b, "chosen point, test");
        html_num(b, "<b>%.2f %%</b>", c->top1_test);
        html_num(b, " against the budget on test (baseline test %.2f %%", r->baseline_top1_test);
        html_num(b, " &rarr; %.2f %%): ", thr_test);
        strbuf_str(b, !isfinite(c->top1_test) ? "not evaluated on test" : c->top1_test >= thr_test ? "within the budget on test too" : "<b>outside the budget on test</b>");
        strbuf_str(b, " (test is reported, never used to decide)</td></tr>");
    }
    strbuf_str(b, "</table><p class=note>Screening (before a point is evaluated on the whole val split) promotes a candidate "
                  "only while the upper end of a Wilson interval on its paired disagreements with the baseline, on a prefix of "
                  "val, could meet the budget (search/tune.h); the final decision above uses whole-split figures only.</p>\n");
}

void rh_section_versions(struct rh *h)
{
    struct strbuf *b = h->b;
    const struct provenance *p = &h->prov;
    strbuf_str(b, "<h2 id=versions>Reproduce</h2>");
    if (p->found && p->command[0]) {
        strbuf_str(b, "<p>The command this run was made with (its last invocation):</p><pre>");
        html_text(b, p->command);
    } else {
        strbuf_str(b, "<p class=missing>This run did not record its command line (runs before issue 21 did not). Reconstructed "
                      "from front.json; options it did not store (screening prefixes, margin, seed) are assumed at their defaults:</p><pre>");
        strbuf_str(b, "rn50-tune tune");
        const char *const opt[] = { "--objective", "--budget", "--model", "--weights", "--data", "--device" };
        const char *const val[] = { h->run.objective, h->run.budget, h->run.model, h->run.weights, h->run.data, h->run.device };
        for (int i = 0; i < 6; i++) {
            if (!val[i][0]) continue;
            char q[1024];
            provenance_quote(val[i], q, sizeof q);   /* a path with a space or a ';' stays one word */
            strbuf_printf(b, " %s ", opt[i]);
            html_text(b, q);
        }
        strbuf_str(b, " --out RUN");
    }
    strbuf_str(b, "\nrn50-tune report RUN    # rebuilds this page from RUN's files</pre>");
    char path[4096], line[1024];
    snprintf(path, sizeof path, "%s/log", h->run_dir);
    FILE *f = p->found ? NULL : fopen(path, "r");
    if (f && fgets(line, sizeof line, f)) {   /* optional: a run's stderr kept by hand as RUN/log */
        line[strcspn(line, "\n")] = '\0';
        strbuf_str(b, "<p>The first line of the run's <code>log</code> (its stderr):</p><pre>");
        html_text(b, line);
        strbuf_str(b, "</pre>");
    }
    if (f) fclose(f);
    strbuf_str(b, "<table class=kv>");
    const char *const name[] = { "commit", "CPU", "threads", "device profile", "started (UTC)" };
    const char *const val[] = { p->commit, p->cpu, p->threads, p->device, p->started };
    for (int i = 0; i < 5; i++) {
        rh_kv(b, name[i]);
        html_text(b, val[i][0] ? val[i] : "not recorded by this run");
        strbuf_str(b, "</td></tr>");
    }
    rh_kv(b, "page written by");
    strbuf_str(b, "rn50-tune at commit ");
    html_text(b, rn_build_commit);
    strbuf_str(b, "</td></tr></table>\n");
}
