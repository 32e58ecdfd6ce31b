/* svg_plot.h — a scatter plot as inline SVG text (for report_html.c): a frame with ticks at
 * round numbers, markers with hover text (<title>), polylines, horizontal reference lines and
 * labels. Styling is left to the page's CSS through class names, so the plot carries no fonts or
 * colours of its own. Values outside the axis range are drawn on the frame's edge as a small
 * triangle pointing outwards (their hover text keeps the true value), so a few far-off points do
 * not squash the region that matters. Not here: legends (HTML beside the plot), log axes. */
#ifndef RN_SVG_PLOT_H
#define RN_SVG_PLOT_H

#include "strbuf.h"

struct svg_plot {
    struct strbuf *b;
    double xlo, xhi, ylo, yhi;   /* data range of the frame */
    double w, h;                 /* SVG size in px */
    double left, right, top, bottom;   /* margins in px */
    int n_clipped;               /* markers drawn on the edge so far */
};

enum svg_marker { SVG_CIRCLE, SVG_SQUARE, SVG_DIAMOND, SVG_STAR, SVG_MARKER_COUNT };

/* Opens <svg> of w x h px over [xlo, xhi] x [ylo, yhi] (each hi > lo) with the frame, ticks, tick
 * labels and axis labels (escaped). aria_label names the plot for screen readers. */
void svg_plot_begin(struct svg_plot *p, struct strbuf *b, double w, double h, double xlo, double xhi, double ylo,
                    double yhi, const char *xlabel, const char *ylabel, const char *aria_label);
/* One marker at (x, y) with CSS class cls, radius r px and hover text title (escaped; may be
 * NULL). Non-finite coordinates draw nothing. */
void svg_plot_marker(struct svg_plot *p, double x, double y, enum svg_marker shape, double r, const char *cls,
                     const char *title);
/* A polyline through the n points (x sorted by the caller), clipped to the frame. */
void svg_plot_line(struct svg_plot *p, const double *x, const double *y, int n, const char *cls);
/* A horizontal line across the frame at y with a label (escaped) under it at its right end, or its
 * left end when at_left (to keep clear of a marked point). */
void svg_plot_hline(struct svg_plot *p, double y, const char *cls, const char *label, int at_left);
/* A text label next to the data point (x, y). */
void svg_plot_label(struct svg_plot *p, double x, double y, const char *cls, const char *text);
void svg_plot_end(struct svg_plot *p);

/* Round tick spacing for [lo, hi] with about n ticks: 1, 2 or 5 times a power of ten. */
double svg_nice_step(double lo, double hi, int n);

#endif
