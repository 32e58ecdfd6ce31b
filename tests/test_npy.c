/* test_npy.c — .npy round trips, numpy's exact header bytes, dtype
 * conversions from files built byte by byte, and every malformed case the
 * reader must reject with STATUS_BAD_INPUT and the path in the message. */
#include "check.h"
#include "npy.h"
#include "status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Files go in the working directory (the build dir under CTest). */
#define TMP "test_npy_tmp.npy"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull; /* fixed seed, printed in main */

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static float rng_float(void) { return (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 200.0 - 100.0); }

/* Writes magic, version, header (padded with spaces and '\n' to a multiple
 * of 64 like numpy, unless pad is 0), then data bytes. */
static void craft(const char *path, int major, const char *dict, int pad, const void *data, size_t n)
{
    char hdr[1024];
    size_t len = strlen(dict);
    size_t pre = major == 1 ? 10 : 12;
    memcpy(hdr, dict, len);
    if (pad) {
        size_t total = (pre + len + 1 + 63) / 64 * 64;
        while (pre + len + 1 < total)
            hdr[len++] = ' ';
        hdr[len++] = '\n';
    }
    FILE *f = fopen(path, "wb");
    unsigned char p[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
    for (size_t i = 0; i < pre - 8; i++)
        p[8 + i] = (unsigned char)(len >> (8 * i));
    fwrite(p, 1, pre, f);
    fwrite(hdr, 1, len, f);
    if (n)
        fwrite(data, 1, n, f);
    fclose(f);
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

/* Expect both readers to fail with `code` and the path and `needle` in the message. */
static void expect_fail(const char *path, int code, const char *needle, int line)
{
    float *f = (float *)1;
    int64_t *l = (int64_t *)1;
    int nd;
    int64_t sh[NPY_MAX_DIMS];
    int rc = npy_read_f32(path, &f, &nd, sh);
    int ok = rc == code && f == NULL && strstr(status_message(), path) && strstr(status_message(), needle);
    if (!ok)
        fprintf(stderr, "line %d: f32 reader rc %d, msg: %s\n", line, rc, status_message());
    CHECK(ok);
    rc = npy_read_i64(path, &l, &nd, sh);
    ok = rc == code && l == NULL && strstr(status_message(), path);
    if (!ok)
        fprintf(stderr, "line %d: i64 reader rc %d, msg: %s\n", line, rc, status_message());
    CHECK(ok);
}

static void test_round_trip_f32(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = rng_float();
    CHECK(npy_write_f32(TMP, x, ndim, shape) == STATUS_OK);
    float *y = NULL;
    int nd = -1;
    int64_t sh[NPY_MAX_DIMS];
    CHECK(npy_read_f32(TMP, &y, &nd, sh) == STATUS_OK);
    CHECK(y != NULL);
    CHECK(nd == ndim);
    for (int i = 0; i < ndim && nd == ndim; i++)
        CHECK(sh[i] == shape[i]);
    CHECK(y && memcmp(x, y, (size_t)n * sizeof *x) == 0);
    /* Data starts 64-byte aligned, as numpy writes it. */
    FILE *f = fopen(TMP, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CHECK((size - (long)(n * 4)) % 64 == 0);
    CHECK(access(TMP ".tmp", F_OK) != 0);
    free(x);
    free(y);
}

static void test_round_trip_i64(void)
{
    int64_t x[12] = {INT64_MIN, INT64_MAX, -1, 0, 1, 255, -256, 1ll << 40};
    for (int i = 8; i < 12; i++)
        x[i] = (int64_t)rng_next();
    int64_t shape[2] = {3, 4};
    CHECK(npy_write_i64(TMP, x, 2, shape) == STATUS_OK);
    int64_t *y = NULL, sh[NPY_MAX_DIMS];
    int nd;
    CHECK(npy_read_i64(TMP, &y, &nd, sh) == STATUS_OK);
    CHECK(nd == 2 && sh[0] == 3 && sh[1] == 4);
    CHECK(y && memcmp(x, y, sizeof x) == 0);
    free(y);
    /* 1-d and 0-d. */
    int64_t one = 5;
    CHECK(npy_write_i64(TMP, x, 1, &one) == STATUS_OK);
    CHECK(npy_read_i64(TMP, &y, &nd, sh) == STATUS_OK);
    CHECK(nd == 1 && sh[0] == 5 && y && y[0] == INT64_MIN && y[4] == 1);
    free(y);
    CHECK(npy_write_i64(TMP, x + 1, 0, NULL) == STATUS_OK);
    CHECK(npy_read_i64(TMP, &y, &nd, sh) == STATUS_OK);
    CHECK(nd == 0 && y && y[0] == INT64_MAX);
    free(y);
    /* The float reader refuses integer files. */
    float *f = NULL;
    CHECK(npy_read_f32(TMP, &f, &nd, sh) == STATUS_BAD_INPUT && f == NULL);
    CHECK(strstr(status_message(), "'<i8'") != NULL);
}

/* The exact bytes numpy 1.24 writes for np.save of a (2, 3) float32 array
 * (checked once by hand against numpy). */
static void test_numpy_header_bytes(void)
{
    float x[6] = {0};
    int64_t shape[2] = {2, 3};
    CHECK(npy_write_f32(TMP, x, 2, shape) == STATUS_OK);
    unsigned char b[128];
    FILE *f = fopen(TMP, "rb");
    CHECK(fread(b, 1, 128, f) == 128);
    fclose(f);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    CHECK(memcmp(b, "\x93NUMPY\x01\x00\x76\x00", 10) == 0);
    CHECK(memcmp(b + 10, dict, strlen(dict)) == 0);
    for (size_t i = 10 + strlen(dict); i < 127; i++)
        CHECK(b[i] == ' ');
    CHECK(b[127] == '\n');
}

static void test_conversions(void)
{
    float *f = NULL;
    int64_t *l = NULL, sh[NPY_MAX_DIMS];
    int nd;

    /* v2 header, f4, 3-d, double-quoted keys and an unpadded header. */
    float v[6] = {1.5f, -2.25f, 3e-38f, 1e30f, -0.0f, 7.0f};
    unsigned char vb[24];
    for (int i = 0; i < 6; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int k = 0; k < 4; k++)
            vb[4 * i + k] = (unsigned char)(u >> (8 * k));
    }
    craft(TMP, 2, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1, 2, 3)}", 0, vb, 24);
    CHECK(npy_read_f32(TMP, &f, &nd, sh) == STATUS_OK);
    CHECK(nd == 3 && sh[0] == 1 && sh[1] == 2 && sh[2] == 3);
    CHECK(f && memcmp(f, v, sizeof v) == 0);
    free(f);
    /* v3 is the same layout. */
    craft(TMP, 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 1, vb, 24);
    CHECK(npy_read_f32(TMP, &f, &nd, sh) == STATUS_OK && nd == 1 && sh[0] == 6);
    CHECK(f && f[1] == -2.25f);
    free(f);

    /* f8: 0.1 rounds to the nearest float, 1e300 overflows to inf. */
    double d[3] = {0.1, -12345.678, 1e300};
    unsigned char db[24];
    for (int i = 0; i < 3; i++) {
        uint64_t u;
        memcpy(&u, &d[i], 8);
        for (int k = 0; k < 8; k++)
            db[8 * i + k] = (unsigned char)(u >> (8 * k));
    }
    craft(TMP, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 1, db, 24);
    CHECK(npy_read_f32(TMP, &f, &nd, sh) == STATUS_OK && nd == 1 && sh[0] == 3);
    CHECK(f && f[0] == (float)0.1 && f[1] == (float)-12345.678 && isinf(f[2]));
    free(f);

    /* f2: 1, -2, 0.5, 65504 (max), smallest subnormal 2^-24, inf, NaN, -0. */
    uint16_t h[8] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x7C00, 0x7E00, 0x8000};
    unsigned char hb[16];
    for (int i = 0; i < 8; i++) {
        hb[2 * i] = (unsigned char)(h[i] & 0xff);
        hb[2 * i + 1] = (unsigned char)(h[i] >> 8);
    }
    craft(TMP, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 4), }", 1, hb, 16);
    CHECK(npy_read_f32(TMP, &f, &nd, sh) == STATUS_OK && nd == 2);
    if (f) {
        CHECK(f[0] == 1.0f && f[1] == -2.0f && f[2] == 0.5f && f[3] == 65504.0f);
        CHECK(f[4] == ldexpf(1.0f, -24) && isinf(f[5]) && f[5] > 0 && isnan(f[6]));
        CHECK(f[7] == 0.0f && signbit(f[7]));
    }
    free(f);

    /* u1, i1, i2, i4, u4, u8 into int64. */
    unsigned char u1[4] = {0, 7, 128, 255};
    craft(TMP, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", 1, u1, 4);
    CHECK(npy_read_i64(TMP, &l, &nd, sh) == STATUS_OK && nd == 1 && sh[0] == 4);
    CHECK(l && l[0] == 0 && l[1] == 7 && l[2] == 128 && l[3] == 255);
    free(l);
    craft(TMP, 1, "{'descr': '|i1', 'fortran_order': False, 'shape': (4,), }", 1, u1, 4);
    CHECK(npy_read_i64(TMP, &l, &nd, sh) == STATUS_OK);
    CHECK(l && l[0] == 0 && l[1] == 7 && l[2] == -128 && l[3] == -1);
    free(l);
    unsigned char i2[4] = {0x00, 0x80, 0xff, 0x7f}; /* -32768, 32767 */
    craft(TMP, 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", 1, i2, 4);
    CHECK(npy_read_i64(TMP, &l, &nd, sh) == STATUS_OK);
    CHECK(l && l[0] == -32768 && l[1] == 32767);
    free(l);
    unsigned char i4[8] = {0xfe, 0xff, 0xff, 0xff, 0x78, 0x56, 0x34, 0x12}; /* -2, 0x12345678 */
    craft(TMP, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", 1, i4, 8);
    CHECK(npy_read_i64(TMP, &l, &nd, sh) == STATUS_OK);
    CHECK(l && l[0] == -2 && l[1] == 0x12345678);
    free(l);
    craft(TMP, 1, "{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }", 1, i4, 8);
    CHECK(npy_read_i64(TMP, &l, &nd, sh) == STATUS_OK);
    CHECK(l && l[0] == 4294967294ll && l[1] == 0x12345678);
    free(l);
    unsigned char u8[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    craft(TMP, 1, "{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }", 1, u8, 8);
    expect_fail(TMP, STATUS_BAD_INPUT, "", __LINE__); /* 2^64-1 does not fit int64 */
    u8[7] = 0x7f;
    craft(TMP, 1, "{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }", 1, u8, 8);
    CHECK(npy_read_i64(TMP, &l, &nd, sh) == STATUS_OK);
    CHECK(l && l[0] == INT64_MAX);
    free(l);

    /* Zero elements: a valid file, a non-NULL buffer. */
    craft(TMP, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", 1, NULL, 0);
    CHECK(npy_read_f32(TMP, &f, &nd, sh) == STATUS_OK && f != NULL && nd == 2 && sh[0] == 0 && sh[1] == 3);
    free(f);
    /* Python 2 'L' suffixes in old files. */
    craft(TMP, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", 1, vb, 24);
    CHECK(npy_read_f32(TMP, &f, &nd, sh) == STATUS_OK && nd == 2);
    free(f);
}

static void test_malformed(void)
{
    unsigned char data[24] = {0};
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

    write_bytes(TMP, "\x93NUMPX\x01\x00\x10\x00", 10);
    expect_fail(TMP, STATUS_BAD_INPUT, "magic", __LINE__);
    write_bytes(TMP, "\x93NU", 3);
    expect_fail(TMP, STATUS_BAD_INPUT, "magic", __LINE__);
    craft(TMP, 4, good, 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "version", __LINE__);
    /* Header length 118 but the file ends early. */
    write_bytes(TMP, "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortr", 33);
    expect_fail(TMP, STATUS_BAD_INPUT, "truncated", __LINE__);
    write_bytes(TMP, "\x93NUMPY\x02\x00\x76", 9);
    expect_fail(TMP, STATUS_BAD_INPUT, "truncated", __LINE__);
    craft(TMP, 1, good, 1, data, 20);
    expect_fail(TMP, STATUS_BAD_INPUT, "truncated", __LINE__);
    craft(TMP, 1, good, 1, data, 24);
    FILE *f = fopen(TMP, "ab");
    fputc(0, f);
    fclose(f);
    expect_fail(TMP, STATUS_BAD_INPUT, "trailing", __LINE__);
    craft(TMP, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "fortran_order", __LINE__);
    craft(TMP, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "big-endian", __LINE__);
    craft(TMP, 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "'<c8'", __LINE__);
    craft(TMP, 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "string", __LINE__);
    craft(TMP, 1, "{'descr': '<f4', 'fortran_order': False, }", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "missing key 'shape'", __LINE__);
    craft(TMP, 1, "{'fortran_order': False, 'shape': (6,), }", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "missing key 'descr'", __LINE__);
    craft(TMP, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'extra': 1}", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "unexpected key 'extra'", __LINE__);
    craft(TMP, 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "duplicate", __LINE__);
    craft(TMP, 1, "['descr', '<f4']", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "dict", __LINE__);
    craft(TMP, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), } x", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "after the dict", __LINE__);
    craft(TMP, 1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (6,), }", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "True or False", __LINE__);
    craft(TMP, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "not a tuple", __LINE__);
    craft(TMP, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-6,), }", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "negative", __LINE__);
    craft(TMP, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "absurd", __LINE__);
    craft(TMP, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "too large", __LINE__);
    /* A huge but representable shape is a size mismatch, not an allocation. */
    craft(TMP, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "truncated", __LINE__);
    craft(TMP, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 6), }", 1, data, 24);
    expect_fail(TMP, STATUS_BAD_INPUT, "dimensions", __LINE__);
    remove(TMP);
    expect_fail(TMP, STATUS_IO, "cannot open", __LINE__);
}

static void test_write_errors(void)
{
    float x[2] = {1, 2};
    int64_t bad[1] = {-1};
    CHECK(npy_write_f32(TMP, x, 1, bad) == STATUS_BAD_INPUT);
    CHECK(npy_write_f32(TMP, x, NPY_MAX_DIMS + 1, bad) == STATUS_BAD_INPUT);
    int64_t two[1] = {2};
    const char *nodir = "no_such_dir_test_npy/x.npy";
    CHECK(npy_write_f32(nodir, x, 1, two) == STATUS_IO);
    CHECK(strstr(status_message(), "no_such_dir_test_npy/x.npy") != NULL);
    CHECK(access("no_such_dir_test_npy/x.npy.tmp", F_OK) != 0);
}

int main(void)
{
    printf("seed 0x%016llx\n", (unsigned long long)rng_state);
    int64_t s0[1] = {0}, s1[1] = {7}, s2[2] = {3, 5}, s4[4] = {2, 3, 4, 5}, s8[8] = {2, 1, 2, 1, 3, 1, 2, 1};
    int64_t sz[2] = {0, 4};
    test_round_trip_f32(0, s0);
    test_round_trip_f32(1, s1);
    test_round_trip_f32(2, s2);
    test_round_trip_f32(4, s4);
    test_round_trip_f32(8, s8);
    test_round_trip_f32(2, sz);
    test_round_trip_i64();
    test_numpy_header_bytes();
    test_conversions();
    test_malformed();
    test_write_errors();
    remove(TMP);
    return check_summary();
}
