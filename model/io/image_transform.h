/* image_transform.h — torchvision's evaluation preprocessing on 8-bit images, exactly:
 * Resize(resize) on the shorter side with Pillow's antialiased resampling, CenterCrop(crop) with
 * zero padding when the image is smaller, ToTensor, Normalize(mean, std). The crop stays uint8
 * (ToTensor divides by 255 later) so the crop cache holds exactly what the network sees.
 * Training augmentation (RandomResizedCrop + horizontal flip) is here as well. */
#ifndef RN_IMAGE_TRANSFORM_H
#define RN_IMAGE_TRANSFORM_H

#include "image_decode.h"

#include <stdint.h>

enum image_interp { IMAGE_INTERP_BILINEAR, IMAGE_INTERP_BICUBIC, IMAGE_INTERP_COUNT };
extern const char *const image_interp_names[IMAGE_INTERP_COUNT];   /* "bilinear", "bicubic" */

/* A model's preprocessing (model YAML keys resize, crop, mean, std, interpolation). */
struct image_transform {
    int resize;          /* shorter side after Resize; 0: no resize */
    int crop_h, crop_w;  /* CenterCrop; equal to the model's input size */
    int channels;        /* 1 (Pillow "L") or 3 ("RGB"); the model's in_channels */
    float mean[3], std[3];
    enum image_interp interp;
};

/* torchvision ResNet50 IMAGENET1K_V1: Resize(256), CenterCrop(224), ImageNet mean and std,
 * bilinear, 3 channels. */
void image_transform_default(struct image_transform *t);

/* torchvision 0.14 _compute_resized_output_size for a single size: the shorter side becomes
 * `size`, the longer int(size * long / short) (truncated). */
void image_resize_output_size(int W, int H, int size, int *OW, int *OH);

/* Pillow's Image.resize((OW, OH), BILINEAR or BICUBIC) on an 8-bit image: separable passes,
 * horizontal first, the filter's support widened by the downscaling factor (antialiasing),
 * coefficients in 22-bit fixed point, a pass skipped when its size does not change.
 * *out is allocated. STATUS_OK or STATUS_NOMEM. This is the plain reference; there is no faster
 * variant. */
int image_resize(const struct image_u8 *in, int OW, int OH, enum image_interp interp, struct image_u8 *out);

/* The evaluation transform up to ToTensor: resize (skipped when the size does not change, as
 * torchvision does), centre crop (torchvision's rounding, zero padding), planar output
 * crop[c * crop_h * crop_w + y * crop_w + x]. in->C must equal t->channels.
 * STATUS_OK or STATUS_NOMEM. */
int image_transform_eval(const struct image_u8 *in, const struct image_transform *t, uint8_t *crop);

/* RandomResizedCrop(crop, scale=(0.08, 1), ratio=(3/4, 4/3)) + RandomHorizontalFlip(0.5) as
 * torchvision draws them (10 tries, then the centre fallback), with our generator seeded by
 * `seed` instead of torch's: same distribution, not the same draws. Planar output as above. */
int image_transform_train(const struct image_u8 *in, const struct image_transform *t, uint64_t seed, uint8_t *crop);

/* torchvision's F.resized_crop(img, top=i, left=j, height=h, width=w, size=[crop_h, crop_w]) then
 * hflip when flip: the window resized with Pillow's resampler (image_resize). Planar output. The
 * box must lie inside the image (assert). STATUS_OK or STATUS_NOMEM. */
int image_resized_crop(const struct image_u8 *in, const struct image_transform *t, int i, int j, int h, int w, int flip,
                       uint8_t *crop);

/* ToTensor + Normalize of one planar crop: out = (u / 255 - mean[c]) / std[c] in float, the same
 * operations in the same order as torchvision (and as our Fashion-MNIST loader). */
void image_normalize(const uint8_t *crop, const struct image_transform *t, float *out);

/* Checks the fields; `where` prefixes messages (a model file name). STATUS_BAD_INPUT or OK. */
int image_transform_validate(const struct image_transform *t, const char *where);

#endif
