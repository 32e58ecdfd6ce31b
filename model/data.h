/* data.h — labelled image datasets: Fashion-MNIST from Debian's package and
 * user-supplied .npy pairs. See SPEC.md section 5 for the splits. */
#ifndef RN_DATA_H
#define RN_DATA_H

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

struct dataset {
    int64_t n;       /* images */
    int C, H, W;
    int n_classes;   /* 10 for fmnist; for npy: max label + 1 over the whole file */
    float *images;   /* [n, C, H, W], normalised, owned */
    int64_t *labels; /* [n], in [0, n_classes), owned */
    char name[64];   /* "fmnist:test", "npy:images.npy" etc. for logs */
};

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

/* Frees the buffers and zeroes *d; safe on a zeroed struct and on NULL. */
void dataset_free(struct dataset *d);

#endif
