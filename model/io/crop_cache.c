/* crop_cache.c — the memory-mapped cache of preprocessed crops (see crop_cache.h).
 * Processes that build one cache at the same time each write their own file and rename it over
 * the cache (the files are equal; the last rename wins). Not here: eviction of old caches (one
 * file per dataset, split, limit and transform, rebuilt in place when stale). */
#include "crop_cache.h"

#include "atomic_file.h"
#include "clock.h"
#include "image_decode.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "RN50CRP1"
#define CACHE_HEADER 64
#define CACHE_GOOD 1
#define CACHE_BAD 2
/* Images decoded per window: memory is this many crops plus one decoded image per thread. */
#define CACHE_WINDOW 64

struct crop_cache {
    void *map;
    size_t map_len;
    int64_t n;
    size_t per;              /* bytes per crop */
    const uint8_t *status;   /* [n] */
    const uint8_t *crops;    /* [n, per] */
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define FNV_OFFSET 0xcbf29ce484222325ull

/* The transform's fields one by one (not the struct's bytes: padding is not ours to hash). */
static uint64_t hash_transform(uint64_t h, const struct image_transform *t)
{
    const int32_t v[5] = { t->resize, t->crop_h, t->crop_w, t->channels, (int32_t)t->interp };
    h = fnv(h, v, sizeof v);
    h = fnv(h, t->mean, sizeof t->mean);
    return fnv(h, t->std, sizeof t->std);
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

int crop_cache_path(const char *dir, const char *what, const struct image_transform *t, char *out, size_t cap)
{
    char base[3072];
    const char *env = getenv("RN50_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (dir && *dir) snprintf(base, sizeof base, "%s", dir);
    else if (env && *env) snprintf(base, sizeof base, "%s", env);
    else if (xdg && *xdg) snprintf(base, sizeof base, "%s/rn50-tune", xdg);
    else if (home && *home) snprintf(base, sizeof base, "%s/.cache/rn50-tune", home);
    else return status_error(STATUS_IO, "no folder for the crop cache: set --cache-dir, RN50_CACHE_DIR or HOME");
    /* Make the folder and its parents (mkdir -p). */
    for (char *p = base + 1; ; p++) {
        const char c = *p;
        if (c == '/' || c == '\0') {
            *p = '\0';
            if (mkdir(base, 0777) != 0 && errno != EEXIST)
                return status_error(STATUS_IO, "%s: cannot make the crop-cache folder: %s", base, strerror(errno));
            *p = c;
        }
        if (c == '\0') break;
    }
    const uint64_t h = hash_transform(fnv(FNV_OFFSET, what, strlen(what)), t);
    if ((size_t)snprintf(out, cap, "%s/%016llx.crops", base, (unsigned long long)h) >= cap)
        return status_error(STATUS_IO, "%s: crop-cache path too long", base);
    return STATUS_OK;
}

/* The content key: transform, then each image's path, label, size and modification time. */
static int content_key(const struct crop_cache_request *rq, uint64_t *key)
{
    uint64_t h = hash_transform(FNV_OFFSET, rq->t);
    for (int64_t i = 0; i < rq->list->n; i++) {
        const char *p = rq->list->paths[i];
        struct stat st;
        if (stat(p, &st) != 0) return status_error(STATUS_BAD_INPUT, "%s: cannot read image: %s", p, strerror(errno));
        const int64_t v[4] = { rq->list->labels[i], (int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec };
        h = fnv(fnv(h, p, strlen(p) + 1), v, sizeof v);
    }
    *key = h;
    return STATUS_OK;
}

struct header {
    char magic[8];
    uint64_t key;
    int64_t n;
    int32_t C, H, W;
};

/* Maps path and checks it against key and the request; 1 when it is usable, else 0 with why. */
static int cache_map(const char *path, uint64_t key, const struct crop_cache_request *rq, struct crop_cache *c, char *why,
                     size_t why_cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(why, why_cap, "no cache yet");
        return 0;
    }
    struct stat st;
    struct header h;
    const size_t per = (size_t)rq->t->channels * rq->t->crop_h * rq->t->crop_w;
    const size_t want = CACHE_HEADER + round64((size_t)rq->list->n) + (size_t)rq->list->n * per;
    int ok = fstat(fd, &st) == 0 && st.st_size >= CACHE_HEADER && pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
             memcmp(h.magic, CACHE_MAGIC, 8) == 0;
    if (!ok) {
        snprintf(why, why_cap, "%s is not a crop cache", path);
    } else if (h.key != key || h.n != rq->list->n || h.C != rq->t->channels || h.H != rq->t->crop_h || h.W != rq->t->crop_w) {
        snprintf(why, why_cap, "stale: the file list, a file or the transform changed since it was built");
        ok = 0;
    } else if ((size_t)st.st_size != want) {
        snprintf(why, why_cap, "%s has %lld bytes, expected %zu (cut short?)", path, (long long)st.st_size, want);
        ok = 0;
    }
    if (ok) {
        void *m = mmap(NULL, want, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            snprintf(why, why_cap, "cannot map %s: %s", path, strerror(errno));
            ok = 0;
        } else {
            c->map = m;
            c->map_len = want;
            c->n = rq->list->n;
            c->per = per;
            c->status = (const uint8_t *)m + CACHE_HEADER;
            c->crops = c->status + round64((size_t)c->n);
        }
    }
    close(fd);
    return ok;
}

struct build {
    const struct crop_cache_request *rq;
    uint64_t key;
    int rc;                  /* a bad image without skip_bad, or out of memory */
    char msg[1024];
    int64_t n_bad;
};

/* atomic_file's writer: header, status bytes, crops, decoding a window at a time in parallel. */
static int build_write(FILE *f, void *ctx)
{
    struct build *b = ctx;
    const struct crop_cache_request *rq = b->rq;
    const int64_t n = rq->list->n;
    const size_t per = (size_t)rq->t->channels * rq->t->crop_h * rq->t->crop_w;
    uint8_t head[CACHE_HEADER] = { 0 };
    struct header h = { CACHE_MAGIC, b->key, n, rq->t->channels, rq->t->crop_h, rq->t->crop_w };
    memcpy(head, &h, sizeof h);
    uint8_t *status = calloc(round64((size_t)n) ? round64((size_t)n) : 64, 1);
    uint8_t *win = malloc(per * CACHE_WINDOW);
    int win_rc[CACHE_WINDOW];
    char (*win_msg)[256] = malloc(sizeof *win_msg * CACHE_WINDOW);
    int ok = status && win && win_msg;
    if (!ok) {
        b->rc = status_error(STATUS_NOMEM, "out of memory for the crop cache");
        snprintf(b->msg, sizeof b->msg, "%s", status_message());
        errno = ENOMEM;
    }
    /* The status bytes are written last (seek back); first a placeholder. */
    ok = ok && fwrite(head, 1, CACHE_HEADER, f) == CACHE_HEADER && fwrite(status, 1, round64((size_t)n), f) == round64((size_t)n);
    for (int64_t first = 0; ok && first < n; first += CACHE_WINDOW) {
        const int m = (int)(n - first < CACHE_WINDOW ? n - first : CACHE_WINDOW);
        const int threads = rq->threads > 0 ? rq->threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (int k = 0; k < m; k++) {
            struct image_u8 im;
            int rc = image_decode_file(rq->list->paths[first + k], rq->t->channels, &im);
            if (!rc) rc = image_transform_eval(&im, rq->t, win + (size_t)k * per);
            image_u8_free(&im);
            win_rc[k] = rc;
        }
        for (int k = 0; k < m && ok; k++) {
            if (win_rc[k] == STATUS_OK) {
                status[first + k] = CACHE_GOOD;
                continue;
            }
            /* status_error's message buffer is one per process, so the threads' messages were
             * garbled; a failed image is decoded again here, alone, for its message. */
            struct image_u8 im;
            int rc = image_decode_file(rq->list->paths[first + k], rq->t->channels, &im);
            if (!rc) rc = image_transform_eval(&im, rq->t, win + (size_t)k * per);
            image_u8_free(&im);
            if (rc == STATUS_OK) {   /* a transient failure (memory while all threads decoded) */
                status[first + k] = CACHE_GOOD;
                continue;
            }
            win_rc[k] = rc;
            snprintf(win_msg[k], sizeof win_msg[k], "%s", status_message());
            if (win_rc[k] == STATUS_BAD_INPUT || win_rc[k] == STATUS_IO) {
                if (rq->skip_bad) {
                    status[first + k] = CACHE_BAD;
                    memset(win + (size_t)k * per, 0, per);
                    b->n_bad++;
                    fprintf(stderr, "data: skipping bad image %s\n", win_msg[k]);
                    continue;
                }
                b->rc = status_error(STATUS_BAD_INPUT, "%s (--skip-bad skips bad images)", win_msg[k]);
            } else {
                b->rc = status_error(win_rc[k], "%s", win_msg[k]);
            }
            snprintf(b->msg, sizeof b->msg, "%s", status_message());
            errno = EINVAL;
            ok = 0;
        }
        ok = ok && fwrite(win, 1, per * (size_t)m, f) == per * (size_t)m;
    }
    ok = ok && fseek(f, CACHE_HEADER, SEEK_SET) == 0 && fwrite(status, 1, round64((size_t)n), f) == round64((size_t)n);
    free(status);
    free(win);
    free(win_msg);
    return ok;
}

int crop_cache_open(const struct crop_cache_request *rq, struct crop_cache **out, struct crop_cache_info *info)
{
    *out = NULL;
    memset(info, 0, sizeof *info);
    const double t0 = clock_now_s();
    struct crop_cache *c = calloc(1, sizeof *c);
    if (!c) return status_error(STATUS_NOMEM, "out of memory");
    struct build b = { rq, 0, STATUS_OK, "", 0 };
    int rc = content_key(rq, &b.key);
    if (rc) goto fail;
    if (!cache_map(rq->path, b.key, rq, c, info->reason, sizeof info->reason)) {
        info->built = 1;
        /* Built under a name of this process's own, then renamed: processes that build the same
         * cache at once (MPI ranks) each write a whole file, and the last rename wins. */
        char mine[4200];
        snprintf(mine, sizeof mine, "%s.%ld", rq->path, (long)getpid());
        rc = file_write_atomic(mine, build_write, &b);
        if (b.rc) rc = status_error(b.rc, "%s", b.msg);
        if (!rc && rename(mine, rq->path) != 0) {
            rc = status_error(STATUS_IO, "%s: cannot rename the new crop cache %s: %s", rq->path, mine, strerror(errno));
            remove(mine);
        }
        if (rc) goto fail;
        char why[160];
        if (!cache_map(rq->path, b.key, rq, c, why, sizeof why)) {
            rc = status_error(STATUS_IO, "%s: the crop cache just written cannot be used: %s", rq->path, why);
            goto fail;
        }
    }
    for (int64_t i = 0; i < c->n; i++) info->n_bad += c->status[i] == CACHE_BAD;
    if (info->n_bad && !rq->skip_bad) {
        int64_t i = 0;
        while (c->status[i] != CACHE_BAD) i++;
        rc = status_error(STATUS_BAD_INPUT, "%s: a bad image (skipped when the cache %s was built with --skip-bad); fix it or pass --skip-bad",
                          rq->list->paths[i], rq->path);
        goto fail;
    }
    info->seconds = clock_now_s() - t0;
    *out = c;
    return STATUS_OK;
fail:
    crop_cache_free(c);
    return rc;
}

const uint8_t *crop_cache_image(const struct crop_cache *c, int64_t i)
{
    RN_ASSERT(i >= 0 && i < c->n);
    return c->status[i] == CACHE_GOOD ? c->crops + (size_t)i * c->per : NULL;
}

void crop_cache_free(struct crop_cache *c)
{
    if (!c) return;
    if (c->map) munmap(c->map, c->map_len);
    free(c);
}
