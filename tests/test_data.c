/* test_data.c — the dataset layer: spec and split errors, IDX validation on
 * files crafted here (so it runs without the Debian package), the split
 * windows and normalisation on a crafted full-size Fashion-MNIST, npy
 * datasets, and, when Debian's dataset-fashion-mnist is installed, checks on
 * the real files. Without the package the rest still runs and the test
 * reports a skip (77) if everything else passed. */
#include "check.h"
#include "data.h"
#include "npy.h"
#include "status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[64];

static void path_in(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", tmpdir, name); }

static void be32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

/* Pixel k of image i in crafted files: high-entropy enough to catch an
 * off-by-one image or pixel, cheap to recompute. */
static unsigned char pix(int64_t i, int k) { return (unsigned char)((i * 131 + k * 7 + (i >> 3) * k) & 255); }

/* Writes an IDX images file with `n_write` of `n_decl` declared images of
 * rows x cols; gz selects gzip (level 1) or a plain file. */
static void write_images(const char *name, uint32_t magic, uint32_t n_decl, int64_t n_write, uint32_t rows,
                         uint32_t cols)
{
    char p[128];
    path_in(p, sizeof p, name);
    gzFile gz = gzopen(p, "wb1");
    unsigned char h[16];
    be32(h, magic);
    be32(h + 4, n_decl);
    be32(h + 8, rows);
    be32(h + 12, cols);
    gzwrite(gz, h, 16);
    unsigned char *img = malloc(rows * cols);
    for (int64_t i = 0; i < n_write; i++) {
        for (uint32_t k = 0; k < rows * cols; k++)
            img[k] = pix(i, (int)k);
        gzwrite(gz, img, rows * cols);
    }
    free(img);
    gzclose(gz);
}

/* Labels i % 10 except `bad_at` which gets 10; written uncompressed when
 * plain is set, since zlib reads plain files through gzread too. */
static void write_labels(const char *name, uint32_t n_decl, uint32_t n_write, int64_t bad_at, int plain)
{
    char p[128];
    path_in(p, sizeof p, name);
    unsigned char *b = malloc(8 + n_write);
    be32(b, 0x801);
    be32(b + 4, n_decl);
    for (uint32_t i = 0; i < n_write; i++)
        b[8 + i] = (unsigned char)((int64_t)i == bad_at ? 10 : i % 10);
    if (plain) {
        FILE *f = fopen(p, "wb");
        fwrite(b, 1, 8 + n_write, f);
        fclose(f);
    } else {
        gzFile gz = gzopen(p, "wb1");
        gzwrite(gz, b, 8 + n_write);
        gzclose(gz);
    }
    free(b);
}

static int msg_has(const char *s) { return strstr(status_message(), s) != NULL; }

static void expect_load_fail(const char *spec, const char *split, int code, const char *needle, int line)
{
    struct dataset d;
    memset(&d, 0xAB, sizeof d);
    int rc = dataset_load(spec, split, 0, &d);
    int ok = rc == code && msg_has(needle) && d.images == NULL && d.labels == NULL && d.n == 0;
    if (!ok)
        fprintf(stderr, "line %d: rc %d, msg: %s\n", line, rc, status_message());
    CHECK(ok);
    dataset_free(&d);
}

static void test_spec_errors(void)
{
    expect_load_fail("mnist", "test", STATUS_BAD_INPUT, "fmnist, fmnist:DIR or npy:", __LINE__);
    expect_load_fail("fmnist:", "test", STATUS_BAD_INPUT, "fmnist:DIR", __LINE__);
    expect_load_fail("fmnist:/nonexistent_rn50", "validation", STATUS_BAD_INPUT, "train, val or test", __LINE__);
    expect_load_fail("fmnist:/nonexistent_rn50", NULL, STATUS_BAD_INPUT, "train, val or test", __LINE__);
    expect_load_fail("fmnist:/nonexistent_rn50", "test", STATUS_IO, "/nonexistent_rn50/t10k-labels-idx1-ubyte.gz",
                     __LINE__);
    CHECK(msg_has("dataset-fashion-mnist") && msg_has("RN50_FMNIST_DIR"));
    setenv("RN50_FMNIST_DIR", "/nonexistent_env_rn50", 1);
    expect_load_fail("fmnist", "val", STATUS_IO, "/nonexistent_env_rn50/train-labels-idx1-ubyte.gz", __LINE__);
    unsetenv("RN50_FMNIST_DIR");
    expect_load_fail("npy:only_one.npy", "test", STATUS_BAD_INPUT, "npy:IMAGES.npy,LABELS.npy", __LINE__);
    expect_load_fail("npy:a.npy,", "test", STATUS_BAD_INPUT, "npy:IMAGES.npy,LABELS.npy", __LINE__);
    dataset_free(NULL);
}

/* Malformed IDX files, each in the test split of the temp dir. */
static void test_idx_errors(void)
{
    char spec[128], ip[128], lp[128];
    snprintf(spec, sizeof spec, "fmnist:%s", tmpdir);
    path_in(ip, sizeof ip, "t10k-images-idx3-ubyte.gz");
    path_in(lp, sizeof lp, "t10k-labels-idx1-ubyte.gz");

    write_labels("t10k-labels-idx1-ubyte.gz", 10000, 10000, -1, 1);
    write_images("t10k-images-idx3-ubyte.gz", 0x802, 10000, 0, 28, 28);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "magic", __LINE__);
    CHECK(msg_has(ip));
    write_images("t10k-images-idx3-ubyte.gz", 0x803, 10000, 10, 28, 28);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "truncated", __LINE__);
    CHECK(msg_has(ip));
    write_images("t10k-images-idx3-ubyte.gz", 0x803, 10000, 0, 28, 27);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "expected 28x28", __LINE__);
    write_images("t10k-images-idx3-ubyte.gz", 0x803, 9999, 0, 28, 28);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "9999 images", __LINE__);
    write_images("t10k-images-idx3-ubyte.gz", 0x803, 10001, 10001, 28, 28);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "10001 images", __LINE__);
    /* One image too many behind a correct header is trailing data. */
    write_images("t10k-images-idx3-ubyte.gz", 0x803, 10000, 10001, 28, 28);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "trailing", __LINE__);

    write_labels("t10k-labels-idx1-ubyte.gz", 9999, 9999, -1, 0);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "9999 labels, expected 10000", __LINE__);
    write_labels("t10k-labels-idx1-ubyte.gz", 10000, 9000, -1, 0);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "truncated", __LINE__);
    CHECK(msg_has(lp));
    write_labels("t10k-labels-idx1-ubyte.gz", 10000, 10000, 4321, 0);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "label 10 at index 4321", __LINE__);
    /* A gzip stream cut in the middle. */
    write_labels("t10k-labels-idx1-ubyte.gz", 10000, 10000, -1, 0);
    FILE *f = fopen(lp, "rb");
    unsigned char buf[64];
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    f = fopen(lp, "wb");
    fwrite(buf, 1, got / 2, f);
    fclose(f);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, lp, __LINE__);
    remove(ip);
    remove(lp);
}

/* A crafted full-size training file: the split windows and limits select
 * the right images, and pixels are normalised exactly as documented. */
static void test_crafted_splits(void)
{
    char spec[128], p[128];
    snprintf(spec, sizeof spec, "fmnist:%s", tmpdir);
    write_images("train-images-idx3-ubyte.gz", 0x803, 60000, 60000, 28, 28);
    write_labels("train-labels-idx1-ubyte.gz", 60000, 60000, -1, 0);
    struct dataset d;
    CHECK(dataset_load(spec, "val", 0, &d) == STATUS_OK);
    CHECK(d.n == 5000 && d.C == 1 && d.H == 28 && d.W == 28 && d.n_classes == 10);
    CHECK(strcmp(d.name, "fmnist:val") == 0);
    int bad = 0;
    for (int64_t i = 0; i < d.n; i++) {
        bad += d.labels[i] != (55000 + i) % 10;
        for (int k = 0; k < 784; k += 97)
            bad += d.images[i * 784 + k] != ((float)pix(55000 + i, k) / 255.0f - DATA_FMNIST_MEAN) / DATA_FMNIST_STD;
    }
    CHECK(bad == 0);
    CHECK_ABS(d.images[783 + 784 * 4999], ((float)pix(59999, 783) / 255.0f - 0.2860f) / 0.3530f, 0);
    dataset_free(&d);
    CHECK(d.images == NULL && d.n == 0);
    dataset_free(&d);

    CHECK(dataset_load(spec, "train", 1234, &d) == STATUS_OK);
    CHECK(d.n == 1234 && d.labels[1233] == 3);
    bad = 0;
    for (int k = 0; k < 784; k++)
        bad += d.images[1233 * 784 + k] != ((float)pix(1233, k) / 255.0f - DATA_FMNIST_MEAN) / DATA_FMNIST_STD;
    CHECK(bad == 0);
    dataset_free(&d);
    CHECK(dataset_load(spec, "train", 0, &d) == STATUS_OK);
    CHECK(d.n == 55000 && d.labels[54999] == 9);
    dataset_free(&d);
    /* A limit larger than the split is the whole split. */
    CHECK(dataset_load(spec, "val", 100000, &d) == STATUS_OK);
    CHECK(d.n == 5000);
    dataset_free(&d);
    /* Black's normalised value, which the augmentation pads with. */
    CHECK_ABS(DATA_FMNIST_BLACK, -0.2860 / 0.3530, 1e-6);
    path_in(p, sizeof p, "train-images-idx3-ubyte.gz");
    remove(p);
    path_in(p, sizeof p, "train-labels-idx1-ubyte.gz");
    remove(p);
}

static void test_npy_dataset(void)
{
    char ip[128], lp[128], spec[300];
    path_in(ip, sizeof ip, "images.npy");
    path_in(lp, sizeof lp, "labels.npy");
    snprintf(spec, sizeof spec, "npy:%s,%s", ip, lp);
    float x[5 * 2 * 3 * 4];
    for (int i = 0; i < 120; i++)
        x[i] = (float)(i * 37 % 101) / 17.0f - 3.0f;
    int64_t xs[4] = {5, 2, 3, 4}, lab[5] = {3, 0, 1, 3, 2}, ls[1] = {5};
    CHECK(npy_write_f32(ip, x, 4, xs) == STATUS_OK);
    CHECK(npy_write_i64(lp, lab, 1, ls) == STATUS_OK);

    struct dataset d;
    CHECK(dataset_load(spec, "test", 0, &d) == STATUS_OK);
    CHECK(d.n == 5 && d.C == 2 && d.H == 3 && d.W == 4 && d.n_classes == 4);
    CHECK(d.images && memcmp(d.images, x, sizeof x) == 0);
    CHECK(d.labels && memcmp(d.labels, lab, sizeof lab) == 0);
    CHECK(strcmp(d.name, "npy:images.npy") == 0);
    dataset_free(&d);
    /* The split is not used, but a limit is, and classes stay those of the file. */
    CHECK(dataset_load(spec, NULL, 2, &d) == STATUS_OK);
    CHECK(d.n == 2 && d.n_classes == 4 && d.labels[1] == 0 && d.images[119 - 72] == x[47]);
    dataset_free(&d);
    expect_load_fail(spec, "bogus", STATUS_BAD_INPUT, "train, val or test", __LINE__);

    /* Mismatched counts. */
    ls[0] = 4;
    CHECK(npy_write_i64(lp, lab, 1, ls) == STATUS_OK);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "4 labels", __LINE__);
    CHECK(msg_has(ip) && msg_has(lp) && msg_has("5 images"));
    /* Negative label. */
    ls[0] = 5;
    lab[2] = -1;
    CHECK(npy_write_i64(lp, lab, 1, ls) == STATUS_OK);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "label -1 at index 2", __LINE__);
    lab[2] = 1;
    /* Labels must be 1-d and integer. */
    int64_t l2[2] = {5, 1};
    CHECK(npy_write_i64(lp, lab, 2, l2) == STATUS_OK);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "expected 1 [n]", __LINE__);
    CHECK(npy_write_f32(lp, x, 1, ls) == STATUS_OK);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "'<f4'", __LINE__);
    CHECK(npy_write_i64(lp, lab, 1, ls) == STATUS_OK);
    /* Images must be 4-d, non-empty and finite. */
    int64_t x3[3] = {5, 6, 4};
    CHECK(npy_write_f32(ip, x, 3, x3) == STATUS_OK);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "expected 4 [n, C, H, W]", __LINE__);
    int64_t x0[4] = {0, 2, 3, 4};
    CHECK(npy_write_f32(ip, x, 4, x0) == STATUS_OK);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "no images", __LINE__);
    x[50] = NAN;
    CHECK(npy_write_f32(ip, x, 4, xs) == STATUS_OK);
    expect_load_fail(spec, "test", STATUS_BAD_INPUT, "image 2 has a non-finite value", __LINE__);
    x[50] = 1.0f;
    CHECK(npy_write_f32(ip, x, 4, xs) == STATUS_OK);
    remove(lp);
    expect_load_fail(spec, "test", STATUS_IO, lp, __LINE__);
    remove(ip);
    expect_load_fail(spec, "test", STATUS_IO, ip, __LINE__);
}

/* Reads `n` raw bytes at `offset` of a gzipped file, for checks against the
 * loader that do not trust it. */
static int raw_bytes(const char *path, long offset, unsigned char *buf, unsigned n)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return -1;
    int ok = gzseek(gz, offset, SEEK_SET) == offset && gzread(gz, buf, n) == (int)n;
    gzclose(gz);
    return ok ? 0 : -1;
}

/* The real Fashion-MNIST; returns 0 when it is not installed. */
static int test_real_fmnist(void)
{
    const char *dir = DATA_FMNIST_DEFAULT_DIR;
    char tl[256], ti[256];
    snprintf(tl, sizeof tl, "%s/t10k-labels-idx1-ubyte.gz", dir);
    snprintf(ti, sizeof ti, "%s/train-images-idx3-ubyte.gz", dir);
    if (access(tl, R_OK) != 0 || access(ti, R_OK) != 0) {
        printf("Fashion-MNIST not installed at %s: skipping the real-data checks\n", dir);
        return 0;
    }
    struct dataset d;
    /* The first official test label: read it from the file, expect ankle boot. */
    unsigned char first_label = 255;
    CHECK(raw_bytes(tl, 8, &first_label, 1) == 0);
    CHECK(first_label == 9);
    CHECK(dataset_load("fmnist", "test", 0, &d) == STATUS_OK);
    CHECK(d.n == 10000 && d.C == 1 && d.H == 28 && d.W == 28 && d.n_classes == 10);
    if (d.n == 10000) {
        CHECK(d.labels[0] == first_label);
        /* The test set is balanced: 1,000 images per class. */
        int64_t count[10] = {0};
        int out = 0;
        for (int64_t i = 0; i < d.n; i++) {
            if (d.labels[i] < 0 || d.labels[i] > 9)
                out++;
            else
                count[d.labels[i]]++;
        }
        CHECK(out == 0);
        for (int c = 0; c < 10; c++)
            CHECK(count[c] == 1000);
    }
    dataset_free(&d);

    /* val starts at training image 55,000; compare pixels with the raw file. */
    CHECK(dataset_load("fmnist", "val", 100, &d) == STATUS_OK);
    CHECK(d.n == 100 && strcmp(d.name, "fmnist:val") == 0);
    unsigned char raw[784];
    CHECK(raw_bytes(ti, 16 + 55000L * 784, raw, 784) == 0);
    int bad = 0;
    for (int k = 0; k < 784 && d.n == 100; k++)
        bad += d.images[k] != ((float)raw[k] / 255.0f - DATA_FMNIST_MEAN) / DATA_FMNIST_STD;
    CHECK(bad == 0);
    for (int64_t i = 0; i < d.n; i++)
        CHECK(d.labels[i] >= 0 && d.labels[i] < 10);
    dataset_free(&d);

    /* Normalised training images have mean ~0 and standard deviation ~1. */
    snprintf(tl, sizeof tl, "fmnist:%s", dir);
    CHECK(dataset_load(tl, "train", 5000, &d) == STATUS_OK);
    CHECK(d.n == 5000);
    double s = 0, s2 = 0;
    int64_t m = d.n * 784;
    for (int64_t i = 0; i < m; i++) {
        s += d.images[i];
        s2 += (double)d.images[i] * d.images[i];
    }
    double mean = s / (double)m, sd = sqrt(s2 / (double)m - mean * mean);
    printf("fmnist train[0:5000] normalised mean %.4f std %.4f\n", mean, sd);
    CHECK_ABS(mean, 0.0, 0.02);
    CHECK_ABS(sd, 1.0, 0.05);
    dataset_free(&d);
    return 1;
}

int main(void)
{
    strcpy(tmpdir, "/tmp/test_data_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_spec_errors();
    test_idx_errors();
    test_crafted_splits();
    test_npy_dataset();
    int real = test_real_fmnist();
    rmdir(tmpdir);
    int rc = check_summary();
    return rc == 0 && !real ? CHECK_SKIP : rc;
}
