/* yaml_load.c — limits, then libyaml, then our document tree (see yaml_load.h). The only file
 * that includes <yaml.h>: readers see struct ynode, so a libyaml upgrade or a change of parser
 * touches one file. Does not implement tags (a "!!int" is kept as its text) or merge keys. */
#include "yaml_load.h"

#include "status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static int syntax_error(const yaml_parser_t *p, const char *path, const char *what)
{
    return status_error(STATUS_BAD_INPUT, "%s:%zu: %s is not valid YAML (YAML syntax error: %s)", path,
                        p->problem_mark.line + 1, what, p->problem ? p->problem : "unknown");
}

static int too_large(const char *path, const char *what, long size)
{
    return status_error(STATUS_BAD_INPUT, "%s: %s of %ld bytes is over the limit of %ld bytes for YAML files", path, what,
                        size, YAML_MAX_BYTES);
}

/* A stream that cannot seek (a pipe, /dev/stdin) is read once into a temporary file, up to one
 * byte past the limit, so that it can be read twice. */
static int make_seekable(FILE **fp, const char *path, const char *what)
{
    FILE *t = tmpfile();
    if (!t) return status_error(STATUS_IO, "%s: cannot buffer %s: no temporary file", path, what);
    char buf[1 << 16];
    long total = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, *fp)) > 0) {
        total += (long)n;
        if (total > YAML_MAX_BYTES) {
            fclose(t);
            return too_large(path, what, total);
        }
        if (fwrite(buf, 1, n, t) != n) {
            fclose(t);
            return status_error(STATUS_IO, "%s: cannot buffer %s", path, what);
        }
    }
    if (ferror(*fp)) {
        fclose(t);
        return status_error(STATUS_IO, "%s: cannot read %s", path, what);
    }
    fclose(*fp);
    *fp = t;
    return STATUS_OK;
}

int yaml_check_limits(FILE **fp, const char *path, const char *what)
{
    int rc = STATUS_OK;
    if (fseek(*fp, 0, SEEK_END) != 0 && ((rc = make_seekable(fp, path, what)) || fseek(*fp, 0, SEEK_END) != 0))
        return rc ? rc : status_error(STATUS_IO, "%s: cannot read %s", path, what);
    FILE *f = *fp;
    const long size = ftell(f);
    rewind(f);
    if (size < 0) return status_error(STATUS_IO, "%s: cannot read %s", path, what);
    if (size > YAML_MAX_BYTES) return too_large(path, what, size);
    /* Events arrive as the scanner reaches them, so stopping at the first level too deep reads
     * only that far: a deep file costs no more than a legal one. */
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return status_error(STATUS_NOMEM, "%s: out of memory", path);
    yaml_parser_set_input_file(&p, f);
    int depth = 0;
    rc = STATUS_OK;
    for (;;) {
        yaml_event_t ev;
        /* A syntax error is the reader's to report, in its own words, when it loads. */
        if (!yaml_parser_parse(&p, &ev)) break;
        const yaml_event_type_t type = ev.type;
        const size_t line = ev.start_mark.line + 1;
        yaml_event_delete(&ev);
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) depth++;
        if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) depth--;
        if (depth > YAML_MAX_DEPTH) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: %s nested deeper than %d levels (the limit for YAML files)", path,
                              line, what, YAML_MAX_DEPTH);
            break;
        }
        if (type == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&p);
    rewind(f);
    return rc;
}

struct ydoc {
    yaml_document_t doc;         /* owns the scalars' text */
    struct ynode *node;          /* [n_nodes], in libyaml's node order (its id - 1) */
    const struct ynode **link;   /* every item, key and value pointer, one block */
};

void ydoc_free(struct ydoc *d)
{
    if (!d) return;
    yaml_document_delete(&d->doc);
    free(d->node);
    free(d->link);
    free(d);
}

const struct ynode *ydoc_root(const struct ydoc *d) { return d->node; }

/* libyaml's nodes, by id, become ours: the same array order, children as pointers. */
static int ydoc_build(struct ydoc *d, const char *path)
{
    yaml_document_t *doc = &d->doc;
    const size_t n_nodes = (size_t)(doc->nodes.top - doc->nodes.start);
    if (!n_nodes) return STATUS_OK;
    size_t n_links = 0;
    for (yaml_node_t *y = doc->nodes.start; y < doc->nodes.top; y++) {
        if (y->type == YAML_SEQUENCE_NODE) n_links += (size_t)(y->data.sequence.items.top - y->data.sequence.items.start);
        if (y->type == YAML_MAPPING_NODE) n_links += 2 * (size_t)(y->data.mapping.pairs.top - y->data.mapping.pairs.start);
    }
    d->node = calloc(n_nodes, sizeof *d->node);
    d->link = calloc(n_links ? n_links : 1, sizeof *d->link);
    if (!d->node || !d->link) return status_error(STATUS_NOMEM, "%s: out of memory for %zu YAML nodes", path, n_nodes);
    const struct ynode **l = d->link;
    for (size_t i = 0; i < n_nodes; i++) {
        const yaml_node_t *y = &doc->nodes.start[i];
        struct ynode *o = &d->node[i];
        o->line = y->start_mark.line + 1;
        switch (y->type) {
        case YAML_SEQUENCE_NODE: {
            o->kind = YNODE_SEQ;
            o->n = (int)(y->data.sequence.items.top - y->data.sequence.items.start);
            o->item = l;
            for (int j = 0; j < o->n; j++) *l++ = &d->node[y->data.sequence.items.start[j] - 1];
            break;
        }
        case YAML_MAPPING_NODE: {
            o->kind = YNODE_MAP;
            o->n = (int)(y->data.mapping.pairs.top - y->data.mapping.pairs.start);
            o->key = l;
            for (int j = 0; j < o->n; j++) *l++ = &d->node[y->data.mapping.pairs.start[j].key - 1];
            o->val = l;
            for (int j = 0; j < o->n; j++) *l++ = &d->node[y->data.mapping.pairs.start[j].value - 1];
            break;
        }
        default:
            o->kind = YNODE_SCALAR;
            o->str = (const char *)y->data.scalar.value;
            o->len = y->data.scalar.length;
            o->plain = y->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            break;
        }
    }
    return STATUS_OK;
}

int ydoc_load(FILE **fp, const char *path, const char *what, struct ydoc **out)
{
    *out = NULL;
    int rc = yaml_check_limits(fp, path, what);
    if (rc) return rc;
    struct ydoc *d = calloc(1, sizeof *d);
    if (!d) return status_error(STATUS_NOMEM, "%s: out of memory", path);
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        free(d);
        return status_error(STATUS_NOMEM, "%s: out of memory", path);
    }
    yaml_parser_set_input_file(&p, *fp);
    if (!yaml_parser_load(&p, &d->doc)) {
        rc = syntax_error(&p, path, what);
        yaml_parser_delete(&p);
        free(d);
        return rc;
    }
    yaml_document_t extra;
    if (!yaml_parser_load(&p, &extra)) {
        rc = syntax_error(&p, path, what);
    } else {
        if (yaml_document_get_root_node(&extra))
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: a second YAML document; a %s is one document", path,
                              extra.start_mark.line + 1, what);
        yaml_document_delete(&extra);
    }
    yaml_parser_delete(&p);
    /* libyaml's root is its first node, so ours is node[0]. */
    if (!rc) rc = ydoc_build(d, path);
    if (rc) ydoc_free(d);
    else *out = d;
    return rc;
}

int ydoc_read(const char *path, const char *what, struct ydoc **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return status_error(STATUS_IO, "%s: cannot open %s: %s", path, what, strerror(errno));
    const int rc = ydoc_load(&f, path, what, out);
    fclose(f);
    return rc;
}

int ynode_is_null(const struct ynode *n)
{
    if (n->kind != YNODE_SCALAR || !n->plain) return 0;
    const char *s = n->str;
    return !strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

const char *ynode_kind_name(const struct ynode *n)
{
    static const char *names[] = { "a scalar", "a list", "a mapping" };
    _Static_assert(sizeof names / sizeof *names == YNODE_KIND_COUNT, "ynode kind names");
    return names[n->kind];
}
