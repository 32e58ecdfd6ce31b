/* image_folder.h — a folder of images as torchvision.datasets.ImageFolder (0.14) lists it, the
 * train/val/test splits we make of it, and the fixed class-stratified evaluation order. */
#ifndef RN_IMAGE_FOLDER_H
#define RN_IMAGE_FOLDER_H

#include <stdint.h>

/* Labelled files. */
struct image_list {
    int64_t n;
    char **paths;        /* [n], owned */
    int64_t *labels;     /* [n], index into the classes */
    int n_classes;
    char **classes;      /* [n_classes] folder names, sorted, owned */
};
void image_list_free(struct image_list *l);

/* Lists `root` exactly as ImageFolder(root): classes = the sorted names of its subfolders
 * (symlinks to folders count, hidden ones too), label = index in that order; in each class folder
 * every file found by os.walk(followlinks=True) with sorted folders and sorted names whose name
 * ends, in any case, in .jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp (hidden files included).
 * Only JPEG and PNG are decoded later; the others are listed so labels and order agree.
 * STATUS_BAD_INPUT: root has no class folders, or a class folder has no image file (named);
 * STATUS_IO: root cannot be read; STATUS_NOMEM. */
int image_folder_scan(const char *root, struct image_list *out);

/* Splits (SPEC section 5 and issue 14): when root has both train/ and val/ folders, "test" is
 * root/val, "val" is a class-stratified sample of val_per_class images of each class of
 * root/train and "train" the rest of root/train (classes must agree between the two). Otherwise
 * the split is drawn from root itself: per class, test = n/5 images, val = min(val_per_class, n/5),
 * train the rest (each class needs at least 3 images; each split gets at least one per class).
 * Samples are drawn by a fixed seed (IMAGE_FOLDER_SEED) from each class's sorted list, so a folder
 * always gives the same splits. The list comes in the evaluation order (image_list_stratify).
 * *layout is set to a one-line description for logs. */
#define IMAGE_FOLDER_SEED 0x14u
int image_folder_split(const char *root, const char *split, int val_per_class, struct image_list *out,
                       const char **layout);

/* Reorders l in place into the documented evaluation order: each class's images shuffled by a
 * fixed seed, then round r takes the r-th image of every class that still has one, classes in a
 * per-round shuffled order. Any prefix of k * n_classes images therefore holds k images of each
 * class (while the classes last), so screening prefixes are class-balanced. */
int image_list_stratify(struct image_list *l, uint64_t seed);

/* Writes l as a TSV (index, label, class, path) to path atomically. STATUS_IO naming the path. */
int image_list_write_tsv(const struct image_list *l, const char *path);

#endif
