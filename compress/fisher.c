/* fisher.c — Fisher-diagonal importances for sensitive k-means (see fisher.h).
 *
 * The gradients come from the training engine (model/train.h), which normalises with batch
 * statistics; palettization works on folded weights w' = w * g with g = gamma / sqrt(var + eps)
 * from the running statistics, so dL/dw' = (dL/dw) / g and the importance of w' is that squared.
 * Squared batch gradients are summed over the calibration batches (small batches keep them close
 * to the per-sample Fisher that the definition asks for). */
#include "fisher.h"

#include "status.h"
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int fisher_importance(struct resnet *net, const struct dataset *calib, int64_t n_samples, int batch, float ***importance)
{
    *importance = NULL;
    if (n_samples > calib->n) n_samples = calib->n;
    if (batch > n_samples) batch = (int)n_samples;
    if (batch < 1) return status_error(STATUS_BAD_INPUT, "%s: no calibration images", calib->name);
    const int n_layers = net->n_conv + 1;
    float **imp = calloc((size_t)n_layers, sizeof *imp);
    float *saved = malloc(sizeof(float) * net->n_floats), *xb = NULL;
    struct trainer *t = NULL;
    int rc = STATUS_OK;
    if (!imp || !saved) { rc = status_error(STATUS_NOMEM, "out of memory for importances"); goto done; }
    memcpy(saved, net->params, sizeof(float) * net->n_floats);   /* running stats change in train mode */
    for (int i = 0; i < n_layers; i++) {
        const int64_t n = i < net->n_conv ? net->param[net->conv[i].w].numel : net->param[net->fc_w].numel;
        if (!(imp[i] = calloc((size_t)n, sizeof(float)))) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
    }
    if ((rc = trainer_alloc(net, batch, &t))) goto done;
    const float *grad = trainer_grad(t);
    /* [batch, C, H, W]: images read from a folder's cache when not in memory. */
    if (!calib->images && !(xb = malloc(sizeof(float) * (size_t)(batch * dataset_image_floats(calib))))) {
        rc = status_error(STATUS_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t s = 0; s + batch <= n_samples; s += batch) {
        trainer_step(t, dataset_batch_ptr(calib, s, batch, xb), calib->labels + s, batch, 0.0f, NULL);
        for (int i = 0; i < n_layers; i++) {
            const int pw = i < net->n_conv ? net->conv[i].w : net->fc_w;
            const struct resnet_param *p = &net->param[pw];
            const float *g = grad + p->offset;
            if (i == net->n_conv) {
                for (int64_t k = 0; k < p->numel; k++) imp[i][k] += g[k] * g[k];
                continue;
            }
            const struct resnet_conv *c = &net->conv[i];
            const int64_t K = conv_k(&c->d);
            for (int oc = 0; oc < c->d.OC; oc++) {
                /* The fold factor from the saved (pre-pass) running statistics. */
                const double fold = saved[net->param[c->gamma].offset + oc] /
                                    sqrt((double)saved[net->param[c->var].offset + oc] + 1e-5);
                const double inv = fold != 0.0 ? 1.0 / fold : 0.0;   /* a dead channel has no importance */
                for (int64_t k = 0; k < K; k++) {
                    const double gf = g[oc * K + k] * inv;
                    imp[i][oc * K + k] += (float)(gf * gf);
                }
            }
        }
    }
done:
    free(xb);
    trainer_free(t);
    if (saved) {
        memcpy(net->params, saved, sizeof(float) * net->n_floats);
        free(saved);
    }
    if (rc && imp) {
        for (int i = 0; i < n_layers; i++) free(imp[i]);
        free(imp);
        imp = NULL;
    }
    *importance = imp;
    return rc;
}
