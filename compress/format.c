/* format.c — saving and loading compressed models (see format.h). Layer tensors are named after
 * the torchvision module: "<name>.bias" (F16), and one of
 *   "<name>.weight"                                   F16 [OC, K]          fp16 (uncompressed)
 *   "<name>.mask" + "<name>.nonzeros"                 U8 packed bits, F16  sparse
 *   "<name>.indices" + "<name>.lut" [+ ".channel_scale"], with "<name>.mask" when also pruned
 *                                                     U8 packed, F16 [G, 2^n]   palettized
 *   "<name>.q" + "<name>.q_scale" [+ "<name>.q_zero"], with "<name>.mask" when also pruned
 *                                                     I8 [OC, K], F16 [OC]  int8
 * Metadata: "format", "model" (the architecture as JSON) and "layer.<name>" (the scheme as JSON). */
#include "format.h"

#include "half.h"
#include "json.h"
#include "kern_attach.h"
#include "palettize.h"
#include "safetensors.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void format_pack_bits(const uint8_t *v, int64_t n, int bits, uint8_t *out)
{
    memset(out, 0, (size_t)((n * bits + 7) / 8));
    for (int64_t i = 0; i < n; i++) {
        const int64_t bit = i * bits;
        const unsigned x = v[i] & ((1u << bits) - 1);
        out[bit >> 3] |= (uint8_t)(x << (bit & 7));
        if ((bit & 7) + bits > 8) out[(bit >> 3) + 1] |= (uint8_t)(x >> (8 - (bit & 7)));
    }
}

void format_unpack_bits(const uint8_t *in, int64_t n, int bits, uint8_t *v)
{
    for (int64_t i = 0; i < n; i++) {
        const int64_t bit = i * bits;
        unsigned x = in[bit >> 3] >> (bit & 7);
        if ((bit & 7) + bits > 8) x |= (unsigned)in[(bit >> 3) + 1] << (8 - (bit & 7));
        v[i] = (uint8_t)(x & ((1u << bits) - 1));
    }
}

static const char *block_name[] = { "basic", "bottleneck" };
static const char *stem_name[] = { "imagenet", "small" };
_Static_assert(sizeof block_name / sizeof *block_name == RESNET_BLOCK_COUNT, "block_name");
_Static_assert(sizeof stem_name / sizeof *stem_name == RESNET_STEM_COUNT, "stem_name");

/* The layer's folded weight shape and kernel size (KH*KW; 1 for fc). */
static void layer_geometry(const struct resnet *net, const char *name, int64_t *OC, int64_t *K, int *khw, const float **bias)
{
    const int c = resnet_find_conv(net, name);
    if (c >= 0) {
        *OC = net->conv[c].d.OC;
        *K = conv_k(&net->conv[c].d);
        *khw = net->conv[c].d.KH * net->conv[c].d.KW;
        *bias = net->conv[c].bf;
    } else {
        RN_ASSERT(strcmp(name, "fc") == 0);
        *OC = net->cfg.n_classes;
        *K = net->features;
        *khw = 1;
        *bias = resnet_param_data(net, net->fc_b);
    }
}

static int add_f16(struct st_writer *w, const char *name, const char *suffix, int ndim, const int64_t *shape, const float *data)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", name, suffix);
    return st_writer_add_f32_as(w, full, ST_F16, ndim, shape, data);
}

static int add_raw(struct st_writer *w, const char *name, const char *suffix, enum st_dtype dt, int ndim, const int64_t *shape,
                   const void *data)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", name, suffix);
    return st_writer_add(w, full, dt, ndim, shape, data);
}

static const char *layer_kind(const struct compressed_weight *cw)
{
    if (cw->indices) return cw->mask ? "sparse_palettized" : "palettized";
    if (cw->q) return cw->mask ? "sparse_int8" : "int8";
    if (cw->mask) return "sparse";
    return "fp16";
}

int format_save(const char *path, const struct resnet *net, const struct compress_plan *plan,
                const struct compressed_weight *cw, const struct act_quant *aq, const char *config_text)
{
    struct st_writer *w = st_writer_alloc();
    if (!w) return status_error(STATUS_NOMEM, "out of memory writing %s", path);
    int rc = STATUS_OK;
    char meta[1024];
    const struct resnet_config *c = &net->cfg;
    snprintf(meta, sizeof meta,
             "{\"name\":\"%s\",\"block\":\"%s\",\"layers\":[%d,%d,%d,%d],\"width\":%d,\"stem\":\"%s\","
             "\"in_channels\":%d,\"classes\":%d,\"input\":[%d,%d]}",
             c->name, block_name[c->block], c->layers[0], c->layers[1], c->layers[2], c->layers[3], c->width,
             stem_name[c->stem], c->in_channels, c->n_classes, c->in_h, c->in_w);
    rc = st_writer_set_metadata(w, "format", FORMAT_NAME);
    if (!rc) rc = st_writer_set_metadata(w, "model", meta);
    if (!rc && config_text) rc = st_writer_set_metadata(w, "config", config_text);
    if (!rc && aq) {
        /* Per activation site: [scale, zero_point, qmin, qmax]. */
        size_t cap = 64 + (size_t)aq->n_sites * 64, used = 0;
        char *acts = malloc(cap);
        if (!acts) { rc = status_error(STATUS_NOMEM, "out of memory writing %s", path); }
        for (int i = 0; !rc && i < aq->n_sites; i++)
            used += (size_t)snprintf(acts + used, cap - used, "%s[%.9g,%d,%d,%d]", i ? "," : "[", aq->qp[i].scale,
                                     aq->qp[i].zero_point, aq->qp[i].qmin, aq->qp[i].qmax);
        if (!rc) {
            snprintf(acts + used, cap - used, "]");
            rc = st_writer_set_metadata(w, "activations", acts);
        }
        free(acts);
    }
    uint8_t *buf = NULL;
    for (int i = 0; i < plan->n_layers && !rc; i++) {
        const char *name = plan->info[i].name;
        const struct compressed_weight *x = &cw[i];
        int64_t OC, K;
        int khw;
        const float *bias;
        layer_geometry(net, name, &OC, &K, &khw, &bias);
        RN_ASSERT(x->OC == OC && x->K == K);
        rc = add_f16(w, name, "bias", 1, (int64_t[]){ OC }, bias);
        const int64_t nnz = x->mask ? x->n_nonzero : OC * K;
        free(buf);
        buf = malloc((size_t)(OC * K + 8));
        if (!buf) { rc = status_error(STATUS_NOMEM, "out of memory writing %s", path); break; }
        if (!rc && x->mask) {
            format_pack_bits(x->mask, OC * K, 1, buf);
            rc = add_raw(w, name, "mask", ST_U8, 1, (int64_t[]){ (OC * K + 7) / 8 }, buf);
        }
        if (rc) break;
        if (x->indices) {
            format_pack_bits(x->indices, nnz, x->n_bits, buf);
            rc = add_raw(w, name, "indices", ST_U8, 1, (int64_t[]){ (nnz * x->n_bits + 7) / 8 }, buf);
            if (!rc) rc = add_raw(w, name, "lut", ST_F16, 2, (int64_t[]){ x->n_groups, 1 << x->n_bits }, x->lut);
            if (!rc && x->channel_scale) rc = add_raw(w, name, "channel_scale", ST_F16, 1, (int64_t[]){ OC }, x->channel_scale);
        } else if (x->q) {
            rc = add_raw(w, name, "q", ST_I8, 2, (int64_t[]){ OC, K }, x->q);
            if (!rc) rc = add_raw(w, name, "q_scale", ST_F16, 1, (int64_t[]){ OC }, x->q_scale);
            if (!rc && x->q_zero) rc = add_raw(w, name, "q_zero", ST_I8, 1, (int64_t[]){ OC }, x->q_zero);
        } else if (x->mask) {
            float *nz = malloc(sizeof(float) * (nnz ? nnz : 1));
            if (!nz) { rc = status_error(STATUS_NOMEM, "out of memory writing %s", path); break; }
            int64_t j = 0;
            for (int64_t e = 0; e < OC * K; e++)
                if (x->mask[e]) nz[j++] = x->dense[e];
            RN_ASSERT(j == nnz);
            rc = add_f16(w, name, "nonzeros", 1, (int64_t[]){ nnz }, nz);
            free(nz);
        } else {
            rc = add_f16(w, name, "weight", 2, (int64_t[]){ OC, K }, x->dense);
        }
        if (rc) break;
        char key[96];
        snprintf(key, sizeof key, "layer.%s", name);
        snprintf(meta, sizeof meta,
                 "{\"kind\":\"%s\",\"n_bits\":%d,\"n_groups\":%d,\"group_axis\":%d,\"group_size\":%d,\"nnz\":%lld,"
                 "\"symmetric\":%d}",
                 layer_kind(x), x->n_bits, x->n_groups, x->group_axis, x->group_size, (long long)nnz, x->q_zero ? 0 : 1);
        rc = st_writer_set_metadata(w, key, meta);
    }
    free(buf);
    if (!rc) rc = st_writer_save(w, path);
    st_writer_free(w);
    return rc;
}

int format_is_compressed(const char *path)
{
    struct st_file *f = NULL;
    if (safetensors_read(path, &f) != STATUS_OK) return 0;
    const char *fmt = safetensors_metadata(f, "format");
    const int yes = fmt && strcmp(fmt, FORMAT_NAME) == 0;
    safetensors_free(f);
    return yes;
}

static int json_int_of(const struct json_value *o, const char *key, int *out)
{
    const struct json_value *v = json_object_get(o, key);
    if (!v || v->type != JSON_NUMBER || !v->is_integer) return 0;
    *out = (int)v->integer;
    return 1;
}

static int config_from_json(const char *path, const char *text, struct resnet_config *cfg)
{
    struct json_value *j = NULL;
    int rc = json_parse(text, strlen(text), path, &j);
    if (rc) return rc;
    memset(cfg, 0, sizeof *cfg);
    const struct json_value *name = json_object_get(j, "name"), *block = json_object_get(j, "block"),
                            *stem = json_object_get(j, "stem"), *layers = json_object_get(j, "layers"),
                            *input = json_object_get(j, "input");
    int ok = name && name->type == JSON_STRING && block && block->type == JSON_STRING && stem &&
             stem->type == JSON_STRING && layers && layers->type == JSON_ARRAY && layers->n_children == 4 && input &&
             input->type == JSON_ARRAY && input->n_children == 2 && json_int_of(j, "width", &cfg->width) &&
             json_int_of(j, "in_channels", &cfg->in_channels) && json_int_of(j, "classes", &cfg->n_classes);
    if (ok) {
        snprintf(cfg->name, sizeof cfg->name, "%s", name->str);
        cfg->block = strcmp(block->str, "basic") == 0 ? RESNET_BASIC : RESNET_BOTTLENECK;
        cfg->stem = strcmp(stem->str, "small") == 0 ? RESNET_STEM_SMALL : RESNET_STEM_IMAGENET;
        int i = 0;
        for (const struct json_value *v = json_first(layers); v; v = v->next) cfg->layers[i++] = (int)v->number;
        cfg->in_h = (int)json_first(input)->number;
        cfg->in_w = (int)json_first(input)->next->number;
        resnet_config_default_preprocess(cfg);   /* the file does not store preprocessing (yet) */
    }
    json_free(j);
    if (!ok) return status_error(STATUS_BAD_INPUT, "%s: metadata 'model' does not describe a ResNet", path);
    return resnet_config_validate(cfg, path);
}

/* Reads tensor `name.suffix` into dst as raw bytes of the expected size, or fails naming it. */
static int get_raw(struct st_file *f, const char *path, const char *name, const char *suffix, enum st_dtype dt,
                   int64_t numel, void *dst, int required)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", name, suffix);
    const struct st_tensor *t = safetensors_find(f, full);
    if (!t) return required ? status_error(STATUS_BAD_INPUT, "%s: tensor '%s' is missing", path, full) : -1;
    if (t->dtype != dt || t->numel != numel)
        return status_error(STATUS_BAD_INPUT, "%s: tensor '%s' has dtype %s and %lld elements, expected %s and %lld", path,
                            full, st_dtype_name(t->dtype), (long long)t->numel, st_dtype_name(dt), (long long)numel);
    memcpy(dst, t->data, (size_t)numel * st_dtype_size(dt));
    return STATUS_OK;
}

static int load_layer(struct st_file *f, const char *path, struct resnet *net, const char *name, struct compressed_weight *x)
{
    int64_t OC, K;
    int khw;
    const float *bias_c;
    layer_geometry(net, name, &OC, &K, &khw, &bias_c);
    float *bias = (float *)bias_c;
    char key[96];
    snprintf(key, sizeof key, "layer.%s", name);
    const char *meta = safetensors_metadata(f, key);
    if (!meta) return status_error(STATUS_BAD_INPUT, "%s: metadata '%s' is missing", path, key);
    struct json_value *j = NULL;
    int rc = json_parse(meta, strlen(meta), path, &j);
    if (rc) return rc;
    const struct json_value *kind = json_object_get(j, "kind");
    int n_bits = 0, n_groups = 0, axis = 0, gsize = 0, sym = 1;
    const struct json_value *nnzv = json_object_get(j, "nnz");
    const int ok = kind && kind->type == JSON_STRING && json_int_of(j, "n_bits", &n_bits) &&
                   json_int_of(j, "n_groups", &n_groups) && json_int_of(j, "group_axis", &axis) &&
                   json_int_of(j, "group_size", &gsize) && json_int_of(j, "symmetric", &sym) && nnzv &&
                   nnzv->type == JSON_NUMBER;
    char kind_s[32] = "";
    if (ok) snprintf(kind_s, sizeof kind_s, "%s", kind->str);
    const int64_t nnz = ok ? (int64_t)nnzv->number : 0;
    json_free(j);
    if (!ok || nnz < 0 || nnz > OC * K || (strstr(kind_s, "palettized") && (n_bits < 1 || n_bits > 8 || n_groups < 1)))
        return status_error(STATUS_BAD_INPUT, "%s: metadata '%s' is malformed", path, key);

    memset(x, 0, sizeof *x);
    x->OC = OC;
    x->K = K;
    x->n_nonzero = nnz;
    x->dense = malloc(sizeof(float) * OC * K);
    uint8_t *packed = malloc((size_t)(OC * K + 8));
    if (!x->dense || !packed) {
        free(packed);
        return status_error(STATUS_NOMEM, "out of memory loading %s", path);
    }
    float *tmp = NULL;
    const char *bias_name = "bias";
    char full[128];
    snprintf(full, sizeof full, "%s.%s", name, bias_name);
    const struct st_tensor *bt = safetensors_find(f, full);
    if (!bt || bt->numel != OC) {
        rc = status_error(STATUS_BAD_INPUT, "%s: tensor '%s' is missing or not [%lld]", path, full, (long long)OC);
        goto done;
    }
    if ((rc = st_tensor_to_f32(f, bt, bias))) goto done;
    const int sparse = strncmp(kind_s, "sparse", 6) == 0;
    if (sparse) {
        x->mask = malloc((size_t)(OC * K));
        if (!x->mask) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
        if ((rc = get_raw(f, path, name, "mask", ST_U8, (OC * K + 7) / 8, packed, 1))) goto done;
        format_unpack_bits(packed, OC * K, 1, x->mask);
        int64_t count = 0;
        for (int64_t e = 0; e < OC * K; e++) count += x->mask[e];
        if (count != nnz) {
            rc = status_error(STATUS_BAD_INPUT, "%s: '%s.mask' keeps %lld weights, metadata says %lld", path, name,
                              (long long)count, (long long)nnz);
            goto done;
        }
    }
    if (strstr(kind_s, "palettized")) {
        x->n_bits = n_bits;
        x->n_groups = n_groups;
        x->group_axis = axis;
        x->group_size = gsize;
        x->lut = malloc(sizeof(uint16_t) * n_groups << n_bits);
        x->indices = malloc((size_t)(nnz ? nnz : 1));
        if (!x->lut || !x->indices) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
        if ((rc = get_raw(f, path, name, "indices", ST_U8, (nnz * n_bits + 7) / 8, packed, 1)) ||
            (rc = get_raw(f, path, name, "lut", ST_F16, (int64_t)n_groups << n_bits, x->lut, 1)))
            goto done;
        format_unpack_bits(packed, nnz, n_bits, x->indices);
        x->channel_scale = malloc(sizeof(uint16_t) * OC);
        if (!x->channel_scale) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
        rc = get_raw(f, path, name, "channel_scale", ST_F16, OC, x->channel_scale, 0);
        if (rc > 0) goto done;
        if (rc < 0) { free(x->channel_scale); x->channel_scale = NULL; }
        rc = STATUS_OK;
        palettize_decode(x, khw, x->dense);
    } else if (strstr(kind_s, "int8")) {
        x->q = malloc((size_t)(OC * K));
        x->q_scale = malloc(sizeof(uint16_t) * OC);
        if (!x->q || !x->q_scale) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
        if ((rc = get_raw(f, path, name, "q", ST_I8, OC * K, x->q, 1)) ||
            (rc = get_raw(f, path, name, "q_scale", ST_F16, OC, x->q_scale, 1)))
            goto done;
        if (!sym) {
            x->q_zero = malloc((size_t)OC);
            if (!x->q_zero) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
            if ((rc = get_raw(f, path, name, "q_zero", ST_I8, OC, x->q_zero, 1))) goto done;
        }
        for (int64_t oc = 0; oc < OC; oc++) {
            const float s = half_to_f32(x->q_scale[oc]);
            const int zp = x->q_zero ? x->q_zero[oc] : 0;
            for (int64_t k = 0; k < K; k++) x->dense[oc * K + k] = s * (float)(x->q[oc * K + k] - zp);
        }
    } else if (sparse) {
        tmp = malloc(sizeof(float) * (nnz ? nnz : 1));
        snprintf(full, sizeof full, "%s.nonzeros", name);
        const struct st_tensor *t = safetensors_find(f, full);
        if (!tmp || !t || t->numel != nnz) {
            rc = status_error(STATUS_BAD_INPUT, "%s: tensor '%s' is missing or not [%lld]", path, full, (long long)nnz);
            goto done;
        }
        if ((rc = st_tensor_to_f32(f, t, tmp))) goto done;
        int64_t jn = 0;
        for (int64_t e = 0; e < OC * K; e++) x->dense[e] = x->mask[e] ? tmp[jn++] : 0.0f;
    } else {
        snprintf(full, sizeof full, "%s.weight", name);
        const struct st_tensor *t = safetensors_find(f, full);
        if (!t || t->numel != OC * K) {
            rc = status_error(STATUS_BAD_INPUT, "%s: tensor '%s' is missing or not [%lld, %lld]", path, full, (long long)OC,
                              (long long)K);
            goto done;
        }
        if ((rc = st_tensor_to_f32(f, t, x->dense))) goto done;
    }
    /* Install: convs run on their folded weights, fc on its parameters. */
    const int c = resnet_find_conv(net, name);
    memcpy(c >= 0 ? net->conv[c].wf : resnet_param_data(net, net->fc_w), x->dense, sizeof(float) * OC * K);
done:
    free(packed);
    free(tmp);
    return rc;
}

static int load_activations(const char *path, const char *text, struct resnet *net)
{
    struct json_value *j = NULL;
    int rc = json_parse(text, strlen(text), path, &j);
    if (rc) return rc;
    const int n = resnet_act_sites(net);
    struct act_quant *aq = NULL;
    if (j->type != JSON_ARRAY || j->n_children != n) {
        rc = status_error(STATUS_BAD_INPUT, "%s: metadata 'activations' must list %d sites", path, n);
    } else if (!(rc = act_quant_alloc(n, QUANT_MIN_MAX, 0, &aq))) {
        int i = 0;
        for (const struct json_value *v = json_first(j); v && !rc; v = v->next, i++) {
            const struct json_value *e = json_first(v);
            if (v->type != JSON_ARRAY || v->n_children != 4) {
                rc = status_error(STATUS_BAD_INPUT, "%s: metadata 'activations'[%d] is not [scale, zp, qmin, qmax]", path, i);
                break;
            }
            aq->qp[i].scale = (float)e->number;
            aq->qp[i].zero_point = (int32_t)e->next->number;
            aq->qp[i].qmin = (int32_t)e->next->next->number;
            aq->qp[i].qmax = (int32_t)e->next->next->next->number;
        }
        aq->calibrating = 0;
    }
    json_free(j);
    if (rc) {
        act_quant_free(aq);
        return rc;
    }
    net->act_hook = act_quant_hook;
    net->act_ctx = aq;
    return STATUS_OK;
}

void format_free_activations(struct resnet *net)
{
    if (net && net->act_hook == act_quant_hook) act_quant_free(net->act_ctx);
    if (net) {
        resnet_free_kernels(net);   /* int8 kernels and site_q belong with the quantizer */
        net->act_hook = NULL;
        net->act_ctx = NULL;
        net->int_conv = NULL;
        net->int_fc = NULL;
    }
}

int format_load(const char *path, struct resnet **net_out, struct compressed_weight **cw_out)
{
    *net_out = NULL;
    if (cw_out) *cw_out = NULL;
    struct st_file *f = NULL;
    struct resnet *net = NULL;
    struct compressed_weight *cw = NULL;
    int rc = safetensors_read(path, &f);
    if (rc) return rc;
    const char *fmt = safetensors_metadata(f, "format"), *model = safetensors_metadata(f, "model");
    struct resnet_config cfg;
    if (!fmt || strcmp(fmt, FORMAT_NAME) != 0 || !model) {
        rc = status_error(STATUS_BAD_INPUT, "%s: not a compressed rn50-tune model (metadata 'format' is not '%s')", path,
                          FORMAT_NAME);
        goto done;
    }
    if ((rc = config_from_json(path, model, &cfg)) || (rc = resnet_alloc(&cfg, 0, &net))) goto done;
    cw = calloc((size_t)net->n_conv + 1, sizeof *cw);
    if (!cw) { rc = status_error(STATUS_NOMEM, "out of memory loading %s", path); goto done; }
    for (int i = 0; i <= net->n_conv && !rc; i++)
        rc = load_layer(f, path, net, i < net->n_conv ? net->conv[i].name : "fc", &cw[i]);
    const char *acts = safetensors_metadata(f, "activations");
    if (!rc && acts) rc = load_activations(path, acts, net);
    if (!rc) {
        const char **names = malloc(sizeof *names * ((size_t)net->n_conv + 1));
        if (!names) { rc = status_error(STATUS_NOMEM, "out of memory"); goto done; }
        for (int i = 0; i < net->n_conv; i++) names[i] = net->conv[i].name;
        names[net->n_conv] = "fc";
        if (acts) rc = act_quant_set_int8(net->act_ctx, net, net->n_conv + 1, names, cw);
        if (!rc) rc = kern_attach(net, net->n_conv + 1, names, cw, acts ? net->act_ctx : NULL);
        free(names);
    }
done:
    safetensors_free(f);
    if (rc || !cw_out) {
        for (int i = 0; cw && net && i <= net->n_conv; i++) compressed_weight_free(&cw[i]);
        free(cw);
        cw = NULL;
    }
    if (rc) {
        format_free_activations(net);
        resnet_free(net);
        return rc;
    }
    *net_out = net;
    if (cw_out) *cw_out = cw;
    return STATUS_OK;
}

/* The decoded weights as torchvision parameters: conv weight = decoded folded weight, BatchNorm
 * the identity around the folded bias (mean 0, var 1 - eps, weight 1, bias b). */
int format_save_dequantized(const struct resnet *net, const char *path)
{
    struct resnet *dq = NULL;
    int rc = resnet_alloc(&net->cfg, 0, &dq);
    if (rc) return rc;
    for (int i = 0; i < net->n_conv; i++) {
        const struct resnet_conv *c = &net->conv[i], *d = &dq->conv[i];
        memcpy(resnet_param_data(dq, d->w), c->wf, sizeof(float) * c->d.OC * conv_k(&c->d));
        for (int o = 0; o < c->d.OC; o++) {
            resnet_param_data(dq, d->gamma)[o] = 1.0f;
            resnet_param_data(dq, d->beta)[o] = c->bf[o];
            resnet_param_data(dq, d->mean)[o] = 0.0f;
            resnet_param_data(dq, d->var)[o] = 1.0f - 1e-5f;
        }
    }
    memcpy(resnet_param_data(dq, dq->fc_w), resnet_param_data(net, net->fc_w), sizeof(float) * dq->param[dq->fc_w].numel);
    memcpy(resnet_param_data(dq, dq->fc_b), resnet_param_data(net, net->fc_b), sizeof(float) * dq->param[dq->fc_b].numel);
    rc = resnet_save_weights(dq, path, ST_F32, "rn50-tune", "dequantized compressed model");
    resnet_free(dq);
    return rc;
}

