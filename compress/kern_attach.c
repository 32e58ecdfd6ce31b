/* kern_attach.c — choosing each layer's kernel (see kern_attach.h). */
#include "kern_attach.h"

#include "half.h"
#include "kern_int8.h"
#include "kern_lut.h"
#include "kern_sparse.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

/* The int8 kernel of a layer with int8 weights and a quantized input, or NULL (affine weights
 * stay on the simulation's integer path). */
static struct conv_kernel *int8_kernel(const struct conv_desc *d, int H, int W, const struct compressed_weight *cw,
                                       const float *bias, const struct act_qparams *in_q, int *rc)
{
    if (cw->q_zero) return NULL;
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
        struct conv_kernel *k = NULL;
        if (c->q && acts) {
            const int site = resnet_conv_in_site(net, fc ? net->n_conv : ci);
            k = int8_kernel(&d, H, W, c, bias, &aq->qp[site], &rc);
            hooked |= !k;   /* stays on the simulation's integer hook */
        } else if (!fc && c->mask && kern_sparsity(w, c->mask, c->OC * c->K) >= KERN_SPARSE_MIN) {
            k = kern_sparse_new(&d, H, W, w, c->mask, bias, c->lut ? KERN_SPARSE_LUT : KERN_SPARSE);
            if (!k) rc = status_error(STATUS_NOMEM, "out of memory for the sparse kernel of %s", names[i]);
        } else if (!fc && c->lut) {
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
