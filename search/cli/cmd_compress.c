/* cmd_compress.c — `rn50-tune compress` (writes a compressed model) and `rn50-tune size` (its
 * deployment size), both from a compression config (compress/config.h). */
#include "apply.h"
#include "atomic_file.h"
#include "cli.h"
#include "export_coreml.h"
#include "config.h"
#include "data.h"
#include "format.h"
#include "safetensors.h"
#include "size.h"
#include "status.h"
#include "strbuf.h"
#include "model_load.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The options of compress and size besides the shared ones (cli_common_option). */
struct compress_opts {
    const char *config, *out, *dequant, *export_dir, *data;
};

#define COMPRESS_OPT_MODEL { "--model", CLI_COMMON, .arg = "M", .help = "resnet18|34|50|101|152, rn50-fmnist, or a YAML model file" }
#define COMPRESS_OPT_CONFIG \
    { "--config", CLI_STR, offsetof(struct compress_opts, config), .arg = "C", .help = "the compression config (configs/compress/*.yaml)" }
#define COMPRESS_OPT_EXPORT                                                                                   \
    { "--export", CLI_STR, offsetof(struct compress_opts, export_dir), .arg = "DIR",                           \
      .help = "also write the config in the forms coremltools 9.0 applies (DIR/coreml/,\n"                   \
              "DIR/torch/, DIR/config.yaml; as tune's chosen/): scripts/coreml_deploy.py" }
#define COMPRESS_OPT_DATA                                                                                     \
    { "--data", CLI_STR, offsetof(struct compress_opts, data), "fmnist", .arg = "D",                           \
      .help = "calibration images (the val split) for sensitive k-means and 8-bit\nactivations" }

static const struct cli_option compress_options[] = {
    COMPRESS_OPT_MODEL,
    { "--weights", CLI_COMMON, .arg = "W", .help = "safetensors with torchvision names (default for rn50-fmnist: its trained weights)" },
    COMPRESS_OPT_CONFIG,
    { "--out", CLI_STR, offsetof(struct compress_opts, out), .arg = "OUT", .help = "the compressed model file (.safetensors)" },
    { "--dequantized", CLI_STR, offsetof(struct compress_opts, dequant), .arg = "DQ",
      .help = "also write the decoded weights as an fp32 torchvision state_dict (BatchNorm\n"
              "set to the identity, its bias the folded one) for PyTorch users" },
    COMPRESS_OPT_EXPORT,
    COMPRESS_OPT_DATA,
    { "--threads", CLI_COMMON, .arg = "T", .help = "threads (default: all cores)" },
    { "--json", CLI_COMMON, .help = "print a one-line JSON summary last" },
};

static const struct cli_option size_options[] = {
    COMPRESS_OPT_MODEL,
    { "--weights", CLI_COMMON, .arg = "W", .help = "trained weights or a compressed file (without: rn50-fmnist's own; for\nother models the shapes alone)" },
    COMPRESS_OPT_CONFIG,
    COMPRESS_OPT_EXPORT,
    COMPRESS_OPT_DATA,
    { "--json", CLI_COMMON, .help = "print a one-line JSON summary last" },
};

static const struct cli_command compress_command = {
    "usage: rn50-tune compress --model M [--weights W] --config C.yaml --out OUT.safetensors\n"
    "                          [--dequantized DQ.safetensors] [--export DIR] [--data D] [--threads T] [--json]\n"
    "\n"
    "Compresses every layer as the config says (pruning, then palettization, then int8; see\n"
    "configs/compress/) and writes the compressed model (packed indices + LUTs, masks + nonzeros,\n"
    "int8 + scales, fp16 biases) that eval, infer and bench load directly as --weights.\n"
    "\n",
    compress_options, (int)(sizeof compress_options / sizeof *compress_options),
    "\n"
    "example: rn50-tune compress --model rn50-fmnist --config configs/compress/palettize-4bit.yaml --out p4.safetensors\n",    0,
};

static const struct cli_command size_command = {
    "usage: rn50-tune size --model M [--weights W] --config C.yaml [--export DIR] [--data D] [--json]\n"
    "\n"
    "The Core ML mlpackage size of the model compressed by the config, with a per-layer breakdown\n"
    "(weight.bin exactly; the program estimated, see compress/size.h). Without --weights (and for\n"
    "models other than rn50-fmnist) it works from shapes alone: full LUTs and the exact counts the\n"
    "target sparsities give. --export DIR writes the coremltools files as compress --export does\n"
    "(also for training-time configs, which compress refuses).\n"
    "\n",
    size_options, (int)(sizeof size_options / sizeof *size_options),
    "\n"
    "example: rn50-tune size --model resnet50 --config configs/compress/palettize-4bit.yaml\n",    0,
};

static void print_size(const struct size_report *rep, int verbose)
{
    if (verbose) {
        printf("%-28s %-20s %12s %12s\n", "layer", "scheme", "weights", "bytes");
        for (int i = 0; i < rep->n_layers; i++)
            printf("%-28s %-20s %12lld %12zu\n", rep->layer[i].name, rep->layer[i].scheme,
                   (long long)rep->layer[i].n_weights, rep->layer[i].bytes);
    }
    printf("size: %zu bytes (%.3f MiB): weight.bin %zu, program %zu (estimated)\n", rep->total_bytes, rep->mib,
           rep->weight_file_bytes, rep->program_bytes);
}

/* The per-layer breakdown as a JSON array, malloc'd (layer names and scheme labels need no
 * escaping: they are torchvision module names and our own labels); NULL when out of memory. */
static char *size_layers_json(const struct size_report *rep)
{
    struct strbuf b = { 0 };
    char item[256];
    strbuf_str(&b, "[");
    for (int i = 0; i < rep->n_layers; i++) {
        const struct size_layer *l = &rep->layer[i];
        snprintf(item, sizeof item,
                 "%s{\"name\":\"%s\",\"scheme\":\"%s\",\"weights\":%lld,\"nonzero\":%lld,\"bytes\":%zu,"
                 "\"act_quant_bytes\":%zu}",
                 i ? "," : "", l->name, l->scheme, (long long)l->n_weights, (long long)l->n_nonzero, l->bytes,
                 l->act_quant_bytes);
        strbuf_str(&b, item);
    }
    strbuf_str(&b, "]");
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* Loads the model, the plan, and (when given) compresses it. Shared by compress and size. */
static int run(int is_size, int argc, char **argv)
{
    const char *model, *weights;
    int rc = STATUS_OK;
    struct compress_opts co = { 0 };
    struct cli_common cm = { 0 };
    if (cli_parse(is_size ? &size_command : &compress_command, argc, argv, &co, &cm, &rc)) return 0;
    const char *config = co.config, *out = co.out, *dequant = co.dequant, *export_dir = co.export_dir, *data = co.data;
    model = cm.model;
    weights = cm.weights;
    const char *cmd = is_size ? "size" : "compress";
    if (!rc && !model) rc = status_error(STATUS_BAD_INPUT, "--model: required (see rn50-tune %s --help)", cmd);
    if (!rc && !config) rc = status_error(STATUS_BAD_INPUT, "--config: required (see rn50-tune %s --help)", cmd);
    if (!rc && !is_size && !out) rc = status_error(STATUS_BAD_INPUT, "--out: required (see rn50-tune compress --help)");
    if (rc) return cli_fail(rc);
    const int threads = ops_set_threads(cm.threads);

    struct resnet *net = NULL;
    struct compress_plan plan;
    memset(&plan, 0, sizeof plan);
    struct apply_result res;
    memset(&res, 0, sizeof res);
    struct size_report rep;
    memset(&rep, 0, sizeof rep);
    struct dataset calib;
    memset(&calib, 0, sizeof calib);
    const char *weights_used = NULL;
    struct strbuf config_text = { 0 };
    /* size works from shapes when no trained weights are at hand; compress needs weights. */
    if ((rc = model_load(model, weights, is_size, &net, &weights_used))) goto done;
    if ((rc = compress_config_load(config, net, &plan))) goto done;
    const int from_shapes = is_size && strcmp(weights_used, "random") == 0;
    if (!from_shapes) {
        const int need_data = plan_needs_calibration(&plan);
        if (need_data && (rc = dataset_load(data, "val", 0, &calib))) goto done;
        if ((rc = compress_apply(net, &plan, need_data ? &calib : NULL, &res))) goto done;
    }
    if ((rc = size_model(&plan, from_shapes ? NULL : res.cw, &rep))) goto done;
    if (!is_size) {
        /* The config as written goes into the file's metadata; it was read once already, so a
         * failure now (the file removed meanwhile) is an error, not an empty record. */
        if ((rc = file_read_all(config, &config_text))) goto done;
        if ((rc = format_save(out, net, &plan, res.cw, res.aq, config_text.p ? config_text.p : ""))) goto done;
        if (dequant && (rc = format_save_dequantized(net, dequant))) {
            remove(out);   /* all or nothing */
            goto done;
        }
        if (export_dir && (rc = export_coreml_write(&plan, export_dir))) {
            remove(out);
            if (dequant) remove(dequant);
            goto done;
        }
        printf("compress: %s (%s) with %s in %.2f s -> %s\n", net->cfg.name, weights_used, config, res.seconds, out);
    } else {
        if (export_dir && (rc = export_coreml_write(&plan, export_dir))) goto done;
        printf("size: %s (%s) with %s%s\n", net->cfg.name, from_shapes ? "from shapes" : weights_used, config,
               from_shapes ? "" : " (compressed)");
    }
    print_size(&rep, !cm.json);
    if (cm.json) {
        /* The breakdown is built first, so that running out of memory prints no half object. */
        char *layers = size_layers_json(&rep);
        if (!layers) {
            rc = status_error(STATUS_NOMEM, "out of memory");
            goto done;
        }
        struct jout j;
        jout_begin(&j, stdout);
        jout_str(&j, "command", cmd);
        jout_str(&j, "model", net->cfg.name);
        jout_str(&j, "config", config);
        if (!is_size) jout_str(&j, "out", out);
        jout_num(&j, "seconds", res.seconds);
        jout_num(&j, "sparsity", res.sparsity);
        jout_int(&j, "bytes", (int64_t)rep.total_bytes);
        jout_num(&j, "mib", rep.mib);
        jout_int(&j, "weight_file_bytes", (int64_t)rep.weight_file_bytes);
        jout_int(&j, "program_bytes", (int64_t)rep.program_bytes);
        jout_raw(&j, "layers", layers);
        jout_int(&j, "threads", threads);
        jout_end(&j);
        free(layers);
    }
done:
    free(config_text.p);
    size_report_free(&rep);
    apply_result_free(&res);
    compress_plan_free(&plan);
    dataset_free(&calib);
    model_unload(net);
    return rc ? cli_fail(rc) : 0;
}

int cmd_compress(int argc, char **argv) { return run(0, argc, argv); }
int cmd_size(int argc, char **argv) { return run(1, argc, argv); }
