/* tune_global.c — the baseline, the global stage (every global combination the space allows,
 * written as YAML and screened) and the grid stage of --compare-exhaustive (every global
 * candidate on full val, to compare the staged search's hypervolume with). */
#include "tune_internal.h"
#include "config_write.h"

#include "status.h"

#include <gsl/gsl_cdf.h>

#include <stdlib.h>
#include <string.h>

/* ---- YAML of candidates ---- */

static void yaml_leave_alone(const struct tune *t, struct strbuf *b)
{
    if (!t->sp->n_leave_alone) return;
    strbuf_printf(b, "  module_name_configs:\n");
    for (int i = 0; i < t->sp->n_leave_alone; i++) {
        /* The pattern is already a regex: quoted for YAML, not escaped (config_write_key would). */
        strbuf_str(b, "    ");
        config_write_quoted(b, t->sp->leave_alone[i]);
        strbuf_str(b, ": null\n");
    }
}

struct global_desc {
    int bits, group, skm;          /* bits 0: not palettized */
    double sparsity;               /* 0: not pruned */
    int int8, a8;                  /* int8 weights; 8-bit activations */
};

static void global_name(const struct global_desc *g, char *out, size_t n)
{
    char part[48];
    out[0] = 0;
    if (g->sparsity > 0) {
        snprintf(part, sizeof part, "prune%g", 100 * g->sparsity);
        strncat(out, part, n - strlen(out) - 1);
    }
    if (g->bits) {
        snprintf(part, sizeof part, "%spal%d%s%s", out[0] ? "-" : "", g->bits, g->group ? "" : "", g->skm ? "-skm" : "");
        strncat(out, part, n - strlen(out) - 1);
        if (g->group) {
            snprintf(part, sizeof part, "-g%d", g->group);
            strncat(out, part, n - strlen(out) - 1);
        }
    }
    if (g->int8) strncat(out, out[0] ? (g->a8 ? "-w8a8" : "-w8a16") : (g->a8 ? "w8a8" : "w8a16"), n - strlen(out) - 1);
    else if (g->a8) strncat(out, "-a8", n - strlen(out) - 1);
}

static void global_yaml(const struct tune *t, const struct global_desc *g, const char *name, struct strbuf *b)
{
    strbuf_printf(b, "# rn50-tune tune: global candidate %s\n", name);
    if (g->sparsity > 0) {
        strbuf_printf(b, "pruning:\n  global_config:\n    target_sparsity: %g\n    granularity: per_scalar\n", g->sparsity);
        yaml_leave_alone(t, b);
    }
    if (g->bits) {
        strbuf_printf(b, "palettization:\n  global_config:\n    n_bits: %d\n", g->bits);
        if (g->group) strbuf_printf(b, "    granularity: per_grouped_channel\n    group_size: %d\n    channel_axis: 0\n", g->group);
        else strbuf_printf(b, "    granularity: per_tensor\n");
        strbuf_printf(b, "    algorithm: %s\n", g->skm ? "skm" : "kmeans");
        yaml_leave_alone(t, b);
    }
    if (g->int8 || g->a8) {
        strbuf_printf(b, "quantization:\n  global_config:\n    quantization_scheme: symmetric\n");
        if (g->int8) strbuf_printf(b, "    weight_dtype: int8\n");
        strbuf_printf(b, "    activation_dtype: %s\n", g->a8 ? "int8" : "float16");
        if (g->a8) strbuf_printf(b, "    activation_observer: moving_average_min_max\n    calibration_samples: 128\n");
        yaml_leave_alone(t, b);
    }
    if (!g->sparsity && !g->bits && !g->int8 && !g->a8) strbuf_printf(b, "{}\n");
}

/* ---- stages ---- */

/* The uncompressed model on full val, and the thresholds the budget sets. */
int stage_baseline(struct tune *t)
{
    int rc = cand_add(t, "baseline", "baseline", 0, "# rn50-tune tune: the uncompressed (fp16) baseline\n{}\n", NULL, &t->base);
    if (rc) return rc;
    t->planned++;
    struct db_eval e;
    if ((rc = cand_eval(t, t->base, EVAL_VAL, t->n_val, &e))) return rc;
    const double base = tune_top1(&t->c[t->base]);
    t->thr_budget = pareto_budget_threshold(base, t->o->budget, t->o->budget_relative ? PARETO_BUDGET_RELATIVE : PARETO_BUDGET_ABSOLUTE);
    t->thr = t->thr_budget + t->o->margin;
    t->z_budget = t->o->confidence > 0 ? gsl_cdf_ugaussian_Pinv(t->o->confidence) : 0;
    fprintf(stderr, "tune: baseline val top-1 %.2f %% (%lld images), %.1f KiB; budget %s: val top-1 >= %.2f %%", base,
            (long long)t->n_val, t->c[t->base].bytes / 1024.0, t->o->budget_text, t->thr_budget);
    if (t->o->margin != 0) fprintf(stderr, " (+ margin %.2f = %.2f %%)", t->o->margin, t->thr);
    if (t->z_budget > 0)
        fprintf(stderr, " at the lower end of a one-sided %g %% interval paired with the baseline (z = %.3f)", 100.0 * t->o->confidence,
                t->z_budget);
    fputc('\n', stderr);
    if (t->o->objective == TUNE_LATENCY && !t->has_lat)
        return status_error(STATUS_BAD_INPUT, "--objective latency needs a device with a cost model (--device)");
    return STATUS_OK;
}

/* Every global candidate the space allows, screened; they stay in t->gidx[0..m_global). */
int stage_global(struct tune *t)
{
    const struct space *sp = t->sp;
    struct global_desc w[1 + 2 * SPACE_MAX_CHOICES * SPACE_MAX_CHOICES + 2];
    int nw = 0;
    w[nw++] = (struct global_desc){ 0 };   /* weights untouched (only pruned) */
    for (int bi = 0; bi < sp->n_n_bits; bi++)
        for (int gi = 0; gi < sp->n_group; gi++)
            for (int skm = 0; skm < 2; skm++) {
                if (!((t->o->workflows >> skm) & 1)) continue;   /* SPACE_PTQ = 1, SPACE_CALIB = 2 */
                w[nw++] = (struct global_desc){ .bits = sp->n_bits[bi], .group = sp->group[gi], .skm = skm };
            }
    if (sp->w8a16) w[nw++] = (struct global_desc){ .int8 = 1 };
    if (sp->w8a8 && (t->o->workflows & SPACE_CALIB)) w[nw++] = (struct global_desc){ .int8 = 1, .a8 = 1 };
    int *idx = malloc(sizeof(int) * (size_t)(nw * 2 * (sp->n_sparsity + 1) + 1));
    if (!idx) return status_error(STATUS_NOMEM, "out of memory");
    int m = 0, rc = STATUS_OK;
    for (int si = -1; si < sp->n_sparsity && !rc; si++) {
        const double s = si < 0 ? 0.0 : sp->sparsity[si];
        for (int wi = 0; wi < nw && !rc; wi++) {
            for (int a8 = 0; a8 < 2 && !rc; a8++) {
                struct global_desc g = w[wi];
                g.sparsity = s;
                if (a8) {   /* palettized weights with 8-bit activations */
                    if (!g.bits || !sp->w8a8 || !(sp->joint & SPACE_JOINT_PAL_ACT) || !(t->o->workflows & SPACE_CALIB)) continue;
                    g.a8 = 1;
                }
                if (!g.bits && !g.int8 && s == 0) continue;                         /* the baseline */
                if (s > 0 && g.bits && !(sp->joint & SPACE_JOINT_PRUNE_PAL)) continue;
                if (s > 0 && g.int8 && !(sp->joint & SPACE_JOINT_PRUNE_QUANT)) continue;
                if (s > 0 && g.a8 && g.bits) continue;                             /* three families: not in the grid */
                char name[96], fname[104];
                global_name(&g, name, sizeof name);
                snprintf(fname, sizeof fname, "g-%s", name);
                struct strbuf b = { 0 };
                global_yaml(t, &g, name, &b);
                if (b.oom) rc = status_error(STATUS_NOMEM, "out of memory");
                int k = -1;
                if (!rc) rc = cand_add(t, fname, "global", 0, b.p, NULL, &k);
                free(b.p);
                if (!rc && k != t->base) {
                    int dup = 0;
                    for (int j = 0; j < m; j++) dup |= idx[j] == k;
                    if (!dup) idx[m++] = k;
                }
            }
        }
    }
    if (rc) {
        free(idx);
        return rc;
    }
    fprintf(stderr, "tune: %d global candidates\n", m);
    int64_t rungs[TUNE_MAX_RUNGS + 1];
    int nr = 0;
    for (int r = 0; r < t->o->n_rungs; r++)
        if (t->o->rungs[r] < t->n_val && (nr == 0 || t->o->rungs[r] > rungs[nr - 1])) rungs[nr++] = t->o->rungs[r];
    rungs[nr++] = t->n_val;
    rc = tune_screen_rungs(t, idx, m, rungs, nr);
    if (!rc) update_ref_lat(t);
    t->gidx = idx;
    t->m_global = m;
    return rc;
}

/* --compare-exhaustive: every global candidate on full val, and both hypervolumes in the summary. */
int stage_grid(struct tune *t)
{
    struct tune_summary *sum = t->sum;
    const int *gidx = t->gidx, m_global = t->m_global;
    int rc = STATUS_OK;
    sum->staged_hv = tune_hv(t, gidx, m_global);
    for (int j = 0; j < m_global; j++) sum->staged_full += t->c[gidx[j]].full_id >= 0;
    t->planned += m_global - sum->staged_full;
    int *todo = malloc(sizeof(int) * (size_t)(m_global > 0 ? m_global : 1)), k = 0;
    if (!todo) return status_error(STATUS_NOMEM, "out of memory");
    for (int j = 0; j < m_global; j++)
        if (t->c[gidx[j]].full_id < 0) todo[k++] = gidx[j];
    rc = cand_eval_many(t, todo, k, EVAL_VAL, t->n_val, NULL);
    free(todo);
    sum->grid_full = m_global;
    sum->grid_hv = tune_hv(t, gidx, m_global);
    if (t->o->progress_tty) fputc('\n', stderr);
    fprintf(stderr, "tune: staged global search: %d of %d candidates evaluated on full val (%.1f %%), hypervolume %.6g of the grid's %.6g (%.2f %%)\n",
            sum->staged_full, sum->grid_full, 100.0 * sum->staged_full / (m_global ? m_global : 1), sum->staged_hv, sum->grid_hv,
            100.0 * sum->staged_hv / sum->grid_hv);
    return rc;
}
