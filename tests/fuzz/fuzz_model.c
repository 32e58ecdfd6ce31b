/* fuzz_model.c — resnet_config_load (model/resnet_config.c) on a hostile .yaml model file. The
 * network is not built: a valid file may ask for a very large one. */
#include "fuzz_util.h"
#include "resnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_input(data, size, ".yaml");
    if (!path) return 0;
    struct resnet_config cfg;
    const int rc = resnet_config_load(path, &cfg);
    fuzz_check_status(rc, "resnet_config_load");
    if (!rc && resnet_config_validate(&cfg, "fuzz")) {
        fprintf(stderr, "fuzz_model: accepted a config that does not validate: %s\n", status_message());
        abort();
    }
    return 0;
}
