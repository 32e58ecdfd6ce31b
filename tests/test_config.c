/* test_config.c — compression configs: resolution order (module name > module type > global),
 * null, full-match anchoring, weight thresholds, defaults, every error path with its line number
 * and message text, and every shipped example config loaded against resnet50 and rn50-fmnist. */
#include "check.h"
#include "config.h"
#include "resnet.h"
#include "status.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];
static int file_no;

/* Writes text to a fresh file under tmpdir and returns its path (static buffer per call slot). */
static const char *write_config(const char *text)
{
    static char paths[4][320];
    char *p = paths[file_no % 4];
    snprintf(p, sizeof paths[0], "%s/c%03d.yaml", tmpdir, file_no++);
    FILE *f = fopen(p, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", p);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    return p;
}

static const struct layer_plan *layer_of(const struct compress_plan *plan, const char *name)
{
    for (int i = 0; i < plan->n_layers; i++)
        if (!strcmp(plan->info[i].name, name)) return &plan->layer[i];
    fprintf(stderr, "no layer %s\n", name);
    exit(1);
}

static int load(const char *text, const struct resnet *net, struct compress_plan *plan)
{
    status_clear();
    return compress_config_load(write_config(text), net, plan);
}

static void resolution(const struct resnet *net)
{
    struct compress_plan plan;
    /* The shipped mixed example, inline so that the test states what it expects. */
    const char *mixed = "palettization:\n"
                        "  global_config: {n_bits: 4}\n"
                        "  module_type_configs:\n"
                        "    Linear: {n_bits: 6}\n"
                        "  module_name_configs:\n"
                        "    conv1: null\n"
                        "    layer4\\.[0-9]+\\.conv[0-9]: {n_bits: 6}\n"
                        "    layer4\\.0\\.conv2: {n_bits: 2}\n"   /* shadowed: the key above matches first (a warning) */
                        "    layer[1-4]\\.0\\.downsample\\.0: {n_bits: 8, granularity: per_grouped_channel, "
                        "group_size: 16}\n"
                        "    fc: {n_bits: 3}\n";
    CHECK(load(mixed, net, &plan) == 0);
    CHECK(plan.n_layers == net->n_conv + 1);
    CHECK(!layer_of(&plan, "conv1")->pal.enabled);
    CHECK(layer_of(&plan, "layer1.0.conv1")->pal.enabled && layer_of(&plan, "layer1.0.conv1")->pal.n_bits == 4);
    CHECK(layer_of(&plan, "layer4.0.conv2")->pal.n_bits == 6);
    CHECK(layer_of(&plan, "layer4.2.conv3")->pal.n_bits == 6);
    const struct layer_plan *ds = layer_of(&plan, "layer3.0.downsample.0");
    CHECK(ds->pal.n_bits == 8 && ds->pal.granularity == PAL_PER_GROUPED_CHANNEL && ds->pal.group_size == 16);
    CHECK(layer_of(&plan, "fc")->pal.n_bits == 3);   /* the name wins over the type */
    CHECK(!layer_of(&plan, "fc")->prune.enabled && !layer_of(&plan, "fc")->quant.enabled);
    compress_plan_free(&plan);

    /* A null type config leaves the type alone without falling through to global_config. */
    CHECK(load("pruning:\n  global_config: {target_sparsity: 0.75}\n  module_type_configs: {Linear: null}\n", net,
               &plan) == 0);
    CHECK(!layer_of(&plan, "fc")->prune.enabled);
    CHECK(layer_of(&plan, "conv1")->prune.enabled && layer_of(&plan, "conv1")->prune.target_sparsity == 0.75);
    compress_plan_free(&plan);

    /* A name config wins over a null type config; types without global leave other types alone. */
    CHECK(load("quantization:\n  module_type_configs:\n    Conv2d: null\n    Linear: {activation_dtype: none}\n"
               "  module_name_configs:\n    'layer2\\.1\\.conv1': {}\n",
               net, &plan) == 0);
    CHECK(layer_of(&plan, "layer2.1.conv1")->quant.enabled);
    CHECK(!layer_of(&plan, "layer2.1.conv2")->quant.enabled);
    CHECK(layer_of(&plan, "fc")->quant.enabled && !layer_of(&plan, "fc")->quant.activations);
    compress_plan_free(&plan);

    /* Full match: "conv1" is the stem only; "conv1|fc" is anchored as a whole. */
    CHECK(load("palettization:\n  module_name_configs:\n    conv1|fc: {n_bits: 2}\n", net, &plan) == 0);
    CHECK(layer_of(&plan, "conv1")->pal.enabled && layer_of(&plan, "fc")->pal.enabled);
    CHECK(!layer_of(&plan, "layer1.0.conv1")->pal.enabled);
    int n_enabled = 0;
    for (int i = 0; i < plan.n_layers; i++) n_enabled += plan.layer[i].pal.enabled;
    CHECK(n_enabled == 2);
    compress_plan_free(&plan);

    /* A key that names no layer is not an error (coremltools accepts it); a warning is printed. */
    fprintf(stderr, "(one expected warning follows)\n");
    CHECK(load("pruning:\n  module_name_configs:\n    layer9\\..*: {}\n", net, &plan) == 0);
    for (int i = 0; i < plan.n_layers; i++) CHECK(!plan.layer[i].prune.enabled);
    compress_plan_free(&plan);
}

static void defaults_and_thresholds(const struct resnet *net)
{
    struct compress_plan plan;
    /* {} and absent or null sections: nothing compressed. */
    CHECK(load("{}\n", net, &plan) == 0);
    CHECK(plan.weight_threshold == COMPRESS_DEFAULT_WEIGHT_THRESHOLD);
    for (int i = 0; i < plan.n_layers; i++)
        CHECK(!plan.layer[i].pal.enabled && !plan.layer[i].prune.enabled && !plan.layer[i].quant.enabled);
    compress_plan_free(&plan);
    CHECK(load("pruning: null\npalettization: {}\n", net, &plan) == 0);
    for (int i = 0; i < plan.n_layers; i++) CHECK(!plan.layer[i].pal.enabled && !plan.layer[i].prune.enabled);
    compress_plan_free(&plan);

    /* coremltools' defaults. */
    CHECK(load("pruning: {global_config: {}}\npalettization: {global_config: {}}\nquantization: {global_config: {}}\n",
               net, &plan) == 0);
    const struct layer_plan *l = layer_of(&plan, "layer1.0.conv2");
    CHECK(l->prune.target_sparsity == 0.5 && l->prune.granularity == PRUNE_PER_SCALAR && l->prune.block_size == 1);
    CHECK(l->prune.n_m_n == 0 && l->prune.n_m_m == 0);
    CHECK(l->pal.n_bits == 4 && l->pal.granularity == PAL_PER_TENSOR && l->pal.channel_axis == 0);
    CHECK(!l->pal.per_channel_scale && l->pal.algorithm == PAL_KMEANS);
    CHECK(l->quant.symmetric && l->quant.activations && l->quant.observer == QUANT_MOVING_AVERAGE_MIN_MAX);
    CHECK(l->quant.calibration_samples == 128);
    CHECK(!l->prune.reconstruct);
    compress_plan_free(&plan);

    /* Every field set. */
    CHECK(load("pruning:\n  global_config: {target_sparsity: 0.25, granularity: per_scalar, block_size: 4, "
               "n_m_ratio: [2, 4], reconstruct: true}\n"
               "palettization:\n  global_config: {n_bits: 3, granularity: per_grouped_channel, group_size: 8,\n"
               "    channel_axis: 1, enable_per_channel_scale: true, algorithm: skm}\n"
               "quantization:\n  global_config: {quantization_scheme: affine, weight_dtype: int8,\n"
               "    activation_dtype: float16, activation_observer: min_max, calibration_samples: 32}\n",
               net, &plan) == 0);
    l = layer_of(&plan, "layer2.0.conv2");
    CHECK(l->prune.target_sparsity == 0.25 && l->prune.block_size == 4 && l->prune.n_m_n == 2 && l->prune.n_m_m == 4);
    CHECK(l->prune.reconstruct);
    CHECK(l->pal.n_bits == 3 && l->pal.group_size == 8 && l->pal.channel_axis == 1 && l->pal.per_channel_scale);
    CHECK(l->pal.algorithm == PAL_SKM);
    CHECK(!l->quant.symmetric && !l->quant.activations && l->quant.observer == QUANT_MIN_MAX);
    CHECK(l->quant.calibration_samples == 32);
    compress_plan_free(&plan);

    /* coremltools' torch-side spellings (LinearQuantizerConfig): qint8 weights, quint8 or float32
     * activations, weight_per_channel, weight_observer; the same plan as ours. */
    CHECK(load("quantization:\n  global_config: {quantization_scheme: symmetric, weight_dtype: qint8, weight_per_channel: true,\n"
               "    activation_dtype: quint8, activation_observer: moving_average_min_max, weight_observer: min_max}\n"
               "  module_name_configs:\n    fc: {weight_dtype: qint8, activation_dtype: float32}\n",
               net, &plan) == 0);
    l = layer_of(&plan, "layer2.0.conv2");
    CHECK(l->quant.enabled && l->quant.symmetric && l->quant.activations && l->quant.calibration_samples == 128);
    l = layer_of(&plan, "fc");
    CHECK(l->quant.enabled && !l->quant.activations);
    compress_plan_free(&plan);
    CHECK(load("quantization:\n  global_config: {weight_dtype: int8, activation_dtype: int8}\n", net, &plan) == 0);
    CHECK(layer_of(&plan, "layer2.0.conv2")->quant.activations);
    compress_plan_free(&plan);

    /* Ragged groups: coremltools leaves a layer whose channels the group size does not divide in
     * fp16, and so does the plan. ResNet50's fc has 1000 outputs (16 does not divide them, 8
     * does), conv1 3 inputs (channel_axis 1 with groups of 2 does not fit). */
    CHECK(load("palettization:\n  global_config: {n_bits: 4, granularity: per_grouped_channel, group_size: 16}\n", net,
               &plan) == 0);
    CHECK(!layer_of(&plan, "fc")->pal.enabled && layer_of(&plan, "layer1.0.conv1")->pal.enabled);
    compress_plan_free(&plan);
    CHECK(load("palettization:\n  global_config: {n_bits: 4, granularity: per_grouped_channel, group_size: 8}\n", net,
               &plan) == 0);
    CHECK(layer_of(&plan, "fc")->pal.enabled && layer_of(&plan, "fc")->pal.group_size == 8);
    compress_plan_free(&plan);
    CHECK(load("palettization:\n  global_config: {n_bits: 4, granularity: per_grouped_channel, group_size: 2, channel_axis: 1}\n",
               net, &plan) == 0);
    CHECK(!layer_of(&plan, "conv1")->pal.enabled && layer_of(&plan, "layer1.0.conv1")->pal.enabled);
    compress_plan_free(&plan);

    /* Thresholds: MORE elements than the threshold. layer1.0.conv1 has 64*64 = 4096 weights, the
     * stem 64*3*7*7 = 9408. A module config's own threshold overrides the section's. */
    CHECK(load("palettization:\n  weight_threshold: 4096\n  global_config: {n_bits: 4}\n", net, &plan) == 0);
    CHECK(!layer_of(&plan, "layer1.0.conv1")->pal.enabled && layer_of(&plan, "conv1")->pal.enabled);
    CHECK(plan.weight_threshold == 4096);
    compress_plan_free(&plan);
    CHECK(load("palettization:\n  weight_threshold: 4095\n  global_config: {n_bits: 4}\n", net, &plan) == 0);
    CHECK(layer_of(&plan, "layer1.0.conv1")->pal.enabled);
    compress_plan_free(&plan);
    CHECK(load("palettization:\n  weight_threshold: 10000\n  global_config: {n_bits: 4}\n"
               "  module_name_configs:\n    layer1\\.0\\.conv1: {n_bits: 4, weight_threshold: 0}\n"
               "pruning:\n  weight_threshold: 100\n  global_config: {}\n",
               net, &plan) == 0);
    CHECK(layer_of(&plan, "layer1.0.conv1")->pal.enabled && !layer_of(&plan, "conv1")->pal.enabled);
    CHECK(layer_of(&plan, "conv1")->prune.enabled && layer_of(&plan, "layer1.0.conv2")->pal.enabled);
    CHECK(plan.weight_threshold == 100);   /* the smallest section threshold */
    compress_plan_free(&plan);
}

/* One error case: the text, the line the message must name, and substrings it must contain. */
struct error_case {
    const char *text;
    int line;                /* 0: the message names no line (whole-file errors) */
    const char *want[3];
};

static void errors(const struct resnet *net)
{
    static const struct error_case cases[] = {
        { "palletization: {}\n", 1, { "unknown key 'palletization'", "expected pruning, palettization or quantization" } },
        { "pruning:\n  global: {}\n", 2, { "pruning: unknown key 'global'", "global_config, module_type_configs" } },
        { "palettization:\n  global_config:\n    nbits: 4\n", 3,
          { "palettization.global_config: unknown key 'nbits'", "expected n_bits, granularity" } },
        { "palettization:\n  global_config:\n    n_bits: 9\n", 3, { "key 'n_bits'", "'9' is not an integer in 1..8" } },
        { "palettization:\n  global_config:\n    n_bits: four\n", 3, { "key 'n_bits'", "'four'" } },
        { "palettization:\n  global_config:\n    n_bits: [4]\n", 3, { "key 'n_bits'", "expected an integer" } },
        { "palettization:\n  global_config:\n    n_bits: \"4\"\n", 3, { "key 'n_bits'", "expected an integer" } },
        { "palettization:\n  global_config:\n    n_bits: 4.5\n", 3, { "'4.5' is not an integer" } },
        { "palettization:\n  global_config:\n    granularity: per_row\n", 3,
          { "key 'granularity'", "'per_row' is not allowed", "expected per_tensor or per_grouped_channel" } },
        { "palettization:\n  global_config:\n    n_bits: 4\n    granularity: per_grouped_channel\n", 3,
          { "per_grouped_channel needs key 'group_size'" } },
        { "palettization:\n  global_config:\n    n_bits: 4\n    group_size: 8\n", 4,
          { "key 'group_size' applies only to granularity per_grouped_channel" } },
        { "palettization:\n  global_config:\n    granularity: per_grouped_channel\n    group_size: 0\n", 4,
          { "key 'group_size'", "'0' is not an integer in 1.." } },
        { "palettization:\n  global_config:\n    channel_axis: 2\n", 3, { "key 'channel_axis'", "in 0..1" } },
        { "palettization:\n  global_config:\n    enable_per_channel_scale: maybe\n", 3,
          { "key 'enable_per_channel_scale'", "not a boolean (expected true or false)" } },
        { "pruning:\n  global_config:\n    reconstruct: 1\n", 3,
          { "key 'reconstruct'", "not a boolean (expected true or false)" } },
        { "palettization:\n  global_config:\n    algorithm: gptq\n", 3, { "key 'algorithm'", "expected kmeans, skm or dkm" } },
        { "palettization:\n  global_config:\n    n_bits: 4\n    n_bits: 2\n", 4, { "key 'n_bits' given twice" } },
        { "palettization:\n  global_config: 4\n", 2, { "palettization.global_config: expected a mapping" } },
        { "pruning:\n  global_config:\n    target_sparsity: 1.5\n", 3,
          { "key 'target_sparsity'", "'1.5' is not a number in 0..1" } },
        { "pruning:\n  global_config:\n    target_sparsity: .nan\n", 3, { "key 'target_sparsity'", "'.nan'" } },
        { "pruning:\n  global_config:\n    target_sparsity: half\n", 3, { "'half' is not a number" } },
        { "pruning:\n  global_config:\n    granularity: per_block\n", 3,
          { "expected per_scalar, per_kernel or per_channel" } },
        { "pruning:\n  global_config:\n    n_m_ratio: [3, 2]\n", 3, { "key 'n_m_ratio'", "1 <= n <= m" } },
        { "pruning:\n  global_config:\n    n_m_ratio: 4\n", 3, { "key 'n_m_ratio'", "expected a list [n, m]" } },
        { "pruning:\n  global_config:\n    n_m_ratio: [1, x]\n", 3, { "key 'n_m_ratio'", "'x' is not an integer" } },
        { "pruning:\n  global_config:\n    target_sparsity: 0.9\n    scheduler: {update_steps: [100, 0]}\n", 4,
          { "key 'update_steps'", "steps must increase" } },
        { "pruning:\n  global_config:\n    scheduler: {update_steps: \"range(5, 2)\"}\n", 3,
          { "key 'update_steps'", "range(begin, end[, step])" } },
        { "palettization:\n  global_config:\n    palett_tau: 0.001\n", 3,
          { "key 'palett_tau' applies only to algorithm dkm" } },
        { "pruning:\n  global_config:\n    granularity: per_channel\n    block_size: 2\n", 3,
          { "key 'block_size' applies only to granularity per_scalar", "per_channel" } },
        { "quantization:\n  global_config:\n    quantization_scheme: asymmetric\n", 3,
          { "key 'quantization_scheme'", "expected affine or symmetric" } },
        { "quantization:\n  global_config:\n    weight_dtype: int4\n", 3, { "key 'weight_dtype'", "expected int8" } },
        { "quantization:\n  global_config:\n    activation_dtype: uint8\n", 3,
          { "key 'activation_dtype'", "expected float16, int8, none, quint8 or float32" } },
        { "quantization:\n  global_config:\n    weight_per_channel: false\n", 3,
          { "key 'weight_per_channel'", "false is not supported", "expected true" } },
        { "quantization:\n  global_config:\n    weight_dtype: torch.qint8\n", 3,
          { "key 'weight_dtype'", "expected int8 or qint8" } },
        { "quantization:\n  global_config:\n    activation_observer: histogram\n", 3,
          { "expected min_max or moving_average_min_max" } },
        { "quantization:\n  global_config:\n    calibration_samples: 0\n", 3, { "key 'calibration_samples'", "'0'" } },
        { "quantization:\n  weight_threshold: -1\n", 2, { "key 'weight_threshold'", "'-1' is not an integer in 0.." } },
        { "quantization:\n  module_type_configs:\n    Conv3d: {}\n", 3,
          { "module_type_configs: unknown key 'Conv3d'", "expected Conv2d or Linear" } },
        { "quantization:\n  module_type_configs:\n    Conv2d: {}\n    Conv2d: null\n", 4, { "key 'Conv2d' given twice" } },
        { "quantization:\n  module_name_configs:\n    fc: {}\n    layer[1: {}\n", 4,
          { "key 'layer[1' is not a usable POSIX extended regular expression" } },
        /* Found by fuzzing: stacked quantifiers made glibc's regcomp take ~2.8 GB. */
        { "palettization:\n  module_name_configs:\n    la+++++++++++++++++ye[0-4]+: {}\n", 3,
          { "palettization.module_name_configs: key 'la+++", "a quantifier applied to a quantifier" } },
        { "pruning:\n  module_name_configs:\n    (conv)\\1: {}\n", 3, { "a back-reference" } },
        { "quantization:\n  module_name_configs:\n    fc:\n      activation_dtype: int9\n", 4,
          { "quantization.module_name_configs['fc']: key 'activation_dtype'" } },
        { "quantization:\n  module_name_configs: [fc]\n", 2, { "expected a mapping from module-name regexes" } },
        { "pruning: {}\npruning: {}\n", 2, { "top level: key 'pruning' given twice" } },
        { "palettization: [\n", 2, { "YAML syntax error" } },
        { "- pruning\n", 1, { "top level: expected a mapping" } },
        { "{}\n---\n{}\n", 2, { "a second YAML document" } },
        { "# nothing\n", 0, { "empty compression config (write {} for no compression)" } },
    };
    struct compress_plan plan;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *path = write_config(cases[i].text);
        status_clear();
        memset(&plan, 0x5a, sizeof plan);
        const int rc = compress_config_load(path, net, &plan);
        const char *msg = status_message();
        char prefix[400];
        if (cases[i].line)
            snprintf(prefix, sizeof prefix, "%s:%d: ", path, cases[i].line);
        else
            snprintf(prefix, sizeof prefix, "%s: ", path);
        int ok = rc == STATUS_BAD_INPUT && strncmp(msg, prefix, strlen(prefix)) == 0;
        for (int k = 0; k < 3 && cases[i].want[k]; k++) ok = ok && strstr(msg, cases[i].want[k]) != NULL;
        ok = ok && plan.n_layers == 0 && !plan.info && !plan.layer;   /* never half a result */
        CHECK(ok);
        if (!ok) fprintf(stderr, "  case %zu: rc %d, message: %s\n", i, rc, msg);
    }
    status_clear();
    CHECK(compress_config_load("/nonexistent/c.yaml", net, &plan) == STATUS_IO);
    CHECK(strstr(status_message(), "/nonexistent/c.yaml: cannot open") != NULL);
    compress_plan_free(&plan);
    compress_plan_free(NULL);
}

/* Every shipped example loads against both models; each but fp16 compresses something. */
static void examples(const struct resnet *const *nets, int n_nets)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/configs/compress", RN_SOURCE_DIR);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d) return;
    int n_files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        n_files++;
        for (int m = 0; m < n_nets; m++) {
            struct compress_plan plan;
            status_clear();
            const int rc = compress_config_load(path, nets[m], &plan);
            if (rc) fprintf(stderr, "%s on %s: %s\n", e->d_name, nets[m]->cfg.name, status_message());
            CHECK(rc == 0);
            int n_on = 0;
            for (int i = 0; i < plan.n_layers; i++)
                n_on += plan.layer[i].pal.enabled || plan.layer[i].prune.enabled || plan.layer[i].quant.enabled;
            CHECK(strcmp(e->d_name, "fp16.yaml") ? n_on > 0 : n_on == 0);
            printf("  %-26s %-12s %2d of %d layers compressed\n", e->d_name, nets[m]->cfg.name, n_on, plan.n_layers);
            compress_plan_free(&plan);
        }
    }
    closedir(d);
    CHECK(n_files >= 11);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/rn_test_config_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    struct resnet_config c50, cfm;
    struct resnet *rn50 = NULL, *fm = NULL;
    CHECK(resnet_config_load("resnet50", &c50) == 0 && resnet_alloc(&c50, 1, &rn50) == 0);
    CHECK(resnet_config_load("rn50-fmnist", &cfm) == 0 && resnet_alloc(&cfm, 1, &fm) == 0);
    if (!rn50 || !fm) return check_summary();

    struct compress_plan empty;
    CHECK(compress_plan_init_empty(rn50, &empty) == 0);
    CHECK(empty.n_layers == 54 && !strcmp(empty.info[0].name, "conv1") && !strcmp(empty.info[53].name, "fc"));
    CHECK(empty.info[53].is_linear && empty.info[53].OC == 1000 && empty.info[53].K == 2048);
    CHECK(empty.info[0].OC == 64 && empty.info[0].K == 3 * 7 * 7 && empty.info[0].IC == 3);
    compress_plan_free(&empty);

    resolution(rn50);
    defaults_and_thresholds(rn50);
    errors(rn50);
    const struct resnet *nets[2] = { rn50, fm };
    examples(nets, 2);

    /* Remove the scratch files. */
    for (int i = 0; i < file_no; i++) {
        char p[320];
        snprintf(p, sizeof p, "%s/c%03d.yaml", tmpdir, i);
        remove(p);
    }
    rmdir(tmpdir);
    resnet_free(rn50);
    resnet_free(fm);
    return check_summary();
}
