/* make_seeds.c — writes the binary seeds of tests/fuzz/corpus from our own writers, so that each
 * seed is a file the program itself produces (the text seeds are hand-written copies of
 * configs/). Built with RN_FUZZ (target make_seeds), run once by hand:
 *     build-fuzz/make_seeds tests/fuzz/corpus
 * Tiny on purpose: a basic-block ResNet of width 4 on 8x8 inputs (its last stage has layers above
 * the 2048-weight threshold, so that the compressed seeds hold compressed layers). */
#include "apply.h"
#include "compress.h"
#include "config.h"
#include "db.h"
#include "format.h"
#include "npy.h"
#include "provenance.h"
#include "resnet.h"
#include "safetensors.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static void die(const char *what)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, status_message());
    exit(1);
}

static void compressed(const char *dir, const struct resnet_config *cfg, const char *config, const char *name)
{
    struct resnet *net = NULL;
    struct compress_plan plan;
    struct apply_result res;
    memset(&res, 0, sizeof res);
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/compress/%s", RN_SOURCE_DIR, config);
    if (resnet_alloc(cfg, 7, &net) || compress_config_load(path, net, &plan) || compress_apply(net, &plan, NULL, &res))
        die(config);
    snprintf(path, sizeof path, "%s/format/%s", dir, name);
    if (format_save(path, net, &plan, res.cw, res.aq, "# seed\n")) die(path);
    format_free_activations(net);
    res.aq = NULL;
    apply_result_free(&res);
    compress_plan_free(&plan);
    resnet_free(net);
}

/* Writes n bytes made by gen(i) through gzip into buf; returns the compressed length. */
static size_t gz_bytes(const char *tmp, const unsigned char *hdr, size_t nh, size_t n, int mod, unsigned char *buf,
                       size_t cap)
{
    gzFile g = gzopen(tmp, "wb9");
    if (!g) die(tmp);
    gzwrite(g, hdr, (unsigned)nh);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)(i % (size_t)mod);
        gzwrite(g, &c, 1);
    }
    gzclose(g);
    FILE *f = fopen(tmp, "rb");
    size_t got = fread(buf, 1, cap, f);
    fclose(f);
    unlink(tmp);
    return got;
}

static void idx_seed(const char *dir, const char *name, uint32_t n_labels, int label_mod)
{
    static unsigned char lab[1 << 20], img[1 << 20];
    const unsigned char lh[8] = {0, 0, 8, 1, (unsigned char)(n_labels >> 24), (unsigned char)(n_labels >> 16),
                                 (unsigned char)(n_labels >> 8), (unsigned char)n_labels};
    const unsigned char ih[16] = {0, 0, 8, 3, 0, 0, 0x27, 0x10, 0, 0, 0, 28, 0, 0, 0, 28};
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/idx/.tmp.gz", dir);
    const size_t nl = gz_bytes(tmp, lh, sizeof lh, n_labels, label_mod, lab, sizeof lab);
    const size_t ni = gz_bytes(tmp, ih, sizeof ih, 10000u * 28 * 28, 251, img, sizeof img);
    char path[4096];
    snprintf(path, sizeof path, "%s/idx/%s", dir, name);
    FILE *f = fopen(path, "wb");
    const unsigned char len[4] = {(unsigned char)nl, (unsigned char)(nl >> 8), (unsigned char)(nl >> 16),
                                  (unsigned char)(nl >> 24)};
    fwrite(len, 1, 4, f);
    fwrite(lab, 1, nl, f);
    fwrite(img, 1, ni, f);
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    struct resnet_config cfg = {.name = "tiny", .block = RESNET_BASIC, .layers = {1, 1, 1, 1}, .width = 4,
                                .stem = RESNET_STEM_SMALL, .in_channels = 1, .n_classes = 3, .in_h = 8, .in_w = 8};
    char path[4096];

    /* safetensors: the tiny net's state_dict as F16, as resnet_save_weights writes it (the
     * hand-written seeds cover the other dtypes). */
    struct resnet *net = NULL;
    if (resnet_alloc(&cfg, 1, &net)) die("resnet_alloc");
    snprintf(path, sizeof path, "%s/safetensors/tiny-f16.safetensors", dir);
    if (resnet_save_weights(net, path, ST_F16, "seed", "tiny")) die(path);
    resnet_free(net);

    /* Our compressed format: palettized, pruned, int8 weights. */
    compressed(dir, &cfg, "palettize-4bit.yaml", "tiny-pal4.safetensors");
    compressed(dir, &cfg, "palettize-2bit-g4.yaml", "tiny-pal2-g4.safetensors");
    compressed(dir, &cfg, "prune-50.yaml", "tiny-prune50.safetensors");
    compressed(dir, &cfg, "w8a16.yaml", "tiny-w8a16.safetensors");

    /* npy: f4 and i8 arrays, a scalar, an empty array. */
    const float fv[6] = {0.5f, -1.25f, 3.0e-3f, 7.0f, -0.0f, 1e30f};
    const int64_t iv[4] = {3, -1, 1LL << 40, 0};
    const int64_t s23[2] = {2, 3}, s4[1] = {4}, s0[1] = {0};
    snprintf(path, sizeof path, "%s/npy/f4-2x3.npy", dir);
    if (npy_write_f32(path, fv, 2, s23)) die(path);
    snprintf(path, sizeof path, "%s/npy/f4-scalar.npy", dir);
    if (npy_write_f32(path, fv, 0, NULL)) die(path);
    snprintf(path, sizeof path, "%s/npy/i8-4.npy", dir);
    if (npy_write_i64(path, iv, 1, s4)) die(path);
    snprintf(path, sizeof path, "%s/npy/i8-empty.npy", dir);
    if (npy_write_i64(path, iv, 1, s0)) die(path);

    /* The results database with one evaluation and the run's provenance. */
    snprintf(path, sizeof path, "%s/db/results.db", dir);
    unlink(path);
    struct db *db = NULL;
    struct db_eval e = {.split = "val", .n_images = 100, .workflow = "ptq", .stage = "global", .name = "pal4",
                        .config = "configs/pal4.yaml", .correct = 61, .loss = 80.5, .bytes = 1234, .latency_ms = 2.5};
    snprintf(e.key, sizeof e.key, "%016llx", 0x1234abcdULL);
    snprintf(e.config_hash, sizeof e.config_hash, "%016llx", 0x99ULL);
    if (db_open(path, 1, &db) || db_insert(db, &e) || db_meta_set(db, "budget", "1.0") ||
        provenance_record(db, "rn50-tune tune --seed", 2, "none"))
        die(path);
    db_close(db);

    /* IDX: a valid t10k pair, and one with a label out of range. */
    idx_seed(dir, "t10k-valid", 10000, 10);
    idx_seed(dir, "t10k-label-11", 10000, 12);
    idx_seed(dir, "t10k-short", 9999, 10);
    return 0;
}
