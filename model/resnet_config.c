/* resnet_config.c — architecture descriptions: the named models (torchvision's resnet18..152 and
 * our default rn50-fmnist) and YAML model files, strictly parsed: unknown keys, wrong types and
 * out-of-range values are errors naming the file, line and key. */
#include "resnet.h"
#include "status.h"
#include "yaml_load.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *block_names[] = { "basic", "bottleneck" };
static const char *stem_names[] = { "imagenet", "small" };
_Static_assert(sizeof block_names / sizeof *block_names == RESNET_BLOCK_COUNT, "block_names");
_Static_assert(sizeof stem_names / sizeof *stem_names == RESNET_STEM_COUNT, "stem_names");

static void config_torchvision(struct resnet_config *cfg, const char *name, enum resnet_block block, int l0, int l1,
                               int l2, int l3)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->name, sizeof cfg->name, "%s", name);
    cfg->block = block;
    cfg->layers[0] = l0;
    cfg->layers[1] = l1;
    cfg->layers[2] = l2;
    cfg->layers[3] = l3;
    cfg->width = 64;
    cfg->stem = RESNET_STEM_IMAGENET;
    cfg->in_channels = 3;
    cfg->n_classes = 1000;
    cfg->in_h = cfg->in_w = 224;
    resnet_config_default_preprocess(cfg);
}

void resnet_config_default_preprocess(struct resnet_config *cfg)
{
    struct image_transform *t = &cfg->pre;
    image_transform_default(t);
    t->crop_h = cfg->in_h;
    t->crop_w = cfg->in_w;
    t->channels = cfg->in_channels;
    const int shorter = cfg->in_h < cfg->in_w ? cfg->in_h : cfg->in_w;
    t->resize = shorter * 256 / 224;
    if (cfg->in_channels == 1) {
        t->resize = 0;
        t->mean[0] = 0.2860f;   /* data.h's DATA_FMNIST_MEAN / _STD; model/ cannot see data.h here */
        t->std[0] = 0.3530f;
    }
}

/* Checks the preprocessing against the architecture it feeds. */
static int config_check_preprocess(const struct resnet_config *cfg, const char *where)
{
    if (cfg->in_channels != 1 && cfg->in_channels != 3) return STATUS_OK;   /* no image files for these models */
    if (cfg->pre.channels != cfg->in_channels || cfg->pre.crop_h != cfg->in_h || cfg->pre.crop_w != cfg->in_w)
        return status_error(STATUS_BAD_INPUT, "%s: crop [%d, %d] with %d channels, expected the input [%d, %d] and in_channels %d",
                            where, cfg->pre.crop_h, cfg->pre.crop_w, cfg->pre.channels, cfg->in_h, cfg->in_w, cfg->in_channels);
    return image_transform_validate(&cfg->pre, where);
}

int resnet_config_validate(const struct resnet_config *cfg, const char *where)
{
    for (int s = 0; s < 4; s++)
        if (cfg->layers[s] < 1 || cfg->layers[s] > 64)
            return status_error(STATUS_BAD_INPUT, "%s: layers[%d] = %d, expected 1..64 blocks", where, s, cfg->layers[s]);
    if (cfg->width < 1 || cfg->width > 1024)
        return status_error(STATUS_BAD_INPUT, "%s: width = %d, expected 1..1024", where, cfg->width);
    if (cfg->in_channels < 1 || cfg->in_channels > 64)
        return status_error(STATUS_BAD_INPUT, "%s: in_channels = %d, expected 1..64", where, cfg->in_channels);
    if (cfg->n_classes < 1 || cfg->n_classes > 100000)
        return status_error(STATUS_BAD_INPUT, "%s: classes = %d, expected 1..100000", where, cfg->n_classes);
    const int min_in = cfg->stem == RESNET_STEM_IMAGENET ? 32 : 8;
    if (cfg->in_h < min_in || cfg->in_w < min_in || cfg->in_h > 4096 || cfg->in_w > 4096)
        return status_error(STATUS_BAD_INPUT, "%s: input = [%d, %d], expected each in %d..4096 for the %s stem", where,
                            cfg->in_h, cfg->in_w, min_in, stem_names[cfg->stem]);
    return STATUS_OK;
}

/* ---- YAML model files ---- */

static int parse_int(const char *path, const struct ynode *n, const char *key, int lo, int hi, int *out)
{
    if (n->kind != YNODE_SCALAR)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected an integer", path, n->line, key);
    const char *s = n->str;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': '%s' is not an integer in %d..%d", path, n->line, key, s,
                            lo, hi);
    *out = (int)v;
    return STATUS_OK;
}

static int parse_enum(const char *path, const struct ynode *n, const char *key, const char *const *names, int count,
                      int *out)
{
    if (n->kind == YNODE_SCALAR)
        for (int i = 0; i < count; i++)
            if (strcmp(n->str, names[i]) == 0) {
                *out = i;
                return STATUS_OK;
            }
    return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected %s or %s", path, n->line, key, names[0], names[1]);
}

/* A flow or block sequence of exactly n integers. */
static int parse_int_list(const char *path, const struct ynode *v, const char *key, int n, int lo, int hi, int *out)
{
    if (v->kind != YNODE_SEQ)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected a list of %d integers", path, v->line, key, n);
    /* Items are checked in order up to the n-th, so a bad value is reported before a bad count. */
    for (int i = 0; i < v->n && i < n; i++) {
        const int rc = parse_int(path, v->item[i], key, lo, hi, &out[i]);
        if (rc) return rc;
    }
    if (v->n != n)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected a list of exactly %d integers", path, v->line,
                            key, n);
    return STATUS_OK;
}

/* A flow or block sequence of 1..3 finite numbers; *n gets the count. */
static int parse_float_list(const char *path, const struct ynode *v, const char *key, float *out, int *n)
{
    const size_t line = v->line;
    if (v->kind != YNODE_SEQ)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected a list of one number per channel", path, line, key);
    if (v->n == 0) return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': empty list", path, line, key);
    for (*n = 0; *n < v->n; (*n)++) {
        const struct ynode *it = v->item[*n];
        const char *s = it->kind == YNODE_SCALAR ? it->str : "";
        char *end;
        errno = 0;
        const double x = strtod(s, &end);
        if (*n >= 3 || it->kind != YNODE_SCALAR || errno || end == s || *end || !isfinite(x) || fabs(x) > 1e6)
            return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected 1 or 3 finite numbers, got '%s' as value %d", path,
                                line, key, s, *n + 1);
        out[*n] = (float)x;
    }
    return STATUS_OK;
}

static int config_read_yaml(const char *path, struct resnet_config *cfg)
{
    struct ydoc *doc = NULL;
    int rc = ydoc_read(path, "model file", &doc);
    if (rc) return rc;
    memset(cfg, 0, sizeof *cfg);
    enum { K_NAME, K_BLOCK, K_LAYERS, K_WIDTH, K_STEM, K_IN_CHANNELS, K_CLASSES, K_INPUT, K_RESIZE, K_CROP, K_MEAN, K_STD,
           K_INTERP, K_COUNT, K_FIRST_OPTIONAL = K_RESIZE };
    static const char *keys[] = { "name", "block", "layers", "width", "stem", "in_channels", "classes", "input",
                                  "resize", "crop", "mean", "std", "interpolation" };
    struct image_transform pre = { 0 };
    int crop_hw[2] = { 0, 0 }, n_mean = 0, n_std = 0;
    size_t crop_line = 0, mean_line = 0, std_line = 0;
    _Static_assert(sizeof keys / sizeof *keys == K_COUNT, "keys");
    int seen[K_COUNT] = { 0 };

    const struct ynode *root = ydoc_root(doc);
    if (!root || root->kind != YNODE_MAP)
        rc = status_error(STATUS_BAD_INPUT, "%s:%zu: expected a mapping of model keys", path, root ? root->line : (size_t)1);
    for (int i = 0; !rc && i < root->n; i++) {
        const struct ynode *kn = root->key[i], *v = root->val[i];
        const size_t line = kn->line;
        if (kn->kind != YNODE_SCALAR) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: expected a key", path, line);
            break;
        }
        int k = 0;
        while (k < K_COUNT && strcmp(keys[k], kn->str) != 0) k++;
        if (k == K_COUNT) {
            rc = status_error(STATUS_BAD_INPUT,
                              "%s:%zu: unknown key '%s' (expected name, block, layers, width, stem, in_channels, classes, input, "
                              "resize, crop, mean, std, interpolation)",
                              path, line, kn->str);
            break;
        }
        if (seen[k]) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s' given twice", path, line, keys[k]);
            break;
        }
        seen[k] = 1;
        int e = 0;
        switch (k) {
        case K_NAME:
            if (v->kind != YNODE_SCALAR || v->len == 0 || v->len >= sizeof cfg->name)
                rc = status_error(STATUS_BAD_INPUT, "%s:%zu: key 'name': expected a string of 1..63 characters", path,
                                  line);
            else
                memcpy(cfg->name, v->str, v->len + 1);
            break;
        case K_BLOCK: rc = parse_enum(path, v, "block", block_names, RESNET_BLOCK_COUNT, &e); cfg->block = (enum resnet_block)e; break;
        case K_STEM: rc = parse_enum(path, v, "stem", stem_names, RESNET_STEM_COUNT, &e); cfg->stem = (enum resnet_stem)e; break;
        case K_LAYERS: rc = parse_int_list(path, v, "layers", 4, 1, 64, cfg->layers); break;
        case K_WIDTH: rc = parse_int(path, v, "width", 1, 1024, &cfg->width); break;
        case K_IN_CHANNELS: rc = parse_int(path, v, "in_channels", 1, 64, &cfg->in_channels); break;
        case K_CLASSES: rc = parse_int(path, v, "classes", 1, 100000, &cfg->n_classes); break;
        case K_INPUT: {
            int hw[2] = { 0, 0 };
            rc = parse_int_list(path, v, "input", 2, 1, 4096, hw);
            cfg->in_h = hw[0];
            cfg->in_w = hw[1];
            break;
        }
        case K_RESIZE: rc = parse_int(path, v, "resize", 0, 8192, &pre.resize); break;
        case K_CROP:
            crop_line = line;
            if (v->kind == YNODE_SCALAR) {
                rc = parse_int(path, v, "crop", 1, 4096, &crop_hw[0]);
                crop_hw[1] = crop_hw[0];
            } else {
                rc = parse_int_list(path, v, "crop", 2, 1, 4096, crop_hw);
            }
            break;
        case K_MEAN: mean_line = line; rc = parse_float_list(path, v, "mean", pre.mean, &n_mean); break;
        case K_STD: std_line = line; rc = parse_float_list(path, v, "std", pre.std, &n_std); break;
        case K_INTERP: rc = parse_enum(path, v, "interpolation", image_interp_names, IMAGE_INTERP_COUNT, &e); pre.interp = (enum image_interp)e; break;
        }
    }
    /* The preprocessing: defaults for the architecture, then what the file says. */
    if (!rc) {
        const struct image_transform given = pre;
        resnet_config_default_preprocess(cfg);
        if (seen[K_RESIZE]) cfg->pre.resize = given.resize;
        if (seen[K_INTERP]) cfg->pre.interp = given.interp;
        if (seen[K_CROP] && (crop_hw[0] != cfg->in_h || crop_hw[1] != cfg->in_w))
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: key 'crop': [%d, %d], expected the input size [%d, %d]", path, crop_line,
                              crop_hw[0], crop_hw[1], cfg->in_h, cfg->in_w);
        if (!rc && seen[K_MEAN] && n_mean != cfg->in_channels)
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: key 'mean': %d values, expected in_channels = %d", path, mean_line, n_mean,
                              cfg->in_channels);
        if (!rc && seen[K_STD] && n_std != cfg->in_channels)
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: key 'std': %d values, expected in_channels = %d", path, std_line, n_std,
                              cfg->in_channels);
        for (int c = 0; !rc && c < n_mean; c++) cfg->pre.mean[c] = given.mean[c];
        for (int c = 0; !rc && c < n_std; c++) {
            if (!(given.std[c] > 0))
                rc = status_error(STATUS_BAD_INPUT, "%s:%zu: key 'std': %g for channel %d, expected > 0", path, std_line, given.std[c], c);
            cfg->pre.std[c] = given.std[c];
        }
    }
    for (int k = 0; !rc && k < K_FIRST_OPTIONAL; k++)
        if (!seen[k] && k != K_NAME)
            rc = status_error(STATUS_BAD_INPUT, "%s: missing key '%s'", path, keys[k]);
    if (!rc && !seen[K_NAME]) snprintf(cfg->name, sizeof cfg->name, "%s", path);
    ydoc_free(doc);
    if (!rc) rc = resnet_config_validate(cfg, path);
    if (!rc) rc = config_check_preprocess(cfg, path);
    return rc;
}

int resnet_config_load(const char *name, struct resnet_config *cfg)
{
    static const struct { const char *name; enum resnet_block block; int l[4]; } tv[] = {
        { "resnet18", RESNET_BASIC, { 2, 2, 2, 2 } },       { "resnet34", RESNET_BASIC, { 3, 4, 6, 3 } },
        { "resnet50", RESNET_BOTTLENECK, { 3, 4, 6, 3 } },  { "resnet101", RESNET_BOTTLENECK, { 3, 4, 23, 3 } },
        { "resnet152", RESNET_BOTTLENECK, { 3, 8, 36, 3 } },
    };
    for (size_t i = 0; i < sizeof tv / sizeof *tv; i++)
        if (strcmp(name, tv[i].name) == 0) {
            config_torchvision(cfg, name, tv[i].block, tv[i].l[0], tv[i].l[1], tv[i].l[2], tv[i].l[3]);
            return STATUS_OK;
        }
    if (strcmp(name, "rn50-fmnist") == 0) {
        config_torchvision(cfg, name, RESNET_BOTTLENECK, 3, 4, 6, 3);
        cfg->width = 16;
        cfg->stem = RESNET_STEM_SMALL;
        cfg->in_channels = 1;
        cfg->n_classes = 10;
        cfg->in_h = cfg->in_w = 28;
        resnet_config_default_preprocess(cfg);
        return STATUS_OK;
    }
    const size_t n = strlen(name);
    if (n > 5 && (strcmp(name + n - 5, ".yaml") == 0 || strcmp(name + n - 4, ".yml") == 0))
        return config_read_yaml(name, cfg);
    return status_error(STATUS_BAD_INPUT,
                        "--model '%s': unknown model (expected resnet18, resnet34, resnet50, resnet101, resnet152, "
                        "rn50-fmnist, or a .yaml model file)",
                        name);
}
