/* test_plots.c — the Pareto plots (plots/plots.c) and `rn50-tune plot` (search/cli/cmd_plot.c) on a
 * small hand-built run: the data files hold the right points (the 2-D fronts by hand), gnuplot
 * (when installed) produces non-empty PNG and SVG files of each plot, and with PATH emptied the
 * call warns, still writes the data and the scripts, and succeeds. */
#include "check.h"
#include "cli.h"
#include "plots.h"
#include "report.h"
#include "status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/rn50_test_plots_XXXXXX";

static long file_size(const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static char *slurp(const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
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

static int gnuplot_on_path(void)
{
    const char *path = getenv("PATH");
    if (!path) return 0;
    char *copy = strdup(path);
    int found = 0;
    for (char *save = NULL, *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char p[1024];
        snprintf(p, sizeof p, "%s/gnuplot", d);
        found = access(p, X_OK) == 0;
    }
    free(copy);
    return found;
}

static struct report_point pt(int64_t id, double top1, double mib, double ms, int front, int chosen, double thr)
{
    struct report_point p;
    memset(&p, 0, sizeof p);
    p.id = id;
    snprintf(p.workflow, sizeof p.workflow, "ptq");
    snprintf(p.config, sizeof p.config, "points/%lld.yaml", (long long)id);
    snprintf(p.stage, sizeof p.stage, "global");
    p.top1_val = top1;
    p.top1_test = top1 - 0.3;
    p.bytes = mib * 1048576.0;
    p.latency_ms = ms;
    p.latency_measured_ms = front ? ms * 1.1 : NAN;
    p.seconds = 1;
    p.within_budget = top1 >= thr;
    p.on_front = front;
    p.chosen = chosen;
    return p;
}

static const char *images[] = { "plots/acc_size.png", "plots/acc_size.svg", "plots/acc_latency.png",
                                "plots/acc_latency.svg", "plots/size_latency.png", "plots/size_latency.svg" };
static const char *data[] = { "plots/points.dat", "plots/front.dat", "plots/baseline.dat",
                              "plots/acc_size_front2d.dat", "plots/acc_latency_front2d.dat",
                              "plots/size_latency_front2d.dat", "plots/acc_size.gp", "plots/acc_latency.gp",
                              "plots/size_latency.gp" };

static void remove_outputs(void)
{
    char p[512];
    for (size_t k = 0; k < sizeof images / sizeof *images; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, images[k]);
        remove(p);
    }
    for (size_t k = 0; k < sizeof data / sizeof *data; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, data[k]);
        remove(p);
    }
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const double thr = 88.0;
    /* Front in 3-D: 1, 2, 3, 5 (5 is the fastest); 4 and 6 dominated. In accuracy-size alone the
     * non-dominated points are 1, 2, 3 (5 is bigger and worse than 2); 7 has no accuracy. */
    struct report_point pts[] = {
        pt(1, 93.0, 24.0, 80, 1, 0, thr), pt(2, 91.0, 12.0, 78, 1, 1, thr), pt(3, 85.0, 6.0, 77, 1, 0, thr),
        pt(4, 84.0, 13.0, 90, 0, 0, thr), pt(5, 89.0, 20.0, 60, 1, 0, thr), pt(6, 90.0, 30.0, 85, 0, 0, thr),
        pt(7, NAN, 5.0, 70, 0, 0, thr),
    };
    struct report_run run;
    memset(&run, 0, sizeof run);
    snprintf(run.model, sizeof run.model, "rn50-fmnist");
    snprintf(run.objective, sizeof run.objective, "size");
    snprintf(run.budget, sizeof run.budget, "5%%");
    run.baseline_top1_val = 93.0;
    run.baseline_top1_test = 92.5;
    run.baseline_bytes = 45.0 * 1048576.0;
    run.baseline_latency_ms = 82;
    run.threshold_top1 = thr;
    run.chosen_id = 2;
    run.budget_met = 1;
    run.n_points = 7;
    run.hypervolume = NAN;
    CHECK(report_write_tables(dir, &run, pts, 7) == 0);

    /* 1: gnuplot as installed. */
    const int have = gnuplot_on_path();
    int drew = -1;
    CHECK(plots_draw_ex(dir, &drew) == 0);
    for (size_t k = 0; k < sizeof data / sizeof *data; k++) CHECK(file_size(data[k]) > 0);
    char *s = slurp("plots/acc_size_front2d.dat");
    CHECK(s && strstr(s, "\n6 85\n12 91\n24 93\n"));   /* sizes in MiB, sorted, 5 and 6 left out */
    free(s);
    s = slurp("plots/front.dat");
    CHECK(s && strstr(s, "\n3 85 6 77\n2 91 12 78\n5 89 20 60\n1 93 24 80\n"));
    free(s);
    s = slurp("plots/acc_size.gp");
    CHECK(s && strstr(s, "chosen #2") && strstr(s, "'baseline' at 45,93") && strstr(s, "budget 5%: top-1 >= 88.00 %"));
    CHECK(s && strstr(s, "pngcairo") && strstr(s, "set terminal svg"));
    free(s);
    if (have) {
        CHECK(drew == 1);
        for (size_t k = 0; k < sizeof images / sizeof *images; k++) CHECK(file_size(images[k]) > 0);
        s = slurp("plots/acc_size.png");
        CHECK(s && !memcmp(s, "\x89PNG", 4));
        free(s);
        s = slurp("plots/size_latency.svg");
        CHECK(s && strstr(s, "<svg"));
        free(s);
    } else {
        printf("SKIP (gnuplot part): gnuplot is not on PATH; only the data and scripts were checked\n");
        CHECK(drew == 0);
    }

    /* 1b: a run without latency figures (--device none): the latency plots are skipped, the
     * accuracy-size plot still drawn. */
    struct report_point nolat[7];
    memcpy(nolat, pts, sizeof nolat);
    for (int i = 0; i < 7; i++) nolat[i].latency_ms = nolat[i].latency_measured_ms = NAN;
    run.baseline_latency_ms = NAN;
    CHECK(report_write_tables(dir, &run, nolat, 7) == 0);
    drew = -1;
    CHECK(plots_draw_ex(dir, &drew) == 0);
    CHECK(drew == have);
    CHECK(file_size("plots/acc_size.gp") > 0 && file_size("plots/acc_latency.gp") < 0 &&
          file_size("plots/size_latency.gp") < 0 && file_size("plots/acc_latency.png") < 0);
    if (have) CHECK(file_size("plots/acc_size.png") > 0 && file_size("plots/acc_size.svg") > 0);
    run.baseline_latency_ms = 82;
    CHECK(report_write_tables(dir, &run, pts, 7) == 0);

    /* 2: no gnuplot reachable: a warning, the data and scripts still written, success. */
    remove_outputs();
    const char *old = getenv("PATH");
    char *saved = old ? strdup(old) : NULL;
    setenv("PATH", "", 1);
    drew = -1;
    CHECK(plots_draw_ex(dir, &drew) == 0);
    CHECK(drew == 0);
    for (size_t k = 0; k < sizeof data / sizeof *data; k++) CHECK(file_size(data[k]) > 0);
    for (size_t k = 0; k < sizeof images / sizeof *images; k++) CHECK(file_size(images[k]) < 0);
    CHECK(plots_draw(dir) == 0);

    /* 3: the command, its errors and exit codes (still without gnuplot). */
    char *ok_argv[] = { "plot", dir, "--json", NULL };
    CHECK(cmd_plot(3, ok_argv) == 0);
    char *help_argv[] = { "plot", "--help", NULL };
    CHECK(cmd_plot(2, help_argv) == 0);
    char *none_argv[] = { "plot", NULL };
    CHECK(cmd_plot(1, none_argv) == 2);
    char *two_argv[] = { "plot", dir, dir, NULL };
    CHECK(cmd_plot(3, two_argv) == 2);
    char *bad_argv[] = { "plot", dir, "--frobnicate", NULL };
    CHECK(cmd_plot(3, bad_argv) == 2);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-run", dir);
    char *missing_argv[] = { "plot", missing, NULL };
    CHECK(cmd_plot(2, missing_argv) == 3);
    /* A damaged table is an error naming the file and line, not a half-drawn plot. */
    char p[600];
    snprintf(p, sizeof p, "%s/points.csv", dir);
    FILE *f = fopen(p, "ab");
    fputs("8,ptq,x,not-a-number,,1,1,,1,global,0,0,0,0\n", f);
    fclose(f);
    CHECK(cmd_plot(2, ok_argv) == 2);
    CHECK(strstr(status_message(), "points.csv:9: column 'top1_val'") != NULL);

    if (saved) setenv("PATH", saved, 1);
    free(saved);

    remove_outputs();
    static const char *files[] = { "points.csv", "front.csv", "front.json", "summary.md", "plots/gnuplot.log" };
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[k]);
        remove(p);
    }
    snprintf(p, sizeof p, "%s/plots", dir);
    rmdir(p);
    rmdir(dir);
    return check_summary();
}
