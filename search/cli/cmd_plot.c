/* cmd_plot.c — `rn50-tune plot results/RUN`: redraws a run's Pareto plots from its files alone
 * (points.csv and front.json, see report.h), e.g. after installing gnuplot or editing a table. */
#include "cli.h"
#include "plots.h"
#include "report.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char plot_usage[] =
    "usage: rn50-tune plot RUN_DIR [--json]\n"
    "\n"
    "Redraws RUN_DIR/plots/ from RUN_DIR/points.csv and RUN_DIR/front.json (what `rn50-tune tune`\n"
    "wrote): top-1 against size, top-1 against predicted latency, size against latency coloured by\n"
    "top-1; the front highlighted, the baseline marked, the budget line drawn, the chosen point\n"
    "labelled. PNG and SVG through gnuplot; without gnuplot, a warning, and the data files and the\n"
    "gnuplot scripts are still written (run `gnuplot *.gp` in RUN_DIR/plots later).\n"
    "\n"
    "example: rn50-tune plot results/size-5pct\n";

int cmd_plot(int argc, char **argv)
{
    const char *run_dir = NULL;
    int json = 0, rc = STATUS_OK;
    if (cli_run_dir_args(argc, argv, plot_usage, &run_dir, &json, &rc)) return 0;
    if (rc) return cli_fail(rc);

    /* Read the tables through the report's strict reader first: a damaged table is an error with
     * its file and line, never a half-drawn plot. */
    struct report_run run;
    struct report_point *pts = NULL;
    int n = 0, drew = 0;
    if ((rc = report_read_tables(run_dir, &run, &pts, &n))) return cli_fail(rc);
    int n_front = 0;
    for (int i = 0; i < n; i++) n_front += pts[i].on_front != 0;
    free(pts);
    printf("plot: %s: %d points, %d on the front\n", run_dir, n, n_front);
    if ((rc = plots_draw_ex(run_dir, &drew))) return cli_fail(rc);
    printf("plot: %s/plots: %s\n", run_dir, drew ? "PNG and SVG drawn" : "data and gnuplot scripts only (no images)");
    if (json) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/plots", run_dir);
        struct jout j;
        jout_begin(&j, stdout);
        jout_str(&j, "command", "plot");
        jout_str(&j, "run", run_dir);
        jout_str(&j, "plots_dir", dir);
        jout_int(&j, "points", n);
        jout_int(&j, "front", n_front);
        jout_raw(&j, "drew", drew ? "true" : "false");
        jout_end(&j);
    }
    return 0;
}
