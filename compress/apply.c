/* apply.c — plan -> compressed network (see apply.h). */
#include "apply.h"
#include "clock.h"

#include "fisher.h"
#include "kern_attach.h"
#include "half.h"
#include "palettize.h"
#include "prune.h"
#include "reconstruct.h"
#include "status.h"

#include <cblas.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>


int plan_quantizes_activations(const struct compress_plan *plan)
{
    for (int i = 0; i < plan->n_layers; i++)
        if (plan->layer[i].quant.enabled && plan->layer[i].quant.activations) return 1;
    return 0;
}

static int plan_reconstructs(const struct compress_plan *plan)
{
    for (int i = 0; i < plan->n_layers; i++)
        if (plan->layer[i].prune.enabled && plan->layer[i].prune.reconstruct) return 1;
    return 0;
}

static int plan_needs_fisher(const struct compress_plan *plan)
{
    for (int i = 0; i < plan->n_layers; i++)
        if (plan->layer[i].pal.enabled && plan->layer[i].pal.algorithm == PAL_SKM) return 1;
    return 0;
}

int plan_needs_calibration(const struct compress_plan *plan)
{
    return plan_quantizes_activations(plan) || plan_needs_fisher(plan) || plan_reconstructs(plan);
}

/* The weights the layer runs on: folded conv weights, or the fc parameters. */
static float *layer_weights(struct resnet *net, const char *name, int *khw, float **bias)
{
    const int c = resnet_find_conv(net, name);
    if (c >= 0) {
        *khw = net->conv[c].d.KH * net->conv[c].d.KW;
        *bias = net->conv[c].bf;
        return net->conv[c].wf;
    }
    *khw = 1;
    *bias = resnet_param_data(net, net->fc_b);
    return resnet_param_data(net, net->fc_w);
}

static int compress_layer(float *w, int64_t OC, int64_t K, int khw, const struct layer_plan *lp, const float *importance,
                          const char *name, struct compressed_weight *cw)
{
    int rc = STATUS_OK;
    memset(cw, 0, sizeof *cw);
    if (lp->pal.enabled && lp->pal.algorithm == PAL_DKM)
        return status_error(STATUS_BAD_INPUT, "layer %s: palettization algorithm dkm is training-time (use finetune)", name);
    if (lp->prune.enabled && (rc = prune_weights(w, OC, K, khw, &lp->prune, cw))) return rc;
    if (lp->pal.enabled) {
        rc = lp->pal.algorithm == PAL_SKM ? palettize_weighted(w, OC, K, khw, &lp->pal, importance, cw)
                                          : palettize_weights(w, OC, K, khw, &lp->pal, cw);
    } else if (lp->quant.enabled) {
        rc = quantize_weights_int8(w, OC, K, lp->quant.symmetric, cw->mask, cw);
    } else {
        cw->OC = OC;
        cw->K = K;
        if (!cw->dense) {
            cw->dense = malloc(sizeof(float) * OC * K);
            if (!cw->dense) return status_error(STATUS_NOMEM, "out of memory compressing %s", name);
            memcpy(cw->dense, w, sizeof(float) * OC * K);
        }
        /* fp16 storage, as the deployment format keeps uncompressed (and pruned) weights. */
        for (int64_t i = 0; i < OC * K; i++) cw->dense[i] = half_to_f32(half_from_f32(cw->dense[i]));
    }
    return rc;
}

/* Conv index of a plan layer, or net->n_conv for the fc layer. */
static int layer_index(const struct resnet *net, const char *name)
{
    const int c = resnet_find_conv(net, name);
    return c >= 0 ? c : net->n_conv;
}

/* Refits layer idx's kept weights and bias in place (w, bias: the network's, still original) on
 * the inputs the partly compressed network now gives it, against the original outputs
 * (compress/reconstruct.h). x: the original network's patches of this layer, n_pos per image. */
static int reconstruct_layer(struct resnet *net, const struct dataset *calib, int64_t n_samples, int idx, float *w,
                             float *bias, const struct compress_layer_info *info, const struct layer_plan *lp, int khw,
                             const float *x, int n_pos)
{
    const int n_layers = net->n_conv + 1;
    unsigned char *want = calloc((size_t)n_layers, 1);
    float **xh = calloc((size_t)n_layers, sizeof *xh);
    int *np = calloc((size_t)n_layers, sizeof *np);
    const int64_t n = n_samples < calib->n ? n_samples : calib->n;
    const int64_t P = n * n_pos, OC = info->OC, K = info->K;
    float *y = malloc(sizeof(float) * (size_t)(P * OC));
    struct compressed_weight m = { 0 };
    int rc = STATUS_OK;
    if (!want || !xh || !np || !y) { rc = status_error(STATUS_NOMEM, "out of memory refitting %s", info->name); goto done; }
    want[idx] = 1;
    if ((rc = recon_capture(net, calib, n, want, xh, np))) goto done;
    RN_ASSERT(np[idx] == n_pos);
    /* y = X w^T + b: what the original layer computes on the original activations. */
    for (int64_t p = 0; p < P; p++) memcpy(y + p * OC, bias, sizeof(float) * (size_t)OC);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)P, (int)OC, (int)K, 1.0f, x, (int)K, w, (int)K, 1.0f, y,
                (int)OC);
    if ((rc = prune_weights(w, OC, K, khw, &lp->prune, &m))) goto done;
    rc = recon_fit(w, bias, OC, K, y, xh[idx], P, m.mask, w, bias);
done:
    compressed_weight_free(&m);
    if (xh) free(xh[idx]);
    free(xh);
    free(np);
    free(want);
    free(y);
    return rc;
}

int compress_apply(struct resnet *net, const struct compress_plan *plan, const struct dataset *calib,
                   struct apply_result *res)
{
    memset(res, 0, sizeof *res);
    const double t0 = clock_now_s();
    const int acts = plan_quantizes_activations(plan), fisher = plan_needs_fisher(plan);
    const int recon = plan_reconstructs(plan);
    if ((acts || fisher || recon) && !calib)
        return status_error(STATUS_BAD_INPUT, "the compression config needs calibration data (%s)",
                            fisher ? "sensitive k-means" : recon ? "pruning with reconstruct" : "8-bit activations");
    float **imp = NULL;
    int rc = STATUS_OK;
    int calib_samples = 128;
    for (int i = 0; i < plan->n_layers; i++)
        if (plan->layer[i].quant.enabled && plan->layer[i].quant.calibration_samples > 0)
            calib_samples = plan->layer[i].quant.calibration_samples;
    if (fisher && (rc = fisher_importance(net, calib, calib_samples, 16, &imp))) return rc;
    RN_ASSERT(plan->n_layers > 0);
    /* Reconstruction's targets: the original network's inputs of the layers it refits. */
    float **orig = NULL;
    int *n_pos = NULL;
    unsigned char *want = NULL;
    if (recon) {
        orig = calloc((size_t)net->n_conv + 1, sizeof *orig);
        n_pos = calloc((size_t)net->n_conv + 1, sizeof *n_pos);
        want = calloc((size_t)net->n_conv + 1, 1);
        if (!orig || !n_pos || !want) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
        for (int i = 0; i < plan->n_layers; i++)
            if (plan->layer[i].prune.enabled && plan->layer[i].prune.reconstruct)
                want[layer_index(net, plan->info[i].name)] = 1;
        if ((rc = recon_capture(net, calib, calib_samples, want, orig, n_pos))) goto done;
    }
    res->cw = calloc((size_t)plan->n_layers, sizeof *res->cw);
    if (!res->cw) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
    res->n_layers = plan->n_layers;
    int64_t total = 0, kept = 0;
    for (int i = 0; i < plan->n_layers && !rc; i++) {
        const struct compress_layer_info *info = &plan->info[i];
        int khw;
        float *bias;
        float *w = layer_weights(net, info->name, &khw, &bias);
        const int idx = layer_index(net, info->name);
        if (recon && want[idx] && (rc = reconstruct_layer(net, calib, calib_samples, idx, w, bias, info, &plan->layer[i],
                                                          khw, orig[idx], n_pos[idx])))
            break;
        rc = compress_layer(w, info->OC, info->K, khw, &plan->layer[i], imp ? imp[idx] : NULL, info->name, &res->cw[i]);
        if (rc) break;
        memcpy(w, res->cw[i].dense, sizeof(float) * info->OC * info->K);
        for (int64_t o = 0; o < info->OC; o++) bias[o] = half_to_f32(half_from_f32(bias[o]));
        if (res->cw[i].mask) {
            total += info->OC * info->K;
            kept += res->cw[i].n_nonzero;
        }
    }
    res->sparsity = total ? 1.0 - (double)kept / (double)total : 0.0;
    if (!rc && acts) {
        /* Calibrate the activation ranges on the compressed weights, as the deployed model runs. */
        const struct quant_cfg *q = NULL;
        for (int i = 0; i < plan->n_layers && !q; i++)
            if (plan->layer[i].quant.enabled && plan->layer[i].quant.activations) q = &plan->layer[i].quant;
        if ((rc = act_quant_alloc(resnet_act_sites(net), q->observer, q->symmetric, &res->aq))) goto done;
        net->act_hook = act_quant_hook;
        net->act_ctx = res->aq;
        const char **names = malloc(sizeof *names * (size_t)plan->n_layers);
        if (!names) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
        for (int i = 0; i < plan->n_layers; i++) names[i] = plan->info[i].name;
        rc = act_quant_set_int8(res->aq, net, plan->n_layers, names, res->cw);
        free(names);
        if (rc) goto done;
        const int64_t n = calib_samples < calib->n ? calib_samples : calib->n;
        /* [n, C, H, W]: the calibration images, read from a folder's cache when not in memory. */
        float *x = calib->images ? NULL : malloc(sizeof(float) * (size_t)(n * dataset_image_floats(calib)));
        if (!calib->images && !x) { rc = status_error(STATUS_NOMEM, "out of memory for calibration images"); goto done; }
        rc = resnet_run_images(net, dataset_batch_ptr(calib, 0, n, x), n);
        free(x);
        if (rc) goto done;
        act_quant_finish_calibration(res->aq);
    }
    if (!rc) {
        /* The compressed layers' own kernels (the simulation stays reachable: net->simulate). */
        const char **names = malloc(sizeof *names * (size_t)plan->n_layers);
        if (!names) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
        for (int i = 0; i < plan->n_layers; i++) names[i] = plan->info[i].name;
        rc = kern_attach(net, plan->n_layers, names, res->cw, res->aq);
        free(names);
    }
done:
    if (orig)
        for (int i = 0; i <= net->n_conv; i++) free(orig[i]);
    free(orig);
    free(n_pos);
    free(want);
    if (imp) {
        for (int i = 0; i <= net->n_conv; i++) free(imp[i]);
        free(imp);
    }
    res->seconds = clock_now_s() - t0;
    if (rc) {
        act_quant_free(res->aq);
        res->aq = NULL;
        net->act_hook = NULL;
        net->act_ctx = NULL;
        net->int_conv = NULL;
        net->int_fc = NULL;
        resnet_free_kernels(net);
        apply_result_free(res);
    }
    return rc;
}

void apply_result_free(struct apply_result *res)
{
    if (!res) return;
    for (int i = 0; res->cw && i < res->n_layers; i++) compressed_weight_free(&res->cw[i]);
    free(res->cw);
    memset(res, 0, sizeof *res);   /* res->aq belongs to the network */
}
