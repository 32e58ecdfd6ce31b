/* safetensors.c — safetensors reader (whole file in memory, validated like
 * the Hugging Face reference) and writer (insertion order, atomic rename).
 *
 * Not implemented: memory mapping, lazy loading, dtypes outside enum
 * st_dtype (U16/U32/U64, FP8 variants), more than ST_MAX_DIMS dimensions,
 * big-endian hosts (refused at compile time), and byte alignment of tensor
 * data beyond the 8-byte header padding the writer adds. */
#include "safetensors.h"

#include "half.h"
#include "json.h"
#include "atomic_file.h"
#include "status.h"
#include "strbuf.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Tensor data is little-endian on disk and is copied byte for byte. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

static const char *const st_dtype_names[] = {
    "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL",
};
_Static_assert(sizeof st_dtype_names / sizeof st_dtype_names[0] == ST_DTYPE_COUNT,
               "st_dtype_names must cover enum st_dtype");

static const size_t st_dtype_sizes[] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};
_Static_assert(sizeof st_dtype_sizes / sizeof st_dtype_sizes[0] == ST_DTYPE_COUNT,
               "st_dtype_sizes must cover enum st_dtype");

#define ST_DTYPE_LIST "F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL"

const char *st_dtype_name(enum st_dtype dtype)
{
    RN_ASSERT((unsigned)dtype < ST_DTYPE_COUNT);
    return st_dtype_names[dtype];
}

size_t st_dtype_size(enum st_dtype dtype)
{
    RN_ASSERT((unsigned)dtype < ST_DTYPE_COUNT);
    return st_dtype_sizes[dtype];
}

int st_dtype_from_name(const char *name, enum st_dtype *out)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        if (strcmp(name, st_dtype_names[i]) == 0) {
            *out = (enum st_dtype)i;
            return 0;
        }
    }
    return -1;
}

/* ---------------------------------------------------------------- reader */

struct st_file {
    char *path;
    unsigned char *buf;          /* the whole file */
    size_t size;
    struct json_value *header;   /* owns the names and metadata strings */
    int n_tensors;
    struct st_tensor *tensors;   /* [n_tensors], by data offset */
    int *by_name;                /* [n_tensors] indices sorted by name */
    int n_meta;
    const char **meta_keys;      /* [n_meta], header order */
    const char **meta_values;
};

/* Formats a shape as "[2, 3]" into buf (truncating harmlessly if long). */
static const char *st_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = 0;
    k += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
    return buf;
}

/* Reads the file into f->buf. */
static int st_slurp(struct st_file *f)
{
    FILE *fp = fopen(f->path, "rb");
    if (!fp)
        return status_error(STATUS_IO, "%s: cannot open: %s", f->path, strerror(errno));
    struct stat sb;
    int rc = STATUS_OK;
    if (fstat(fileno(fp), &sb) != 0) {
        rc = status_error(STATUS_IO, "%s: cannot stat: %s", f->path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = status_error(STATUS_IO, "%s: not a regular file (expected a safetensors file)", f->path);
        goto done;
    }
    if ((uintmax_t)sb.st_size > SIZE_MAX - 1) {
        rc = status_error(STATUS_NOMEM, "%s: file of %jd bytes does not fit in memory", f->path,
                          (intmax_t)sb.st_size);
        goto done;
    }
    f->size = (size_t)sb.st_size;
    f->buf = malloc(f->size ? f->size : 1);
    if (!f->buf) {
        rc = status_error(STATUS_NOMEM, "%s: cannot allocate %zu bytes to read it", f->path, f->size);
        goto done;
    }
    if (f->size && fread(f->buf, 1, f->size, fp) != f->size) {
        rc = status_error(STATUS_IO, "%s: read failed or file shrank while reading (expected %zu bytes)",
                          f->path, f->size);
        goto done;
    }
done:
    fclose(fp);
    return rc;
}

/* A JSON integer in [0, INT64_MAX], as the reference's usize fields. */
static int st_json_uint(const struct json_value *v, int64_t *out)
{
    if (!v || v->type != JSON_NUMBER || !v->is_integer || v->integer < 0)
        return -1;
    *out = v->integer;
    return 0;
}

static int st_parse_metadata(struct st_file *f, const struct json_value *m)
{
    if (m->type == JSON_NULL) /* the reference's Option<HashMap> accepts null */
        return STATUS_OK;
    if (m->type != JSON_OBJECT)
        return status_error(STATUS_BAD_INPUT, "%s: __metadata__ is a JSON %s (expected an object of strings)",
                            f->path, json_type_name(m->type));
    if (m->n_children > INT_MAX)
        return status_error(STATUS_BAD_INPUT, "%s: __metadata__ has %lld entries (expected at most %d)",
                            f->path, (long long)m->n_children, INT_MAX);
    f->meta_keys = malloc((size_t)(m->n_children ? m->n_children : 1) * sizeof *f->meta_keys);
    f->meta_values = malloc((size_t)(m->n_children ? m->n_children : 1) * sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values)
        return status_error(STATUS_NOMEM, "%s: out of memory reading __metadata__", f->path);
    for (const struct json_value *e = json_first(m); e; e = e->next) {
        if (strlen(e->key) != e->key_len)
            return status_error(STATUS_BAD_INPUT, "%s: __metadata__ key \"%s...\" contains a NUL byte (expected plain text)",
                                f->path, e->key);
        if (e->type != JSON_STRING)
            return status_error(STATUS_BAD_INPUT, "%s: __metadata__ key '%s': value is a JSON %s (expected a string)",
                                f->path, e->key, json_type_name(e->type));
        if (strlen(e->str) != e->str_len)
            return status_error(STATUS_BAD_INPUT, "%s: __metadata__ key '%s': value contains a NUL byte (expected plain text)",
                                f->path, e->key);
        f->meta_keys[f->n_meta] = e->key;
        f->meta_values[f->n_meta] = e->str;
        f->n_meta++;
    }
    return STATUS_OK;
}

/* Fills t from header entry e (dtype, shape, sizes) and returns its byte
 * range in *begin and *end, checked against the data area of data_size bytes. */
static int st_parse_entry(const struct st_file *f, const struct json_value *e, size_t data_size,
                          struct st_tensor *t, int64_t *begin, int64_t *end)
{
    char sbuf[256];
    const char *name = e->key;
    if (strlen(name) != e->key_len)
        return status_error(STATUS_BAD_INPUT, "%s: tensor name \"%s...\" contains a NUL byte (expected plain text)",
                            f->path, name);
    t->name = name;
    if (e->type != JSON_OBJECT)
        return status_error(STATUS_BAD_INPUT, "%s: tensor '%s': entry is a JSON %s (expected an object with dtype, shape, data_offsets)",
                            f->path, name, json_type_name(e->type));

    const struct json_value *dt = json_object_get(e, "dtype");
    if (!dt || dt->type != JSON_STRING)
        return status_error(STATUS_BAD_INPUT, "%s: tensor '%s': %s dtype (expected a string, one of " ST_DTYPE_LIST ")",
                            f->path, name, dt ? "non-string" : "missing");
    if (st_dtype_from_name(dt->str, &t->dtype) != 0)
        return status_error(STATUS_BAD_INPUT, "%s: tensor '%s': unknown or unsupported dtype '%s' (expected one of " ST_DTYPE_LIST ")",
                            f->path, name, dt->str);

    const struct json_value *sh = json_object_get(e, "shape");
    if (!sh || sh->type != JSON_ARRAY)
        return status_error(STATUS_BAD_INPUT, "%s: tensor '%s': %s shape (expected an array of non-negative integers)",
                            f->path, name, sh ? "non-array" : "missing");
    if (sh->n_children > ST_MAX_DIMS)
        return status_error(STATUS_BAD_INPUT, "%s: tensor '%s': shape has %lld dimensions (expected at most %d)",
                            f->path, name, (long long)sh->n_children, ST_MAX_DIMS);
    t->ndim = 0;
    uint64_t numel = 1;
    int overflow = 0;
    for (const struct json_value *d = json_first(sh); d; d = d->next) {
        int64_t v;
        if (st_json_uint(d, &v) != 0)
            return status_error(STATUS_BAD_INPUT, "%s: tensor '%s': shape dimension %d is not a non-negative integer (expected e.g. [64, 3, 7, 7])",
                                f->path, name, t->ndim);
        t->shape[t->ndim++] = v;
        /* Fold in order with an overflow check, as the reference does. */
        if ((uint64_t)v != 0 && numel > (uint64_t)INT64_MAX / (uint64_t)v)
            overflow = 1;
        else
            numel *= (uint64_t)v;
    }
    size_t esize = st_dtype_size(t->dtype);
    if (overflow || numel > SIZE_MAX / esize)
        return status_error(STATUS_BAD_INPUT, "%s: tensor '%s': shape %s overflows the element count (expected a size that fits in memory)",
                            f->path, name, st_shape_str(sbuf, sizeof sbuf, t->ndim, t->shape));
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)numel * esize;

    const struct json_value *off = json_object_get(e, "data_offsets");
    const struct json_value *b = json_first(off);
    if (!off || off->type != JSON_ARRAY || off->n_children != 2 || st_json_uint(b, begin) != 0 ||
        st_json_uint(b->next, end) != 0)
        return status_error(STATUS_BAD_INPUT, "%s: tensor '%s': %s data_offsets (expected [begin, end], two non-negative integers)",
                            f->path, name, off ? "malformed" : "missing");
    if (*begin > *end)
        return status_error(STATUS_BAD_INPUT, "%s: tensor '%s': data_offsets [%lld, %lld] has begin > end (expected begin <= end)",
                            f->path, name, (long long)*begin, (long long)*end);
    if ((uint64_t)(*end - *begin) != (uint64_t)t->nbytes)
        return status_error(STATUS_BAD_INPUT, "%s: tensor '%s': data_offsets [%lld, %lld] span %lld bytes but shape %s of %s needs %zu",
                            f->path, name, (long long)*begin, (long long)*end, (long long)(*end - *begin),
                            st_shape_str(sbuf, sizeof sbuf, t->ndim, t->shape), st_dtype_name(t->dtype), t->nbytes);
    if ((uint64_t)*end > (uint64_t)data_size)
        return status_error(STATUS_BAD_INPUT, "%s: tensor '%s': data_offsets [%lld, %lld] extend past the end of the %zu-byte data area (file truncated?)",
                            f->path, name, (long long)*begin, (long long)*end, data_size);
    return STATUS_OK;
}

struct st_range {
    int64_t begin, end;
    int order; /* position in the header, so equal ranges sort deterministically */
    struct st_tensor t;
};

static int st_range_cmp(const void *a, const void *b)
{
    const struct st_range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

static const struct st_file *st_sort_file; /* qsort has no context argument */

static int st_name_cmp(const void *a, const void *b)
{
    const struct st_tensor *t = st_sort_file->tensors;
    return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

static int st_parse(struct st_file *f)
{
    if (f->size < 8)
        return status_error(STATUS_BAD_INPUT, "%s: file is %zu bytes, too short for the 8-byte header length (truncated?)",
                            f->path, f->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | f->buf[i];
    if (n > ST_MAX_HEADER)
        return status_error(STATUS_BAD_INPUT, "%s: header length %llu exceeds the limit of %llu bytes",
                            f->path, (unsigned long long)n, ST_MAX_HEADER);
    if (n > f->size - 8)
        return status_error(STATUS_BAD_INPUT, "%s: header length %llu but only %zu bytes follow (truncated?)",
                            f->path, (unsigned long long)n, f->size - 8);
    size_t data_off = 8 + (size_t)n;
    size_t data_size = f->size - data_off;

    int rc = json_parse((const char *)f->buf + 8, (size_t)n, f->path, &f->header);
    if (rc)
        return rc;
    if (f->header->type != JSON_OBJECT)
        return status_error(STATUS_BAD_INPUT, "%s: header is a JSON %s (expected an object)", f->path,
                            json_type_name(f->header->type));

    int64_t count = 0;
    for (const struct json_value *e = json_first(f->header); e; e = e->next) {
        if (strcmp(e->key, "__metadata__") == 0 && e->key_len == 12) {
            if ((rc = st_parse_metadata(f, e)))
                return rc;
        } else {
            count++;
        }
    }
    if (count > INT_MAX)
        return status_error(STATUS_BAD_INPUT, "%s: %lld tensors (expected at most %d)", f->path, (long long)count, INT_MAX);

    size_t cap = (size_t)(count ? count : 1);
    struct st_range *r = malloc(cap * sizeof *r);
    f->tensors = malloc(cap * sizeof *f->tensors);
    f->by_name = malloc(cap * sizeof *f->by_name);
    if (!r || !f->tensors || !f->by_name) {
        free(r);
        return status_error(STATUS_NOMEM, "%s: out of memory for %lld tensor entries", f->path, (long long)count);
    }
    int k = 0;
    for (const struct json_value *e = json_first(f->header); e; e = e->next) {
        if (strcmp(e->key, "__metadata__") == 0 && e->key_len == 12)
            continue;
        memset(&r[k], 0, sizeof r[k]);
        r[k].order = k;
        if ((rc = st_parse_entry(f, e, data_size, &r[k].t, &r[k].begin, &r[k].end)))
            goto fail;
        k++;
    }

    /* The reference sorts by offsets and requires the ranges to tile
     * [0, data_size) exactly: each range starts where the previous ended. */
    qsort(r, (size_t)count, sizeof *r, st_range_cmp);
    int64_t expect = 0;
    for (int i = 0; i < count; i++) {
        if (r[i].begin < expect) {
            rc = status_error(STATUS_BAD_INPUT, "%s: tensor '%s': data_offsets [%lld, %lld] overlap tensor '%s' ending at %lld (expected ranges that tile the data area)",
                              f->path, r[i].t.name, (long long)r[i].begin, (long long)r[i].end,
                              r[i - 1].t.name, (long long)expect);
            goto fail;
        }
        if (r[i].begin > expect) {
            rc = status_error(STATUS_BAD_INPUT, "%s: tensor '%s': data_offsets [%lld, %lld] leave a gap after byte %lld (expected the range to start at %lld)",
                              f->path, r[i].t.name, (long long)r[i].begin, (long long)r[i].end,
                              (long long)expect, (long long)expect);
            goto fail;
        }
        expect = r[i].end;
        r[i].t.data = f->buf + data_off + (size_t)r[i].begin;
        f->tensors[i] = r[i].t;
        f->by_name[i] = i;
    }
    if ((uint64_t)expect != (uint64_t)data_size) {
        rc = status_error(STATUS_BAD_INPUT, "%s: tensors cover %lld bytes but the data area has %zu (gap at the end; expected the ranges to tile it exactly)",
                          f->path, (long long)expect, data_size);
        goto fail;
    }
    f->n_tensors = (int)count;
    st_sort_file = f;
    qsort(f->by_name, (size_t)count, sizeof *f->by_name, st_name_cmp);
    st_sort_file = NULL;
    free(r);
    return STATUS_OK;
fail:
    free(r);
    return rc;
}

int safetensors_read(const char *path, struct st_file **out)
{
    *out = NULL;
    struct st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = malloc(strlen(path) + 1))) {
        free(f);
        return status_error(STATUS_NOMEM, "%s: out of memory", path);
    }
    strcpy(f->path, path);
    int rc = st_slurp(f);
    if (!rc)
        rc = st_parse(f);
    if (rc) {
        safetensors_free(f);
        return rc;
    }
    *out = f;
    return STATUS_OK;
}

int safetensors_n_tensors(const struct st_file *f) { return f->n_tensors; }

const struct st_tensor *safetensors_tensor(const struct st_file *f, int i)
{
    RN_ASSERT(i >= 0 && i < f->n_tensors);
    return &f->tensors[i];
}

const struct st_tensor *safetensors_find(const struct st_file *f, const char *name)
{
    int lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const struct st_tensor *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0)
            return t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *safetensors_metadata(const struct st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_values[i];
    return NULL;
}

int safetensors_n_metadata(const struct st_file *f) { return f->n_meta; }

void safetensors_metadata_at(const struct st_file *f, int i, const char **key, const char **value)
{
    int ok = i >= 0 && i < f->n_meta;
    *key = ok ? f->meta_keys[i] : NULL;
    *value = ok ? f->meta_values[i] : NULL;
}

const char *safetensors_path(const struct st_file *f) { return f->path; }

void safetensors_free(struct st_file *f)
{
    if (!f)
        return;
    json_free(f->header);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->tensors);
    free(f->by_name);
    free(f->buf);
    free(f->path);
    free(f);
}

int st_tensor_to_f32(const struct st_file *f, const struct st_tensor *t, float *dst)
{
    const unsigned char *src = t->data;
    /* Data may sit at any byte offset, so every element goes through memcpy. */
    switch (t->dtype) {
    case ST_F32:
        if (t->nbytes)
            memcpy(dst, src, t->nbytes);
        return STATUS_OK;
    case ST_F16:
    case ST_BF16:
        for (int64_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = t->dtype == ST_F16 ? half_to_f32(h) : bf16_to_f32(h);
        }
        return STATUS_OK;
    case ST_F64:
        for (int64_t i = 0; i < t->numel; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        return STATUS_OK;
    default:
        return status_error(STATUS_BAD_INPUT, "%s: tensor '%s': dtype %s cannot be converted to float (expected F32, F16, BF16 or F64)",
                            f ? f->path : "<safetensors>", t->name, st_dtype_name(t->dtype));
    }
}

/* ---------------------------------------------------------------- writer */

struct st_entry {
    char *name;
    enum st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t nbytes;
    void *data; /* owned copy */
};

struct st_writer {
    struct st_entry *e;
    int n, cap;
    char **mkeys, **mvals;
    int n_meta, cap_meta;
};

struct st_writer *st_writer_alloc(void) { return calloc(1, sizeof(struct st_writer)); }

void st_writer_free(struct st_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++) {
        free(w->e[i].name);
        free(w->e[i].data);
    }
    for (int i = 0; i < w->n_meta; i++) {
        free(w->mkeys[i]);
        free(w->mvals[i]);
    }
    free(w->e);
    free(w->mkeys);
    free(w->mvals);
    free(w);
}

static char *st_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Validates a new entry and appends it with an uninitialised data buffer of
 * the right size, which the caller fills. */
static int st_writer_push(struct st_writer *w, const char *name, enum st_dtype dtype, int ndim,
                          const int64_t *shape, struct st_entry **out)
{
    RN_ASSERT(w && (unsigned)dtype < ST_DTYPE_COUNT);
    if (!name || !name[0] || strcmp(name, "__metadata__") == 0)
        return status_error(STATUS_BAD_INPUT, "safetensors writer: tensor name '%s' is %s (expected a non-empty name other than __metadata__)",
                            name ? name : "(null)", name && name[0] ? "reserved" : "empty");
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        return status_error(STATUS_BAD_INPUT, "safetensors writer: tensor '%s': ndim %d (expected 0..%d)", name, ndim,
                            ST_MAX_DIMS);
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return status_error(STATUS_BAD_INPUT, "safetensors writer: tensor '%s': dimension %d is %lld (expected >= 0)",
                                name, i, (long long)shape[i]);
        if (shape[i] && numel > (uint64_t)INT64_MAX / (uint64_t)shape[i])
            return status_error(STATUS_BAD_INPUT, "safetensors writer: tensor '%s': shape overflows the element count", name);
        numel *= (uint64_t)shape[i];
    }
    size_t esize = st_dtype_size(dtype);
    if (numel > SIZE_MAX / esize)
        return status_error(STATUS_BAD_INPUT, "safetensors writer: tensor '%s': shape overflows the byte count", name);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0)
            return status_error(STATUS_BAD_INPUT, "safetensors writer: tensor '%s' added twice (expected unique names)", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        struct st_entry *e = realloc(w->e, (size_t)cap * sizeof *e);
        if (!e)
            return status_error(STATUS_NOMEM, "safetensors writer: out of memory adding tensor '%s'", name);
        w->e = e;
        w->cap = cap;
    }
    struct st_entry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        e->shape[i] = shape[i];
    e->nbytes = (size_t)numel * esize;
    e->name = st_strdup(name);
    e->data = malloc(e->nbytes ? e->nbytes : 1);
    if (!e->name || !e->data) {
        free(e->name);
        free(e->data);
        return status_error(STATUS_NOMEM, "safetensors writer: out of memory copying tensor '%s' (%zu bytes)", name,
                            e->nbytes);
    }
    w->n++;
    *out = e;
    return STATUS_OK;
}

int st_writer_add(struct st_writer *w, const char *name, enum st_dtype dtype, int ndim, const int64_t *shape,
                  const void *data)
{
    struct st_entry *e;
    int rc = st_writer_push(w, name, dtype, ndim, shape, &e);
    if (rc)
        return rc;
    if (e->nbytes) {
        RN_ASSERT(data);
        memcpy(e->data, data, e->nbytes);
    }
    return STATUS_OK;
}

int st_writer_add_f32_as(struct st_writer *w, const char *name, enum st_dtype dst, int ndim, const int64_t *shape,
                         const float *data)
{
    if (dst != ST_F32 && dst != ST_F16 && dst != ST_BF16)
        return status_error(STATUS_BAD_INPUT, "safetensors writer: tensor '%s': cannot store floats as %s (expected F32, F16 or BF16)",
                            name ? name : "(null)", st_dtype_name(dst));
    struct st_entry *e;
    int rc = st_writer_push(w, name, dst, ndim, shape, &e);
    if (rc)
        return rc;
    size_t n = e->nbytes / st_dtype_size(dst);
    RN_ASSERT(n == 0 || data);
    unsigned char *out = e->data;
    for (size_t i = 0; i < n && dst != ST_F32; i++) {
        uint16_t h = dst == ST_F16 ? half_from_f32(data[i]) : bf16_from_f32(data[i]);
        memcpy(out + 2 * i, &h, 2);
    }
    if (dst == ST_F32 && n)
        memcpy(out, data, e->nbytes);
    return STATUS_OK;
}

int st_writer_set_metadata(struct st_writer *w, const char *key, const char *value)
{
    RN_ASSERT(w && key && value);
    char *v = st_strdup(value);
    if (!v)
        return status_error(STATUS_NOMEM, "safetensors writer: out of memory setting metadata '%s'", key);
    for (int i = 0; i < w->n_meta; i++) {
        if (strcmp(w->mkeys[i], key) == 0) {
            free(w->mvals[i]);
            w->mvals[i] = v;
            return STATUS_OK;
        }
    }
    if (w->n_meta == w->cap_meta) {
        int cap = w->cap_meta ? 2 * w->cap_meta : 8;
        char **k = realloc(w->mkeys, (size_t)cap * sizeof *k);
        if (k)
            w->mkeys = k;
        char **vv = k ? realloc(w->mvals, (size_t)cap * sizeof *vv) : NULL;
        if (!vv) {
            free(v);
            return status_error(STATUS_NOMEM, "safetensors writer: out of memory setting metadata '%s'", key);
        }
        w->mvals = vv;
        w->cap_meta = cap;
    }
    char *k = st_strdup(key);
    if (!k) {
        free(v);
        return status_error(STATUS_NOMEM, "safetensors writer: out of memory setting metadata '%s'", key);
    }
    w->mkeys[w->n_meta] = k;
    w->mvals[w->n_meta] = v;
    w->n_meta++;
    return STATUS_OK;
}


static void st_buf_quoted(struct strbuf *b, const char *s)
{
    char *q = json_quote(s, strlen(s));
    if (!q) {
        b->oom = 1;
        return;
    }
    strbuf_str(b, q);
    free(q);
}

static void st_buf_printf(struct strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void st_buf_printf(struct strbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    RN_ASSERT(n >= 0 && (size_t)n < sizeof tmp); /* only used for numbers */
    strbuf_put(b, tmp, (size_t)n);
}

/* Builds the JSON header, space-padded to a multiple of 8 bytes. */
static void st_build_header(const struct st_writer *w, struct strbuf *b)
{
    strbuf_str(b, "{");
    if (w->n_meta) {
        strbuf_str(b, "\"__metadata__\":{");
        for (int i = 0; i < w->n_meta; i++) {
            if (i)
                strbuf_str(b, ",");
            st_buf_quoted(b, w->mkeys[i]);
            strbuf_str(b, ":");
            st_buf_quoted(b, w->mvals[i]);
        }
        strbuf_str(b, "}");
    }
    size_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const struct st_entry *e = &w->e[i];
        if (i || w->n_meta)
            strbuf_str(b, ",");
        st_buf_quoted(b, e->name);
        st_buf_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(e->dtype));
        for (int d = 0; d < e->ndim; d++)
            st_buf_printf(b, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        st_buf_printf(b, "],\"data_offsets\":[%zu,%zu]}", off, off + e->nbytes);
        off += e->nbytes;
    }
    strbuf_str(b, "}");
    while (!b->oom && b->len % 8)
        strbuf_str(b, " ");
}

/* The file after the header is built: 8-byte length, header, tensor data in order. */
struct st_save {
    const struct st_writer *w;
    const struct strbuf *hdr;
};

static int st_write_body(FILE *fp, void *ctx)
{
    const struct st_save *sv = ctx;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)sv->hdr->len >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(sv->hdr->p, 1, sv->hdr->len, fp) == sv->hdr->len;
    for (int i = 0; ok && i < sv->w->n; i++)
        ok = sv->w->e[i].nbytes == 0 || fwrite(sv->w->e[i].data, 1, sv->w->e[i].nbytes, fp) == sv->w->e[i].nbytes;
    return ok;
}

int st_writer_save(struct st_writer *w, const char *path)
{
    RN_ASSERT(w && path);
    struct strbuf hdr = {0};
    int rc = STATUS_OK;
    st_build_header(w, &hdr);
    if (hdr.oom) {
        rc = status_error(STATUS_NOMEM, "%s: out of memory building the safetensors header", path);
    } else if (hdr.len > ST_MAX_HEADER) {
        rc = status_error(STATUS_BAD_INPUT, "%s: header of %zu bytes exceeds the safetensors limit of %llu",
                          path, hdr.len, ST_MAX_HEADER);
    } else {
        struct st_save sv = { w, &hdr };
        rc = file_write_atomic(path, st_write_body, &sv);
    }
    free(hdr.p);
    return rc;
}
