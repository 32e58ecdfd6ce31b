/* test_export.c — the chosen config's export (search/export_coreml.c): our own YAML must load back
 * (compress_config_load) into the same plan for every example config and for hand-built plans
 * (global, per-layer mixed at random, joint prune+palettize+quantize, layers left alone, a small
 * layer compressed below the threshold, SKM/DKM with its fine-tuning knobs, grouped LUTs on either
 * axis, structured and scheduled pruning); the YAML is compact (global_config for the common setting, per-name entries only for
 * the exceptions); every file is valid YAML with coremltools' field names. Seed printed. */
#include "check.h"
#include "config.h"
#include "export_coreml.h"
#include "resnet.h"
#include "status.h"
#include "strbuf.h"
#include "yaml_load.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/rn50_test_export_XXXXXX";

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

static char *read_out(const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/chosen/%s", tmpdir, name);
    return slurp(p);
}

static int file_exists(const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/chosen/%s", tmpdir, name);
    return access(p, F_OK) == 0;
}

/* It loads as exactly one non-empty document (what yaml.safe_load needs): our one YAML reader
 * refuses a second document itself. */
static int valid_yaml(const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/chosen/%s", tmpdir, name);
    struct ydoc *doc = NULL;
    const int ok = ydoc_read(p, "exported config", &doc) == STATUS_OK && ydoc_root(doc) != NULL;
    ydoc_free(doc);
    return ok;
}

static int same_layer(const struct layer_plan *a, const struct layer_plan *b)
{
    if (!a->prune.enabled != !b->prune.enabled || !a->pal.enabled != !b->pal.enabled ||
        !a->quant.enabled != !b->quant.enabled)
        return 0;
    if (a->prune.enabled) {
        const struct prune_cfg *x = &a->prune, *y = &b->prune;
        if (x->target_sparsity != y->target_sparsity || x->granularity != y->granularity ||
            (x->block_size > 1 ? x->block_size : 1) != (y->block_size > 1 ? y->block_size : 1) || x->n_m_n != y->n_m_n ||
            x->n_m_m != y->n_m_m || x->sched.n_update_steps != y->sched.n_update_steps || x->reconstruct != y->reconstruct)
            return 0;
        if (x->sched.n_update_steps &&
            (x->initial_sparsity != y->initial_sparsity || x->sched.power != y->sched.power ||
             memcmp(x->sched.update_steps, y->sched.update_steps, (size_t)x->sched.n_update_steps * sizeof(int64_t))))
            return 0;
    }
    if (a->pal.enabled) {
        const struct palettize_cfg *x = &a->pal, *y = &b->pal;
        if (x->n_bits != y->n_bits || x->granularity != y->granularity || x->channel_axis != y->channel_axis ||
            !x->per_channel_scale != !y->per_channel_scale || x->algorithm != y->algorithm ||
            (x->granularity == PAL_PER_GROUPED_CHANNEL && x->group_size != y->group_size))
            return 0;
        if (x->algorithm == PAL_DKM &&
            (x->tau != y->tau || x->kmeans_max_iter != y->kmeans_max_iter || x->milestone != y->milestone))
            return 0;
    }
    if (a->quant.enabled) {
        const struct quant_cfg *x = &a->quant, *y = &b->quant;
        if (!x->symmetric != !y->symmetric || !x->activations != !y->activations || x->observer != y->observer ||
            x->calibration_samples != y->calibration_samples)
            return 0;
    }
    return 1;
}

/* Exports plan, loads chosen/config.yaml back and compares. Returns 1 when identical. */
static int round_trip(const struct resnet *net, const struct compress_plan *plan, const char *what)
{
    char dir[512], cfg[600];
    snprintf(dir, sizeof dir, "%s/chosen", tmpdir);
    snprintf(cfg, sizeof cfg, "%s/config.yaml", dir);
    if (export_coreml_write(plan, dir) != 0) {
        fprintf(stderr, "%s: export failed: %s\n", what, status_message());
        return 0;
    }
    struct compress_plan back;
    if (compress_config_load(cfg, net, &back) != 0) {
        fprintf(stderr, "%s: reload failed: %s\n", what, status_message());
        return 0;
    }
    int ok = back.n_layers == plan->n_layers;
    int any_family = 0;
    for (int i = 0; i < plan->n_layers && ok; i++) {
        any_family |= plan->layer[i].prune.enabled | plan->layer[i].pal.enabled | plan->layer[i].quant.enabled;
        if (!same_layer(&plan->layer[i], &back.layer[i])) {
            fprintf(stderr, "%s: layer %s differs after the round trip\n", what, plan->info[i].name);
            ok = 0;
        }
    }
    /* The threshold is recorded only through the sections; with none it is the default. */
    if (ok && any_family && back.weight_threshold != plan->weight_threshold) {
        fprintf(stderr, "%s: weight_threshold %lld, expected %lld\n", what, (long long)back.weight_threshold,
                (long long)plan->weight_threshold);
        ok = 0;
    }
    static const char *files[] = { "config.yaml", "coreml/1_prune.yaml", "coreml/2_palettize.yaml",
                                   "coreml/3_quantize_activations.yaml", "coreml/3_quantize_weights.yaml",
                                   "torch/1_prune.yaml", "torch/2_palettize_kmeans.yaml", "torch/2_palettize_skm.yaml",
                                   "torch/2_palettize_dkm.yaml", "torch/3_quantize.yaml" };
    for (size_t k = 0; k < sizeof files / sizeof *files; k++)
        if (file_exists(files[k]) && !valid_yaml(files[k])) {
            fprintf(stderr, "%s: %s is not one valid YAML document\n", what, files[k]);
            ok = 0;
        }
    compress_plan_free(&back);
    return ok;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay ? strstr(hay, needle) : NULL; p; p = strstr(p + 1, needle)) n++;
    return n;
}

static const struct compress_layer_info *layer_info(const struct compress_plan *p, const char *name)
{
    for (int i = 0; i < p->n_layers; i++)
        if (!strcmp(p->info[i].name, name)) return &p->info[i];
    RN_ASSERT(0);
    return NULL;
}

/* The naming rule, written out independently of the exporter: dots to underscores, then the
 * suffix coremltools 9.0 gives an fp16 weight const ('layer4.2.conv3' -> 'layer4_2_conv3_weight_to_fp16'). */
static const char *coreml_key(const char *torch_name)
{
    static char out[128];
    size_t k = 0;
    for (; torch_name[k] && k < 100; k++) out[k] = torch_name[k] == '.' ? '_' : torch_name[k];
    snprintf(out + k, sizeof out - k, "_weight_to_fp16");
    return out;
}

static struct layer_plan pal(int bits, int grouped, int group, int axis, int scale, enum pal_algorithm alg)
{
    struct layer_plan lp;
    memset(&lp, 0, sizeof lp);
    lp.pal.enabled = 1;
    lp.pal.n_bits = bits;
    lp.pal.granularity = grouped ? PAL_PER_GROUPED_CHANNEL : PAL_PER_TENSOR;
    lp.pal.group_size = grouped ? group : 0;
    lp.pal.channel_axis = axis;
    lp.pal.per_channel_scale = scale;
    lp.pal.algorithm = alg;
    lp.pal.tau = 1e-4;   /* config.c's defaults, compared for DKM */
    lp.pal.kmeans_max_iter = 3;
    return lp;
}

static void set_prune(struct layer_plan *lp, double s, enum prune_granularity g, int block, int n, int m)
{
    lp->prune.enabled = 1;
    lp->prune.target_sparsity = s;
    lp->prune.granularity = g;
    lp->prune.block_size = block;
    lp->prune.n_m_n = n;
    lp->prune.n_m_m = m;
}

static void set_quant(struct layer_plan *lp, int sym, int act, enum quant_observer o, int samples)
{
    lp->quant.enabled = 1;
    lp->quant.symmetric = sym;
    lp->quant.activations = act;
    lp->quant.observer = o;
    lp->quant.calibration_samples = samples;
}

static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

static void test_example_configs(const struct resnet *net, const char *model)
{
    char dirpath[512];
    snprintf(dirpath, sizeof dirpath, "%s/configs/compress", RN_SOURCE_DIR);
    DIR *d = opendir(dirpath);
    if (!d) {
        fprintf(stderr, "note: %s not found, example configs skipped\n", dirpath);
        return;
    }
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        const size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml")) continue;
        char path[1024], what[600];
        snprintf(path, sizeof path, "%s/%s", dirpath, e->d_name);
        snprintf(what, sizeof what, "%s on %s", e->d_name, model);
        struct compress_plan p;
        if (compress_config_load(path, net, &p) != 0) {
            /* A config another helper is still extending may not load with this tree; not ours. */
            fprintf(stderr, "note: %s does not load (%s); skipped\n", what, status_message());
            continue;
        }
        CHECK(round_trip(net, &p, what));
        compress_plan_free(&p);
        n++;
    }
    closedir(d);
    CHECK(n >= 10);
    printf("%d example configs round-tripped on %s\n", n, model);
}

static void test_hand_built(const struct resnet *net)
{
    struct compress_plan p;
    CHECK(compress_plan_init_empty(net, &p) == 0);
    const int L = p.n_layers;
    const int64_t thr = p.weight_threshold;

    /* Global 4-bit: no per-name entries anywhere but for layers the threshold already skips. */
    for (int i = 0; i < L; i++)
        if (p.info[i].OC * p.info[i].K > thr) p.layer[i] = pal(4, 0, 0, 0, 0, PAL_KMEANS);
    CHECK(round_trip(net, &p, "global 4-bit"));
    char *y = read_out("config.yaml");
    CHECK(y && count(y, "global_config: {n_bits: 4, granularity: per_tensor}\n") == 1);
    CHECK(y && !strstr(y, "module_name_configs:"));
    free(y);
    y = read_out("coreml/2_palettize.yaml");
    CHECK(y && strstr(y, "config_type: OpPalettizerConfig\n"));
    CHECK(y && strstr(y, "global_config: {mode: kmeans, nbits: 4, granularity: per_tensor, weight_threshold: 2048}\n"));
    free(y);
    CHECK(!file_exists("coreml/1_prune.yaml") && !file_exists("torch/1_prune.yaml") && file_exists("torch/2_palettize_kmeans.yaml"));

    /* One exception (6 bits on layer4.2.conv3) and one layer left alone (conv1): two entries. */
    const int l4 = resnet_find_conv(net, "layer4.2.conv3"), c1 = 0;
    CHECK(l4 > 0 && !strcmp(p.info[c1].name, "conv1"));
    p.layer[l4] = pal(6, 0, 0, 0, 0, PAL_KMEANS);
    memset(&p.layer[c1], 0, sizeof p.layer[c1]);
    CHECK(round_trip(net, &p, "global with exceptions"));
    y = read_out("config.yaml");
    CHECK(y && strstr(y, "  'layer4\\.2\\.conv3': {n_bits: 6,"));
    CHECK(y && (strstr(y, "  'conv1': null") || p.info[c1].OC * p.info[c1].K <= thr));
    free(y);
    y = read_out("coreml/2_palettize.yaml");
    CHECK(y && strstr(y, "op_name_configs:\n"));
    CHECK(y && strstr(y, "  'layer4_2_conv3_weight_to_fp16': {mode: kmeans, nbits: 6,"));
    free(y);
    y = read_out("torch/2_palettize_kmeans.yaml");
    CHECK(y && strstr(y, "PostTrainingPalettizerConfig"));
    CHECK(y && strstr(y, "module_name_configs:\n") && strstr(y, "  'layer4.2.conv3': {n_bits: 6,"));
    CHECK(y && strstr(y, "  'conv1': null"));
    CHECK(y && !strstr(y, "config_type:"));
    free(y);

    /* Random per-layer mix of every family and option (the search's mixed configurations). */
    rng_state = 20240611;
    printf("mixed plans: seed 20240611\n");
    for (int trial = 0; trial < 12; trial++) {
        for (int i = 0; i < L; i++) {
            struct layer_plan *lp = &p.layer[i];
            memset(lp, 0, sizeof *lp);
            const int big = p.info[i].OC * p.info[i].K > thr;
            /* Mostly one common setting so that compaction has something to do. */
            const int common = rnd() % 3 != 0;
            if (common) {
                *lp = pal(4, 0, 0, 0, 0, PAL_KMEANS);
                set_prune(lp, 0.5, PRUNE_PER_SCALAR, 1, 0, 0);
            } else {
                switch (rnd() % 4) {
                case 0: *lp = pal(1 + (int)(rnd() % 8), 1, 1 << (rnd() % 5), (int)(rnd() % 2), (int)(rnd() % 2),
                                  (enum pal_algorithm)(rnd() % 3)); break;
                case 1: set_prune(lp, (rnd() % 1000) / 997.0, (enum prune_granularity)(rnd() % 3), 1, 0, 0); break;
                case 2:
                    set_prune(lp, 0.125 * (rnd() % 8), PRUNE_PER_SCALAR, rnd() % 2 ? 4 : 1, 0, 0);
                    if (rnd() % 2) lp->prune.block_size = 1, lp->prune.n_m_n = 2, lp->prune.n_m_m = 4;
                    break;
                default: break;   /* left alone */
                }
            }
            if (lp->pal.enabled && lp->pal.algorithm == PAL_DKM) {   /* the fine-tuning knobs */
                lp->pal.tau = rnd() % 2 ? 1e-4 : 3e-4;
                lp->pal.kmeans_max_iter = 1 + (int)(rnd() % 5);
                lp->pal.milestone = rnd() % 2 ? 0 : 100;
            }
            if (lp->prune.enabled && rnd() % 3 == 0) {   /* PolynomialDecayScheduler */
                struct prune_schedule *sc = &lp->prune.sched;
                sc->n_update_steps = 2 + (int)(rnd() % 10);
                const int even = rnd() % 2;
                for (int k = 0; k < sc->n_update_steps; k++)
                    sc->update_steps[k] = even ? 40 * k : (k ? sc->update_steps[k - 1] + 1 + rnd() % 50 : rnd() % 7);
                sc->power = rnd() % 2 ? 3.0 : 2.0;
                lp->prune.initial_sparsity = (rnd() % 4) * 0.1;
            }
            if (lp->prune.enabled) lp->prune.reconstruct = rnd() % 4 == 0;   /* our calibration refit */
            if (rnd() % 4 == 0)
                set_quant(lp, (int)(rnd() % 2), (int)(rnd() % 2), (enum quant_observer)(rnd() % 2),
                          rnd() % 2 ? 128 : 32);
            /* Layers under the threshold: usually left alone (as config.c would), sometimes not. */
            if (!big && rnd() % 3) memset(lp, 0, sizeof *lp);
        }
        char what[64];
        snprintf(what, sizeof what, "mixed plan %d", trial);
        CHECK(round_trip(net, &p, what));
    }

    /* Joint prune -> palettize -> quantize everywhere, with grouped LUTs on the input axis. */
    for (int i = 0; i < L; i++) {
        p.layer[i] = pal(3, 1, 8, 1, 1, PAL_SKM);
        /* Where 8 does not divide the input channels (the stem) the config reader leaves the layer
         * in fp16, as coremltools does: so does this plan. */
        if (!compress_pal_groups_fit(&p.info[i], &p.layer[i].pal)) memset(&p.layer[i].pal, 0, sizeof p.layer[i].pal);
        set_prune(&p.layer[i], 0.75, PRUNE_PER_SCALAR, 1, 0, 0);
        set_quant(&p.layer[i], 1, 1, QUANT_MOVING_AVERAGE_MIN_MAX, 128);
    }
    CHECK(round_trip(net, &p, "joint"));
    y = read_out("config.yaml");
    CHECK(y && strstr(y, "algorithm: skm") && strstr(y, "group_size: 8") && strstr(y, "channel_axis: 1"));
    CHECK(y && strstr(y, "pruning:") < strstr(y, "palettization:") && strstr(y, "palettization:") < strstr(y, "quantization:"));
    free(y);
    y = read_out("coreml/1_prune.yaml");
    CHECK(y && strstr(y, "config_type: OpMagnitudePrunerConfig\n") && strstr(y, "target_sparsity: 0.75"));
    CHECK(y && !strstr(y, "reconstruct"));
    free(y);
    /* The calibration refit: ours states it; coremltools' sides cannot and say so. */
    for (int i = 0; i < L; i++) p.layer[i].prune.reconstruct = 1;
    CHECK(round_trip(net, &p, "joint, reconstruct"));
    y = read_out("config.yaml");
    CHECK(y && strstr(y, "reconstruct: true"));
    free(y);
    y = read_out("coreml/1_prune.yaml");
    CHECK(y && strstr(y, "# reconstruct: rn50-tune refitted") && !strstr(y, "reconstruct: true"));
    free(y);
    y = read_out("torch/1_prune.yaml");
    CHECK(y && strstr(y, "# reconstruct: rn50-tune refitted") && !strstr(y, "reconstruct: true"));
    free(y);
    for (int i = 0; i < L; i++) p.layer[i].prune.reconstruct = 0;
    y = read_out("coreml/3_quantize_weights.yaml");
    CHECK(y && strstr(y, "config_type: OpLinearQuantizerConfig\n") &&
          strstr(y, "mode: linear_symmetric, dtype: int8, granularity: per_channel"));
    free(y);
    y = read_out("coreml/3_quantize_activations.yaml");
    /* coremltools 9.0's activation API takes OpLinearQuantizerConfig; conv and linear op types. */
    CHECK(y && strstr(y, "config_type: OpLinearQuantizerConfig\n") && !strstr(y, "OpActivation") &&
          strstr(y, "linear_quantize_activations") && strstr(y, "op_type_configs:\n  conv: {mode: linear_symmetric, dtype: int8") &&
          !strstr(y, "global_config"));
    free(y);
    /* A palettized layer's quantization is its activations only: no int8 weights entry for it. */
    y = read_out("coreml/3_quantize_weights.yaml");
    CHECK(y && strstr(y, "global_config: null") == NULL);
    free(y);
    /* One layer's inputs left in float: the activation file names it by its conv op (the bare
     * module name coreml_deploy.py gives the op), not by its weight const, which
     * linear_quantize_activations never looks up. */
    int off = -1;
    for (int i = 0; i < L; i++)
        if (!strcmp(p.info[i].name, "layer4.2.conv3")) off = i;
    RN_ASSERT(off >= 0);
    p.layer[off].quant.activations = 0;
    CHECK(round_trip(net, &p, "joint, one layer without 8-bit activations"));
    y = read_out("coreml/3_quantize_activations.yaml");
    CHECK(y && strstr(y, "op_name_configs:\n  'layer4_2_conv3': null\n") && !strstr(y, "_weight_to_fp16':"));
    free(y);
    p.layer[off].quant.activations = 1;
    y = read_out("coreml/2_palettize.yaml");
    CHECK(y && strstr(y, "group_size: 8") && strstr(y, "enable_per_channel_scale: true") && strstr(y, "# skm:"));
    free(y);
    CHECK(file_exists("torch/2_palettize_skm.yaml") && !file_exists("torch/2_palettize_kmeans.yaml"));
    y = read_out("torch/3_quantize.yaml");
    CHECK(y && strstr(y, "LinearQuantizerConfig") && strstr(y, "quantization_scheme: symmetric") &&
          strstr(y, "activation_dtype: quint8"));
    free(y);

    /* Structured pruning: n:m and blocks on the Core ML side, per_kernel flagged. */
    for (int i = 0; i < L; i++) {
        memset(&p.layer[i], 0, sizeof p.layer[i]);
        set_prune(&p.layer[i], 0.5, PRUNE_PER_SCALAR, 1, 2, 4);
    }
    set_prune(&p.layer[l4], 0.5, PRUNE_PER_SCALAR, 8, 0, 0);
    set_prune(&p.layer[l4 - 1], 0.3, PRUNE_PER_KERNEL, 1, 0, 0);
    CHECK(round_trip(net, &p, "structured pruning"));
    y = read_out("coreml/1_prune.yaml");
    CHECK(y && strstr(y, "n_m_ratio: [2, 4], dim: 1") && strstr(y, "block_size: 8, dim: 0") &&
          strstr(y, "config_type: OpThresholdPrunerConfig") && strstr(y, "# per_kernel pruning"));
    free(y);
    y = read_out("torch/1_prune.yaml");
    CHECK(y && strstr(y, "MagnitudePrunerConfig") && strstr(y, "granularity: per_kernel") && strstr(y, "n_m_ratio: [2, 4]"));
    free(y);

    /* Fine-tuning fields: the scheduler (evenly spaced steps as a range) and DKM's knobs. */
    for (int i = 0; i < L; i++) {
        p.layer[i] = pal(2, 0, 0, 0, 0, PAL_DKM);
        p.layer[i].pal.tau = 2.5e-4;
        p.layer[i].pal.milestone = 50;
        set_prune(&p.layer[i], 0.9, PRUNE_PER_SCALAR, 1, 0, 0);
        p.layer[i].prune.initial_sparsity = 0.0;
        p.layer[i].prune.sched.n_update_steps = 10;
        p.layer[i].prune.sched.power = 3;
        for (int k = 0; k < 10; k++) p.layer[i].prune.sched.update_steps[k] = 40 * k;
    }
    CHECK(round_trip(net, &p, "fine-tuning fields"));
    y = read_out("config.yaml");
    CHECK(y && strstr(y, "scheduler: {update_steps: 'range(0, 400, 40)', power: 3}"));
    CHECK(y && strstr(y, "algorithm: dkm, palett_tau: 0.00025, kmeans_max_iter: 3, milestone: 50"));
    free(y);
    y = read_out("torch/2_palettize_dkm.yaml");
    CHECK(y && strstr(y, "DKMPalettizerConfig") && strstr(y, "palett_tau: 0.00025"));
    free(y);

    /* The naming rule: every layer's Core ML key is its torchvision name with dots as underscores
     * and '_weight_to_fp16', as coremltools 9.0 names the deployment model's weight consts;
     * layers.tsv lists them with the module and shape, and the per-name keys use the same. */
    for (int i = 0; i < L; i++) {
        memset(&p.layer[i], 0, sizeof p.layer[i]);
        p.layer[i] = pal(4, 0, 0, 0, 0, PAL_KMEANS);
    }
    p.layer[l4] = pal(2, 0, 0, 0, 0, PAL_KMEANS);
    CHECK(round_trip(net, &p, "naming"));
    y = read_out("coreml/layers.tsv");
    char want[256];
    snprintf(want, sizeof want, "\nlayer1_0_downsample_0_weight_to_fp16\tlayer1.0.downsample.0\t%lld\t%lld\n",
             (long long)layer_info(&p, "layer1.0.downsample.0")->OC, (long long)layer_info(&p, "layer1.0.downsample.0")->K);
    CHECK(y && strstr(y, want) && strstr(y, "\nconv1_weight_to_fp16\tconv1\t") && strstr(y, "\nfc_weight_to_fp16\tfc\t"));
    int rows = 0;
    for (const char *q = y; q && (q = strchr(q, '\n')); q++) rows++;
    CHECK(rows == L + 1);   /* the header and one line per layer */
    free(y);
    y = read_out("coreml/2_palettize.yaml");
    char key[160];
    snprintf(key, sizeof key, "'%s': {mode: kmeans, nbits: 2", coreml_key(p.info[l4].name));
    CHECK(y && strstr(y, key) && strstr(y, "global_config: {mode: kmeans, nbits: 4"));
    CHECK(y && !strstr(y, "layer4.2"));   /* no torchvision (dotted) name on the Core ML side */
    free(y);

    /* Refusals: what coremltools rejects is not written, and README.md says why. */
    struct strbuf why = { 0 };
    p.layer[l4] = pal(5, 0, 0, 0, 0, PAL_KMEANS);
    CHECK(export_coreml_refusals(&p, &why) == 1 && why.p && strstr(why.p, "coreml/2_palettize.yaml: not written") &&
          strstr(why.p, "nbits 5") && strstr(why.p, p.info[l4].name));
    free(why.p);
    memset(&why, 0, sizeof why);
    CHECK(round_trip(net, &p, "5 bits"));
    CHECK(!file_exists("coreml/2_palettize.yaml") && file_exists("torch/2_palettize_kmeans.yaml"));
    y = read_out("README.md");
    CHECK(y && strstr(y, "Refused") && strstr(y, "nbits 5: OpPalettizerConfig accepts 1, 2, 3, 4, 6 or 8 only"));
    free(y);
    p.layer[l4] = pal(7, 0, 0, 0, 0, PAL_KMEANS);
    CHECK(export_coreml_refusals(&p, &why) == 1 && strstr(why.p, "nbits 7"));
    free(why.p);
    memset(&why, 0, sizeof why);
    /* DKM grouping input channels. */
    for (int i = 0; i < L; i++) {
        p.layer[i] = pal(2, 1, 8, 1, 0, PAL_DKM);
        if (!compress_pal_groups_fit(&p.info[i], &p.layer[i].pal)) memset(&p.layer[i].pal, 0, sizeof p.layer[i].pal);
    }
    CHECK(export_coreml_refusals(&p, &why) == 1 && strstr(why.p, "torch/2_palettize_dkm.yaml: not written") &&
          strstr(why.p, "channel_axis 1"));
    free(why.p);
    memset(&why, 0, sizeof why);
    CHECK(round_trip(net, &p, "dkm axis 1"));
    CHECK(!file_exists("torch/2_palettize_dkm.yaml") && file_exists("coreml/2_palettize.yaml"));
    /* A torch-side LinearQuantizer with both schemes. */
    for (int i = 0; i < L; i++) {
        memset(&p.layer[i], 0, sizeof p.layer[i]);
        set_quant(&p.layer[i], 1, 0, QUANT_MOVING_AVERAGE_MIN_MAX, 128);
    }
    CHECK(export_coreml_refusals(&p, &why) == 0);
    set_quant(&p.layer[l4], 0, 0, QUANT_MOVING_AVERAGE_MIN_MAX, 128);
    CHECK(export_coreml_refusals(&p, &why) == 1 && strstr(why.p, "torch/3_quantize.yaml: not written") &&
          strstr(why.p, "mixes symmetric and affine"));
    free(why.p);
    CHECK(round_trip(net, &p, "mixed schemes"));
    CHECK(!file_exists("torch/3_quantize.yaml") && file_exists("coreml/3_quantize_weights.yaml"));
    y = read_out("coreml/3_quantize_weights.yaml");
    CHECK(y && strstr(y, "mode: linear, dtype: int8"));   /* Core ML takes the affine layer per name */
    free(y);

    /* Nothing compressed: {} and no coremltools files (also none left from before). */
    for (int i = 0; i < L; i++) memset(&p.layer[i], 0, sizeof p.layer[i]);
    CHECK(round_trip(net, &p, "empty"));
    y = read_out("config.yaml");
    CHECK(y && strstr(y, "\n{}\n"));
    free(y);
    CHECK(!file_exists("coreml/1_prune.yaml") && !file_exists("torch/3_quantize.yaml"));
    compress_plan_free(&p);
}

static void rm_tree(const char *dir)
{
    static const char *files[] = { "chosen/config.yaml", "chosen/README.md", "chosen/coreml/1_prune.yaml",
                                   "chosen/coreml/2_palettize.yaml", "chosen/coreml/3_quantize_activations.yaml",
                                   "chosen/coreml/3_quantize_weights.yaml", "chosen/torch/1_prune.yaml",
                                   "chosen/torch/2_palettize_kmeans.yaml", "chosen/torch/2_palettize_skm.yaml",
                                   "chosen/torch/2_palettize_dkm.yaml", "chosen/torch/3_quantize.yaml",
                                   "chosen/coreml/layers.tsv" };
    char p[600];
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[k]);
        remove(p);
    }
    static const char *dirs[] = { "chosen/coreml", "chosen/torch", "chosen", "" };
    for (size_t k = 0; k < sizeof dirs / sizeof *dirs; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, dirs[k]);
        rmdir(p);
    }
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    static const char *models[] = { "rn50-fmnist", "resnet50" };
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        struct resnet_config cfg;
        struct resnet *net = NULL;
        if (resnet_config_load(models[m], &cfg) != 0 || resnet_alloc(&cfg, 1, &net) != 0) {
            fprintf(stderr, "cannot build %s: %s\n", models[m], status_message());
            CHECK(0);
            continue;
        }
        test_example_configs(net, models[m]);
        test_hand_built(net);
        resnet_free(net);
    }
    rm_tree(tmpdir);
    return check_summary();
}
