/* cmd_cost.c — `rn50-tune cost fit | predict`: calibrate a device profile from measurements, and
 * predict a compressed model's latency on a device (cost/cost.h, cost/device.h). */
#include "cli.h"
#include "config.h"
#include "device.h"
#include "status.h"

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

static int cost_fit_cmd(int argc, char **argv)
{
    const char *device = NULL, *measurements = NULL, *select = NULL, *model = NULL, *terms = NULL, *out = NULL;
    const char *stat = NULL;
    int json = 0, rc = STATUS_OK;
    struct cli_args a = cli_args_init(argc, argv);
    while (!rc && cli_next(&a)) {
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) { fputs(cost_usage, stdout); return 0; }
        else if (cli_is(&a, "--device")) rc = cli_value(&a, &device);
        else if (cli_is(&a, "--measurements")) rc = cli_value(&a, &measurements);
        else if (cli_is(&a, "--select")) rc = cli_value(&a, &select);
        else if (cli_is(&a, "--model")) rc = cli_value(&a, &model);
        else if (cli_is(&a, "--terms")) rc = cli_value(&a, &terms);
        else if (cli_is(&a, "--stat")) rc = cli_value(&a, &stat);
        else if (cli_is(&a, "--out")) rc = cli_value(&a, &out);
        else if (cli_is(&a, "--json")) json = 1;
        else rc = cli_unknown(&a);
    }
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
    const char *device = NULL, *model = NULL, *config = NULL;
    int json = 0, rc = STATUS_OK;
    struct cli_args a = cli_args_init(argc, argv);
    while (!rc && cli_next(&a)) {
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) { fputs(cost_usage, stdout); return 0; }
        else if (cli_is(&a, "--device")) rc = cli_value(&a, &device);
        else if (cli_is(&a, "--model")) rc = cli_value(&a, &model);
        else if (cli_is(&a, "--config")) rc = cli_value(&a, &config);
        else if (cli_is(&a, "--json")) json = 1;
        else rc = cli_unknown(&a);
    }
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
