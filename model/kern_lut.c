/* kern_lut.c — palettized layers on their cached decoded weights (see kern_lut.h). */
#include "kern_lut.h"

#include <stdlib.h>

struct klut {
    struct conv_kernel base;
    const float *w;
};

static int64_t klut_scratch_per_image(const struct conv_kernel *base, int64_t ohw)
{
    return conv_scratch_floats(&base->d, ohw);
}

static void klut_forward(const struct conv_kernel *base, const float *x, int N, int H, int W, const float *residual,
                         int relu, const struct act_qparams *out_q, float *y, float *scratch, int64_t scratch_floats)
{
    (void)out_q;
    const struct klut *k = (const struct klut *)base;
    conv_forward(&base->d, x, N, H, W, k->w, base->bias, residual, relu, y, scratch, scratch_floats);
}

static void klut_free(struct conv_kernel *base) { free(base); }

struct conv_kernel *kern_lut_new(const struct conv_desc *d, const float *w, const float *bias)
{
    struct klut *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->base = (struct conv_kernel){ .kind = KERN_LUT, .d = *d, .bias = bias, .forward = klut_forward,
                                    .scratch_per_image = klut_scratch_per_image, .free = klut_free };
    k->w = w;
    return &k->base;
}
