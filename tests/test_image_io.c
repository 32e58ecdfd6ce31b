/* test_image_io.c — our JPEG/PNG decoding and torchvision preprocessing against Pillow 9.4 and
 * torchvision 0.14 on files generated now by tests/fixtures/make_images.py (Debian's
 * /usr/bin/python3; without it, or without PIL/torchvision, the test is skipped, exit 77).
 *
 * Decoding must be exact (Image.open(f).convert("RGB") / ("L") byte for byte). The transforms are
 * compared on ToTensor values: the target is 1/255 per value; the measured maximum is printed and
 * is 0 on the files here (the resampler reproduces Pillow's integer arithmetic). */
#include "check.h"

#include "image_decode.h"
#include "image_transform.h"
#include "npy.h"
#include "resnet.h"
#include "status.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest tolerated difference of a ToTensor value (the target). */
#define PARITY_TOL (1.0 / 255.0)

static char outdir[512];

static int generate(void)
{
    snprintf(outdir, sizeof outdir, "%s", "test_image_io.fixtures");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "test -x /usr/bin/python3 && /usr/bin/python3 -c 'import PIL, torchvision' 2>/dev/null && "
             "rm -rf %s && /usr/bin/python3 %s/tests/fixtures/make_images.py %s",
             outdir, RN_SOURCE_DIR, outdir);
    return system(cmd) == 0;
}

static void check_decode(const char *name, const char *file, int channels)
{
    char ref[1024];
    snprintf(ref, sizeof ref, "%s/ref/%s.%s.npy", outdir, name, channels == 3 ? "rgb" : "l");
    int64_t *want = NULL, shape[NPY_MAX_DIMS];
    int ndim;
    struct image_u8 im;
    CHECK(npy_read_i64(ref, &want, &ndim, shape) == STATUS_OK);
    int rc = image_decode_file(file, channels, &im);
    CHECK(rc == STATUS_OK);
    if (rc || !want) {
        fprintf(stderr, "%s: %s\n", file, status_message());
        free(want);
        return;
    }
    CHECK(shape[0] == im.H && shape[1] == im.W);
    int64_t bad = 0, first = -1;
    const int64_t n = (int64_t)im.W * im.H * channels;
    for (int64_t i = 0; i < n && shape[0] == im.H && shape[1] == im.W; i++)
        if (want[i] != im.data[i]) {
            if (first < 0) first = i;
            bad++;
        }
    if (bad) fprintf(stderr, "%s (%d channels): %lld of %lld values differ from Pillow, first at %lld (%lld vs %d)\n", name,
                     channels, (long long)bad, (long long)n, (long long)first, (long long)want[first], im.data[first]);
    CHECK(bad == 0);
    free(want);
    image_u8_free(&im);
}

/* One transform on one file against torchvision; returns the max |difference|. */
static double check_transform(const char *name, const char *file, const char *tag, const struct image_transform *t)
{
    char ref[1024];
    snprintf(ref, sizeof ref, "%s/ref/%s.%s.npy", outdir, name, tag);
    float *want = NULL;
    int64_t shape[NPY_MAX_DIMS];
    int ndim;
    struct image_u8 im;
    CHECK(npy_read_f32(ref, &want, &ndim, shape) == STATUS_OK);
    CHECK(image_decode_file(file, t->channels, &im) == STATUS_OK);
    const size_t n = (size_t)t->channels * t->crop_h * t->crop_w;
    uint8_t *crop = malloc(n);
    CHECK(crop != NULL);
    double worst = 0.0;
    if (want && im.data && crop && ndim == 3 && shape[0] == t->channels && shape[1] == t->crop_h && shape[2] == t->crop_w) {
        if (strcmp(tag, "rrc") == 0) {
            /* make_images.py's rrc_box, the same integer arithmetic. */
            const int w0 = im.W, h0 = im.H;
            const int i = h0 / 7, j = w0 / 5, h = h0 / 2 + 1 > 1 ? h0 / 2 + 1 : 1;
            const int w = w0 / 5 + w0 / 2 + 3 <= w0 ? (w0 / 2 + 3 > 1 ? w0 / 2 + 3 : 1) : (w0 - w0 / 5 > 1 ? w0 - w0 / 5 : 1);
            CHECK(image_resized_crop(&im, t, i, j, h, w, 1, crop) == STATUS_OK);
        } else {
            CHECK(image_transform_eval(&im, t, crop) == STATUS_OK);
        }
        for (size_t i = 0; i < n; i++) {
            const double d = fabs((double)((float)crop[i] / 255.0f) - (double)want[i]);
            if (d > worst) worst = d;
        }
        if (worst > PARITY_TOL) fprintf(stderr, "%s %s: max difference %.6f (%.2f/255)\n", name, tag, worst, worst * 255);
        CHECK(worst <= PARITY_TOL);
    } else {
        CHECK(!"reference shape");
    }
    free(want);
    free(crop);
    image_u8_free(&im);
    return worst;
}

static void check_size_rule(void)
{
    int OW, OH;
    image_resize_output_size(500, 375, 256, &OW, &OH);
    CHECK(OW == 341 && OH == 256);   /* int(256 * 500 / 375) = int(341.33) */
    image_resize_output_size(211, 1999, 256, &OW, &OH);
    CHECK(OW == 256 && OH == 2425);  /* int(2425.28...) */
    image_resize_output_size(300, 300, 232, &OW, &OH);
    CHECK(OW == 232 && OH == 232);
}

/* Bad bytes: every message names the file and what is wrong. */
static void check_bad_input(void)
{
    struct image_u8 im;
    const uint8_t junk[] = "GIF89a not ours";
    CHECK(image_decode_mem(junk, sizeof junk, "x.gif", 3, &im) == STATUS_BAD_INPUT);
    CHECK(strstr(status_message(), "x.gif: not a JPEG or PNG") != NULL);
    CHECK(image_decode_mem(junk, 0, "e.jpg", 3, &im) == STATUS_BAD_INPUT);
    CHECK(strstr(status_message(), "e.jpg: empty file") != NULL);
    CHECK(image_decode_file("no/such/file.jpg", 3, &im) == STATUS_IO);
    CHECK(strstr(status_message(), "no/such/file.jpg") != NULL);

    /* A decompression bomb (tests/fuzz/corpus/image/bomb.png: a valid PNG header claiming
     * 20000 x 20000 RGB, 400 M pixels, and 100 bytes of data) is refused from its header, before
     * any pixel memory, naming the limit. */
    CHECK(image_decode_file(RN_SOURCE_DIR "/tests/fuzz/corpus/image/bomb.png", 3, &im) == STATUS_BAD_INPUT);
    CHECK(strstr(status_message(), "bomb.png: image is 20000x20000 = 400000000 pixels, more than the limit") != NULL);
    /* A thin image whose resize would be the bomb: 1 x 30000 at Resize(256) is 256 x 7,680,000. */
    {
        struct image_u8 thin = { 0 };
        CHECK(image_u8_alloc(&thin, 1, 30000, 3) == STATUS_OK);
        if (thin.data) {
            memset(thin.data, 7, (size_t)30000 * 3);
            struct image_transform t;
            image_transform_default(&t);
            static uint8_t crop[3 * 224 * 224];
            CHECK(image_transform_eval(&thin, &t, crop) == STATUS_BAD_INPUT);
            CHECK(strstr(status_message(), "more than the limit") != NULL);
        }
        image_u8_free(&thin);
    }

    /* The first generated JPEG and PNG, cut in half and with their data scrambled. */
    char path[1024];
    const char *files[2] = { "rgb_500x375.jpg", "png_rgb_300x200.png" };
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/img/%s", outdir, files[f]);
        FILE *fp = fopen(path, "rb");
        CHECK(fp != NULL);
        if (!fp) continue;
        static uint8_t buf[1 << 20];
        const size_t n = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        CHECK(n > 1000 && n < sizeof buf);
        CHECK(image_decode_mem(buf, n / 2, files[f], 3, &im) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), files[f]) != NULL && strstr(status_message(), "truncated") != NULL);
        fprintf(stderr, "  half of %s: %s\n", files[f], status_message());
        for (size_t i = 400; i < n; i += 7) buf[i] ^= 0x5a;
        const int rc = image_decode_mem(buf, n, files[f], 3, &im);
        CHECK(rc == STATUS_BAD_INPUT);
        if (rc == STATUS_OK) image_u8_free(&im);
        fprintf(stderr, "  scrambled %s: %s\n", files[f], status_message());
    }
}

/* Model files: the preprocessing keys, their defaults and their errors (file:line, key). */
static void check_model_keys(void)
{
    static const char base[] = "block: basic\nlayers: [1, 1, 1, 1]\nwidth: 8\nstem: imagenet\nin_channels: 3\nclasses: 5\n"
                               "input: [48, 48]\n";
    static const struct { const char *extra, *needle; } bad[] = {
        { "crop: 40\n", ":8: key 'crop': [40, 40], expected the input size [48, 48]" },
        { "mean: [0.5]\n", ":8: key 'mean': 1 values, expected in_channels = 3" },
        { "std: [0.2, 0, 0.2]\n", ":8: key 'std': 0 for channel 1, expected > 0" },
        { "interpolation: nearest\n", ":8: key 'interpolation': expected bilinear or bicubic" },
        { "resize: -1\n", ":8: key 'resize': '-1' is not an integer in 0..8192" },
        { "mean: [a, b, c]\n", ":8: key 'mean': expected 1 or 3 finite numbers" },
    };
    const char *path = "test_image_io.model.yaml";
    struct resnet_config cfg;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        if (!f) return;
        fprintf(f, "%s%s", base, bad[i].extra);
        fclose(f);
        CHECK(resnet_config_load(path, &cfg) == STATUS_BAD_INPUT);
        if (!strstr(status_message(), bad[i].needle)) fprintf(stderr, "got '%s', want '%s'\n", status_message(), bad[i].needle);
        CHECK(strstr(status_message(), bad[i].needle) != NULL);
    }
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "%sresize: 55\ninterpolation: bicubic\nstd: [0.5, 0.25, 0.125]\n", base);
    fclose(f);
    CHECK(resnet_config_load(path, &cfg) == STATUS_OK);
    CHECK(cfg.pre.resize == 55 && cfg.pre.interp == IMAGE_INTERP_BICUBIC && cfg.pre.crop_h == 48 && cfg.pre.channels == 3);
    CHECK(cfg.pre.std[2] == 0.125f && cfg.pre.mean[0] == 0.485f);
    remove(path);
    /* Named models: torchvision's IMAGENET1K_V1, and the default model's Fashion-MNIST crop. */
    CHECK(resnet_config_load("resnet50", &cfg) == STATUS_OK);
    CHECK(cfg.pre.resize == 256 && cfg.pre.crop_w == 224 && cfg.pre.std[1] == 0.224f);
    CHECK(resnet_config_load("rn50-fmnist", &cfg) == STATUS_OK);
    CHECK(cfg.pre.resize == 0 && cfg.pre.channels == 1 && cfg.pre.mean[0] == 0.2860f && cfg.pre.std[0] == 0.3530f);
}

int main(void)
{
    check_size_rule();
    check_model_keys();
    if (!generate()) {
        fprintf(stderr, "test_image_io: /usr/bin/python3 with PIL and torchvision not available: skipped\n");
        return CHECK_SKIP;
    }
    char list[600], name[256], file[768];
    snprintf(list, sizeof list, "%s/list.txt", outdir);
    FILE *fp = fopen(list, "r");
    CHECK(fp != NULL);
    if (!fp) return check_summary();
    struct image_transform t3, t1, b3;
    image_transform_default(&t3);
    t1 = t3;
    t1.channels = 1;
    t1.resize = 32;
    t1.crop_h = t1.crop_w = 28;
    b3 = t3;
    b3.resize = 232;
    b3.interp = IMAGE_INTERP_BICUBIC;
    double worst = 0.0;
    int files = 0;
    while (fscanf(fp, "%255s %767s", name, file) == 2) {
        files++;
        check_decode(name, file, 3);
        check_decode(name, file, 1);
        const double w[4] = { check_transform(name, file, "t3", &t3), check_transform(name, file, "t1", &t1),
                              check_transform(name, file, "b3", &b3), check_transform(name, file, "rrc", &t3) };
        for (int i = 0; i < 4; i++)
            if (w[i] > worst) worst = w[i];
    }
    fclose(fp);
    CHECK(files >= 20);
    printf("test_image_io: %d files, decoding exact, transforms' max |difference| from torchvision %.3g (%.2f/255)\n", files,
           worst, worst * 255);
    check_bad_input();
    return check_summary();
}
