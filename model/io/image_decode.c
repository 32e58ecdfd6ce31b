/* image_decode.c — JPEG (libjpeg-turbo) and PNG (libpng) to 8-bit L or RGB, reproducing what
 * Pillow 9.4 returns from Image.open(p).convert(mode). The conversions below are Pillow's integer
 * formulas (libImaging/Convert.c, Unpack.c) written out again; tests/test_image_io.c compares us
 * with Pillow on generated files of every mode.
 *
 * Not here: GIF, WebP, TIFF and the other formats Pillow opens (ImageNet is JPEG; we add PNG for
 * lossless fixtures), EXIF orientation (torchvision ignores it too), colour profiles (Pillow
 * ignores them unless asked). */
#include "image_decode.h"

#include "atomic_file.h"
#include "status.h"
#include "strbuf.h"

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int image_u8_alloc(struct image_u8 *out, int W, int H, int C)
{
    RN_ASSERT(W > 0 && H > 0 && (C == 1 || C == 3 || C == 4));
    out->W = W;
    out->H = H;
    out->C = C;
    out->data = malloc((size_t)W * (size_t)H * (size_t)C);
    if (!out->data) {
        memset(out, 0, sizeof *out);
        return status_error(STATUS_NOMEM, "out of memory for a %dx%d image", W, H);
    }
    return STATUS_OK;
}

void image_u8_free(struct image_u8 *im)
{
    if (!im) return;
    free(im->data);
    memset(im, 0, sizeof *im);
}

/* ---- Pillow's conversions ----------------------------------------------------------------- */

/* Pillow's L24: ITU-R 601-2 luma in 16.16 fixed point, rounded. */
static uint8_t pil_luma(int r, int g, int b)
{
    return (uint8_t)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
}

/* Pillow's MULDIV255: a * b / 255 rounded, without a division. */
static int pil_muldiv255(int a, int b)
{
    const int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

/* One row of 4-channel pixels in src (any layout below) into dst with `channels` channels. */
enum pix_kind { PIX_GRAY, PIX_GRAY_ALPHA, PIX_RGB, PIX_RGBA, PIX_CMYK_INVERTED };

static void convert_row(const uint8_t *src, enum pix_kind kind, int W, int channels, uint8_t *dst)
{
    for (int x = 0; x < W; x++) {
        int r, g, b;
        switch (kind) {
        case PIX_GRAY: r = g = b = src[x]; break;
        case PIX_GRAY_ALPHA: r = g = b = src[2 * x]; break;
        case PIX_RGB: r = src[3 * x]; g = src[3 * x + 1]; b = src[3 * x + 2]; break;
        case PIX_RGBA: r = src[4 * x]; g = src[4 * x + 1]; b = src[4 * x + 2]; break;
        default: {
            /* Pillow reads JPEG CMYK as "CMYK;I" (Adobe's inverted polarity), then cmyk2rgb. */
            const uint8_t *p = src + 4 * x;
            const int c = 255 - p[0], m = 255 - p[1], y = 255 - p[2], nk = p[3];
            r = nk - pil_muldiv255(c, nk);
            g = nk - pil_muldiv255(m, nk);
            b = nk - pil_muldiv255(y, nk);
            break;
        }
        }
        if (channels == 3) {
            dst[3 * x] = (uint8_t)r;
            dst[3 * x + 1] = (uint8_t)g;
            dst[3 * x + 2] = (uint8_t)b;
        } else {
            /* L from grey is the grey itself (Pillow converts L and LA without the formula). */
            dst[x] = (kind == PIX_GRAY || kind == PIX_GRAY_ALPHA) ? (uint8_t)r : pil_luma(r, g, b);
        }
    }
}

static int check_size(const char *name, long W, long H)
{
    if (W < 1 || H < 1 || W > IMAGE_MAX_SIDE || H > IMAGE_MAX_SIDE)
        return status_error(STATUS_BAD_INPUT, "%s: image is %ldx%ld pixels, expected 1..%d on each side", name, W, H,
                            IMAGE_MAX_SIDE);
    if ((int64_t)W * H > IMAGE_MAX_PIXELS)
        return status_error(STATUS_BAD_INPUT, "%s: image is %ldx%ld = %lld pixels, more than the limit of %ld (Pillow's decompression-bomb limit)",
                            name, W, H, (long long)W * H, IMAGE_MAX_PIXELS);
    return STATUS_OK;
}

/* ---- JPEG ---------------------------------------------------------------------------------- */

struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    int truncated;
};

static void jpeg_on_error(j_common_ptr cinfo)
{
    struct jpeg_err *e = (struct jpeg_err *)cinfo->err;
    longjmp(e->jump, 1);
}

/* libjpeg only warns about a file that ends early and fills the rest with grey; Pillow refuses
 * such a file ("image file is truncated"), and so do we. Other warnings (extraneous bytes) are
 * accepted by both. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    struct jpeg_err *e = (struct jpeg_err *)cinfo->err;
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) e->truncated = 1;
}

static int decode_jpeg(const uint8_t *buf, size_t n, const char *name, int channels, struct image_u8 *out)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_err err;
    uint8_t *volatile row = NULL;
    int rc = STATUS_OK;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_on_error;
    err.mgr.emit_message = jpeg_on_message;
    err.truncated = 0;
    if (setjmp(err.jump)) {
        char msg[JMSG_LENGTH_MAX];
        err.mgr.format_message((j_common_ptr)&cinfo, msg);
        jpeg_destroy_decompress(&cinfo);
        free(row);
        image_u8_free(out);
        return status_error(STATUS_BAD_INPUT, "%s: corrupt JPEG: %s", name, msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, buf, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    enum pix_kind kind;
    switch (cinfo.num_components) {
    case 1: cinfo.out_color_space = JCS_GRAYSCALE; kind = PIX_GRAY; break;
    case 3: cinfo.out_color_space = JCS_RGB; kind = PIX_RGB; break;
    case 4: cinfo.out_color_space = JCS_CMYK; kind = PIX_CMYK_INVERTED; break;
    default:
        jpeg_destroy_decompress(&cinfo);
        return status_error(STATUS_BAD_INPUT, "%s: JPEG with %d components, expected 1, 3 or 4", name,
                            cinfo.num_components);
    }
    if ((rc = check_size(name, (long)cinfo.image_width, (long)cinfo.image_height))) {
        jpeg_destroy_decompress(&cinfo);
        return rc;
    }
    jpeg_start_decompress(&cinfo);
    const int W = (int)cinfo.output_width, H = (int)cinfo.output_height;
    if ((rc = image_u8_alloc(out, W, H, channels)) ||
        !(row = malloc((size_t)W * (size_t)cinfo.output_components))) {
        jpeg_destroy_decompress(&cinfo);
        image_u8_free(out);
        return rc ? rc : status_error(STATUS_NOMEM, "out of memory");
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        const int y = (int)cinfo.output_scanline;
        JSAMPROW rows[1] = { row };
        if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) break;
        convert_row(row, kind, W, channels, out->data + (size_t)y * W * channels);
        if (err.truncated) break;
    }
    if (!err.truncated) jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    if (err.truncated) {
        image_u8_free(out);
        return status_error(STATUS_BAD_INPUT, "%s: truncated JPEG (the data ends before the image does)", name);
    }
    return STATUS_OK;
}

/* ---- PNG ----------------------------------------------------------------------------------- */

struct png_src {
    const uint8_t *buf;
    size_t n, pos;
    char msg[200];
};

static void png_on_read(png_structp png, png_bytep data, png_size_t len)
{
    struct png_src *s = png_get_io_ptr(png);
    if (len > s->n - s->pos) {
        snprintf(s->msg, sizeof s->msg, "truncated PNG (the data ends before the image does)");
        png_longjmp(png, 1);
    }
    memcpy(data, s->buf + s->pos, len);
    s->pos += len;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    struct png_src *s = png_get_error_ptr(png);
    if (!s->msg[0]) snprintf(s->msg, sizeof s->msg, "corrupt PNG: %s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;   /* Pillow ignores ancillary-chunk problems as well */
}

static int decode_png(const uint8_t *buf, size_t n, const char *name, int channels, struct image_u8 *out)
{
    struct png_src src = { buf, n, 0, "" };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return status_error(STATUS_NOMEM, "out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        image_u8_free(out);
        return status_error(STATUS_BAD_INPUT, "%s: %s", name, src.msg[0] ? src.msg : "corrupt PNG");
    }
    png_set_read_fn(png, &src, png_on_read);
    /* Pillow checks no CRCs of ancillary chunks either; critical chunk CRCs stay errors. */
    png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_QUIET_USE);
    png_read_info(png, info);
    png_uint_32 W32, H32;
    int depth, type, interlace;
    png_get_IHDR(png, info, &W32, &H32, &depth, &type, &interlace, NULL, NULL);
    int rc = check_size(name, (long)W32, (long)H32);
    if (rc) {
        png_destroy_read_struct(&png, &info, NULL);
        return rc;
    }
    const int W = (int)W32, H = (int)H32;
    /* Samples below 8 bits one per byte, unscaled; we scale or look up ourselves. */
    if (depth < 8) png_set_packing(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const size_t stride = png_get_rowbytes(png, info);
    pixels = malloc(stride * (size_t)H);
    rows = malloc(sizeof *rows * (size_t)H);
    if (!pixels || !rows || image_u8_alloc(out, W, H, channels)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        image_u8_free(out);
        return status_error(STATUS_NOMEM, "%s: out of memory for a %dx%d image", name, W, H);
    }
    for (int y = 0; y < H; y++) rows[y] = pixels + (size_t)y * stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    png_colorp palette = NULL;
    int n_palette = 0;
    if (type == PNG_COLOR_TYPE_PALETTE) png_get_PLTE(png, info, &palette, &n_palette);
    const int samples = png_get_channels(png, info);
    uint8_t *tmp = malloc((size_t)W * 4);
    if (!tmp) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        image_u8_free(out);
        return status_error(STATUS_NOMEM, "out of memory");
    }
    for (int y = 0; y < H; y++) {
        const uint8_t *r = rows[y];
        enum pix_kind kind;
        if (type == PNG_COLOR_TYPE_PALETTE) {
            /* Entries past the palette's end are black, as in Pillow's palette. */
            for (int x = 0; x < W; x++) {
                const int i = r[x];
                tmp[3 * x] = i < n_palette ? palette[i].red : 0;
                tmp[3 * x + 1] = i < n_palette ? palette[i].green : 0;
                tmp[3 * x + 2] = i < n_palette ? palette[i].blue : 0;
            }
            kind = PIX_RGB;
        } else if (type == PNG_COLOR_TYPE_GRAY && depth < 8) {
            const int scale = 255 / ((1 << depth) - 1);   /* 255, 85, 17 */
            for (int x = 0; x < W; x++) tmp[x] = (uint8_t)(r[x] * scale);
            kind = PIX_GRAY;
        } else if (type == PNG_COLOR_TYPE_GRAY && depth == 16) {
            /* Pillow's mode "I", clipped to 8 bits by convert(). */
            for (int x = 0; x < W; x++) {
                const int v = (r[2 * x] << 8) | r[2 * x + 1];
                tmp[x] = (uint8_t)(v > 255 ? 255 : v);
            }
            kind = PIX_GRAY;
        } else {
            /* 8 bits as they are; 16 bits keep the high (first, big-endian) byte as Pillow's
             * "RGB;16B" unpackers do. */
            const int step = depth == 16 ? 2 : 1;
            for (int s = 0; s < W * samples; s++) tmp[s] = r[s * step];
            kind = samples == 1 ? PIX_GRAY : samples == 2 ? PIX_GRAY_ALPHA : samples == 3 ? PIX_RGB : PIX_RGBA;
        }
        convert_row(tmp, kind, W, channels, out->data + (size_t)y * W * channels);
    }
    free(tmp);
    png_destroy_read_struct(&png, &info, NULL);
    free(pixels);
    free(rows);
    return STATUS_OK;
}

int image_decode_mem(const uint8_t *buf, size_t n, const char *name, int channels, struct image_u8 *out)
{
    RN_ASSERT(channels == 1 || channels == 3);
    memset(out, 0, sizeof *out);
    static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    if (n >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff) return decode_jpeg(buf, n, name, channels, out);
    if (n >= 8 && memcmp(buf, png_magic, 8) == 0) return decode_png(buf, n, name, channels, out);
    if (n == 0) return status_error(STATUS_BAD_INPUT, "%s: empty file, expected a JPEG or PNG image", name);
    return status_error(STATUS_BAD_INPUT, "%s: not a JPEG or PNG image (unknown first bytes)", name);
}

int image_decode_file(const char *path, int channels, struct image_u8 *out)
{
    memset(out, 0, sizeof *out);
    struct strbuf b;
    int rc = file_read_all(path, &b);
    if (rc) return rc;
    rc = image_decode_mem((const uint8_t *)b.p, b.len, path, channels, out);
    free(b.p);
    return rc;
}
