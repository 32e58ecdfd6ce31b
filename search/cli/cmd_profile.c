/* cmd_profile.c — `rn50-tune profile`: measures this machine's compressed kernels into a
 * measurements CSV (cost/profile.h) and, with --fit, calibrates the device profile from it. */
#include "atomic_file.h"
#include "cli.h"
#include "clock.h"
#include "device.h"
#include "profile.h"
#include "status.h"
#include "home.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What profile parses: the profiler's options and the command's own. */
struct profile_args {
    struct cost_profile_opts p;
    const char *device, *out;
    int fit, json, threads;
    int64_t seed;   /* p.seed once parsed (the table's integers are signed) */
};

/* --model is repeatable: each one is another model to profile. */
static int profile_add_model(void *opts, const char *v)
{
    struct cost_profile_opts *o = &((struct profile_args *)opts)->p;
    if (o->n_models == COST_PROFILE_MAX_MODELS)
        return status_error(STATUS_BAD_INPUT, "--model: at most %d models", COST_PROFILE_MAX_MODELS);
    o->models[o->n_models++] = v;
    return STATUS_OK;
}

static const struct cli_option profile_options[] = {
    { "--device", CLI_STR, offsetof(struct profile_args, device), "cpu-local", .arg = "D",
      .help = "the device this machine is profiled as" },
    { "--model", CLI_CUSTOM, .custom = profile_add_model, .arg = "M",
      .help = "a model to profile, repeatable (default: resnet50 and rn50-fmnist)" },
    { "--out", CLI_STR, offsetof(struct profile_args, out), .arg = "F.csv",
      .help = "measurements file (default results/cost/D.csv in the project)" },
    { "--fit", CLI_FLAG, offsetof(struct profile_args, fit),
      .help = "then fit the cost model: writes configs/devices/D.yaml (rn50-tune cost fit)" },
    { "--threads", CLI_INT, offsetof(struct profile_args, threads), .min = 0, .max = 1024, .arg = "T",
      .help = "threads (default: all cores)" },
    { "--seconds", CLI_DOUBLE, offsetof(struct profile_args, p.seconds), "100", .dmin = 0.0, .dmax = 1e6, .arg = "S",
      .help = "timing budget per model in seconds, builds on top" },
    { "--warmup", CLI_INT, offsetof(struct profile_args, p.warmup), "3", .min = 0, .max = 10000, .arg = "K",
      .help = "untimed passes per configuration" },
    { "--min-reps", CLI_INT, offsetof(struct profile_args, p.min_reps), "15", .min = 1, .max = 100000, .arg = "R",
      .help = "timed passes per configuration at least" },
    { "--no-layers", CLI_SET, offsetof(struct profile_args, p.per_layer), .min = 0, .help = "end-to-end times only" },
    { "--layers", CLI_SET, offsetof(struct profile_args, p.per_layer), .min = 1,
      .help = "per-layer times too (the default without --random)" },
    { "--random", CLI_INT, offsetof(struct profile_args, p.n_random), .min = 1, .max = 10000, .arg = "N",
      .help = "N random configurations per model instead of the designed set (held-out\n"
              "checks; end-to-end only unless per-layer is asked with --layers)" },
    { "--seed", CLI_INT64, offsetof(struct profile_args, seed), "1", .min = 0, .max = INT64_MAX, .arg = "S",
      .help = "seed of the random configurations" },
    { "--configs-dir", CLI_STR, offsetof(struct profile_args, p.configs_dir), .arg = "DIR",
      .help = "also write each configuration as a compression config DIR/MODEL-CONFIG.yaml" },
    { "--json", CLI_FLAG, offsetof(struct profile_args, json), .help = "print a one-line JSON summary last" },
};

static const struct cli_command profile_command = {
    "usage: rn50-tune profile --device cpu-local [--model M]... [--out F.csv] [--fit] [--threads T]\n"
    "                         [--seconds S] [--warmup K] [--min-reps R] [--no-layers]\n"
    "                         [--random N [--seed S] [--configs-dir DIR]] [--json]\n"
    "\n"
    "Builds compressed versions of each model (random weights: latency does not depend on their\n"
    "values) for a designed set of configurations covering every kernel kind (dense, lut, sparse,\n"
    "sparse-lut, int8), bit widths, group sizes, sparsities, W8A8 and per-layer mixtures, and times\n"
    "batch-1 forward passes: warm-up passes, then passes interleaved across configurations, medians\n"
    "per network and per layer. The CSV records the CPU, its features, cores, threads and date.\n"
    "\n",
    profile_options, (int)(sizeof profile_options / sizeof *profile_options),
    "\n"
    "example: rn50-tune profile --device cpu-local --fit\n",    0,
};

static int valid_device_name(const char *d)
{
    if (!*d || strlen(d) > 48) return 0;
    for (const char *p = d; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

int cmd_profile(int argc, char **argv)
{
    struct profile_args pa;
    memset(&pa, 0, sizeof pa);
    pa.p.per_layer = -1;   /* neither --layers nor --no-layers: decided by --random below */
    int rc = STATUS_OK;
    if (cli_parse(&profile_command, argc, argv, &pa, NULL, &rc)) return 0;
    struct cost_profile_opts o = pa.p;
    o.seed = (uint64_t)pa.seed;
    const char *device = pa.device, *out = pa.out;
    const int fit = pa.fit, json = pa.json, threads = pa.threads;
    if (!rc && !valid_device_name(device))
        rc = status_error(STATUS_BAD_INPUT, "--device: '%s' is not a device name (letters, digits, '-', '_', '.')", device);
    if (!rc && fit && o.n_random)
        rc = status_error(STATUS_BAD_INPUT, "--fit: not with --random (random configurations are for held-out checks)");
    if (!rc && o.configs_dir) {
        struct stat st;
        if (stat(o.configs_dir, &st) || !S_ISDIR(st.st_mode))
            rc = status_error(STATUS_IO, "--configs-dir: '%s' is not a directory", o.configs_dir);
    }
    if (rc) return cli_fail(rc);
    if (!o.n_models) {
        o.models[o.n_models++] = "resnet50";
        o.models[o.n_models++] = "rn50-fmnist";
    }
    if (o.per_layer < 0) o.per_layer = o.n_random ? 0 : 1;
    o.threads = ops_set_threads(threads);
    o.progress = stderr;
    /* The command line as run, for the file's provenance. */
    char command[1024] = "rn50-tune";
    for (int i = 0; i < argc; i++) {
        const size_t n = strlen(command);
        snprintf(command + n, sizeof command - n, " %s", argv[i]);
    }
    o.command = command;
    char out_buf[1024];
    if (!out) {
        snprintf(out_buf, sizeof out_buf, "%s/results/cost", home_dir());
        if ((rc = file_make_dir(out_buf, 1))) return cli_fail(rc);
        snprintf(out_buf, sizeof out_buf, "%s/results/cost/%s.csv", home_dir(), device);
        out = out_buf;
    }
    const double t0 = clock_now_s();
    if ((rc = cost_profile_run(&o, out))) return cli_fail(rc);
    const double t_profile = clock_now_s() - t0;
    printf("profile: %d model%s measured in %.0f s on %d threads -> %s\n", o.n_models, o.n_models > 1 ? "s" : "",
           t_profile, o.threads, out);
    struct cost_model *m = NULL;
    if (fit) {
        if ((rc = cost_calibrate(device, out, NULL, NULL, NULL, NULL, NULL, stdout, &m))) return cli_fail(rc);
        printf("profile: device profile written to %s\n", m->path);
    }
    if (json) {
        struct jout j;
        jout_begin(&j, stdout);
        jout_str(&j, "command", "profile");
        jout_str(&j, "device", device);
        jout_str(&j, "measurements", out);
        jout_int(&j, "threads", o.threads);
        jout_num(&j, "seconds", t_profile);
        if (m) {
            jout_str(&j, "profile", m->path);
            jout_num(&j, "loo_mape_pct", m->fit.loo_mape);
            jout_num(&j, "loo_max_pct", m->fit.loo_max);
        }
        jout_end(&j);
    }
    cost_model_free(m);
    return 0;
}
