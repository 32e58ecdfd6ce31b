/* cmd_cost.c — `rn50-tune cost fit | predict`: calibrate a device profile from measurements, and
 * predict a compressed model's latency on a device (cost/cost.h, cost/device.h). */
#include "cli.h"
#include "config.h"
#include "device.h"
#include "status.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const char cost_usage[] =
    "usage: rn50-tune cost fit --device D --measurements F.csv [--select 'COL=VAL;...'] [--model M]\n"
    "                          [--terms T1,T2,...] [--stat p10|median|min|quiet] [--out P.yaml] [--json]\n"
    "       rn50-tune cost predict --device D --model M [--config C.yaml] [--json]\n"
    "\n"
    "fit: least-squares calibration (GSL) of the per-layer additive cost model: each layer costs the\n"
    "sum of its kernel kind's terms, a network adds its own. F.csv is a profile from rn50-tune\n"
    "profile (per-layer and end-to-end rows) or an end-to-end table such as\n"
    "configs/devices/apple_published_resnet50.csv (--select picks its rows, --model names the network\n"
    "its rows are of, default resnet50). Writes configs/devices/D.yaml (or --out) with the\n"
    "coefficients, the rows used and the leave-one-configuration-out error. Terms the measurements\n"
    "cannot separate (a profile of one model: net.out_m is a fixed multiple of net.one) are merged\n"
    "into an earlier term of the list: reported, written with coefficient 0 and listed under merged.\n"
    "  --terms   GROUP.FEATURE list (groups dense, lut, sparse, sparse-lut, int8, any, net; features\n"
    "            one, gmacs, gmacs_nz, weight_mb, in_m, out_m, im2col_m, luts, act8_m, bounds);\n"
    "            default: per-kind terms for profiles, a few shared ones for tables\n"
    "  --stat    which statistic of a profile's timed passes to fit: p10 (default: the 10th\n"
    "            percentile), median, min or quiet (the median over the passes that waited least\n"
    "            for a CPU)\n"
    "\n"
    "predict: the predicted batch-1 latency of model M compressed with config C (without --config,\n"
    "the uncompressed baseline). Runs nothing.\n"
    "\n"
    "examples:\n"
    "  rn50-tune cost fit --device iphone15pro --measurements configs/devices/apple_published_resnet50.csv \\\n"
    "      --select 'device=iPhone 15 Pro;os=iOS18 seed'\n"
    "  rn50-tune cost predict --device cpu-local --model resnet50 --config configs/compress/prune-75.yaml\n";

/* What cost fit and cost predict parse (each its own table; neither takes the shared options). */
struct cost_args {
    const char *device, *measurements, *select, *model, *terms, *stat, *out, *config;
    int json;
};

static const struct cli_option cost_fit_options[] = {
    { "--device", CLI_STR, offsetof(struct cost_args, device), .arg = "D", .help = "the device profile to write (configs/devices/D.yaml)" },
    { "--measurements", CLI_STR, offsetof(struct cost_args, measurements), .arg = "F.csv",
      .help = "a profile from rn50-tune profile or an end-to-end table" },
    { "--select", CLI_STR, offsetof(struct cost_args, select), .arg = "'COL=VAL;...'", .help = "the rows of a table to fit" },
    { "--model", CLI_STR, offsetof(struct cost_args, model), .arg = "M", .help = "the network a table's rows are of (default resnet50)" },
    { "--terms", CLI_STR, offsetof(struct cost_args, terms), .arg = "T1,T2,...",
      .help = "GROUP.FEATURE list (groups dense, lut, sparse, sparse-lut, int8, any, net; features\n"
              "one, gmacs, gmacs_nz, weight_mb, in_m, out_m, im2col_m, luts, act8_m, bounds);\n"
              "default: per-kind terms for profiles, a few shared ones for tables" },
    { "--stat", CLI_STR, offsetof(struct cost_args, stat), .arg = "S",
      .help = "which statistic of a profile's timed passes to fit: p10 (default: the 10th\n"
              "percentile), median, min or quiet (the median over the passes that waited least\n"
              "for a CPU)" },
    { "--out", CLI_STR, offsetof(struct cost_args, out), .arg = "P.yaml", .help = "write the profile here instead" },
    { "--json", CLI_FLAG, offsetof(struct cost_args, json), .help = "print a one-line JSON summary last" },
};

static const struct cli_option cost_predict_options[] = {
    { "--device", CLI_STR, offsetof(struct cost_args, device), .arg = "D", .help = "a device profile (name or YAML file)" },
    { "--model", CLI_STR, offsetof(struct cost_args, model), .arg = "M", .help = "resnet18|34|50|101|152, rn50-fmnist, or a YAML model file" },
    { "--config", CLI_STR, offsetof(struct cost_args, config), .arg = "C", .help = "compressed with this config (default: uncompressed)" },
    { "--json", CLI_FLAG, offsetof(struct cost_args, json), .help = "print a one-line JSON summary last" },
};

static const struct cli_command cost_fit_command = {
    "usage: rn50-tune cost fit --device D --measurements F.csv [--select 'COL=VAL;...'] [--model M]\n"
    "                          [--terms T1,T2,...] [--stat p10|median|min|quiet] [--out P.yaml] [--json]\n"
    "\n"
    "Least-squares calibration of the per-layer additive cost model (see rn50-tune cost --help).\n"
    "\n",
    cost_fit_options, (int)(sizeof cost_fit_options / sizeof *cost_fit_options), NULL, 0,
};

static const struct cli_command cost_predict_command = {
    "usage: rn50-tune cost predict --device D --model M [--config C.yaml] [--json]\n"
    "\n"
    "The predicted batch-1 latency of model M compressed with config C. Runs nothing.\n"
    "\n",
    cost_predict_options, (int)(sizeof cost_predict_options / sizeof *cost_predict_options), NULL, 0,
};

static int cost_fit_cmd(int argc, char **argv)
{
    struct cost_args ca = { 0 };
    int rc = STATUS_OK;
    if (cli_parse(&cost_fit_command, argc, argv, &ca, NULL, &rc)) return 0;
    const char *device = ca.device, *measurements = ca.measurements, *select = ca.select, *model = ca.model;
    const char *terms = ca.terms, *stat = ca.stat, *out = ca.out;
    const int json = ca.json;
    if (!rc && !device) rc = status_error(STATUS_BAD_INPUT, "--device: required (see rn50-tune cost --help)");
    if (!rc && !measurements) rc = status_error(STATUS_BAD_INPUT, "--measurements: required (see rn50-tune cost --help)");
    if (!rc && (!*device || strchr(device, '/')) && !out)
        rc = status_error(STATUS_BAD_INPUT, "--device: '%s' is not a device name (use --out for a path)", device);
    if (rc) return cli_fail(rc);
    struct cost_model *m = NULL;
    if ((rc = cost_calibrate(device, measurements, select, model, terms, stat, out, stdout, &m))) return cli_fail(rc);
    printf("cost fit: wrote %s\n", m->path);
    if (json) {
        struct jout j;
        jout_begin(&j, stdout);
        jout_str(&j, "command", "cost fit");
        jout_str(&j, "device", device);
        jout_str(&j, "profile", m->path);
        jout_int(&j, "rows", m->fit.rows);
        jout_int(&j, "configs", m->fit.configs);
        jout_int(&j, "rank", m->fit.rank);
        int n_merged = 0;
        for (int t = 0; t < COST_TERMS; t++) n_merged += m->merged[t];
        jout_int(&j, "merged_terms", n_merged);
        jout_num(&j, "fit_mape_pct", m->fit.fit_mape);
        jout_num(&j, "loo_mape_pct", m->fit.loo_mape);
        jout_num(&j, "loo_max_pct", m->fit.loo_max);
        jout_end(&j);
    }
    cost_model_free(m);
    return 0;
}

static int cost_predict_cmd(int argc, char **argv)
{
    struct cost_args ca = { 0 };
    int rc = STATUS_OK;
    if (cli_parse(&cost_predict_command, argc, argv, &ca, NULL, &rc)) return 0;
    const char *device = ca.device, *model = ca.model, *config = ca.config;
    const int json = ca.json;
    if (!rc && !device) rc = status_error(STATUS_BAD_INPUT, "--device: required (see rn50-tune cost --help)");
    if (!rc && !model) rc = status_error(STATUS_BAD_INPUT, "--model: required (see rn50-tune cost --help)");
    if (rc) return cli_fail(rc);
    struct cost_model *m = NULL;
    struct resnet *net = NULL;
    struct compress_plan plan;
    memset(&plan, 0, sizeof plan);
    struct resnet_config cfg;
    double ms = 0.0;
    if ((rc = cost_model_load(device, &m))) goto done;
    if ((rc = resnet_config_load(model, &cfg))) goto done;
    if ((rc = resnet_alloc(&cfg, 1, &net))) goto done;   /* the architecture; weights do not matter */
    if (config && (rc = compress_config_load(config, net, &plan))) goto done;
    if ((rc = cost_predict(m, net, config ? &plan : NULL, &ms))) goto done;
    printf("cost predict: %s on %s%s%s: %.3f ms\n", cfg.name, device, config ? " with " : " (uncompressed)",
           config ? config : "", ms);
    if (json) {
        struct jout j;
        jout_begin(&j, stdout);
        jout_str(&j, "command", "cost predict");
        jout_str(&j, "device", device);
        jout_str(&j, "model", cfg.name);
        jout_str(&j, "config", config ? config : "");
        jout_num(&j, "latency_ms", ms);
        jout_end(&j);
    }
done:
    compress_plan_free(&plan);
    resnet_free(net);
    cost_model_free(m);
    return rc ? cli_fail(rc) : 0;
}

int cmd_cost(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(cost_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "fit")) return cost_fit_cmd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "predict")) return cost_predict_cmd(argc - 1, argv + 1);
    return cli_fail(status_error(STATUS_BAD_INPUT, "cost: unknown subcommand '%s' (expected fit or predict)", argv[1]));
}
