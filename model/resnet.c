/* resnet.c — builds torchvision's ResNet family (tables of parameters and convolutions under
 * torchvision's names), initialises, loads and saves parameters, folds BatchNorm, and runs
 * batched fp32 inference with the kernels of ops.h. Training lives in train.c. */
#include "resnet.h"

#include "conv_direct.h"

#include "kern_pool.h"

#include "rng.h"
#include "safetensors.h"
#include "status.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BN_EPS 1e-5f

/* ---- building the tables ---- */

struct builder {
    struct resnet *net;
    int cap_param, cap_conv;
    int64_t n_floats;
};

static int builder_param(struct builder *b, const char *name, int ndim, const int64_t *shape, int trainable)
{
    struct resnet *net = b->net;
    RN_ASSERT(net->n_param < b->cap_param);   /* sized by resnet_alloc */
    struct resnet_param *p = &net->param[net->n_param];
    memset(p, 0, sizeof *p);
    RN_ASSERT(strlen(name) < sizeof p->name);
    strcpy(p->name, name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= shape[i];
    }
    p->offset = b->n_floats;
    p->trainable = trainable;
    b->n_floats += p->numel;
    return net->n_param++;
}

/* Adds `conv_name` (a KHxKW conv without bias) and its BatchNorm `bn_name`. */
static int builder_conv(struct builder *b, const char *conv_name, const char *bn_name, int IC, int OC, int k,
                        int stride, int pad, int H, int W)
{
    struct resnet *net = b->net;
    RN_ASSERT(net->n_conv < b->cap_conv);
    struct resnet_conv *c = &net->conv[net->n_conv];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", conv_name);
    c->d = (struct conv_desc){ .IC = IC, .OC = OC, .KH = k, .KW = k, .stride = stride, .pad = pad };
    c->H = H;
    c->W = W;
    c->OH = conv_out_size(H, k, stride, pad);
    c->OW = conv_out_size(W, k, stride, pad);
    char name[96];
    snprintf(name, sizeof name, "%s.weight", conv_name);
    c->w = builder_param(b, name, 4, (int64_t[]){ OC, IC, k, k }, 1);
    snprintf(name, sizeof name, "%s.weight", bn_name);
    c->gamma = builder_param(b, name, 1, (int64_t[]){ OC }, 1);
    snprintf(name, sizeof name, "%s.bias", bn_name);
    c->beta = builder_param(b, name, 1, (int64_t[]){ OC }, 1);
    snprintf(name, sizeof name, "%s.running_mean", bn_name);
    c->mean = builder_param(b, name, 1, (int64_t[]){ OC }, 0);
    snprintf(name, sizeof name, "%s.running_var", bn_name);
    c->var = builder_param(b, name, 1, (int64_t[]){ OC }, 0);
    net->flops += 2 * (int64_t)OC * conv_k(&c->d) * c->OH * c->OW;
    return net->n_conv++;
}

static void resnet_init_params(struct resnet *net, uint64_t seed)
{
    struct rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < net->n_conv; i++) {
        const struct resnet_conv *c = &net->conv[i];
        /* Kaiming normal, mode fan_out, ReLU gain: std = sqrt(2 / (OC*KH*KW)), as torchvision. */
        const double sd = sqrt(2.0 / ((double)c->d.OC * c->d.KH * c->d.KW));
        float *w = resnet_param_data(net, c->w);
        for (int64_t k = 0; k < net->param[c->w].numel; k++) w[k] = (float)(sd * rng_normal(&r));
        for (int oc = 0; oc < c->d.OC; oc++) {
            resnet_param_data(net, c->gamma)[oc] = 1.0f;
            resnet_param_data(net, c->beta)[oc] = 0.0f;
            resnet_param_data(net, c->mean)[oc] = 0.0f;
            resnet_param_data(net, c->var)[oc] = 1.0f;
        }
    }
    const double bound = 1.0 / sqrt((double)net->features);
    float *w = resnet_param_data(net, net->fc_w), *bias = resnet_param_data(net, net->fc_b);
    for (int64_t k = 0; k < net->param[net->fc_w].numel; k++) w[k] = (float)(bound * (2 * rng_uniform(&r) - 1));
    for (int k = 0; k < net->cfg.n_classes; k++) bias[k] = (float)(bound * (2 * rng_uniform(&r) - 1));
}

int resnet_alloc(const struct resnet_config *cfg, uint64_t seed, struct resnet **out)
{
    *out = NULL;
    int rc = resnet_config_validate(cfg, cfg->name);
    if (rc) return rc;
    struct resnet *net = calloc(1, sizeof *net);
    if (!net) return status_error(STATUS_NOMEM, "out of memory building %s", cfg->name);
    net->cfg = *cfg;
    /* The tables are sized up front (the stem, at most three convs a block, a downsample per
     * stage; five parameters a conv and the fc's two), so building cannot fail half-way. */
    int total_blocks = 0;
    for (int s = 0; s < 4; s++) total_blocks += cfg->layers[s];
    struct builder b = { .net = net, .cap_conv = 1 + 3 * total_blocks + 4 };
    b.cap_param = 5 * b.cap_conv + 2;
    net->conv = calloc((size_t)b.cap_conv, sizeof *net->conv);
    net->param = calloc((size_t)b.cap_param, sizeof *net->param);
    if (!net->conv || !net->param) {
        resnet_free(net);
        return status_error(STATUS_NOMEM, "out of memory building %s", cfg->name);
    }

    int H = cfg->in_h, W = cfg->in_w, C = cfg->width;
    if (cfg->stem == RESNET_STEM_IMAGENET) {
        builder_conv(&b, "conv1", "bn1", cfg->in_channels, C, 7, 2, 3, H, W);
        H = conv_out_size(H, 7, 2, 3);
        W = conv_out_size(W, 7, 2, 3);
        H = conv_out_size(H, 3, 2, 1);   /* max-pool 3x3/2 pad 1 */
        W = conv_out_size(W, 3, 2, 1);
    } else {
        builder_conv(&b, "conv1", "bn1", cfg->in_channels, C, 3, 1, 1, H, W);
    }

    const int expansion = cfg->block == RESNET_BOTTLENECK ? 4 : 1;
    net->block = calloc(total_blocks, sizeof *net->block);
    if (!net->block) {
        resnet_free(net);
        return status_error(STATUS_NOMEM, "out of memory building %s", cfg->name);
    }
    for (int s = 0; s < 4; s++) {
        const int planes = cfg->width << s;
        for (int i = 0; i < cfg->layers[s]; i++) {
            /* torchvision v1.5: the stride sits on the 3x3 conv (conv2 of a bottleneck, conv1 of
             * a basic block). */
            const int stride = (s > 0 && i == 0) ? 2 : 1;
            struct resnet_block_desc *blk = &net->block[net->n_block++];
            char cn[48], bn[48];
            const int in_c = C;
            int oh = conv_out_size(H, 3, stride, 1), ow = conv_out_size(W, 3, stride, 1);
            if (cfg->block == RESNET_BOTTLENECK) {
                snprintf(cn, sizeof cn, "layer%d.%d.conv1", s + 1, i);
                snprintf(bn, sizeof bn, "layer%d.%d.bn1", s + 1, i);
                blk->conv[0] = builder_conv(&b, cn, bn, in_c, planes, 1, 1, 0, H, W);
                snprintf(cn, sizeof cn, "layer%d.%d.conv2", s + 1, i);
                snprintf(bn, sizeof bn, "layer%d.%d.bn2", s + 1, i);
                blk->conv[1] = builder_conv(&b, cn, bn, planes, planes, 3, stride, 1, H, W);
                snprintf(cn, sizeof cn, "layer%d.%d.conv3", s + 1, i);
                snprintf(bn, sizeof bn, "layer%d.%d.bn3", s + 1, i);
                blk->conv[2] = builder_conv(&b, cn, bn, planes, planes * 4, 1, 1, 0, oh, ow);
                blk->n_conv = 3;
            } else {
                snprintf(cn, sizeof cn, "layer%d.%d.conv1", s + 1, i);
                snprintf(bn, sizeof bn, "layer%d.%d.bn1", s + 1, i);
                blk->conv[0] = builder_conv(&b, cn, bn, in_c, planes, 3, stride, 1, H, W);
                snprintf(cn, sizeof cn, "layer%d.%d.conv2", s + 1, i);
                snprintf(bn, sizeof bn, "layer%d.%d.bn2", s + 1, i);
                blk->conv[1] = builder_conv(&b, cn, bn, planes, planes, 3, 1, 1, oh, ow);
                blk->n_conv = 2;
            }
            blk->downsample = -1;
            if (stride != 1 || in_c != planes * expansion) {
                snprintf(cn, sizeof cn, "layer%d.%d.downsample.0", s + 1, i);
                snprintf(bn, sizeof bn, "layer%d.%d.downsample.1", s + 1, i);
                blk->downsample = builder_conv(&b, cn, bn, in_c, planes * expansion, 1, stride, 0, H, W);
            }
            C = planes * expansion;
            H = oh;
            W = ow;
        }
    }
    net->features = C;
    net->fc_w = builder_param(&b, "fc.weight", 2, (int64_t[]){ cfg->n_classes, C }, 1);
    net->fc_b = builder_param(&b, "fc.bias", 1, (int64_t[]){ cfg->n_classes }, 1);
    net->flops += 2 * (int64_t)cfg->n_classes * C;
    net->n_floats = b.n_floats;

    int64_t n_folded = 0;
    for (int i = 0; i < net->n_conv; i++) n_folded += (conv_k(&net->conv[i].d) + 1) * net->conv[i].d.OC;
    net->params = malloc(sizeof(float) * net->n_floats);
    net->folded = malloc(sizeof(float) * n_folded);
    if (!net->params || !net->folded) {
        resnet_free(net);
        return status_error(STATUS_NOMEM, "out of memory for the parameters of %s", cfg->name);
    }
    float *f = net->folded;
    for (int i = 0; i < net->n_conv; i++) {
        struct resnet_conv *c = &net->conv[i];
        c->wf = f;
        f += conv_k(&c->d) * c->d.OC;
        c->bf = f;
        f += c->d.OC;
    }
    resnet_init_params(net, seed);
    resnet_fold(net);
    *out = net;
    return STATUS_OK;
}

void resnet_free(struct resnet *net)
{
    if (!net) return;
    resnet_free_kernels(net);
    free(net->param);
    free(net->params);
    free(net->conv);
    free(net->block);
    free(net->folded);
    free(net);
}

int resnet_find_param(const struct resnet *net, const char *name)
{
    for (int i = 0; i < net->n_param; i++)
        if (strcmp(net->param[i].name, name) == 0) return i;
    return -1;
}

void resnet_free_kernels(struct resnet *net)
{
    for (int i = 0; net->conv && i < net->n_conv; i++) {
        if (net->conv[i].kern) net->conv[i].kern->free(net->conv[i].kern);
        net->conv[i].kern = NULL;
    }
    if (net->fc_kern) net->fc_kern->free(net->fc_kern);
    net->fc_kern = NULL;
    net->site_q = NULL;
    net->kern_self_contained = 0;
}

const char *resnet_conv_kernel_name(const struct resnet *net, int conv)
{
    RN_ASSERT(conv >= 0 && conv <= net->n_conv);
    const struct conv_kernel *k = conv < net->n_conv ? net->conv[conv].kern : net->fc_kern;
    return kern_kind_name(k ? k->kind : KERN_DENSE);
}

int resnet_find_conv(const struct resnet *net, const char *name)
{
    for (int i = 0; i < net->n_conv; i++)
        if (strcmp(net->conv[i].name, name) == 0) return i;
    return -1;
}

void resnet_fold(struct resnet *net)
{
    resnet_free_kernels(net);   /* they hold (or read) the weights being replaced */
    for (int i = 0; i < net->n_conv; i++) {
        struct resnet_conv *c = &net->conv[i];
        bn_fold(c->d.OC, conv_k(&c->d), resnet_param_data(net, c->w), resnet_param_data(net, c->gamma),
                resnet_param_data(net, c->beta), resnet_param_data(net, c->mean), resnet_param_data(net, c->var),
                BN_EPS, c->wf, c->bf);
    }
}

/* ---- weights I/O ---- */

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int resnet_load_weights(struct resnet *net, const char *path)
{
    struct st_file *f = NULL;
    int rc = safetensors_read(path, &f);
    if (rc) return rc;
    /* Validate everything before touching the parameters, so a bad file changes nothing. */
    for (int i = 0; i < safetensors_n_tensors(f); i++) {
        const struct st_tensor *t = safetensors_tensor(f, i);
        const int p = resnet_find_param(net, t->name);
        if (p < 0) {
            if (ends_with(t->name, ".num_batches_tracked")) continue;
            rc = status_error(STATUS_BAD_INPUT, "%s: unexpected tensor '%s' for model %s (not a parameter of this architecture)",
                              path, t->name, net->cfg.name);
            goto done;
        }
        const struct resnet_param *par = &net->param[p];
        int same = t->ndim == par->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == par->shape[d];
        if (!same) {
            char want[96], got[96];
            shape_str(want, sizeof want, par->ndim, par->shape);
            shape_str(got, sizeof got, t->ndim, t->shape);
            rc = status_error(STATUS_BAD_INPUT, "%s: tensor '%s' has shape %s, model %s expects %s", path, t->name,
                              got, net->cfg.name, want);
            goto done;
        }
        if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64) {
            rc = status_error(STATUS_BAD_INPUT, "%s: tensor '%s' has dtype %s, expected F32, F16, BF16 or F64", path,
                              t->name, st_dtype_name(t->dtype));
            goto done;
        }
    }
    for (int p = 0; p < net->n_param; p++) {
        if (!safetensors_find(f, net->param[p].name)) {
            rc = status_error(STATUS_BAD_INPUT, "%s: tensor '%s' is missing (model %s)", path, net->param[p].name,
                              net->cfg.name);
            goto done;
        }
    }
    for (int p = 0; p < net->n_param; p++) {
        rc = st_tensor_to_f32(f, safetensors_find(f, net->param[p].name), resnet_param_data(net, p));
        if (rc) goto done;   /* cannot happen after the dtype check above */
    }
    resnet_fold(net);
done:
    safetensors_free(f);
    return rc;
}

int resnet_save_weights(const struct resnet *net, const char *path, int dtype, const char *metadata_key,
                        const char *metadata_value)
{
    struct st_writer *w = st_writer_alloc();
    if (!w) return status_error(STATUS_NOMEM, "out of memory writing %s", path);
    int rc = STATUS_OK;
    for (int p = 0; p < net->n_param && !rc; p++) {
        const struct resnet_param *par = &net->param[p];
        rc = st_writer_add_f32_as(w, par->name, (enum st_dtype)dtype, par->ndim, par->shape, resnet_param_data(net, p));
    }
    if (!rc && metadata_key) rc = st_writer_set_metadata(w, metadata_key, metadata_value);
    if (!rc) rc = st_writer_save(w, path);
    st_writer_free(w);
    return rc;
}

/* ---- inference ---- */

struct resnet_infer {
    const struct resnet *net;
    int max_batch;
    int64_t act_floats;      /* largest activation [C, N, H, W] at max_batch */
    float *buf[5];           /* activations, each act_floats */
    float *scratch;          /* im2col */
    int64_t scratch_floats;
    int64_t scratch_image;   /* scratch floats one image needs (the largest conv's im2col) */
    float *pooled;           /* [features, N] */
    double *prof;            /* resnet_infer_set_profile, or NULL */
};

void resnet_infer_set_profile(struct resnet_infer *ws, double *seconds) { ws->prof = seconds; }

/* Scratch floats the layer's kernel needs for one image (im2col, packed int8 input). */
static int64_t conv_scratch_image(const struct resnet_conv *c)
{
    const int64_t ohw = (int64_t)c->OH * c->OW;
    int64_t n = conv_scratch_floats(&c->d, ohw);
    if (c->kern) {
        const int64_t k = c->kern->scratch_per_image(c->kern, ohw);
        if (k > n) n = k;
    }
    return n;
}

int resnet_infer_alloc(const struct resnet *net, int max_batch, struct resnet_infer **out)
{
    *out = NULL;
    struct resnet_infer *ws = calloc(1, sizeof *ws);
    if (!ws) return status_error(STATUS_NOMEM, "out of memory for the inference workspace");
    ws->net = net;
    ws->max_batch = max_batch;
    const struct resnet_config *cfg = &net->cfg;
    int64_t act = (int64_t)cfg->in_channels * cfg->in_h * cfg->in_w;
    int64_t k_ohw_max = 0;
    for (int i = 0; i < net->n_conv; i++) {
        const struct resnet_conv *c = &net->conv[i];
        const int64_t o = (int64_t)c->d.OC * c->OH * c->OW;
        if (o > act) act = o;
        const int64_t kohw = conv_scratch_image(c);
        if (kohw > k_ohw_max) k_ohw_max = kohw;
    }
    if (net->fc_kern) {
        const int64_t kfc = net->fc_kern->scratch_per_image(net->fc_kern, 1);
        if (kfc > k_ohw_max) k_ohw_max = kfc;
    }
    ws->act_floats = act * max_batch;
    ws->scratch_image = k_ohw_max;
    /* im2col of the whole batch when it is small, else chunks of at least one image: 16 Mi floats
     * (64 MiB) keeps the GEMMs large without doubling the memory of big batches. */
    int64_t budget = (int64_t)16 << 20;
    ws->scratch_floats = k_ohw_max * max_batch < budget ? k_ohw_max * max_batch : (k_ohw_max > budget ? k_ohw_max : budget);
    int ok = 1;
    for (int i = 0; i < 5; i++) ok &= (ws->buf[i] = malloc(sizeof(float) * ws->act_floats)) != NULL;
    ws->scratch = malloc(sizeof(float) * (ws->scratch_floats ? ws->scratch_floats : 1));
    ws->pooled = malloc(sizeof(float) * net->features * max_batch);
    if (!ok || !ws->scratch || !ws->pooled) {
        resnet_infer_free(ws);
        return status_error(STATUS_NOMEM, "out of memory for the inference workspace (batch %d)", max_batch);
    }
    *out = ws;
    return STATUS_OK;
}

void resnet_infer_free(struct resnet_infer *ws)
{
    if (!ws) return;
    for (int i = 0; i < 5; i++) free(ws->buf[i]);
    free(ws->scratch);
    free(ws->pooled);
    free(ws);
}

static float *pick_free(float *const *buf, const float *a, const float *b, const float *c)
{
    for (int i = 0; i < 5; i++)
        if (buf[i] != a && buf[i] != b && buf[i] != c) return buf[i];
    RN_ASSERT(0);
    return NULL;
}

/* The buffers one pass uses: the whole workspace, or one thread's share of it. */
struct infer_slice {
    float *buf[5];
    float *scratch;
    int64_t scratch_floats;
    float *pooled;
};

/* Share `part` of `parts` of the workspace: each buffer cut into equal slices. */
static struct infer_slice infer_slice_of(const struct resnet_infer *ws, int part, int parts)
{
    struct infer_slice sl;
    const int64_t act = ws->act_floats / parts, scr = ws->scratch_floats / parts;
    for (int i = 0; i < 5; i++) sl.buf[i] = ws->buf[i] + part * act;
    sl.scratch = ws->scratch + part * scr;
    sl.scratch_floats = scr;
    sl.pooled = ws->pooled + (int64_t)part * (ws->net->features * ws->max_batch / parts);
    return sl;
}

/* Runs conv ci on `in` (its input's activation site in_site) into `out`: the reference kernel,
 * the layer's compressed kernel (kernel path), the simulation's integer hook, or the dense kernel.
 * Returns 1 when the kernel applied out_q itself. */
static int infer_conv(const struct resnet_infer *ws, const struct infer_slice *sl, int ci, int in_site, const float *in,
                      int N, const float *res, int relu, const struct act_qparams *out_q, float *out, int ref)
{
    const struct resnet *net = ws->net;
    const struct resnet_conv *c = &net->conv[ci];
    const double t0 = ws->prof ? omp_get_wtime() : 0.0;
    int fused = 0;
    /* A workspace allocated before the kernels were attached may lack their scratch: such a
     * call takes the simulation's path (same results, slower). */
    if (!ref && !net->simulate && c->kern &&
        c->kern->scratch_per_image(c->kern, (int64_t)c->OH * c->OW) <= sl->scratch_floats) {
        fused = out_q && c->kern->fuses_out_q;
        c->kern->forward(c->kern, in, N, c->H, c->W, res, relu, fused ? out_q : NULL, out, sl->scratch,
                         sl->scratch_floats);
    } else if (net->int_conv && net->int_conv(net->act_ctx, ci, in_site, in, N, res, relu, out)) {
    } else if (ref) {
        conv_forward_ref(&c->d, in, N, c->H, c->W, c->wf, c->bf, res, relu, out);
    } else {
        conv_forward(&c->d, in, N, c->H, c->W, c->wf, c->bf, res, relu, out, sl->scratch, sl->scratch_floats);
    }
    if (ws->prof) ws->prof[ci] += omp_get_wtime() - t0;
    return fused;
}

/* The fc layer on pooled [features, N] -> logits [N, classes]; tmp holds classes * N floats. */
static void infer_fc(const struct resnet_infer *ws, const struct infer_slice *sl, int in_site, int N, float *logits,
                     float *tmp, int ref)
{
    const struct resnet *net = ws->net;
    const int C = net->features, OUT = net->cfg.n_classes;
    const double t0 = ws->prof ? omp_get_wtime() : 0.0;
    if (!ref && !net->simulate && net->fc_kern && net->fc_kern->scratch_per_image(net->fc_kern, 1) <= sl->scratch_floats) {
        net->fc_kern->forward(net->fc_kern, sl->pooled, N, 1, 1, NULL, 0, NULL, tmp, sl->scratch, sl->scratch_floats);
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OUT; o++) logits[(int64_t)n * OUT + o] = tmp[(int64_t)o * N + n];
    } else if (net->int_fc && net->int_fc(net->act_ctx, in_site, sl->pooled, N, logits)) {
    } else if (ref) {
        fc_forward_ref(sl->pooled, C, N, resnet_param_data(net, net->fc_w), resnet_param_data(net, net->fc_b), OUT,
                       logits);
    } else {
        fc_forward(sl->pooled, C, N, resnet_param_data(net, net->fc_w), resnet_param_data(net, net->fc_b), OUT, logits);
    }
    if (ws->prof) ws->prof[net->n_conv] += omp_get_wtime() - t0;
}

static void infer_run(struct resnet_infer *ws, const struct infer_slice *sl, const float *x, int N, float *logits,
                      int ref)
{
    const struct resnet *net = ws->net;
    const struct resnet_config *cfg = &net->cfg;
    RN_ASSERT(N >= 1 && N <= ws->max_batch);
    /* qmode: the kernel path quantizes activations itself (site_q); otherwise act_hook, if any,
     * sees every site. quant: either way, activations are 8-bit at the sites. */
    const int qmode = !ref && !net->simulate && net->site_q != NULL;
    const int quant = qmode || net->act_hook != NULL;
#define Q(s_) (qmode ? &net->site_q[s_] : NULL)
    /* Activation site `site` on x_ (n_ values); done_: a kernel already quantized it. */
    int site = 0;
#define SITE(x_, n_, done_)                                                                           \
    do {                                                                                              \
        if (qmode) {                                                                                  \
            if (!(done_)) kern_fq((x_), NULL, 0, &net->site_q[site], (x_), (n_));                    \
        } else if (net->act_hook) {                                                                   \
            net->act_hook(net->act_ctx, site, (x_), (n_));                                            \
        }                                                                                             \
        site++;                                                                                       \
    } while (0)
    float *cur = sl->buf[0];   /* [C, N, H, W] */
    layout_nchw_to_cnhw(x, N, cfg->in_channels, (int64_t)cfg->in_h * cfg->in_w, cur);
    SITE(cur, (int64_t)N * cfg->in_channels * cfg->in_h * cfg->in_w, 0);
    const struct resnet_conv *stem = &net->conv[0];
    float *t = sl->buf[1];
    infer_conv(ws, sl, 0, site - 1, cur, N, NULL, 1, NULL, t, ref);
    cur = t;
    int cur_q = 0;   /* cur already holds the quantized values of the next site */
    int H = stem->OH, W = stem->OW;
    if (cfg->stem == RESNET_STEM_IMAGENET) {
        float *p = sl->buf[2];
        if (ref)
            maxpool_forward_ref(cur, stem->d.OC, N, H, W, 3, 2, 1, p);
        else
            kern_maxpool(cur, stem->d.OC, N, H, W, 3, 2, 1, p);
        H = conv_out_size(H, 3, 2, 1);
        W = conv_out_size(W, 3, 2, 1);
        cur = p;
    }
    for (int b = 0; b < net->n_block; b++) {
        const struct resnet_block_desc *blk = &net->block[b];
        const struct resnet_conv *first = &net->conv[blk->conv[0]];
        SITE(cur, (int64_t)first->d.IC * N * H * W, cur_q);
        const int s_block = site - 1, s_out = s_block + blk->n_conv;   /* sites of the block input, last conv's output */
        const float *identity = cur;
        float *ds = NULL;
        int ds_q = 0;
        if (blk->downsample >= 0) {
            ds = pick_free(sl->buf, cur, NULL, NULL);
            ds_q = infer_conv(ws, sl, blk->downsample, s_block, cur, N, NULL, 0, Q(s_out + 1), ds, ref);
            identity = ds;
        }
        float *in = cur;
        int in_q = 0;
        for (int k = 0; k < blk->n_conv; k++) {
            const int ci = blk->conv[k];
            const struct resnet_conv *c = &net->conv[ci];
            const int last = k == blk->n_conv - 1;
            const int64_t out_n = (int64_t)c->d.OC * N * c->OH * c->OW;
            if (k > 0) SITE(in, (int64_t)c->d.IC * N * c->H * c->W, in_q);
            float *o = pick_free(sl->buf, in, identity, cur);
            if (last && quant) {
                /* An int8 engine stores both inputs of the residual add as 8-bit: quantize the
                 * conv's output and the shortcut before adding. */
                const int o_q = infer_conv(ws, sl, ci, site - 1, in, N, NULL, 0, Q(site), o, ref);
                SITE(o, out_n, o_q);
                if (ds) SITE(ds, out_n, ds_q);
                if (qmode) {
                    /* The add, the ReLU and the next block's input quantization in one pass. */
                    const int next = b + 1 < net->n_block;
                    kern_fq(o, identity, 1, next ? &net->site_q[site] : NULL, o, out_n);
                    cur_q = next;
                } else {
                    for (int64_t i = 0; i < out_n; i++) {
                        const float v = o[i] + identity[i];
                        o[i] = v > 0.0f ? v : 0.0f;
                    }
                }
            } else {
                in_q = infer_conv(ws, sl, ci, site - 1, in, N, last ? identity : NULL, 1, last ? NULL : Q(site), o, ref);
                if (last) site += 1 + (ds != NULL);
            }
            in = o;
        }
        const struct resnet_conv *lastc = &net->conv[blk->conv[blk->n_conv - 1]];
        H = lastc->OH;
        W = lastc->OW;
        cur = in;
    }
    if (ref)
        avgpool_forward_ref(cur, net->features, N, H * W, sl->pooled);
    else
        avgpool_forward(cur, net->features, N, H * W, sl->pooled);
    SITE(sl->pooled, (int64_t)net->features * N, 0);
#undef SITE
#undef Q
    RN_ASSERT(site == resnet_act_sites(net));
    /* The fc kernel's [classes, N] output goes through a free activation buffer. */
    RN_ASSERT((int64_t)cfg->n_classes * N <= ws->act_floats / ws->max_batch * N);
    infer_fc(ws, sl, site - 1, N, logits, pick_free(sl->buf, cur, NULL, NULL), ref);
}

int resnet_conv_in_site(const struct resnet *net, int conv)
{
    RN_ASSERT(conv >= 0 && conv <= net->n_conv);
    if (conv == net->n_conv) return resnet_act_sites(net) - 1;
    if (conv == 0) return 0;
    int site = 1;   /* the first block's input */
    for (int b = 0; b < net->n_block; b++) {
        const struct resnet_block_desc *blk = &net->block[b];
        if (blk->downsample == conv) return site;
        for (int k = 0; k < blk->n_conv; k++)
            if (blk->conv[k] == conv) return site + k;
        site += blk->n_conv + 1 + (blk->downsample >= 0);
    }
    RN_ASSERT(!"conv index not in any block");
    return -1;
}

int resnet_act_sites(const struct resnet *net)
{
    int n = 2;   /* the network input and the fc layer's input */
    for (int b = 0; b < net->n_block; b++)
        n += 1 + (net->block[b].n_conv - 1) + 1 + (net->block[b].downsample >= 0);
    return n;
}

/* Images per pass through the network: a large batch runs as sub-batches whose largest activation
 * is about 1 MiB, so layers pass data through L2 instead of streaming whole-batch activations
 * through memory. Measured (1 thread, process CPU time, direct kernels): rn50-fmnist batch 500
 * took 657 ms in sub-batches of 4, 747 of 1, 756 of 16 and 1244 ms as one batch; ResNet50 batch 8
 * 595-617 ms in sub-batches of 1, 2 or 4 against 670 ms whole (its weights, re-read per
 * sub-batch, then dominate). */
static int infer_sub_batch(const struct resnet_infer *ws)
{
    const int64_t per_image = ws->act_floats / ws->max_batch * (int64_t)sizeof(float);
    int64_t sb = ((int64_t)1 << 20) / per_image;
    return sb < 1 ? 1 : (int)sb;
}

void resnet_infer(struct resnet_infer *ws, const float *x, int N, float *logits)
{
    const struct resnet_config *cfg = &ws->net->cfg;
    const int64_t in_per = (int64_t)cfg->in_channels * cfg->in_h * cfg->in_w;
    int sb = infer_sub_batch(ws);
    const int T = ops_threads();
    /* Enough sub-batches for every thread: each thread runs whole sub-batches on its own share of
     * the workspace with single-threaded kernels (nested parallel regions get one thread), so
     * there is no barrier per layer. Under a competing job on the same cores this avoided
     * threads spinning at thousands of per-layer barriers. Needs a share of at least one
     * image of im2col scratch. */
    const struct resnet *net = ws->net;
    /* The kernel path with its own quantization calls no hook: sub-batches are independent. */
    const int hooks = net->act_hook && !(net->site_q && !net->simulate && net->kern_self_contained);
    /* An 8-bit network must give the simulation's bits, which run the batch whole: its dense
     * layers may run in sub-batches only on the direct convolution, whose outputs do not depend
     * on the batch or the threads (OpenBLAS's do; conv_direct.c says why it matters). */
    const int exact = !net->site_q || conv_direct_available();
    if (T > 1 && N >= 2 * T && ws->scratch_floats / T >= ws->scratch_image && !hooks && !ws->prof && exact) {
        if (sb > ws->max_batch / T) sb = ws->max_batch / T;
        const int nsb = (N + sb - 1) / sb;
        #pragma omp parallel num_threads(T)
        {
            const struct infer_slice sl = infer_slice_of(ws, omp_get_thread_num(), T);
            #pragma omp for schedule(dynamic, 1)
            for (int i = 0; i < nsb; i++) {
                const int n0 = i * sb, n = N - n0 < sb ? N - n0 : sb;
                infer_run(ws, &sl, x + n0 * in_per, n, logits + (int64_t)n0 * cfg->n_classes, 0);
            }
        }
        return;
    }
    const struct infer_slice all = infer_slice_of(ws, 0, 1);
    for (int n0 = 0; n0 < N; n0 += sb) {
        const int n = N - n0 < sb ? N - n0 : sb;
        infer_run(ws, &all, x + n0 * in_per, n, logits + (int64_t)n0 * cfg->n_classes, 0);
    }
}

int resnet_run_images(struct resnet *net, const float *images, int64_t n)
{
    const int batch = 32;
    const int64_t per = (int64_t)net->cfg.in_channels * net->cfg.in_h * net->cfg.in_w;
    struct resnet_infer *ws = NULL;
    float *logits = malloc(sizeof(float) * batch * (size_t)net->cfg.n_classes);
    int rc = logits ? resnet_infer_alloc(net, batch, &ws) : status_error(STATUS_NOMEM, "out of memory");
    for (int64_t s = 0; s < n && !rc; s += batch) resnet_infer(ws, images + s * per, (int)(n - s < batch ? n - s : batch), logits);
    resnet_infer_free(ws);
    free(logits);
    return rc;
}

void resnet_infer_ref(struct resnet_infer *ws, const float *x, int N, float *logits)
{
    const struct infer_slice all = infer_slice_of(ws, 0, 1);
    infer_run(ws, &all, x, N, logits, 1);
}
