/* store.c — the append-only JSON-lines results store of a search run and its CSV export (see
 * store.h for the file format and the crash guarantees).
 *
 * Durability rests on three habits: a line is committed only by its final newline; each line goes
 * out in one write() followed by fsync(), so a kill leaves at most an unterminated tail; and that
 * tail is cut off when the store is reopened, so appends never glue a new record onto a torn one.
 * Every line is parsed back before it is written, so a line that would not load (say, a name in
 * Latin-1 rather than UTF-8) is refused at append time instead of poisoning the file for resume.
 * Not here: indexing (store_find is a linear scan; thousands of points cost microseconds),
 * concurrent writers (the file lock refuses them), and the front/summary files (the report). */
#include "store.h"

#include "json.h"
#include "atomic_file.h"
#include "status.h"
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

struct store {
    int fd;
    char *path;   /* DIR/points.jsonl, for messages */
    off_t size;   /* committed length: where a failed append is cut back to */
    int failed;   /* a write failed; the file's tail is no longer trusted */
};


/* The shortest of %.15g..%.17g that reads back as the same double, so files stay readable
 * (91.23, not 91.230000000000004) and still round-trip exactly. */
static void store_format_double(char out[32], double x)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, x);
        if (strtod(out, NULL) == x)
            return;
    }
}

void store_key_of(const char *config_text, char out[STORE_KEY_LEN + 1])
{
    RN_ASSERT(config_text && out);
    /* FNV-1a 64: offset basis and prime from the reference description. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *c = (const unsigned char *)config_text; *c; c++) {
        h ^= *c;
        h *= 0x100000001b3ull;
    }
    snprintf(out, STORE_KEY_LEN + 1, "%016llx", (unsigned long long)h);
}

static int store_key_valid(const char *key, size_t len)
{
    if (len != STORE_KEY_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
            return 0;
    return 1;
}

/* mkdir -p: every missing prefix of dir is created; existing ones are fine. */
static int store_mkdirs(const char *dir)
{
    char *tmp = strdup(dir);
    if (!tmp)
        return status_error(STATUS_NOMEM, "%s: out of memory", dir);
    int rc = STATUS_OK;
    for (char *c = tmp + 1;; c++) {
        if (*c != '/' && *c != '\0')
            continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
            rc = status_error(STATUS_IO, "%s: cannot create directory %s: %s", dir, tmp, strerror(errno));
            break;
        }
        *c = saved;
        if (saved == '\0')
            break;
    }
    free(tmp);
    return rc;
}

static char *store_points_path(const char *dir)
{
    size_t n = strlen(dir);
    char *path = malloc(n + sizeof "/" STORE_POINTS_FILE);
    if (path)
        snprintf(path, n + sizeof "/" STORE_POINTS_FILE, "%s/%s", dir, STORE_POINTS_FILE);
    return path;
}

/* The length of the file up to and including its last newline (0 if none), read backwards in
 * blocks so a large store is not read whole. -1 on a read error. */
static off_t store_committed_length(int fd, off_t size)
{
    char block[4096];
    off_t end = size;
    while (end > 0) {
        off_t start = end > (off_t)sizeof block ? end - (off_t)sizeof block : 0;
        size_t want = (size_t)(end - start);
        ssize_t got = pread(fd, block, want, start);
        if (got < 0 && errno == EINTR)
            continue;
        if (got != (ssize_t)want)
            return -1;
        for (size_t i = want; i-- > 0;)
            if (block[i] == '\n')
                return start + (off_t)i + 1;
        end = start;
    }
    return 0;
}

int store_open(const char *dir, int create, struct store **out)
{
    RN_ASSERT(dir && out);
    *out = NULL;
    struct store *s = calloc(1, sizeof *s);
    int rc = STATUS_OK;
    if (!s)
        return status_error(STATUS_NOMEM, "%s: out of memory", dir);
    s->fd = -1;
    if (dir[0] == '\0') {
        rc = status_error(STATUS_IO, "results store: empty directory name");
        goto fail;
    }
    if (create && (rc = store_mkdirs(dir)) != STATUS_OK)
        goto fail;
    struct stat st;
    if (stat(dir, &st) != 0) {
        rc = status_error(STATUS_IO, "%s: cannot open the results directory: %s", dir, strerror(errno));
        goto fail;
    }
    if (!S_ISDIR(st.st_mode)) {
        rc = status_error(STATUS_IO, "%s: the results directory is not a directory", dir);
        goto fail;
    }
    s->path = store_points_path(dir);
    if (!s->path) {
        rc = status_error(STATUS_NOMEM, "%s: out of memory", dir);
        goto fail;
    }
    /* Read access too: the torn-tail check reads the end of the file. */
    s->fd = open(s->path, O_RDWR | O_APPEND | (create ? O_CREAT : 0), 0666);
    if (s->fd < 0) {
        rc = status_error(STATUS_IO, "%s: cannot open the results store: %s", s->path, strerror(errno));
        goto fail;
    }
    struct flock lk = {0};
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;
    if (fcntl(s->fd, F_SETLK, &lk) != 0) {
        rc = status_error(STATUS_IO, "%s: the results store is in use by another process (%s)", s->path,
                          strerror(errno));
        goto fail;
    }
    if (fstat(s->fd, &st) != 0) {
        rc = status_error(STATUS_IO, "%s: cannot stat the results store: %s", s->path, strerror(errno));
        goto fail;
    }
    s->size = store_committed_length(s->fd, st.st_size);
    if (s->size < 0) {
        rc = status_error(STATUS_IO, "%s: cannot read the results store: %s", s->path, strerror(errno));
        goto fail;
    }
    /* A torn last line from a crash is cut off now, or the next append would extend it into one
     * corrupt line in the middle of the file. It was never committed, so nothing is lost. */
    if (s->size != st.st_size && (ftruncate(s->fd, s->size) != 0 || fsync(s->fd) != 0)) {
        rc = status_error(STATUS_IO, "%s: cannot cut off the unfinished last line: %s", s->path, strerror(errno));
        goto fail;
    }
    /* A new file's directory entry must be durable too, or a crash could lose the whole file. */
    if (create) {
        int dfd = open(dir, O_RDONLY);
        if (dfd < 0 || fsync(dfd) != 0) {
            rc = status_error(STATUS_IO, "%s: cannot sync the results directory: %s", dir, strerror(errno));
            if (dfd >= 0)
                close(dfd);
            goto fail;
        }
        close(dfd);
    }
    *out = s;
    return STATUS_OK;
fail:
    store_close(s);
    return rc;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);  /* also releases the lock */
    free(s->path);
    free(s);
}

static void store_put_string_field(struct strbuf *b, const char *name, const char *value)
{
    const char *v = value ? value : "";
    char *q = json_quote(v, strlen(v));
    if (!q) {
        b->oom = 1;
        return;
    }
    strbuf_str(b, ",\"");
    strbuf_str(b, name);
    strbuf_str(b, "\":");
    strbuf_str(b, q);
    free(q);
}

/* JSON has no NaN or infinity; null stands for "not evaluated" and loads back as NaN. */
static void store_put_number_field(struct strbuf *b, const char *name, double x)
{
    char num[32];
    if (isfinite(x))
        store_format_double(num, x);
    else
        snprintf(num, sizeof num, "null");
    strbuf_str(b, ",\"");
    strbuf_str(b, name);
    strbuf_str(b, "\":");
    strbuf_str(b, num);
}

int store_append(struct store *s, const struct store_point *p)
{
    RN_ASSERT(s && p);
    if (s->failed)
        return status_error(STATUS_IO, "%s: an earlier write failed; the store is closed for appends", s->path);
    size_t key_len = strnlen(p->key, sizeof p->key);
    if (!store_key_valid(p->key, key_len))
        return status_error(STATUS_BAD_INPUT, "%s: point key '%.*s' is not %d lowercase hex digits", s->path,
                            (int)key_len, p->key, STORE_KEY_LEN);
    struct strbuf b = {0};
    char num[32];
    strbuf_str(&b, "{\"key\":\"");
    strbuf_str(&b, p->key);
    strbuf_str(&b, "\"");
    store_put_string_field(&b, "name", p->name);
    store_put_string_field(&b, "stage", p->stage);
    store_put_number_field(&b, "top1_val", p->top1_val);
    store_put_number_field(&b, "top1_test", p->top1_test);
    snprintf(num, sizeof num, ",\"bytes\":%llu", (unsigned long long)p->bytes);
    strbuf_str(&b, num);
    store_put_number_field(&b, "latency_ms", p->latency_ms);
    store_put_number_field(&b, "seconds", p->seconds);
    store_put_string_field(&b, "config", p->config);
    strbuf_str(&b, "}\n");
    if (b.oom) {
        free(b.p);
        return status_error(STATUS_NOMEM, "%s: out of memory formatting a point", s->path);
    }
    /* Refuse now what store_load would refuse later. */
    struct json_value *check = NULL;
    int rc = json_parse(b.p, b.len - 1, s->path, &check);
    json_free(check);
    if (rc != STATUS_OK) {
        free(b.p);
        if (rc == STATUS_NOMEM)
            return rc;
        char why[512];
        snprintf(why, sizeof why, "%s", status_message());  /* status_error overwrites it */
        return status_error(STATUS_BAD_INPUT, "%s: point %s cannot be stored: %s", s->path, p->key, why);
    }
    /* One write() carries the whole line; the loop only matters for a short write (disk full,
     * signal), after which the rest follows or the tail is cut back below. */
    size_t off = 0;
    int err = 0;
    while (off < b.len) {
        ssize_t w = write(s->fd, b.p + off, b.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err = w < 0 ? errno : EIO;
            break;
        }
        off += (size_t)w;
    }
    if (!err && fsync(s->fd) != 0)
        err = errno;
    size_t len = b.len;
    free(b.p);
    if (err) {
        /* Best effort: drop the partial line so the file ends on a commit mark. If even that
         * fails, store_open cuts the tail next time. */
        if (ftruncate(s->fd, s->size) == 0)
            (void)fsync(s->fd);
        s->failed = 1;
        return status_error(STATUS_IO, "%s: cannot append point %s: %s", s->path, p->key, strerror(err));
    }
    s->size += (off_t)len;
    return STATUS_OK;
}

void store_points_free(struct store_point *points, int n)
{
    if (!points)
        return;
    for (int i = 0; i < n; i++) {
        free(points[i].name);
        free(points[i].config);
        free(points[i].stage);
    }
    free(points);
}

/* Reads the whole file into a NUL-terminated buffer. */
static int store_read_file(const char *path, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return status_error(STATUS_IO, "%s: cannot open the results store: %s", path, strerror(errno));
    struct strbuf b = {0};
    char block[65536];
    size_t got;
    while ((got = fread(block, 1, sizeof block, fp)) > 0)
        strbuf_put(&b, block, got);
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(b.p);
        return status_error(STATUS_IO, "%s: read error", path);
    }
    if (b.oom) {
        free(b.p);
        return status_error(STATUS_NOMEM, "%s: out of memory reading the results store", path);
    }
    *out = b.p;
    *out_len = b.len;
    return STATUS_OK;
}

enum {
    STORE_F_KEY,
    STORE_F_NAME,
    STORE_F_STAGE,
    STORE_F_TOP1_VAL,
    STORE_F_TOP1_TEST,
    STORE_F_BYTES,
    STORE_F_LATENCY,
    STORE_F_SECONDS,
    STORE_F_CONFIG,
    STORE_F_COUNT
};

static const char *const store_field_names[] = {
    "key", "name", "stage", "top1_val", "top1_test", "bytes", "latency_ms", "seconds", "config",
};
_Static_assert(sizeof store_field_names / sizeof store_field_names[0] == STORE_F_COUNT,
               "one name per store field");

/* Fills p from one parsed line; strings are strdup'd into p. */
static int store_point_from_json(const struct json_value *obj, const char *path, int line,
                                 struct store_point *p)
{
    if (obj->type != JSON_OBJECT)
        return status_error(STATUS_BAD_INPUT, "%s line %d: expected a JSON object, got %s", path, line,
                            json_type_name(obj->type));
    int seen[STORE_F_COUNT] = {0};
    for (const struct json_value *m = json_first(obj); m; m = m->next) {
        int f = 0;
        while (f < STORE_F_COUNT && !(strlen(store_field_names[f]) == m->key_len &&
                                      memcmp(store_field_names[f], m->key, m->key_len) == 0))
            f++;
        if (f == STORE_F_COUNT)
            return status_error(STATUS_BAD_INPUT, "%s line %d: unknown field '%s'", path, line, m->key);
        seen[f] = 1;
        const char *fname = store_field_names[f];
        switch (f) {
        case STORE_F_KEY:
            if (m->type != JSON_STRING || !store_key_valid(m->str, m->str_len))
                return status_error(STATUS_BAD_INPUT, "%s line %d: 'key' must be %d lowercase hex digits", path,
                                    line, STORE_KEY_LEN);
            memcpy(p->key, m->str, STORE_KEY_LEN + 1);
            break;
        case STORE_F_NAME:
        case STORE_F_STAGE:
        case STORE_F_CONFIG: {
            if (m->type != JSON_STRING || strlen(m->str) != m->str_len)
                return status_error(STATUS_BAD_INPUT, "%s line %d: '%s' must be a string without NUL, got %s",
                                    path, line, fname, json_type_name(m->type));
            char *copy = strdup(m->str);
            if (!copy)
                return status_error(STATUS_NOMEM, "%s: out of memory", path);
            char **dst = f == STORE_F_NAME ? &p->name : f == STORE_F_STAGE ? &p->stage : &p->config;
            *dst = copy;
            break;
        }
        case STORE_F_BYTES:
            if (m->type != JSON_NUMBER || !m->is_integer || m->integer < 0)
                return status_error(STATUS_BAD_INPUT, "%s line %d: 'bytes' must be a non-negative integer", path,
                                    line);
            p->bytes = (size_t)m->integer;
            break;
        default: {
            double x;
            if (m->type == JSON_NULL)
                x = NAN;
            else if (m->type == JSON_NUMBER)
                x = m->number;
            else
                return status_error(STATUS_BAD_INPUT, "%s line %d: '%s' must be a number or null, got %s", path,
                                    line, fname, json_type_name(m->type));
            if (f == STORE_F_TOP1_VAL)
                p->top1_val = x;
            else if (f == STORE_F_TOP1_TEST)
                p->top1_test = x;
            else if (f == STORE_F_LATENCY)
                p->latency_ms = x;
            else
                p->seconds = x;
            break;
        }
        }
    }
    for (int f = 0; f < STORE_F_COUNT; f++)
        if (!seen[f])
            return status_error(STATUS_BAD_INPUT, "%s line %d: missing field '%s'", path, line,
                                store_field_names[f]);
    return STATUS_OK;
}

int store_load(const char *dir, struct store_point **points, int *n, int *n_skipped)
{
    RN_ASSERT(dir && points && n && n_skipped);
    *points = NULL;
    *n = 0;
    *n_skipped = 0;
    struct store_point *arr = NULL;
    int count = 0, cap = 0, rc;
    char *text = NULL;
    size_t len = 0;
    struct json_value *v = NULL;
    char *path = store_points_path(dir);
    if (!path)
        return status_error(STATUS_NOMEM, "%s: out of memory", dir);
    if ((rc = store_read_file(path, &text, &len)) != STATUS_OK)
        goto fail;
    size_t start = 0;
    for (int line = 1; start < len; line++) {
        const char *nl = memchr(text + start, '\n', len - start);
        if (!nl) {
            /* No commit mark: a write cut short by a crash. */
            *n_skipped = 1;
            break;
        }
        size_t end = (size_t)(nl - text);
        if (count == cap) {
            int ncap = cap ? 2 * cap : 64;
            struct store_point *grown = realloc(arr, (size_t)ncap * sizeof *arr);
            if (!grown) {
                rc = status_error(STATUS_NOMEM, "%s: out of memory", path);
                goto fail;
            }
            arr = grown;
            cap = ncap;
        }
        char origin[64];
        snprintf(origin, sizeof origin, "line %d", line);
        if ((rc = json_parse(text + start, end - start, origin, &v)) != STATUS_OK) {
            if (rc != STATUS_NOMEM) {
                char why[512];
                snprintf(why, sizeof why, "%s", status_message());  /* status_error overwrites it */
                rc = status_error(rc, "%s: %s", path, why);
            }
            goto fail;
        }
        struct store_point *p = &arr[count++];
        memset(p, 0, sizeof *p);
        if ((rc = store_point_from_json(v, path, line, p)) != STATUS_OK)
            goto fail;
        json_free(v);
        v = NULL;
        start = end + 1;
    }
    free(text);
    free(path);
    if (count == 0) {
        free(arr);
        arr = NULL;
    }
    *points = arr;
    *n = count;
    return STATUS_OK;
fail:
    json_free(v);
    store_points_free(arr, count);
    free(text);
    free(path);
    *n_skipped = 0;
    return rc;
}

int store_find(const struct store_point *points, int n, const char *key)
{
    RN_ASSERT(key && (n == 0 || points));
    for (int i = n - 1; i >= 0; i--)
        if (strcmp(points[i].key, key) == 0)
            return i;
    return -1;
}

/* RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. */
static void store_csv_field(struct strbuf *b, const char *s)
{
    if (!s)
        s = "";
    if (!strpbrk(s, ",\"\r\n")) {
        strbuf_str(b, s);
        return;
    }
    strbuf_str(b, "\"");
    for (const char *c = s; *c; c++) {
        if (*c == '"')
            strbuf_str(b, "\"\"");
        else
            strbuf_put(b, c, 1);
    }
    strbuf_str(b, "\"");
}

static void store_csv_number(struct strbuf *b, double x)
{
    char num[32];
    if (!isfinite(x))
        return;  /* empty field: not evaluated */
    store_format_double(num, x);
    strbuf_str(b, num);
}

static int store_write_buf(FILE *fp, void *ctx)
{
    const struct strbuf *b = ctx;
    return fwrite(b->p, 1, b->len, fp) == b->len;
}

int store_write_csv(const struct store_point *points, int n, const unsigned char *front_mask,
                    const char *path)
{
    RN_ASSERT(path && n >= 0 && (n == 0 || points));
    struct strbuf b = {0};
    int rc = STATUS_OK;
    strbuf_str(&b, "id,key,name,stage,top1_val,top1_test,bytes,latency_ms,seconds,on_front,config\n");
    for (int i = 0; i < n; i++) {
        const struct store_point *p = &points[i];
        char num[48];
        snprintf(num, sizeof num, "%d,", i);
        strbuf_str(&b, num);
        store_csv_field(&b, p->key);
        strbuf_str(&b, ",");
        store_csv_field(&b, p->name);
        strbuf_str(&b, ",");
        store_csv_field(&b, p->stage);
        strbuf_str(&b, ",");
        store_csv_number(&b, p->top1_val);
        strbuf_str(&b, ",");
        store_csv_number(&b, p->top1_test);
        snprintf(num, sizeof num, ",%llu,", (unsigned long long)p->bytes);
        strbuf_str(&b, num);
        store_csv_number(&b, p->latency_ms);
        strbuf_str(&b, ",");
        store_csv_number(&b, p->seconds);
        strbuf_str(&b, front_mask && front_mask[i] ? ",1," : ",0,");
        store_csv_field(&b, p->config);
        strbuf_str(&b, "\n");
    }
    if (b.oom) {
        rc = status_error(STATUS_NOMEM, "%s: out of memory formatting the CSV", path);
        goto fail;
    }
    rc = file_write_atomic(path, store_write_buf, &b);
fail:
    free(b.p);
    return rc;
}
