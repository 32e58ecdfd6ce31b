/* fuzz_safetensors.c — safetensors_read (model/safetensors.c) on hostile files; a file it
 * accepts is walked (every tensor found by name, the float ones converted) so that the byte
 * ranges it validated are really read. */
#include "fuzz_util.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_input(data, size, ".safetensors");
    if (!path) return 0;
    struct st_file *f = NULL;
    const int rc = safetensors_read(path, &f);
    fuzz_check_status(rc, "safetensors_read");
    if (rc) return 0;
    for (int i = 0; i < safetensors_n_tensors(f); i++) {
        const struct st_tensor *t = safetensors_tensor(f, i);
        if (safetensors_find(f, t->name) != t) abort();
        if (t->numel > (1 << 20)) continue;
        float *dst = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
        if (!dst) continue;
        status_clear();
        fuzz_check_status(st_tensor_to_f32(f, t, dst), "st_tensor_to_f32");
        free(dst);
    }
    for (int i = 0; i < safetensors_n_metadata(f); i++) {
        const char *k, *v;
        safetensors_metadata_at(f, i, &k, &v);
        if (!k || !v || !safetensors_metadata(f, k)) abort();
    }
    safetensors_free(f);
    return 0;
}
