/* atomic_file.c — temporary file, fsync, rename (see atomic_file.h). */
#include "atomic_file.h"

#include "status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int file_write_atomic(const char *path, int (*write_fn)(FILE *f, void *ctx), void *ctx)
{
    const size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp) return status_error(STATUS_NOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp", path);
    int rc = STATUS_OK;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        rc = status_error(STATUS_IO, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    errno = 0;
    int ok = write_fn(fp, ctx) && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    int err = errno;
    if (fclose(fp) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (!ok) {
        rc = status_error(STATUS_IO, "%s: writing %s failed: %s", path, tmp, strerror(err ? err : EIO));
    } else if (rename(tmp, path) != 0) {
        rc = status_error(STATUS_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    }
    if (rc) remove(tmp);
    free(tmp);
    return rc;
}
