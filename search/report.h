/* report.h — what a search run leaves in results/RUN/ (SPEC §7, issue 7): the tables of every
 * point and of the front (CSV and JSON), the summary table, the plots and the chosen config as
 * coremltools YAML. The search driver fills these structs; the writers below know nothing of the
 * search, so `rn50-tune plot results/RUN` can redraw from the files alone.
 *
 * Files, all written atomically (a crash leaves the previous version or none):
 *   points.csv   every evaluated point, columns
 *                id,workflow,config,top1_val,top1_test,bytes,latency_ms,latency_measured_ms,seconds,
 *                stage,mixed,within_budget,on_front,chosen
 *   front.csv    the same columns, front points only (sorted by bytes)
 *   front.json   {"run": {...report_run...}, "front": [...points...]}
 *   summary.md   a table like SPEC §2's (workflow, best config, top-1 val/test, size, latency,
 *                time to compress) plus hypervolume and number of evaluations and, when the
 *                chosen point is mixed, its change in size and latency (predicted, measured)
 *                against the best global config within budget
 *   plots/       accuracy-size, accuracy-latency, size-latency (coloured by accuracy), PNG and SVG
 *   chosen/      the chosen point's config: coremltools YAML per family, torch-side, ours
 * Unknown numbers (a test accuracy not evaluated, no measured latency) are NaN in the structs and
 * empty fields in CSV, null in JSON. */
#ifndef RN_REPORT_H
#define RN_REPORT_H

#include <stddef.h>
#include <stdint.h>

struct report_point {
    int64_t id;                  /* the store's id of the evaluation */
    char workflow[16];           /* ptq | calib | finetune */
    char config[256];            /* path of the point's config file, relative to the run dir */
    char stage[16];              /* global | sensitivity | mixed | nsga2 | finetune | baseline */
    double top1_val, top1_test;  /* percent */
    double bytes;                /* deployment size (Core ML mlpackage model, compress/size.h) */
    double latency_ms;           /* the device cost model's prediction */
    double latency_measured_ms;  /* measured on cpu-local for front points, else NaN */
    double seconds;              /* time to compress (not to evaluate) */
    int mixed;                   /* 1: per-layer mixed config, 0: one global config */
    int within_budget;           /* top1_val meets the budget */
    int on_front;                /* non-dominated in (top1_val, bytes, latency_ms) */
    int chosen;                  /* the point the objective picks */
};

struct report_run {
    char model[256];             /* model name or path, as given */
    char weights[256];           /* weights path, "" for the embedded default */
    char data[64];               /* dataset name */
    char device[64];             /* cost model device */
    char objective[16];          /* size | latency | accuracy */
    char budget[32];             /* as given: "5%" or "5%rel" */
    double baseline_top1_val, baseline_top1_test;
    double baseline_bytes, baseline_latency_ms;
    double threshold_top1;       /* the top1_val a point needs to meet the budget */
    double confidence;           /* the one-sided level of the paired lower bound that must clear
                                  * threshold_top1; 0: the val figure itself; NaN: not recorded
                                  * (runs before the interval rule) */
    double chosen_top1_val_low;  /* the chosen point's lower bound at that level; NaN: none */
    char best_effort[512];       /* when no point met the budget: which limit failed and the
                                  * nearest points, in words; "" otherwise */
    int64_t chosen_id;           /* -1 when no point meets the budget (best effort reported) */
    int budget_met;              /* 0: no point met the budget; chosen_id is the best effort */
    int n_evaluations;           /* evaluations run (not loaded from the store) this time */
    int n_points;                /* points in total */
    double hypervolume;          /* of the front, reference point stated in summary.md */
    double seconds;              /* wall time of the run */
    char hypervolume_ref[128];   /* the hypervolume's reference point in words, e.g.
                                  * "top-1 80 %, 60 MiB, 120 ms"; "" when not recorded */
};

/* Writes points.csv, front.csv, front.json and summary.md into run_dir (which exists), each
 * atomically. Numbers are written in the shortest form that reads back to the same double; NaN
 * and infinities become empty CSV fields and JSON nulls. Text fields are quoted per RFC 4180
 * when they hold a comma, a quote or a line break. front.csv holds exactly the points with
 * on_front set, sorted by bytes (ties by id). summary.md states whether the budget was met and,
 * when not, that the chosen point is the best effort. Returns STATUS_OK, STATUS_IO (the message
 * names the file) or STATUS_NOMEM. */
int report_write_tables(const char *run_dir, const struct report_run *run, const struct report_point *pts, int n);

/* Reads back what report_write_tables wrote (points from points.csv, run from front.json);
 * *pts is malloc'd (free it), NULL when n is 0. Columns are found by header name, so extra
 * columns are ignored; a missing column, a non-number or an over-long text field is
 * STATUS_BAD_INPUT naming file:line and column. */
int report_read_tables(const char *run_dir, struct report_run *run, struct report_point **pts, int *n);

/* The chosen point of pts (flag chosen, or id run->chosen_id), or NULL. */
const struct report_point *report_chosen(const struct report_run *run, const struct report_point *pts, int n);
/* The best global (not mixed) point within the budget for the run's objective, a point with a
 * measured latency going first among ties; NULL when none. */
const struct report_point *report_best_global(const struct report_run *run, const struct report_point *pts, int n);
/* The best point of one workflow (baseline excluded) for the objective among those within the
 * budget (*within = 1), else its most accurate point (*within = 0); NULL when it has none. */
const struct report_point *report_best_of_workflow(const struct report_run *run, const struct report_point *pts, int n,
                                                   const char *workflow, int *within);

/* The number format of the writers, exposed for the tests: the shortest "%.*g"
 * (15..17 digits) that reads back to v. */
void report_format_double(char *buf, size_t cap, double v);

#endif
