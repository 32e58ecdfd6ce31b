/* image_decode.h — JPEG and PNG files to 8-bit pixels exactly as Pillow 9.4 on Debian gives them
 * after Image.open(path).convert("RGB") (3 channels) or .convert("L") (1 channel), which is what
 * torchvision's ImageFolder loader feeds its transforms. The one file that sees jpeglib.h and
 * png.h is image_decode.c. */
#ifndef RN_IMAGE_DECODE_H
#define RN_IMAGE_DECODE_H

#include <stddef.h>
#include <stdint.h>

/* An 8-bit image, channels interleaved: data[(y * W + x) * C + c]. */
struct image_u8 {
    int W, H, C;
    uint8_t *data;   /* [H, W, C], owned (image_u8_free) */
};

/* Allocates out->data for W x H x C (contents undefined). STATUS_OK or STATUS_NOMEM. */
int image_u8_alloc(struct image_u8 *out, int W, int H, int C);
/* Frees the pixels and zeroes *im; safe on a zeroed struct and on NULL. */
void image_u8_free(struct image_u8 *im);

/* Largest side we decode (Pillow's own limit is a pixel count; ours guards the int arithmetic and
 * memory: 2^15 x 2^15 x 3 bytes is 3 GiB). */
#define IMAGE_MAX_SIDE 32768
/* Largest decoded size: Pillow's decompression-bomb limit (twice Image.MAX_IMAGE_PIXELS, where
 * it raises an error), so an image Pillow refuses we refuse too, and a header claiming
 * 32768 x 32768 cannot make us allocate 3 GiB before its data turns out missing. */
#define IMAGE_MAX_PIXELS 178956970L

/* Decodes the file at path (format from its first bytes, not its name) into *out, converted to
 * `channels` (1: Pillow's "L", 3: "RGB"). On failure *out is zeroed.
 *
 * JPEG: libjpeg's defaults as Pillow leaves them (ISLOW DCT, fancy upsampling); grayscale is
 * replicated; 4-component (CMYK, or YCCK turned into CMYK by libjpeg) is read as Adobe-inverted
 * CMYK and converted with Pillow's cmyk2rgb. L from RGB is Pillow's ITU-R 601 integer formula.
 * PNG: every colour type and bit depth; 1/2/4-bit grey scaled to 0..255, palettes looked up,
 * 16-bit colour keeps its high byte, 16-bit grey is clipped to 255 (Pillow opens it as mode "I"),
 * alpha and tRNS are dropped (convert("RGB") does not composite).
 *
 * Returns STATUS_OK; STATUS_BAD_INPUT naming the path and what is wrong (not a JPEG or PNG,
 * truncated or corrupt data, too large); STATUS_IO when it cannot be opened or read;
 * STATUS_NOMEM. */
int image_decode_file(const char *path, int channels, struct image_u8 *out);

/* The same from a buffer of n bytes; `name` is used in messages. */
int image_decode_mem(const uint8_t *buf, size_t n, const char *name, int channels, struct image_u8 *out);

#endif
