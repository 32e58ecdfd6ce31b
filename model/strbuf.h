/* strbuf.h — a growing NUL-terminated byte buffer for building text (JSON headers, JSON lines,
 * CSV). Out-of-memory is sticky: append freely, check `oom` once at the end. Zero-initialise
 * (`struct strbuf b = {0};`), free `b.p` when done. */
#ifndef RN_STRBUF_H
#define RN_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *p;
    size_t len, cap;
    int oom;
};

void strbuf_put(struct strbuf *b, const char *s, size_t n);
void strbuf_str(struct strbuf *b, const char *s);
/* printf into the buffer (no length limit). */
void strbuf_printf(struct strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
