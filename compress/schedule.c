/* schedule.c — the pruning schedule during fine-tuning (see schedule.h); the polynomial itself is
 * prune_polynomial_sparsity (prune.c), shared with anything else that needs it. */
#include "schedule.h"

#include "prune.h"

double schedule_sparsity_at(const struct prune_cfg *p, int64_t step, int *is_update)
{
    const struct prune_schedule *s = &p->sched;
    if (is_update) *is_update = 0;
    if (s->n_update_steps == 0) {
        if (is_update) *is_update = step == 0;
        return p->target_sparsity;
    }
    int i = -1;   /* the latest update step <= step */
    while (i + 1 < s->n_update_steps && s->update_steps[i + 1] <= step) i++;
    if (i < 0) return p->initial_sparsity;
    if (is_update) *is_update = s->update_steps[i] == step;
    return prune_polynomial_sparsity(p->initial_sparsity, p->target_sparsity, i, s->n_update_steps, s->power);
}

int64_t schedule_last_update(const struct prune_cfg *p)
{
    return p->sched.n_update_steps ? p->sched.update_steps[p->sched.n_update_steps - 1] : 0;
}
