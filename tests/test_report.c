/* test_report.c — the run report's tables (search/report.c): written then read back exactly,
 * CSV quoting of commas, quotes and line breaks in config paths, NaN as empty fields and JSON
 * null, front.csv holding exactly the on_front points sorted by size, summary.md's statements
 * for a met and a missed budget, and the reader's errors with file and line. */
#include "check.h"
#include "csv_table.h"
#include "report.h"
#include "status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

/* NaN-aware exact equality: what was written must read back bit for bit. */
static int same(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static int point_equal(const struct report_point *a, const struct report_point *b)
{
    return a->id == b->id && !strcmp(a->workflow, b->workflow) && !strcmp(a->config, b->config) &&
           !strcmp(a->stage, b->stage) && same(a->top1_val, b->top1_val) && same(a->top1_test, b->top1_test) &&
           same(a->bytes, b->bytes) && same(a->latency_ms, b->latency_ms) &&
           same(a->latency_measured_ms, b->latency_measured_ms) && same(a->seconds, b->seconds) &&
           a->mixed == b->mixed && a->within_budget == b->within_budget && a->on_front == b->on_front &&
           a->chosen == b->chosen;
}

static struct report_point mk(int64_t id, const char *wf, const char *cfg, const char *stage, double v, double t,
                              double bytes, double lat, double meas, double sec, int mixed, int within, int front,
                              int chosen)
{
    struct report_point p;
    memset(&p, 0, sizeof p);
    p.id = id;
    snprintf(p.workflow, sizeof p.workflow, "%s", wf);
    snprintf(p.config, sizeof p.config, "%s", cfg);
    snprintf(p.stage, sizeof p.stage, "%s", stage);
    p.top1_val = v;
    p.top1_test = t;
    p.bytes = bytes;
    p.latency_ms = lat;
    p.latency_measured_ms = meas;
    p.seconds = sec;
    p.mixed = mixed;
    p.within_budget = within;
    p.on_front = front;
    p.chosen = chosen;
    return p;
}

static void fill_run(struct report_run *r, int met, int64_t chosen)
{
    memset(r, 0, sizeof *r);
    snprintf(r->model, sizeof r->model, "rn50-fmnist");
    snprintf(r->data, sizeof r->data, "fmnist");
    snprintf(r->device, sizeof r->device, "cpu-local");
    snprintf(r->objective, sizeof r->objective, "size");
    snprintf(r->budget, sizeof r->budget, "5%%");
    snprintf(r->hypervolume_ref, sizeof r->hypervolume_ref, "top-1 0 %%, 50 MiB, 200 ms");
    r->baseline_top1_val = 93.72;
    r->baseline_top1_test = 93.4;
    r->baseline_bytes = 47091712;
    r->baseline_latency_ms = 81.25;
    r->threshold_top1 = 88.72;
    r->chosen_id = chosen;
    r->budget_met = met;
    r->n_evaluations = 4;
    r->n_points = 5;
    r->hypervolume = 1.0 / 3.0 * 1e12;
    r->seconds = NAN;   /* unknown must survive as null */
}

static void test_round_trip(const char *dir)
{
    /* Awkward values on purpose: 0.1 needs 17 digits, a path with commas, quotes and a line
     * break, NaNs in every numeric column, a duplicate size on the front (tie broken by id). */
    struct report_point pts[] = {
        mk(7, "ptq", "configs/a,b \"quoted\".yaml", "global", 93.1, 92.95, 23545856, 40.5, 39.25, 1.5, 0, 1, 1, 0),
        mk(3, "calib", "c/line\nbreak.yaml", "mixed", 0.1, NAN, 11772928, 38.125, NAN, 12.0, 1, 1, 1, 1),
        mk(9, "ptq", "c/plain.yaml", "global", 80.0, 79.5, 5886464, 36, NAN, 0.25, 0, 0, 1, 0),
        mk(4, "ptq", "c/dominated.yaml", "nsga2", 85.0, 84.0, 23545856, 50, NAN, 2, 1, 0, 0, 0),
        mk(11, "calib", "c/tie.yaml", "global", 91.0, NAN, 11772928, 37, NAN, NAN, 0, 1, 1, 0),
    };
    const int n = (int)(sizeof pts / sizeof *pts);
    struct report_run run;
    fill_run(&run, 1, 3);
    CHECK(report_write_tables(dir, &run, pts, n) == 0);

    struct report_run back;
    struct report_point *rp = NULL;
    int rn = -1;
    CHECK(report_read_tables(dir, &back, &rp, &rn) == 0);
    CHECK(rn == n);
    for (int i = 0; i < n && i < rn; i++) CHECK(point_equal(&pts[i], &rp[i]));
    CHECK(!strcmp(back.model, run.model) && !strcmp(back.budget, run.budget) && !strcmp(back.objective, "size"));
    CHECK(!strcmp(back.hypervolume_ref, run.hypervolume_ref));
    CHECK(back.weights[0] == '\0');
    CHECK(back.baseline_top1_val == run.baseline_top1_val && back.baseline_bytes == run.baseline_bytes);
    CHECK(back.threshold_top1 == run.threshold_top1 && back.hypervolume == run.hypervolume);
    CHECK(isnan(back.seconds));
    CHECK(back.chosen_id == 3 && back.budget_met == 1 && back.n_evaluations == 4 && back.n_points == 5);
    free(rp);

    /* The raw files: quoting, empty fields for NaN, null in JSON. */
    char path[512];
    snprintf(path, sizeof path, "%s/points.csv", dir);
    char *csv = slurp(path);
    CHECK(csv && strstr(csv, "id,workflow,config,top1_val,top1_test,bytes,latency_ms,latency_measured_ms,seconds,"
                             "stage,mixed,within_budget,on_front,chosen\n") == csv);
    CHECK(csv && strstr(csv, "\"configs/a,b \"\"quoted\"\".yaml\""));
    CHECK(csv && strstr(csv, "\"c/line\nbreak.yaml\""));
    CHECK(csv && strstr(csv, "3,calib,\"c/line\nbreak.yaml\",0.1,,11772928,38.125,,12,mixed,1,1,1,1\n"));
    CHECK(csv && strstr(csv, "11,calib,c/tie.yaml,91,,11772928,37,,,global,0,1,1,0\n"));
    free(csv);

    /* front.csv: exactly the on_front points, by size then id. */
    struct csv_table t;
    snprintf(path, sizeof path, "%s/front.csv", dir);
    CHECK(csv_table_read(path, &t) == 0);
    CHECK(t.n_rows == 4);
    const int idc = csv_table_col(&t, "id");
    static const char *want[] = { "9", "3", "11", "7" };
    for (int r = 0; r < t.n_rows && r < 4; r++) CHECK(!strcmp(csv_table_get(&t, r, idc), want[r]));
    const int cc = csv_table_col(&t, "config");
    CHECK(t.n_rows == 4 && !strcmp(csv_table_get(&t, 3, cc), "configs/a,b \"quoted\".yaml"));
    CHECK(t.n_rows == 4 && t.line[1] == 3 && t.line[2] == 5);   /* the quoted line break spans lines 3-4 */
    csv_table_free(&t);

    snprintf(path, sizeof path, "%s/front.json", dir);
    char *js = slurp(path);
    CHECK(js && strstr(js, "\"seconds\": null"));
    CHECK(js && strstr(js, "\"top1_test\": null"));
    CHECK(js && (strstr(js, "\"config\": \"c/line\\nbreak.yaml\"") || strstr(js, "\"config\": \"c/line\\u000abreak.yaml\"")));
    CHECK(js && !strstr(js, "dominated.yaml"));   /* off the front */
    CHECK(js && !strstr(js, "nan") && !strstr(js, "NaN"));
    free(js);

    snprintf(path, sizeof path, "%s/summary.md", dir);
    char *md = slurp(path);
    CHECK(md && strstr(md, "point 3 meets the budget"));
    CHECK(md && strstr(md, "| chosen | `c/line break.yaml` (calib, mixed): top-1 0.10 % val, n/a test; 11.23 MiB; "
                           "38.1 ms predicted, n/a measured;"));
    CHECK(md && strstr(md, "| baseline | uncompressed (fp16) | 93.72 | 93.40 |"));
    CHECK(md && strstr(md, "reference point: top-1 0 %, 50 MiB, 200 ms"));
    CHECK(md && strstr(md, "4 run this time, 5 points in total"));
    CHECK(md && strstr(md, "| calib | `c/line break.yaml` **(chosen)** |"));
    CHECK(md && strstr(md, "## Front (4 points, by size)"));
    CHECK(md && !strstr(md, "no point met"));
    /* The mixed choice against the best global point within budget: c/tie.yaml (same bytes,
     * smaller than c/a,b...), 38.125 / 37 ms = +3.04 %, no measurement. */
    CHECK(md && strstr(md, "| against the best global config | `c/tie.yaml`: top-1 91.00 % val, 11772928 bytes, 37 ms predicted, "
                           "n/a measured; the chosen point is +0.0 % in size, +3.04 % in predicted latency, n/a measured |"));
    free(md);
}

static void test_budget_missed(const char *dir)
{
    struct report_point pts[] = {
        mk(1, "ptq", "c/1.yaml", "global", 70.0, 69.0, 6e6, 30, NAN, 1, 0, 0, 1, 0),
        mk(2, "ptq", "c/2.yaml", "global", 86.5, 86.0, 12e6, 35, NAN, 1, 0, 0, 1, 1),
    };
    struct report_run run;
    fill_run(&run, 0, 2);
    CHECK(report_write_tables(dir, &run, pts, 2) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/summary.md", dir);
    char *md = slurp(path);
    CHECK(md && strstr(md, "**no point met the budget**; the best effort is point 2 (top-1 on val 86.50 %, 2.22 points "
                           "below the threshold)"));
    CHECK(md && strstr(md, "| ptq | `c/2.yaml` *outside budget* **(chosen)** |"));
    free(md);

    /* An empty run still writes valid tables. */
    CHECK(report_write_tables(dir, &run, NULL, 0) == 0);
    struct report_point *rp = (struct report_point *)1;
    int rn = -1;
    struct report_run back;
    CHECK(report_read_tables(dir, &back, &rp, &rn) == 0);
    CHECK(rn == 0 && rp == NULL);
}

static void test_reader_errors(const char *dir)
{
    char path[512];
    struct report_run back;
    struct report_point *rp = NULL;
    int rn = 0;
    struct report_run run;
    fill_run(&run, 1, -1);
    CHECK(report_write_tables(dir, &run, NULL, 0) == 0);   /* a valid front.json */
    snprintf(path, sizeof path, "%s/points.csv", dir);

    static const struct {
        const char *csv, *msg;
    } bad[] = {
        { "id,workflow\n1,ptq\n", "points.csv:1: no column 'config'" },
        { "id,workflow,config,top1_val,top1_test,bytes,latency_ms,latency_measured_ms,seconds,stage,mixed,within_budget,"
          "on_front,chosen\n1,ptq,c,abc,,1,1,,1,global,0,1,1,0\n",
          "points.csv:2: column 'top1_val': 'abc' is not a number" },
        { "id,workflow,config,top1_val,top1_test,bytes,latency_ms,latency_measured_ms,seconds,stage,mixed,within_budget,"
          "on_front,chosen\n1,ptq,c,1,,1,1,,1,global,0,1,1,0\nx,ptq,c,1,,1,1,,1,global,0,1,1,0\n",
          "points.csv:3: column 'id': 'x' is not an integer" },
        { "id,workflow,config,top1_val,top1_test,bytes,latency_ms,latency_measured_ms,seconds,stage,mixed,within_budget,"
          "on_front,chosen\n1,ptq,c,1,,1,1,,1,global,2,1,1,0\n",
          "points.csv:2: column 'mixed': '2' is not 0 or 1" },
        { "id,workflow,config,top1_val,top1_test,bytes,latency_ms,latency_measured_ms,seconds,stage,mixed,within_budget,"
          "on_front,chosen\n1,ptq,\"open,1,,1,1,,1,global,0,1,1,0\n",
          "points.csv:2: a quoted field is never closed" },
        { "id,workflow,config,top1_val,top1_test,bytes,latency_ms,latency_measured_ms,seconds,stage,mixed,within_budget,"
          "on_front,chosen\n1,ptq,c,1\n",
          "points.csv:2: 4 fields, expected 14" },
        { "a,b\n1,x\"y\n", "points.csv:2: a double quote inside an unquoted field" },
        { "", "points.csv:1: empty file" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        spit(path, bad[k].csv);
        status_clear();
        const int rc = report_read_tables(dir, &back, &rp, &rn);
        CHECK(rc == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), bad[k].msg) != NULL);
        if (!strstr(status_message(), bad[k].msg)) fprintf(stderr, "  case %zu: got '%s'\n", k, status_message());
    }
    snprintf(path, sizeof path, "%s/front.json", dir);
    spit(path, "{\"run\": {\"model\": 3}}");
    CHECK(report_read_tables(dir, &back, &rp, &rn) == STATUS_BAD_INPUT);
    CHECK(strstr(status_message(), "front.json: run.model: expected a string") != NULL);
    remove(path);
    CHECK(report_read_tables(dir, &back, &rp, &rn) == STATUS_IO);
}

static void test_number_format(void)
{
    const double v[] = { 0.1, 93.72, 1.0 / 3.0, 47091712, 1e-300, -2.5, 123456789012345678.0 };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char s[40];
        report_format_double(s, sizeof s, v[i]);
        CHECK(strtod(s, NULL) == v[i]);
    }
    char s[40];
    report_format_double(s, sizeof s, 93.72);
    CHECK(!strcmp(s, "93.72"));   /* shortest form, not 93.719999999999999 */
    report_format_double(s, sizeof s, NAN);
    CHECK(s[0] == '\0');
    report_format_double(s, sizeof s, INFINITY);
    CHECK(s[0] == '\0');
}

/* Latency objective, a mixed choice: the best global config is taken among those equal for the
 * objective from the measured one (id 5 over id 4, which alone would win the tie by id). */
static void test_against_global(const char *dir)
{
    struct report_point pts[] = {
        mk(4, "calib", "c/w8a8.yaml", "global", 93.7, 93.3, 1679771, 1.0434, NAN, 0.5, 0, 1, 0, 0),
        mk(5, "calib", "c/prune25-w8a8.yaml", "global", 93.74, 93.14, 1526171, 1.0434, 0.994, 0.5, 0, 1, 1, 0),
        mk(6, "calib", "c/m.yaml", "mixed", 90.2, 90.03, 1647762, 1.0374, 1.0269, 0.45, 1, 1, 1, 1),
    };
    struct report_run run;
    fill_run(&run, 1, 6);
    snprintf(run.objective, sizeof run.objective, "latency");
    CHECK(report_write_tables(dir, &run, pts, 3) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/summary.md", dir);
    char *md = slurp(path);
    CHECK(md && strstr(md, "| against the best global config | `c/prune25-w8a8.yaml`: top-1 93.74 % val, 1526171 bytes, 1.043 ms "
                           "predicted, 0.994 ms measured; the chosen point is +8.0 % in size, -0.58 % in predicted latency, "
                           "+3.31 % measured |"));
    free(md);
    /* Both tied points measured: the faster one (id 4 now), whatever the ids. */
    pts[0].latency_measured_ms = 0.98;
    pts[0].on_front = 1;
    CHECK(report_write_tables(dir, &run, pts, 3) == 0);
    md = slurp(path);
    CHECK(md && strstr(md, "| against the best global config | `c/w8a8.yaml`: top-1 93.70 % val, 1679771 bytes, 1.043 ms "
                           "predicted, 0.98 ms measured;"));
    free(md);
    pts[0].latency_measured_ms = 1.2;
    CHECK(report_write_tables(dir, &run, pts, 3) == 0);
    md = slurp(path);
    CHECK(md && strstr(md, "| against the best global config | `c/prune25-w8a8.yaml`"));
    free(md);
}

int main(void)
{
    char dir[] = "/tmp/rn50_test_report_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_number_format();
    test_round_trip(dir);
    test_budget_missed(dir);
    test_against_global(dir);
    test_reader_errors(dir);
    static const char *files[] = { "points.csv", "front.csv", "front.json", "summary.md" };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        remove(p);
    }
    rmdir(dir);
    return check_summary();
}
