/* space.c — strict reader of search-space YAML files (see space.h), over model/yaml_load.h's
 * document tree so that every node keeps its line for the error messages. It checks shape and
 * ranges only; what the search makes of the choices is the stages' business (tune_*.c). */
#include "space.h"

#include "name_regex.h"
#include "status.h"
#include "yaml_load.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct space_reader {
    const char *path;
};

static int sp_err(const struct space_reader *r, const struct ynode *n, const char *key, const char *fmt, const char *value,
                  const char *expected)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, value);
    return status_error(STATUS_BAD_INPUT, "%s:%zu: %s: %s (expected %s)", r->path, n->line, key[0] ? key : "(top level)", msg, expected);
}

static const char *sp_scalar(const struct ynode *n) { return n->kind == YNODE_SCALAR ? n->str : NULL; }

static int sp_bool(const struct space_reader *r, const struct ynode *n, const char *key, int *out)
{
    const char *v = sp_scalar(n);
    if (v && (strcmp(v, "true") == 0 || strcmp(v, "on") == 0)) { *out = 1; return STATUS_OK; }
    if (v && (strcmp(v, "false") == 0 || strcmp(v, "off") == 0)) { *out = 0; return STATUS_OK; }
    return sp_err(r, n, key, "'%s' is not a boolean", v ? v : ynode_kind_name(n), "true or false");
}

static int sp_int(const struct space_reader *r, const struct ynode *n, const char *key, long lo, long hi, int *out)
{
    const char *v = sp_scalar(n);
    char *end = NULL;
    errno = 0;
    const long x = v ? strtol(v, &end, 10) : 0;
    char expected[64];
    snprintf(expected, sizeof expected, "an integer in %ld..%ld", lo, hi);
    if (!v || !*v || *end || errno || x < lo || x > hi) return sp_err(r, n, key, "'%s' is out of range", v ? v : ynode_kind_name(n), expected);
    *out = (int)x;
    return STATUS_OK;
}

static int sp_fraction(const struct space_reader *r, const struct ynode *n, const char *key, double *out)
{
    const char *v = sp_scalar(n);
    char *end = NULL;
    errno = 0;
    const double x = v ? strtod(v, &end) : NAN;
    if (!v || !*v || *end || errno || !(x > 0.0 && x < 1.0))
        return sp_err(r, n, key, "'%s' is out of range", v ? v : ynode_kind_name(n), "a number with 0 < s < 1");
    *out = x;
    return STATUS_OK;
}

/* A list node, each item checked by `item`; duplicates are errors. */
static int sp_list(const struct space_reader *r, const struct ynode *n, const char *key, int max, int *count)
{
    if (n->kind != YNODE_SEQ) return sp_err(r, n, key, "got %s", ynode_kind_name(n), "a list such as [2, 4]");
    const int len = (int)(n->n);
    if (len > max) {
        char v[16];
        snprintf(v, sizeof v, "%d", len);
        char expected[32];
        snprintf(expected, sizeof expected, "at most %d", max);
        return sp_err(r, n, key, "%s items", v, expected);
    }
    *count = len;
    return STATUS_OK;
}

static int sp_dup(const struct space_reader *r, const struct ynode *item, const char *key, int dup)
{
    return dup ? sp_err(r, item, key, "'%s' appears twice", sp_scalar(item) ? sp_scalar(item) : "?", "each value once") : STATUS_OK;
}

static int sp_bits_list(const struct space_reader *r, const struct ynode *n, const char *key, int *bits, int *count)
{
    int rc = sp_list(r, n, key, SPACE_MAX_CHOICES, count);
    for (int i = 0; !rc && i < *count; i++) {
        const struct ynode *it = n->item[i];
        if ((rc = sp_int(r, it, key, 1, 8, &bits[i]))) break;
        for (int j = 0; j < i && !rc; j++) rc = sp_dup(r, it, key, bits[j] == bits[i]);
    }
    return rc;
}

static int sp_sparsity_list(const struct space_reader *r, const struct ynode *n, const char *key, double *s, int *count)
{
    int rc = sp_list(r, n, key, SPACE_MAX_CHOICES, count);
    for (int i = 0; !rc && i < *count; i++) {
        const struct ynode *it = n->item[i];
        if ((rc = sp_fraction(r, it, key, &s[i]))) break;
        for (int j = 0; j < i && !rc; j++) rc = sp_dup(r, it, key, s[j] == s[i]);
    }
    return rc;
}

/* Walks a mapping: for each pair calls visit(key, value); unknown and duplicate keys are errors. */
typedef int (*sp_visit)(const struct space_reader *r, const char *key, const struct ynode *v, struct space *s);

static int sp_map(const struct space_reader *r, const struct ynode *n, const char *where, const char *const *keys, sp_visit visit,
                  struct space *s)
{
    if (n->kind != YNODE_MAP) return sp_err(r, n, where, "got %s", ynode_kind_name(n), "a mapping");
    unsigned seen = 0;
    for (int p_i = 0; p_i < n->n; p_i++) {
        const struct ynode *k = n->key[p_i], *v = n->val[p_i];
        const char *name = sp_scalar(k);
        int idx = -1;
        for (int i = 0; name && keys[i]; i++)
            if (strcmp(keys[i], name) == 0) idx = i;
        char allowed[256] = "";
        for (int i = 0; keys[i]; i++) {
            strncat(allowed, i ? ", " : "one of ", sizeof allowed - strlen(allowed) - 1);
            strncat(allowed, keys[i], sizeof allowed - strlen(allowed) - 1);
        }
        if (idx < 0) return sp_err(r, k, where, "unknown key '%s'", name ? name : ynode_kind_name(k), allowed);
        if (seen & (1u << idx)) return sp_err(r, k, where, "key '%s' appears twice", name, "each key once");
        seen |= 1u << idx;
        char full[320];
        snprintf(full, sizeof full, "%.100s%s%.100s", where, where[0] ? "." : "", name);
        const int rc = visit(r, full, v, s);
        if (rc) return rc;
    }
    return STATUS_OK;
}

static int sp_visit_pal(const struct space_reader *r, const char *key, const struct ynode *v, struct space *s)
{
    if (strstr(key, "n_bits")) return sp_bits_list(r, v, key, s->n_bits, &s->n_n_bits);
    int rc = sp_list(r, v, key, SPACE_MAX_CHOICES, &s->n_group);
    for (int i = 0; !rc && i < s->n_group; i++) {
        const struct ynode *it = v->item[i];
        const char *val = sp_scalar(it);
        if (val && strcmp(val, "per_tensor") == 0) s->group[i] = 0;
        else if (!val || !(val[0] >= '0' && val[0] <= '9'))
            return sp_err(r, it, key, "'%s' is not a granularity", val ? val : ynode_kind_name(it), "per_tensor or a group size such as 16");
        else if ((rc = sp_int(r, it, key, 1, 65536, &s->group[i]))) break;
        for (int j = 0; j < i && !rc; j++) rc = sp_dup(r, it, key, s->group[j] == s->group[i]);
    }
    return rc;
}

static int sp_visit_prune(const struct space_reader *r, const char *key, const struct ynode *v, struct space *s)
{
    return sp_sparsity_list(r, v, key, s->sparsity, &s->n_sparsity);
}

static int sp_visit_quant(const struct space_reader *r, const char *key, const struct ynode *v, struct space *s)
{
    return sp_bool(r, v, key, strstr(key, "w8a8") ? &s->w8a8 : &s->w8a16);
}

static int sp_visit_layer(const struct space_reader *r, const char *key, const struct ynode *v, struct space *s)
{
    if (strstr(key, "n_bits")) return sp_bits_list(r, v, key, s->layer_bits, &s->n_layer_bits);
    return sp_sparsity_list(r, v, key, s->layer_sparsity, &s->n_layer_sparsity);
}

static int sp_words(const struct space_reader *r, const struct ynode *v, const char *key, const char *const *words, unsigned *bits)
{
    int count = 0;
    int rc = sp_list(r, v, key, SPACE_MAX_CHOICES, &count);
    char allowed[160] = "";
    for (int i = 0; words[i]; i++) {
        strncat(allowed, i ? ", " : "one of ", sizeof allowed - strlen(allowed) - 1);
        strncat(allowed, words[i], sizeof allowed - strlen(allowed) - 1);
    }
    *bits = 0;
    for (int i = 0; !rc && i < count; i++) {
        const struct ynode *it = v->item[i];
        const char *w = sp_scalar(it);
        int idx = -1;
        for (int j = 0; w && words[j]; j++)
            if (strcmp(words[j], w) == 0) idx = j;
        if (idx < 0) return sp_err(r, it, key, "unknown value '%s'", w ? w : ynode_kind_name(it), allowed);
        if ((rc = sp_dup(r, it, key, (*bits >> idx) & 1))) break;
        *bits |= 1u << idx;
    }
    return rc;
}

static int sp_visit_top(const struct space_reader *r, const char *key, const struct ynode *v, struct space *s)
{
    static const char *const pal_keys[] = { "n_bits", "granularity", NULL };
    static const char *const prune_keys[] = { "sparsity", NULL };
    static const char *const quant_keys[] = { "w8a8", "w8a16", NULL };
    static const char *const layer_keys[] = { "n_bits", "sparsity", NULL };
    static const char *const workflows[] = { "ptq", "calib", "finetune", NULL };
    static const char *const joints[] = { "prune+palettize", "prune+quantize", "palettize+activations", NULL };
    if (strcmp(key, "palettization") == 0) return sp_map(r, v, key, pal_keys, sp_visit_pal, s);
    if (strcmp(key, "pruning") == 0) return sp_map(r, v, key, prune_keys, sp_visit_prune, s);
    if (strcmp(key, "quantization") == 0) return sp_map(r, v, key, quant_keys, sp_visit_quant, s);
    if (strcmp(key, "workflows") == 0) {
        const int rc = sp_words(r, v, key, workflows, &s->workflows);
        if (!rc && !s->workflows) return sp_err(r, v, key, "%s", "an empty list", "at least one of ptq, calib, finetune");
        return rc;
    }
    if (strcmp(key, "joint") == 0) return sp_words(r, v, key, joints, &s->joint);
    if (strcmp(key, "per_layer") == 0) {
        if (v->kind == YNODE_SCALAR) {
            const int rc = sp_bool(r, v, key, &s->per_layer);
            if (!rc && s->per_layer) return sp_err(r, v, key, "'%s' needs its choices", "true", "false or a mapping with n_bits / sparsity");
            return rc;
        }
        s->per_layer = 1;
        return sp_map(r, v, key, layer_keys, sp_visit_layer, s);
    }
    /* leave_alone */
    int rc = sp_list(r, v, key, SPACE_MAX_LEAVE, &s->n_leave_alone);
    for (int i = 0; !rc && i < s->n_leave_alone; i++) {
        const struct ynode *it = v->item[i];
        const char *pat = sp_scalar(it);
        char why[128];
        regex_t re;
        if (!pat || strlen(pat) >= sizeof s->leave_alone[i])
            return sp_err(r, it, key, "'%s' is not a layer pattern", pat ? pat : ynode_kind_name(it), "a regex under 64 characters");
        if (name_regex_compile(&re, pat, why, sizeof why)) {
            char bad[256];
            snprintf(bad, sizeof bad, "'%s' is not a usable regex: %s", pat, why);
            return sp_err(r, it, key, "%s", bad, "a POSIX extended regex such as layer4\\..*");
        }
        regfree(&re);
        snprintf(s->leave_alone[i], sizeof s->leave_alone[i], "%s", pat);
    }
    return rc;
}

int space_load(const char *path, struct space *s)
{
    static const char *const top_keys[] = { "palettization", "pruning", "quantization", "workflows", "joint", "per_layer",
                                            "leave_alone", NULL };
    memset(s, 0, sizeof *s);
    struct ydoc *doc = NULL;
    int rc = ydoc_read(path, "search space", &doc);
    if (rc) return rc;
    struct space_reader r = { path };
    const struct ynode *root = ydoc_root(doc);
    if (!root) {
        rc = status_error(STATUS_BAD_INPUT, "%s:1: the search space is empty (expected a mapping; see configs/spaces/default.yaml)", path);
        goto done;
    }
    s->workflows = SPACE_PTQ;
    if ((rc = sp_map(&r, root, "", top_keys, sp_visit_top, s))) goto done;
    if (!s->n_n_bits && !s->n_sparsity && !s->w8a8 && !s->w8a16) {
        rc = status_error(STATUS_BAD_INPUT, "%s:%zu: the space has no compression choice (expected palettization.n_bits, pruning.sparsity "
                          "or quantization)", path, root->line);
        goto done;
    }
    if (s->n_n_bits && !s->n_group) {
        s->group[0] = 0;   /* per tensor when no granularity is listed */
        s->n_group = 1;
    }
done:
    if (rc) memset(s, 0, sizeof *s);
    ydoc_free(doc);
    return rc;
}

int space_leaves_alone(const struct space *s, const char *name)
{
    for (int i = 0; i < s->n_leave_alone; i++) {
        char why[128];
        regex_t re;
        if (name_regex_compile(&re, s->leave_alone[i], why, sizeof why)) continue;   /* validated at load */
        const int hit = regexec(&re, name, 0, NULL, 0) == 0;
        regfree(&re);
        if (hit) return 1;
    }
    return 0;
}
