/* fuzz_idx.c — the Fashion-MNIST IDX reader (model/data.c, dataset_load "fmnist:DIR", split
 * test) on hostile files. One input holds both files: a 4-byte little-endian length L, then L
 * bytes of t10k-labels-idx1-ubyte.gz, then the rest as t10k-images-idx3-ubyte.gz (gzip or raw
 * IDX: zlib passes raw files through). The reader insists on 10,000 28x28 images, so the seeds
 * are gzipped (a valid pair is a few kilobytes). */
#include "data.h"
#include "fuzz_util.h"

#include <sys/stat.h>

static char idx_labels[300], idx_images[300], idx_spec[300];

static void idx_remove(void)
{
    unlink(idx_labels);
    unlink(idx_images);
    rmdir(idx_spec + strlen("fmnist:"));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = fuzz_input_path(".d");
    if (mkdir(dir, 0700) && access(dir, W_OK)) {
        perror(dir);
        abort();
    }
    snprintf(idx_spec, sizeof idx_spec, "fmnist:%s", dir);
    snprintf(idx_labels, sizeof idx_labels, "%s/t10k-labels-idx1-ubyte.gz", dir);
    snprintf(idx_images, sizeof idx_images, "%s/t10k-images-idx3-ubyte.gz", dir);
    atexit(idx_remove);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    size_t L = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
    if (L > size - 4) L = size - 4;
    if (fuzz_write_file(idx_labels, data + 4, L) || fuzz_write_file(idx_images, data + 4 + L, size - 4 - L)) return 0;
    status_clear();
    struct dataset d;
    const int rc = dataset_load(idx_spec, "test", 0, &d);
    fuzz_check_status(rc, "dataset_load");
    dataset_free(&d);
    return 0;
}
