/* evaluate_many.c — evaluations spread over the ranks of a run (evaluate.h: evaluator_run_many,
 * evaluator_serve; issue 15). Rank 0 runs the search and hands out each batch of independent
 * candidates as one job: a header, then the plans (raw structs, zlib-compressed: every rank runs
 * the same binary on the same model, which the model hash checked at evaluator_alloc). Every rank
 * then takes the candidates of its group and evaluates them with the group (evaluate.c:
 * evaluator_run_group, data-parallel over the images, checked by a hash of the compressed
 * weights); the results come back to rank 0 in one gather.
 *
 * The cut into groups, from measured costs: with P ranks in groups of `per` (P / per groups), a
 * batch of m candidates on n images takes about ceil(m / (P / per)) rounds of
 * (compress + ceil(n / per) * image) seconds, compress and image being the last measured
 * seconds to compress a candidate and to score one image on one rank. Compression is repeated
 * on every rank of a group, so a batch of many candidates that are costly to compress goes to
 * many small groups (candidate-parallel); a batch of one, or cheap compression against many
 * images, to one group of all ranks (data-parallel). Ties go to the larger groups. The
 * communication (a few hundred bytes per candidate and 16 bytes per image) is left out of the
 * estimate: measured, it is far below either term (README, results/mpi_scaling.md).
 *
 * Not here: load balancing within a batch (a round-robin deal), overlapping one batch's
 * communication with the next batch's work. */
#include "evaluate_internal.h"

#include "config.h"
#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum job_kind { JOB_STOP, JOB_EVAL };

struct job_header {
    int64_t kind, m, split, n, per;
    int64_t raw_bytes, packed_bytes;   /* the plans, before and after zlib */
};

/* Per plan: present (0: the baseline), n_layers, weight_threshold, then info[] and layer[]. */
static size_t plan_bytes(const struct compress_plan *p)
{
    return 3 * sizeof(int64_t) + (p ? (size_t)p->n_layers * (sizeof *p->info + sizeof *p->layer) : 0);
}

static unsigned char *plan_pack(const struct compress_plan *p, unsigned char *w)
{
    const int64_t head[3] = { p != NULL, p ? p->n_layers : 0, p ? p->weight_threshold : 0 };
    memcpy(w, head, sizeof head);
    w += sizeof head;
    if (!p) return w;
    memcpy(w, p->info, sizeof *p->info * (size_t)p->n_layers);
    w += sizeof *p->info * (size_t)p->n_layers;
    memcpy(w, p->layer, sizeof *p->layer * (size_t)p->n_layers);
    return w + sizeof *p->layer * (size_t)p->n_layers;
}

/* Unpacks one plan at *r (advanced) into p; *present 0 for the baseline. */
static int plan_unpack(const unsigned char **r, const unsigned char *end, struct compress_plan *p, int *present)
{
    int64_t head[3];
    memset(p, 0, sizeof *p);
    if ((size_t)(end - *r) < sizeof head) return status_error(STATUS_BAD_INPUT, "evaluation job: truncated plan");
    memcpy(head, *r, sizeof head);
    *r += sizeof head;
    *present = head[0] != 0;
    if (!*present) return STATUS_OK;
    const size_t n = (size_t)head[1];
    if (head[1] < 1 || head[1] > 100000 || (size_t)(end - *r) < n * (sizeof *p->info + sizeof *p->layer))
        return status_error(STATUS_BAD_INPUT, "evaluation job: plan of %lld layers does not fit the message", (long long)head[1]);
    p->n_layers = (int)n;
    p->weight_threshold = head[2];
    p->info = malloc(sizeof *p->info * n);
    p->layer = malloc(sizeof *p->layer * n);
    if (!p->info || !p->layer) {
        compress_plan_free(p);
        return status_error(STATUS_NOMEM, "out of memory");
    }
    memcpy(p->info, *r, sizeof *p->info * n);
    *r += sizeof *p->info * n;
    memcpy(p->layer, *r, sizeof *p->layer * n);
    *r += sizeof *p->layer * n;
    return STATUS_OK;
}

/* The ranks per group for m candidates on n images (see the top of the file). */
static int choose_per(struct evaluator *ev, int m, int64_t n)
{
    const struct evaluator_spread *c = evaluator_spread(ev);
    const int P = dist_size();
    int best = P;
    double best_t = INFINITY;
    for (int per = P; per >= 1; per--) {
        if (P % per) continue;
        const int groups = P / per;
        const double rounds = (double)((m + groups - 1) / groups);
        const double t = rounds * (c->compress_seconds + (double)((n + per - 1) / per) * c->image_seconds);
        if (t < best_t * (1 - 1e-9)) {
            best_t = t;
            best = per;
        }
    }
    return best;
}

/* Every rank: evaluates its group's candidates of the job (j = group, group + groups, ...), then
 * the outcome is agreed over the world and the results are gathered on rank 0 into out[m]. */
static int run_part(struct evaluator *ev, const struct compress_plan *const *plans, int m, enum eval_split split, int64_t n,
                    int per, struct eval_result *out)
{
    struct dist_group *g = dist_group_of(per);
    const int groups = dist_size() / per, mine = dist_rank() / per;
    struct eval_result *res = calloc((size_t)m, sizeof *res);
    struct eval_result *all = dist_rank() == 0 ? malloc(sizeof *all * (size_t)m * (size_t)dist_size()) : NULL;
    int rc = res && (dist_rank() != 0 || all) ? STATUS_OK : status_error(STATUS_NOMEM, "out of memory");
    for (int j = mine; j < m && !rc; j += groups) rc = evaluator_run_group(ev, plans[j], split, n, &res[j], NULL, g);
    /* A failed group stopped together (its failure was agreed inside); the others finished. */
    rc = dist_agree(dist_world(), rc, 0, "");
    if (!rc) {
        dist_gather(res, sizeof *res * (size_t)m, all);
        if (dist_rank() == 0)
            for (int j = 0; j < m; j++) out[j] = all[(size_t)(j % groups) * per * (size_t)m + (size_t)j];
    }
    free(res);
    free(all);
    return rc;
}

int evaluator_run_many(struct evaluator *ev, const struct compress_plan *const *plans, int m, enum eval_split split, int64_t n,
                       struct eval_result *out)
{
    struct evaluator_spread *c = evaluator_spread(ev);
    if (dist_size() == 1) {
        for (int j = 0; j < m; j++) {
            const int rc = evaluator_run_group(ev, plans[j], split, n, &out[j], NULL, dist_world());
            if (rc) return rc;
        }
        return STATUS_OK;
    }
    RN_ASSERT(dist_rank() == 0);
    struct job_header h = { JOB_EVAL, m, split, n, choose_per(ev, m, n), 0, 0 };
    for (int j = 0; j < m; j++) h.raw_bytes += (int64_t)plan_bytes(plans[j]);
    unsigned char *raw = malloc((size_t)h.raw_bytes);
    uLongf packed_n = compressBound((uLong)h.raw_bytes);
    unsigned char *packed = malloc(packed_n);
    /* Nothing is sent yet, so a failure here leaves the workers waiting for the next job; but
     * a few hundred kilobytes that cannot be had mean the run cannot go on anyway. */
    if (!raw || !packed) {
        free(raw);
        free(packed);
        return status_error(STATUS_NOMEM, "out of memory");
    }
    unsigned char *w = raw;
    for (int j = 0; j < m; j++) w = plan_pack(plans[j], w);
    RN_ASSERT(compress2(packed, &packed_n, raw, (uLong)h.raw_bytes, 1) == Z_OK);
    h.packed_bytes = (int64_t)packed_n;
    dist_bcast_idle(&h, sizeof h);
    dist_bcast(packed, packed_n);
    free(raw);
    free(packed);
    const int rc = run_part(ev, plans, m, split, n, (int)h.per, out);
    c->jobs++;
    c->candidates += m;
    if (h.per == dist_size()) c->data_parallel += m;
    else c->candidate_parallel += m;
    c->plan_bytes += (double)h.packed_bytes;
    /* A failure was every rank's: the workers have left evaluator_serve. */
    if (rc) c->serving = 0;
    return rc;
}

int evaluator_serve(struct evaluator *ev)
{
    for (;;) {
        struct job_header h;
        dist_bcast_idle(&h, sizeof h);
        if (h.kind == JOB_STOP) return STATUS_OK;
        unsigned char *packed = malloc((size_t)h.packed_bytes), *raw = malloc((size_t)h.raw_bytes);
        struct compress_plan *plan = calloc((size_t)h.m, sizeof *plan);
        const struct compress_plan **plans = calloc((size_t)h.m, sizeof *plans);
        /* This rank's share of a job it cannot even read would leave its group waiting: a job
         * that cannot be unpacked ends the run here (it means memory ran out, or a different
         * binary). */
        if (!packed || !raw || !plan || !plans) {
            fprintf(stderr, "rn50-tune: error: rank %d: out of memory for an evaluation job\n", dist_rank());
            dist_abort(2);
        }
        dist_bcast(packed, (size_t)h.packed_bytes);
        uLongf raw_n = (uLongf)h.raw_bytes;
        int rc = uncompress(raw, &raw_n, packed, (uLong)h.packed_bytes) == Z_OK && raw_n == (uLongf)h.raw_bytes
                     ? STATUS_OK
                     : status_error(STATUS_BAD_INPUT, "evaluation job: the plans do not decompress");
        const unsigned char *r = raw;
        for (int64_t j = 0; j < h.m && !rc; j++) {
            int present = 0;
            rc = plan_unpack(&r, raw + raw_n, &plan[j], &present);
            plans[j] = present ? &plan[j] : NULL;
        }
        if (rc) {
            fprintf(stderr, "rn50-tune: error: rank %d: %s\n", dist_rank(), status_message());
            dist_abort(2);
        }
        free(packed);
        free(raw);
        struct eval_result unused;   /* results go to rank 0 only */
        rc = run_part(ev, plans, (int)h.m, (enum eval_split)h.split, h.n, (int)h.per, &unused);
        for (int64_t j = 0; j < h.m; j++) compress_plan_free(&plan[j]);
        free(plan);
        free(plans);
        if (rc) return rc;
    }
}

void evaluator_jobs_end(struct evaluator *ev)
{
    evaluator_spread(ev)->serving = 0;
    struct job_header h = { JOB_STOP, 0, 0, 0, 0, 0, 0 };
    dist_bcast_idle(&h, sizeof h);
}

void evaluator_spread_print(struct evaluator *ev, FILE *f, const char *prefix)
{
    const struct evaluator_spread *c = evaluator_spread(ev);
    if (dist_size() == 1 || !c->candidates) return;
    struct dist_stats s;
    dist_stats_get(&s);
    fprintf(f, "%s: %d ranks: %lld candidates in %lld batches, %lld data-parallel (one group of %d ranks), %lld candidate-parallel; "
               "rank 0 communication %.0f bytes (plans %.0f) and %.3f s in %lld collectives: %.0f bytes and %.4f s per candidate\n",
            prefix, dist_size(), (long long)c->candidates, (long long)c->jobs, (long long)c->data_parallel, dist_size(),
            (long long)c->candidate_parallel, s.bytes, c->plan_bytes, s.seconds, (long long)s.calls, s.bytes / (double)c->candidates,
            s.seconds / (double)c->candidates);
}
