/* dist.h — the ranks of one run (issue 15): who am I, how many are we, and the few collective
 * operations the evaluator needs. The only header in front of MPI: dist.c alone includes mpi.h.
 *
 * Built without MPI (CMake found none), or started without a launcher, the same interface runs
 * one rank: dist_size() is 1, a group is that rank, gathers copy and agreements return the
 * status they are given, so the rest of the code has no #ifdef. A build without MPI that is
 * started by mpirun or srun with more than one process refuses to run (dist_init).
 *
 * Groups: the ranks are cut into groups of `per` consecutive ranks (0..per-1, per..2per-1, ...);
 * the ranks of one group evaluate the same candidate on disjoint shards of the images
 * (data-parallel), different groups evaluate different candidates (candidate-parallel). Every
 * collective below is called by every rank of the group named, in the same order. Failures of
 * the transport itself end the job (MPI's default error handler); a rank that dies ends it too
 * (mpirun and srun kill the others). */
#ifndef RN_DIST_H
#define RN_DIST_H

#include <stddef.h>
#include <stdint.h>

struct dist_group;   /* opaque; owned by dist.c, valid until dist_finalize */

/* Starts MPI when the process was started by a launcher (mpirun, srun) and the build has MPI.
 * STATUS_BAD_INPUT when a build without MPI is started as one of several processes (naming the
 * environment variable that says so). Call once, first thing in main. */
int dist_init(int *argc, char ***argv);
/* Ends MPI (a no-op otherwise). Every rank calls it before exiting normally. */
void dist_finalize(void);
/* Ends every rank of the job at once with exit code `code` (after an error on one rank that the
 * others cannot learn of through an agreement). */
void dist_abort(int code);

int dist_rank(void);            /* 0 .. dist_size() - 1; 0 without MPI */
int dist_size(void);            /* ranks in the job; 1 without MPI */
int dist_has_mpi(void);         /* 1 if this build can run several ranks */
/* The default threads of one rank: the node's cores divided among the ranks on this node (at
 * least 1). */
int dist_default_threads(void);

/* ---- groups ---- */

struct dist_group *dist_world(void);
/* The groups of `per` consecutive ranks (dist_size() % per == 0); the group this rank is in.
 * Collective over the world the first time a `per` above 1 is asked for (then cached); per 1
 * (this rank alone) never is. A bad per is a programming error (asserted). */
struct dist_group *dist_group_of(int per);
int dist_group_rank(const struct dist_group *g);
int dist_group_size(const struct dist_group *g);

/* ---- collectives ---- */

/* Broadcasts bytes of buf from world rank 0 to every rank. */
void dist_bcast(void *buf, size_t bytes);
/* dist_bcast for a message that may be long in coming (the next job for a worker): the waiting
 * ranks sleep between polls (up to 2 ms) instead of spinning on a core that rank 0 may be
 * timing kernels or training on. Every rank calls this one, not dist_bcast, for the message. */
void dist_bcast_idle(void *buf, size_t bytes);
/* Concatenates every group rank's piece in rank order into all[] on every rank of g: piece r
 * has counts[r] bytes and lands at the sum of counts[0..r). mine may alias its place in all. */
void dist_allgatherv(struct dist_group *g, const void *mine, const size_t *counts, void *all);
/* Gathers `bytes` from every world rank into all[size * bytes] on world rank 0 (all may be NULL
 * elsewhere). */
void dist_gather(const void *mine, size_t bytes, void *all);

/* Agreement on an outcome: every rank of g passes its status (with its message recorded by
 * status_error when non-zero) and a 64-bit hash of what it built (0 when nothing). Returns on
 * every rank of g the status of the lowest failing rank, with that rank's message recorded
 * here as "rank R: MESSAGE"; or STATUS_BAD_INPUT when all succeeded but the hashes differ (`what`
 * names the thing hashed); else STATUS_OK. */
int dist_agree(struct dist_group *g, int rc, uint64_t hash, const char *what);

/* 1 when the last dist_agree of this rank returned a failure: every rank of that group knows it
 * and ends normally; any other failure on several ranks ends the job with dist_abort. */
int dist_failed_together(void);

/* ---- communication accounting ---- */

/* Bytes this rank has sent and received through the collectives above, and the seconds spent in
 * them (waiting included), since dist_init. */
struct dist_stats {
    double bytes, seconds;
    int64_t calls;
};
void dist_stats_get(struct dist_stats *out);

#endif
