/* report_html_int.h — what the report page's sections share (report_html.c, report_plots.c,
 * report_layers.c, report_decision.c): the run's inputs as loaded once. Internal to those files. */
#ifndef RN_REPORT_HTML_INT_H
#define RN_REPORT_HTML_INT_H

#include "compress.h"
#include "db.h"
#include "provenance.h"
#include "report.h"
#include "resnet.h"
#include "strbuf.h"

#include <stdint.h>

struct cost_model;

struct rh {
    const char *run_dir;
    struct report_run run;
    struct report_point *pts;       /* points.csv: every fully evaluated point */
    int n;
    struct db_eval *rows;           /* results.db: every evaluation */
    int n_rows;
    int64_t n_val;                  /* val images of a full evaluation (the baseline's) */
    struct provenance prov;
    const struct resnet *net;       /* the model's architecture, or NULL (net_note says why) */
    char net_note[512];
    struct compress_plan plan;      /* the chosen point's config resolved on net */
    int have_plan;
    char plan_note[512];
    struct cost_model *cost;        /* the device profile, or NULL (cost_note says why) */
    char cost_note[512];
    double budget_points;           /* the budget in points of top-1 (relative budgets converted) */
    struct strbuf *b;
};

/* A point of the run's chosen config per layer: "fp16", "pal4", "prune90", "w8a8", "w8a16", or
 * "" when it is none of the sensitivity choices (e.g. pruned and palettized). */
void rh_layer_choice(const struct layer_plan *lp, char *out, size_t n);

/* Opens a row of a two-column table: <tr><th>key</th><td> (key is markup, not escaped). */
void rh_kv(struct strbuf *b, const char *key);

void rh_section_plots(struct rh *h);    /* report_plots.c */
void rh_section_heatmap(struct rh *h);  /* report_layers.c */
void rh_section_layers(struct rh *h);   /* report_layers.c */
void rh_section_budget(struct rh *h);   /* report_decision.c */
void rh_section_versions(struct rh *h); /* report_decision.c */

#endif
