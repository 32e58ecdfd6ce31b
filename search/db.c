/* db.c — the SQLite results store (see db.h). The only file that sees sqlite3.h.
 *
 * Durability: the default rollback journal with synchronous=FULL, one transaction per insert.
 * A process killed between the journal write and the commit leaves a hot journal that SQLite
 * rolls back on the next open, so a row is either wholly there or absent. NaN (no latency) is
 * stored as NULL. */
#include "db.h"

#include "status.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct db {
    sqlite3 *h;
    char path[512];
    sqlite3_stmt *find, *insert;
};

uint64_t db_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void db_hex(uint64_t h, char out[DB_HASH_LEN + 1])
{
    snprintf(out, DB_HASH_LEN + 1, "%016llx", (unsigned long long)h);
}

static int db_fail(struct db *db, const char *what)
{
    /* SQLite says "disk I/O error" for a full disk or a file-size limit alike; the operating
     * system's reason (ENOSPC, EFBIG, EIO), where SQLite kept it, tells the user what to do. */
    const int err = sqlite3_system_errno(db->h);
    if (err) return status_error(STATUS_IO, "%s: %s: %s (%s)", db->path, what, sqlite3_errmsg(db->h), strerror(err));
    if (sqlite3_extended_errcode(db->h) == SQLITE_IOERR_WRITE)   /* the case without errno: EFBIG */
        return status_error(STATUS_IO, "%s: %s: a write failed (a full disk or a file-size limit; the stored evaluations are kept)", db->path, what);
    return status_error(STATUS_IO, "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

static const char db_schema[] =
    "CREATE TABLE IF NOT EXISTS evals ("
    " id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, config_hash TEXT NOT NULL, split TEXT NOT NULL,"
    " n_images INTEGER NOT NULL, workflow TEXT NOT NULL, stage TEXT NOT NULL, name TEXT NOT NULL,"
    " config TEXT NOT NULL, correct INTEGER NOT NULL, lost INTEGER NOT NULL, gained INTEGER NOT NULL, loss REAL NOT NULL, bytes REAL NOT NULL,"
    " latency_ms REAL, compress_seconds REAL NOT NULL, eval_seconds REAL NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);";

#define DB_COLUMNS "id,key,config_hash,split,n_images,workflow,stage,name,config,correct,loss,bytes,latency_ms,compress_seconds,eval_seconds,lost,gained"

int db_open(const char *path, int create, struct db **out)
{
    *out = NULL;
    struct db *db = calloc(1, sizeof *db);
    if (!db) return status_error(STATUS_NOMEM, "out of memory");
    snprintf(db->path, sizeof db->path, "%s", path);
    const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = STATUS_OK;
    if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
        rc = db->h ? db_fail(db, create ? "cannot create" : "cannot open (missing? resume needs an existing run)")
                   : status_error(STATUS_NOMEM, "out of memory opening %s", path);
        goto fail;
    }
    sqlite3_busy_timeout(db->h, 0);
    /* Exclusive: the first write takes the lock and keeps it until close, so another process
     * resuming the same run fails at once instead of interleaving. BEGIN EXCLUSIVE takes it now. */
    if (sqlite3_exec(db->h, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA synchronous=FULL; BEGIN EXCLUSIVE; COMMIT;", NULL, NULL,
                     NULL) != SQLITE_OK) {
        rc = db_fail(db, "cannot lock the results database (is another rn50-tune using this run?)");
        goto fail;
    }
    if (sqlite3_exec(db->h, db_schema, NULL, NULL, NULL) != SQLITE_OK) { rc = db_fail(db, "cannot create tables"); goto fail; }
    if (sqlite3_prepare_v2(db->h, "SELECT " DB_COLUMNS " FROM evals WHERE key = ?1", -1, &db->find, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db->h,
                           "INSERT INTO evals (key,config_hash,split,n_images,workflow,stage,name,config,correct,loss,bytes,"
                           "latency_ms,compress_seconds,eval_seconds,lost,gained) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)",
                           -1, &db->insert, NULL) != SQLITE_OK) {
        rc = db_fail(db, "not a results database of rn50-tune");
        goto fail;
    }
    *out = db;
    return STATUS_OK;
fail:
    db_close(db);
    return rc;
}

void db_close(struct db *db)
{
    if (!db) return;
    sqlite3_finalize(db->find);
    sqlite3_finalize(db->insert);
    sqlite3_close(db->h);
    free(db);
}

static void db_copy_text(char *dst, size_t n, const unsigned char *src)
{
    snprintf(dst, n, "%s", src ? (const char *)src : "");
}

static void db_row(sqlite3_stmt *s, struct db_eval *e)
{
    memset(e, 0, sizeof *e);
    e->id = sqlite3_column_int64(s, 0);
    db_copy_text(e->key, sizeof e->key, sqlite3_column_text(s, 1));
    db_copy_text(e->config_hash, sizeof e->config_hash, sqlite3_column_text(s, 2));
    db_copy_text(e->split, sizeof e->split, sqlite3_column_text(s, 3));
    e->n_images = sqlite3_column_int64(s, 4);
    db_copy_text(e->workflow, sizeof e->workflow, sqlite3_column_text(s, 5));
    db_copy_text(e->stage, sizeof e->stage, sqlite3_column_text(s, 6));
    db_copy_text(e->name, sizeof e->name, sqlite3_column_text(s, 7));
    db_copy_text(e->config, sizeof e->config, sqlite3_column_text(s, 8));
    e->correct = sqlite3_column_int64(s, 9);
    e->loss = sqlite3_column_double(s, 10);
    e->bytes = sqlite3_column_double(s, 11);
    e->latency_ms = sqlite3_column_type(s, 12) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 12);
    e->compress_seconds = sqlite3_column_double(s, 13);
    e->eval_seconds = sqlite3_column_double(s, 14);
    e->lost = sqlite3_column_int64(s, 15);
    e->gained = sqlite3_column_int64(s, 16);
}

int db_find(struct db *db, const char *key, struct db_eval *out, int *found)
{
    *found = 0;
    sqlite3_reset(db->find);
    sqlite3_bind_text(db->find, 1, key, -1, SQLITE_TRANSIENT);
    const int r = sqlite3_step(db->find);
    if (r == SQLITE_ROW) {
        db_row(db->find, out);
        *found = 1;
    }
    sqlite3_reset(db->find);
    return r == SQLITE_ROW || r == SQLITE_DONE ? STATUS_OK : db_fail(db, "lookup failed");
}

int db_insert(struct db *db, struct db_eval *e)
{
    sqlite3_stmt *s = db->insert;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, e->key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, e->config_hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, e->split, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, e->n_images);
    sqlite3_bind_text(s, 5, e->workflow, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 6, e->stage, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 7, e->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 8, e->config, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 9, e->correct);
    sqlite3_bind_double(s, 10, e->loss);
    sqlite3_bind_double(s, 11, e->bytes);
    if (isnan(e->latency_ms)) sqlite3_bind_null(s, 12);
    else sqlite3_bind_double(s, 12, e->latency_ms);
    sqlite3_bind_double(s, 13, e->compress_seconds);
    sqlite3_bind_double(s, 14, e->eval_seconds);
    sqlite3_bind_int64(s, 15, e->lost);
    sqlite3_bind_int64(s, 16, e->gained);
    const int r = sqlite3_step(s);
    /* The message first: resetting the statement clears the system error it carries. */
    const int rc = r == SQLITE_DONE ? STATUS_OK
                   : r == SQLITE_CONSTRAINT ? status_error(STATUS_BAD_INPUT, "%s: evaluation %s (%s) is already stored", db->path, e->key, e->name)
                                            : db_fail(db, "cannot store an evaluation");
    sqlite3_reset(s);
    if (rc) return rc;
    e->id = sqlite3_last_insert_rowid(db->h);
    return STATUS_OK;
}

int db_count(struct db *db, const char *stage, int64_t *n)
{
    sqlite3_stmt *s = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db->h, stage ? "SELECT count(*) FROM evals WHERE stage = ?1" : "SELECT count(*) FROM evals", -1, &s,
                           NULL) != SQLITE_OK)
        return db_fail(db, "count failed");
    if (stage) sqlite3_bind_text(s, 1, stage, -1, SQLITE_TRANSIENT);
    const int r = sqlite3_step(s);
    if (r == SQLITE_ROW) *n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return r == SQLITE_ROW ? STATUS_OK : db_fail(db, "count failed");
}

int db_all(struct db *db, struct db_eval **rows, int *n)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db->h, "SELECT " DB_COLUMNS " FROM evals ORDER BY id", -1, &s, NULL) != SQLITE_OK)
        return db_fail(db, "read failed");
    int cap = 0, rc = STATUS_OK, r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            struct db_eval *p = realloc(*rows, sizeof *p * (size_t)cap);
            if (!p) { rc = status_error(STATUS_NOMEM, "out of memory"); break; }
            *rows = p;
        }
        db_row(s, &(*rows)[(*n)++]);
    }
    if (!rc && r != SQLITE_DONE) rc = db_fail(db, "read failed");
    sqlite3_finalize(s);
    if (rc) {
        free(*rows);
        *rows = NULL;
        *n = 0;
    }
    return rc;
}

int db_meta_get(struct db *db, const char *key, char *out, size_t n, int *found)
{
    sqlite3_stmt *s = NULL;
    *found = 0;
    if (n) out[0] = 0;
    if (sqlite3_prepare_v2(db->h, "SELECT value FROM meta WHERE key = ?1", -1, &s, NULL) != SQLITE_OK)
        return db_fail(db, "read failed");
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    const int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        db_copy_text(out, n, sqlite3_column_text(s, 0));
        *found = 1;
    }
    sqlite3_finalize(s);
    return r == SQLITE_ROW || r == SQLITE_DONE ? STATUS_OK : db_fail(db, "read failed");
}

int db_meta_set(struct db *db, const char *key, const char *value)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db->h, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", -1, &s, NULL) != SQLITE_OK)
        return db_fail(db, "write failed");
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_TRANSIENT);
    const int r = sqlite3_step(s);
    sqlite3_finalize(s);
    return r == SQLITE_DONE ? STATUS_OK : db_fail(db, "write failed");
}
