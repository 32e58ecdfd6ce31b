/* test_config_write.c — plan -> config YAML (compress/config_write.c): the key of a module name
 * escapes every regex special character and YAML quote, and a plan written out reads back
 * (compress_config_load) to the same per-layer settings, on rn50-fmnist's shapes. */
#include "check.h"
#include "config.h"
#include "config_write.h"
#include "resnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check_key(const char *name, const char *want)
{
    struct strbuf b = { 0 };
    config_write_key(&b, name);
    CHECK(!b.oom && b.p && strcmp(b.p, want) == 0);
    if (b.p && strcmp(b.p, want) != 0) fprintf(stderr, "  key of '%s': got %s, want %s\n", name, b.p, want);
    free(b.p);
}

static void test_keys(void)
{
    check_key("layer1.0.conv1", "'layer1\\.0\\.conv1'");
    check_key("fc", "'fc'");
    /* Not torchvision names, but a model file may name layers freely: every ERE special is
     * escaped, and a single quote is doubled for YAML. */
    check_key("a+b(c)|d", "'a\\+b\\(c\\)\\|d'");
    check_key("x[1]{2}*?^$\\", "'x\\[1\\]\\{2\\}\\*\\?\\^\\$\\\\'");
    check_key("it's", "'it''s'");
}

static int write_file(const char *path, const struct strbuf *b)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    const int ok = fwrite(b->p, 1, b->len, f) == b->len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* A mixed plan (grouped and per-tensor LUTs, pruning, both, W8A8 and W8A16 layers) written and
 * read back must give each layer the settings it had. */
static void test_round_trip(const struct resnet *net, const char *dir)
{
    char in_path[320], out_path[320];
    snprintf(in_path, sizeof in_path, "%s/in.yaml", dir);
    snprintf(out_path, sizeof out_path, "%s/out.yaml", dir);
    const char *config = "palettization:\n"
                         "  weight_threshold: 0\n"
                         "  module_name_configs:\n"
                         "    layer1\\.0\\.conv1: {n_bits: 3, granularity: per_grouped_channel, group_size: 8}\n"
                         "    layer2\\.0\\.conv2: {n_bits: 5}\n"
                         "    layer3\\.0\\.conv1: {n_bits: 2}\n"
                         "pruning:\n"
                         "  weight_threshold: 0\n"
                         "  module_name_configs:\n"
                         "    layer3\\.0\\.conv1: {target_sparsity: 0.6180339887}\n"
                         "    layer4\\.0\\.conv2: {target_sparsity: 0.9}\n"
                         "quantization:\n"
                         "  weight_threshold: 0\n"
                         "  module_name_configs:\n"
                         "    layer2\\.1\\.conv1: {weight_dtype: int8, activation_dtype: int8}\n"
                         "    layer1\\.1\\.conv2: {weight_dtype: int8, activation_dtype: float16}\n";
    struct strbuf text = { .p = (char *)config, .len = strlen(config) };
    CHECK(write_file(in_path, &text) == 0);
    struct compress_plan plan, back;
    memset(&plan, 0, sizeof plan);
    memset(&back, 0, sizeof back);
    CHECK(compress_config_load(in_path, net, &plan) == 0);
    struct strbuf b = { 0 };
    config_write_plan(&b, &plan, "test_config_write: round trip");
    CHECK(!b.oom && b.p && strncmp(b.p, "# test_config_write: round trip\n", 32) == 0);
    CHECK(b.p && write_file(out_path, &b) == 0);
    CHECK(compress_config_load(out_path, net, &back) == 0);
    CHECK(back.n_layers == plan.n_layers && plan.n_layers > 0);
    int n_pal = 0, n_prune = 0, n_quant = 0;
    for (int i = 0; i < plan.n_layers && back.n_layers == plan.n_layers; i++) {
        const struct layer_plan *x = &plan.layer[i], *y = &back.layer[i];
        CHECK(x->pal.enabled == y->pal.enabled && x->prune.enabled == y->prune.enabled && x->quant.enabled == y->quant.enabled);
        if (x->pal.enabled && y->pal.enabled) {
            n_pal++;
            CHECK(x->pal.n_bits == y->pal.n_bits && x->pal.granularity == y->pal.granularity);
            if (x->pal.granularity == PAL_PER_GROUPED_CHANNEL) CHECK(x->pal.group_size == y->pal.group_size);
        }
        if (x->prune.enabled && y->prune.enabled) {
            n_prune++;
            CHECK(x->prune.target_sparsity == y->prune.target_sparsity);   /* %.17g: exact */
        }
        if (x->quant.enabled && y->quant.enabled) {
            n_quant++;
            CHECK(x->quant.activations == y->quant.activations);
        }
    }
    CHECK(n_pal == 3 && n_prune == 2 && n_quant == 2);
    free(b.p);
    compress_plan_free(&plan);
    compress_plan_free(&back);

    /* Nothing compressed: an empty mapping that reads back as every layer left alone. */
    struct compress_plan none;
    memset(&none, 0, sizeof none);
    struct strbuf e = { 0 };
    const char *empty = "{}\n";
    struct strbuf et = { .p = (char *)empty, .len = strlen(empty) };
    CHECK(write_file(in_path, &et) == 0);
    CHECK(compress_config_load(in_path, net, &none) == 0);
    config_write_plan(&e, &none, NULL);
    CHECK(e.p && strcmp(e.p, "{}\n") == 0);
    free(e.p);
    compress_plan_free(&none);
    remove(in_path);
    remove(out_path);
}

int main(void)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/rn_test_config_write_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_keys();
    struct resnet_config cfg;
    struct resnet *net = NULL;
    CHECK(resnet_config_load("rn50-fmnist", &cfg) == 0 && resnet_alloc(&cfg, 1, &net) == 0);
    if (net) test_round_trip(net, dir);
    resnet_free(net);
    rmdir(dir);
    return check_summary();
}
