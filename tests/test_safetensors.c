/* test_safetensors.c — F16/BF16 conversion against known bit patterns, the
 * safetensors writer/reader round trip for every dtype, and every malformed
 * file the reader must reject with a message naming the file. Files live in
 * a mkdtemp directory that must be empty (no stray .tmp) at the end. */
#include "check.h"
#include "half.h"
#include "safetensors.h"
#include "status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEED 20240611u

static uint64_t rng_state;

static uint32_t rng_u32(void)
{
    /* xorshift64*: small, deterministic, good enough for test data. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static float rng_float(void) { return (float)((double)rng_u32() / 4294967296.0 * 8.0 - 4.0); }

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static char tmpdir[64];

static void path_in(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", tmpdir, name); }

/* ------------------------------------------------------------ half/bf16 */

static void test_half_known(void)
{
    CHECK(half_from_f32(0.0f) == 0x0000);
    CHECK(half_from_f32(-0.0f) == 0x8000);
    CHECK(half_from_f32(1.0f) == 0x3c00);
    CHECK(half_from_f32(-2.0f) == 0xc000);
    CHECK(half_from_f32(0.1f) == 0x2e66);
    CHECK(half_from_f32(65504.0f) == 0x7bff);
    CHECK(half_from_f32(65519.99f) == 0x7bff);
    CHECK(half_from_f32(65520.0f) == 0x7c00);   /* tie with odd 0x7bff -> inf */
    CHECK(half_from_f32(1e10f) == 0x7c00);
    CHECK(half_from_f32(-1e10f) == 0xfc00);
    CHECK(half_from_f32(from_bits(0x7f800000u)) == 0x7c00);
    CHECK(half_from_f32(from_bits(0xff800000u)) == 0xfc00);
    uint16_t qn = half_from_f32(from_bits(0x7fc00000u));
    CHECK((qn & 0x7c00) == 0x7c00 && (qn & 0x3ff) != 0);
    uint16_t sn = half_from_f32(from_bits(0xff800001u)); /* payload only in low bits */
    CHECK((sn & 0x7c00) == 0x7c00 && (sn & 0x3ff) != 0 && (sn & 0x8000));
    /* Subnormals: units of 2^-24. */
    CHECK(half_from_f32(ldexpf(1.0f, -24)) == 0x0001);
    CHECK(half_from_f32(ldexpf(1.0f, -25)) == 0x0000);          /* tie -> even 0 */
    CHECK(half_from_f32(-ldexpf(1.0f, -25)) == 0x8000);
    CHECK(half_from_f32(ldexpf(1.0001f, -25)) == 0x0001);
    CHECK(half_from_f32(ldexpf(1.0f, -26)) == 0x0000);
    CHECK(half_from_f32(ldexpf(3.0f, -25)) == 0x0002);          /* 1.5 units: tie -> 2 */
    CHECK(half_from_f32(ldexpf(5.0f, -25)) == 0x0002);          /* 2.5 units: tie -> 2 */
    CHECK(half_from_f32(ldexpf(1023.0f, -24)) == 0x03ff);
    CHECK(half_from_f32(ldexpf(1023.5f, -24)) == 0x0400);       /* rounds up into the normals */
    CHECK(half_from_f32(ldexpf(1.0f, -14)) == 0x0400);
    CHECK(half_from_f32(from_bits(0x00000001u)) == 0x0000);     /* float subnormal */
    /* Normal ties: 1 + 2^-11 lies halfway between 0x3c00 and 0x3c01. */
    CHECK(half_from_f32(1.0f + ldexpf(1.0f, -11)) == 0x3c00);
    CHECK(half_from_f32(1.0f + ldexpf(3.0f, -11)) == 0x3c02);
    CHECK(half_from_f32(1.0f + ldexpf(1.0f, -11) + ldexpf(1.0f, -20)) == 0x3c01);
    CHECK(half_from_f32(2047.0f + 0.5f) == half_from_f32(2048.0f)); /* carry into exponent */

    CHECK(half_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK(half_to_f32(0x03ff) == ldexpf(1023.0f, -24));
    CHECK(half_to_f32(0x7bff) == 65504.0f);
    CHECK(half_to_f32(0x3c00) == 1.0f);
    CHECK(half_to_f32(0x8000) == 0.0f && signbit(half_to_f32(0x8000)));
    CHECK(isinf(half_to_f32(0x7c00)) && half_to_f32(0x7c00) > 0);
    CHECK(isinf(half_to_f32(0xfc00)) && half_to_f32(0xfc00) < 0);
    CHECK(isnan(half_to_f32(0x7e00)) && isnan(half_to_f32(0x7c01)));

    /* Every half survives half -> float -> half exactly (NaNs stay NaN). */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000u; h++) {
        float f = half_to_f32((uint16_t)h);
        uint16_t back = half_from_f32(f);
        int is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (is_nan ? !isnan(f) || !((back & 0x7c00) == 0x7c00 && (back & 0x3ff)) : back != h)
            bad++;
    }
    CHECK(bad == 0);

    /* Every midpoint between adjacent finite positive halves rounds to the
     * even one; one float ulp either side rounds to the nearer one. */
    bad = 0;
    for (uint32_t h = 0; h < 0x7bff; h++) {
        float lo = half_to_f32((uint16_t)h), hi = half_to_f32((uint16_t)(h + 1));
        float mid = (float)(((double)lo + (double)hi) / 2.0); /* exact in float */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        if (half_from_f32(mid) != even || half_from_f32(-mid) != (0x8000 | even))
            bad++;
        if (half_from_f32(from_bits(to_bits(mid) - 1)) != h || half_from_f32(from_bits(to_bits(mid) + 1)) != h + 1)
            bad++;
    }
    CHECK(bad == 0);
}

static void test_bf16_known(void)
{
    CHECK(bf16_from_f32(0.0f) == 0x0000);
    CHECK(bf16_from_f32(-0.0f) == 0x8000);
    CHECK(bf16_from_f32(1.0f) == 0x3f80);
    CHECK(bf16_from_f32(-2.0f) == 0xc000);
    CHECK(bf16_from_f32(from_bits(0x3f808000u)) == 0x3f80);    /* tie -> even */
    CHECK(bf16_from_f32(from_bits(0x3f818000u)) == 0x3f82);    /* tie -> even (up) */
    CHECK(bf16_from_f32(from_bits(0x3f808001u)) == 0x3f81);
    CHECK(bf16_from_f32(from_bits(0x3f807fffu)) == 0x3f80);
    CHECK(bf16_from_f32(from_bits(0x7f7fffffu)) == 0x7f80);    /* FLT_MAX rounds to inf */
    CHECK(bf16_from_f32(from_bits(0x7f800000u)) == 0x7f80);
    CHECK(bf16_from_f32(from_bits(0xff800000u)) == 0xff80);
    CHECK(bf16_from_f32(from_bits(0x00008000u)) == 0x0000);    /* subnormal tie -> even */
    CHECK(bf16_from_f32(from_bits(0x00018000u)) == 0x0002);
    CHECK(bf16_from_f32(from_bits(0x00010000u)) == 0x0001);
    uint16_t n1 = bf16_from_f32(from_bits(0x7f800001u));       /* NaN payload in low bits */
    CHECK((n1 & 0x7f80) == 0x7f80 && (n1 & 0x7f));
    uint16_t n2 = bf16_from_f32(from_bits(0xffffffffu));
    CHECK((n2 & 0x7f80) == 0x7f80 && (n2 & 0x7f) && (n2 & 0x8000));
    CHECK(bf16_to_f32(0x3f80) == 1.0f);
    CHECK(bf16_to_f32(0x0001) == from_bits(0x00010000u));
    CHECK(isinf(bf16_to_f32(0x7f80)) && isnan(bf16_to_f32(0x7fc0)));
    CHECK(signbit(bf16_to_f32(0x8000)));
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000u; h++) {
        float f = bf16_to_f32((uint16_t)h);
        if (!isnan(f) && bf16_from_f32(f) != h)
            bad++;
    }
    CHECK(bad == 0);
}

static void test_bulk(void)
{
    enum { N = 257 };
    float src[N], back[N];
    uint16_t h[N], b[N];
    for (int i = 0; i < N; i++)
        src[i] = rng_float() * 100.0f;
    half_from_f32_n(src, h, N);
    bf16_from_f32_n(src, b, N);
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += h[i] != half_from_f32(src[i]) || b[i] != bf16_from_f32(src[i]);
    CHECK(bad == 0);
    half_to_f32_n(h, back, N);
    for (int i = 0; i < N; i++)
        CHECK_REL(back[i], src[i], 1.0 / 2048); /* half: 11-bit significand */
    bf16_to_f32_n(b, back, N);
    for (int i = 0; i < N; i++)
        CHECK_REL(back[i], src[i], 1.0 / 256);  /* bf16: 8-bit significand */
}

#if defined(__FLT16_MAX__) && defined(__GNUC__)
/* __extension__ keeps -Wpedantic quiet about the non-ISO type. */
__extension__ typedef _Float16 f16_t;

/* Where the compiler has _Float16, its float->half conversion (IEEE RNE) is
 * an independent reference over many random bit patterns. */
static void test_half_vs_compiler(void)
{
    int bad = 0;
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = rng_u32();
        if (i & 1) /* concentrate half the samples in and near the half range */
            u = (u & 0x807fffffu) | ((100u + rng_u32() % 50u) << 23);
        float f = from_bits(u);
        if (isnan(f))
            continue;
        f16_t c = (f16_t)f;
        uint16_t ref;
        memcpy(&ref, &c, 2);
        if (half_from_f32(f) != ref || half_to_f32(ref) != (float)c)
            bad++;
    }
    CHECK(bad == 0);
}
#endif

/* -------------------------------------------------------- round trip */

static void fill_random(void *p, size_t n)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)rng_u32();
}

static void test_round_trip(void)
{
    char path[256];
    path_in(path, sizeof path, "rt.safetensors");
    struct st_writer *w = st_writer_alloc();
    CHECK(w != NULL);
    if (!w)
        return;

    /* One tensor per dtype, in an order that puts most data at odd offsets
     * (U8 of 3 bytes first) so the reader must cope with unaligned data. */
    enum st_dtype order[] = {ST_U8, ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_BOOL};
    _Static_assert(sizeof order / sizeof order[0] == ST_DTYPE_COUNT, "one tensor per dtype");
    int64_t shapes[ST_DTYPE_COUNT][3];
    int ndims[ST_DTYPE_COUNT];
    void *datas[ST_DTYPE_COUNT];
    char names[ST_DTYPE_COUNT][32];
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        enum st_dtype dt = order[i];
        ndims[i] = 1 + i % 3;
        int64_t numel = 1;
        for (int d = 0; d < ndims[i]; d++) {
            shapes[i][d] = i == 0 ? 3 : 2 + (int64_t)(rng_u32() % 5);
            numel *= shapes[i][d];
        }
        size_t nbytes = (size_t)numel * st_dtype_size(dt);
        datas[i] = malloc(nbytes);
        fill_random(datas[i], nbytes);
        if (dt == ST_F32 || dt == ST_F64 || dt == ST_F16 || dt == ST_BF16) {
            /* Finite values so float comparisons below are meaningful. */
            for (int64_t k = 0; k < numel; k++) {
                float f = rng_float();
                if (dt == ST_F32)
                    memcpy((char *)datas[i] + 4 * k, &f, 4);
                else if (dt == ST_F64) {
                    double d = (double)f * 1.0000001;
                    memcpy((char *)datas[i] + 8 * k, &d, 8);
                } else {
                    uint16_t h = dt == ST_F16 ? half_from_f32(f) : bf16_from_f32(f);
                    memcpy((char *)datas[i] + 2 * k, &h, 2);
                }
            }
        }
        if (dt == ST_BOOL)
            for (int64_t k = 0; k < numel; k++)
                ((unsigned char *)datas[i])[k] &= 1;
        snprintf(names[i], sizeof names[i], "layer%d.%s \"q\"", i, st_dtype_name(dt));
        CHECK(st_writer_add(w, names[i], dt, ndims[i], shapes[i], datas[i]) == STATUS_OK);
    }
    /* Scalar, empty and converted tensors, and metadata. */
    double scalar = 3.25;
    CHECK(st_writer_add(w, "scalar", ST_F64, 0, NULL, &scalar) == STATUS_OK);
    int64_t zshape[2] = {4, 0};
    CHECK(st_writer_add(w, "empty", ST_F32, 2, zshape, NULL) == STATUS_OK);
    float src[37];
    for (int i = 0; i < 37; i++)
        src[i] = rng_float();
    int64_t s37 = 37;
    CHECK(st_writer_add_f32_as(w, "as_f16", ST_F16, 1, &s37, src) == STATUS_OK);
    CHECK(st_writer_add_f32_as(w, "as_bf16", ST_BF16, 1, &s37, src) == STATUS_OK);
    CHECK(st_writer_add_f32_as(w, "as_f32", ST_F32, 1, &s37, src) == STATUS_OK);
    CHECK(st_writer_add_f32_as(w, "as_i8", ST_I8, 1, &s37, src) == STATUS_BAD_INPUT);
    CHECK(st_writer_add(w, "as_f16", ST_F32, 1, &s37, src) == STATUS_BAD_INPUT);   /* duplicate */
    CHECK(strstr(status_message(), "as_f16") != NULL);
    CHECK(st_writer_add(w, "__metadata__", ST_F32, 1, &s37, src) == STATUS_BAD_INPUT);
    int64_t neg = -1;
    CHECK(st_writer_add(w, "neg", ST_F32, 1, &neg, src) == STATUS_BAD_INPUT);
    CHECK(st_writer_set_metadata(w, "format", "pt") == STATUS_OK);
    CHECK(st_writer_set_metadata(w, "note", "first") == STATUS_OK);
    CHECK(st_writer_set_metadata(w, "note", "line1\nline2 \"quoted\" \xc3\xa9") == STATUS_OK);
    CHECK(st_writer_save(w, path) == STATUS_OK);
    /* Saving again over the existing file replaces it atomically. */
    CHECK(st_writer_save(w, path) == STATUS_OK);
    st_writer_free(w);
    st_writer_free(NULL);

    struct st_file *f = NULL;
    int rc = safetensors_read(path, &f);
    CHECK(rc == STATUS_OK);
    if (rc) {
        fprintf(stderr, "  %s\n", status_message());
        goto done;
    }
    CHECK(strcmp(safetensors_path(f), path) == 0);
    CHECK(safetensors_n_tensors(f) == ST_DTYPE_COUNT + 5);
    CHECK(safetensors_metadata(f, "format") && strcmp(safetensors_metadata(f, "format"), "pt") == 0);
    CHECK(safetensors_metadata(f, "note") &&
          strcmp(safetensors_metadata(f, "note"), "line1\nline2 \"quoted\" \xc3\xa9") == 0);
    CHECK(safetensors_metadata(f, "absent") == NULL);
    CHECK(safetensors_n_metadata(f) == 2);
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        const struct st_tensor *t = safetensors_find(f, names[i]);
        CHECK(t != NULL);
        if (!t)
            continue;
        /* Contiguous writer offsets mean file order equals insertion order. */
        CHECK(safetensors_tensor(f, i) == t);
        CHECK(t->dtype == order[i] && t->ndim == ndims[i]);
        int64_t numel = 1;
        for (int d = 0; d < ndims[i]; d++) {
            CHECK(t->shape[d] == shapes[i][d]);
            numel *= shapes[i][d];
        }
        CHECK(t->numel == numel && t->nbytes == (size_t)numel * st_dtype_size(order[i]));
        CHECK(memcmp(t->data, datas[i], t->nbytes) == 0);
        enum st_dtype dt = order[i];
        float *conv = malloc((size_t)numel * sizeof *conv);
        rc = st_tensor_to_f32(f, t, conv);
        if (dt == ST_F32 || dt == ST_F16 || dt == ST_BF16 || dt == ST_F64) {
            CHECK(rc == STATUS_OK);
            int bad = 0;
            for (int64_t k = 0; k < numel; k++) {
                float want;
                const char *p = (const char *)datas[i];
                if (dt == ST_F32) {
                    memcpy(&want, p + 4 * k, 4);
                } else if (dt == ST_F64) {
                    double d;
                    memcpy(&d, p + 8 * k, 8);
                    want = (float)d;
                } else {
                    uint16_t h;
                    memcpy(&h, p + 2 * k, 2);
                    want = dt == ST_F16 ? half_to_f32(h) : bf16_to_f32(h);
                }
                bad += conv[k] != want;
            }
            CHECK(bad == 0);
        } else {
            CHECK(rc == STATUS_BAD_INPUT);
            CHECK(strstr(status_message(), path) != NULL);
            CHECK(strstr(status_message(), names[i]) != NULL);
            CHECK(strstr(status_message(), st_dtype_name(dt)) != NULL);
        }
        free(conv);
    }
    const struct st_tensor *t = safetensors_find(f, "scalar");
    CHECK(t && t->ndim == 0 && t->numel == 1 && t->nbytes == 8);
    float v;
    CHECK(t && st_tensor_to_f32(f, t, &v) == STATUS_OK && v == 3.25f);
    t = safetensors_find(f, "empty");
    CHECK(t && t->ndim == 2 && t->numel == 0 && t->nbytes == 0 && t->shape[1] == 0);
    const char *conv_names[] = {"as_f16", "as_bf16", "as_f32"};
    for (int c = 0; c < 3; c++) {
        t = safetensors_find(f, conv_names[c]);
        CHECK(t && t->numel == 37);
        if (!t)
            continue;
        float out[37];
        CHECK(st_tensor_to_f32(f, t, out) == STATUS_OK);
        int bad = 0;
        for (int k = 0; k < 37; k++) {
            float want = c == 0 ? half_to_f32(half_from_f32(src[k]))
                       : c == 1 ? bf16_to_f32(bf16_from_f32(src[k])) : src[k];
            bad += out[k] != want;
        }
        CHECK(bad == 0);
    }
    CHECK(safetensors_find(f, "nope") == NULL);
    CHECK(safetensors_find(f, "") == NULL);

    /* The header is space-padded so the data starts at a multiple of 8. */
    FILE *fp = fopen(path, "rb");
    unsigned char len8[8] = {0};
    CHECK(fp && fread(len8, 1, 8, fp) == 8);
    if (fp)
        fclose(fp);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | len8[i];
    CHECK(n % 8 == 0);
done:
    safetensors_free(f);
    safetensors_free(NULL);
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        free(datas[i]);
    CHECK(remove(path) == 0);
}

/* ------------------------------------------------------- bad input */

/* Writes 8-byte length + header + data_len pattern bytes. len_override, if
 * non-zero, replaces the stored header length. */
static void write_st(const char *path, const char *header, size_t data_len, uint64_t len_override)
{
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (!fp)
        return;
    uint64_t n = len_override ? len_override : strlen(header);
    for (int i = 0; i < 8; i++)
        fputc((int)((n >> (8 * i)) & 0xff), fp);
    fputs(header, fp);
    for (size_t i = 0; i < data_len; i++)
        fputc((int)(i * 7 + 1) & 0xff, fp);
    CHECK(fclose(fp) == 0);
}

static void expect_bad(const char *name, const char *header, size_t data_len, uint64_t len_override,
                       const char *word)
{
    char path[256];
    path_in(path, sizeof path, name);
    write_st(path, header, data_len, len_override);
    struct st_file *f = (struct st_file *)&f; /* must be reset to NULL */
    status_clear();
    int rc = safetensors_read(path, &f);
    const char *msg = status_message();
    CHECK(rc == STATUS_BAD_INPUT);
    CHECK(f == NULL);
    CHECK(strstr(msg, path) != NULL);
    CHECK(strstr(msg, word) != NULL);
    CHECK(strchr(msg, '\n') == NULL);
    if (rc != STATUS_BAD_INPUT || !strstr(msg, word))
        fprintf(stderr, "  %s: rc %d, message '%s' (wanted '%s')\n", name, rc, msg, word);
    if (rc == STATUS_OK)
        safetensors_free(f);
    CHECK(remove(path) == 0);
}

static void expect_ok(const char *name, const char *header, size_t data_len, int n_tensors)
{
    char path[256];
    path_in(path, sizeof path, name);
    write_st(path, header, data_len, 0);
    struct st_file *f = NULL;
    int rc = safetensors_read(path, &f);
    CHECK(rc == STATUS_OK);
    if (rc)
        fprintf(stderr, "  %s: %s\n", name, status_message());
    CHECK(!f || safetensors_n_tensors(f) == n_tensors);
    safetensors_free(f);
    CHECK(remove(path) == 0);
}

static void test_bad_input(void)
{
    const char *a24 = "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}";
    char h[512];

    /* Shorter than the 8-byte length field. */
    char path[256];
    path_in(path, sizeof path, "short.safetensors");
    FILE *fp = fopen(path, "wb");
    CHECK(fp && fwrite("\x01\x00\x00", 1, 3, fp) == 3);
    if (fp)
        fclose(fp);
    struct st_file *f = NULL;
    CHECK(safetensors_read(path, &f) == STATUS_BAD_INPUT && f == NULL);
    CHECK(strstr(status_message(), path) && strstr(status_message(), "truncated"));
    CHECK(remove(path) == 0);

    expect_bad("empty.safetensors", "", 0, 0, "JSON");                 /* N = 0 */
    expect_bad("len_beyond.safetensors", "{}", 0, 1000, "truncated");
    expect_bad("len_huge.safetensors", "{}", 0, 100000001, "header length");
    expect_bad("len_u64.safetensors", "{}", 0, UINT64_MAX, "header length");
    expect_bad("json.safetensors", "{\"a\":", 0, 0, "JSON");
    expect_bad("json2.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4, 0, "JSON");
    expect_bad("notobj.safetensors", "[1]", 0, 0, "object");
    expect_bad("entry.safetensors", "{\"a\":3}", 0, 0, "'a'");
    expect_bad("dtype.safetensors", "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0, "F33");
    expect_bad("dtype2.safetensors", "{\"a\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2, 0, "dtype");
    expect_bad("nodtype.safetensors", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0, "dtype");
    expect_bad("shape_neg.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, 0, "shape");
    expect_bad("shape_frac.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, 0, "shape");
    expect_bad("shape_dims.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, 0, "dimensions");
    expect_bad("shape_ovf.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, 0, "overflow");
    expect_bad("size.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20, 0, "needs 24");
    expect_bad("offs_order.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, 0, "begin");
    expect_bad("offs_count.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, 0, "data_offsets");
    snprintf(h, sizeof h, "{%s}", a24);
    expect_bad("outside.safetensors", h, 16, 0, "past the end");
    expect_bad("outside2.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[100,104]}}", 4, 0, "past the end");
    snprintf(h, sizeof h, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[16,40]}}", a24);
    expect_bad("overlap.safetensors", h, 40, 0, "overlap");
    snprintf(h, sizeof h, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}", a24);
    expect_bad("same.safetensors", h, 24, 0, "overlap");
    snprintf(h, sizeof h, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[32,56]}}", a24);
    expect_bad("gap.safetensors", h, 56, 0, "gap");
    expect_bad("gap_start.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8, 0, "gap");
    snprintf(h, sizeof h, "{%s}", a24);
    expect_bad("gap_end.safetensors", h, 32, 0, "gap");
    snprintf(h, sizeof h, "{%s,%s}", a24, a24);
    expect_bad("dup.safetensors", h, 24, 0, "duplicate");
    snprintf(h, sizeof h, "{\"__metadata__\":{\"k\":\"v\",\"n\":1},%s}", a24);
    expect_bad("meta_val.safetensors", h, 24, 0, "__metadata__ key 'n'");
    snprintf(h, sizeof h, "{\"__metadata__\":[\"k\"],%s}", a24);
    expect_bad("meta_arr.safetensors", h, 24, 0, "__metadata__");
    snprintf(h, sizeof h, "{\"__metadata__\":{},\"__metadata__\":{},%s}", a24);
    expect_bad("meta_dup.safetensors", h, 24, 0, "duplicate");

    /* Accepted like the reference: trailing-space padding, null metadata,
     * zero-size tensors sharing an offset, no tensors at all, extra fields. */
    snprintf(h, sizeof h, "{%s}       ", a24);
    expect_ok("pad.safetensors", h, 24, 1);
    snprintf(h, sizeof h, "{\"__metadata__\":null,%s}", a24);
    expect_ok("meta_null.safetensors", h, 24, 1);
    snprintf(h, sizeof h, "{\"z\":{\"dtype\":\"I8\",\"shape\":[0,5],\"data_offsets\":[24,24]},%s,"
                          "\"y\":{\"dtype\":\"I8\",\"shape\":[0],\"data_offsets\":[0,0]}}", a24);
    expect_ok("zero.safetensors", h, 24, 3);
    expect_ok("none.safetensors", "{}", 0, 0);
    expect_ok("meta_only.safetensors", "{\"__metadata__\":{\"a\":\"b\"}}", 0, 0);
    expect_ok("extra.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2],\"x\":1}}", 2, 1);

    /* A missing file is an I/O error, not bad input. */
    path_in(path, sizeof path, "missing.safetensors");
    f = NULL;
    CHECK(safetensors_read(path, &f) == STATUS_IO && f == NULL);
    CHECK(strstr(status_message(), path) != NULL);
}

static void test_writer_failure(void)
{
    /* A path under a regular file fails even for root (ENOTDIR), unlike a
     * read-only directory. Nothing may be left behind, not even PATH.tmp. */
    char blocker[256], path[300], tmp[310];
    path_in(blocker, sizeof blocker, "blocker");
    FILE *fp = fopen(blocker, "wb");
    CHECK(fp != NULL);
    if (fp)
        fclose(fp);
    snprintf(path, sizeof path, "%s/out.safetensors", blocker);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct st_writer *w = st_writer_alloc();
    float x[4] = {1, 2, 3, 4};
    int64_t s = 4;
    CHECK(st_writer_add_f32_as(w, "x", ST_F32, 1, &s, x) == STATUS_OK);
    CHECK(st_writer_save(w, path) == STATUS_IO);
    CHECK(strstr(status_message(), path) != NULL);
    struct stat sb;
    CHECK(stat(path, &sb) != 0 && stat(tmp, &sb) != 0);

    snprintf(path, sizeof path, "%s/no/such/dir/out.safetensors", tmpdir);
    CHECK(st_writer_save(w, path) == STATUS_IO);
    CHECK(stat(path, &sb) != 0);
    st_writer_free(w);
    CHECK(remove(blocker) == 0);
}

int main(void)
{
    rng_state = SEED;
    printf("seed %u\n", SEED);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rn_st_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    printf("temp dir %s\n", tmpdir);
    test_half_known();
    test_bf16_known();
    test_bulk();
#if defined(__FLT16_MAX__) && defined(__GNUC__)
    test_half_vs_compiler();
#else
    printf("no _Float16: compiler cross-check skipped\n");
#endif
    test_round_trip();
    test_bad_input();
    test_writer_failure();
    /* Every test removed its files; rmdir fails if anything (e.g. a stray
     * PATH.tmp) was left behind. */
    CHECK(rmdir(tmpdir) == 0);
    return check_summary();
}
