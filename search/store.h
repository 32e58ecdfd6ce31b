/* store.h — the resumable results store of a search run (SPEC §7: every evaluated point is
 * kept; a run killed at any moment resumes with nothing lost).
 *
 * The store is one append-only JSON-lines file, DIR/points.jsonl, one object per evaluated
 * point:
 *   {"key":"cbf29ce484222325","name":"...","stage":"...","top1_val":91.2,"top1_test":null,
 *    "bytes":1234567,"latency_ms":3.5,"seconds":12.0,"config":"..."}
 * Each line is written by a single write() of the whole line, then fsync(). The final newline is
 * the commit mark: a crash or kill -9 can leave at most one unterminated last line, which
 * store_load skips and counts, and which store_open cuts off before appending so that it never
 * ends up in the middle of the file. NaN (not evaluated) is written as null. */
#ifndef RN_STORE_H
#define RN_STORE_H

#include <stddef.h>

#define STORE_POINTS_FILE "points.jsonl"
#define STORE_KEY_LEN 16

/* One evaluated point. Strings are owned by whoever built the struct: store_append only reads
 * them (NULL is written as ""), store_load returns them malloc'd (never NULL) and
 * store_points_free releases them. */
struct store_point {
    char key[STORE_KEY_LEN + 1];  /* store_key_of() of the candidate's canonical text */
    char *name;                   /* a short human label */
    char *config;                 /* the config itself (YAML or a compact per-layer form) */
    char *stage;                  /* which search stage produced it, e.g. "global", "nsga2" */
    double top1_val;              /* percent; NaN if not evaluated */
    double top1_test;             /* percent; NaN if not evaluated */
    size_t bytes;                 /* deployment size */
    double latency_ms;            /* NaN if unknown */
    double seconds;               /* wall time spent evaluating (compressing + testing) */
};

/* Opaque: an open points file of one run directory. */
struct store;

/* The canonical key of a candidate: FNV-1a 64 of config_text as 16 lowercase hex digits plus a
 * NUL in out. Stable across runs and machines. The caller decides what the text holds (the
 * config, and whatever else makes an evaluation distinct: model hash, data split, workflow).
 * FNV is not collision-resistant, but among n candidates two collide with probability about
 * n^2 / 2^65, below 1e-12 for the thousands a search evaluates. */
void store_key_of(const char *config_text, char out[STORE_KEY_LEN + 1]);

/* Opens DIR/points.jsonl for appending. With create != 0, DIR (and missing parents) and the
 * file are created as needed and existing points are kept; with create == 0 both must exist
 * (resuming). An unterminated last line left by a crash is cut off. The file is locked (POSIX
 * record lock) so that a second process cannot append to the same run. On success *out owns the
 * store (store_close). Statuses: STATUS_IO naming the path (cannot create, missing, not a
 * directory, locked by another process), STATUS_NOMEM. */
int store_open(const char *dir, int create, struct store **out);

/* Appends one point as one line and makes it durable before returning. The line is parsed back
 * before it is written, so what store_load would reject never reaches the file. Returns
 * STATUS_OK, STATUS_BAD_INPUT if the key is not 16 lowercase hex digits or a string is not valid
 * UTF-8 (the file is unchanged), STATUS_IO if the write or fsync fails (the file is then cut back
 * to its previous length and the store refuses further appends), STATUS_NOMEM. */
int store_append(struct store *s, const struct store_point *p);

/* Closes the file and frees s; NULL is a no-op. */
void store_close(struct store *s);

/* Reads every committed point of DIR/points.jsonl in file order into a malloc'd array *points of
 * *n entries (NULL and 0 for an empty file; free with store_points_free). *n_skipped is the
 * number of unterminated last lines ignored (0 or 1), for the caller to warn about. A complete
 * line that is not a valid point is an error, not a skip: it is damage a crash cannot cause, and
 * silently dropping it would lose a result. Statuses: STATUS_IO naming the path,
 * STATUS_BAD_INPUT naming the path, the line and the bad field, STATUS_NOMEM. */
int store_load(const char *dir, struct store_point **points, int *n, int *n_skipped);

/* Frees the strings of points[0..n) and the array; NULL is a no-op. */
void store_points_free(struct store_point *points, int n);

/* The index of the last point (the latest evaluation) whose key equals key, or -1. Linear. */
int store_find(const struct store_point *points, int n, const char *key);

/* Writes points[0..n) as CSV (RFC 4180 quoting; a header line; NaN as an empty field) with the
 * columns id,key,name,stage,top1_val,top1_test,bytes,latency_ms,seconds,on_front,config where
 * id is the index and on_front is front_mask[i] (0 for all if front_mask is NULL). Written to
 * PATH.tmp, synced and renamed, so readers see the old file or the new one, never half. Returns
 * STATUS_OK, STATUS_IO naming the path, STATUS_NOMEM. */
int store_write_csv(const struct store_point *points, int n, const unsigned char *front_mask,
                    const char *path);

#endif
