/* tune.c — the search driver (see tune.h): opens the run's store, then runs the stages of the
 * table below in order, each when it is wanted and (for most) while time is left; the progress
 * line and the time limit every stage shares. The stages themselves are one file each, behind
 * tune_internal.h. */
#include "tune_internal.h"
#include "atomic_file.h"
#include "clock.h"

#include "provenance.h"
#include "report_html.h"
#include "status.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

double tune_elapsed(const struct tune *t) { return clock_now_s() - t->t0; }

void tune_progress(struct tune *t, const char *what)
{
    const int remaining = t->planned > t->done ? t->planned - t->done : 0;
    const double per = t->run ? t->eval_time / t->run : 0;
    const double eta = per * remaining;
    /* Best so far: the smallest (or fastest) fully evaluated point within budget. */
    const char *best = "none yet";
    char bestbuf[96];
    int bi = -1;
    for (int i = 0; i < t->n; i++) {
        const struct cand *c = &t->c[i];
        if (!cand_meets_budget(t, c)) continue;
        const double m = t->o->objective == TUNE_LATENCY ? c->latency_ms : c->bytes;
        const double mb = bi < 0 ? INFINITY : t->o->objective == TUNE_LATENCY ? t->c[bi].latency_ms : t->c[bi].bytes;
        if (m < mb) bi = i;
    }
    if (bi >= 0) {
        const struct cand *c = &t->c[bi];
        if (t->o->objective == TUNE_LATENCY) snprintf(bestbuf, sizeof bestbuf, "%.3f ms (val %.2f %%)", c->latency_ms, 100.0 * c->correct / c->n);
        else snprintf(bestbuf, sizeof bestbuf, "%.1f KiB (val %.2f %%)", c->bytes / 1024.0, 100.0 * c->correct / c->n);
        best = bestbuf;
    }
    if (t->o->progress_tty)
        fprintf(stderr, "\r\033[Ktune: [%s] %d/%d evaluations, best within budget %s, ETA %.0f s", t->stage, t->done,
                t->planned, best, eta);
    else
        fprintf(stderr, "tune: [%s] %d/%d evaluations (%d computed, %d from the store) %s; best within budget %s; %.0f s elapsed\n",
                t->stage, t->done, t->planned, t->run, t->loaded, what, best, tune_elapsed(t));
}

int tune_check_time(struct tune *t)
{
    if (t->o->time_limit_s > 0 && tune_elapsed(t) > t->o->time_limit_s && !t->out_of_time) {
        t->out_of_time = 1;
        if (t->o->progress_tty) fputc('\n', stderr);
        fprintf(stderr, "tune: time limit of %.0f s reached during stage %s: no new stage starts; reporting what is evaluated\n",
                t->o->time_limit_s, t->stage);
    }
    return t->out_of_time;
}

static int check_meta(struct tune *t, const char *key, const char *value)
{
    char have[512];
    int found = 0;
    int rc = db_meta_get(t->db, key, have, sizeof have, &found);
    if (rc) return rc;
    if (!found) return db_meta_set(t->db, key, value);
    if (strcmp(have, value) != 0)
        return status_error(STATUS_BAD_INPUT, "%s/%s: this run was started with %s '%s', not '%s' (resume with the same options, or use another --out)",
                            t->o->out_dir, DB_FILE, key, have, value);
    return STATUS_OK;
}

/* ---- the stages ---- */

static int wants_grid(const struct tune *t) { return t->o->compare_exhaustive; }
static int wants_layers(const struct tune *t) { return !t->o->global_only && t->sp->per_layer; }
/* Set by the sensitivity stage: there are eligible layers and something to choose for them. */
static int wants_mixed(const struct tune *t) { return wants_layers(t) && t->n_elig > 0 && t->n_choice > 1; }
static int wants_nsga2(const struct tune *t) { return wants_mixed(t) && t->o->generations > 0; }
static int wants_finetune(const struct tune *t)
{
    return !t->o->global_only && (t->o->workflows & SPACE_FINETUNE) && t->o->ft_points > 0;
}

/* A stage runs when `wanted` (NULL: always) says so and, if `timed`, while the time limit has
 * not passed (asked only of a wanted stage); it is named in the progress lines while it runs. A
 * failing stage ends the run. */
struct tune_stage {
    const char *name;
    int (*wanted)(const struct tune *t);
    int (*run)(struct tune *t);
    int timed;
};

static const struct tune_stage tune_stages[] = {
    { "baseline", NULL, stage_baseline, 0 },
    { "global", NULL, stage_global, 0 },
    { "grid", wants_grid, stage_grid, 0 },
    { "sensitivity", wants_layers, stage_sensitivity, 1 },
    { "mixed", wants_mixed, stage_mixed, 1 },
    { "nsga2", wants_nsga2, stage_nsga2, 1 },
    { "finetune", wants_finetune, stage_finetune, 1 },
    { "final", NULL, stage_final, 0 },
    { "outputs", NULL, stage_outputs, 0 },
};

int tune_run(struct evaluator *ev, const struct space *sp, const struct tune_options *o, struct tune_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    struct tune t;
    memset(&t, 0, sizeof t);
    t.ev = ev;
    t.sp = sp;
    t.o = o;
    t.sum = sum;
    t.t0 = clock_now_s();
    t.stage = "start";
    t.base = -1;
    t.n_val = evaluator_split_size(ev, EVAL_VAL);
    t.n_test = evaluator_split_size(ev, EVAL_TEST);
    t.has_lat = evaluator_has_latency(ev);
    t.objectives = t.has_lat ? PARETO_ALL : PARETO_ACCURACY | PARETO_SIZE;
    db_hex(evaluator_model_hash(ev), t.model_hex);
    char path[1024];
    snprintf(path, sizeof path, "%s/configs", o->out_dir);
    int rc = file_make_dir(path, 0);
    snprintf(path, sizeof path, "%s/%s", o->out_dir, DB_FILE);
    if (!rc) rc = db_open(path, 1, &t.db);
    if (!rc) {
        char v[64];
        snprintf(v, sizeof v, "%lld", (long long)t.n_val);
        rc = check_meta(&t, "model", t.model_hex);
        if (!rc) rc = check_meta(&t, "val_images", v);
        if (!rc) rc = provenance_record(t.db, o->command_line, o->threads, o->device_name);
    }
    for (size_t s = 0; s < sizeof tune_stages / sizeof *tune_stages && !rc; s++) {
        const struct tune_stage *st = &tune_stages[s];
        if ((st->wanted && !st->wanted(&t)) || (st->timed && tune_check_time(&t))) continue;
        t.stage = st->name;
        rc = st->run(&t);
    }
    if (!rc) {
        sum->n_evals_run = t.run;
        sum->n_evals_loaded = t.loaded;
        sum->n_points = t.n_pts;
        for (int i = 0; i < t.n_pts; i++) sum->n_front += t.pts[i].on_front;
        sum->chosen_id = t.report.chosen_id;
        sum->budget_met = t.report.budget_met;
        sum->hypervolume = t.report.hypervolume;
    }
    if (rc && o->progress_tty) fputc('\n', stderr);
    free(t.pts);
    free(t.gidx);
    free(t.pop);
    free(t.dloss);
    free(t.saving);
    free(t.elig);
    for (int i = 0; i < t.n; i++) cand_free(&t.c[i]);
    free(t.c);
    db_close(t.db);   /* before the page reads the store: the run holds it locked */
    /* Every result file is whole by now: a page that cannot be written is a warning, not a failed
     * run (rn50-tune report RUN writes it again). */
    if (!rc && report_html_write(o->out_dir, evaluator_net(ev)))
        fprintf(stderr, "tune: warning: report.html not written: %s (rn50-tune report %s retries)\n", status_message(),
                o->out_dir);
    return rc;
}
