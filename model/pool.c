/* pool.c — a small pool of helper threads for conv_direct.c, in the manner of ONNX Runtime's:
 * the caller takes part, tasks are claimed from an atomic counter, and the caller waits only for
 * the tasks helpers actually claimed.
 *
 * Why not OpenMP here: a parallel region ends in a barrier that every thread of the team must
 * reach, even one that got no task. On 2 cores shared with other jobs the second thread is often
 * off its core, and a ResNet50 pass has about 60 such barriers: at a load of 11 a batch-1 pass
 * took 0.7-1.4 s where ONNX Runtime took 0.3 s. With this pool, a helper that is not running when
 * a job comes simply does not join it.
 *
 * A helper spins briefly for the next job (a pass's convolutions follow each other within
 * microseconds), then sleeps on a condition variable, so it does not hold a core against
 * OpenMP's threads between passes. The claim counter carries the job's number in its high 32
 * bits and tasks are claimed by compare-and-swap, so a helper that wakes late, holding an old
 * job's function, can never claim a task of a newer job; the caller returns once every claimed
 * task is done. Not here: work stealing, priorities, nested jobs. */
#include "pool.h"
#include "ops.h"
#include "status.h"

#include <omp.h>
#include <pthread.h>
#include <sched.h>

#define POOL_MAX 64         /* helpers at most */
#define POOL_SPIN 2000      /* polls of the job counter before a helper sleeps (tens of microseconds) */
#define POOL_YIELD 32768    /* polls before a waiting caller starts yielding its core (about 1 ms) */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int n_helpers, sleepers;   /* under mu */

/* The current job. word = job number << 32 | next task to claim; fn, ctx, n and allowed are
 * written before the word announces the job; done counts finished tasks. All atomic. */
static void (*job_fn)(void *, int64_t);
static void *job_ctx;
static int64_t job_n, job_done;
static int job_allowed;           /* helpers 1..job_allowed may take part */
static uint64_t job_word;

/* Claims and runs tasks of job `gen` until none is left. */
static void run_tasks(uint32_t gen, void (*fn)(void *, int64_t), void *ctx, int64_t n)
{
    uint64_t w = __atomic_load_n(&job_word, __ATOMIC_ACQUIRE);
    for (;;) {
        if ((uint32_t)(w >> 32) != gen || (int64_t)(w & 0xffffffffu) >= n) return;
        if (!__atomic_compare_exchange_n(&job_word, &w, w + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) continue;
        fn(ctx, (int64_t)(w & 0xffffffffu));
        __atomic_fetch_add(&job_done, 1, __ATOMIC_RELEASE);
        w = __atomic_load_n(&job_word, __ATOMIC_ACQUIRE);
    }
}

static void *helper_main(void *arg)
{
    const int slot = (int)(intptr_t)arg;
    uint32_t seen = 0;
    for (;;) {
        /* Spin a little for a new job, then sleep until one is announced. */
        uint32_t gen = (uint32_t)(__atomic_load_n(&job_word, __ATOMIC_ACQUIRE) >> 32);
        for (int s = 0; s < POOL_SPIN && gen == seen; s++) {
            __builtin_ia32_pause();
            gen = (uint32_t)(__atomic_load_n(&job_word, __ATOMIC_ACQUIRE) >> 32);
        }
        if (gen == seen) {
            pthread_mutex_lock(&mu);
            sleepers++;
            while ((gen = (uint32_t)(__atomic_load_n(&job_word, __ATOMIC_ACQUIRE) >> 32)) == seen)
                pthread_cond_wait(&wake, &mu);
            sleepers--;
            pthread_mutex_unlock(&mu);
        }
        seen = gen;
        if (slot > __atomic_load_n(&job_allowed, __ATOMIC_ACQUIRE)) continue;
        run_tasks(gen, __atomic_load_n(&job_fn, __ATOMIC_ACQUIRE), __atomic_load_n(&job_ctx, __ATOMIC_ACQUIRE),
                  __atomic_load_n(&job_n, __ATOMIC_ACQUIRE));
    }
    return NULL;
}

void pool_run(int64_t n, void (*fn)(void *ctx, int64_t task), void *ctx)
{
    const int T = ops_threads();
    if (n <= 0) return;
    RN_ASSERT(n < ((int64_t)1 << 31));
    if (T <= 1 || n == 1 || omp_in_parallel()) {
        for (int64_t i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    const int want = T - 1 < POOL_MAX ? T - 1 : POOL_MAX;
    pthread_mutex_lock(&mu);
    while (n_helpers < want) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        const int rc = pthread_create(&t, &at, helper_main, (void *)(intptr_t)(n_helpers + 1));
        pthread_attr_destroy(&at);
        if (rc) break;   /* fewer helpers: the caller does more itself */
        n_helpers++;
    }
    /* Only one pool_run at a time (callers are not in a parallel region). First an odd job
     * number with nothing to claim, so a helper still holding the previous job's fields stops
     * claiming; then the fields; then the even number that opens the job. A helper that read
     * the fields of any other job fails its compare-and-swap. */
    const uint32_t old = (uint32_t)(__atomic_load_n(&job_word, __ATOMIC_RELAXED) >> 32);
    __atomic_store_n(&job_word, (uint64_t)(old + 1) << 32 | 0xffffffffu, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&job_fn, fn, __ATOMIC_RELAXED);
    __atomic_store_n(&job_ctx, ctx, __ATOMIC_RELAXED);
    __atomic_store_n(&job_n, n, __ATOMIC_RELAXED);
    __atomic_store_n(&job_allowed, want, __ATOMIC_RELAXED);
    __atomic_store_n(&job_done, 0, __ATOMIC_RELAXED);
    const uint32_t gen = old + 2;
    __atomic_store_n(&job_word, (uint64_t)gen << 32, __ATOMIC_RELEASE);
    if (sleepers) pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&mu);

    run_tasks(gen, fn, ctx, n);
    /* Every task is claimed; wait for the ones helpers are still running. Spin first: tasks
     * take microseconds, and under load a sched_yield can hand the core to another process for
     * a whole time slice (yielding after 256 polls made rn50-fmnist batch 1 twice as slow at
     * load 7). Yield only after a long wait, when the helper has probably lost its core. */
    for (int s = 1; __atomic_load_n(&job_done, __ATOMIC_ACQUIRE) < n; s++) {
        __builtin_ia32_pause();
        if (s >= POOL_YIELD && s % 1024 == 0) sched_yield();
    }
}
