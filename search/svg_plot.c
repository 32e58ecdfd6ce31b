/* svg_plot.c — the scatter plot of svg_plot.h. Coordinates are written with one decimal (a tenth
 * of a pixel), which keeps a plot of hundreds of points to a few tens of kilobytes. */
#include "svg_plot.h"

#include "html.h"

#include <math.h>
#include <stdio.h>

double svg_nice_step(double lo, double hi, int n)
{
    const double raw = (hi - lo) / (n > 0 ? n : 1);
    if (!(raw > 0) || !isfinite(raw)) return 1.0;
    const double p = pow(10.0, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static double px(const struct svg_plot *p, double x)
{
    return p->left + (x - p->xlo) / (p->xhi - p->xlo) * (p->w - p->left - p->right);
}

static double py(const struct svg_plot *p, double y)
{
    return p->h - p->bottom - (y - p->ylo) / (p->yhi - p->ylo) * (p->h - p->top - p->bottom);
}

/* "%.*f" with as many decimals as the step needs, so ticks read 0.5, 1, 1.5 and not 0.500000. */
static void tick_text(char *s, size_t n, double v, double step)
{
    const int d = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(s, n, "%.*f", d, fabs(v) < step * 1e-9 ? 0.0 : v);
}

void svg_plot_begin(struct svg_plot *p, struct strbuf *b, double w, double h, double xlo, double xhi, double ylo,
                    double yhi, const char *xlabel, const char *ylabel, const char *aria_label)
{
    *p = (struct svg_plot){ .b = b, .xlo = xlo, .xhi = xhi, .ylo = ylo, .yhi = yhi, .w = w, .h = h,
                            .left = 62, .right = 16, .top = 12, .bottom = 44 };
    strbuf_printf(b, "<svg class=\"plot\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"", w, h, w, h);
    html_text(b, aria_label);
    strbuf_printf(b, "\"><rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", p->left, p->top,
                  w - p->left - p->right, h - p->top - p->bottom);
    char s[64];
    const double xs = svg_nice_step(xlo, xhi, 6), ys = svg_nice_step(ylo, yhi, 6);
    for (double v = ceil(xlo / xs) * xs; v <= xhi + xs * 1e-9; v += xs) {
        tick_text(s, sizeof s, v, xs);
        strbuf_printf(b, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                         "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                      px(p, v), px(p, v), p->top, h - p->bottom, px(p, v), h - p->bottom + 15, s);
    }
    for (double v = ceil(ylo / ys) * ys; v <= yhi + ys * 1e-9; v += ys) {
        tick_text(s, sizeof s, v, ys);
        strbuf_printf(b, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                         "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                      p->left, w - p->right, py(p, v), py(p, v), p->left - 5, py(p, v) + 4, s);
    }
    strbuf_printf(b, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (p->left + w - p->right) / 2, h - 8);
    html_text(b, xlabel);
    strbuf_printf(b, "</text><text class=\"axis\" transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\">",
                  (p->top + h - p->bottom) / 2);
    html_text(b, ylabel);
    strbuf_str(b, "</text>\n");
}

void svg_plot_marker(struct svg_plot *p, double x, double y, enum svg_marker shape, double r, const char *cls,
                     const char *title)
{
    if (!isfinite(x) || !isfinite(y)) return;
    struct strbuf *b = p->b;
    double X = px(p, x), Y = py(p, y);
    const double x0 = p->left, x1 = p->w - p->right, y0 = p->top, y1 = p->h - p->bottom;
    /* Outside the frame: a triangle on the edge, its tip pointing the way the point lies. */
    const int ox = X < x0 ? -1 : X > x1 ? 1 : 0, oy = Y > y1 ? 1 : Y < y0 ? -1 : 0;
    if (ox || oy) {
        p->n_clipped++;
        X = X < x0 ? x0 : X > x1 ? x1 : X;
        Y = Y < y0 ? y0 : Y > y1 ? y1 : Y;
        /* Tip at the edge, base 6 px inside; for a corner, the diagonal. */
        const double ux = ox, uy = oy, n = sqrt(ux * ux + uy * uy), dx = ux / n, dy = uy / n;
        strbuf_printf(b, "<path class=\"%s clipped\" d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fZ\">", cls, X, Y, X - 6 * dx - 4 * dy,
                      Y - 6 * dy + 4 * dx, X - 6 * dx + 4 * dy, Y - 6 * dy - 4 * dx);
    } else if (shape == SVG_SQUARE) {
        strbuf_printf(b, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">", cls, X - r, Y - r, 2 * r, 2 * r);
    } else if (shape == SVG_DIAMOND) {
        strbuf_printf(b, "<path class=\"%s\" d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ\">", cls, X, Y - r * 1.3, X + r * 1.3, Y,
                      X, Y + r * 1.3, X - r * 1.3, Y);
    } else if (shape == SVG_STAR) {
        strbuf_printf(b, "<path class=\"%s\" d=\"", cls);
        for (int k = 0; k < 10; k++) {
            const double a = -1.5707963267948966 + k * 0.6283185307179586, rr = k % 2 ? r * 0.45 : r * 1.2;
            strbuf_printf(b, "%c%.1f %.1f", k ? 'L' : 'M', X + rr * cos(a), Y + rr * sin(a));
        }
        strbuf_str(b, "Z\">");
    } else {
        strbuf_printf(b, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\">", cls, X, Y, r);
    }
    strbuf_str(b, "<title>");
    if (title) html_text(b, title);
    strbuf_str(b, ox || oy ? " (outside the axes' range: drawn on the edge)</title>" : "</title>");
    strbuf_str(b, shape == SVG_SQUARE && !(ox || oy) ? "</rect>\n" : shape == SVG_CIRCLE && !(ox || oy) ? "</circle>\n" : "</path>\n");
}

/* Clips the segment a-b to [x0, x1] x [y0, y1] (Liang-Barsky); 0 when nothing is left. */
static int clip(double *ax, double *ay, double *bx, double *by, double x0, double x1, double y0, double y1)
{
    double t0 = 0, t1 = 1;
    const double dx = *bx - *ax, dy = *by - *ay;
    const double pq[4][2] = { { -dx, *ax - x0 }, { dx, x1 - *ax }, { -dy, *ay - y0 }, { dy, y1 - *ay } };
    for (int i = 0; i < 4; i++) {
        const double pp = pq[i][0], q = pq[i][1];
        if (pp == 0) {
            if (q < 0) return 0;
            continue;
        }
        const double t = q / pp;
        if (pp < 0 && t > t0) t0 = t;
        if (pp > 0 && t < t1) t1 = t;
    }
    if (t0 > t1) return 0;
    *bx = *ax + t1 * dx;
    *by = *ay + t1 * dy;
    *ax += t0 * dx;
    *ay += t0 * dy;
    return 1;
}

void svg_plot_line(struct svg_plot *p, const double *x, const double *y, int n, const char *cls)
{
    const double x0 = p->left, x1 = p->w - p->right, y0 = p->top, y1 = p->h - p->bottom;
    for (int i = 0; i + 1 < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]) || !isfinite(x[i + 1]) || !isfinite(y[i + 1])) continue;
        double ax = px(p, x[i]), ay = py(p, y[i]), bx = px(p, x[i + 1]), by = py(p, y[i + 1]);
        if (clip(&ax, &ay, &bx, &by, x0, x1, y0, y1))
            strbuf_printf(p->b, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", cls, ax, ay, bx, by);
    }
}

void svg_plot_hline(struct svg_plot *p, double y, const char *cls, const char *label, int at_left)
{
    if (!isfinite(y) || y < p->ylo || y > p->yhi) return;
    strbuf_printf(p->b, "<line class=\"%s\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", cls, p->left, p->w - p->right,
                  py(p, y), py(p, y));
    strbuf_printf(p->b, "<text class=\"%s-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", cls,
                  at_left ? p->left + 4 : p->w - p->right - 4, py(p, y) + 13, at_left ? "start" : "end");
    html_text(p->b, label);
    strbuf_str(p->b, "</text>\n");
}

void svg_plot_label(struct svg_plot *p, double x, double y, const char *cls, const char *text)
{
    if (!isfinite(x) || !isfinite(y)) return;
    double X = px(p, x) + 8, Y = py(p, y) - 8;
    const char *anchor = "start";
    if (X > p->w - p->right - 90) {   /* near the right edge: to the left of the point */
        X -= 16;
        anchor = "end";
    }
    if (Y < p->top + 12) Y += 24;
    strbuf_printf(p->b, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", cls, X, Y, anchor);
    html_text(p->b, text);
    strbuf_str(p->b, "</text>\n");
}

void svg_plot_end(struct svg_plot *p) { strbuf_str(p->b, "</svg>\n"); }
