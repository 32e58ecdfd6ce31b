/* data.h — labelled image datasets: Fashion-MNIST from Debian's package, user-supplied .npy
 * pairs, and ImageNet-style folders of JPEG/PNG files (model/io/). See SPEC.md section 5 for the
 * splits. Readers take images by batch (dataset_batch): a folder's images live in a memory-mapped
 * cache of uint8 crops and are normalised on the way out, never held whole as float. */
#ifndef RN_DATA_H
#define RN_DATA_H

#include "image_transform.h"

#include <stddef.h>
#include <stdint.h>

/* Fashion-MNIST pixel statistics after scaling to [0, 1]. Images are stored
 * as (x / 255 - MEAN) / STD; black (0) is therefore DATA_FMNIST_BLACK, the
 * value the training augmentation pads with. */
#define DATA_FMNIST_MEAN 0.2860f
#define DATA_FMNIST_STD 0.3530f
#define DATA_FMNIST_BLACK (-DATA_FMNIST_MEAN / DATA_FMNIST_STD)

/* Where Debian's dataset-fashion-mnist installs the gzipped IDX files. */
#define DATA_FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

/* Split sizes of Fashion-MNIST: the training file's first 55,000 images
 * train, its last 5,000 validate, the 10,000 test images are the test split. */
#define DATA_FMNIST_TRAIN_FILE_N 60000
#define DATA_FMNIST_TEST_FILE_N 10000
#define DATA_FMNIST_VAL_N 5000

struct dataset_images;

struct dataset {
    int64_t n;       /* images */
    int C, H, W;
    int n_classes;   /* 10 for fmnist; for npy: max label + 1 over the whole file; imagefolder: class folders */
    float *images;   /* [n, C, H, W], normalised, owned; NULL for imagefolder (read with dataset_batch) */
    int64_t *labels; /* [n], in [0, n_classes), owned */
    char name[64];   /* "fmnist:test", "npy:images.npy" etc. for logs */
    struct dataset_images *src;  /* imagefolder: its files and crop cache, owned; NULL otherwise */
    int64_t n_skipped;           /* bad images left out (--skip-bad) */
};

/* How folders of images are read. Commands set these once (dataset_options_set) from their
 * options and the model (model_load sets the transform and class count), and dataset_load
 * uses them; dataset_open takes them explicitly. fmnist and npy ignore them. */
#define DATA_VAL_PER_CLASS 10
struct dataset_options {
    struct image_transform transform;   /* the model's preprocessing */
    int model_classes;     /* > 0: a folder must have exactly this many classes */
    char cache_dir[1024];  /* "": crop_cache_path's default */
    int val_per_class;     /* images of each class held out of ROOT/train for val */
    int skip_bad;          /* 1: skip undecodable images (counted in n_skipped) instead of failing */
    int threads;           /* decoding threads; 0: OpenMP's default */
};
/* IMAGENET1K_V1's transform, no class check, default cache, 10 per class, stop on bad files. */
void dataset_options_default(struct dataset_options *o);
void dataset_options_set(const struct dataset_options *o);
const struct dataset_options *dataset_options_get(void);

/* Loads a dataset into *out (zeroed first; on failure left zeroed).
 *
 * spec:
 *   "fmnist"        Fashion-MNIST from $RN50_FMNIST_DIR if set and non-empty,
 *                   else DATA_FMNIST_DEFAULT_DIR. Files: train-images-idx3-ubyte.gz,
 *                   train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz,
 *                   t10k-labels-idx1-ubyte.gz (uncompressed IDX under the
 *                   same names is read as well).
 *   "fmnist:DIR"    the same from DIR.
 *   "npy:IMAGES.npy,LABELS.npy"  float images [n, C, H, W] already normalised
 *                   (f4, f8 or f2), integer labels [n] (>= 0). The split
 *                   name is not used for npy datasets: the files are the split.
 *                   The paths are separated at the first comma.
 *   "npy:val=I.npy,L.npy;test=I.npy,L.npy[;train=I.npy,L.npy]"  one pair per split.
 *   "imagefolder:ROOT"  JPEG/PNG files in class folders as torchvision's ImageFolder reads them
 *                   (model/io/image_folder.h: the splits, the stratified evaluation order),
 *                   preprocessed by the options' transform through a crop cache
 *                   (model/io/crop_cache.h).
 * split: "train" (first 55,000 training images), "val" (last 5,000 training
 *        images) or "test" (the 10,000 test images). Must be one of these for
 *        fmnist; for npy it may also be NULL.
 * limit: when > 0, keep only the first `limit` images of the split.
 *
 * Returns STATUS_OK; STATUS_BAD_INPUT for an unknown spec or split, a
 * malformed file (wrong magic, dimensions, counts, truncated data, labels out
 * of range, image/label count mismatch); STATUS_IO when a file cannot be
 * opened (the message names it and how to install the package); STATUS_NOMEM. */
int dataset_load(const char *spec, const char *split, int64_t limit, struct dataset *out);
/* The same with explicit options (NULL: dataset_options_get()). */
int dataset_open(const char *spec, const char *split, int64_t limit, const struct dataset_options *o, struct dataset *out);

/* 1 when the spec's val and test splits are different images (fmnist, imagefolder, npy with a
 * pair per split naming different files); 0 for one npy pair serving every split. The search
 * refuses the latter: its test figure would be measured on the images it made decisions on. */
int dataset_splits_distinct(const char *spec);

/* Floats per image, C * H * W. */
int64_t dataset_image_floats(const struct dataset *d);

/* Images first .. first + count - 1, normalised, into out [count, C, H, W]. In range by
 * assertion. */
void dataset_batch(const struct dataset *d, int64_t first, int64_t count, float *out);

/* The same without a copy where the images are in memory: returns d->images + first * C*H*W, or
 * fills scratch [count, C, H, W] and returns it. */
const float *dataset_batch_ptr(const struct dataset *d, int64_t first, int64_t count, float *scratch);

/* 1 for the train split of an imagefolder: training reads it through dataset_train_image
 * (torchvision's RandomResizedCrop(crop) + RandomHorizontalFlip, image_transform.h) instead of
 * dataset_batch + the engine's pad-crop augmentation. */
int dataset_augments(const struct dataset *d);
/* Image i decoded now, augmented with draws from seed, normalised into out [C, H, W].
 * STATUS_BAD_INPUT / STATUS_IO naming a bad file (with --skip-bad: black, STATUS_OK). */
int dataset_train_image(const struct dataset *d, int64_t i, uint64_t seed, float *out);

/* The file of image i ("" for in-memory datasets). */
const char *dataset_path(const struct dataset *d, int64_t i);

/* Writes the split's list (index, label, class, path; TSV) to path atomically: for imagefolder
 * the files in evaluation order, for the others the index and label. STATUS_IO naming the path. */
int dataset_write_list(const struct dataset *d, const char *path);

/* Frees the buffers and zeroes *d; safe on a zeroed struct and on NULL. */
void dataset_free(struct dataset *d);

#endif
