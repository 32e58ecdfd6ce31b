/* kern_pool.h — the inference max-pool (no argmax): a vertical max over the window's rows, which
 * vectorizes, then the horizontal max over that row. Same results as maxpool_forward (a max is
 * exact); resnet_infer uses it for every kernel path, the dense baseline included. */
#ifndef RN_KERN_POOL_H
#define RN_KERN_POOL_H

#include <stdint.h>

/* x [C, N, H, W] -> y [C, N, OH, OW], window k, stride s, padding p (padded cells never win). */
void kern_maxpool(const float *x, int C, int N, int H, int W, int k, int s, int p, float *y);

#endif
