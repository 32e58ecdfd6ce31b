/* test_dist.c — the ranks interface (search/dist.h) in one process: the sizes and groups of one
 * rank, the gathers placing each piece where the layout says, an agreement returning the status
 * and message it is given, the default threads; and, in a build without MPI, a process that a
 * launcher says is one of several refused with the variable named. The several-rank behaviour is
 * tests/cli_mpi.sh's (mpirun). */
#include "check.h"
#include "dist.h"
#include "status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (!dist_has_mpi()) {
        /* What mpirun -np 3 sets; refused before anything runs. */
        setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
        CHECK(dist_init(&argc, &argv) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "OMPI_COMM_WORLD_SIZE=3") != NULL);
        CHECK(strstr(status_message(), "built without MPI") != NULL);
        setenv("OMPI_COMM_WORLD_SIZE", "1", 1);   /* one process of one: fine */
        status_clear();
        CHECK(dist_init(&argc, &argv) == STATUS_OK);
        unsetenv("OMPI_COMM_WORLD_SIZE");
    }
    CHECK(dist_init(&argc, &argv) == STATUS_OK);
    CHECK(dist_rank() == 0 && dist_size() == 1);
    struct dist_group *w = dist_world(), *one = dist_group_of(1);
    CHECK(dist_group_rank(w) == 0 && dist_group_size(w) == 1);
    CHECK(dist_group_rank(one) == 0 && dist_group_size(one) == 1);

    /* One rank's piece lands at offset 0; in place it stays. */
    const size_t counts[1] = { 3 * sizeof(int64_t) };
    const int64_t mine[3] = { 7, -11, 13 };
    int64_t all[3] = { 0, 0, 0 };
    dist_allgatherv(w, mine, counts, all);
    CHECK(all[0] == 7 && all[1] == -11 && all[2] == 13);
    dist_allgatherv(w, all, counts, all);
    CHECK(all[0] == 7 && all[1] == -11 && all[2] == 13);
    double g[2] = { 0, 0 };
    const double gm[2] = { 0.25, -3.5 };
    dist_gather(gm, sizeof gm, g);
    CHECK(g[0] == 0.25 && g[1] == -3.5);
    int64_t b = 42;
    dist_bcast(&b, sizeof b);
    dist_bcast_idle(&b, sizeof b);
    CHECK(b == 42);

    /* An agreement of one: the status and its message as given, whatever the hash. */
    CHECK(dist_agree(w, STATUS_OK, 0x1234, "x") == STATUS_OK);
    status_error(STATUS_IO, "data/x.bin: cannot read");
    CHECK(dist_agree(w, STATUS_IO, 0, "x") == STATUS_IO);
    CHECK(strcmp(status_message(), "data/x.bin: cannot read") == 0);

    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(dist_default_threads() == (cores > 0 ? cores : 1));
    struct dist_stats s;
    dist_stats_get(&s);
    CHECK(s.bytes == 0 && s.calls == 0);   /* nothing crossed a process boundary */
    dist_finalize();
    return check_summary();
}
