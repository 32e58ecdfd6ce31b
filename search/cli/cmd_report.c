/* cmd_report.c — `rn50-tune report RUN_DIR`: rebuilds a run's report.html (report_html.h) from
 * the files the run left, e.g. for a run made before the page existed or after a tool update. */
#include "cli.h"
#include "report_html.h"
#include "status.h"

#include <stdio.h>

static const char report_usage[] =
    "usage: rn50-tune report RUN_DIR [--json]\n"
    "\n"
    "Writes RUN_DIR/report.html, one self-contained page (no network, no external files): the\n"
    "summary and the best point per workflow, the three Pareto plots with every evaluated point,\n"
    "the per-layer sensitivity heat map, the chosen config per layer, how the budget decision was\n"
    "made, and the commands and versions that reproduce the run. Reads points.csv, front.json and\n"
    "results.db (required: a missing one is an error naming it, exit 2, and nothing is written),\n"
    "the chosen point's config and the device profile (optional: the page says what is missing).\n"
    "`rn50-tune tune` writes the same page at the end of every run.\n"
    "\n"
    "example: rn50-tune report results/search/size-5p\n";

int cmd_report(int argc, char **argv)
{
    const char *run_dir = NULL;
    int json = 0, rc = STATUS_OK;
    if (cli_run_dir_args(argc, argv, report_usage, &run_dir, &json, &rc)) return 0;
    if (!rc) rc = report_html_write(run_dir, NULL);
    if (rc) return cli_fail(rc);
    char path[4096];
    snprintf(path, sizeof path, "%s/report.html", run_dir);
    printf("report: %s written\n", path);
    if (json) {
        struct jout j;
        jout_begin(&j, stdout);
        jout_str(&j, "command", "report");
        jout_str(&j, "run", run_dir);
        jout_str(&j, "report", path);
        jout_end(&j);
    }
    return 0;
}
