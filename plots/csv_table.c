/* csv_table.c — the RFC 4180 reader and field writer of csv_table.h. The whole file is read into
 * memory (result tables are kilobytes to a few megabytes) and parsed by one state machine that
 * copies each field, unquoted, into its own string. */
#include "csv_table.h"

#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void csv_put_field(struct strbuf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        strbuf_str(b, s);
        return;
    }
    strbuf_put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"') strbuf_put(b, "\"", 1);
        strbuf_put(b, p, 1);
    }
    strbuf_put(b, "\"", 1);
}

/* Growing list of strings (fields of the whole file, row after row). */
struct fields {
    char **v;
    size_t n, cap;
};

static int fields_push(struct fields *f, const char *s, size_t len)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        char **v = realloc(f->v, cap * sizeof *v);
        if (!v) return 0;
        f->v = v;
        f->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return 0;
    memcpy(c, s, len);
    c[len] = '\0';
    f->v[f->n++] = c;
    return 1;
}

static char *read_all(const char *path, size_t *len, int *rc)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        *rc = status_error(STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct strbuf b = { 0 };
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) strbuf_put(&b, chunk, got);
    const int err = ferror(fp);
    fclose(fp);
    if (err) {
        free(b.p);
        *rc = status_error(STATUS_IO, "%s: read error", path);
        return NULL;
    }
    if (b.oom) {
        free(b.p);
        *rc = status_error(STATUS_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    *len = b.len;
    if (!b.p) b.p = calloc(1, 1);
    return b.p;
}

int csv_table_read(const char *path, struct csv_table *t)
{
    memset(t, 0, sizeof *t);
    int rc = STATUS_OK;
    size_t len = 0;
    char *text = read_all(path, &len, &rc);
    if (!text) return rc;

    struct fields f = { 0 };
    struct strbuf cur = { 0 };
    size_t *row_line = NULL, n_row_alloc = 0;
    int n_rows_total = 0, n_cols = -1, fields_in_row = 0;
    size_t line = 1, row_start_line = 1;
    size_t i = 0;
    if (len == 0) {
        rc = status_error(STATUS_BAD_INPUT, "%s:1: empty file (expected a CSV header row)", path);
        goto fail;
    }
    while (i < len) {
        /* One field. */
        cur.len = 0;
        if (cur.p) cur.p[0] = '\0';
        if (text[i] == '"') {
            const size_t open_line = line;
            i++;
            for (;;) {
                if (i >= len) {
                    rc = status_error(STATUS_BAD_INPUT, "%s:%zu: a quoted field is never closed", path, open_line);
                    goto fail;
                }
                if (text[i] == '"') {
                    if (i + 1 < len && text[i + 1] == '"') {
                        strbuf_put(&cur, "\"", 1);
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (text[i] == '\n') line++;
                strbuf_put(&cur, &text[i], 1);
                i++;
            }
            if (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                rc = status_error(STATUS_BAD_INPUT, "%s:%zu: text after a closing quote (expected a comma or the end of the row)",
                                  path, line);
                goto fail;
            }
        } else {
            const size_t s = i;
            while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                if (text[i] == '"') {
                    rc = status_error(STATUS_BAD_INPUT, "%s:%zu: a double quote inside an unquoted field (quote the whole field)",
                                      path, line);
                    goto fail;
                }
                i++;
            }
            strbuf_put(&cur, text + s, i - s);
        }
        if (cur.oom || !fields_push(&f, cur.p ? cur.p : "", cur.len)) {
            rc = status_error(STATUS_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        fields_in_row++;
        /* What ends the field: a comma (another field follows), a row end, or the file end. */
        int row_end = 0;
        if (i >= len) {
            row_end = 1;
        } else if (text[i] == ',') {
            i++;
            if (i >= len) {   /* "a,b," at the very end: one more, empty field */
                if (!fields_push(&f, "", 0)) {
                    rc = status_error(STATUS_NOMEM, "%s: out of memory", path);
                    goto fail;
                }
                fields_in_row++;
                row_end = 1;
            }
        } else {
            if (text[i] == '\r') i++;
            if (i < len && text[i] == '\n') i++;
            line++;
            row_end = 1;
        }
        if (row_end) {
            if (n_cols < 0) {
                n_cols = fields_in_row;
            } else if (fields_in_row != n_cols) {
                rc = status_error(STATUS_BAD_INPUT, "%s:%zu: %d fields, expected %d as in the header", path,
                                  row_start_line, fields_in_row, n_cols);
                goto fail;
            } else {
                if ((size_t)n_rows_total == n_row_alloc) {
                    n_row_alloc = n_row_alloc ? n_row_alloc * 2 : 64;
                    size_t *nl = realloc(row_line, n_row_alloc * sizeof *nl);
                    if (!nl) {
                        rc = status_error(STATUS_NOMEM, "%s: out of memory", path);
                        goto fail;
                    }
                    row_line = nl;
                }
                row_line[n_rows_total++] = row_start_line;
            }
            fields_in_row = 0;
            row_start_line = line;
        }
    }
    t->n_cols = n_cols;
    t->n_rows = n_rows_total;
    t->header = f.v;
    t->cell = f.v + n_cols;
    t->line = row_line;
    free(cur.p);
    free(text);
    return STATUS_OK;
fail:
    for (size_t k = 0; k < f.n; k++) free(f.v[k]);
    free(f.v);
    free(row_line);
    free(cur.p);
    free(text);
    return rc;
}

int csv_table_col(const struct csv_table *t, const char *name)
{
    for (int c = 0; c < t->n_cols; c++)
        if (!strcmp(t->header[c], name)) return c;
    return -1;
}

const char *csv_table_get(const struct csv_table *t, int row, int col)
{
    return t->cell[(size_t)row * (size_t)t->n_cols + (size_t)col];
}

void csv_table_free(struct csv_table *t)
{
    if (!t || !t->header) {
        if (t) memset(t, 0, sizeof *t);
        return;
    }
    const size_t n = (size_t)t->n_cols * (size_t)(t->n_rows + 1);
    for (size_t k = 0; k < n; k++) free(t->header[k]);
    free(t->header);
    free(t->line);
    memset(t, 0, sizeof *t);
}
