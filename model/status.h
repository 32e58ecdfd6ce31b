/* status.h — the two kinds of failure (see STYLE.md "Errors").
 *
 * Bad input is the user's: library functions return a non-zero `enum status`
 * after recording one message through status_error(), which names the file,
 * key or option, the bad value and what was expected. main() prints it.
 * A broken internal invariant is ours: RN_ASSERT prints file:line and aborts. */
#ifndef RN_STATUS_H
#define RN_STATUS_H

#include <stdio.h>
#include <stdlib.h>

enum status {
    STATUS_OK = 0,
    STATUS_BAD_INPUT,   /* malformed file, option or value */
    STATUS_IO,          /* cannot open, read or write a file */
    STATUS_NOMEM,       /* allocation failed */
    STATUS_COUNT
};

/* Records the message (printf-style) as the current error and returns code.
 * The one place to put a breakpoint for any user-facing error. */
int status_error(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The message of the last status_error() call ("" if none). */
const char *status_message(void);

/* Clears the recorded message. */
void status_clear(void);

#define RN_ASSERT(x)                                                        \
    do {                                                                    \
        if (!(x)) {                                                         \
            fprintf(stderr, "%s:%d: internal error: assertion '%s' failed\n", \
                    __FILE__, __LINE__, #x);                                \
            abort();                                                        \
        }                                                                   \
    } while (0)

#endif
