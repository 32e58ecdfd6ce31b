/* test_db.c — the SQLite results store: exact round trips (NaN latency as NULL), duplicate keys
 * refused, rows kept across reopen, a missing database refused when resuming, the lock against a
 * second process, run metadata, and a writer killed with SIGKILL mid-stream leaving every
 * committed row intact and nothing half-written. */
#include "check.h"
#include "db.h"
#include "status.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct db_eval make_eval(int i)
{
    struct db_eval e;
    memset(&e, 0, sizeof e);
    char text[64];
    snprintf(text, sizeof text, "candidate %d", i);
    db_hex(db_fnv1a(DB_FNV_OFFSET, text, strlen(text)), e.key);
    db_hex(db_fnv1a(DB_FNV_OFFSET, text, 5), e.config_hash);
    snprintf(e.split, sizeof e.split, "%s", i % 2 ? "test" : "val");
    e.n_images = 500 + i;
    snprintf(e.workflow, sizeof e.workflow, "ptq");
    snprintf(e.stage, sizeof e.stage, "%s", i % 3 ? "global" : "mixed");
    snprintf(e.name, sizeof e.name, "pal%d \"quoted\" ü", i);
    snprintf(e.config, sizeof e.config, "configs/%d.yaml", i);
    e.correct = 400 + i;
    e.lost = 7 * i;
    e.gained = 3 + i;
    e.loss = 123.456789012345 + i;
    e.bytes = 3048276.0 + i;
    e.latency_ms = i % 4 ? 1.25 * i : NAN;
    e.compress_seconds = 0.1 * i;
    e.eval_seconds = 0.5 + i;
    return e;
}

static int same(const struct db_eval *a, const struct db_eval *b)
{
    return strcmp(a->key, b->key) == 0 && strcmp(a->config_hash, b->config_hash) == 0 && strcmp(a->split, b->split) == 0 &&
           a->n_images == b->n_images && strcmp(a->workflow, b->workflow) == 0 && strcmp(a->stage, b->stage) == 0 &&
           strcmp(a->name, b->name) == 0 && strcmp(a->config, b->config) == 0 && a->correct == b->correct && a->lost == b->lost && a->gained == b->gained &&
           a->loss == b->loss && a->bytes == b->bytes &&
           (isnan(a->latency_ms) ? isnan(b->latency_ms) : a->latency_ms == b->latency_ms) &&
           a->compress_seconds == b->compress_seconds && a->eval_seconds == b->eval_seconds;
}

int main(void)
{
    char dir[] = "/tmp/test_db_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], missing[256];
    snprintf(path, sizeof path, "%s/results.db", dir);
    snprintf(missing, sizeof missing, "%s/nothing/results.db", dir);

    /* FNV-1a 64 of "a" is a published test vector. */
    char hex[DB_HASH_LEN + 1];
    db_hex(db_fnv1a(DB_FNV_OFFSET, "a", 1), hex);
    CHECK(strcmp(hex, "af63dc4c8601ec8c") == 0);

    struct db *db = NULL;
    CHECK(db_open(missing, 0, &db) == STATUS_IO && db == NULL);
    CHECK(strstr(status_message(), "nothing/results.db") != NULL);

    CHECK(db_open(path, 1, &db) == STATUS_OK);
    for (int i = 0; i < 10; i++) {
        struct db_eval e = make_eval(i);
        CHECK(db_insert(db, &e) == STATUS_OK);
        CHECK(e.id == i + 1);
    }
    struct db_eval dup = make_eval(3);
    CHECK(db_insert(db, &dup) == STATUS_BAD_INPUT);
    CHECK(strstr(status_message(), "already stored") != NULL);
    CHECK(db_meta_set(db, "objective", "size") == STATUS_OK);
    CHECK(db_meta_set(db, "objective", "latency") == STATUS_OK);

    /* A second process cannot open the run while this one holds it. */
    pid_t pid = fork();
    if (pid == 0) {
        struct db *other = NULL;
        const int r = db_open(path, 0, &other);
        db_close(other);
        _exit(r == STATUS_IO && strstr(status_message(), "another") ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    db_close(db);

    db = NULL;
    CHECK(db_open(path, 0, &db) == STATUS_OK);
    int64_t n = 0;
    CHECK(db_count(db, NULL, &n) == STATUS_OK && n == 10);
    CHECK(db_count(db, "mixed", &n) == STATUS_OK && n == 4);   /* i = 0, 3, 6, 9 */
    for (int i = 0; i < 10; i++) {
        struct db_eval want = make_eval(i), got;
        int found = 0;
        CHECK(db_find(db, want.key, &got, &found) == STATUS_OK && found);
        CHECK(same(&want, &got));
        CHECK(got.id == i + 1);
    }
    int found = 1;
    struct db_eval got;
    CHECK(db_find(db, "0000000000000000", &got, &found) == STATUS_OK && !found);
    char value[32];
    CHECK(db_meta_get(db, "objective", value, sizeof value, &found) == STATUS_OK && found && strcmp(value, "latency") == 0);
    CHECK(db_meta_get(db, "budget", value, sizeof value, &found) == STATUS_OK && !found);
    struct db_eval *rows = NULL;
    int n_rows = 0;
    CHECK(db_all(db, &rows, &n_rows) == STATUS_OK && n_rows == 10);
    for (int i = 0; i < n_rows; i++) {
        struct db_eval want = make_eval(i);
        CHECK(same(&want, &rows[i]));
    }
    free(rows);
    db_close(db);

    /* A writer killed with SIGKILL while inserting: every row it committed is there, whole. */
    snprintf(path, sizeof path, "%s/killed.db", dir);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        struct db *w = NULL;
        if (db_open(path, 1, &w)) _exit(1);
        for (int i = 0;; i++) {
            struct db_eval e = make_eval(i);
            if (db_insert(w, &e)) _exit(1);
            if (i == 20) (void)!write(fds[1], "x", 1);   /* tell the parent rows exist */
        }
    }
    close(fds[1]);
    char c;
    CHECK(read(fds[0], &c, 1) == 1);
    struct timespec pause = { 0, 20000000 };
    nanosleep(&pause, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    close(fds[0]);
    CHECK(WIFSIGNALED(st));
    db = NULL;
    CHECK(db_open(path, 0, &db) == STATUS_OK);
    rows = NULL;
    n_rows = 0;
    CHECK(db && db_all(db, &rows, &n_rows) == STATUS_OK);
    CHECK(n_rows >= 21);
    printf("killed writer: %d rows committed\n", n_rows);
    for (int i = 0; i < n_rows; i++) {
        struct db_eval want = make_eval(i);
        CHECK(same(&want, &rows[i]) && rows[i].id == i + 1);
    }
    free(rows);
    db_close(db);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_summary();
}
