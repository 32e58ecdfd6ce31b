/* fuzz_device.c — cost_model_read (cost/device.c), a device profile, on hostile YAML. */
#include "cost.h"
#include "device.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_input(data, size, ".yaml");
    if (!path) return 0;
    struct cost_model *m = NULL;
    fuzz_check_status(cost_model_read(path, &m), "cost_model_read");
    cost_model_free(m);
    return 0;
}
