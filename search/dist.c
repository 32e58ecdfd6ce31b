/* dist.c — the ranks of a run (see dist.h): Open MPI behind a small interface, or one rank when
 * the build has no MPI (RN_HAVE_MPI undefined) or the process was not started by a launcher.
 * It moves bytes and agrees on outcomes; what the bytes mean is the evaluator's (evaluate.c).
 * Not here: point-to-point messages, non-blocking operations, fault tolerance beyond ending the
 * job (a dead rank is the launcher's to notice; --resume continues from the store). */
#include "dist.h"
#include "clock.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef RN_HAVE_MPI
#include <mpi.h>
#endif

#define DIST_MAX_GROUPINGS 64
#define DIST_MSG 512

struct dist_group {
    int per;                    /* ranks per group */
    int rank, size;             /* this rank's place in its group */
#ifdef RN_HAVE_MPI
    MPI_Comm comm;
#endif
};

static struct {
    int rank, size, local_size, mpi;
    struct dist_group world, self;
    struct dist_group grouping[DIST_MAX_GROUPINGS];
    int n_groupings;
    int agreed_failure;          /* the last agreement's outcome was a failure */
    struct dist_stats stats;
} dist = { .size = 1, .local_size = 1, .world = { .per = 1, .size = 1 }, .self = { .per = 1, .size = 1 } };

/* The first launcher variable that says this process is one of several (NULL: none). */
static const char *launcher_many(long *n)
{
    static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "SLURM_STEP_NUM_TASKS" };
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        char *end = NULL;
        const long k = v ? strtol(v, &end, 10) : 0;
        if (v && end != v && *end == 0 && k > 1) {
            *n = k;
            return vars[i];
        }
    }
    return NULL;
}

/* 1 when a launcher started this process (then MPI_Init finds its peers; a process started by
 * hand stays a single rank without starting MPI at all). */
static int launched(void)
{
    static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE" };
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

int dist_init(int *argc, char ***argv)
{
#ifdef RN_HAVE_MPI
    if (launched()) {
        int provided = 0;
        MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        MPI_Comm_rank(MPI_COMM_WORLD, &dist.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &dist.size);
        MPI_Comm local;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
        MPI_Comm_size(local, &dist.local_size);
        MPI_Comm_free(&local);
        dist.mpi = 1;
        dist.world = (struct dist_group){ dist.size, dist.rank, dist.size, MPI_COMM_WORLD };
        dist.self = (struct dist_group){ 1, 0, 1, MPI_COMM_SELF };
        return STATUS_OK;
    }
    (void)launcher_many;
#else
    (void)argc;
    (void)argv;
    (void)launched;
    long n = 0;
    const char *var = launcher_many(&n);
    if (var)
        return status_error(STATUS_BAD_INPUT, "started as one of %ld processes (%s=%ld), but this rn50-tune was built without MPI: "
                            "rebuild with Open MPI installed (libopenmpi-dev) or run one process", n, var, n);
#endif
    return STATUS_OK;
}

void dist_finalize(void)
{
#ifdef RN_HAVE_MPI
    if (!dist.mpi) return;
    for (int i = 0; i < dist.n_groupings; i++) MPI_Comm_free(&dist.grouping[i].comm);
    dist.n_groupings = 0;
    MPI_Finalize();
    dist.mpi = 0;
#endif
}

void dist_abort(int code)
{
#ifdef RN_HAVE_MPI
    if (dist.mpi) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    exit(code);
}

int dist_rank(void) { return dist.rank; }
int dist_size(void) { return dist.size; }
int dist_has_mpi(void)
{
#ifdef RN_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int dist_default_threads(void)
{
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const long t = (cores > 0 ? cores : 1) / (dist.local_size > 0 ? dist.local_size : 1);
    return t > 0 ? (int)t : 1;
}

/* ---- groups ---- */

struct dist_group *dist_world(void) { return &dist.world; }

struct dist_group *dist_group_of(int per)
{
    RN_ASSERT(per >= 1 && dist.size % per == 0);
    if (per == dist.size) return &dist.world;
    if (per == 1) return &dist.self;
    for (int i = 0; i < dist.n_groupings; i++)
        if (dist.grouping[i].per == per) return &dist.grouping[i];
    RN_ASSERT(dist.n_groupings < DIST_MAX_GROUPINGS);
    struct dist_group *g = &dist.grouping[dist.n_groupings++];
    g->per = per;
    g->rank = dist.rank % per;
    g->size = per;
#ifdef RN_HAVE_MPI
    MPI_Comm_split(MPI_COMM_WORLD, dist.rank / per, dist.rank, &g->comm);
#endif
    return g;
}

int dist_group_rank(const struct dist_group *g) { return g->rank; }
int dist_group_size(const struct dist_group *g) { return g->size; }

/* ---- collectives ---- */

#ifdef RN_HAVE_MPI
static double stats_begin(void) { return clock_now_s(); }
static void stats_end(double t0, double bytes)
{
    dist.stats.seconds += clock_now_s() - t0;
    dist.stats.bytes += bytes;
    dist.stats.calls++;
}
#endif

void dist_bcast(void *buf, size_t bytes)
{
    if (dist.size == 1) return;
#ifdef RN_HAVE_MPI
    const double t0 = stats_begin();
    RN_ASSERT(bytes <= (size_t)INT32_MAX);
    MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    stats_end(t0, (double)bytes);
#else
    (void)buf;
    (void)bytes;
#endif
}

void dist_bcast_idle(void *buf, size_t bytes)
{
    if (dist.size == 1) return;
#ifdef RN_HAVE_MPI
    const double t0 = stats_begin();
    RN_ASSERT(bytes <= (size_t)INT32_MAX);
    MPI_Request req;
    MPI_Ibcast(buf, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD, &req);
    int done = 0;
    long ns = 50000;
    for (;;) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (done) break;
        const struct timespec ts = { 0, ns };
        nanosleep(&ts, NULL);
        if (ns < 2000000) ns *= 2;
    }
    /* The wait is idle time, not communication: only the root's (sending) call is counted. */
    if (dist.rank == 0) stats_end(t0, (double)bytes);
#else
    (void)buf;
    (void)bytes;
#endif
}

void dist_allgatherv(struct dist_group *g, const void *mine, const size_t *counts, void *all)
{
    size_t off = 0;
    for (int r = 0; r < g->rank; r++) off += counts[r];
    if (g->size == 1 || !dist.mpi) {
        if ((const char *)all + off != mine) memmove((char *)all + off, mine, counts[g->rank]);
        return;
    }
#ifdef RN_HAVE_MPI
    const double t0 = stats_begin();
    int *cnt = malloc(sizeof(int) * 2 * (size_t)g->size);
    RN_ASSERT(cnt);   /* a few bytes per rank */
    int *displ = cnt + g->size;
    size_t total = 0;
    for (int r = 0; r < g->size; r++) {
        RN_ASSERT(total + counts[r] <= (size_t)INT32_MAX);
        cnt[r] = (int)counts[r];
        displ[r] = (int)total;
        total += counts[r];
    }
    /* In place: this rank's piece is already where it belongs. */
    if ((const char *)all + off != mine) memmove((char *)all + off, mine, counts[g->rank]);
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_BYTE, all, cnt, displ, MPI_BYTE, g->comm);
    free(cnt);
    stats_end(t0, (double)total);
#endif
}

void dist_gather(const void *mine, size_t bytes, void *all)
{
    if (dist.size == 1 || !dist.mpi) {
        if (all != mine) memmove(all, mine, bytes);
        return;
    }
#ifdef RN_HAVE_MPI
    const double t0 = stats_begin();
    RN_ASSERT(bytes <= (size_t)INT32_MAX);
    MPI_Gather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    stats_end(t0, (double)bytes * (dist.rank == 0 ? dist.size : 1));
#endif
}

int dist_agree(struct dist_group *g, int rc, uint64_t hash, const char *what)
{
    if (g->size == 1 || !dist.mpi) return rc;
#ifdef RN_HAVE_MPI
    const double t0 = stats_begin();
    /* Each rank's (status, hash); then the lowest failing rank's message to the group. */
    struct { int64_t rc; uint64_t hash; } mine = { rc, hash }, *all = malloc(sizeof mine * (size_t)g->size);
    RN_ASSERT(all);
    MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, g->comm);
    int failed = -1, differ = -1;
    for (int r = 0; r < g->size; r++) {
        if (all[r].rc && failed < 0) failed = r;
        if (all[r].hash != all[0].hash && differ < 0) differ = r;
    }
    double bytes = (double)sizeof mine * g->size;
    int out = STATUS_OK;
    if (failed >= 0) {
        char msg[DIST_MSG];
        snprintf(msg, sizeof msg, "%s", g->rank == failed ? status_message() : "");
        MPI_Bcast(msg, DIST_MSG, MPI_CHAR, failed, g->comm);
        bytes += DIST_MSG;
        out = (int)all[failed].rc;
        /* The world rank of the failing one: groups are consecutive ranks. */
        const int world = dist.rank - g->rank + failed;
        if (g->rank == failed) out = rc;
        if (strncmp(msg, "rank ", 5) == 0 || world == 0) status_error(out, "%s", msg);
        else status_error(out, "rank %d: %s", world, msg);
    } else if (differ >= 0) {
        out = status_error(STATUS_BAD_INPUT, "rank %d built a different %s than rank %d (hash %016llx, not %016llx): the ranks "
                           "must run the same program on the same inputs", dist.rank - g->rank + differ, what,
                           dist.rank - g->rank, (unsigned long long)all[differ].hash, (unsigned long long)all[0].hash);
    }
    free(all);
    stats_end(t0, bytes);
    dist.agreed_failure = out != STATUS_OK && g == &dist.world;
    return out;
#else
    (void)hash;
    (void)what;
    return rc;
#endif
}

int dist_failed_together(void) { return dist.agreed_failure; }

void dist_stats_get(struct dist_stats *out) { *out = dist.stats; }
