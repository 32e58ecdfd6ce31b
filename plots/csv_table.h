/* csv_table.h — reading and writing the result tables (points.csv, front.csv) as RFC 4180 CSV:
 * fields separated by commas, a field holding a comma, a double quote, CR or LF is enclosed in
 * double quotes with inner quotes doubled; rows end in LF (CRLF accepted on input). The first
 * row is the header. Both the report writer (search/report.c) and the plots (plots.c) use this,
 * so the two cannot disagree on quoting. */
#ifndef RN_CSV_TABLE_H
#define RN_CSV_TABLE_H

#include "strbuf.h"

#include <stddef.h>

struct csv_table {
    int n_cols;         /* columns of the header */
    int n_rows;         /* data rows (header excluded) */
    char **header;      /* [n_cols] */
    char **cell;        /* [n_rows * n_cols], row-major; NUL-terminated, unquoted */
    size_t *line;       /* [n_rows] the file line where each row starts (for messages) */
};

/* Reads the CSV file at path. Every row must have as many fields as the header; a quoted field
 * may span lines. Errors: STATUS_IO (cannot open/read), STATUS_BAD_INPUT naming file:line (an
 * unterminated quote, a quote inside an unquoted field, a row with the wrong number of fields,
 * an empty file), STATUS_NOMEM. On failure *t is zeroed. */
int csv_table_read(const char *path, struct csv_table *t);

/* The index of the column named name, or -1. */
int csv_table_col(const struct csv_table *t, const char *name);

/* Cell (row, col) of the data rows. */
const char *csv_table_get(const struct csv_table *t, int row, int col);

/* Frees the table and zeroes it; NULL and zeroed tables are no-ops. */
void csv_table_free(struct csv_table *t);

/* Appends s as one CSV field, quoted only when it must be. */
void csv_put_field(struct strbuf *b, const char *s);

#endif
