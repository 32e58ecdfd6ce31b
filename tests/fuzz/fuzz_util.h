/* fuzz_util.h — what every libFuzzer harness in tests/fuzz shares: our readers take a path, so
 * each input is written to one temporary file per process (in /dev/shm when it exists, else
 * $TMPDIR or /tmp), truncated and rewritten once per input, and removed at exit. And the
 * contract every reader owes hostile input: a known status, and a failure always comes with a
 * recorded message (status_error). A broken contract aborts, so libFuzzer reports it as a crash
 * and keeps the input. Header-only: each harness is one translation unit. */
#ifndef RN_FUZZ_UTIL_H
#define RN_FUZZ_UTIL_H

#include "status.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char fuzz_path_buf[256];

static inline void fuzz_remove_input(void)
{
    if (fuzz_path_buf[0]) unlink(fuzz_path_buf);
}

/* The per-process input path, ending in `suffix` (readers that choose by extension need it). */
static inline const char *fuzz_input_path(const char *suffix)
{
    if (!fuzz_path_buf[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        if (!dir || !*dir) dir = "/tmp";
        snprintf(fuzz_path_buf, sizeof fuzz_path_buf, "%s/rn-fuzz-%ld%s", dir, (long)getpid(), suffix);
        atexit(fuzz_remove_input);
    }
    return fuzz_path_buf;
}

/* Writes data[0..size) to path (truncating); 0, or -1 after printing why. */
static inline int fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return -1;
    }
    const int ok = fwrite(data, 1, size, f) == size;
    if (fclose(f) != 0 || !ok) {
        perror(path);
        return -1;
    }
    return 0;
}

/* Writes the input to the input path and clears the recorded message; the path, or NULL (then
 * the input is skipped). */
static inline const char *fuzz_write_input(const uint8_t *data, size_t size, const char *suffix)
{
    const char *path = fuzz_input_path(suffix);
    if (fuzz_write_file(path, data, size)) return NULL;
    status_clear();
    return path;
}

/* The reader's contract on any input: STATUS_OK, or a failure status with a message. */
static inline void fuzz_check_status(int rc, const char *reader)
{
    if (rc < 0 || rc >= STATUS_COUNT) {
        fprintf(stderr, "fuzz: %s returned %d, not a status\n", reader, rc);
        abort();
    }
    if (rc != STATUS_OK && !status_message()[0]) {
        fprintf(stderr, "fuzz: %s failed with status %d and no message\n", reader, rc);
        abort();
    }
}

#endif
