/* fuzz_image.c — image_decode_file (model/io/image_decode.c: libjpeg-turbo and libpng behind
 * Pillow's conversions) on hostile files, then the evaluation transform the crop cache applies
 * (torchvision's Resize(256) + CenterCrop(224), model/io/image_transform.c). The last input byte's
 * low bit picks one channel (Pillow "L") or three ("RGB"): decoders ignore bytes after the image. */
#include "fuzz_util.h"
#include "image_decode.h"
#include "image_transform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_input(data, size, ".img");
    if (!path) return 0;
    const int channels = size > 0 && (data[size - 1] & 1) ? 1 : 3;
    struct image_u8 im = { 0 };
    const int rc = image_decode_file(path, channels, &im);
    fuzz_check_status(rc, "image_decode_file");
    if (rc) return 0;
    struct image_transform t;
    image_transform_default(&t);
    t.channels = channels;
    /* The transform only while its Resize output stays under 2^20 pixels: a thin image (300 x 2
     * becomes 38400 x 256) is correct but takes over libFuzzer's 1 s per input under ASan; such
     * sizes and the pixel limit are tests/test_image_io.c's. */
    int OW, OH;
    image_resize_output_size(im.W, im.H, t.resize, &OW, &OH);
    if ((int64_t)OW * OH <= (1 << 20)) {
        static uint8_t crop[3 * 224 * 224];
        status_clear();
        fuzz_check_status(image_transform_eval(&im, &t, crop), "image_transform_eval");
    }
    image_u8_free(&im);
    return 0;
}
