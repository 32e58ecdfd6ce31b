/* compress.c — ownership helpers for the shared compression types of compress.h. */
#include "compress.h"

#include <stdlib.h>
#include <string.h>

void compressed_weight_free(struct compressed_weight *cw)
{
    if (!cw) return;
    free(cw->mask);
    free(cw->lut);
    free(cw->indices);
    free(cw->channel_scale);
    free(cw->q);
    free(cw->q_scale);
    free(cw->q_zero);
    free(cw->dense);
    memset(cw, 0, sizeof *cw);
}
