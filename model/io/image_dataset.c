/* image_dataset.c — an imagefolder: split as a struct dataset: the listing and split
 * (image_folder.c), the crop cache (crop_cache.c), and normalisation on the way out. Images the
 * cache marked bad (--skip-bad) are left out of the dataset: index i of the dataset is slot[i] of
 * the cache.
 *
 * The train split has no cache: training reads each image through RandomResizedCrop + flip
 * (image_transform_train), which needs the whole decoded image, and a cache of ImageNet train
 * would be 190 GB. Its files are decoded when read, so a bad one is found then: an error, or with
 * --skip-bad a black image and a line in the log. */
#define _XOPEN_SOURCE 700   /* realpath */
#include "image_dataset.h"

#include "crop_cache.h"
#include "image_folder.h"
#include "status.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dataset_images {
    struct image_list list;     /* the split, evaluation order, bad images included */
    struct crop_cache *cache;   /* NULL for the train split: decoded when read */
    int skip_bad;
    int64_t *slot;              /* [dataset n] index into list / cache */
    struct image_transform t;
};

void image_dataset_free(struct dataset_images *s)
{
    if (!s) return;
    image_list_free(&s->list);
    crop_cache_free(s->cache);
    free(s->slot);
    free(s);
}

int image_dataset_load(const char *root, const char *split, int64_t limit, const struct dataset_options *o,
                       struct dataset *out)
{
    memset(out, 0, sizeof *out);
    if (!*root) return status_error(STATUS_BAD_INPUT, "dataset 'imagefolder:': empty folder (expected imagefolder:ROOT)");
    int rc = image_transform_validate(&o->transform, "imagefolder transform");
    if (rc) return rc;
    struct dataset_images *s = calloc(1, sizeof *s);
    if (!s) return status_error(STATUS_NOMEM, "out of memory");
    s->t = o->transform;
    const char *layout = "";
    if ((rc = image_folder_split(root, split, o->val_per_class > 0 ? o->val_per_class : DATA_VAL_PER_CLASS, &s->list, &layout)))
        goto fail;
    if (o->model_classes > 0 && s->list.n_classes != o->model_classes) {
        rc = status_error(STATUS_BAD_INPUT, "imagefolder:%s: %d class folders, but the model has %d classes", root,
                          s->list.n_classes, o->model_classes);
        goto fail;
    }
    if (limit > 0 && limit < s->list.n) {
        for (int64_t i = limit; i < s->list.n; i++) free(s->list.paths[i]);
        s->list.n = limit;
    }
    char what[4096], path[4096];
    char *abs = realpath(root, NULL);
    snprintf(what, sizeof what, "imagefolder:%s|%s|%lld|%d", abs ? abs : root, split, (long long)limit, o->val_per_class);
    free(abs);
    s->skip_bad = o->skip_bad;
    const int train = strcmp(split, "train") == 0;
    struct crop_cache_info info = { 0 };
    if (!train) {
        if ((rc = crop_cache_path(o->cache_dir, what, &s->t, path, sizeof path))) goto fail;
        const struct crop_cache_request rq = { &s->list, &s->t, path, o->skip_bad, o->threads };
        if ((rc = crop_cache_open(&rq, &s->cache, &info))) goto fail;
    }
    if (info.built)
        fprintf(stderr, "data: imagefolder:%s %s: %lld images preprocessed into %s in %.1f s (%s)\n", root, split,
                (long long)s->list.n, path, info.seconds, info.reason);
    s->slot = malloc(sizeof(int64_t) * (size_t)(s->list.n ? s->list.n : 1));
    out->labels = malloc(sizeof(int64_t) * (size_t)(s->list.n ? s->list.n : 1));
    if (!s->slot || !out->labels) {
        rc = status_error(STATUS_NOMEM, "out of memory");
        goto fail;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < s->list.n; i++)
        if (!s->cache || crop_cache_image(s->cache, i)) {
            s->slot[n] = i;
            out->labels[n++] = s->list.labels[i];
        }
    if (n == 0) {
        rc = status_error(STATUS_BAD_INPUT, "imagefolder:%s %s: every image is bad; no images left", root, split);
        goto fail;
    }
    if (info.n_bad)
        fprintf(stderr, "data: imagefolder:%s %s: %lld bad image(s) skipped (--skip-bad), %lld used\n", root, split,
                (long long)info.n_bad, (long long)n);
    out->n = n;
    out->n_skipped = info.n_bad;
    out->C = s->t.channels;
    out->H = s->t.crop_h;
    out->W = s->t.crop_w;
    out->n_classes = s->list.n_classes;
    snprintf(out->name, sizeof out->name, "imagefolder:%s", split);
    out->src = s;
    (void)layout;
    return STATUS_OK;
fail:
    image_dataset_free(s);
    free(out->labels);
    memset(out, 0, sizeof *out);
    return rc;
}

/* Decodes image i of an uncached split and applies the evaluation transform (seed 0) or the
 * training one, normalised into out [C, H, W]. A bad file: its status, or with skip_bad black
 * (normalised 0) and STATUS_OK. */
static int decode_now(const struct dataset *d, int64_t i, int train, uint64_t seed, float *out)
{
    const struct dataset_images *s = d->src;
    const size_t per = (size_t)d->C * d->H * d->W;
    uint8_t *crop = malloc(per);
    if (!crop) return status_error(STATUS_NOMEM, "out of memory");
    struct image_u8 im;
    int rc = image_decode_file(s->list.paths[s->slot[i]], s->t.channels, &im);
    if (!rc) rc = train ? image_transform_train(&im, &s->t, seed, crop) : image_transform_eval(&im, &s->t, crop);
    image_u8_free(&im);
    if ((rc == STATUS_BAD_INPUT || rc == STATUS_IO) && s->skip_bad) {
        fprintf(stderr, "data: skipping bad image (black instead) %s\n", status_message());
        memset(crop, 0, per);
        rc = STATUS_OK;
    }
    if (!rc) image_normalize(crop, &s->t, out);
    free(crop);
    return rc;
}

void image_dataset_batch(const struct dataset *d, int64_t first, int64_t count, float *out)
{
    const struct dataset_images *s = d->src;
    const int64_t per = (int64_t)d->C * d->H * d->W;
    for (int64_t i = 0; i < count; i++) {
        if (!s->cache) {
            /* Evaluation reads of the train split (rare): a bad file is black, with a line in the log. */
            if (decode_now(d, first + i, 0, 0, out + i * per)) {
                fprintf(stderr, "data: %s (read as black)\n", status_message());
                for (int64_t k = 0; k < per; k++) out[i * per + k] = 0.0f;
            }
            continue;
        }
        const uint8_t *crop = crop_cache_image(s->cache, s->slot[first + i]);
        RN_ASSERT(crop != NULL);
        image_normalize(crop, &s->t, out + i * per);
    }
}

int image_dataset_augments(const struct dataset *d) { return d->src && !d->src->cache; }

int image_dataset_train_image(const struct dataset *d, int64_t i, uint64_t seed, float *out)
{
    return decode_now(d, i, 1, seed, out);
}

const char *image_dataset_path(const struct dataset *d, int64_t i) { return d->src->list.paths[d->src->slot[i]]; }

int image_dataset_write_list(const struct dataset *d, const char *path)
{
    const struct dataset_images *s = d->src;
    /* The list as used: bad images left out, indices those of the dataset. */
    struct image_list used = s->list;
    used.n = d->n;
    used.paths = malloc(sizeof(char *) * (size_t)d->n);
    used.labels = d->labels;
    if (!used.paths) return status_error(STATUS_NOMEM, "out of memory");
    for (int64_t i = 0; i < d->n; i++) used.paths[i] = s->list.paths[s->slot[i]];
    int rc = image_list_write_tsv(&used, path);
    free(used.paths);
    return rc;
}
