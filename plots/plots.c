/* plots.c — the Pareto plots of a run (plots.h): reads points.csv and front.json, writes the
 * gnuplot data files and one script per plot into RUN/plots/, then runs gnuplot on each script
 * (fork + exec, with RUN/plots as the working directory so the scripts stay runnable by hand).
 *
 * Implements: the 2-D non-dominated staircase of each projection (recomputed here from the
 * points, so this library needs nothing from search/), baseline, budget and chosen marks, PNG
 * (pngcairo when gnuplot has it, else png, decided inside the script) and SVG. Does not
 * implement: interactive terminals, log axes, plots of measured latency (the CSV has it). */
#include "plots.h"

#include "csv_table.h"
#include "json.h"
#include "status.h"
#include "atomic_file.h"
#include "strbuf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB 1048576.0

struct plot_point {
    long long id;
    double top1, mib, latency;
    int on_front, chosen, within;
};

struct plot_run {
    double base_top1, base_mib, base_latency;  /* NaN when unknown */
    double threshold;                          /* NaN when unknown */
    long long chosen_id;                       /* -1 when none */
    char objective[32], budget[32];
};

/* ---- reading ---- */

static double cell_num(const char *s)
{
    if (!*s) return NAN;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    return (errno || *end) ? NAN : v;
}

static int read_points(const char *path, struct plot_point **out, int *n_out)
{
    struct csv_table t;
    int rc = csv_table_read(path, &t);
    if (rc) return rc;
    static const char *need[] = { "id", "top1_val", "bytes", "latency_ms", "on_front", "chosen" };
    int col[6], within_col = csv_table_col(&t, "within_budget");
    for (int k = 0; k < 6; k++) {
        col[k] = csv_table_col(&t, need[k]);
        if (col[k] < 0) {
            csv_table_free(&t);
            return status_error(STATUS_BAD_INPUT, "%s:1: no column '%s' in the header (a points.csv of rn50-tune has it)",
                                path, need[k]);
        }
    }
    struct plot_point *p = calloc((size_t)(t.n_rows ? t.n_rows : 1), sizeof *p);
    if (!p) {
        csv_table_free(&t);
        return status_error(STATUS_NOMEM, "%s: out of memory", path);
    }
    for (int r = 0; r < t.n_rows; r++) {
        const char *ids = csv_table_get(&t, r, col[0]);
        char *end;
        errno = 0;
        long long id = strtoll(ids, &end, 10);
        if (errno || end == ids || *end) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: column 'id': '%s' is not an integer", path, t.line[r], ids);
            free(p);
            csv_table_free(&t);
            return rc;
        }
        p[r].id = id;
        p[r].top1 = cell_num(csv_table_get(&t, r, col[1]));
        p[r].mib = cell_num(csv_table_get(&t, r, col[2])) / MIB;
        p[r].latency = cell_num(csv_table_get(&t, r, col[3]));
        p[r].on_front = !strcmp(csv_table_get(&t, r, col[4]), "1");
        p[r].chosen = !strcmp(csv_table_get(&t, r, col[5]), "1");
        p[r].within = within_col < 0 || !strcmp(csv_table_get(&t, r, within_col), "1");
    }
    *out = p;
    *n_out = t.n_rows;
    csv_table_free(&t);
    return STATUS_OK;
}

static double json_num(const struct json_value *obj, const char *key)
{
    const struct json_value *v = json_object_get(obj, key);
    return v && v->type == JSON_NUMBER ? v->number : NAN;
}

static void json_strcpy(const struct json_value *obj, const char *key, char *dst, size_t cap)
{
    const struct json_value *v = json_object_get(obj, key);
    snprintf(dst, cap, "%s", v && v->type == JSON_STRING ? v->str : "");
}

/* front.json is optional for the plots: without it there are no baseline and budget marks. */
static int read_run(const char *path, struct plot_run *run)
{
    run->base_top1 = run->base_mib = run->base_latency = run->threshold = NAN;
    run->chosen_id = -1;
    run->objective[0] = run->budget[0] = '\0';
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "rn50-tune: warning: %s: cannot open (%s); plotting without baseline and budget\n", path,
                strerror(errno));
        return STATUS_OK;
    }
    struct strbuf b = { 0 };
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) strbuf_put(&b, chunk, got);
    const int err = ferror(fp);
    fclose(fp);
    if (err || b.oom) {
        free(b.p);
        return err ? status_error(STATUS_IO, "%s: read error", path) : status_error(STATUS_NOMEM, "%s: out of memory", path);
    }
    struct json_value *root = NULL;
    int rc = json_parse(b.p ? b.p : "", b.len, path, &root);
    free(b.p);
    if (rc) return rc;
    const struct json_value *r = json_object_get(root, "run");
    if (!r || r->type != JSON_OBJECT) {
        json_free(root);
        return status_error(STATUS_BAD_INPUT, "%s: no \"run\" object at the top level", path);
    }
    run->base_top1 = json_num(r, "baseline_top1_val");
    run->base_mib = json_num(r, "baseline_bytes") / MIB;
    run->base_latency = json_num(r, "baseline_latency_ms");
    run->threshold = json_num(r, "threshold_top1");
    const double cid = json_num(r, "chosen_id");
    run->chosen_id = isfinite(cid) ? (long long)cid : -1;
    json_strcpy(r, "objective", run->objective, sizeof run->objective);
    json_strcpy(r, "budget", run->budget, sizeof run->budget);
    json_free(root);
    return STATUS_OK;
}

/* ---- writing ---- */

/* Writes b into dir/name (not atomically: these are regenerable outputs, written whole or the
 * call fails). */
static int put_file(const char *dir, const char *name, const struct strbuf *b)
{
    if (b->oom) return status_error(STATUS_NOMEM, "%s/%s: out of memory", dir, name);
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return status_error(STATUS_BAD_INPUT, "%s: path too long", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return status_error(STATUS_IO, "%s: cannot create: %s", path, strerror(errno));
    int ok = file_write_strbuf(f, (void *)b);
    if (fclose(f) != 0) ok = 0;
    if (!ok) return status_error(STATUS_IO, "%s: write failed", path);
    return STATUS_OK;
}

static void put_num(struct strbuf *b, double v)
{
    char s[40];
    if (isfinite(v))
        snprintf(s, sizeof s, "%.10g", v);
    else
        snprintf(s, sizeof s, "NaN");   /* gnuplot skips NaN coordinates */
    strbuf_str(b, s);
}

enum axis { AX_TOP1, AX_MIB, AX_LATENCY };

static double coord(const struct plot_point *p, enum axis a)
{
    return a == AX_TOP1 ? p->top1 : a == AX_MIB ? p->mib : p->latency;
}

static enum axis sort_axis;   /* the axis cmp_by_axis sorts on (qsort has no context pointer) */
static int cmp_by_axis(const void *a, const void *b)
{
    double x = coord(*(const struct plot_point *const *)a, sort_axis);
    double y = coord(*(const struct plot_point *const *)b, sort_axis);
    return (x > y) - (x < y);
}

/* The 2-D non-dominated points of the projection (x minimised; y maximised when y is top-1, else
 * minimised), sorted by x, as "x y" rows. */
static void write_front2d(struct strbuf *b, const struct plot_point *p, int n, enum axis ax, enum axis ay)
{
    const int y_max = ay == AX_TOP1;
    strbuf_str(b, "# the 2-D non-dominated points of this projection, sorted by x\n");
    const struct plot_point **keep = calloc((size_t)(n ? n : 1), sizeof *keep);
    if (!keep) {
        b->oom = 1;
        return;
    }
    int nk = 0;
    for (int i = 0; i < n; i++) {
        const double xi = coord(&p[i], ax), yi = coord(&p[i], ay);
        if (!isfinite(xi) || !isfinite(yi)) continue;
        int dominated = 0;
        for (int j = 0; j < n && !dominated; j++) {
            const double xj = coord(&p[j], ax), yj = coord(&p[j], ay);
            if (j == i || !isfinite(xj) || !isfinite(yj)) continue;
            const int y_no_worse = y_max ? yj >= yi : yj <= yi;
            const int y_better = y_max ? yj > yi : yj < yi;
            dominated = xj <= xi && y_no_worse && (xj < xi || y_better);
        }
        if (!dominated) keep[nk++] = &p[i];
    }
    sort_axis = ax;
    qsort(keep, (size_t)nk, sizeof *keep, cmp_by_axis);
    for (int k = 0; k < nk; k++) {
        put_num(b, coord(keep[k], ax));
        strbuf_str(b, " ");
        put_num(b, coord(keep[k], ay));
        strbuf_str(b, "\n");
    }
    free(keep);
}

/* The terminal lines shared by every script: PNG (cairo if present) then SVG of the same plot. */
static void script_head(struct strbuf *g, const char *title)
{
    strbuf_str(g, "# Generated by rn50-tune (plots/plots.c); run with `gnuplot THIS_FILE` in this folder.\n");
    strbuf_printf(g, "set title \"%s\" noenhanced\n", title);
    strbuf_str(g, "set grid\nset key outside right top box opaque\nset datafile missing 'NaN'\n"
                   "set offsets graph 0.05, graph 0.08, graph 0.06, graph 0.06\n");
}

static void script_outputs(struct strbuf *g, const char *stem, const char *plot_cmd)
{
    strbuf_printf(g,
         "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
         "    set terminal pngcairo size 1100,720 font 'sans,10'\n"
         "} else {\n"
         "    set terminal png size 1100,720\n"
         "}\n"
         "set output '%s.png'\n%s\nunset output\n"
         "set terminal svg size 1100,720 dynamic font 'sans,10' background rgb 'white'\n"
         "set output '%s.svg'\n%s\nunset output\n",
         stem, plot_cmd, stem, plot_cmd);
}

/* Baseline and chosen marks as labels with a point (labels survive every terminal). */
static void script_marks(struct strbuf *g, const struct plot_run *run, const struct plot_point *chosen, enum axis ax,
                         enum axis ay)
{
    const double bx = ax == AX_MIB ? run->base_mib : ax == AX_LATENCY ? run->base_latency : run->base_top1;
    const double by = ay == AX_TOP1 ? run->base_top1 : ay == AX_MIB ? run->base_mib : run->base_latency;
    if (isfinite(bx) && isfinite(by))
        strbuf_printf(g, "set label 1 'baseline' at %.10g,%.10g point pt 5 ps 1.6 lc rgb 'black' offset 1,-1 front\n", bx, by);
    if (chosen && isfinite(coord(chosen, ax)) && isfinite(coord(chosen, ay)))
        strbuf_printf(g,
             "set label 2 'chosen #%lld' at %.10g,%.10g point pt 6 ps 3 lw 2 lc rgb '#2ca02c' offset 1.5,1.2 front "
             "textcolor rgb '#2ca02c'\n",
             chosen->id, coord(chosen, ax), coord(chosen, ay));
}

static void script_budget_line(struct strbuf *g, const struct plot_run *run)
{
    if (!isfinite(run->threshold)) return;
    strbuf_printf(g,
         "set arrow 1 from graph 0, first %.10g to graph 1, first %.10g nohead dt 2 lw 1.5 lc rgb '#ff7f0e' front\n"
         "set label 3 'budget %s: top-1 >= %.2f %%' at graph 0.01, first %.10g offset 0,0.6 textcolor rgb '#ff7f0e' "
         "front noenhanced\n",
         run->threshold, run->threshold, run->budget, run->threshold, run->threshold);
}

/* Runs `gnuplot script` in dir. Returns 1 when it ran and exited 0, 0 when it ran and failed,
 * -1 when it could not be started (not installed / not on PATH). */
static int run_gnuplot(const char *dir, const char *script)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        /* Keep our stdout for the --json line and the terminal quiet: gnuplot's chatter (warnings
         * about empty series, errors) goes to gnuplot.log beside the script. */
        if (chdir(dir) != 0) _exit(126);
        FILE *log = fopen("gnuplot.log", "a");
        if (log) {
            dup2(fileno(log), 1);
            dup2(fileno(log), 2);
        }
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int file_nonempty(const char *dir, const char *name)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) return 0;
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0;
}

int plots_draw_ex(const char *run_dir, int *drew)
{
    if (drew) *drew = 0;
    char path[4096], dir[4096];
    struct plot_point *p = NULL;
    int n = 0, rc;
    if ((size_t)snprintf(dir, sizeof dir, "%s/plots", run_dir) >= sizeof dir)
        return status_error(STATUS_BAD_INPUT, "%s: path too long", run_dir);
    snprintf(path, sizeof path, "%s/points.csv", run_dir);
    if ((rc = read_points(path, &p, &n))) return rc;
    struct plot_run run;
    snprintf(path, sizeof path, "%s/front.json", run_dir);
    if ((rc = read_run(path, &run))) goto done;
    if ((rc = file_make_dir(dir, 0))) goto done;

    const struct plot_point *chosen = NULL;
    for (int i = 0; i < n; i++)
        if (p[i].chosen || (run.chosen_id >= 0 && p[i].id == run.chosen_id)) chosen = &p[i];

    /* Data: all points, the 3-D front sorted by size, baseline, and one 2-D front per plot. */
    struct strbuf b = { 0 };
    strbuf_str(&b, "# id top1_val size_mib latency_ms on_front chosen within_budget\n");
    for (int i = 0; i < n; i++) {
        strbuf_printf(&b, "%lld ", p[i].id);
        put_num(&b, p[i].top1);
        strbuf_str(&b, " ");
        put_num(&b, p[i].mib);
        strbuf_str(&b, " ");
        put_num(&b, p[i].latency);
        strbuf_printf(&b, " %d %d %d\n", p[i].on_front, p[i].chosen, p[i].within);
    }
    rc = put_file(dir, "points.dat", &b);
    free(b.p);
    if (rc) goto done;

    const struct plot_point **fr = calloc((size_t)(n ? n : 1), sizeof *fr);
    if (!fr) {
        rc = status_error(STATUS_NOMEM, "plots: out of memory");
        goto done;
    }
    int nf = 0;
    for (int i = 0; i < n; i++)
        if (p[i].on_front) fr[nf++] = &p[i];
    sort_axis = AX_MIB;
    qsort(fr, (size_t)nf, sizeof *fr, cmp_by_axis);
    b = (struct strbuf){ 0 };
    strbuf_str(&b, "# the run's front (non-dominated in top-1, size and latency), sorted by size\n"
                   "# id top1_val size_mib latency_ms\n");
    for (int i = 0; i < nf; i++) {
        strbuf_printf(&b, "%lld ", fr[i]->id);
        put_num(&b, fr[i]->top1);
        strbuf_str(&b, " ");
        put_num(&b, fr[i]->mib);
        strbuf_str(&b, " ");
        put_num(&b, fr[i]->latency);
        strbuf_str(&b, "\n");
    }
    free(fr);
    rc = put_file(dir, "front.dat", &b);
    free(b.p);
    if (rc) goto done;

    b = (struct strbuf){ 0 };
    strbuf_str(&b, "# top1_val size_mib latency_ms threshold_top1\n");
    put_num(&b, run.base_top1);
    strbuf_str(&b, " ");
    put_num(&b, run.base_mib);
    strbuf_str(&b, " ");
    put_num(&b, run.base_latency);
    strbuf_str(&b, " ");
    put_num(&b, run.threshold);
    strbuf_str(&b, "\n");
    rc = put_file(dir, "baseline.dat", &b);
    free(b.p);
    if (rc) goto done;

    static const struct {
        const char *stem, *xlabel, *ylabel;
        enum axis x, y;
    } plots[] = {
        { "acc_size", "size (MiB)", "top-1 on val (%)", AX_MIB, AX_TOP1 },
        { "acc_latency", "predicted latency (ms)", "top-1 on val (%)", AX_LATENCY, AX_TOP1 },
        { "size_latency", "size (MiB)", "predicted latency (ms)", AX_MIB, AX_LATENCY },
    };
    static const int col_of[] = { 2, 3, 4 };   /* column of each axis, the same in points.dat and front.dat */
    int all_ok = 1, missing = 0;
    char logpath[4200];
    snprintf(logpath, sizeof logpath, "%s/gnuplot.log", dir);
    remove(logpath);   /* one run's messages only */
    for (size_t k = 0; k < sizeof plots / sizeof *plots; k++) {
        char name[64];
        /* A run without latency figures (--device none) has nothing to put on a latency axis. */
        int n_finite = 0;
        for (int i = 0; i < n; i++) n_finite += isfinite(coord(&p[i], plots[k].x)) && isfinite(coord(&p[i], plots[k].y));
        if (n_finite == 0) {
            fprintf(stderr, "rn50-tune: note: %s skipped: no point has both %s and %s\n", plots[k].stem, plots[k].xlabel,
                    plots[k].ylabel);
            static const char *const ext[] = { ".gp", "_front2d.dat", ".png", ".svg" };
            for (size_t e = 0; e < sizeof ext / sizeof *ext; e++) {   /* no stale plot of an earlier draw */
                char old[4200];
                snprintf(old, sizeof old, "%s/%s%s", dir, plots[k].stem, ext[e]);
                remove(old);
            }
            continue;
        }
        snprintf(name, sizeof name, "%s_front2d.dat", plots[k].stem);
        b = (struct strbuf){ 0 };
        write_front2d(&b, p, n, plots[k].x, plots[k].y);
        rc = put_file(dir, name, &b);
        free(b.p);
        if (rc) goto done;

        struct strbuf g = { 0 };
        char title[256];
        if (run.objective[0])
            snprintf(title, sizeof title, "%s vs %s (objective %s, budget %s)", plots[k].ylabel, plots[k].xlabel,
                     run.objective, run.budget[0] ? run.budget : "none");
        else
            snprintf(title, sizeof title, "%s vs %s", plots[k].ylabel, plots[k].xlabel);
        script_head(&g, title);
        strbuf_printf(&g, "set xlabel '%s'\nset ylabel '%s'\n", plots[k].xlabel, plots[k].ylabel);
        script_marks(&g, &run, chosen, plots[k].x, plots[k].y);
        const int cx = col_of[plots[k].x], cy = col_of[plots[k].y];
        char cmd[2048];
        if (plots[k].y == AX_TOP1) {
            script_budget_line(&g, &run);
            snprintf(cmd, sizeof cmd,
                     "plot 'points.dat' using %d:%d with points pt 7 ps 0.6 lc rgb '#9fb3c8' title 'all points', \\\n"
                     "     '%s' using 1:2 with steps lw 1.5 lc rgb '#d62728' title '2-D front', \\\n"
                     "     'front.dat' using %d:%d with points pt 7 ps 1.2 lc rgb '#d62728' title 'front (3-D)'",
                     cx, cy, name, cx, cy);
        } else {
            /* Size against latency, coloured by top-1; outside the budget drawn hollow. */
            strbuf_str(&g, "set cblabel 'top-1 on val (%)'\nset palette rgbformulae 33,13,10\n");
            if (isfinite(run.threshold))
                strbuf_printf(&g, "set label 3 'hollow: outside the budget %s (top-1 < %.2f %%)' at graph 0.01, graph 0.97 "
                         "noenhanced front\n",
                     run.budget, run.threshold);
            snprintf(cmd, sizeof cmd,
                     "plot 'points.dat' using %d:($7==1 ? $%d : NaN):2 with points pt 7 ps 0.9 lc palette title "
                     "'within budget', \\\n"
                     "     'points.dat' using %d:($7==1 ? NaN : $%d):2 with points pt 6 ps 0.9 lc palette title "
                     "'outside budget', \\\n"
                     "     '%s' using 1:2 with steps lw 1.5 lc rgb '#d62728' title '2-D front', \\\n"
                     "     'front.dat' using %d:%d with points pt 6 ps 1.8 lw 1.5 lc rgb '#d62728' title 'front (3-D)'",
                     cx, cy, cx, cy, name, cx, cy);
        }
        script_outputs(&g, plots[k].stem, cmd);
        snprintf(name, sizeof name, "%s.gp", plots[k].stem);
        rc = put_file(dir, name, &g);
        free(g.p);
        if (rc) goto done;

        if (missing) continue;
        const int ran = run_gnuplot(dir, name);
        if (ran < 0) {
            fprintf(stderr,
                    "rn50-tune: warning: gnuplot could not be run (not installed or not on PATH); wrote the data "
                    "and scripts in %s (install gnuplot-nox and run `gnuplot *.gp` there)\n",
                    dir);
            missing = 1;
            all_ok = 0;
            continue;
        }
        char png[80], svg[80];
        snprintf(png, sizeof png, "%s.png", plots[k].stem);
        snprintf(svg, sizeof svg, "%s.svg", plots[k].stem);
        if (!ran || !file_nonempty(dir, png) || !file_nonempty(dir, svg)) {
            fprintf(stderr, "rn50-tune: warning: gnuplot failed on %s/%s (see gnuplot.log there); the data and the script "
                            "are kept\n",
                    dir, name);
            all_ok = 0;
        }
    }
    if (drew) *drew = all_ok;
    rc = STATUS_OK;
done:
    free(p);
    return rc;
}

int plots_draw(const char *run_dir) { return plots_draw_ex(run_dir, NULL); }
