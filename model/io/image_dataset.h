/* image_dataset.h — the imagefolder: datasets behind data.h: a split's file list in evaluation
 * order and its crop cache. Called by data.c only; users go through data.h. */
#ifndef RN_IMAGE_DATASET_H
#define RN_IMAGE_DATASET_H

#include "data.h"

/* Loads split of the folder root into *out (zeroed first, left zeroed on failure); limit > 0
 * keeps the first `limit` images of the evaluation order. Statuses as dataset_load. */
int image_dataset_load(const char *root, const char *split, int64_t limit, const struct dataset_options *o,
                       struct dataset *out);
void image_dataset_free(struct dataset_images *s);
void image_dataset_batch(const struct dataset *d, int64_t first, int64_t count, float *out);
const char *image_dataset_path(const struct dataset *d, int64_t i);
int image_dataset_write_list(const struct dataset *d, const char *path);
int image_dataset_augments(const struct dataset *d);
int image_dataset_train_image(const struct dataset *d, int64_t i, uint64_t seed, float *out);

#endif
