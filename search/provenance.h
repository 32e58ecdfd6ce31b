/* provenance.h — what a search run records about how it was made, so that its report can say how
 * to reproduce it: the command line, the commit the program was built from, the CPU, the threads,
 * the device profile and the start time. Kept in the run's results store (db.h meta table, keys
 * "run.*"); a resumed run overwrites them with its own invocation's. Runs made before these keys
 * existed have none of them: provenance_read then leaves the fields empty (found = 0). */
#ifndef RN_PROVENANCE_H
#define RN_PROVENANCE_H

#include <stddef.h>

struct db;

struct provenance {
    int found;              /* 1 when the run recorded its provenance */
    char command[1024];     /* the command line, shell-quoted */
    char commit[64];        /* git commit of the build ("unknown" outside a checkout), "-dirty" when changed */
    char cpu[256];          /* CPU model and the kernel-relevant features (cost/machine.h) */
    char threads[16];
    char device[512];       /* the device profile's file, or "none" */
    char started[32];       /* UTC, ISO 8601 */
};

/* The commit this program was built from (written into the build by cmake/version.cmake). */
extern const char rn_build_commit[];

/* Writes the command line argv[0..argc) shell-quoted into out (size n; truncated with "..."). */
void provenance_command(int argc, char **argv, char *out, size_t n);
/* a as one shell word into q (cap bytes): as it is when it needs no quoting, else in single
 * quotes with ' written '\''. Returns the length written. */
size_t provenance_quote(const char *a, char *q, size_t cap);

/* Records this invocation: command (may be NULL: not recorded), threads in use, device name as
 * given (NULL or "none": no device). STATUS_OK or the store's STATUS_IO. */
int provenance_record(struct db *db, const char *command, int threads, const char *device);

/* Reads what provenance_record stored. STATUS_OK (also when nothing was recorded) or STATUS_IO. */
int provenance_read(struct db *db, struct provenance *p);

#endif
