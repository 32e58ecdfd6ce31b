/* fuzz_db.c — db_open (search/db.c) on a corrupt results database, as `rn50-tune report` opens
 * it (create = 0), then the reads the report makes. SQLite's journal files from the previous
 * input are removed first, so that one input never rolls back into the next. */
#include "db.h"
#include "fuzz_util.h"
#include "provenance.h"

static void db_remove_journals(const char *path)
{
    static const char *const ext[] = {"-journal", "-wal", "-shm"};
    char p[300];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, ext[i]);
        unlink(p);
    }
}

static void db_remove_all(void) { db_remove_journals(fuzz_input_path(".db")); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    atexit(db_remove_all);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    db_remove_journals(fuzz_input_path(".db"));
    const char *path = fuzz_write_input(data, size, ".db");
    if (!path) return 0;
    struct db *db = NULL;
    int rc = db_open(path, 0, &db);
    fuzz_check_status(rc, "db_open");
    if (rc) return 0;
    struct db_eval *rows = NULL;
    int n = 0;
    status_clear();
    fuzz_check_status(db_all(db, &rows, &n), "db_all");
    free(rows);
    int64_t count;
    status_clear();
    fuzz_check_status(db_count(db, NULL, &count), "db_count");
    struct provenance prov;
    status_clear();
    fuzz_check_status(provenance_read(db, &prov), "provenance_read");
    db_close(db);
    return 0;
}
