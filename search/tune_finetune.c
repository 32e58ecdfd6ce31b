/* tune_finetune.c — the finetune workflow's stage: the points that beat the best point within
 * budget but missed it on accuracy are fine-tuned while compressed (compress/finetune.h, through
 * the evaluator), saved in RUN/finetune/ and evaluated from their files on full val. */
#include "atomic_file.h"
#include "tune_internal.h"
#include "config_write.h"

#include "status.h"
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A plan's training-time form: each layer's palettization with algorithm dkm (same bits and
 * groups), its pruning with a PolynomialDecayScheduler over the first third of the training
 * steps (ten updates), listed by exact layer name. Returns 0, or -1 when the plan has something
 * fine-tuning does not do (int8 quantization, channel_axis 1 groups, non-scalar pruning). */
static int finetune_yaml(const struct compress_plan *p, const char *name, int64_t steps, struct strbuf *b)
{
    /* Ten updates (fewer in a run of fewer steps), all within the run, over its first third. */
    const int64_t n_upd = steps >= 10 ? 10 : steps >= 1 ? steps : 1;
    const int64_t span = steps / 3 > n_upd ? steps / 3 : n_upd, every = span / n_upd;
    int any_pal = 0, any_prune = 0;
    for (int i = 0; i < p->n_layers; i++) {
        const struct layer_plan *l = &p->layer[i];
        if (l->quant.enabled) return -1;
        if (l->pal.enabled && (l->pal.granularity == PAL_PER_GROUPED_CHANNEL && l->pal.channel_axis != 0)) return -1;
        if (l->prune.enabled && (l->prune.granularity != PRUNE_PER_SCALAR || l->prune.n_m_m > 0)) return -1;
        any_pal |= l->pal.enabled;
        any_prune |= l->prune.enabled;
    }
    if (!any_pal && !any_prune) return -1;
    strbuf_printf(b, "# rn50-tune tune: fine-tuned candidate %s\n", name);
    for (int fam = 0; fam < 2; fam++) {
        if (fam == 0 ? !any_prune : !any_pal) continue;
        strbuf_printf(b, "%s:\n  module_name_configs:\n", fam == 0 ? "pruning" : "palettization");
        for (int i = 0; i < p->n_layers; i++) {
            const struct layer_plan *l = &p->layer[i];
            if (fam == 0 ? !l->prune.enabled : !l->pal.enabled) continue;
            strbuf_str(b, "    ");
            config_write_key(b, p->info[i].name);
            if (fam == 0)
                strbuf_printf(b, ": {target_sparsity: %.9g, granularity: per_scalar, scheduler: {update_steps: \"range(0, %lld, %lld)\", power: 3}}\n",
                          l->prune.target_sparsity, (long long)(every * n_upd), (long long)every);
            else if (l->pal.granularity == PAL_PER_GROUPED_CHANNEL)
                strbuf_printf(b, ": {n_bits: %d, granularity: per_grouped_channel, group_size: %d, channel_axis: 0, algorithm: dkm}\n",
                          l->pal.n_bits, l->pal.group_size);
            else
                strbuf_printf(b, ": {n_bits: %d, granularity: per_tensor, algorithm: dkm}\n", l->pal.n_bits);
        }
    }
    return 0;
}

/* The next point to fine-tune among candidates [0, n_before) not yet used: best for the
 * objective below `best` (deterministic: ties by index); -1 when none is left. */
static int finetune_pick(const struct tune *t, const unsigned char *used, int n_before, double best)
{
    int pick = -1;
    for (int i = 0; i < n_before; i++) {
        const struct cand *c = &t->c[i];
        /* Missed the budget on accuracy alone (training cannot fix size or latency limits): by the
         * budget rule when fully evaluated, else on its prefix's figure. */
        const int met = c->full_id >= 0 ? cand_meets_budget(t, c) : tune_top1(c) >= t->thr;
        if (used[i] || i == t->base || c->n == 0 || c->ft_path[0] || met || !may_qualify(t, c, INFINITY) ||
            !(tune_metric(t, c) < best))
            continue;
        if (pick < 0 || tune_metric(t, c) < tune_metric(t, &t->c[pick])) pick = i;
    }
    return pick;
}

/* Trains c (config text yaml, fine-tuned from candidate `from`) into its file c->ft_path with
 * the shared options base, resuming from its checkpoint when there is one. A point that cannot
 * be fine-tuned is left out (*left_out 1, c->ft_path cleared, STATUS_OK); an interruption or
 * running out of memory is the run's error. */
static int finetune_train(struct tune *t, struct cand *c, const struct cand *from, const char *name, const char *yaml,
                          const struct train_opts *base, int64_t n_train, int *left_out)
{
    const struct tune_options *o = t->o;
    char out[1024], ckpt[1024];
    snprintf(out, sizeof out, "%s/%s", o->out_dir, c->ft_path);
    snprintf(ckpt, sizeof ckpt, "%s/finetune/%s.ckpt.safetensors", o->out_dir, name);
    struct train_opts to = *base;
    to.out = out;
    to.checkpoint = ckpt;
    to.resume = access(ckpt, R_OK) == 0 ? ckpt : NULL;
    fprintf(stderr, "tune: [finetune] %s (from %s: %.1f KiB, %.3f ms, val top-1 %.2f %% on %lld images): %d epochs of %lld images%s\n",
            name, from->name, from->bytes / 1024.0, from->latency_ms, tune_top1(from), (long long)from->n, o->ft_epochs,
            (long long)n_train, to.resume ? ", resuming" : "");
    int interrupted = 0;
    int rc = evaluator_finetune(t->ev, &c->plan, yaml, &to, &c->ft_seconds, &interrupted);
    if (rc && !interrupted && rc != STATUS_NOMEM) {
        /* One point that cannot be fine-tuned does not end the search: it stays out. */
        fprintf(stderr, "tune: warning: [finetune] %s: %s; left out\n", name, status_message());
        c->ft_path[0] = 0;
        *left_out = 1;
        rc = STATUS_OK;
    }
    return rc;
}

/* Stage 4: fine-tunes the candidates that beat the best point within budget for the objective
 * but missed the budget (fine-tuning can bring them back), best for the objective first, up to
 * ft_points distinct training configs. Each is trained from the original weights (its epoch
 * chosen on the whole val split), saved in RUN/finetune/, and evaluated from that file; a
 * resumed run finds the evaluation in the store and trains nothing, or continues the training
 * from its checkpoint. */
int stage_finetune(struct tune *t)
{
    const struct tune_options *o = t->o;
    int64_t n_train;
    int rc = evaluator_train_size(t->ev, &n_train);
    if (rc) return rc;
    /* The training options every point shares (per point: out, checkpoint, resume); the pruning
     * schedules are laid out over the steps these make. */
    struct train_opts base;
    train_opts_default(&base);
    base.epochs = o->ft_epochs;
    base.lr = o->ft_lr;
    base.warmup_epochs = 0.1;
    base.seed = o->seed;
    const int64_t steps = (int64_t)base.epochs * ((n_train + base.batch - 1) / base.batch);
    double best = tune_metric(t, &t->c[t->base]);
    for (int i = 0; i < t->n; i++)
        if (t->c[i].full_id >= 0 && may_qualify(t, &t->c[i], tune_top1(&t->c[i])) && !t->c[i].ft_path[0])
            best = fmin(best, tune_metric(t, &t->c[i]));
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/finetune", o->out_dir);
    rc = file_make_dir(dir, 0);
    if (rc) return rc;
    unsigned char *used = calloc((size_t)t->n, 1);
    if (!used) return status_error(STATUS_NOMEM, "out of memory");
    const int n_before = t->n;
    int done = 0;
    /* The fine-tuning options are part of a fine-tuned point's identity: in its store key (the
     * salt) and in its file names, so a run resumed with other options trains afresh. */
    char salt[128], tag[DB_HASH_LEN + 1];
    snprintf(salt, sizeof salt, "epochs %d lr %.9g train %lld seed %llu", o->ft_epochs, o->ft_lr, (long long)n_train,
             (unsigned long long)o->seed);
    db_hex(db_fnv1a(DB_FNV_OFFSET, salt, strlen(salt)), tag);
    while (done < o->ft_points && !rc && !tune_check_time(t)) {
        const int pick = finetune_pick(t, used, n_before, best);
        if (pick < 0) break;
        used[pick] = 1;
        char name[128];
        snprintf(name, sizeof name, "ft-%s-%.6s", t->c[pick].name, tag);
        struct strbuf b = { 0 };
        if (finetune_yaml(&t->c[pick].plan, name, steps, &b)) {
            free(b.p);
            continue;
        }
        int k = -1;
        const int n_cands = t->n;
        rc = b.oom ? status_error(STATUS_NOMEM, "out of memory") : cand_add_salted(t, name, "finetune", t->c[pick].mixed, b.p, NULL, salt, &k);
        if (rc || t->n == n_cands) {   /* an error, or the same training config as one picked already (k-means and skm) */
            free(b.p);
            continue;
        }
        struct cand *c = &t->c[k];
        snprintf(c->workflow, sizeof c->workflow, "finetune");
        snprintf(c->ft_path, sizeof c->ft_path, "finetune/%s.safetensors", name);
        done++;
        t->planned += 1;
        /* Trained already (the store has its full-val evaluation)? Then nothing to do here. */
        char key[DB_HASH_LEN + 1];
        eval_key(t, c, EVAL_VAL, t->n_val, key);
        struct db_eval e;
        int found = 0;
        if ((rc = db_find(t->db, key, &e, &found))) {
            free(b.p);
            break;
        }
        if (!found) {
            int left_out = 0;
            rc = finetune_train(t, c, &t->c[pick], name, b.p, &base, n_train, &left_out);
            if (left_out) {
                free(b.p);
                continue;
            }
        }
        free(b.p);
        if (!rc) rc = cand_eval(t, k, EVAL_VAL, t->n_val, &e);
    }
    free(used);
    return rc;
}
