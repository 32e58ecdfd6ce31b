/* yaml_load.h — the one strict YAML reading layer: limits first, then libyaml, then a small
 * document tree in which every node keeps its line. Only yaml_load.c sees libyaml's types.
 *
 * libyaml has no bound of its own: 100,000 nested '[' (200 KB) took its loader over 20 s
 * (quadratic in the depth), so every file is first walked as events, stopping at the first level
 * past YAML_MAX_DEPTH, and refused over YAML_MAX_BYTES. Our configs, spaces, device profiles and
 * model files are a few levels deep and a few KB long. A second document is refused: libyaml
 * would silently ignore it, and with it whatever the user meant by it. */
#ifndef RN_YAML_LOAD_H
#define RN_YAML_LOAD_H

#include <stddef.h>
#include <stdio.h>

#define YAML_MAX_DEPTH 64                      /* nested mappings and sequences */
#define YAML_MAX_BYTES ((long)16 * 1024 * 1024)

enum ynode_kind { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP, YNODE_KIND_COUNT };

/* One node of a loaded document; plain data owned by its struct ydoc. An alias is the node it
 * names, so two parents may share a child. */
struct ynode {
    enum ynode_kind kind;
    size_t line;                      /* 1-based line where the node starts */
    /* YNODE_SCALAR: the text (NUL-terminated, len bytes) and whether it was written without
     * quotes: only a plain scalar can mean null, a boolean or a number. */
    const char *str;
    size_t len;
    int plain;
    /* YNODE_SEQ: n items in item[]; YNODE_MAP: n pairs in key[] and val[], in file order. */
    int n;
    const struct ynode *const *item;
    const struct ynode *const *key;
    const struct ynode *const *val;
};

struct ydoc;   /* a loaded document: the tree and the text it points into */

/* Checks the open file *fp (path and `what`, e.g. "compression config", for messages) against
 * both limits and rewinds it. STATUS_BAD_INPUT names the limit, with the line where the depth
 * was passed. A syntax error before that is left for ydoc_load to report. A stream that cannot
 * seek (a pipe) is replaced by a temporary copy: *fp may change, and the caller closes whatever
 * *fp is afterwards. */
int yaml_check_limits(FILE **fp, const char *path, const char *what);

/* Checks *fp (as yaml_check_limits), then loads its one document into *out (the caller frees it
 * with ydoc_free; *out is NULL on failure). Syntax errors are "PATH:LINE: WHAT is not valid YAML
 * (YAML syntax error: ...)"; a second document "PATH:LINE: a second YAML document; a WHAT is one
 * document". STATUS_BAD_INPUT, STATUS_NOMEM or STATUS_IO. */
int ydoc_load(FILE **fp, const char *path, const char *what, struct ydoc **out);

/* Opens path and ydoc_load()s it; a file that cannot be opened is STATUS_IO "PATH: cannot open
 * WHAT: REASON". */
int ydoc_read(const char *path, const char *what, struct ydoc **out);

/* The top node, or NULL for an empty document (only comments, or nothing). */
const struct ynode *ydoc_root(const struct ydoc *d);

void ydoc_free(struct ydoc *d);   /* NULL is a no-op */

/* YAML's null: a plain "", "~", "null", "Null" or "NULL" (a quoted one is a string). */
int ynode_is_null(const struct ynode *n);

/* "a scalar", "a list" or "a mapping", for messages that say what was found. */
const char *ynode_kind_name(const struct ynode *n);

#endif
