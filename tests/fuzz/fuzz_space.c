/* fuzz_space.c — space_load (search/space.c), the tune search space, on hostile YAML. */
#include "fuzz_util.h"
#include "space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_input(data, size, ".yaml");
    if (!path) return 0;
    struct space s;
    fuzz_check_status(space_load(path, &s), "space_load");
    return 0;
}
