/* tune_cand.c — the candidate table of a search (tune_internal.h): a candidate is a config file
 * in RUN/configs/, resolved to a plan and keyed by the hash of that plan's canonical text, so two
 * configs that resolve alike are one candidate; every evaluation goes through the results store
 * first (cand_eval), so a resumed run recomputes nothing that finished. What a candidate is worth
 * (top-1, metric) is read here; what to do with it is the stages'. */
#include "tune_internal.h"
#include "clock.h"

#include "apply.h"
#include "atomic_file.h"
#include "strbuf.h"
#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The canonical text of a resolved plan: what the store key hashes (two configs that resolve to
 * the same plan are the same evaluation). */
static void plan_canonical(const struct compress_plan *p, struct strbuf *b)
{
    strbuf_printf(b, "threshold %lld\n", (long long)p->weight_threshold);
    for (int i = 0; i < p->n_layers; i++) {
        const struct layer_plan *l = &p->layer[i];
        strbuf_printf(b, "%s", p->info[i].name);
        if (l->prune.enabled)
            strbuf_printf(b, " prune %.9g %d %d %d:%d%s", l->prune.target_sparsity, (int)l->prune.granularity, l->prune.block_size,
                      l->prune.n_m_n, l->prune.n_m_m, l->prune.reconstruct ? " reconstruct" : "");
        if (l->pal.enabled)
            strbuf_printf(b, " pal %d %d %d %d %d %d", l->pal.n_bits, (int)l->pal.granularity, l->pal.group_size, l->pal.channel_axis,
                      l->pal.per_channel_scale, (int)l->pal.algorithm);
        if (l->quant.enabled)
            strbuf_printf(b, " quant %d %d %d %d", l->quant.symmetric, l->quant.activations, (int)l->quant.observer,
                      l->quant.calibration_samples);
        strbuf_printf(b, "\n");
    }
}

void cand_free(struct cand *c)
{
    compress_plan_free(&c->plan);
    free(c->genome);
}

/* Writes yaml as configs/NAME.yaml, resolves it and adds the candidate; an existing candidate
 * with the same resolved plan is reused (*idx points at it). */
int cand_add(struct tune *t, const char *name, const char *stage, int mixed, const char *yaml,
             const unsigned char *genome, int *idx)
{
    return cand_add_salted(t, name, stage, mixed, yaml, genome, NULL, idx);
}

/* cand_add with `salt` (NULL: none) hashed into the config hash: the fine-tuning options of a
 * finetune candidate, whose plan alone may equal a post-training one (pruning). */
int cand_add_salted(struct tune *t, const char *name, const char *stage, int mixed, const char *yaml,
                    const unsigned char *genome, const char *salt, int *idx)
{
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, "configs/%s.yaml", name);
    snprintf(path, sizeof path, "%s/%s", t->o->out_dir, rel);
    struct strbuf text = { .p = (char *)yaml, .len = strlen(yaml) };   /* read, not owned */
    int rc = file_write_atomic(path, file_write_strbuf, &text);
    if (rc) return rc;
    struct cand c;
    memset(&c, 0, sizeof c);
    if ((rc = compress_config_load(path, evaluator_net(t->ev), &c.plan))) return rc;
    struct strbuf b = { 0 };
    plan_canonical(&c.plan, &b);
    if (salt) strbuf_printf(&b, "salt %s\n", salt);
    if (b.oom) {
        free(b.p);
        compress_plan_free(&c.plan);
        return status_error(STATUS_NOMEM, "out of memory");
    }
    db_hex(db_fnv1a(DB_FNV_OFFSET, b.p, b.len), c.config_hash);
    free(b.p);
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->c[i].config_hash, c.config_hash) == 0) {
            compress_plan_free(&c.plan);
            /* A global config that equals a per-layer genome (every layer the same) takes the
             * genome, so that NSGA-II can cross it. */
            if (genome && !t->c[i].genome) {
                t->c[i].genome = malloc((size_t)t->n_elig);
                if (!t->c[i].genome) return status_error(STATUS_NOMEM, "out of memory");
                memcpy(t->c[i].genome, genome, (size_t)t->n_elig);
            }
            *idx = i;
            return STATUS_OK;
        }
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(c.stage, sizeof c.stage, "%s", stage);
    snprintf(c.workflow, sizeof c.workflow, "%s", plan_needs_calibration(&c.plan) ? "calib" : "ptq");
    snprintf(c.config, sizeof c.config, "%s", rel);
    c.mixed = mixed;
    c.full_id = -1;
    c.alive = 1;
    c.test_top1 = NAN;
    c.measured_ms = NAN;
    c.latency_ms = NAN;
    if (genome) {
        c.genome = malloc((size_t)t->n_elig);
        if (!c.genome) {
            compress_plan_free(&c.plan);
            return status_error(STATUS_NOMEM, "out of memory");
        }
        memcpy(c.genome, genome, (size_t)t->n_elig);
    }
    if (t->n == t->cap) {
        const int cap = t->cap ? 2 * t->cap : 128;
        struct cand *p = realloc(t->c, sizeof *p * (size_t)cap);
        if (!p) {
            cand_free(&c);
            return status_error(STATUS_NOMEM, "out of memory");
        }
        t->c = p;
        t->cap = cap;
    }
    t->c[t->n] = c;
    *idx = t->n++;
    return STATUS_OK;
}

/* The store key of c's evaluation on the first n images of split: model, config, split, n and
 * workflow. */
void eval_key(const struct tune *t, const struct cand *c, enum eval_split split, int64_t n, char key[DB_HASH_LEN + 1])
{
    char key_text[128];
    snprintf(key_text, sizeof key_text, "%s %s %s %lld %s", t->model_hex, c->config_hash, split == EVAL_VAL ? "val" : "test",
             (long long)n, c->workflow);
    db_hex(db_fnv1a(DB_FNV_OFFSET, key_text, strlen(key_text)), key);
}


/* The store's record of candidate c's evaluation from the evaluator's result r. */
static void eval_record(const struct cand *c, const char *key, enum eval_split split, int64_t n, const struct eval_result *r,
                        struct db_eval *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->key, sizeof out->key, "%s", key);
    snprintf(out->config_hash, sizeof out->config_hash, "%s", c->config_hash);
    snprintf(out->split, sizeof out->split, "%s", split == EVAL_VAL ? "val" : "test");
    out->n_images = n;
    snprintf(out->workflow, sizeof out->workflow, "%s", c->workflow);
    snprintf(out->stage, sizeof out->stage, "%s", c->stage);
    snprintf(out->name, sizeof out->name, "%s", c->name);
    snprintf(out->config, sizeof out->config, "%s", c->config);
    out->m = r->m;   /* the measurements, whole (eval_metrics.h) */
}

/* What candidate i learns from its evaluation e on the first n images of split. */
static void cand_take(struct tune *t, int i, enum eval_split split, int64_t n, const struct db_eval *e)
{
    struct cand *c = &t->c[i];
    t->done++;
    /* The whole record, except that the counts stay those of the largest val prefix: a shorter
     * prefix or the test split says nothing new about them. */
    struct eval_metrics m = e->m;
    if (split != EVAL_VAL || n < c->n) {
        m.correct = c->correct;
        m.lost = c->lost;
        m.gained = c->gained;
        m.loss = c->loss;
    } else {
        c->n = n;
    }
    if (split == EVAL_VAL && n == t->n_val) c->full_id = e->id;
    if (split != EVAL_VAL) c->test_top1 = 100.0 * (double)e->correct / (double)n;
    c->m = m;
    char what[160];
    snprintf(what, sizeof what, "%s on %s[:%lld] top-1 %.2f %%", c->name, e->split, (long long)n, 100.0 * (double)e->correct / (double)n);
    tune_progress(t, what);
}

int cand_eval(struct tune *t, int i, enum eval_split split, int64_t n, struct db_eval *out)
{
    return cand_eval_many(t, &i, 1, split, n, out);
}

/* Evaluates candidates idx[0..m) on the first n images of split, from the store when they are
 * there; the rest together (evaluator_run_many: spread over the ranks of a run), then stored and
 * taken in the order of idx, so that the store's rows are in the same order as one by one; each
 * one's record into out[m] when non-NULL. */
int cand_eval_many(struct tune *t, const int *idx, int m, enum eval_split split, int64_t n, struct db_eval *out)
{
    struct db_eval *e = calloc((size_t)m, sizeof *e);
    unsigned char *found = calloc((size_t)m, 1);
    const struct compress_plan **plans = calloc((size_t)m, sizeof *plans);
    struct eval_result *r = calloc((size_t)m, sizeof *r);
    int *todo = malloc(sizeof(int) * (size_t)m), *dup = malloc(sizeof(int) * (size_t)m);
    int rc = e && found && plans && r && todo && dup ? STATUS_OK : status_error(STATUS_NOMEM, "out of memory");
    char (*key)[DB_HASH_LEN + 1] = rc ? NULL : malloc(sizeof *key * (size_t)m);
    if (!rc && !key) rc = status_error(STATUS_NOMEM, "out of memory");
    int k = 0;
    for (int j = 0; j < m && !rc; j++) {
        int hit = 0;
        eval_key(t, &t->c[idx[j]], split, n, key[j]);
        rc = db_find(t->db, key[j], &e[j], &hit);
        found[j] = (unsigned char)hit;
        /* The same evaluation twice in one batch is computed once; the second is taken from the
         * first, as it would be from the store one by one. */
        dup[j] = -1;
        for (int q = 0; q < j && !hit; q++)
            if (!found[q] && strcmp(key[q], key[j]) == 0 && dup[q] < 0) dup[j] = q;
        /* A fine-tuned point is a file on this rank's disk: evaluated here, alone. */
        if (!rc && !hit && dup[j] < 0 && !t->c[idx[j]].ft_path[0]) {
            plans[k] = &t->c[idx[j]].plan;
            todo[k++] = j;
        }
    }
    const double t0 = clock_now_s();
    if (!rc && k) {
        struct eval_result *rk = malloc(sizeof *rk * (size_t)k);
        rc = rk ? evaluator_run_many(t->ev, plans, k, split, n, rk) : status_error(STATUS_NOMEM, "out of memory");
        for (int q = 0; q < k && !rc; q++) r[todo[q]] = rk[q];
        free(rk);
    }
    for (int j = 0; j < m && !rc; j++) {
        struct cand *c = &t->c[idx[j]];
        if (dup[j] >= 0) {
            e[j] = e[dup[j]];
            t->loaded++;
        } else if (found[j]) {
            /* Latency is the device model's, not the store's: a run resumed or repeated with
             * another --device reuses every accuracy and size and predicts latency afresh. */
            if ((rc = evaluator_predict_ms(t->ev, &c->plan, &e[j].latency_ms))) break;
            t->loaded++;
        } else {
            if (c->ft_path[0]) {
                char path[1024];
                snprintf(path, sizeof path, "%s/%s", t->o->out_dir, c->ft_path);
                if ((rc = evaluator_run_file(t->ev, path, &c->plan, split, n, &r[j]))) break;
                r[j].compress_seconds = c->ft_seconds > 0 ? c->ft_seconds : c->compress_seconds;
            }
            eval_record(c, key[j], split, n, &r[j], &e[j]);
            if ((rc = db_insert(t->db, &e[j]))) break;
            t->run++;
        }
        if (j == m - 1) t->eval_time += clock_now_s() - t0;
        cand_take(t, idx[j], split, n, &e[j]);
        if (out) out[j] = e[j];
    }
    free(e);
    free(found);
    free(plans);
    free(r);
    free(todo);
    free(dup);
    free(key);
    return rc;
}

double tune_top1(const struct cand *c) { return c->n ? 100.0 * (double)c->correct / (double)c->n : NAN; }

double tune_metric(const struct tune *t, const struct cand *c)
{
    return t->o->objective == TUNE_LATENCY ? c->latency_ms : c->bytes;
}

double tune_objective(const struct tune *t, const struct cand *c)
{
    return t->o->objective == TUNE_ACCURACY ? -tune_top1(c) : tune_metric(t, c);
}
