/* atomic_file.h — writing a file whole or not at all: the bytes go to PATH.tmp, which is flushed,
 * synced (so a crash cannot leave the new name on an empty file) and renamed over PATH. On any
 * failure the temporary is removed and PATH is left as it was. Every writer of user-visible
 * files (safetensors, .npy, result CSVs) goes through here; so does reading a text file whole. */
#ifndef RN_ATOMIC_FILE_H
#define RN_ATOMIC_FILE_H

#include <stdio.h>

/* write_fn writes the content to f and returns 1, or 0 on a write error (errno describing it).
 * Returns STATUS_OK, STATUS_IO (message names path, the temporary and the reason) or
 * STATUS_NOMEM. */
int file_write_atomic(const char *path, int (*write_fn)(FILE *f, void *ctx), void *ctx);

struct strbuf;
/* The write_fn for text: writes the ctx strbuf's bytes (const struct strbuf *; p may be NULL when
 * len is 0). Returns 1, or 0 on a write error. */
int file_write_strbuf(FILE *f, void *ctx);

/* Copies the file at src to path atomically. Returns STATUS_OK or STATUS_IO naming the file. */
int file_copy_atomic(const char *src, const char *path);

struct strbuf;
/* Writes the text built in b to DIR/NAME atomically, then frees b's memory and zeroes it (also on
 * error). A buffer that ran out of memory is STATUS_NOMEM and writes nothing. */
int file_save_strbuf(const char *dir, const char *name, struct strbuf *b);

/* Reads the whole file at path into *out (overwritten: NUL-terminated, out->p NULL for an empty
 * file; the caller frees out->p), with no limit on its size. Returns STATUS_OK, STATUS_IO naming
 * the path and the reason, or STATUS_NOMEM; on error *out holds nothing. */
int file_read_all(const char *path, struct strbuf *out);

/* Creates the directory path (mode 0777 less the umask); with parents, every missing folder above
 * it as well (mkdir -p). An existing directory is fine. Returns STATUS_OK, or STATUS_IO naming the
 * folder: "exists and is not a directory" or "cannot create directory: REASON". */
int file_make_dir(const char *path, int parents);

/* Takes an exclusive lock on DIR/.lock (created if missing) for as long as this process lives, so
 * a second process on the same run directory is refused rather than interleaving its writes with
 * ours. The kernel drops the lock when the process ends in any way (kill -9 included), so a
 * killed run never leaves a stale lock behind. *fd receives the descriptor (close it to release).
 * Returns STATUS_OK; STATUS_BAD_INPUT "DIR: in use by another rn50-tune process (pid N)" when
 * another process holds it; STATUS_IO when the lock file cannot be opened or locked. A POSIX
 * record lock: closing any descriptor of DIR/.lock in this process releases it. */
int file_lock_dir(const char *dir, int *fd);

#endif
