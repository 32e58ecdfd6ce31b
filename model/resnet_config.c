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
#include <yaml.h>

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

struct yreader {
    const char *path;
    yaml_parser_t parser;
    yaml_event_t ev;
    int have_ev;
};

static int yreader_next(struct yreader *r)
{
    if (r->have_ev) yaml_event_delete(&r->ev);
    r->have_ev = 0;
    if (!yaml_parser_parse(&r->parser, &r->ev))
        return status_error(STATUS_BAD_INPUT, "%s:%zu: YAML syntax error: %s", r->path, r->parser.problem_mark.line + 1,
                            r->parser.problem ? r->parser.problem : "unknown");
    r->have_ev = 1;
    return STATUS_OK;
}

static int parse_int(struct yreader *r, const char *key, int lo, int hi, int *out)
{
    const size_t line = r->ev.start_mark.line + 1;
    if (r->ev.type != YAML_SCALAR_EVENT)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected an integer", r->path, line, key);
    const char *s = (const char *)r->ev.data.scalar.value;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': '%s' is not an integer in %d..%d", r->path, line, key, s,
                            lo, hi);
    *out = (int)v;
    return STATUS_OK;
}

static int parse_enum(struct yreader *r, const char *key, const char *const *names, int n, int *out)
{
    const size_t line = r->ev.start_mark.line + 1;
    if (r->ev.type == YAML_SCALAR_EVENT) {
        for (int i = 0; i < n; i++)
            if (strcmp((const char *)r->ev.data.scalar.value, names[i]) == 0) {
                *out = i;
                return STATUS_OK;
            }
    }
    return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected %s or %s", r->path, line, key, names[0], names[1]);
}

/* A flow or block sequence of exactly n integers. */
static int parse_int_list(struct yreader *r, const char *key, int n, int lo, int hi, int *out)
{
    const size_t line = r->ev.start_mark.line + 1;
    if (r->ev.type != YAML_SEQUENCE_START_EVENT)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected a list of %d integers", r->path, line, key, n);
    for (int i = 0;; i++) {
        int rc = yreader_next(r);
        if (rc) return rc;
        if (r->ev.type == YAML_SEQUENCE_END_EVENT) {
            if (i != n) break;
            return STATUS_OK;
        }
        if (i >= n) break;
        rc = parse_int(r, key, lo, hi, &out[i]);
        if (rc) return rc;
    }
    return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected a list of exactly %d integers", r->path, line, key, n);
}

/* A flow or block sequence of 1..3 finite numbers; *n gets the count. */
static int parse_float_list(struct yreader *r, const char *key, float *out, int *n)
{
    const size_t line = r->ev.start_mark.line + 1;
    if (r->ev.type != YAML_SEQUENCE_START_EVENT)
        return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected a list of one number per channel", r->path, line, key);
    for (*n = 0;; (*n)++) {
        int rc = yreader_next(r);
        if (rc) return rc;
        if (r->ev.type == YAML_SEQUENCE_END_EVENT) return *n ? STATUS_OK : status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': empty list", r->path, line, key);
        const char *s = r->ev.type == YAML_SCALAR_EVENT ? (const char *)r->ev.data.scalar.value : "";
        char *end;
        errno = 0;
        const double v = strtod(s, &end);
        if (*n >= 3 || r->ev.type != YAML_SCALAR_EVENT || errno || end == s || *end || !isfinite(v) || fabs(v) > 1e6)
            return status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s': expected 1 or 3 finite numbers, got '%s' as value %d", r->path,
                                line, key, s, *n + 1);
        out[*n] = (float)v;
    }
}

static int config_read_yaml(const char *path, struct resnet_config *cfg)
{
    FILE *f = fopen(path, "rb");
    if (!f) return status_error(STATUS_IO, "%s: cannot open model file: %s", path, strerror(errno));
    const int limits = yaml_check_limits(&f, path, "model file");
    if (limits) {
        fclose(f);
        return limits;
    }
    struct yreader r = { .path = path };
    yaml_parser_initialize(&r.parser);
    yaml_parser_set_input_file(&r.parser, f);
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
    int rc, in_map = 0;

    /* Stream start, document start, then one mapping of scalar keys. */
    while (!(rc = yreader_next(&r))) {
        if (r.ev.type == YAML_MAPPING_START_EVENT) { in_map = 1; break; }
        if (r.ev.type == YAML_STREAM_END_EVENT || r.ev.type == YAML_SCALAR_EVENT || r.ev.type == YAML_SEQUENCE_START_EVENT) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: expected a mapping of model keys", path, r.ev.start_mark.line + 1);
            break;
        }
    }
    while (!rc && in_map) {
        if ((rc = yreader_next(&r))) break;
        if (r.ev.type == YAML_MAPPING_END_EVENT) break;
        const size_t line = r.ev.start_mark.line + 1;
        if (r.ev.type != YAML_SCALAR_EVENT) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: expected a key", path, line);
            break;
        }
        int k = 0;
        while (k < K_COUNT && strcmp(keys[k], (const char *)r.ev.data.scalar.value) != 0) k++;
        if (k == K_COUNT) {
            rc = status_error(STATUS_BAD_INPUT,
                              "%s:%zu: unknown key '%s' (expected name, block, layers, width, stem, in_channels, classes, input, "
                              "resize, crop, mean, std, interpolation)",
                              path, line, (const char *)r.ev.data.scalar.value);
            break;
        }
        if (seen[k]) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: key '%s' given twice", path, line, keys[k]);
            break;
        }
        seen[k] = 1;
        if ((rc = yreader_next(&r))) break;
        int v = 0;
        switch (k) {
        case K_NAME:
            if (r.ev.type != YAML_SCALAR_EVENT || r.ev.data.scalar.length == 0 ||
                r.ev.data.scalar.length >= sizeof cfg->name)
                rc = status_error(STATUS_BAD_INPUT, "%s:%zu: key 'name': expected a string of 1..63 characters", path,
                                  line);
            else
                memcpy(cfg->name, r.ev.data.scalar.value, r.ev.data.scalar.length + 1);
            break;
        case K_BLOCK: rc = parse_enum(&r, "block", block_names, RESNET_BLOCK_COUNT, &v); cfg->block = (enum resnet_block)v; break;
        case K_STEM: rc = parse_enum(&r, "stem", stem_names, RESNET_STEM_COUNT, &v); cfg->stem = (enum resnet_stem)v; break;
        case K_LAYERS: rc = parse_int_list(&r, "layers", 4, 1, 64, cfg->layers); break;
        case K_WIDTH: rc = parse_int(&r, "width", 1, 1024, &cfg->width); break;
        case K_IN_CHANNELS: rc = parse_int(&r, "in_channels", 1, 64, &cfg->in_channels); break;
        case K_CLASSES: rc = parse_int(&r, "classes", 1, 100000, &cfg->n_classes); break;
        case K_INPUT: {
            int hw[2];
            rc = parse_int_list(&r, "input", 2, 1, 4096, hw);
            cfg->in_h = hw[0];
            cfg->in_w = hw[1];
            break;
        }
        case K_RESIZE: rc = parse_int(&r, "resize", 0, 8192, &pre.resize); break;
        case K_CROP:
            crop_line = line;
            if (r.ev.type == YAML_SCALAR_EVENT) {
                rc = parse_int(&r, "crop", 1, 4096, &crop_hw[0]);
                crop_hw[1] = crop_hw[0];
            } else {
                rc = parse_int_list(&r, "crop", 2, 1, 4096, crop_hw);
            }
            break;
        case K_MEAN: mean_line = line; rc = parse_float_list(&r, "mean", pre.mean, &n_mean); break;
        case K_STD: std_line = line; rc = parse_float_list(&r, "std", pre.std, &n_std); break;
        case K_INTERP: rc = parse_enum(&r, "interpolation", image_interp_names, IMAGE_INTERP_COUNT, &v); pre.interp = (enum image_interp)v; break;
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
    if (r.have_ev) yaml_event_delete(&r.ev);
    yaml_parser_delete(&r.parser);
    fclose(f);
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
