/* kern_attach.c — choosing each layer's kernel (see kern_attach.h): the one decision
 * (kern_choose), its facts read from a plan (kern_plan_kind) or from built weights (kern_attach). */
#include "kern_attach.h"

#include "apply.h"

#include "half.h"
#include "kern_int8.h"
#include "kern_lut.h"
#include "kern_sparse.h"
#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum kern_kind kern_choose(const struct kern_facts *f)
{
    if (f->int8 && f->net_acts8) return f->int8_affine ? KERN_DENSE : KERN_INT8;
    if (!f->is_fc && f->pruned && f->zeros >= KERN_SPARSE_MIN) return f->palettized ? KERN_SPARSE_LUT : KERN_SPARSE;
    if (!f->is_fc && f->palettized) return KERN_LUT;
    return KERN_DENSE;
}

enum kern_kind kern_plan_kind(const struct layer_plan *lp, int is_fc, int64_t n_weights, int net_acts8)
{
    struct kern_facts f = { .is_fc = is_fc,
                            .int8 = lp->quant.enabled && !lp->pal.enabled,   /* as compress_apply builds it */
                            .int8_affine = !lp->quant.symmetric,
                            .net_acts8 = net_acts8,
                            .pruned = lp->prune.enabled,
                            .palettized = lp->pal.enabled };
    if (f.pruned) {
        const double n = (double)(n_weights > 0 ? n_weights : 1);
        f.zeros = lp->prune.n_m_m > 0 ? (double)lp->prune.n_m_n / lp->prune.n_m_m
                                      : floor(n * lp->prune.target_sparsity + 1e-9) / n;
    }
    return kern_choose(&f);
}

enum kern_kind kern_plan_layer_kind(const struct compress_plan *plan, int layer)
{
    RN_ASSERT(layer >= 0 && layer < plan->n_layers);
    return kern_plan_kind(&plan->layer[layer], strcmp(plan->info[layer].name, "fc") == 0,
                          plan->info[layer].OC * plan->info[layer].K, plan_quantizes_activations(plan));
}

/* The int8 kernel of a layer with symmetric int8 weights and a quantized input, or NULL (*rc
 * set when out of memory). */
static struct conv_kernel *int8_kernel(const struct conv_desc *d, int H, int W, const struct compressed_weight *cw,
                                       const float *bias, const struct act_qparams *in_q, int *rc)
{
    RN_ASSERT(!cw->q_zero);   /* affine weights stay on the simulation's integer path (kern_choose) */
    float *ws = malloc(sizeof(float) * (size_t)cw->OC);
    if (!ws) {
        *rc = status_error(STATUS_NOMEM, "out of memory for the int8 kernels");
        return NULL;
    }
    for (int64_t o = 0; o < cw->OC; o++) ws[o] = half_to_f32(cw->q_scale[o]);
    struct conv_kernel *k = kern_int8_new(d, H, W, cw->q, ws, bias, in_q);
    free(ws);
    return k;
}

int kern_attach(struct resnet *net, int n_layers, const char *const *names, const struct compressed_weight *cw,
                const struct act_quant *aq)
{
    resnet_free_kernels(net);
    const char *off = getenv("RN_NO_KERNELS");
    if (off && *off && strcmp(off, "0") != 0) return STATUS_OK;   /* the simulation, for comparisons */
    const int acts = aq && !aq->calibrating;
    int rc = STATUS_OK, hooked = 0;
    for (int i = 0; i < n_layers && !rc; i++) {
        const struct compressed_weight *c = &cw[i];
        const int ci = resnet_find_conv(net, names[i]);
        const int fc = ci < 0;
        if (fc && strcmp(names[i], "fc") != 0) continue;
        struct conv_desc d;
        int H = 1, W = 1;
        const float *bias, *w;
        if (fc) {
            d = (struct conv_desc){ .IC = net->features, .OC = net->cfg.n_classes, .KH = 1, .KW = 1, .stride = 1, .pad = 0 };
            bias = resnet_param_data(net, net->fc_b);
            w = resnet_param_data(net, net->fc_w);
        } else {
            d = net->conv[ci].d;
            H = net->conv[ci].H;
            W = net->conv[ci].W;
            bias = net->conv[ci].bf;
            w = net->conv[ci].wf;
        }
        struct kern_facts f = { .is_fc = fc, .int8 = c->q != NULL, .int8_affine = c->q_zero != NULL, .net_acts8 = acts,
                                .pruned = c->mask != NULL, .palettized = c->lut != NULL };
        if (f.pruned && !fc) f.zeros = kern_sparsity(w, c->mask, c->OC * c->K);
        const enum kern_kind kind = kern_choose(&f);
        struct conv_kernel *k = NULL;
        if (f.int8 && acts) {
            if (kind == KERN_INT8) {
                const int site = resnet_conv_in_site(net, fc ? net->n_conv : ci);
                k = int8_kernel(&d, H, W, c, bias, &aq->qp[site], &rc);
            }
            hooked |= !k;   /* stays on the simulation's integer hook */
        } else if (kind == KERN_SPARSE || kind == KERN_SPARSE_LUT) {
            k = kern_sparse_new(&d, H, W, w, c->mask, bias, kind);
            if (!k) rc = status_error(STATUS_NOMEM, "out of memory for the sparse kernel of %s", names[i]);
        } else if (kind == KERN_LUT) {
            k = kern_lut_new(&d, w, bias);
            if (!k) rc = status_error(STATUS_NOMEM, "out of memory for the kernel of %s", names[i]);
        }
        if (fc)
            net->fc_kern = k;
        else
            net->conv[ci].kern = k;
    }
    if (rc) {
        resnet_free_kernels(net);
        return rc;
    }
    net->site_q = acts ? aq->qp : NULL;
    net->kern_self_contained = !hooked;
    return STATUS_OK;
}
