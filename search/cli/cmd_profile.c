/* cmd_profile.c — `rn50-tune profile`: measures this machine's compressed kernels into a
 * measurements CSV (cost/profile.h) and, with --fit, calibrates the device profile from it. */
#include "atomic_file.h"
#include "cli.h"
#include "clock.h"
#include "device.h"
#include "profile.h"
#include "status.h"
#include "home.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char profile_usage[] =
    "usage: rn50-tune profile --device cpu-local [--model M]... [--out F.csv] [--fit] [--threads T]\n"
    "                         [--seconds S] [--warmup K] [--min-reps R] [--no-layers]\n"
    "                         [--random N [--seed S] [--configs-dir DIR]] [--json]\n"
    "\n"
    "Builds compressed versions of each model (random weights: latency does not depend on their\n"
    "values) for a designed set of configurations covering every kernel kind (dense, lut, sparse,\n"
    "sparse-lut, int8), bit widths, group sizes, sparsities, W8A8 and per-layer mixtures, and times\n"
    "batch-1 forward passes: warm-up passes, then passes interleaved across configurations, medians\n"
    "per network and per layer. The CSV records the CPU, its features, cores, threads and date.\n"
    "\n"
    "  --device D        the device this machine is profiled as (default cpu-local)\n"
    "  --model M         a model to profile, repeatable (default: resnet50 and rn50-fmnist)\n"
    "  --out F.csv       measurements file (default results/cost/D.csv in the project)\n"
    "  --fit             then fit the cost model: writes configs/devices/D.yaml (rn50-tune cost fit)\n"
    "  --threads T       threads (default: all cores)\n"
    "  --seconds S       timing budget per model in seconds (default 100; builds come on top)\n"
    "  --warmup K        untimed passes per configuration (default 3)\n"
    "  --min-reps R      timed passes per configuration at least (default 15)\n"
    "  --no-layers       end-to-end times only\n"
    "  --random N        N random configurations per model instead of the designed set (held-out\n"
    "                    checks; end-to-end only unless per-layer is asked with --layers)\n"
    "  --seed S          seed of the random configurations (default 1)\n"
    "  --configs-dir DIR also write each configuration as a compression config DIR/MODEL-CONFIG.yaml\n"
    "  --json            print a one-line JSON summary last\n"
    "\n"
    "example: rn50-tune profile --device cpu-local --fit\n";

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
    struct cost_profile_opts o;
    memset(&o, 0, sizeof o);
    o.warmup = 3;
    o.min_reps = 15;
    o.seconds = 100.0;
    o.seed = 1;
    o.per_layer = -1;
    const char *device = "cpu-local", *out = NULL, *v;
    int fit = 0, json = 0, threads = 0, rc = STATUS_OK;
    struct cli_args a = cli_args_init(argc, argv);
    while (!rc && cli_next(&a)) {
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) { fputs(profile_usage, stdout); return 0; }
        else if (cli_is(&a, "--device")) rc = cli_value(&a, &device);
        else if (cli_is(&a, "--model")) {
            if (!(rc = cli_value(&a, &v))) {
                if (o.n_models == COST_PROFILE_MAX_MODELS)
                    rc = status_error(STATUS_BAD_INPUT, "--model: at most %d models", COST_PROFILE_MAX_MODELS);
                else
                    o.models[o.n_models++] = v;
            }
        }
        else if (cli_is(&a, "--out")) rc = cli_value(&a, &out);
        else if (cli_is(&a, "--fit")) fit = 1;
        else if (cli_is(&a, "--json")) json = 1;
        else if (cli_is(&a, "--threads")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--threads", v, 0, 1024, &threads); }
        else if (cli_is(&a, "--seconds")) { if (!(rc = cli_value(&a, &v))) rc = cli_double("--seconds", v, 0.0, 1e6, &o.seconds); }
        else if (cli_is(&a, "--warmup")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--warmup", v, 0, 10000, &o.warmup); }
        else if (cli_is(&a, "--min-reps")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--min-reps", v, 1, 100000, &o.min_reps); }
        else if (cli_is(&a, "--no-layers")) o.per_layer = 0;
        else if (cli_is(&a, "--layers")) o.per_layer = 1;
        else if (cli_is(&a, "--random")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--random", v, 1, 10000, &o.n_random); }
        else if (cli_is(&a, "--seed")) {
            int64_t s = 0;
            if (!(rc = cli_value(&a, &v)) && !(rc = cli_int64("--seed", v, 0, INT64_MAX, &s))) o.seed = (uint64_t)s;
        }
        else if (cli_is(&a, "--configs-dir")) rc = cli_value(&a, &o.configs_dir);
        else rc = cli_unknown(&a);
    }
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
