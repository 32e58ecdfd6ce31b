/* status.c — records the last user-facing error message (see status.h). */
#include "status.h"

#include <stdarg.h>

static char status_buf[1024];

int status_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(status_buf, sizeof status_buf, fmt, ap);
    va_end(ap);
    return code;
}

const char *status_message(void) { return status_buf; }

void status_clear(void) { status_buf[0] = '\0'; }
