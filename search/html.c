/* html.c — escaping and the heat-map colour scale of html.h. The scale is a piecewise-linear ramp
 * through a few fixed colours (white, yellow, orange, red, dark red): monotone in lightness, so
 * a larger drop always reads as darker, also on a grey printout. */
#include "html.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void html_text(struct strbuf *b, const char *s)
{
    const char *run = s;
    for (const char *p = s;; p++) {
        const unsigned char c = (unsigned char)*p;
        const char *rep = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '"' ? "&quot;"
                        : c == '\'' ? "&#39;" : (c < 0x20 && c != '\t' && c != '\n' && c) || c == 0x7f ? "\xef\xbf\xbd" : NULL;
        if (!rep && c) continue;
        strbuf_put(b, run, (size_t)(p - run));
        if (!c) return;
        strbuf_str(b, rep);
        run = p + 1;
    }
}

void html_num(struct strbuf *b, const char *fmt, double v)
{
    if (isfinite(v)) {
        strbuf_printf(b, fmt, v);
        return;
    }
    /* The format's text with "n/a" in place of its one conversion ("%%" stays a percent sign). */
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            strbuf_put(b, p, 1);
        } else if (p[1] == '%') {
            strbuf_put(b, "%", 1);
            p++;
        } else {
            while (p[1] && !strchr("fFeEgGaA", p[1])) p++;
            if (p[1]) p++;
            strbuf_str(b, "n/a");
        }
    }
}

struct stop { double t; unsigned char r, g, b; };

static void ramp(const struct stop *s, int n, double t, unsigned char rgb[3])
{
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    int i = 0;
    while (i + 2 < n && t > s[i + 1].t) i++;
    const double u = (t - s[i].t) / (s[i + 1].t - s[i].t);
    rgb[0] = (unsigned char)lround(s[i].r + u * (s[i + 1].r - s[i].r));
    rgb[1] = (unsigned char)lround(s[i].g + u * (s[i + 1].g - s[i].g));
    rgb[2] = (unsigned char)lround(s[i].b + u * (s[i + 1].b - s[i].b));
}

void html_colour_drop(double drop, double cap, char out[8], int *dark)
{
    static const struct stop warm[] = {
        { 0.00, 255, 255, 255 }, { 0.15, 255, 237, 160 }, { 0.40, 253, 174, 97 }, { 0.70, 215, 48, 39 }, { 1.00, 120, 0, 20 },
    };
    static const struct stop cool[] = { { 0.0, 255, 255, 255 }, { 1.0, 116, 169, 207 } };
    unsigned char rgb[3] = { 224, 224, 224 };
    if (isfinite(drop) && cap > 0) {
        if (drop >= 0) ramp(warm, 5, drop / cap, rgb);
        else ramp(cool, 2, -drop / (cap / 2), rgb);
    }
    snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
    /* Relative luminance (sRGB approximated by gamma 2.2): below 0.3 the text goes white. */
    const double L = 0.2126 * pow(rgb[0] / 255.0, 2.2) + 0.7152 * pow(rgb[1] / 255.0, 2.2) + 0.0722 * pow(rgb[2] / 255.0, 2.2);
    *dark = L < 0.3;
}
