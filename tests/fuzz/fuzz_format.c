/* fuzz_format.c — format_load (compress/format.c), the reader of our compressed-model file, on
 * hostile files, freed as the program frees a loaded model (evaluate.c). */
#include "format.h"
#include "compress.h"
#include "fuzz_util.h"
#include "resnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_input(data, size, ".safetensors");
    if (!path) return 0;
    struct resnet *net = NULL;
    struct compressed_weight *cw = NULL;
    const int rc = format_load(path, &net, &cw);
    fuzz_check_status(rc, "format_load");
    if (rc) return 0;
    if (cw) {
        for (int i = 0; i <= net->n_conv; i++) compressed_weight_free(&cw[i]);
        free(cw);
    }
    format_free_activations(net);
    resnet_free(net);
    return 0;
}
