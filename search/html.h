/* html.h — the small pieces a self-contained HTML page is written with (report_html.c): text and
 * attribute escaping, numbers that may be unknown, and the colour scale of the sensitivity heat
 * map. Everything appends to a strbuf (model/strbuf.h). */
#ifndef RN_HTML_H
#define RN_HTML_H

#include "strbuf.h"

/* Appends s with &, <, >, " and ' escaped, so it is safe both as element text and inside a
 * double- or single-quoted attribute. Bytes >= 0x80 are copied (the page is UTF-8); control
 * characters other than tab and newline become U+FFFD, which HTML cannot carry raw. */
void html_text(struct strbuf *b, const char *s);

/* Appends v with printf format fmt (text around one double conversion); when v is not finite,
 * the text with "n/a" in place of the number. */
void html_num(struct strbuf *b, const char *fmt, double v);

/* The heat map's colour for an accuracy drop of `drop` percentage points on a scale saturating
 * at `cap` > 0 points: white at 0, through yellow and orange to dark red at cap and beyond; a
 * negative drop (the layer's choice scored better than the baseline on the same images) is blue,
 * saturating at -cap/2. NaN (not measured) is light grey. Writes "#rrggbb" and a NUL into out.
 * *dark is set to 1 when white text reads better on the colour than black. */
void html_colour_drop(double drop, double cap, char out[8], int *dark);

#endif
