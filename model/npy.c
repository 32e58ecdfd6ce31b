/* npy.c — reader and writer for NumPy's .npy format (numpy.lib.format).
 *
 * A file is the magic "\x93NUMPY", a major and minor version byte, the header
 * length (2 bytes little-endian in v1, 4 bytes in v2/v3), an ASCII header
 * that is a Python dict literal, then the raw array data in C order.
 * We parse the dict ourselves with a small strict grammar instead of
 * evaluating anything: only the three keys numpy writes, string/bool/tuple
 * values, and a size check of the data against the file length before any
 * large allocation, so a corrupt shape cannot make us allocate terabytes.
 * Not supported: Fortran order, big-endian data, structured or object dtypes,
 * reading from pipes (we need the file size). Data is decoded byte by byte as
 * little-endian, so the code is also correct on a big-endian host. */
#include "npy.h"
#include "half.h"

#include "atomic_file.h"
#include "status.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* numpy itself refuses headers above 10,000 bytes unless told otherwise; we
 * allow more but cap it so a corrupt length cannot drive a huge allocation. */
#define NPY_MAX_HEADER (1 << 20)

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

enum npy_kind { NPY_FLOAT, NPY_SINT, NPY_UINT };

struct npy_dtype {
    const char *descr;
    enum npy_kind kind;
    int size; /* bytes per element */
};

static const struct npy_dtype npy_float_types[] = {
    {"<f4", NPY_FLOAT, 4}, {"<f8", NPY_FLOAT, 8}, {"<f2", NPY_FLOAT, 2},
};
static const struct npy_dtype npy_int_types[] = {
    {"<i8", NPY_SINT, 8}, {"<i4", NPY_SINT, 4}, {"<i2", NPY_SINT, 2}, {"|i1", NPY_SINT, 1},
    {"|u1", NPY_UINT, 1}, {"<u2", NPY_UINT, 2}, {"<u4", NPY_UINT, 4}, {"<u8", NPY_UINT, 8},
};
#define NPY_FLOAT_LIST "'<f4', '<f8', '<f2'"
#define NPY_INT_LIST "'<i8', '<i4', '<i2', '|i1', '|u1', '<u2', '<u4', '<u8'"

/* The parsed header. */
struct npy_header {
    char descr[16];
    int fortran_order;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
};

/* ---- header parsing --------------------------------------------------- */

struct npy_cursor {
    const char *p, *end;
    const char *path;
};

static void npy_skip_ws(struct npy_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int npy_expect(struct npy_cursor *c, char ch)
{
    npy_skip_ws(c);
    if (c->p >= c->end || *c->p != ch)
        return status_error(STATUS_BAD_INPUT, "%s: npy header: expected '%c', found '%.10s'", c->path, ch,
                            c->p < c->end ? c->p : "end of header");
    c->p++;
    return STATUS_OK;
}

/* A Python string literal in single or double quotes, without escapes
 * (numpy never writes any in these keys and values). */
static int npy_parse_string(struct npy_cursor *c, char *out, size_t cap)
{
    npy_skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return status_error(STATUS_BAD_INPUT, "%s: npy header: expected a quoted string, found '%.10s'",
                            c->path, c->p < c->end ? c->p : "end of header");
    char q = *c->p++;
    const char *s = c->p;
    while (c->p < c->end && *c->p != q && *c->p != '\\')
        c->p++;
    if (c->p >= c->end || *c->p != q)
        return status_error(STATUS_BAD_INPUT, "%s: npy header: unterminated or escaped string", c->path);
    size_t len = (size_t)(c->p - s);
    c->p++;
    if (len >= cap)
        return status_error(STATUS_BAD_INPUT, "%s: npy header: string '%.20s...' too long (at most %zu chars)",
                            c->path, s, cap - 1);
    memcpy(out, s, len);
    out[len] = '\0';
    return STATUS_OK;
}

static int npy_parse_bool(struct npy_cursor *c, int *out)
{
    npy_skip_ws(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        *out = 1;
        c->p += 4;
    } else if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        *out = 0;
        c->p += 5;
    } else {
        return status_error(STATUS_BAD_INPUT, "%s: npy header: fortran_order must be True or False, found '%.10s'",
                            c->path, c->p);
    }
    return STATUS_OK;
}

/* A non-negative decimal integer; a trailing 'L' (Python 2 longs, found in
 * old v1 files) is accepted as numpy does. */
static int npy_parse_dim(struct npy_cursor *c, int64_t *out)
{
    npy_skip_ws(c);
    if (c->p < c->end && *c->p == '-')
        return status_error(STATUS_BAD_INPUT, "%s: npy header: negative dimension in shape", c->path);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return status_error(STATUS_BAD_INPUT, "%s: npy header: expected a dimension in shape, found '%.10s'",
                            c->path, c->p < c->end ? c->p : "end of header");
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        int d = *c->p - '0';
        if (v > (INT64_MAX - d) / 10)
            return status_error(STATUS_BAD_INPUT, "%s: npy header: dimension too large (above %lld)", c->path,
                                (long long)INT64_MAX);
        v = v * 10 + d;
        c->p++;
    }
    if (c->p < c->end && *c->p == 'L')
        c->p++;
    *out = v;
    return STATUS_OK;
}

/* A Python tuple of ints: "()", "(n,)", "(a, b)", "(a, b,)". "(n)" is an
 * int in parentheses, not a tuple, and numpy rejects it, so do we. */
static int npy_parse_shape(struct npy_cursor *c, struct npy_header *h)
{
    int rc = npy_expect(c, '(');
    if (rc)
        return rc;
    h->ndim = 0;
    npy_skip_ws(c);
    if (c->p < c->end && *c->p == ')') {
        c->p++;
        return STATUS_OK;
    }
    int trailing_comma = 0;
    for (;;) {
        if (h->ndim == NPY_MAX_DIMS)
            return status_error(STATUS_BAD_INPUT, "%s: npy header: more than %d dimensions", c->path,
                                NPY_MAX_DIMS);
        rc = npy_parse_dim(c, &h->shape[h->ndim]);
        if (rc)
            return rc;
        h->ndim++;
        npy_skip_ws(c);
        trailing_comma = 0;
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            trailing_comma = 1;
            npy_skip_ws(c);
        }
        if (c->p < c->end && *c->p == ')') {
            c->p++;
            break;
        }
        if (!trailing_comma)
            return status_error(STATUS_BAD_INPUT, "%s: npy header: expected ',' or ')' in shape, found '%.10s'",
                                c->path, c->p < c->end ? c->p : "end of header");
    }
    if (h->ndim == 1 && !trailing_comma)
        return status_error(STATUS_BAD_INPUT, "%s: npy header: shape '(%lld)' is not a tuple (expected '(%lld,)')",
                            c->path, (long long)h->shape[0], (long long)h->shape[0]);
    return STATUS_OK;
}

static int npy_parse_header(const char *text, size_t len, const char *path, struct npy_header *h)
{
    struct npy_cursor c = {text, text + len, path};
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    int rc = npy_expect(&c, '{');
    if (rc)
        return status_error(STATUS_BAD_INPUT, "%s: npy header is not a dict literal (expected '{', found '%.10s')",
                            path, text);
    for (;;) {
        npy_skip_ws(&c);
        if (c.p < c.end && *c.p == '}') {
            c.p++;
            break;
        }
        char key[32];
        if ((rc = npy_parse_string(&c, key, sizeof key)))
            return rc;
        if ((rc = npy_expect(&c, ':')))
            return rc;
        int *seen;
        if (strcmp(key, "descr") == 0) {
            seen = &seen_descr;
            rc = npy_parse_string(&c, h->descr, sizeof h->descr);
        } else if (strcmp(key, "fortran_order") == 0) {
            seen = &seen_fortran;
            rc = npy_parse_bool(&c, &h->fortran_order);
        } else if (strcmp(key, "shape") == 0) {
            seen = &seen_shape;
            rc = npy_parse_shape(&c, h);
        } else {
            return status_error(STATUS_BAD_INPUT,
                                "%s: npy header: unexpected key '%s' (expected descr, fortran_order, shape)",
                                path, key);
        }
        if (rc)
            return rc;
        if (*seen)
            return status_error(STATUS_BAD_INPUT, "%s: npy header: duplicate key '%s'", path, key);
        *seen = 1;
        npy_skip_ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if (c.p < c.end && *c.p == '}') {
            c.p++;
            break;
        }
        return status_error(STATUS_BAD_INPUT, "%s: npy header: expected ',' or '}' after key '%s', found '%.10s'",
                            path, key, c.p < c.end ? c.p : "end of header");
    }
    /* After the dict numpy pads with spaces and ends with a newline. */
    npy_skip_ws(&c);
    if (c.p != c.end)
        return status_error(STATUS_BAD_INPUT, "%s: npy header: unexpected text '%.10s' after the dict", path, c.p);
    if (!seen_descr || !seen_fortran || !seen_shape)
        return status_error(STATUS_BAD_INPUT, "%s: npy header: missing key '%s' (need descr, fortran_order, shape)",
                            path, !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape");
    return STATUS_OK;
}

/* ---- element decoding ------------------------------------------------- */

static uint64_t npy_load_le(const unsigned char *b, int size)
{
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

static float npy_decode_float(const unsigned char *b, int size)
{
    uint64_t bits = npy_load_le(b, size);
    if (size == 4) {
        uint32_t u = (uint32_t)bits;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    if (size == 8) {
        double d;
        memcpy(&d, &bits, sizeof d);
        return (float)d;
    }
    return half_to_f32((uint16_t)bits);
}

/* ---- reading ---------------------------------------------------------- */

/* Reads the whole file: header checks, then data of `out_size`-byte
 * elements converted by the caller's dtype table. `raw` receives the
 * still-encoded data in a buffer of max(count * out_size, count * itemsize)
 * bytes so conversion can happen in place when sizes match. */
static int npy_read_raw(const char *path, const struct npy_dtype *types, int n_types, const char *type_list,
                        const char *reader, int out_size, void **buf, const struct npy_dtype **dtype,
                        int64_t *count, int *ndim, int64_t shape[NPY_MAX_DIMS])
{
    int rc = STATUS_OK;
    char *text = NULL;
    unsigned char *data = NULL;
    struct npy_header h;
    memset(&h, 0, sizeof h);
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return status_error(STATUS_IO, "%s: cannot open: %s", path, strerror(errno));

    unsigned char pre[12];
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, npy_magic, 6) != 0) {
        rc = status_error(STATUS_BAD_INPUT, "%s: not a .npy file (expected the magic \\x93NUMPY)", path);
        goto fail;
    }
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0) {
        rc = status_error(STATUS_BAD_INPUT, "%s: unsupported .npy version %d.%d (expected 1.0, 2.0 or 3.0)", path,
                          major, minor);
        goto fail;
    }
    int len_size = major == 1 ? 2 : 4;
    if (fread(pre + 8, 1, (size_t)len_size, f) != (size_t)len_size) {
        rc = status_error(STATUS_BAD_INPUT, "%s: truncated .npy header length", path);
        goto fail;
    }
    uint64_t hlen = npy_load_le(pre + 8, len_size);
    if (hlen > NPY_MAX_HEADER) {
        rc = status_error(STATUS_BAD_INPUT, "%s: .npy header length %llu exceeds %d bytes", path,
                          (unsigned long long)hlen, NPY_MAX_HEADER);
        goto fail;
    }
    text = malloc((size_t)hlen + 1);
    if (!text) {
        rc = status_error(STATUS_NOMEM, "%s: out of memory for the .npy header", path);
        goto fail;
    }
    size_t got = fread(text, 1, (size_t)hlen, f);
    if (got != hlen) {
        rc = status_error(STATUS_BAD_INPUT, "%s: truncated .npy header (%zu of %llu bytes)", path, got,
                          (unsigned long long)hlen);
        goto fail;
    }
    text[hlen] = '\0';
    if (memchr(text, '\0', (size_t)hlen)) {
        rc = status_error(STATUS_BAD_INPUT, "%s: .npy header contains a NUL byte", path);
        goto fail;
    }
    if ((rc = npy_parse_header(text, (size_t)hlen, path, &h)))
        goto fail;
    if (h.fortran_order) {
        rc = status_error(STATUS_BAD_INPUT, "%s: fortran_order is True (only C order is supported; save with "
                          "np.ascontiguousarray)", path);
        goto fail;
    }
    const struct npy_dtype *dt = NULL;
    for (int i = 0; i < n_types; i++)
        if (strcmp(h.descr, types[i].descr) == 0)
            dt = &types[i];
    if (!dt) {
        if (h.descr[0] == '>')
            rc = status_error(STATUS_BAD_INPUT, "%s: dtype '%s' is big-endian (expected little-endian: %s)", path,
                              h.descr, type_list);
        else
            rc = status_error(STATUS_BAD_INPUT, "%s: dtype '%s' not accepted by the %s reader (expected %s)", path,
                              h.descr, reader, type_list);
        goto fail;
    }

    /* Element count and byte sizes, each multiplication overflow-checked. */
    int64_t n = 1;
    for (int i = 0; i < h.ndim; i++) {
        if (h.shape[i] != 0 && n > INT64_MAX / h.shape[i]) {
            rc = status_error(STATUS_BAD_INPUT, "%s: shape is absurd (element count overflows int64)", path);
            goto fail;
        }
        n *= h.shape[i];
    }
    int big = dt->size > out_size ? dt->size : out_size;
    if (n > INT64_MAX / big || (uint64_t)n * (uint64_t)big > (uint64_t)SIZE_MAX) {
        rc = status_error(STATUS_BAD_INPUT, "%s: shape is absurd (%lld elements do not fit in memory)", path,
                          (long long)n);
        goto fail;
    }
    uint64_t need = (uint64_t)n * (uint64_t)dt->size;

    /* Compare with the file size before allocating, so a corrupt shape is
     * reported as such rather than as an out-of-memory. */
    off_t data_start = ftello(f);
    if (data_start < 0 || fseeko(f, 0, SEEK_END) != 0) {
        rc = status_error(STATUS_IO, "%s: cannot seek: %s", path, strerror(errno));
        goto fail;
    }
    off_t file_end = ftello(f);
    if (file_end < 0 || fseeko(f, data_start, SEEK_SET) != 0) {
        rc = status_error(STATUS_IO, "%s: cannot seek: %s", path, strerror(errno));
        goto fail;
    }
    uint64_t have = (uint64_t)(file_end - data_start);
    if (have != need) {
        rc = status_error(STATUS_BAD_INPUT, "%s: %s data: %llu bytes after the header, expected %llu (%lld x '%s')",
                          path, have < need ? "truncated" : "trailing bytes after", (unsigned long long)have,
                          (unsigned long long)need, (long long)n, h.descr);
        goto fail;
    }
    size_t alloc = (size_t)n * (size_t)big;
    data = malloc(alloc ? alloc : 1);
    if (!data) {
        rc = status_error(STATUS_NOMEM, "%s: out of memory for %lld elements", path, (long long)n);
        goto fail;
    }
    if (fread(data, 1, (size_t)need, f) != need) {
        rc = status_error(STATUS_IO, "%s: read error: %s", path, ferror(f) ? strerror(errno) : "short read");
        goto fail;
    }
    fclose(f);
    free(text);
    *buf = data;
    *dtype = dt;
    *count = n;
    *ndim = h.ndim;
    for (int i = 0; i < NPY_MAX_DIMS; i++)
        shape[i] = i < h.ndim ? h.shape[i] : 0;
    return STATUS_OK;
fail:
    fclose(f);
    free(text);
    free(data);
    return rc;
}

/* Conversion walks backwards when the stored element is smaller than the
 * output one (e.g. f2 -> float), so each source is read before its bytes are
 * overwritten; forwards otherwise. Both are in place in the one buffer. */
int npy_read_f32(const char *path, float **data, int *ndim, int64_t shape[NPY_MAX_DIMS])
{
    void *buf;
    const struct npy_dtype *dt;
    int64_t n;
    *data = NULL;
    int rc = npy_read_raw(path, npy_float_types, 3, NPY_FLOAT_LIST, "float", (int)sizeof(float), &buf, &dt, &n,
                          ndim, shape);
    if (rc)
        return rc;
    unsigned char *b = buf;
    float *out = buf;
    if (dt->size < (int)sizeof(float)) {
        for (int64_t i = n - 1; i >= 0; i--)
            out[i] = npy_decode_float(b + i * dt->size, dt->size);
    } else {
        for (int64_t i = 0; i < n; i++)
            out[i] = npy_decode_float(b + i * dt->size, dt->size);
    }
    /* f8 data was read into a buffer twice as big as needed; give it back. */
    if (dt->size > (int)sizeof(float) && n > 0) {
        float *shrunk = realloc(out, (size_t)n * sizeof(float));
        if (shrunk)
            out = shrunk;
    }
    *data = out;
    return STATUS_OK;
}

int npy_read_i64(const char *path, int64_t **data, int *ndim, int64_t shape[NPY_MAX_DIMS])
{
    void *buf;
    const struct npy_dtype *dt;
    int64_t n;
    *data = NULL;
    int rc = npy_read_raw(path, npy_int_types, 8, NPY_INT_LIST, "integer", (int)sizeof(int64_t), &buf, &dt, &n,
                          ndim, shape);
    if (rc)
        return rc;
    unsigned char *b = buf;
    int64_t *out = buf;
    int bits = dt->size * 8;
    /* Every integer dtype is at most 8 bytes, so walking backwards is always
     * safe in place. */
    for (int64_t i = n - 1; i >= 0; i--) {
        uint64_t u = npy_load_le(b + i * dt->size, dt->size);
        int64_t v;
        if (dt->kind == NPY_UINT) {
            if (u > (uint64_t)INT64_MAX) {
                free(buf);
                return status_error(STATUS_BAD_INPUT, "%s: element %lld = %llu exceeds int64 range", path,
                                    (long long)i, (unsigned long long)u);
            }
            v = (int64_t)u;
        } else if (bits == 64) {
            memcpy(&v, &u, sizeof v);
        } else {
            /* Sign-extend from `bits` bits without relying on
             * implementation-defined conversions. */
            uint64_t sign = (uint64_t)1 << (bits - 1);
            v = (u & sign) ? -(int64_t)((sign << 1) - u) : (int64_t)u;
        }
        out[i] = v;
    }
    *data = out;
    return STATUS_OK;
}

/* ---- writing ---------------------------------------------------------- */

/* What npy_write puts after deciding the header: prefix, header, little-endian data. */
struct npy_save {
    const unsigned char *pre;
    const char *hdr;
    int hlen;
    const void *data;
    int elem_size;
    int64_t n;
};

static int npy_write_body(FILE *f, void *ctx)
{
    const struct npy_save *sv = ctx;
    int ok = fwrite(sv->pre, 1, 10, f) == 10 && fwrite(sv->hdr, 1, (size_t)sv->hlen, f) == (size_t)sv->hlen;
    /* Encode little-endian in chunks so the host's byte order does not
     * matter and no full-size copy is made. */
    unsigned char chunk[8 * 1024];
    const int es = sv->elem_size, per = (int)sizeof chunk / es;
    const unsigned char *src = sv->data;
    for (int64_t i = 0; ok && i < sv->n; i += per) {
        int m = sv->n - i < per ? (int)(sv->n - i) : per;
        for (int k = 0; k < m; k++) {
            uint64_t u = 0;
            if (es == 4) {
                uint32_t w;
                memcpy(&w, src + (i + k) * 4, 4);
                u = w;
            } else {
                memcpy(&u, src + (i + k) * 8, 8);
            }
            for (int b = 0; b < es; b++)
                chunk[k * es + b] = (unsigned char)(u >> (8 * b));
        }
        ok = fwrite(chunk, (size_t)es, (size_t)m, f) == (size_t)m;
    }
    return ok;
}

static int npy_write(const char *path, const void *data, int elem_size, const char *descr, int ndim,
                     const int64_t *shape)
{
    if (ndim < 0 || ndim > NPY_MAX_DIMS)
        return status_error(STATUS_BAD_INPUT, "%s: cannot write %d dimensions (expected 0..%d)", path, ndim,
                            NPY_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return status_error(STATUS_BAD_INPUT, "%s: cannot write negative dimension %lld (axis %d)", path,
                                (long long)shape[i], i);
        if (shape[i] != 0 && n > INT64_MAX / shape[i])
            return status_error(STATUS_BAD_INPUT, "%s: shape element count overflows int64", path);
        n *= shape[i];
    }
    RN_ASSERT(data != NULL || n == 0);

    /* The header numpy writes: dict, spaces, '\n', with the total prefix a
     * multiple of 64 bytes so the data can be memory-mapped aligned. Eight
     * dimensions of 19 digits fit easily in a v1 (16-bit length) header. */
    char hdr[512];
    int len = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < ndim; i++)
        len += snprintf(hdr + len, sizeof hdr - (size_t)len, "%s%lld", i ? ", " : "", (long long)shape[i]);
    len += snprintf(hdr + len, sizeof hdr - (size_t)len, "%s), }", ndim == 1 ? "," : "");
    int total = (10 + len + 1 + 63) / 64 * 64;
    RN_ASSERT(total - 10 < (int)sizeof hdr);
    memset(hdr + len, ' ', (size_t)(total - 10 - len - 1));
    hdr[total - 10 - 1] = '\n';
    int hlen = total - 10;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};

    struct npy_save sv = { pre, hdr, hlen, data, elem_size, n };
    return file_write_atomic(path, npy_write_body, &sv);
}

int npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape)
{
    _Static_assert(sizeof(float) == 4, "float must be IEEE binary32");
    return npy_write(path, data, 4, "<f4", ndim, shape);
}

int npy_write_i64(const char *path, const int64_t *data, int ndim, const int64_t *shape)
{
    return npy_write(path, data, 8, "<i8", ndim, shape);
}
