/* test_pool.c — pool.c: every task runs exactly once, on 1 to 4 threads, for empty, single and
 * ragged jobs, over many jobs in a row (a helper that wakes late must never run a task of a job
 * that is not its own), and serially inside an OpenMP parallel region. */
#include "check.h"
#include "ops.h"
#include "pool.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct job_check {
    int *hits;          /* [n], atomic increments */
    int64_t n;
    int tag, *bad;      /* tag: the job's number; bad counts tasks run under another job */
    const int *current; /* the job pool_run is on now */
};

static void mark(void *ctx, int64_t task)
{
    struct job_check *c = ctx;
    if (task < 0 || task >= c->n || __atomic_load_n(c->current, __ATOMIC_ACQUIRE) != c->tag) __atomic_fetch_add(c->bad, 1, __ATOMIC_RELAXED);
    else __atomic_fetch_add(&c->hits[task], 1, __ATOMIC_RELAXED);
}

/* Runs `jobs` jobs of n(j) tasks each and checks each task of each job ran once. */
static void run_jobs(int threads, int jobs, int64_t n_max)
{
    ops_set_threads(threads);
    int *hits = malloc(sizeof(int) * (size_t)n_max);
    int bad = 0, current = -1, wrong = 0;
    for (int j = 0; j < jobs; j++) {
        const int64_t n = (int64_t)(j * 7919u % (unsigned)(n_max + 1));   /* 0 .. n_max, in no order */
        memset(hits, 0, sizeof(int) * (size_t)n_max);
        struct job_check c = { hits, n, j, &bad, &current };
        __atomic_store_n(&current, j, __ATOMIC_RELEASE);
        pool_run(n, mark, &c);
        __atomic_store_n(&current, -1, __ATOMIC_RELEASE);
        for (int64_t i = 0; i < n; i++) wrong += hits[i] != 1;
    }
    if (wrong || bad) fprintf(stderr, "pool: %d threads, %d jobs up to %lld tasks: %d wrong counts, %d strays\n", threads,
                              jobs, (long long)n_max, wrong, bad);
    CHECK(wrong == 0);
    CHECK(bad == 0);
    free(hits);
}

int main(void)
{
    for (int threads = 1; threads <= 4; threads++) {
        run_jobs(threads, 3000, 5);      /* many tiny jobs: the races of job hand-over */
        run_jobs(threads, 200, 1000);
        run_jobs(threads, 3, 100000);
    }
    /* Inside a parallel region each thread runs its own jobs serially. */
    ops_set_threads(2);
    int ok = 1;
    #pragma omp parallel num_threads(2) reduction(&& : ok)
    {
        int hits[64] = { 0 }, bad = 0, current = 1;
        struct job_check c = { hits, 64, 1, &bad, &current };
        pool_run(64, mark, &c);
        for (int i = 0; i < 64; i++) ok = ok && hits[i] == 1;
        ok = ok && bad == 0;
    }
    CHECK(ok);
    return check_summary();
}
