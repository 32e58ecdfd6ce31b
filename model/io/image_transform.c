/* image_transform.c — Pillow's resampling and torchvision's Resize / CenterCrop /
 * RandomResizedCrop / ToTensor / Normalize on 8-bit images (see image_transform.h).
 *
 * The resampler follows the algorithm of Pillow's libImaging/Resample.c for 8-bit images, written
 * again from its description: for each output pixel a window of input pixels around its centre,
 * as wide as the filter's support times the downscaling factor (that widening is the
 * antialiasing), weights normalised to sum 1 in double, then turned into 22-bit fixed point
 * (rounded half away from zero); each output value is 2^21 + sum(pixel * weight), shifted down
 * and clamped to 0..255. The horizontal pass runs first, on the rows the vertical pass will read,
 * and a pass whose size does not change is skipped. Integer rounding between the two passes is
 * part of the result, so the order matters for exactness.
 *
 * Not here: the other Pillow filters (nearest, box, hamming, lanczos), reducing_gap, and the
 * tensor (non-PIL) path of torchvision. */
#include "image_transform.h"

#include "rng.h"
#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const image_interp_names[IMAGE_INTERP_COUNT] = { "bilinear", "bicubic" };
_Static_assert(sizeof image_interp_names / sizeof image_interp_names[0] == IMAGE_INTERP_COUNT, "interp names");

#define RESAMPLE_BITS 22   /* Pillow's PRECISION_BITS for 8-bit images: 32 - 8 - 2 */

void image_transform_default(struct image_transform *t)
{
    memset(t, 0, sizeof *t);
    t->resize = 256;
    t->crop_h = t->crop_w = 224;
    t->channels = 3;
    const float mean[3] = { 0.485f, 0.456f, 0.406f }, std[3] = { 0.229f, 0.224f, 0.225f };
    memcpy(t->mean, mean, sizeof mean);
    memcpy(t->std, std, sizeof std);
    t->interp = IMAGE_INTERP_BILINEAR;
}

int image_transform_validate(const struct image_transform *t, const char *where)
{
    if (t->channels != 1 && t->channels != 3)
        return status_error(STATUS_BAD_INPUT, "%s: images have %d channels, expected 1 (grey) or 3 (RGB)", where,
                            t->channels);
    if (t->resize < 0 || t->resize > 8192)
        return status_error(STATUS_BAD_INPUT, "%s: resize = %d, expected 0..8192", where, t->resize);
    for (int c = 0; c < t->channels; c++)
        if (!(t->std[c] > 0) || !isfinite(t->std[c]) || !isfinite(t->mean[c]))
            return status_error(STATUS_BAD_INPUT, "%s: mean %g / std %g for channel %d, expected finite, std > 0", where,
                                t->mean[c], t->std[c], c);
    return STATUS_OK;
}

void image_resize_output_size(int W, int H, int size, int *OW, int *OH)
{
    const int shorter = W <= H ? W : H, longer = W <= H ? H : W;
    /* Python: int(size * long / short): an exact integer product, a correctly rounded division
     * (as a double division of exact integers is), truncated. */
    const int new_long = (int)((double)((int64_t)size * longer) / (double)shorter);
    *OW = W <= H ? size : new_long;
    *OH = W <= H ? new_long : size;
}

/* ---- resampling -------------------------------------------------------------------------- */

static double filter_bilinear(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Keys' cubic with a = -0.5, Pillow's BICUBIC. */
static double filter_bicubic(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/* One pass's windows: output i reads in[first[i] .. first[i] + count[i]) with weights
 * k[i * ksize ...], fixed point. */
struct resample_pass {
    int n_out, ksize;
    int *first, *count;   /* [n_out] */
    int32_t *k;           /* [n_out, ksize] */
};

static void resample_pass_free(struct resample_pass *p)
{
    free(p->first);
    free(p->count);
    free(p->k);
    memset(p, 0, sizeof *p);
}

static int resample_pass_init(int n_in, int n_out, enum image_interp interp, struct resample_pass *p)
{
    double (*filter)(double) = interp == IMAGE_INTERP_BICUBIC ? filter_bicubic : filter_bilinear;
    const double filter_support = interp == IMAGE_INTERP_BICUBIC ? 2.0 : 1.0;
    const double scale = (double)n_in / (double)n_out;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = filter_support * filterscale;
    memset(p, 0, sizeof *p);
    p->n_out = n_out;
    p->ksize = (int)ceil(support) * 2 + 1;
    p->first = malloc(sizeof(int) * (size_t)n_out);
    p->count = malloc(sizeof(int) * (size_t)n_out);
    p->k = calloc((size_t)n_out * (size_t)p->ksize, sizeof(int32_t));
    double *w = malloc(sizeof(double) * (size_t)p->ksize);
    if (!p->first || !p->count || !p->k || !w) {
        free(w);
        resample_pass_free(p);
        return status_error(STATUS_NOMEM, "out of memory");
    }
    for (int i = 0; i < n_out; i++) {
        const double center = (i + 0.5) * scale;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > n_in) hi = n_in;
        const int n = hi - lo;
        double sum = 0.0;
        for (int j = 0; j < n; j++) {
            w[j] = filter((j + lo - center + 0.5) / filterscale);
            sum += w[j];
        }
        for (int j = 0; j < n; j++) {
            const double v = sum != 0.0 ? w[j] / sum : w[j];
            const double f = v * (double)(1 << RESAMPLE_BITS);
            p->k[(size_t)i * p->ksize + j] = (int32_t)(v < 0 ? f - 0.5 : f + 0.5);
        }
        p->first[i] = lo;
        p->count[i] = n;
    }
    free(w);
    return STATUS_OK;
}

static uint8_t resample_clip(int32_t acc)
{
    const int32_t v = acc >> RESAMPLE_BITS;   /* arithmetic shift: Pillow's lookup table does the same */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

int image_resize(const struct image_u8 *in, int OW, int OH, enum image_interp interp, struct image_u8 *out)
{
    RN_ASSERT(in->W > 0 && in->H > 0 && OW > 0 && OH > 0);
    memset(out, 0, sizeof *out);
    const int C = in->C;
    const int need_h = OW != in->W, need_v = OH != in->H;
    struct resample_pass ph = { 0 }, pv = { 0 };
    struct image_u8 mid = { 0 };
    int rc = STATUS_OK;
    if (need_h && (rc = resample_pass_init(in->W, OW, interp, &ph))) goto fail;
    if (need_v && (rc = resample_pass_init(in->H, OH, interp, &pv))) goto fail;
    /* Rows the vertical pass reads: only those are resampled horizontally. */
    int y0 = 0, y1 = in->H;
    if (need_v) {
        y0 = pv.first[0];
        y1 = pv.first[OH - 1] + pv.count[OH - 1];
    }
    const struct image_u8 *src = in;
    if (need_h) {
        if ((rc = image_u8_alloc(&mid, OW, y1 - y0, C))) goto fail;
        for (int y = y0; y < y1; y++) {
            const uint8_t *row = in->data + (size_t)y * in->W * C;
            uint8_t *dst = mid.data + (size_t)(y - y0) * OW * C;
            for (int x = 0; x < OW; x++) {
                const int32_t *k = ph.k + (size_t)x * ph.ksize;
                const uint8_t *s = row + (size_t)ph.first[x] * C;
                for (int c = 0; c < C; c++) {
                    int32_t acc = 1 << (RESAMPLE_BITS - 1);
                    for (int j = 0; j < ph.count[x]; j++) acc += s[j * C + c] * k[j];
                    dst[x * C + c] = resample_clip(acc);
                }
            }
        }
        src = &mid;
    } else {
        y0 = 0;   /* the vertical pass reads the input itself */
    }
    if (need_v) {
        if ((rc = image_u8_alloc(out, OW, OH, C))) goto fail;
        const size_t stride = (size_t)src->W * C;
        for (int y = 0; y < OH; y++) {
            const int32_t *k = pv.k + (size_t)y * pv.ksize;
            const uint8_t *s = src->data + (size_t)(pv.first[y] - y0) * stride;
            uint8_t *dst = out->data + (size_t)y * stride;
            for (size_t i = 0; i < stride; i++) {
                int32_t acc = 1 << (RESAMPLE_BITS - 1);
                for (int j = 0; j < pv.count[y]; j++) acc += s[(size_t)j * stride + i] * k[j];
                dst[i] = resample_clip(acc);
            }
        }
        image_u8_free(&mid);
    } else if (need_h) {
        *out = mid;
        mid = (struct image_u8){ 0 };
    } else {
        if ((rc = image_u8_alloc(out, OW, OH, C))) goto fail;
        memcpy(out->data, in->data, (size_t)OW * OH * C);
    }
    resample_pass_free(&ph);
    resample_pass_free(&pv);
    return STATUS_OK;
fail:
    resample_pass_free(&ph);
    resample_pass_free(&pv);
    image_u8_free(&mid);
    image_u8_free(out);
    return rc;
}

/* ---- crops ----------------------------------------------------------------------------- */

/* Copies the window of `im` at (left, top), crop_w x crop_h, into planar crop[]; pixels outside
 * the image are 0 (torchvision pads with fill 0 before cropping). flip mirrors it. */
static void crop_planar(const struct image_u8 *im, int left, int top, int crop_w, int crop_h, int flip, uint8_t *crop)
{
    const int C = im->C;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < crop_h; y++) {
            uint8_t *dst = crop + ((size_t)c * crop_h + y) * crop_w;
            const int sy = top + y;
            for (int x = 0; x < crop_w; x++) {
                const int sx = left + (flip ? crop_w - 1 - x : x);
                dst[x] = (sy >= 0 && sy < im->H && sx >= 0 && sx < im->W) ? im->data[((size_t)sy * im->W + sx) * C + c] : 0;
            }
        }
}

int image_transform_eval(const struct image_u8 *in, const struct image_transform *t, uint8_t *crop)
{
    RN_ASSERT(in->C == t->channels);
    struct image_u8 r = { 0 };
    const struct image_u8 *im = in;
    if (t->resize > 0) {
        int OW, OH;
        image_resize_output_size(in->W, in->H, t->resize, &OW, &OH);
        /* A long thin image grows along its long side (1 x 30000 at resize 256 is 256 x 7.7M):
         * the decoder's pixel limit holds for the resized image too. */
        if ((int64_t)OW * OH > IMAGE_MAX_PIXELS)
            return status_error(STATUS_BAD_INPUT, "image %dx%d resized to %dx%d: more than the limit of %ld pixels", in->W, in->H,
                                OW, OH, IMAGE_MAX_PIXELS);
        if (OW != in->W || OH != in->H) {
            int rc = image_resize(in, OW, OH, t->interp, &r);
            if (rc) return rc;
            im = &r;
        }
    }
    /* torchvision's center_crop: pad (crop - size) // 2 on the left/top when smaller (the odd
     * pixel goes right/bottom), then top = int(round((H - crop_h) / 2.0)) with Python's
     * half-to-even round, which rint() does in the default rounding mode. */
    const int W = im->W, H = im->H;
    const int pad_l = t->crop_w > W ? (t->crop_w - W) / 2 : 0, pad_t = t->crop_h > H ? (t->crop_h - H) / 2 : 0;
    const int PW = t->crop_w > W ? t->crop_w : W, PH = t->crop_h > H ? t->crop_h : H;
    /* After padding each side is at least the crop, and a padded side equals it (offset 0). */
    const int top = (int)rint((PH - t->crop_h) / 2.0) - pad_t, left = (int)rint((PW - t->crop_w) / 2.0) - pad_l;
    crop_planar(im, left, top, t->crop_w, t->crop_h, 0, crop);
    image_u8_free(&r);
    return STATUS_OK;
}

int image_transform_train(const struct image_u8 *in, const struct image_transform *t, uint64_t seed, uint8_t *crop)
{
    RN_ASSERT(in->C == t->channels);
    struct rng g;
    rng_seed(&g, seed);
    const int W = in->W, H = in->H;
    const double area = (double)W * H, lr0 = log(3.0 / 4.0), lr1 = log(4.0 / 3.0);
    int i = -1, j = 0, h = 0, w = 0;
    for (int tries = 0; tries < 10 && i < 0; tries++) {
        const double target = area * (0.08 + (1.0 - 0.08) * rng_uniform(&g));
        const double aspect = exp(lr0 + (lr1 - lr0) * rng_uniform(&g));
        const int cw = (int)rint(sqrt(target * aspect)), ch = (int)rint(sqrt(target / aspect));
        if (cw > 0 && cw <= W && ch > 0 && ch <= H) {
            w = cw;
            h = ch;
            i = (int)rng_below(&g, (uint64_t)(H - h + 1));
            j = (int)rng_below(&g, (uint64_t)(W - w + 1));
        }
    }
    if (i < 0) {
        const double in_ratio = (double)W / H;
        if (in_ratio < 3.0 / 4.0) {
            w = W;
            h = (int)rint(w / (3.0 / 4.0));
        } else if (in_ratio > 4.0 / 3.0) {
            h = H;
            w = (int)rint(h * (4.0 / 3.0));
        } else {
            w = W;
            h = H;
        }
        i = (H - h) / 2;
        j = (W - w) / 2;
    }
    const int flip = (int)(rng_next(&g) >> 63);
    return image_resized_crop(in, t, i, j, h, w, flip, crop);
}

int image_resized_crop(const struct image_u8 *in, const struct image_transform *t, int i, int j, int h, int w, int flip,
                       uint8_t *crop)
{
    RN_ASSERT(i >= 0 && j >= 0 && h > 0 && w > 0 && i + h <= in->H && j + w <= in->W);
    const int W = in->W;
    struct image_u8 win = { 0 }, r = { 0 };
    int rc = image_u8_alloc(&win, w, h, in->C);
    if (rc) return rc;
    for (int y = 0; y < h; y++)
        memcpy(win.data + (size_t)y * w * in->C, in->data + ((size_t)(i + y) * W + j) * in->C, (size_t)w * in->C);
    rc = image_resize(&win, t->crop_w, t->crop_h, t->interp, &r);
    image_u8_free(&win);
    if (rc) return rc;
    crop_planar(&r, 0, 0, t->crop_w, t->crop_h, flip, crop);
    image_u8_free(&r);
    return STATUS_OK;
}

void image_normalize(const uint8_t *crop, const struct image_transform *t, float *out)
{
    const size_t plane = (size_t)t->crop_h * t->crop_w;
    for (int c = 0; c < t->channels; c++) {
        float lut[256];
        for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - t->mean[c]) / t->std[c];
        for (size_t p = 0; p < plane; p++) out[c * plane + p] = lut[crop[c * plane + p]];
    }
}
