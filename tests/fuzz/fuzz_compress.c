/* fuzz_compress.c — a compression config all the way through, as `rn50-tune compress` and an
 * evaluation run it: compress_config_load, compress_apply, format_save, format_load and a forward
 * pass of the loaded model, on a tiny bottleneck ResNet (one block per stage, width 4, 8x8 input)
 * so each input takes milliseconds. Plans that need calibration images are read and skipped.
 * Beyond the readers' contract: a failed save leaves no file and no temporary behind. */
#include "apply.h"
#include "compress.h"
#include "config.h"
#include "format.h"
#include "fuzz_util.h"
#include "ops.h"
#include "resnet.h"

static struct resnet_config tiny_cfg = {
    .name = "tiny", .block = RESNET_BOTTLENECK, .layers = { 1, 1, 1, 1 }, .width = 4, .stem = RESNET_STEM_SMALL,
    .in_channels = 1, .n_classes = 10, .in_h = 8, .in_w = 8,
};
static float tiny_x[2 * 8 * 8];
static char out_path[300], tmp_path[310];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ops_set_threads(1);
    for (int i = 0; i < 2 * 8 * 8; i++) tiny_x[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
    snprintf(out_path, sizeof out_path, "%s.out.safetensors", fuzz_input_path(".yaml"));
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", out_path);
    return 0;
}

static void no_output_left(int saved)
{
    if (!saved && access(out_path, F_OK) == 0) {
        fprintf(stderr, "fuzz_compress: a failed save left %s\n", out_path);
        abort();
    }
    if (access(tmp_path, F_OK) == 0) {
        fprintf(stderr, "fuzz_compress: a temporary %s was left\n", tmp_path);
        abort();
    }
    unlink(out_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_input(data, size, ".yaml");
    if (!path) return 0;
    struct resnet *net = NULL, *loaded = NULL;
    struct compressed_weight *cw = NULL;
    struct resnet_infer *ws = NULL;
    struct compress_plan plan = { 0 };
    struct apply_result res = { 0 };
    int saved = 0;
    int rc = resnet_alloc(&tiny_cfg, 7, &net);
    if (!rc) rc = compress_config_load(path, net, &plan);
    if (!rc && plan_needs_calibration(&plan)) goto done;
    if (!rc) rc = compress_apply(net, &plan, NULL, &res);
    if (!rc) rc = format_save(out_path, net, &plan, res.cw, res.aq, "fuzz");
    saved = rc == STATUS_OK;
    if (!rc) rc = format_load(out_path, &loaded, &cw);
    if (!rc) rc = resnet_infer_alloc(loaded, 2, &ws);
    if (!rc) {
        float logits[2 * 10];
        resnet_infer(ws, tiny_x, 2, logits);
    }
done:
    fuzz_check_status(rc, "compress");
    no_output_left(saved);
    resnet_infer_free(ws);
    if (cw) {
        for (int i = 0; i <= loaded->n_conv; i++) compressed_weight_free(&cw[i]);
        free(cw);
    }
    if (loaded) {
        format_free_activations(loaded);
        resnet_free(loaded);
    }
    apply_result_free(&res);
    compress_plan_free(&plan);
    if (net) format_free_activations(net);
    resnet_free(net);
    return 0;
}
