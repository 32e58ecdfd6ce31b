/* tune_final.c — the final stage: the front of the fully evaluated points within budget, its
 * test evaluations, the chosen point, the side-by-side latency measurement (cpu-local), the run's
 * record; then the outputs (tables, chosen model and Core ML config, plots). The files themselves
 * are written by report.c, export_coreml.c and plots/. */
#include "tune_internal.h"

#include "atomic_file.h"
#include "export_coreml.h"
#include "plots.h"
#include "status.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* Measures the batch-1 latency of the front, the chosen point, the baseline and the best global
 * points within budget (those a mixed choice is compared with) side by side: each is written as
 * a compressed model file (fine-tuned points have theirs; the chosen one is written where the
 * run keeps it, chosen.safetensors) and all are timed together, one warm pass of each per round
 * in a shuffled order (evaluator_measure_files_ms), so that the figures compare. Measured one
 * after another instead, g-prune25-w8a8 measured 0.994, 0.984 and 0.943 ms in three runs, as
 * much apart as the front points. At most TUNE_MEASURE_GROUP networks are held at once; the
 * chosen point and the best global ones go first, into the same group. */
#define TUNE_MEASURE_GROUP 12
#define TUNE_MEASURE_REPS 201
/* Writes candidate c's compressed model file to path: a fine-tuned point's file as trained,
 * else the model compressed with its plan, with its config file's text (whole: a config that
 * cannot be read is an error, not a model file without it). */
int save_point(struct tune *t, const struct cand *c, const char *path)
{
    char src[1024];
    if (c->ft_path[0]) {
        snprintf(src, sizeof src, "%s/%s", t->o->out_dir, c->ft_path);
        return file_copy_atomic(src, path);
    }
    snprintf(src, sizeof src, "%s/%s", t->o->out_dir, c->config);
    struct strbuf text;
    int rc = file_read_all(src, &text);
    if (!rc) rc = evaluator_save(t->ev, &c->plan, path, text.p ? text.p : "");
    free(text.p);
    return rc;
}

static void chosen_path(const struct tune *t, char *path, size_t cap)
{
    snprintf(path, cap, "%s/chosen.safetensors", t->o->out_dir);
}

static int measure_points(struct tune *t, const int *map, int k)
{
    double best_global = INFINITY;
    for (int j = 0; j < k; j++) {
        const struct cand *c = &t->c[map[j]];
        if (c->within && !c->mixed && map[j] != t->base && tune_objective(t, c) < best_global) best_global = tune_objective(t, c);
    }
    int *idx = malloc(sizeof(int) * (size_t)k);
    char (*path)[1024] = malloc(sizeof *path * (size_t)k);
    const char **paths = malloc(sizeof *paths * (size_t)k);
    double *ms = malloc(sizeof(double) * (size_t)k);
    int n = 0, rc = !idx || !path || !paths || !ms ? status_error(STATUS_NOMEM, "out of memory") : STATUS_OK;
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (int j = 0; j < k; j++) {
            const struct cand *c = &t->c[map[j]];
            const int first = c->chosen || (c->within && !c->mixed && map[j] != t->base && tune_objective(t, c) == best_global);
            if (pass == 0 ? first : !first && (c->on_front || map[j] == t->base)) idx[n++] = map[j];
        }
    char dir[900];
    snprintf(dir, sizeof dir, "%s/measure", t->o->out_dir);
    if (!rc) rc = file_make_dir(dir, 0);
    int made = 0;   /* model files written into dir, to remove after */
    for (int i = 0; i < n && !rc; i++) {
        const struct cand *c = &t->c[idx[i]];
        if (c->ft_path[0]) {
            snprintf(path[i], sizeof path[i], "%s/%s", t->o->out_dir, c->ft_path);
        } else if (c->chosen) {
            chosen_path(t, path[i], sizeof path[i]);
            if (!(rc = save_point(t, c, path[i]))) t->chosen_saved = 1;
        } else {
            snprintf(path[i], sizeof path[i], "%s/%lld.safetensors", dir, (long long)c->full_id);
            rc = evaluator_save(t->ev, &c->plan, path[i], NULL);
            made = i + 1;
        }
        paths[i] = path[i];
    }
    if (!rc) fprintf(stderr, "tune: measuring %d points side by side (%d passes each)\n", n, TUNE_MEASURE_REPS);
    for (int g = 0; g < n && !rc; g += TUNE_MEASURE_GROUP) {
        const int m = n - g < TUNE_MEASURE_GROUP ? n - g : TUNE_MEASURE_GROUP;
        rc = evaluator_measure_files_ms(t->ev, paths + g, m, TUNE_MEASURE_REPS, ms + g);
        for (int i = g; i < g + m && !rc; i++) t->c[idx[i]].measured_ms = ms[i];
    }
    for (int i = 0; i < made; i++)
        if (!t->c[idx[i]].ft_path[0] && !t->c[idx[i]].chosen) remove(path[i]);
    rmdir(dir);   /* only if empty */
    free(idx);
    free(path);
    free(paths);
    free(ms);
    return rc;
}

/* ---- final ---- */

/* When nothing is within the budget: the best effort (its index) and, in why[cap], which limit
 * failed and the nearest points. A --max-size or --max-latency that no evaluated point meets
 * (screened ones included) is named with the nearest point, and the best effort is the point of
 * those clearing the accuracy rule nearest that limit; otherwise the accuracy rule failed, named
 * with the most accurate point within the limits, which is the best effort. Failing those, the
 * most accurate compressed point, else the baseline. map[0..k) are the fully evaluated. */
static int best_effort(const struct tune *t, const int *map, int k, char *why, size_t cap)
{
    const double mib = 1024.0 * 1024.0;
    int smallest = -1, fastest = -1;
    for (int i = 0; i < t->n; i++) {
        const struct cand *c = &t->c[i];
        if (i == t->base || c->n <= 0) continue;
        if (smallest < 0 || c->bytes < t->c[smallest].bytes) smallest = i;
        if (isfinite(c->latency_ms) && (fastest < 0 || c->latency_ms < t->c[fastest].latency_ms)) fastest = i;
    }
    const int size_fails = t->o->max_bytes > 0 && (smallest < 0 || t->c[smallest].bytes > t->o->max_bytes);
    const int lat_fails = !size_fails && t->o->max_latency_ms > 0 && t->has_lat &&
                          (fastest < 0 || t->c[fastest].latency_ms > t->o->max_latency_ms);
    int nearest = -1, most = -1, most_in = -1;
    for (int j = 0; j < k; j++) {
        const int i = map[j];
        const struct cand *c = &t->c[i];
        if (i == t->base) continue;
        if (most < 0 || tune_top1(c) > tune_top1(&t->c[most])) most = i;
        if (cand_meets_limits(t, c) && (most_in < 0 || tune_top1(c) > tune_top1(&t->c[most_in]))) most_in = i;
        if (!cand_meets_budget(t, c)) continue;
        const double m = lat_fails ? c->latency_ms : c->bytes;
        if (nearest < 0 || m < (lat_fails ? t->c[nearest].latency_ms : t->c[nearest].bytes)) nearest = i;
    }
    const char *rule = t->z_budget > 0 ? " at the lower end of its interval" : "";
    int pick;
    if (size_fails || lat_fails) {
        const struct cand *s = size_fails ? (smallest >= 0 ? &t->c[smallest] : NULL) : (fastest >= 0 ? &t->c[fastest] : NULL);
        char near[160] = "no compressed point was evaluated";
        if (s && size_fails) snprintf(near, sizeof near, "the smallest, %s, is %.4g MiB (val %.2f %% on %lld images)", s->name, s->bytes / mib, tune_top1(s), (long long)s->n);
        else if (s) snprintf(near, sizeof near, "the fastest, %s, is %.4g ms (val %.2f %% on %lld images)", s->name, s->latency_ms, tune_top1(s), (long long)s->n);
        if (size_fails) snprintf(why, cap, "no evaluated point is within --max-size %.4g MiB: %s", t->o->max_bytes / mib, near);
        else snprintf(why, cap, "no evaluated point is within --max-latency %.4g ms: %s", t->o->max_latency_ms, near);
        pick = nearest >= 0 ? nearest : most;
    } else if (most_in >= 0) {
        const struct cand *c = &t->c[most_in];
        snprintf(why, cap, "no point within the limits clears the accuracy budget (val top-1 >= %.2f %%%s): the most accurate, %s, has val %.2f %% (lower bound %.2f %%)",
                 t->thr, rule, c->name, tune_top1(c), cand_budget_top1(t, c));
        pick = most_in;
    } else {
        snprintf(why, cap, "no point within the limits clears the accuracy budget (val top-1 >= %.2f %%%s), and screening evaluated none of them on the whole val split",
                 t->thr, rule);
        pick = most;
    }
    return pick >= 0 ? pick : t->base;
}

/* The test evaluations of the front and the baseline, and the chosen point (marked, and its
 * index in *chosen_out): on the front, by the objective, or else the best effort (why[cap] says
 * why); *budget_met 1 when it is on the front. map[0..k) are the fully evaluated candidates. */
static int final_choose(struct tune *t, const int *map, int k, int *chosen_out, int *budget_met, char *why, size_t cap)
{
    const struct tune_options *o = t->o;
    int rc = STATUS_OK, chosen = -1;
    /* Test accuracy of the front and the baseline, in one batch. */
    int *todo = calloc((size_t)(k > 0 ? k : 1), sizeof(int)), m = 0;
    if (!todo) return status_error(STATUS_NOMEM, "out of memory");
    for (int j = 0; j < k; j++)
        if (t->c[map[j]].on_front || map[j] == t->base) todo[m++] = map[j];
    rc = cand_eval_many(t, todo, m, EVAL_TEST, t->n_test, NULL);
    free(todo);
    /* The chosen point: on the front, by the objective; ties go to the higher val accuracy. */
    for (int j = 0; !rc && j < k; j++) {
        const struct cand *c = &t->c[map[j]];
        if (!c->on_front) continue;
        if (chosen < 0) { chosen = map[j]; continue; }
        const struct cand *b = &t->c[chosen];
        const double mc = o->objective == TUNE_ACCURACY ? -tune_top1(c) : tune_metric(t, c);
        const double mb = o->objective == TUNE_ACCURACY ? -tune_top1(b) : tune_metric(t, b);
        if (mc < mb || (mc == mb && tune_top1(c) > tune_top1(b))) chosen = map[j];
    }
    *budget_met = chosen >= 0;
    why[0] = '\0';
    if (!rc && chosen < 0) {
        chosen = best_effort(t, map, k, why, cap);
        if (!isfinite(t->c[chosen].test_top1)) {
            struct db_eval e;
            t->planned++;
            rc = cand_eval(t, chosen, EVAL_TEST, t->n_test, &e);
        }
        fprintf(stderr, "tune: no point meets the budget: %s; the best effort, %s, is reported\n", why, t->c[chosen].name);
    }
    if (!rc && chosen >= 0) t->c[chosen].chosen = 1;
    *chosen_out = chosen;
    return rc;
}

/* The report's points rp[0..k) of the candidates map[0..k); warns of front points that miss the
 * budget on test. */
static void final_points(const struct tune *t, const int *map, int k, struct report_point *rp)
{
    const struct tune_options *o = t->o;
    const double base_test = t->c[t->base].test_top1;
    for (int j = 0; j < k; j++) {
        const struct cand *c = &t->c[map[j]];
        struct report_point *r = &rp[j];
        r->id = c->full_id;
        snprintf(r->workflow, sizeof r->workflow, "%s", c->workflow);
        snprintf(r->config, sizeof r->config, "%s", c->config);
        snprintf(r->stage, sizeof r->stage, "%s", c->stage);
        r->top1_val = tune_top1(c);
        r->top1_test = c->test_top1;
        r->bytes = c->bytes;
        r->latency_ms = c->latency_ms;
        r->latency_measured_ms = c->measured_ms;
        r->seconds = c->compress_seconds;
        r->mixed = c->mixed;
        r->within_budget = c->within;
        r->on_front = c->on_front;
        r->chosen = c->chosen;
        if (c->on_front && isfinite(c->test_top1) &&
            c->test_top1 < pareto_budget_threshold(base_test, o->budget, o->budget_relative ? PARETO_BUDGET_RELATIVE : PARETO_BUDGET_ABSOLUTE))
            fprintf(stderr, "tune: warning: front point %s meets the budget on val (%.2f %%) but not on test (%.2f %%)\n", c->name,
                    tune_top1(c), c->test_top1);
    }
}

/* The run's record (t->report) of the k points map[0..k), n_front of them on the front. */
static void final_record(struct tune *t, const int *map, int k, int n_front, int chosen, int budget_met, const char *why)
{
    const struct tune_options *o = t->o;
    struct report_run *run = &t->report;
    memset(run, 0, sizeof *run);
    snprintf(run->model, sizeof run->model, "%s", o->model_name);
    snprintf(run->weights, sizeof run->weights, "%s", o->weights_name ? o->weights_name : "");
    snprintf(run->data, sizeof run->data, "%s", o->data_name);
    snprintf(run->device, sizeof run->device, "%s", o->device_name ? o->device_name : "none");
    static const char *const objective_names[TUNE_OBJECTIVE_COUNT] = { "size", "latency", "accuracy" };
    snprintf(run->objective, sizeof run->objective, "%s", objective_names[o->objective]);
    snprintf(run->budget, sizeof run->budget, "%s", o->budget_text);
    const struct cand *b = &t->c[t->base];
    run->baseline_top1_val = tune_top1(b);
    run->baseline_top1_test = b->test_top1;
    run->baseline_bytes = b->bytes;
    run->baseline_latency_ms = b->latency_ms;
    run->threshold_top1 = t->thr;
    run->confidence = t->z_budget > 0 ? o->confidence : 0;
    run->chosen_top1_val_low = chosen >= 0 ? cand_budget_top1(t, &t->c[chosen]) : NAN;
    snprintf(run->best_effort, sizeof run->best_effort, "%s", why);
    run->chosen_id = budget_met ? t->c[chosen].full_id : -1;
    run->budget_met = budget_met;
    run->n_evaluations = t->run;
    run->n_points = k;
    int *front = malloc(sizeof(int) * (size_t)(n_front + 1));
    int nf = 0;
    for (int j = 0; front && j < k; j++)
        if (t->c[map[j]].on_front) front[nf++] = map[j];
    run->hypervolume = front ? tune_hv(t, front, nf) : NAN;
    free(front);
    if (t->has_lat)
        snprintf(run->hypervolume_ref, sizeof run->hypervolume_ref, "top-1 %.2f %% (budget), %.0f bytes (baseline), %.4g ms", t->thr_budget,
                 b->bytes, t->ref_lat);
    else
        snprintf(run->hypervolume_ref, sizeof run->hypervolume_ref, "top-1 %.2f %% (budget), %.0f bytes (baseline); 2-D, no latency",
                 t->thr_budget, b->bytes);
    run->seconds = tune_elapsed(t);
}

/* The front, its test evaluations, the chosen point and (cpu-local) the measured latencies;
 * the run's record and points in t->report and t->pts[0..n_pts). */
int stage_final(struct tune *t)
{
    t->screen_2d = 0;
    const struct tune_options *o = t->o;
    int n_full = 0;
    for (int i = 0; i < t->n; i++) n_full += t->c[i].full_id >= 0;
    struct pareto_point *pp = malloc(sizeof *pp * (size_t)(n_full + 1));
    int *map = malloc(sizeof(int) * (size_t)(n_full + 1));
    unsigned char *keep = malloc((size_t)n_full + 1);
    struct report_point *rp = calloc((size_t)n_full + 1, sizeof *rp);
    int rc = !pp || !map || !keep || !rp ? status_error(STATUS_NOMEM, "out of memory") : STATUS_OK;
    int k = 0;
    for (int i = 0; !rc && i < t->n; i++) {
        struct cand *c = &t->c[i];
        if (c->full_id < 0) continue;
        c->within = cand_meets_budget(t, c) && cand_meets_limits(t, c);
        /* Points outside the budget get a NaN accuracy, which keeps them off the front. */
        pp[k] = (struct pareto_point){ c->within ? tune_top1(c) : NAN, c->bytes, t->has_lat ? c->latency_ms : 0, i };
        map[k++] = i;
    }
    if (!rc) pareto_front_in(pp, k, t->objectives, keep);
    int chosen = -1, n_front = 0;
    for (int j = 0; !rc && j < k; j++) {
        struct cand *c = &t->c[map[j]];
        c->on_front = keep[j];
        n_front += keep[j];
    }
    t->planned += n_front + 1;
    int budget_met = 0;
    char why[512] = "";
    if (!rc) rc = final_choose(t, map, k, &chosen, &budget_met, why, sizeof why);
    if (!rc && o->measure_latency) rc = measure_points(t, map, k);
    if (o->progress_tty) fputc('\n', stderr);
    if (rc) goto done;
    final_points(t, map, k, rp);
    final_record(t, map, k, n_front, chosen, budget_met, why);
    t->pts = rp;
    t->n_pts = k;
    rp = NULL;
    if (chosen >= 0) {
        const struct cand *c = &t->c[chosen];
        fprintf(stderr, "tune: chosen %s (%s): val %.2f %%, test %.2f %%, %.1f KiB, %.4g ms predicted%s\n", c->name, c->config, tune_top1(c),
                c->test_top1, c->bytes / 1024.0, c->latency_ms, budget_met ? "" : " (best effort: budget not met)");
    }
done:
    free(pp);
    free(map);
    free(keep);
    free(rp);
    return rc;
}

/* The tables, the chosen model file and its Core ML config, the plots. */
int stage_outputs(struct tune *t)
{
    int rc = report_write_tables(t->o->out_dir, &t->report, t->pts, t->n_pts);
    if (rc) return rc;
    int chosen = -1;
    for (int i = 0; i < t->n; i++)
        if (t->c[i].chosen) chosen = i;
    if (chosen >= 0) {
        char dir[1024], path[1024];
        snprintf(dir, sizeof dir, "%s/chosen", t->o->out_dir);
        if ((rc = export_coreml_write(&t->c[chosen].plan, dir))) return rc;
        chosen_path(t, path, sizeof path);
        if (!t->chosen_saved) rc = save_point(t, &t->c[chosen], path);   /* else written when measured */
        if (rc) return rc;
    }
    return plots_draw(t->o->out_dir);
}
