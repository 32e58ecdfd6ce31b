/* fuzz_measurements.c — cost_measurements_read (cost/measurements.c): a profiler's CSV or an
 * end-to-end latency table, on hostile text. Tables are read as rows of rn50-fmnist (small to
 * build); a profile names its models itself. */
#include "fuzz_util.h"
#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_input(data, size, ".csv");
    if (!path) return 0;
    struct cost_measurements m;
    fuzz_check_status(cost_measurements_read(path, NULL, "rn50-fmnist", COST_STAT_P10, &m), "cost_measurements_read");
    cost_measurements_free(&m);
    return 0;
}
