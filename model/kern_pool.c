/* kern_pool.c — the inference max-pool (see kern_pool.h). */
#include "kern_pool.h"

#include "ops.h"
#include "pool.h"
#include "status.h"

#include <float.h>

#define POOL_MAX_W 1024

struct maxpool_job {
    const float *x;
    int H, W, k, s, p, OH, OW;
    float *y;
};

/* One [H, W] plane of kern_maxpool: the column maxima of each window row band, then the
 * windows along the row. */
static void maxpool_plane(void *ctx, int64_t plane)
{
    const struct maxpool_job *jb = ctx;
    const int H = jb->H, W = jb->W, k = jb->k, s = jb->s, p = jb->p, OH = jb->OH, OW = jb->OW;
    const float *src = jb->x + plane * H * W;
    float *dst = jb->y + plane * OH * OW;
    float row[POOL_MAX_W];
    for (int oh = 0; oh < OH; oh++) {
        int h0 = oh * s - p, h1 = h0 + k;
        h0 = h0 < 0 ? 0 : h0;
        h1 = h1 > H ? H : h1;
        for (int iw = 0; iw < W; iw++) row[iw] = -FLT_MAX;
        for (int ih = h0; ih < h1; ih++) {
            const float *r = src + (int64_t)ih * W;
            for (int iw = 0; iw < W; iw++) row[iw] = r[iw] > row[iw] ? r[iw] : row[iw];
        }
        for (int ow = 0; ow < OW; ow++) {
            int w0 = ow * s - p, w1 = w0 + k;
            w0 = w0 < 0 ? 0 : w0;
            w1 = w1 > W ? W : w1;
            float best = -FLT_MAX;
            for (int iw = w0; iw < w1; iw++) best = row[iw] > best ? row[iw] : best;
            dst[oh * OW + ow] = best;
        }
    }
}

void kern_maxpool(const float *x, int C, int N, int H, int W, int k, int s, int p, float *y)
{
    const int OH = conv_out_size(H, k, s, p), OW = conv_out_size(W, k, s, p);
    if (W > POOL_MAX_W) {
        maxpool_forward(x, C, N, H, W, k, s, p, y, NULL);
        return;
    }
    struct maxpool_job jb = { x, H, W, k, s, p, OH, OW, y };
    /* On pool.c's threads, between two convolutions that use them (pool.c says why). */
    pool_run((int64_t)C * N, maxpool_plane, &jb);
}
