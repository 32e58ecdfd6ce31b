/* test_html.c — the report page's building blocks that need no browser (search/html.c,
 * search/svg_plot.c, search/provenance.c): escaping of every character HTML treats specially
 * (also hostile config names), unknown numbers, the heat-map colour scale (white at zero,
 * monotone darker up to the cap, saturated beyond, blue for gains, grey for not measured, white
 * text on the dark end), round tick steps, markers outside the axes drawn on the edge and
 * counted, and shell quoting of a recorded command line. */
#include "check.h"
#include "html.h"
#include "provenance.h"
#include "svg_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_escape(void)
{
    struct strbuf b = { 0 };
    html_text(&b, "a<b>&\"c\"'d' \xc3\xa9\t\x01z");
    CHECK(!b.oom);
    CHECK(strcmp(b.p, "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39; \xc3\xa9\t\xef\xbf\xbdz") == 0);
    b.len = 0;
    html_text(&b, "</script><script>alert(1)</script>");
    CHECK(strstr(b.p, "<") == NULL);
    b.len = 0;
    b.p[0] = '\0';
    html_text(&b, "");
    CHECK(b.len == 0);
    html_num(&b, "%.2f", NAN);
    html_num(&b, " %.2f", INFINITY);
    html_num(&b, " %.1f %%", 12.34);
    html_num(&b, "; %+.2f %% measured", NAN);
    CHECK(strcmp(b.p, "n/a n/a 12.3 %; n/a % measured") == 0);
    free(b.p);
}

static double lightness(const char *hex)
{
    unsigned r, g, b;
    CHECK(sscanf(hex, "#%2x%2x%2x", &r, &g, &b) == 3);
    return 0.299 * r + 0.587 * g + 0.114 * b;
}

static void test_colour(void)
{
    char c[8];
    int dark = -1;
    html_colour_drop(0.0, 5.0, c, &dark);
    CHECK(strcmp(c, "#ffffff") == 0 && dark == 0);
    /* Monotone: a larger drop is never lighter, up to the cap and flat beyond. */
    double prev = 256;
    for (double d = 0; d <= 7.5; d += 0.25) {
        html_colour_drop(d, 5.0, c, &dark);
        const double l = lightness(c);
        CHECK(l <= prev + 1e-9);
        prev = l;
    }
    char at_cap[8], beyond[8];
    html_colour_drop(5.0, 5.0, at_cap, &dark);
    CHECK(dark == 1);   /* dark red: white text */
    html_colour_drop(50.0, 5.0, beyond, &dark);
    CHECK(strcmp(at_cap, beyond) == 0);
    /* Gains are blue (more blue than red), saturating at half the cap. */
    unsigned r, g, bl;
    html_colour_drop(-1.0, 5.0, c, &dark);
    CHECK(sscanf(c, "#%2x%2x%2x", &r, &g, &bl) == 3 && bl > r);
    char half[8], more[8];
    html_colour_drop(-2.5, 5.0, half, &dark);
    html_colour_drop(-9.0, 5.0, more, &dark);
    CHECK(strcmp(half, more) == 0);
    html_colour_drop(NAN, 5.0, c, &dark);
    CHECK(strcmp(c, "#e0e0e0") == 0 && dark == 0);
}

static void test_plot(void)
{
    CHECK_ABS(svg_nice_step(0, 10, 5), 2.0, 1e-12);
    CHECK_ABS(svg_nice_step(0.9, 1.35, 8), 0.05, 1e-12);
    CHECK_ABS(svg_nice_step(82, 96, 6), 2.0, 1e-12);
    CHECK_ABS(svg_nice_step(0, 3.1, 6), 0.5, 1e-12);
    struct strbuf b = { 0 };
    struct svg_plot p;
    svg_plot_begin(&p, &b, 400, 300, 0, 10, 80, 100, "x <MiB>", "top-1", "t&t");
    svg_plot_marker(&p, 5, 90, SVG_CIRCLE, 3, "front", "inside <a>");
    CHECK(p.n_clipped == 0);
    svg_plot_marker(&p, 5, 10, SVG_CIRCLE, 3, "screened", "far below");
    svg_plot_marker(&p, 50, 120, SVG_STAR, 3, "chosen", "corner");
    svg_plot_marker(&p, NAN, 90, SVG_CIRCLE, 3, "front", "not drawn");
    CHECK(p.n_clipped == 2);
    const double x[] = { -5, 5, 20 }, y[] = { 90, 90, 90 };
    svg_plot_line(&p, x, y, 3, "frontline");
    svg_plot_hline(&p, 89.2, "budget", "budget", 1);
    svg_plot_end(&p);
    CHECK(!b.oom);
    CHECK(strstr(b.p, "x &lt;MiB&gt;") && strstr(b.p, "aria-label=\"t&amp;t\"") && strstr(b.p, "inside &lt;a&gt;"));
    CHECK(strstr(b.p, "not drawn") == NULL);
    CHECK(strstr(b.p, "far below (outside the axes' range") != NULL);
    /* The line is clipped to the frame: no coordinate left of the frame's left edge (62 px). */
    const char *l = strstr(b.p, "class=\"frontline\" x1=\"");
    CHECK(l && atof(l + strlen("class=\"frontline\" x1=\"")) >= 62.0 - 1e-9);
    CHECK(strncmp(b.p + b.len - 7, "</svg>\n", 7) == 0);
    free(b.p);
}

static void test_command(void)
{
    char *argv[] = { "--budget", "5%", "--out", "my run", "--model", "it's.yaml" };
    char out[256];
    provenance_command(6, argv, out, sizeof out);
    CHECK(strcmp(out, "--budget 5% --out 'my run' --model 'it'\\''s.yaml'") == 0);
    char small[16];
    provenance_command(6, argv, small, sizeof small);
    CHECK(strlen(small) < sizeof small && strstr(small, "...") != NULL);
}

int main(void)
{
    test_escape();
    test_colour();
    test_plot();
    test_command();
    return check_summary();
}
