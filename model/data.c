/* data.c — the dataset layer: Fashion-MNIST from gzipped IDX files and
 * user-supplied .npy image/label pairs, normalised into one float buffer.
 *
 * IDX is big-endian: a magic (0x00000803 images, 0x00000801 labels), one
 * 32-bit count per dimension, then unsigned bytes. We read through zlib's
 * gz* calls, which also pass uncompressed files through unchanged. Every file
 * is read to its end even when the split or limit needs only a part, so a
 * truncated or padded file is always an error rather than a silent success
 * that depends on the limit; this costs a fraction of a second.
 * Not here: augmentation and batching (train), anything beyond 28x28 IDX. */
#include "data.h"

#include "atomic_file.h"
#include "image_dataset.h"
#include "npy.h"
#include "status.h"
#include "strbuf.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define DATA_FMNIST_SIDE 28
#define DATA_FMNIST_CLASSES 10
#define DATA_IDX_IMAGES_MAGIC 0x00000803u
#define DATA_IDX_LABELS_MAGIC 0x00000801u
#define DATA_FMNIST_HINT "install Debian's dataset-fashion-mnist or set RN50_FMNIST_DIR"

/* Guards against a corrupt labels file turning into a classifier with
 * billions of outputs; ImageNet has 1,000 classes. */
#define DATA_MAX_CLASSES (1 << 20)

enum data_split { DATA_SPLIT_TRAIN, DATA_SPLIT_VAL, DATA_SPLIT_TEST, DATA_SPLIT_COUNT };
static const char *const data_split_names[] = {"train", "val", "test"};
_Static_assert(sizeof data_split_names / sizeof data_split_names[0] == DATA_SPLIT_COUNT, "split name table");

static int data_split_parse(const char *split, enum data_split *out)
{
    for (int i = 0; split && i < DATA_SPLIT_COUNT; i++)
        if (strcmp(split, data_split_names[i]) == 0) {
            *out = (enum data_split)i;
            return STATUS_OK;
        }
    return status_error(STATUS_BAD_INPUT, "unknown split '%s' (expected train, val or test)",
                        split ? split : "(none)");
}

void dataset_free(struct dataset *d)
{
    if (!d)
        return;
    free(d->images);
    free(d->labels);
    image_dataset_free(d->src);
    memset(d, 0, sizeof *d);
}

/* ---- options and batches ----------------------------------------------------------------- */

void dataset_options_default(struct dataset_options *o)
{
    memset(o, 0, sizeof *o);
    image_transform_default(&o->transform);
    o->val_per_class = DATA_VAL_PER_CLASS;
}

static struct dataset_options data_options;
static int data_options_set;

void dataset_options_set(const struct dataset_options *o)
{
    data_options = *o;
    data_options_set = 1;
}

const struct dataset_options *dataset_options_get(void)
{
    if (!data_options_set) {
        dataset_options_default(&data_options);
        data_options_set = 1;
    }
    return &data_options;
}

int dataset_splits_distinct(const char *spec)
{
    if (strncmp(spec, "npy:", 4) != 0) return 1;   /* fmnist and imagefolder splits are disjoint by construction */
    if (!strchr(spec, '=')) return 0;
    const char *v = strstr(spec, "val="), *t = strstr(spec, "test=");
    if (!v || !t) return 0;
    v += 4;
    t += 5;
    const size_t nv = strcspn(v, ";"), nt = strcspn(t, ";");
    return !(nv == nt && strncmp(v, t, nv) == 0);
}

int64_t dataset_image_floats(const struct dataset *d) { return (int64_t)d->C * d->H * d->W; }

void dataset_batch(const struct dataset *d, int64_t first, int64_t count, float *out)
{
    RN_ASSERT(first >= 0 && count >= 0 && first + count <= d->n);
    if (d->src) {
        image_dataset_batch(d, first, count, out);
        return;
    }
    const int64_t per = dataset_image_floats(d);
    memcpy(out, d->images + first * per, sizeof(float) * (size_t)(count * per));
}

const float *dataset_batch_ptr(const struct dataset *d, int64_t first, int64_t count, float *scratch)
{
    RN_ASSERT(first >= 0 && count >= 0 && first + count <= d->n);
    if (!d->src) return d->images + first * dataset_image_floats(d);
    image_dataset_batch(d, first, count, scratch);
    return scratch;
}

int dataset_augments(const struct dataset *d) { return image_dataset_augments(d); }

int dataset_train_image(const struct dataset *d, int64_t i, uint64_t seed, float *out)
{
    RN_ASSERT(i >= 0 && i < d->n && dataset_augments(d));
    return image_dataset_train_image(d, i, seed, out);
}

const char *dataset_path(const struct dataset *d, int64_t i)
{
    RN_ASSERT(i >= 0 && i < d->n);
    return d->src ? image_dataset_path(d, i) : "";
}

int dataset_write_list(const struct dataset *d, const char *path)
{
    if (d->src) return image_dataset_write_list(d, path);
    struct strbuf b = { 0 };
    strbuf_printf(&b, "index\tlabel\tclass\tpath\n");
    for (int64_t i = 0; i < d->n; i++) strbuf_printf(&b, "%lld\t%lld\t%lld\t%s:%lld\n", (long long)i, (long long)d->labels[i],
                                                      (long long)d->labels[i], d->name, (long long)i);
    int rc = b.oom ? status_error(STATUS_NOMEM, "out of memory") : file_write_atomic(path, file_write_strbuf, &b);
    free(b.p);
    return rc;
}

/* ---- IDX through zlib ------------------------------------------------- */

static int data_gz_open(const char *path, gzFile *gz)
{
    errno = 0;
    *gz = gzopen(path, "rb");
    if (!*gz)
        return status_error(STATUS_IO, "%s: cannot open: %s (%s)", path, errno ? strerror(errno) : "gzopen failed",
                            DATA_FMNIST_HINT);
    gzbuffer(*gz, 1 << 17);
    return STATUS_OK;
}

/* Reads exactly len bytes; a short read is truncation, a zlib error is a
 * corrupt file, both named with the path. */
static int data_gz_read(gzFile gz, const char *path, void *buf, size_t len, const char *what)
{
    unsigned char *p = buf;
    size_t done = 0;
    while (done < len) {
        size_t want = len - done > (1u << 30) ? (1u << 30) : len - done;
        int got = gzread(gz, p + done, (unsigned)want);
        if (got <= 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            if (got < 0 || (zerr != Z_OK && zerr != Z_BUF_ERROR))
                return status_error(STATUS_BAD_INPUT, "%s: corrupt file while reading %s: %s", path, what, msg);
            return status_error(STATUS_BAD_INPUT, "%s: truncated: %s ends after %zu of %zu bytes", path, what, done,
                                len);
        }
        done += (size_t)got;
    }
    return STATUS_OK;
}

/* After the declared data there must be nothing. */
static int data_gz_expect_end(gzFile gz, const char *path)
{
    unsigned char extra;
    int got = gzread(gz, &extra, 1);
    if (got < 0) {
        int zerr;
        return status_error(STATUS_BAD_INPUT, "%s: corrupt file at its end: %s", path, gzerror(gz, &zerr));
    }
    if (got > 0)
        return status_error(STATUS_BAD_INPUT, "%s: trailing bytes after the declared IDX data", path);
    return STATUS_OK;
}

static uint32_t data_be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Reads the IDX header: magic then ndim big-endian counts. */
static int data_idx_header(gzFile gz, const char *path, uint32_t magic, int ndim, uint32_t *dims)
{
    unsigned char b[16];
    int rc = data_gz_read(gz, path, b, 4 + 4 * (size_t)ndim, "the IDX header");
    if (rc)
        return rc;
    uint32_t m = data_be32(b);
    if (m != magic)
        return status_error(STATUS_BAD_INPUT, "%s: IDX magic 0x%08x, expected 0x%08x (%s)", path, m, magic,
                            magic == DATA_IDX_IMAGES_MAGIC ? "ubyte images, 3 dims" : "ubyte labels, 1 dim");
    for (int i = 0; i < ndim; i++)
        dims[i] = data_be32(b + 4 + 4 * i);
    return STATUS_OK;
}

/* Fashion-MNIST: labels first (small, and their count is checked against
 * the images'), then images streamed in chunks keeping only the window
 * [first, first + n). */
static int data_load_fmnist(const char *dir, enum data_split split, int64_t limit, struct dataset *out)
{
    int rc = STATUS_OK;
    gzFile gz = NULL;
    unsigned char *lab = NULL, *chunk = NULL;
    const char *prefix = split == DATA_SPLIT_TEST ? "t10k" : "train";
    uint32_t file_n = split == DATA_SPLIT_TEST ? DATA_FMNIST_TEST_FILE_N : DATA_FMNIST_TRAIN_FILE_N;
    int64_t first = split == DATA_SPLIT_VAL ? DATA_FMNIST_TRAIN_FILE_N - DATA_FMNIST_VAL_N : 0;
    int64_t n = split == DATA_SPLIT_TRAIN ? DATA_FMNIST_TRAIN_FILE_N - DATA_FMNIST_VAL_N
                : split == DATA_SPLIT_VAL ? DATA_FMNIST_VAL_N
                                          : DATA_FMNIST_TEST_FILE_N;
    if (limit > 0 && limit < n)
        n = limit;

    char lpath[4096], ipath[4096];
    if (snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, prefix) >= (int)sizeof lpath ||
        snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, prefix) >= (int)sizeof ipath)
        return status_error(STATUS_BAD_INPUT, "fmnist directory '%.100s...' is too long", dir);

    /* Labels. */
    uint32_t ldim[1] = {0}, idim[3] = {0};
    if ((rc = data_gz_open(lpath, &gz)) || (rc = data_idx_header(gz, lpath, DATA_IDX_LABELS_MAGIC, 1, ldim)))
        goto fail;
    if (ldim[0] != file_n) {
        rc = status_error(STATUS_BAD_INPUT, "%s: %u labels, expected %u for Fashion-MNIST", lpath, ldim[0], file_n);
        goto fail;
    }
    lab = malloc(file_n);
    if (!lab) {
        rc = status_error(STATUS_NOMEM, "%s: out of memory", lpath);
        goto fail;
    }
    if ((rc = data_gz_read(gz, lpath, lab, file_n, "the labels")) || (rc = data_gz_expect_end(gz, lpath)))
        goto fail;
    gzclose(gz);
    gz = NULL;
    for (uint32_t i = 0; i < file_n; i++)
        if (lab[i] >= DATA_FMNIST_CLASSES) {
            rc = status_error(STATUS_BAD_INPUT, "%s: label %u at index %u, expected 0..%d", lpath, lab[i], i,
                              DATA_FMNIST_CLASSES - 1);
            goto fail;
        }

    /* Images. */
    if ((rc = data_gz_open(ipath, &gz)) || (rc = data_idx_header(gz, ipath, DATA_IDX_IMAGES_MAGIC, 3, idim)))
        goto fail;
    if (idim[0] != ldim[0]) {
        rc = status_error(STATUS_BAD_INPUT, "%s: %u images but %s has %u labels", ipath, idim[0], lpath, ldim[0]);
        goto fail;
    }
    if (idim[1] != DATA_FMNIST_SIDE || idim[2] != DATA_FMNIST_SIDE) {
        rc = status_error(STATUS_BAD_INPUT, "%s: images are %ux%u, expected %dx%d", ipath, idim[1], idim[2],
                          DATA_FMNIST_SIDE, DATA_FMNIST_SIDE);
        goto fail;
    }
    const size_t img = DATA_FMNIST_SIDE * DATA_FMNIST_SIDE;
    out->images = malloc((size_t)n * img * sizeof(float)); /* [n, 1, 28, 28] */
    out->labels = malloc((size_t)n * sizeof(int64_t));     /* [n] */
    const int64_t per_chunk = 1000;
    chunk = malloc((size_t)per_chunk * img);
    if (!out->images || !out->labels || !chunk) {
        rc = status_error(STATUS_NOMEM, "%s: out of memory for %lld images", ipath, (long long)n);
        goto fail;
    }
    /* A 256-entry table keeps the normalisation identical for every pixel
     * and out of the inner loop. */
    float lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = ((float)v / 255.0f - DATA_FMNIST_MEAN) / DATA_FMNIST_STD;
    for (int64_t start = 0; start < (int64_t)file_n; start += per_chunk) {
        int64_t m = (int64_t)file_n - start < per_chunk ? (int64_t)file_n - start : per_chunk;
        if ((rc = data_gz_read(gz, ipath, chunk, (size_t)m * img, "the image data")))
            goto fail;
        int64_t lo = start > first ? start : first;
        int64_t hi = start + m < first + n ? start + m : first + n;
        for (int64_t i = lo; i < hi; i++) {
            const unsigned char *src = chunk + (size_t)(i - start) * img;
            float *dst = out->images + (size_t)(i - first) * img;
            for (size_t k = 0; k < img; k++)
                dst[k] = lut[src[k]];
        }
    }
    if ((rc = data_gz_expect_end(gz, ipath)))
        goto fail;
    gzclose(gz);
    for (int64_t i = 0; i < n; i++)
        out->labels[i] = lab[first + i];
    free(lab);
    free(chunk);
    out->n = n;
    out->C = 1;
    out->H = out->W = DATA_FMNIST_SIDE;
    out->n_classes = DATA_FMNIST_CLASSES;
    snprintf(out->name, sizeof out->name, "fmnist:%s", data_split_names[split]);
    return STATUS_OK;
fail:
    if (gz)
        gzclose(gz);
    free(lab);
    free(chunk);
    dataset_free(out);
    return rc;
}

/* ---- npy pairs ---------------------------------------------------------- */

static int data_load_npy(const char *paths, int64_t limit, struct dataset *out)
{
    int rc = STATUS_OK;
    char *ipath = NULL;
    const char *comma = strchr(paths, ',');
    if (!comma || comma == paths || comma[1] == '\0')
        return status_error(STATUS_BAD_INPUT, "dataset 'npy:%s': expected npy:IMAGES.npy,LABELS.npy", paths);
    ipath = malloc((size_t)(comma - paths) + 1);
    if (!ipath)
        return status_error(STATUS_NOMEM, "out of memory");
    memcpy(ipath, paths, (size_t)(comma - paths));
    ipath[comma - paths] = '\0';
    const char *lpath = comma + 1;

    int ndim, lndim;
    int64_t shape[NPY_MAX_DIMS], lshape[NPY_MAX_DIMS];
    if ((rc = npy_read_f32(ipath, &out->images, &ndim, shape)))
        goto fail;
    if (ndim != 4) {
        rc = status_error(STATUS_BAD_INPUT, "%s: images have %d dimensions, expected 4 [n, C, H, W]", ipath, ndim);
        goto fail;
    }
    for (int i = 1; i < 4; i++)
        if (shape[i] < 1 || shape[i] > INT_MAX) {
            rc = status_error(STATUS_BAD_INPUT, "%s: image dimension %d is %lld, expected 1..%d", ipath, i,
                              (long long)shape[i], INT_MAX);
            goto fail;
        }
    if (shape[0] < 1) {
        rc = status_error(STATUS_BAD_INPUT, "%s: no images (shape[0] is 0)", ipath);
        goto fail;
    }
    int64_t per = shape[1] * shape[2] * shape[3], total = shape[0] * per;
    for (int64_t i = 0; i < total; i++)
        if (!isfinite(out->images[i])) {
            rc = status_error(STATUS_BAD_INPUT, "%s: image %lld has a non-finite value %g at element %lld", ipath,
                              (long long)(i / per), out->images[i], (long long)(i % per));
            goto fail;
        }

    if ((rc = npy_read_i64(lpath, &out->labels, &lndim, lshape)))
        goto fail;
    if (lndim != 1) {
        rc = status_error(STATUS_BAD_INPUT, "%s: labels have %d dimensions, expected 1 [n]", lpath, lndim);
        goto fail;
    }
    if (lshape[0] != shape[0]) {
        rc = status_error(STATUS_BAD_INPUT, "%s: %lld labels but %s has %lld images", lpath, (long long)lshape[0],
                          ipath, (long long)shape[0]);
        goto fail;
    }
    /* Classes come from the whole file so that a limit does not change the
     * model's output width. */
    int64_t max_label = 0;
    for (int64_t i = 0; i < lshape[0]; i++) {
        int64_t v = out->labels[i];
        if (v < 0 || v >= DATA_MAX_CLASSES) {
            rc = status_error(STATUS_BAD_INPUT, "%s: label %lld at index %lld, expected 0..%d", lpath, (long long)v,
                              (long long)i, DATA_MAX_CLASSES - 1);
            goto fail;
        }
        if (v > max_label)
            max_label = v;
    }

    int64_t n = shape[0];
    if (limit > 0 && limit < n) {
        n = limit;
        /* Give back the rest; keeping the old block if realloc fails is fine. */
        float *im = realloc(out->images, (size_t)(n * per) * sizeof(float));
        if (im)
            out->images = im;
        int64_t *lb = realloc(out->labels, (size_t)n * sizeof(int64_t));
        if (lb)
            out->labels = lb;
    }
    out->n = n;
    out->C = (int)shape[1];
    out->H = (int)shape[2];
    out->W = (int)shape[3];
    out->n_classes = (int)max_label + 1;
    const char *base = strrchr(ipath, '/');
    snprintf(out->name, sizeof out->name, "npy:%s", base ? base + 1 : ipath);
    free(ipath);
    return STATUS_OK;
fail:
    free(ipath);
    dataset_free(out);
    return rc;
}

int dataset_load(const char *spec, const char *split, int64_t limit, struct dataset *out)
{
    return dataset_open(spec, split, limit, NULL, out);
}

int dataset_open(const char *spec, const char *split, int64_t limit, const struct dataset_options *o, struct dataset *out)
{
    RN_ASSERT(spec != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (strncmp(spec, "imagefolder:", 12) == 0)
        return image_dataset_load(spec + 12, split, limit, o ? o : dataset_options_get(), out);
    enum data_split sp = DATA_SPLIT_TEST;
    if (strncmp(spec, "npy:", 4) == 0) {
        /* The files are the split; a split name, if given, must still be a
         * valid one so typos are not silently accepted. */
        if (split && data_split_parse(split, &sp))
            return STATUS_BAD_INPUT;
        if (!strchr(spec, '='))
            return data_load_npy(spec + 4, limit, out);
        /* npy:val=I,L;test=I,L[;train=I,L]: the pair named for the split. */
        if (!split)
            return status_error(STATUS_BAD_INPUT, "dataset '%s': a pair per split needs a split name", spec);
        const size_t k = strlen(split);
        for (const char *p = spec + 4; *p;) {
            const char *end = strchr(p, ';');
            const size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len > k && strncmp(p, split, k) == 0 && p[k] == '=') {
                char pair[4096];
                if (len - k - 1 >= sizeof pair)
                    return status_error(STATUS_BAD_INPUT, "dataset '%s': paths too long", spec);
                memcpy(pair, p + k + 1, len - k - 1);
                pair[len - k - 1] = '\0';
                return data_load_npy(pair, limit, out);
            }
            p += len + (end != NULL);
        }
        return status_error(STATUS_BAD_INPUT, "dataset '%s': no pair for split '%s' (expected npy:val=I.npy,L.npy;test=I.npy,L.npy[;train=...])",
                            spec, split);
    }
    const char *dir = NULL;
    if (strcmp(spec, "fmnist") == 0) {
        dir = getenv("RN50_FMNIST_DIR");
        if (!dir || !*dir)
            dir = DATA_FMNIST_DEFAULT_DIR;
    } else if (strncmp(spec, "fmnist:", 7) == 0) {
        dir = spec + 7;
        if (!*dir)
            return status_error(STATUS_BAD_INPUT, "dataset 'fmnist:': empty directory (expected fmnist:DIR)");
    } else {
        return status_error(STATUS_BAD_INPUT,
                            "unknown dataset '%s' (expected fmnist, fmnist:DIR or npy:IMAGES.npy,LABELS.npy, or imagefolder:ROOT)", spec);
    }
    if (data_split_parse(split, &sp))
        return STATUS_BAD_INPUT;
    return data_load_fmnist(dir, sp, limit, out);
}
