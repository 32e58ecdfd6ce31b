/* report_plots.c — the report page's three Pareto plots (report_html.h): top-1 against size and
 * against predicted latency, size against latency. Every evaluation of the run is a point: the
 * fully evaluated ones from points.csv with their flags, and the screened ones (dropped on a
 * prefix of val) from results.db, at their top-1 on the largest prefix they reached. The line is
 * each plot's own two-objective front of the points within the budget (the run's front is three
 * objectives; its points are coloured as such). Single-layer sensitivity probes and test
 * evaluations are not points of these plots. */
#include "html.h"
#include "pareto.h"
#include "report_html_int.h"
#include "svg_plot.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB 1048576.0

enum pt_class { PT_SCREENED, PT_OUTSIDE, PT_WITHIN, PT_FRONT, PT_CHOSEN, PT_BASELINE, PT_CLASS_COUNT };
static const char *const pt_css[PT_CLASS_COUNT] = { "screened", "outside", "within", "front", "chosen", "baseline" };
static const char *const pt_words[PT_CLASS_COUNT] = {
    "screened out on a prefix of val", "evaluated, outside the budget", "within the budget", "on the run's front",
    "chosen", "baseline (fp16)",
};
_Static_assert(sizeof pt_css / sizeof *pt_css == PT_CLASS_COUNT, "pt_css");

struct pt {
    double acc, mib, ms;
    enum pt_class cls;
    char title[400];
};

static int cmp_x(const void *a, const void *b)
{
    const double x = ((const double *)a)[0], y = ((const double *)b)[0];
    return (x > y) - (x < y);
}

static int collect(const struct rh *h, struct pt **out)
{
    struct pt *p = calloc((size_t)(h->n + h->n_rows + 1), sizeof *p);
    if (!p) return -1;
    int k = 0;
    for (int i = 0; i < h->n; i++) {
        const struct report_point *q = &h->pts[i];
        struct pt *t = &p[k++];
        t->acc = q->top1_val;
        t->mib = q->bytes / MIB;
        t->ms = q->latency_ms;
        t->cls = !strcmp(q->stage, "baseline") ? PT_BASELINE : q->chosen ? PT_CHOSEN : q->on_front ? PT_FRONT
               : q->within_budget ? PT_WITHIN : PT_OUTSIDE;
        snprintf(t->title, sizeof t->title, "%s (id %" PRId64 ", %s, %s): top-1 %.2f %% val, %.2f %% test; %.3f MiB; %.4g ms predicted; %s",
                 q->config, q->id, q->stage, q->workflow, q->top1_val, q->top1_test, q->bytes / MIB, q->latency_ms, pt_words[t->cls]);
    }
    /* Screened: per config, the evaluation on the largest prefix, unless fully evaluated above. */
    for (int i = 0; i < h->n_rows; i++) {
        const struct db_eval *e = &h->rows[i];
        if (strcmp(e->split, "val") || !strcmp(e->stage, "sensitivity") || !strcmp(e->stage, "baseline") || e->n_images <= 0) continue;
        int skip = 0;
        for (int j = 0; j < h->n && !skip; j++) skip = !strcmp(h->pts[j].config, e->config);
        for (int j = 0; j < h->n_rows && !skip; j++) {
            const struct db_eval *f = &h->rows[j];
            skip = j != i && !strcmp(f->split, "val") && !strcmp(f->config, e->config) &&
                   (f->n_images > e->n_images || (f->n_images == e->n_images && j < i));
        }
        if (skip) continue;
        struct pt *t = &p[k++];
        t->acc = 100.0 * (double)e->correct / (double)e->n_images;
        t->mib = e->bytes / MIB;
        t->ms = e->latency_ms;
        t->cls = PT_SCREENED;
        snprintf(t->title, sizeof t->title, "%s (%s, %s): top-1 %.2f %% on val[:%" PRId64 "]; %.3f MiB; %.4g ms predicted; screened out",
                 e->name, e->stage, e->workflow, t->acc, e->n_images, t->mib, t->ms);
    }
    *out = p;
    return k;
}

static void range(const struct pt *p, int n, int axis, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        const double v = axis == 0 ? p[i].acc : axis == 1 ? p[i].mib : p[i].ms;
        if (isfinite(v)) {
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, v);
        }
    }
    if (!(*hi >= *lo)) *lo = 0, *hi = 1;
    const double pad = fmax((*hi - *lo) * 0.06, fabs(*hi) * 1e-3 + 1e-9);
    *lo -= pad;
    *hi += pad;
}

/* One plot: ax, ay select the axes (0 top-1, 1 MiB, 2 ms). */
static void plot(struct rh *h, const struct pt *p, int n, int ax, int ay, const char *caption)
{
    static const char *const label[] = { "top-1 on val (%)", "size (MiB, Core ML package)", "predicted latency (ms)" };
    struct strbuf *b = h->b;
    double xlo, xhi, ylo, yhi;
    range(p, n, ax, &xlo, &xhi);
    range(p, n, ay, &ylo, &yhi);
    if (ax == 1 && xlo > 0) xlo = 0;   /* sizes read best from zero */
    if (ay == 1 && ylo > 0) ylo = 0;
    if (ay == 0) {   /* top-1: the region around the budget, the far-off screened points on the edge */
        const double gap = fmax(h->run.baseline_top1_val - h->run.threshold_top1, 1.0);
        const double lo = h->run.threshold_top1 - 1.5 * gap;
        if (ylo < lo) ylo = lo;
    }
    strbuf_str(b, "<figure>");
    struct svg_plot sp;
    char aria[128];
    snprintf(aria, sizeof aria, "%s against %s", label[ay], label[ax]);
    svg_plot_begin(&sp, b, 480, 340, xlo, xhi, ylo, yhi, label[ax], label[ay], aria);
    if (ay == 0) {
        char t[64];
        snprintf(t, sizeof t, "budget: val top-1 %.2f %%", h->run.threshold_top1);
        int right_half = 0;   /* the label goes to the side away from the chosen point */
        for (int i = 0; i < n; i++)
            if (p[i].cls == PT_CHOSEN) right_half = (ax == 1 ? p[i].mib : p[i].ms) > (xlo + xhi) / 2;
        svg_plot_hline(&sp, h->run.threshold_top1, "budget", t, right_half);
    }
    /* The plot's own front of the points within the budget, as a staircase. */
    double *xy = malloc(sizeof *xy * 2 * (size_t)(n + 1));
    struct pareto_point *pp = malloc(sizeof *pp * (size_t)(n + 1));
    unsigned char *keep = malloc((size_t)n + 1);
    if (xy && pp && keep) {
        for (int i = 0; i < n; i++) {
            const double v[3] = { p[i].acc, p[i].mib, p[i].ms };
            const int in = p[i].cls >= PT_WITHIN;
            pp[i] = (struct pareto_point){ ay == 0 ? (in ? v[0] : NAN) : 0, v[1], ax == 2 ? v[2] : 0, i };
            if (ay != 0 && !in) pp[i].bytes = NAN;
        }
        pareto_front_in(pp, n, ay == 0 ? (PARETO_ACCURACY | (ax == 1 ? PARETO_SIZE : PARETO_LATENCY)) : PARETO_SIZE | PARETO_LATENCY, keep);
        int m = 0;
        for (int i = 0; i < n; i++)
            if (keep[i]) {
                const double v[3] = { p[i].acc, p[i].mib, p[i].ms };
                xy[2 * m] = v[ax];
                xy[2 * m++ + 1] = v[ay];
            }
        qsort(xy, (size_t)m, 2 * sizeof *xy, cmp_x);
        double sx[2], sy[2];
        for (int i = 0; i + 1 < m; i++) {   /* step: across at the first point's level, then to the next */
            sx[0] = xy[2 * i], sy[0] = xy[2 * i + 1], sx[1] = xy[2 * i + 2], sy[1] = xy[2 * i + 1];
            svg_plot_line(&sp, sx, sy, 2, "frontline");
            sx[0] = sx[1], sy[1] = xy[2 * i + 3];
            svg_plot_line(&sp, sx, sy, 2, "frontline");
        }
    }
    free(xy);
    free(pp);
    free(keep);
    for (int c = 0; c < PT_CLASS_COUNT; c++)   /* drawn in class order: the chosen point on top */
        for (int i = 0; i < n; i++) {
            if (p[i].cls != (enum pt_class)c) continue;
            const double v[3] = { p[i].acc, p[i].mib, p[i].ms };
            const enum svg_marker shape = c == PT_CHOSEN ? SVG_STAR : c == PT_BASELINE ? SVG_DIAMOND : SVG_CIRCLE;
            svg_plot_marker(&sp, v[ax], v[ay], shape, c == PT_CHOSEN ? 7 : c == PT_SCREENED ? 2.6 : 3.6, pt_css[c], p[i].title);
            if (c == PT_CHOSEN) svg_plot_label(&sp, v[ax], v[ay], "lbl", "chosen");
        }
    const int clipped = sp.n_clipped;
    svg_plot_end(&sp);
    strbuf_str(b, "<figcaption>");
    html_text(b, caption);
    if (clipped) strbuf_printf(b, " %d point%s outside the range drawn as triangles on the edge.", clipped, clipped > 1 ? "s" : "");
    strbuf_str(b, "</figcaption></figure>\n");
}

void rh_section_plots(struct rh *h)
{
    struct strbuf *b = h->b;
    strbuf_str(b, "<h2 id=plots>Pareto plots</h2>");
    struct pt *p = NULL;
    const int n = collect(h, &p);
    if (n < 0) {
        strbuf_str(b, "<p class=missing>out of memory drawing the plots</p>");
        return;
    }
    int count[PT_CLASS_COUNT] = { 0 }, has_ms = 0;
    for (int i = 0; i < n; i++) {
        count[p[i].cls]++;
        has_ms |= isfinite(p[i].ms);
    }
    strbuf_printf(b, "<p class=note>%d points: every evaluated configuration of the run, hover a point for its figures. "
                     "The line is each plot's own front of the points within the budget.</p><p class=legend>", n);
    static const char *const sw[PT_CLASS_COUNT] = { "background:#fff;border-color:#a8a8a8", "background:#c9c9c9", "background:#8fb8de",
                                                    "background:#1f5fa8", "background:#d62728", "background:#222" };
    for (int c = 0; c < PT_CLASS_COUNT; c++)
        strbuf_printf(b, "<span><i class=sw style=\"%s\"></i>%s (%d)</span>", sw[c], pt_words[c], count[c]);
    strbuf_str(b, "<span style=\"color:#c0392b\">- - budget threshold</span></p><div class=plots>");
    plot(h, p, n, 1, 0, "Top-1 (val) against size.");
    if (has_ms) {
        plot(h, p, n, 2, 0, "Top-1 (val) against the cost model's predicted latency.");
        plot(h, p, n, 2, 1, "Size against predicted latency; the line is the size-latency front within the budget.");
    } else {
        strbuf_str(b, "<p class=missing>No latency predictions in this run (device none): the latency plots are left out.</p>");
    }
    strbuf_str(b, "</div>\n");
    free(p);
}
