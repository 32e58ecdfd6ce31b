/* cmd_tune.c — `rn50-tune tune` (also the default command when the first argument is an
 * option): parses the options, loads the space and the evaluator, prepares the run directory and
 * hands over to tune_run (tune.h). */
#include "atomic_file.h"
#include "cli.h"
#include "clock.h"
#include "db.h"
#include "dist.h"
#include "evaluate.h"
#include "provenance.h"
#include "space.h"
#include "status.h"
#include "tune.h"
#include "home.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What tune parses: the search's options and the command's own. */
struct tune_args {
    struct tune_options o;
    const char *data, *device, *space, *out, *objective;
    int resume;
    double minutes, max_mb;
    int64_t val_limit, test_limit, train_limit, seed;
};

static int parse_objective(void *opts, const char *s)
{
    struct tune_args *ta = opts;
    if (strcmp(s, "size") == 0) ta->o.objective = TUNE_SIZE;
    else if (strcmp(s, "latency") == 0) ta->o.objective = TUNE_LATENCY;
    else if (strcmp(s, "accuracy") == 0) ta->o.objective = TUNE_ACCURACY;
    else return status_error(STATUS_BAD_INPUT, "--objective '%s': expected size, latency or accuracy", s);
    ta->objective = s;
    return STATUS_OK;
}

static int parse_budget(void *opts, const char *s)
{
    struct tune_options *o = &((struct tune_args *)opts)->o;
    char *end = NULL;
    errno = 0;
    const double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0 && v < 100) || *end != '%' || (strcmp(end, "%") != 0 && strcmp(end, "%rel") != 0))
        return status_error(STATUS_BAD_INPUT, "--budget '%s': expected N%% (points below the baseline) or N%%rel, 0 <= N < 100", s);
    o->budget = v;
    o->budget_relative = strcmp(end, "%rel") == 0;
    snprintf(o->budget_text, sizeof o->budget_text, "%s", s);
    return STATUS_OK;
}

static int parse_workflows(void *opts, const char *s)
{
    unsigned *out = &((struct tune_args *)opts)->o.workflows;
    *out = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        if (strcmp(w, "ptq") == 0) *out |= SPACE_PTQ;
        else if (strcmp(w, "calib") == 0) *out |= SPACE_CALIB;
        else if (strcmp(w, "finetune") == 0) *out |= SPACE_FINETUNE;
        else return status_error(STATUS_BAD_INPUT, "--workflows '%s': unknown workflow '%s' (expected ptq, calib, finetune)", s, w);
    }
    if (!*out) return status_error(STATUS_BAD_INPUT, "--workflows '%s': expected a list such as ptq,calib", s);
    return STATUS_OK;
}

static int parse_rungs(void *opts, const char *s)
{
    struct tune_options *o = &((struct tune_args *)opts)->o;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    o->n_rungs = 0;
    for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        if (o->n_rungs == TUNE_MAX_RUNGS) return status_error(STATUS_BAD_INPUT, "--screen '%s': at most %d prefixes", s, TUNE_MAX_RUNGS);
        int64_t v;
        const int rc = cli_int64("--screen", w, 1, INT64_MAX, &v);
        if (rc) return rc;
        if (o->n_rungs && v <= o->rungs[o->n_rungs - 1])
            return status_error(STATUS_BAD_INPUT, "--screen '%s': prefixes must increase", s);
        o->rungs[o->n_rungs++] = v;
    }
    return STATUS_OK;
}

/* 0 turns the interval off; a level under one half would be no confidence at all. */
static int parse_confidence(void *opts, const char *s)
{
    double *c = &((struct tune_args *)opts)->o.confidence;
    int rc = cli_double("--confidence", s, 0, 0.9999, c);
    if (!rc && *c != 0 && *c < 0.5)
        rc = status_error(STATUS_BAD_INPUT, "--confidence '%s': expected 0 (no interval) or a level in 0.5..0.9999", s);
    return rc;
}

/* --compare-exhaustive implies --global-only: the comparison is of the global stage. */
static int set_compare_exhaustive(void *opts, const char *unused)
{
    (void)unused;
    struct tune_options *o = &((struct tune_args *)opts)->o;
    o->compare_exhaustive = o->global_only = 1;
    return STATUS_OK;
}

/* The default device is not a table default: tune tells "no --device" apart from naming it (the
 * default may lack a cost model; a named one must have it). */
#define TUNE_DEFAULT_DEVICE "cpu-local"

#define TA(field) offsetof(struct tune_args, field)
static const struct cli_option tune_options[] = {
    { "--objective", CLI_CUSTOM, .def = "size", .custom = parse_objective, .arg = "O", .help = "size, latency or accuracy" },
    { "--budget", CLI_CUSTOM, .def = "5%", .custom = parse_budget, .arg = "B",
      .help = "N% = at most N points below the baseline's val top-1,\nN%rel = at most N percent of it" },
    { "--model", CLI_COMMON, .arg = "M", .help = "model name or YAML (default rn50-fmnist)" },
    { "--weights", CLI_COMMON, .arg = "W", .help = "safetensors" },
    { "--data", CLI_STR, TA(data), "fmnist", .arg = "D",
      .help = "dataset: fmnist, imagefolder:ROOT (ImageNet-style class\n"
              "folders; test = ROOT/val, val = a stratified sample of ROOT/train), or\n"
              "npy:val=I.npy,L.npy;test=I.npy,L.npy (one pair for both is refused)" },
    { "--val-per-class", CLI_COMMON, .arg = "N", .help = "imagefolder: val images held out of each class of ROOT/train (default 10)" },
    { "--cache-dir", CLI_COMMON, .arg = "D", .help = "imagefolder: preprocessed crops (default $RN50_CACHE_DIR, ~/.cache/rn50-tune)" },
    { "--skip-bad", CLI_COMMON, .help = "imagefolder: leave out undecodable files (counted) instead of stopping" },
    { "--device", CLI_STR, TA(device), .arg = "D", .help = "cost model for latency (default " TUNE_DEFAULT_DEVICE "; none: no latency)" },
    { "--space", CLI_STR, TA(space), .arg = "S.yaml", .help = "search space (default configs/spaces/default.yaml)" },
    { "--workflows", CLI_CUSTOM, .def = "ptq,calib", .custom = parse_workflows, .arg = "W,...",
      .help = "ptq, calib, finetune (finetune is opt-in: the points\n"
              "that beat the chosen one but miss the budget are fine-tuned, DKM\n"
              "palettization / scheduled pruning, then evaluated like the others)" },
    { "--finetune-points", CLI_INT, TA(o.ft_points), "2", .min = 0, .max = 1000, .arg = "N", .help = "points fine-tuned" },
    { "--finetune-epochs", CLI_INT, TA(o.ft_epochs), "1", .min = 1, .max = 10000, .arg = "E", .help = "epochs each" },
    { "--finetune-lr", CLI_DOUBLE, TA(o.ft_lr), "0.01", .dmin = 1e-9, .dmax = 100, .arg = "LR", .help = "peak learning rate" },
    { "--finetune-images", CLI_INT64, TA(train_limit), .min = 1, .max = INT64_MAX, .arg = "N",
      .help = "train on the first N training images only (default: all)" },
    { "--max-size", CLI_DOUBLE, TA(max_mb), .dmin = 1e-6, .dmax = 1e9, .arg = "MB", .help = "only points of at most MB MiB" },
    { "--max-latency", CLI_DOUBLE, TA(o.max_latency_ms), .dmin = 1e-6, .dmax = 1e9, .arg = "MS", .help = "only points of at most MS ms" },
    { "--out", CLI_STR, TA(out), .arg = "DIR", .help = "run directory (default results/MODEL-OBJECTIVE-BUDGET)" },
    { "--resume", CLI_FLAG, TA(resume), .help = "continue a killed or finished run in --out: nothing finished is recomputed" },
    { "--time-limit", CLI_DOUBLE, TA(minutes), .dmin = 1e-3, .dmax = 1e6, .arg = "MIN", .help = "start no new stage after MIN minutes" },
    { "--seed", CLI_INT64, TA(seed), "1", .min = 0, .max = INT64_MAX, .arg = "N", .help = "NSGA-II seed" },
    { "--confidence", CLI_CUSTOM, .def = "0.95", .custom = parse_confidence, .arg = "C",
      .help = "a point is within the budget when the lower end of a one-sided C\n"
              "interval of its val top-1, paired with the baseline on the same images,\n"
              "clears the threshold (0: the val figure itself decides)" },
    { "--margin", CLI_DOUBLE, TA(o.margin), "0", .dmin = 0, .dmax = 50, .arg = "P",
      .help = "points added to the val threshold on top of that" },
    { "--val-limit", CLI_INT64, TA(val_limit), .min = 1, .max = INT64_MAX, .arg = "N", .help = "use only the first N val images" },
    { "--test-limit", CLI_INT64, TA(test_limit), .min = 1, .max = INT64_MAX, .arg = "N", .help = "use only the first N test images" },
    { "--screen", CLI_CUSTOM, .def = "500,1500", .custom = parse_rungs, .arg = "N,N",
      .help = "successive-halving prefixes of val for global configs" },
    { "--mixed-screen", CLI_INT64, TA(o.mixed_rung), "1000", .min = 1, .max = INT64_MAX, .arg = "N",
      .help = "screening prefix for per-layer configs" },
    { "--sens-images", CLI_INT64, TA(o.sens_images), "500", .min = 1, .max = INT64_MAX, .arg = "N",
      .help = "images per sensitivity evaluation" },
    { "--ladder", CLI_INT, TA(o.ladder), "8", .min = 1, .max = 64, .arg = "N", .help = "targets of the per-layer ladder" },
    { "--generations", CLI_INT, TA(o.generations), "3", .min = 0, .max = 1000, .arg = "N", .help = "NSGA-II generations" },
    { "--offspring", CLI_INT, TA(o.offspring), "8", .min = 1, .max = 1000, .arg = "N", .help = "NSGA-II children each generation" },
    { "--hv-delta", CLI_DOUBLE, TA(o.hv_delta), "0.01", .dmin = 0, .dmax = 1, .arg = "F",
      .help = "promote a screened config only if it could add more than F of the\n"
              "hypervolume at the top of its 95 % interval" },
    { "--global-only", CLI_SET, TA(o.global_only), .min = 1, .help = "stop after the global stage" },
    { "--compare-exhaustive", CLI_CUSTOM, .custom = set_compare_exhaustive,
      .help = "then evaluate every global config on full val; print both hypervolumes" },
    { "--threads", CLI_COMMON, .arg = "T",
      .help = "threads (default: all cores; under mpirun or srun, the cores of the node\n"
              "divided among its ranks)" },
    { "--json", CLI_COMMON, .help = "one-line JSON summary last" },
};
#undef TA

static const struct cli_command tune_command = {
    "usage: rn50-tune [tune] --objective size|latency|accuracy [--budget 5%|5%rel] [options]\n"
    "\n"
    "Searches compressions of a model (palettization, pruning, int8, per layer mixed) for the Pareto\n"
    "front of top-1 against size and latency, and picks the smallest (or fastest) point within the\n"
    "accuracy budget. Decisions use the val split; the front is re-evaluated on test.\n"
    "\n",
    tune_options, (int)(sizeof tune_options / sizeof *tune_options),
    "\n"
    "Under mpirun -np N (or srun), rank 0 runs the search and owns --out; all ranks evaluate,\n"
    "each candidate on shards of the images or different candidates at once, with the figures\n"
    "of one process. Every rank must see the weights and the data.\n"
    "\n"
    "example: rn50-tune --objective size --budget 5%\n",
    21,
};

/* The run directory: a fresh run refuses to mix into an existing one; created when missing. */
static int run_dir_prepare(const char *out, int resume)
{
    char db_path[1024];
    snprintf(db_path, sizeof db_path, "%s/%s", out, DB_FILE);
    struct stat st;
    const int exists = stat(db_path, &st) == 0;
    if (exists && !resume)
        return status_error(STATUS_BAD_INPUT, "--out %s: a run is already there (%s); add --resume to continue it, or choose another --out",
                            out, db_path);
    if (!exists && resume)
        return status_error(STATUS_BAD_INPUT, "--resume: no run in %s (no %s)", out, db_path);
    int rc = file_make_dir(out, 1);
    if (rc) return rc;
    /* One process per run directory: a second one (a repeated command, a resume while the first
     * still runs) is refused before it touches anything. The descriptor stays open, and the lock
     * held, until this process ends. */
    static int lock_fd = -1;
    if ((rc = file_lock_dir(out, &lock_fd))) return rc;
    /* Checked again under the lock: a process that held it may have created the store since. */
    if (!resume && stat(db_path, &st) == 0)
        return status_error(STATUS_BAD_INPUT, "--out %s: a run is already there (%s); add --resume to continue it, or choose another --out",
                            out, db_path);
    return STATUS_OK;
}

int cmd_tune(int argc, char **argv)
{
    struct tune_args ta;
    memset(&ta, 0, sizeof ta);
    ta.o.z = 2.0;   /* not an option: the Wilson intervals' width in standard errors */
    int rc = STATUS_OK;
    struct cli_common cm = { 0 };
    /* argv[0] is "tune", or the program name when tune is the default command. */
    if (cli_parse(&tune_command, argc, argv, &ta, &cm, &rc)) return 0;
    struct tune_options o = ta.o;
    o.seed = (uint64_t)ta.seed;
    const char *data = ta.data, *space_path = ta.space, *out = ta.out, *objective = ta.objective;
    const int resume = ta.resume, device_given = ta.device != NULL;
    const char *device = device_given ? ta.device : TUNE_DEFAULT_DEVICE;
    const double minutes = ta.minutes, max_mb = ta.max_mb;
    const int64_t val_limit = ta.val_limit, test_limit = ta.test_limit, train_limit = ta.train_limit;
    if (rc) return cli_fail(rc);
    o.max_bytes = max_mb * 1048576.0;
    o.time_limit_s = 60.0 * minutes;
    const char *model = cm.model ? cm.model : "rn50-fmnist";
    char default_space[1024], default_out[512];
    snprintf(default_space, sizeof default_space, "%s/configs/spaces/default.yaml", home_dir());
    if (!space_path) space_path = default_space;
    if (!out) {
        const char *base = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
        char budget[32];
        snprintf(budget, sizeof budget, "%s", o.budget_text);
        for (char *p = budget; *p; p++)
            if (*p == '%') *p = 'p';
        snprintf(default_out, sizeof default_out, "results/%.100s-%s-%s", base, objective, budget);
        out = default_out;
    }
    struct space sp;
    if ((rc = space_load(space_path, &sp))) return cli_fail(rc);
    /* A workflow must be allowed by both (ptq always). */
    static const char *const wf_names[3] = { "ptq", "calib", "finetune" };
    for (int w = 1; w < 3; w++)
        if ((o.workflows >> w & 1) && !(sp.workflows >> w & 1) && dist_rank() == 0)
            fprintf(stderr, "tune: warning: --workflows %s: not among the workflows of %s; not used\n", wf_names[w], space_path);
    o.workflows &= sp.workflows | SPACE_PTQ;

    /* The run directory (rank 0's alone): a fresh run refuses to mix into an existing one. */
    if ((rc = dist_agree(dist_world(), dist_rank() == 0 ? run_dir_prepare(out, resume) : STATUS_OK, 0, ""))) return cli_fail(rc);
    int no_device = strcmp(device, "none") == 0;
    struct eval_setup setup = { model, cm.weights, data, no_device ? NULL : device, cm.threads, val_limit, test_limit, train_limit };
    struct evaluator *ev = NULL;
    rc = evaluator_alloc(&setup, &ev);
    if (rc && !device_given && !no_device && o.objective != TUNE_LATENCY) {
        /* The default device without a cost model yet: size and accuracy searches go on without
         * latency rather than fail; --device names one explicitly to insist. */
        if (dist_rank() == 0)
            fprintf(stderr, "tune: warning: no latency: %s; continuing without latency (--device none)\n", status_message());
        setup.device = NULL;
        device = "none";
        rc = evaluator_alloc(&setup, &ev);
    }
    /* The split lists go into the run directory, rank 0's alone (every rank writing the same
     * file raced on its temporary); the others learn whether it worked. */
    if (!rc && (rc = dist_agree(dist_world(), dist_rank() == 0 ? evaluator_write_split_lists(ev, out) : STATUS_OK, 0, "split lists")))
        evaluator_free(ev);
    if (rc) return cli_fail(rc);
    if (dist_rank() != 0) {   /* a worker: rank 0 runs the search, this rank evaluates for it */
        rc = evaluator_serve(ev);
        evaluator_free(ev);
        return rc ? cli_fail(rc) : 0;
    }
    o.out_dir = out;
    o.model_name = model;
    o.weights_name = cm.weights;
    o.data_name = data;
    no_device = strcmp(device, "none") == 0;
    o.device_name = no_device ? NULL : device;
    o.measure_latency = !no_device && strcmp(device, "cpu-local") == 0;
    o.progress_tty = isatty(STDERR_FILENO);
    o.threads = ops_set_threads(cm.threads);
    char args[900], command[1024];
    provenance_command(argc - 1, argv + 1, args, sizeof args);
    snprintf(command, sizeof command, "rn50-tune%s %s", strcmp(argv[0], "tune") == 0 ? " tune" : "", args);
    o.command_line = command;
    fprintf(stderr, "tune: objective %s, budget %s, space %s, run %s%s, %d threads\n", objective, o.budget_text, space_path, out,
            resume ? " (resuming)" : "", o.threads);
    const double t0 = clock_now_s();
    struct tune_summary sum;
    rc = tune_run(ev, &sp, &o, &sum);
    const int64_t skipped = evaluator_skipped(ev);
    evaluator_spread_print(ev, stderr, "tune");
    evaluator_free(ev);
    if (rc) return cli_fail(rc);
    printf("tune: %s: %d points, %d on the front, chosen id %lld%s; %d evaluations computed, %d from the store; %.1f s\n", out, sum.n_points,
           sum.n_front, (long long)sum.chosen_id, sum.budget_met ? "" : " (budget not met)", sum.n_evals_run, sum.n_evals_loaded,
           clock_now_s() - t0);
    if (cm.json) {
        struct jout j;
        jout_begin(&j, stdout);
        jout_str(&j, "command", "tune");
        jout_str(&j, "out", out);
        jout_int(&j, "points", sum.n_points);
        jout_int(&j, "front", sum.n_front);
        jout_int(&j, "chosen_id", sum.chosen_id);
        jout_int(&j, "budget_met", sum.budget_met);
        jout_int(&j, "evaluations_computed", sum.n_evals_run);
        jout_int(&j, "evaluations_loaded", sum.n_evals_loaded);
        jout_num(&j, "hypervolume", sum.hypervolume);
        if (o.compare_exhaustive) {
            jout_int(&j, "staged_full_evaluations", sum.staged_full);
            jout_int(&j, "grid_full_evaluations", sum.grid_full);
            jout_num(&j, "staged_hypervolume", sum.staged_hv);
            jout_num(&j, "grid_hypervolume", sum.grid_hv);
        }
        jout_int(&j, "skipped_images", skipped);
        jout_num(&j, "seconds", clock_now_s() - t0);
        jout_end(&j);
    }
    return 0;
}
