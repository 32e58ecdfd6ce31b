/* tune_cmd.c — `rn50-tune tune` (also the default command when the first argument is an
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

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char tune_usage[] =
    "usage: rn50-tune [tune] --objective size|latency|accuracy [--budget 5%|5%rel] [options]\n"
    "\n"
    "Searches compressions of a model (palettization, pruning, int8, per layer mixed) for the Pareto\n"
    "front of top-1 against size and latency, and picks the smallest (or fastest) point within the\n"
    "accuracy budget. Decisions use the val split; the front is re-evaluated on test.\n"
    "\n"
    "  --objective O      size (default), latency or accuracy\n"
    "  --budget B         N% = at most N points below the baseline's val top-1 (default 5%),\n"
    "                     N%rel = at most N percent of it\n"
    "  --model M          model name or YAML (default rn50-fmnist)   --weights W  safetensors\n"
    "  --data D           dataset (default fmnist): fmnist, imagefolder:ROOT (ImageNet-style class\n"
    "                     folders; test = ROOT/val, val = a stratified sample of ROOT/train), or\n"
    "                     npy:val=I.npy,L.npy;test=I.npy,L.npy (one pair for both is refused)\n"
    "  --val-per-class N  imagefolder: val images held out of each class of ROOT/train (default 10)\n"
    "  --cache-dir D      imagefolder: preprocessed crops (default $RN50_CACHE_DIR, ~/.cache/rn50-tune)\n"
    "  --skip-bad         imagefolder: leave out undecodable files (counted) instead of stopping\n"
    "  --device D         cost model for latency (default cpu-local; none: no latency)\n"
    "  --space S.yaml     search space (default configs/spaces/default.yaml)\n"
    "  --workflows W,...  ptq, calib, finetune (default ptq,calib; finetune is opt-in: the points\n"
    "                     that beat the chosen one but miss the budget are fine-tuned, DKM\n"
    "                     palettization / scheduled pruning, then evaluated like the others)\n"
    "  --finetune-points N  points fine-tuned (default 2)   --finetune-epochs E  each (default 1)\n"
    "  --finetune-lr LR   peak learning rate (default 0.01)\n"
    "  --finetune-images N  train on the first N training images only (default: all)\n"
    "  --max-size MB      only points of at most MB MiB    --max-latency MS  at most MS ms\n"
    "  --out DIR          run directory (default results/MODEL-OBJECTIVE-BUDGET)\n"
    "  --resume           continue a killed or finished run in --out: nothing finished is recomputed\n"
    "  --time-limit MIN   start no new stage after MIN minutes\n"
    "  --seed N           NSGA-II seed (default 1)\n"
    "  --confidence C     a point is within the budget when the lower end of a one-sided C\n"
    "                     interval of its val top-1, paired with the baseline on the same images,\n"
    "                     clears the threshold (default 0.95; 0: the val figure itself decides)\n"
    "  --margin P         points added to the val threshold on top of that (default 0)\n"
    "  --val-limit N      use only the first N val images   --test-limit N  first N test images\n"
    "  --screen N,N       successive-halving prefixes of val for global configs (default 500,1500)\n"
    "  --mixed-screen N   screening prefix for per-layer configs (default 1000)\n"
    "  --sens-images N    images per sensitivity evaluation (default 500)\n"
    "  --ladder N         targets of the per-layer ladder (default 8)\n"
    "  --generations N    NSGA-II generations (default 3)   --offspring N  children each (default 8)\n"
    "  --hv-delta F       promote a screened config only if it could add more than F of the\n"
    "                     hypervolume at the top of its 95 % interval (default 0.01)\n"
    "  --global-only      stop after the global stage\n"
    "  --compare-exhaustive  then evaluate every global config on full val; print both hypervolumes\n"
    "  --threads T        threads (default: all cores; under mpirun or srun, the cores of the node\n"
    "                     divided among its ranks)   --json  one-line JSON summary last\n"
    "\n"
    "Under mpirun -np N (or srun), rank 0 runs the search and owns --out; all ranks evaluate,\n"
    "each candidate on shards of the images or different candidates at once, with the figures\n"
    "of one process. Every rank must see the weights and the data.\n"
    "\n"
    "example: rn50-tune --objective size --budget 5%\n";

static int parse_budget(const char *s, struct tune_options *o)
{
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

static int parse_workflows(const char *s, unsigned *out)
{
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

static int parse_rungs(const char *s, struct tune_options *o)
{
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
    struct tune_options o;
    memset(&o, 0, sizeof o);
    o.objective = TUNE_SIZE;
    o.budget = 5;
    snprintf(o.budget_text, sizeof o.budget_text, "5%%");
    o.margin = 0;
    o.confidence = 0.95;
    o.workflows = SPACE_PTQ | SPACE_CALIB;
    o.seed = 1;
    o.rungs[0] = 500;
    o.rungs[1] = 1500;
    o.n_rungs = 2;
    o.mixed_rung = 1000;
    o.sens_images = 500;
    o.z = 2.0;
    o.hv_delta = 0.01;
    o.ladder = 8;
    o.generations = 3;
    o.offspring = 8;
    o.ft_points = 2;
    o.ft_epochs = 1;
    o.ft_lr = 0.01;
    const char *data = "fmnist", *device = "cpu-local", *space_path = NULL, *out = NULL, *v;
    const char *objective = "size";
    int resume = 0, device_given = 0, rc = STATUS_OK;
    double minutes = 0, max_mb = 0;
    int64_t val_limit = 0, test_limit = 0, train_limit = 0;
    struct cli_common cm = { 0 };
    /* argv[0] is "tune", or the program name when tune is the default command. */
    struct cli_args a = cli_args_init(argc, argv);
    while (!rc && cli_next(&a)) {
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) { fputs(tune_usage, stdout); return 0; }
        else if (cli_is(&a, "--objective")) {
            if (!(rc = cli_value(&a, &objective))) {
                if (strcmp(objective, "size") == 0) o.objective = TUNE_SIZE;
                else if (strcmp(objective, "latency") == 0) o.objective = TUNE_LATENCY;
                else if (strcmp(objective, "accuracy") == 0) o.objective = TUNE_ACCURACY;
                else rc = status_error(STATUS_BAD_INPUT, "--objective '%s': expected size, latency or accuracy", objective);
            }
        }
        else if (cli_is(&a, "--budget")) { if (!(rc = cli_value(&a, &v))) rc = parse_budget(v, &o); }
        else if (cli_is(&a, "--data")) rc = cli_value(&a, &data);
        else if (cli_is(&a, "--device")) { rc = cli_value(&a, &device); device_given = 1; }
        else if (cli_is(&a, "--space")) rc = cli_value(&a, &space_path);
        else if (cli_is(&a, "--workflows")) { if (!(rc = cli_value(&a, &v))) rc = parse_workflows(v, &o.workflows); }
        else if (cli_is(&a, "--max-size")) { if (!(rc = cli_value(&a, &v))) rc = cli_double("--max-size", v, 1e-6, 1e9, &max_mb); }
        else if (cli_is(&a, "--max-latency")) { if (!(rc = cli_value(&a, &v))) rc = cli_double("--max-latency", v, 1e-6, 1e9, &o.max_latency_ms); }
        else if (cli_is(&a, "--out")) rc = cli_value(&a, &out);
        else if (cli_is(&a, "--resume")) resume = 1;
        else if (cli_is(&a, "--time-limit")) { if (!(rc = cli_value(&a, &v))) rc = cli_double("--time-limit", v, 1e-3, 1e6, &minutes); }
        else if (cli_is(&a, "--seed")) { int64_t s; if (!(rc = cli_value(&a, &v)) && !(rc = cli_int64("--seed", v, 0, INT64_MAX, &s))) o.seed = (uint64_t)s; }
        else if (cli_is(&a, "--confidence")) {
            if (!(rc = cli_value(&a, &v))) rc = cli_double("--confidence", v, 0, 0.9999, &o.confidence);
            if (!rc && o.confidence != 0 && o.confidence < 0.5)
                rc = status_error(STATUS_BAD_INPUT, "--confidence '%s': expected 0 (no interval) or a level in 0.5..0.9999", v);
        }
        else if (cli_is(&a, "--margin")) { if (!(rc = cli_value(&a, &v))) rc = cli_double("--margin", v, 0, 50, &o.margin); }
        else if (cli_is(&a, "--val-limit")) { if (!(rc = cli_value(&a, &v))) rc = cli_int64("--val-limit", v, 1, INT64_MAX, &val_limit); }
        else if (cli_is(&a, "--test-limit")) { if (!(rc = cli_value(&a, &v))) rc = cli_int64("--test-limit", v, 1, INT64_MAX, &test_limit); }
        else if (cli_is(&a, "--screen")) { if (!(rc = cli_value(&a, &v))) rc = parse_rungs(v, &o); }
        else if (cli_is(&a, "--mixed-screen")) { if (!(rc = cli_value(&a, &v))) rc = cli_int64("--mixed-screen", v, 1, INT64_MAX, &o.mixed_rung); }
        else if (cli_is(&a, "--sens-images")) { if (!(rc = cli_value(&a, &v))) rc = cli_int64("--sens-images", v, 1, INT64_MAX, &o.sens_images); }
        else if (cli_is(&a, "--ladder")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--ladder", v, 1, 64, &o.ladder); }
        else if (cli_is(&a, "--generations")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--generations", v, 0, 1000, &o.generations); }
        else if (cli_is(&a, "--offspring")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--offspring", v, 1, 1000, &o.offspring); }
        else if (cli_is(&a, "--hv-delta")) { if (!(rc = cli_value(&a, &v))) rc = cli_double("--hv-delta", v, 0, 1, &o.hv_delta); }
        else if (cli_is(&a, "--finetune-points")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--finetune-points", v, 0, 1000, &o.ft_points); }
        else if (cli_is(&a, "--finetune-epochs")) { if (!(rc = cli_value(&a, &v))) rc = cli_int("--finetune-epochs", v, 1, 10000, &o.ft_epochs); }
        else if (cli_is(&a, "--finetune-lr")) { if (!(rc = cli_value(&a, &v))) rc = cli_double("--finetune-lr", v, 1e-9, 100, &o.ft_lr); }
        else if (cli_is(&a, "--finetune-images")) { if (!(rc = cli_value(&a, &v))) rc = cli_int64("--finetune-images", v, 1, INT64_MAX, &train_limit); }
        else if (cli_is(&a, "--global-only")) o.global_only = 1;
        else if (cli_is(&a, "--compare-exhaustive")) o.compare_exhaustive = o.global_only = 1;
        else if (!cli_common_option(&a, &cm, &rc)) rc = cli_unknown(&a);
    }
    if (rc) return cli_fail(rc);
    o.max_bytes = max_mb * 1048576.0;
    o.time_limit_s = 60.0 * minutes;
    const char *model = cm.model ? cm.model : "rn50-fmnist";
    char default_space[1024], default_out[512];
    snprintf(default_space, sizeof default_space, "%s/configs/spaces/default.yaml", cli_home());
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
