/* db.h — the results store of a search run (issue 7, SPEC §7): every evaluation, finished or
 * not yet reported, in one SQLite database, results/RUN/results.db.
 *
 * One row per evaluation, keyed by a hash of everything that makes it distinct (model weights,
 * the resolved compression plan, data split, number of images, workflow). Each insert is its own
 * transaction, committed before db_insert returns, so a run killed at any moment (kill -9) loses
 * at most the evaluation in flight; `--resume` looks every evaluation up by key first and
 * recomputes nothing that finished. The database is opened in exclusive locking mode, so a second
 * process cannot write into the same run.
 *
 * The run's arguments are kept in a small key/value table (db_meta_*) so that a resume with
 * different arguments is refused instead of mixing two searches. */
#ifndef RN_DB_H
#define RN_DB_H

#include "eval_metrics.h"

#include <stddef.h>
#include <stdint.h>

#define DB_FILE "results.db"
#define DB_HASH_LEN 16

/* 64-bit FNV-1a, chained: start with DB_FNV_OFFSET and feed pieces. Not collision-resistant, but
 * among n evaluations two collide with probability about n^2 / 2^65 (below 1e-12 for thousands). */
#define DB_FNV_OFFSET 0xcbf29ce484222325ull
uint64_t db_fnv1a(uint64_t h, const void *data, size_t n);
/* h as 16 lowercase hex digits and a NUL. */
void db_hex(uint64_t h, char out[DB_HASH_LEN + 1]);

/* One evaluation: a compressed candidate on the first n_images of a split. */
struct db_eval {
    int64_t id;                     /* row id, set by db_insert and db_find */
    char key[DB_HASH_LEN + 1];      /* the evaluation's identity (see above) */
    char config_hash[DB_HASH_LEN + 1];
    char split[8];                  /* val | test */
    int64_t n_images;
    char workflow[16];              /* ptq | calib | finetune */
    char stage[16];                 /* global | sensitivity | mixed | nsga2 | baseline | final */
    char name[96];                  /* short human label */
    char config[256];               /* the config file, relative to the run directory */
    EVAL_METRICS_MEMBER;            /* correct, lost, gained, loss, bytes, latency_ms (NaN: no device
                                     * model), compress_seconds, eval_seconds */
};

struct db;

/* Opens (create != 0: creates, with its tables) the database at path. Statuses: STATUS_IO naming
 * the path and SQLite's reason (missing when create == 0, not a database, locked by another
 * process), STATUS_NOMEM. */
int db_open(const char *path, int create, struct db **out);
void db_close(struct db *db);   /* NULL is a no-op */

/* Looks key up: *found = 1 and *out filled, or *found = 0. STATUS_IO on a database error. */
int db_find(struct db *db, const char *key, struct db_eval *out, int *found);

/* Inserts e (its key must not be present: STATUS_BAD_INPUT otherwise) and makes it durable;
 * sets e->id. STATUS_IO on a database error. */
int db_insert(struct db *db, struct db_eval *e);

/* Number of rows, in total and for one stage (stage NULL: all). */
int db_count(struct db *db, const char *stage, int64_t *n);

/* Every row in insertion order, malloc'd (*rows NULL and *n 0 when empty). */
int db_all(struct db *db, struct db_eval **rows, int *n);

/* Run arguments: get copies the value into out (size n) and sets *found; set inserts or replaces. */
int db_meta_get(struct db *db, const char *key, char *out, size_t n, int *found);
int db_meta_set(struct db *db, const char *key, const char *value);

#endif
