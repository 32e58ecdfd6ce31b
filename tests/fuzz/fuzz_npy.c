/* fuzz_npy.c — both .npy readers (model/npy.c) on the same hostile file. */
#include "fuzz_util.h"
#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_input(data, size, ".npy");
    if (!path) return 0;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    float *f = NULL;
    fuzz_check_status(npy_read_f32(path, &f, &ndim, shape), "npy_read_f32");
    free(f);
    int64_t *i = NULL;
    status_clear();
    fuzz_check_status(npy_read_i64(path, &i, &ndim, shape), "npy_read_i64");
    free(i);
    return 0;
}
