/* pool.h — internal: the direct convolution's own helper threads (see pool.c), which never make
 * the caller wait for a helper that has not started. */
#ifndef RN_POOL_H
#define RN_POOL_H

#include <stdint.h>

/* Runs fn(ctx, task) for every task in [0, n), each exactly once, on the calling thread and on
 * up to ops_threads() - 1 helper threads, and returns when all are done. Tasks are claimed one at
 * a time; the caller claims too, and waits only for tasks a helper has claimed, so a helper that
 * is not running (cores shared with other jobs) costs nothing. Inside an OpenMP parallel region,
 * or on one thread, the caller runs them all itself. fn must not call pool_run. */
void pool_run(int64_t n, void (*fn)(void *ctx, int64_t task), void *ctx);

#endif
