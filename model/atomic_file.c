/* atomic_file.c — temporary file, fsync, rename (see atomic_file.h). */
#include "atomic_file.h"

#include "status.h"
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int file_write_strbuf(FILE *f, void *ctx)
{
    const struct strbuf *b = ctx;
    return b->len == 0 || fwrite(b->p, 1, b->len, f) == b->len;
}

int file_save_strbuf(const char *dir, const char *name, struct strbuf *b)
{
    char path[4096];
    int rc;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        rc = status_error(STATUS_BAD_INPUT, "%s: path too long", dir);
    else if (b->oom)
        rc = status_error(STATUS_NOMEM, "%s: out of memory", path);
    else
        rc = file_write_atomic(path, file_write_strbuf, b);
    free(b->p);
    *b = (struct strbuf){ 0 };
    return rc;
}

struct copy_ctx {
    FILE *in;
};

static int write_copy(FILE *f, void *ctx)
{
    struct copy_ctx *c = ctx;
    char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, c->in)) > 0)
        if (fwrite(buf, 1, got, f) != got) return 0;
    return !ferror(c->in);
}

int file_copy_atomic(const char *src, const char *path)
{
    struct copy_ctx c = { fopen(src, "rb") };
    if (!c.in) return status_error(STATUS_IO, "%s: cannot open: %s", src, strerror(errno));
    const int rc = file_write_atomic(path, write_copy, &c);
    fclose(c.in);
    return rc;
}

int file_read_all(const char *path, struct strbuf *out)
{
    *out = (struct strbuf){ 0 };
    FILE *fp = fopen(path, "rb");
    if (!fp) return status_error(STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) strbuf_put(out, chunk, got);
    const int err = ferror(fp);
    fclose(fp);
    if (err || out->oom) {
        free(out->p);
        *out = (struct strbuf){ 0 };
        return err ? status_error(STATUS_IO, "%s: read error", path) : status_error(STATUS_NOMEM, "%s: out of memory", path);
    }
    return STATUS_OK;
}

static int make_one_dir(const char *path)
{
    if (mkdir(path, 0777) == 0) return STATUS_OK;
    const int err = errno;
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return STATUS_OK;
        return status_error(STATUS_IO, "%s: exists and is not a directory", path);
    }
    return status_error(STATUS_IO, "%s: cannot create directory: %s", path, strerror(err));
}

int file_make_dir(const char *path, int parents)
{
    if (!path || !*path) return status_error(STATUS_BAD_INPUT, "empty directory name");
    if (!parents) return make_one_dir(path);
    char tmp[4096];
    if (strlen(path) >= sizeof tmp) return status_error(STATUS_BAD_INPUT, "%.64s...: directory name too long", path);
    strcpy(tmp, path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/' || p[-1] == '/') continue;
        *p = 0;
        const int rc = make_one_dir(tmp);
        *p = '/';
        if (rc) return rc;
    }
    return make_one_dir(tmp);
}

int file_lock_dir(const char *dir, int *fd)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/.lock", dir) >= (int)sizeof path)
        return status_error(STATUS_BAD_INPUT, "%.64s...: directory name too long", dir);
    const int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (f < 0) return status_error(STATUS_IO, "%s: cannot open the run's lock file: %s", path, strerror(errno));
    /* A POSIX record lock on the whole file: the kernel knows its holder, so the message can name
     * the process, and it goes away with the process. */
    struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
    if (fcntl(f, F_SETLK, &lk) != 0) {
        const int err = errno;
        struct flock who = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
        const long pid = fcntl(f, F_GETLK, &who) == 0 && who.l_type != F_UNLCK ? (long)who.l_pid : 0;
        close(f);
        if (err == EACCES || err == EAGAIN) {
            if (pid > 0)
                return status_error(STATUS_BAD_INPUT, "%s: in use by another rn50-tune process (pid %ld); wait for it to end, or choose another --out", dir, pid);
            return status_error(STATUS_BAD_INPUT, "%s: in use by another rn50-tune process; wait for it to end, or choose another --out", dir);
        }
        return status_error(STATUS_IO, "%s: cannot lock: %s", path, strerror(err));
    }
    *fd = f;
    return STATUS_OK;
}
