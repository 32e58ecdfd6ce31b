/* crop_cache.h — preprocessed crops of a list of images in one memory-mapped uint8 file, so each
 * image is decoded and resized once, not once per candidate the search evaluates.
 *
 * The file (little-endian): a 64-byte header (magic "RN50CRP1", the content key, n, C, H, W),
 * n status bytes (1 decoded, 2 bad and skipped) padded to 64, then n crops [C, H, W]. The key is
 * an FNV-1a hash of the transform and, for every image in order, its path, label, size and
 * modification time, so a changed file, list or transform is seen (the cache is then rebuilt and
 * the reason logged). A file that is not ours or is cut short is rebuilt the same way; a cache is
 * never used unless its key and size match. Building decodes in parallel threads, a bounded
 * window of images at a time, and writes through atomic_file: a failed build leaves no file. */
#ifndef RN_CROP_CACHE_H
#define RN_CROP_CACHE_H

#include "image_folder.h"
#include "image_transform.h"

#include <stdint.h>

struct crop_cache;

struct crop_cache_request {
    const struct image_list *list;
    const struct image_transform *t;
    const char *path;    /* the cache file */
    int skip_bad;        /* 0: the first bad image is an error; 1: skipped and counted */
    int threads;         /* decoding threads; 0: OpenMP's default */
};

/* What opening did, for logs and the run's JSON. */
struct crop_cache_info {
    int built;           /* 1: decoded now; 0: reused */
    int64_t n_bad;       /* images skipped (skip_bad) */
    double seconds;      /* spent building or opening */
    char reason[160];    /* why it was (re)built: "no cache", "stale: ...", "not a cache file" */
};

/* Opens the cache at rq->path, building or rebuilding it when it is missing, stale or foreign.
 * Returns STATUS_OK; STATUS_BAD_INPUT naming the first bad image and what is wrong (without
 * skip_bad), or when a listed file cannot be stat'ed; STATUS_IO when the cache cannot be written
 * or mapped (naming it); STATUS_NOMEM. */
int crop_cache_open(const struct crop_cache_request *rq, struct crop_cache **out, struct crop_cache_info *info);

/* Image i's crop [C, H, W], or NULL when it was skipped as bad. */
const uint8_t *crop_cache_image(const struct crop_cache *c, int64_t i);

/* Unmaps; NULL is a no-op. */
void crop_cache_free(struct crop_cache *c);

/* The cache file for a dataset: DIR/NAME.crops, DIR = dir if set, else $RN50_CACHE_DIR, else
 * $XDG_CACHE_HOME/rn50-tune, else $HOME/.cache/rn50-tune (created when missing). NAME is a hash
 * of `what` (the dataset spec, split and limit) and the transform. STATUS_IO when no folder can be
 * found or made. */
int crop_cache_path(const char *dir, const char *what, const struct image_transform *t, char *out, size_t cap);

#endif
