/* yaml_load.h — the one way our readers open a YAML file: limits first, then libyaml.
 *
 * libyaml has no bound of its own: 100,000 nested '[' (200 KB) took its loader over 20 s
 * (quadratic in the depth), so every file is first walked as events, stopping at the first level
 * past YAML_MAX_DEPTH, and refused over YAML_MAX_BYTES. Our configs, spaces, device profiles and
 * model files are a few levels deep and a few KB long. */
#ifndef RN_YAML_LOAD_H
#define RN_YAML_LOAD_H

#include <stdio.h>
#include <yaml.h>

#define YAML_MAX_DEPTH 64                      /* nested mappings and sequences */
#define YAML_MAX_BYTES ((long)16 * 1024 * 1024)

/* Checks the open file *fp (path and `what`, e.g. "compression config", for messages) against
 * both limits and rewinds it. STATUS_BAD_INPUT names the limit, with the line where the depth
 * was passed. A syntax error before that is left for the caller's own load to report. A stream
 * that cannot seek (a pipe) is replaced by a temporary copy: *fp may change, and the caller
 * closes whatever *fp is afterwards. */
int yaml_check_limits(FILE **fp, const char *path, const char *what);

/* Checks f, then loads its document into *doc (the caller deletes it; its root is NULL for an
 * empty file) and refuses a second document, which yaml_parser_load would silently ignore.
 * Syntax errors are "PATH:LINE: YAML syntax error: ...". */
int yaml_load_one(FILE **fp, const char *path, const char *what, yaml_document_t *doc);

#endif
