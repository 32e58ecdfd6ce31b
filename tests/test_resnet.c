/* test_resnet.c — the architecture tables, the model-file parser's errors, the fast forward pass
 * against the reference one, and parity with PyTorch on the committed fixtures
 * (tests/fixtures/make_parity.py: torchvision ResNets with random weights and BN statistics). */
#include "check.h"
#include "npy.h"
#include "resnet.h"
#include "rng.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

#ifndef RN_SOURCE_DIR
#define RN_SOURCE_DIR "."
#endif
#define SEED 7
/* Parity: max |ours - PyTorch's float64 logits| over the logit range (issue 2). */
#define TOL_PARITY 1e-4

static int64_t count_trainable(const struct resnet *net)
{
    int64_t n = 0;
    for (int i = 0; i < net->n_param; i++) n += net->param[i].trainable ? net->param[i].numel : 0;
    return n;
}

static void test_tables(void)
{
    /* Parameter counts of torchvision's models (sum of p.numel() over model.parameters()). */
    static const struct { const char *name; int64_t params; } known[] = {
        { "resnet18", 11689512 }, { "resnet34", 21797672 }, { "resnet50", 25557032 },
        { "resnet101", 44549160 }, { "resnet152", 60192808 },
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        struct resnet_config cfg;
        struct resnet *net = NULL;
        CHECK(resnet_config_load(known[i].name, &cfg) == STATUS_OK);
        CHECK(resnet_alloc(&cfg, SEED, &net) == STATUS_OK);
        if (!net) continue;
        CHECK(count_trainable(net) == known[i].params);
        if (strcmp(known[i].name, "resnet50") == 0) {
            CHECK(net->n_conv == 53);
            CHECK(resnet_find_param(net, "layer1.0.downsample.0.weight") >= 0);
            CHECK(resnet_find_param(net, "layer4.2.bn3.running_var") >= 0);
            CHECK(resnet_find_conv(net, "layer3.5.conv2") >= 0);
            CHECK(net->features == 2048);
            /* 4.09 GMAC at 224x224 (KERNELS.md), counted as 2 FLOPs each. */
            CHECK_REL((double)net->flops, 8.18e9, 0.01);
        }
        resnet_free(net);
    }
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static void expect_yaml_error(const char *text, const char *needle)
{
    const char *path = "test_resnet_model.yaml";
    struct resnet_config cfg;
    CHECK(write_file(path, text) == 0);
    const int rc = resnet_config_load(path, &cfg);
    CHECK(rc == STATUS_BAD_INPUT);
    if (!strstr(status_message(), needle)) {
        fprintf(stderr, "expected '%s' in: %s\n", needle, status_message());
        CHECK(0);
    }
    remove(path);
}

static void test_model_files(void)
{
    struct resnet_config cfg;
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/models/rn50-fmnist.yaml", RN_SOURCE_DIR);
    CHECK(resnet_config_load(path, &cfg) == STATUS_OK);
    struct resnet_config named;
    CHECK(resnet_config_load("rn50-fmnist", &named) == STATUS_OK);
    CHECK(memcmp(cfg.layers, named.layers, sizeof cfg.layers) == 0 && cfg.width == named.width &&
          cfg.stem == named.stem && cfg.in_h == named.in_h && cfg.n_classes == named.n_classes);

    static const char good[] = "block: bottleneck\nlayers: [3, 4, 6, 3]\nwidth: 8\nstem: small\n"
                               "in_channels: 1\nclasses: 10\ninput: [28, 28]\n";
    char text[512];
    snprintf(text, sizeof text, "%sdepth: 3\n", good);
    expect_yaml_error(text, ":8: unknown key 'depth'");
    expect_yaml_error("block: bottleneck\nlayers: [3, 4, 6]\n", ":2: key 'layers': expected a list of exactly 4");
    expect_yaml_error("block: tree\n", ":1: key 'block': expected basic or bottleneck");
    expect_yaml_error("block: basic\nwidth: wide\n", ":2: key 'width': 'wide' is not an integer");
    expect_yaml_error("block: basic\nwidth: 0\n", ":2: key 'width': '0' is not an integer in 1..1024");
    expect_yaml_error("block: basic\n", "missing key 'layers'");
    expect_yaml_error("block: 'basic\n", "YAML syntax error");
    snprintf(text, sizeof text, "%swidth: 9\n", good);
    expect_yaml_error(text, ":8: key 'width' given twice");
    CHECK(resnet_config_load("resnet49", &cfg) == STATUS_BAD_INPUT);
    CHECK(strstr(status_message(), "unknown model") != NULL);
    CHECK(resnet_config_load("no/such/model.yaml", &cfg) == STATUS_IO);
}

/* The fast forward pass against the all-reference one on a small random network. */
static void test_fast_vs_ref(const char *model_name)
{
    struct resnet_config cfg;
    struct resnet *net = NULL;
    struct resnet_infer *ws = NULL;
    CHECK(resnet_config_load(model_name, &cfg) == STATUS_OK);
    cfg.width = 4;
    cfg.in_h = cfg.in_w = cfg.stem == RESNET_STEM_SMALL ? 12 : 40;
    CHECK(resnet_alloc(&cfg, SEED, &net) == STATUS_OK);
    CHECK(resnet_infer_alloc(net, 2, &ws) == STATUS_OK);
    if (!net || !ws) return;
    struct rng r;
    rng_seed(&r, SEED);
    const int64_t per = (int64_t)cfg.in_channels * cfg.in_h * cfg.in_w;
    float *x = malloc(sizeof(float) * 2 * per), *a = malloc(sizeof(float) * 2 * cfg.n_classes),
          *b = malloc(sizeof(float) * 2 * cfg.n_classes);
    for (int64_t i = 0; i < 2 * per; i++) x[i] = (float)rng_normal(&r);
    resnet_infer(ws, x, 2, a);
    resnet_infer_ref(ws, x, 2, b);
    for (int i = 0; i < 2 * cfg.n_classes; i++) CHECK_ABS(a[i], b[i], 1e-4 * (1 + fabs(b[i])));
    free(x); free(a); free(b);
    resnet_infer_free(ws);
    resnet_free(net);
}

static int test_parity(const char *name)
{
    char yaml[1024], weights[1024], input[1024], logits_path[1024];
    snprintf(yaml, sizeof yaml, "%s/tests/data/%s.yaml", RN_SOURCE_DIR, name);
    snprintf(weights, sizeof weights, "%s/tests/data/%s.safetensors", RN_SOURCE_DIR, name);
    snprintf(input, sizeof input, "%s/tests/data/%s.input.npy", RN_SOURCE_DIR, name);
    snprintf(logits_path, sizeof logits_path, "%s/tests/data/%s.logits.npy", RN_SOURCE_DIR, name);
    struct resnet_config cfg;
    if (resnet_config_load(yaml, &cfg) != STATUS_OK) {
        fprintf(stderr, "skip: %s\n", status_message());
        return 0;
    }
    struct resnet *net = NULL;
    struct resnet_infer *ws = NULL;
    float *x = NULL, *want = NULL;
    int ndim, wdim;
    int64_t xs[NPY_MAX_DIMS], ws_[NPY_MAX_DIMS];
    CHECK(resnet_alloc(&cfg, SEED, &net) == STATUS_OK);
    CHECK(resnet_load_weights(net, weights) == STATUS_OK);
    CHECK(npy_read_f32(input, &x, &ndim, xs) == STATUS_OK);
    CHECK(npy_read_f32(logits_path, &want, &wdim, ws_) == STATUS_OK);
    if (!x || !want || !net) return 1;
    const int N = (int)xs[0];
    CHECK(ws_[0] == N && ws_[1] == cfg.n_classes);
    CHECK(resnet_infer_alloc(net, N, &ws) == STATUS_OK);
    float *got = malloc(sizeof(float) * N * cfg.n_classes);
    resnet_infer(ws, x, N, got);
    double maxdiff = 0, lo = want[0], hi = want[0];
    for (int i = 0; i < N * cfg.n_classes; i++) {
        maxdiff = fmax(maxdiff, fabs((double)got[i] - want[i]));
        lo = fmin(lo, want[i]);
        hi = fmax(hi, want[i]);
    }
    for (int n = 0; n < N; n++) {
        int ag = 0, aw = 0;
        for (int c = 1; c < cfg.n_classes; c++) {
            if (got[n * cfg.n_classes + c] > got[n * cfg.n_classes + ag]) ag = c;
            if (want[n * cfg.n_classes + c] > want[n * cfg.n_classes + aw]) aw = c;
        }
        CHECK(ag == aw);
    }
    printf("parity %s: max |diff| %.3g, logit range %.3g, ratio %.3g\n", name, maxdiff, hi - lo, maxdiff / (hi - lo));
    CHECK(maxdiff <= TOL_PARITY * (hi - lo));
    free(got); free(x); free(want);
    resnet_infer_free(ws);
    resnet_free(net);
    return 1;
}

int main(void)
{
    printf("seed %d\n", SEED);
    ops_set_threads(2);
    test_tables();
    test_model_files();
    test_fast_vs_ref("rn50-fmnist");
    test_fast_vs_ref("resnet50");
    test_fast_vs_ref("resnet18");
    int ran = test_parity("rn50w8-small") + test_parity("rn50w8-imagenet") + test_parity("rn18w8-imagenet");
    CHECK(ran == 3);   /* the fixtures are committed: missing ones are a failure, not a skip */
    return check_summary();
}
