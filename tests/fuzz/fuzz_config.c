/* fuzz_config.c — compress_config_load (compress/config.c) on hostile YAML, resolved against the
 * rn50-fmnist network built once. */
#include "config.h"
#include "fuzz_util.h"
#include "resnet.h"

static struct resnet *config_net;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct resnet_config cfg;
    if (resnet_config_load("rn50-fmnist", &cfg) || resnet_alloc(&cfg, 1, &config_net)) {
        fprintf(stderr, "fuzz_config: cannot build rn50-fmnist: %s\n", status_message());
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_input(data, size, ".yaml");
    if (!path) return 0;
    struct compress_plan plan;
    fuzz_check_status(compress_config_load(path, config_net, &plan), "compress_config_load");
    compress_plan_free(&plan);
    return 0;
}
