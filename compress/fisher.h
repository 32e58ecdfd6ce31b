/* fisher.h — per-weight importance for sensitive k-means (coremltools' SKMPalettizer): the
 * diagonal of the Fisher information, estimated as the squared gradient of the loss summed over
 * calibration batches, expressed for the BatchNorm-folded weights that palettization sees. */
#ifndef RN_FISHER_H
#define RN_FISHER_H

#include "data.h"
#include "resnet.h"

/* importance[i] receives an array [OC, K] for conv i (i < net->n_conv) and for the fc layer
 * (i == net->n_conv), owned by the caller (free each, then the array). Uses the first
 * `n_samples` images of `calib` in batches of `batch`. The network's parameters are unchanged;
 * its BatchNorm running statistics are restored after the passes. */
int fisher_importance(struct resnet *net, const struct dataset *calib, int64_t n_samples, int batch, float ***importance);

#endif
