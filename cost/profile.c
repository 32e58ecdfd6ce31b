/* profile.c — the cpu-local profiler (see profile.h): designed and random configurations,
 * compressed networks on random weights, interleaved timed passes, medians, the measurements CSV.
 *
 * Does not read measurements back (measurements.c) and does not fit (fit.c). */
#include "profile.h"
#include "clock.h"
#include "apply.h"
#include "atomic_file.h"
#include "config.h"
#include "config_write.h"
#include "format.h"
#include "rng.h"
#include "status.h"
#include "strbuf.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The designed set: each kernel kind, palettization bit widths and group sizes, sparsities
 * (mostly from the sparse kernel's threshold, KERN_SPARSE_MIN = 0.8, up: below it pruned layers
 * run dense), the joint forms, W8A8 alone and pruned, W8A16, and per-layer mixtures
 * (PROFILE_MIXED of them, drawn like the held-out ones) so that transitions between kinds are
 * seen too. */
static const char *const profile_designed[] = {
    "dense",  "lut2",        "lut4",          "lut8",          "lut4g8",     "lut4g32", "sp0.8",  "sp0.85",
    "sp0.9",  "sp0.95",      "sp0.98",        "sp0.8+lut4",    "sp0.9+lut2", "sp0.95+lut4g16",
    "w8a8",   "sp0.5+w8a8",  "w8a16",         "sp0.5",
};
#define PROFILE_MIXED 6
/* Groups of configurations timed interleaved, as many as fit in this many MB of networks (all
 * 24 designed ResNet50 ones: about 280 MB each once their compressed forms are freed). One group
 * matters: measured on a machine shared with other jobs, a group timed while another job ran
 * came out twice as slow as one timed in a quiet spell (held-out run, 2026-11-27). */
#define PROFILE_GROUP_MB 8192
#define PROFILE_MAX_REPS 400


/* Time this process's threads have spent runnable but waiting for a CPU, in ms (the second field
 * of Linux's /proc/self/task/TID/schedstat, summed), or NAN where that is not available. A pass
 * during which another job held the cores shows it as run-queue delay. */
static double rq_delay_ms(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return NAN;
    double total = 0.0;
    int any = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%.32s/schedstat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        unsigned long long run = 0, wait = 0;
        if (fscanf(f, "%llu %llu", &run, &wait) == 2) {
            total += (double)wait * 1e-6;
            any = 1;
        }
        fclose(f);
    }
    closedir(d);
    return any ? total : NAN;
}

static void progress(const struct cost_profile_opts *o, const char *fmt, ...)
{
    if (!o->progress) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(o->progress, fmt, ap);
    va_end(ap);
    fflush(o->progress);
}

/* LUT groups that do not divide a layer's channels: coremltools stores the layer unpalettized, and
 * so does compress_config_load, so the plans measured here read back as they were built. */
static void drop_ragged_groups(struct compress_plan *plan)
{
    for (int i = 0; i < plan->n_layers; i++)
        if (plan->layer[i].pal.enabled && !compress_pal_groups_fit(&plan->info[i], &plan->layer[i].pal))
            memset(&plan->layer[i].pal, 0, sizeof plan->layer[i].pal);
}

int cost_plan_uniform(const struct resnet *net, const char *spec, int64_t threshold, struct compress_plan *plan)
{
    struct layer_plan lp;
    int rc = cost_spec_parse(spec, &lp);
    if (rc) return rc;
    if ((rc = compress_plan_init_empty(net, plan))) return rc;
    plan->weight_threshold = threshold;
    for (int i = 0; i < plan->n_layers; i++)
        if (plan->info[i].OC * plan->info[i].K > threshold) plan->layer[i] = lp;
    drop_ragged_groups(plan);
    return STATUS_OK;
}

/* ---- random configurations ---- */

/* One random layer spec: a family combination, then its parameters. Sparsities and bit widths
 * are drawn from continuous / full ranges, so held-out configurations are not the designed ones. */
static void random_spec(struct rng *r, int allow_dense, char *buf, size_t cap)
{
    /* forms: dense, lut, sp, sp+lut, w8a8, sp+w8a8, w8a16 */
    const int f = (int)rng_below(r, 7 - !allow_dense) + !allow_dense;
    const double sp = 0.3 + 0.67 * rng_uniform(r);
    const int bits = 1 + (int)rng_below(r, 8);
    static const int groups[] = { 0, 0, 4, 8, 16, 32, 64 };
    const int g = groups[rng_below(r, 7)];
    char lut[24];
    if (g) snprintf(lut, sizeof lut, "lut%dg%d", bits, g);
    else snprintf(lut, sizeof lut, "lut%d", bits);
    switch (f) {
    case 0: snprintf(buf, cap, "dense"); break;
    case 1: snprintf(buf, cap, "%s", lut); break;
    case 2: snprintf(buf, cap, "sp%.2f", sp); break;
    case 3: snprintf(buf, cap, "sp%.2f+%s", sp, lut); break;
    case 4: snprintf(buf, cap, "w8a8"); break;
    case 5: snprintf(buf, cap, "sp%.2f+w8a8", sp); break;
    default: snprintf(buf, cap, "w8a16"); break;
    }
}

/* A random plan: one spec for the whole network (style 0), one per stage (1) or one per layer (2);
 * style -1 draws the style too. */
static int random_plan(const struct resnet *net, struct rng *r, int style, struct compress_plan *plan)
{
    char spec[64];
    if (style < 0) style = (int)rng_below(r, 3);
    random_spec(r, style != 0, spec, sizeof spec);
    int rc = cost_plan_uniform(net, spec, COMPRESS_DEFAULT_WEIGHT_THRESHOLD, plan);
    if (rc || style == 0) return rc;
    char stage_spec[5][64];
    for (int s = 0; s < 5; s++) random_spec(r, 1, stage_spec[s], sizeof stage_spec[s]);
    for (int i = 0; i < plan->n_layers && !rc; i++) {
        if (plan->info[i].OC * plan->info[i].K <= plan->weight_threshold) continue;
        if (style == 1) {
            /* per stage: layerS.* share a spec; the stem and fc take stage 0's */
            const char *name = plan->info[i].name;
            const int s = !strncmp(name, "layer", 5) ? name[5] - '0' : 0;
            rc = cost_spec_parse(stage_spec[s >= 0 && s < 5 ? s : 0], &plan->layer[i]);
        } else {
            random_spec(r, 1, spec, sizeof spec);
            rc = cost_spec_parse(spec, &plan->layer[i]);
        }
    }
    if (rc) compress_plan_free(plan);
    else drop_ragged_groups(plan);
    return rc;
}

/* ---- compression configs from plans ---- */

int cost_plan_write_config(const struct compress_plan *plan, const char *path)
{
    struct strbuf b = { 0 };
    config_write_plan(&b, plan, "Written by rn50-tune profile: each compressed layer by its exact name.");
    int rc = b.oom ? status_error(STATUS_NOMEM, "out of memory writing %s", path) : file_write_atomic(path, file_write_strbuf, &b);
    free(b.p);
    return rc;
}

/* ---- one configuration under measurement ---- */

struct pconf {
    char name[64];
    struct compress_plan plan;
    struct resnet *net;
    struct apply_result res;
    struct resnet_infer *ws;
    double *e2e;        /* [reps] ms */
    double *layer;      /* [reps][n_layers] ms */
    double *delay;      /* [reps] ms of run-queue delay during the pass (NAN: unknown) */
    int reps;
    double est_ms;      /* one pass, from the warm-up */
    char (*kind)[16];   /* [n_layers] the kernel each layer ran on */
};

static void pconf_release_net(struct pconf *p)
{
    resnet_infer_free(p->ws);
    p->ws = NULL;
    if (p->net) format_free_activations(p->net);
    apply_result_free(&p->res);
    resnet_free(p->net);
    p->net = NULL;
}

static void pconf_free(struct pconf *p)
{
    pconf_release_net(p);
    compress_plan_free(&p->plan);
    free(p->e2e);
    free(p->layer);
    free(p->delay);
    free(p->kind);
    memset(p, 0, sizeof *p);
}

static int pconf_build(struct pconf *p, const struct resnet_config *cfg, uint64_t seed, const struct dataset *calib)
{
    p->kind = calloc((size_t)p->plan.n_layers, sizeof *p->kind);
    if (!p->kind) return status_error(STATUS_NOMEM, "profile: out of memory");
    int rc = resnet_alloc(cfg, seed, &p->net);
    if (rc) return rc;
    /* The plan was made on another instance of the same architecture; its names are the same. */
    if ((rc = compress_apply(p->net, &p->plan, plan_needs_calibration(&p->plan) ? calib : NULL, &p->res))) return rc;
    /* The kernels keep their own copies of the compressed weights: the compressed forms can go, so
     * that more networks fit in memory at once. */
    apply_result_free(&p->res);
    for (int l = 0; l < p->plan.n_layers; l++)
        snprintf(p->kind[l], sizeof p->kind[l], "%s", resnet_conv_kernel_name(p->net, l));
    return resnet_infer_alloc(p->net, 1, &p->ws);
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile_sorted(const double *v, int n, double q)
{
    const double pos = q * (n - 1);
    const int i = (int)floor(pos);
    const double f = pos - i;
    return i + 1 < n ? v[i] * (1.0 - f) + v[i + 1] * f : v[n - 1];
}

static double median_of(double *v, int n, double *q1, double *q3)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    if (q1) *q1 = quantile_sorted(v, n, 0.25);
    if (q3) *q3 = quantile_sorted(v, n, 0.75);
    return quantile_sorted(v, n, 0.5);
}

/* "median,q1,q3,p10,min,quiet" of v[0..n) (sorted in place) into buf; quiet: the median over the
 * passes listed in quiet[0..nq). */
static void stats_csv(double *v, int n, const int *quiet, int nq, char *buf, size_t cap)
{
    double *u = malloc(sizeof(double) * (size_t)nq);
    double qm = NAN;
    if (u) {
        for (int i = 0; i < nq; i++) u[i] = v[quiet[i]];
        qm = median_of(u, nq, NULL, NULL);
        free(u);
    }
    double q1, q3;
    const double med = median_of(v, n, &q1, &q3);
    snprintf(buf, cap, "%.6f,%.6f,%.6f,%.6f,%.6f,%.6f", med, q1, q3, quantile_sorted(v, n, 0.1), v[0], qm);
}

/* The quietest passes: the quarter (at least PROFILE_QUIET_MIN) with the least run-queue delay
 * per ms; all passes when the delay is unknown. Returns their count. */
#define PROFILE_QUIET_MIN 5
static const struct pconf *quiet_sort_p;
static int cmp_quiet(const void *a, const void *b)
{
    const int i = *(const int *)a, j = *(const int *)b;
    const double x = quiet_sort_p->delay[i] / quiet_sort_p->e2e[i], y = quiet_sort_p->delay[j] / quiet_sort_p->e2e[j];
    return (x > y) - (x < y);
}

static int quiet_passes(const struct pconf *p, int *idx)
{
    for (int r = 0; r < p->reps; r++) idx[r] = r;
    for (int r = 0; r < p->reps; r++)
        if (isnan(p->delay[r])) return p->reps;
    int nq = p->reps / 4;
    if (nq < PROFILE_QUIET_MIN) nq = PROFILE_QUIET_MIN;
    if (nq > p->reps) nq = p->reps;
    quiet_sort_p = p;
    qsort(idx, (size_t)p->reps, sizeof *idx, cmp_quiet);
    return nq;
}

/* Times a group of built configurations: warm-up, then rounds of one pass each. */
static int time_group(const struct cost_profile_opts *o, struct pconf *g, int n, double budget_s, const float *x,
                      int n_classes)
{
    float *logits = malloc(sizeof(float) * (size_t)n_classes);
    const int n_layers = g[0].plan.n_layers;
    double *secs = calloc((size_t)n_layers, sizeof *secs);
    int rc = STATUS_OK;
    if (!logits || !secs) { rc = status_error(STATUS_NOMEM, "profile: out of memory"); goto done; }
    double round_ms = 0.0;
    for (int i = 0; i < n; i++) {
        for (int w = 0; w < o->warmup; w++) {
            const double t0 = clock_now_s();
            resnet_infer(g[i].ws, x, 1, logits);
            g[i].est_ms = 1e3 * (clock_now_s() - t0);
        }
        round_ms += g[i].est_ms;
    }
    int reps = round_ms > 0.0 ? (int)(1e3 * budget_s / round_ms) : o->min_reps;
    if (reps < o->min_reps) reps = o->min_reps;
    if (reps > PROFILE_MAX_REPS) reps = PROFILE_MAX_REPS;
    for (int i = 0; i < n; i++) {
        g[i].reps = reps;
        g[i].e2e = malloc(sizeof(double) * (size_t)reps);
        g[i].layer = malloc(sizeof(double) * (size_t)reps * (size_t)n_layers);
        g[i].delay = malloc(sizeof(double) * (size_t)reps);
        if (!g[i].e2e || !g[i].layer || !g[i].delay) { rc = status_error(STATUS_NOMEM, "profile: out of memory"); goto done; }
        resnet_infer_set_profile(g[i].ws, o->per_layer ? secs : NULL);
    }
    progress(o, "  timing %d configurations x %d passes (about %.0f s)\n", n, reps, 1e-3 * round_ms * reps);
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < n; i++) {
            memset(secs, 0, sizeof(double) * (size_t)n_layers);
            const double d0 = rq_delay_ms(), t0 = clock_now_s();
            resnet_infer(g[i].ws, x, 1, logits);
            g[i].e2e[r] = 1e3 * (clock_now_s() - t0);
            g[i].delay[r] = rq_delay_ms() - d0;
            for (int l = 0; l < n_layers; l++) g[i].layer[(size_t)r * n_layers + l] = 1e3 * secs[l];
        }
    }
    for (int i = 0; i < n; i++) resnet_infer_set_profile(g[i].ws, NULL);
done:
    free(logits);
    free(secs);
    return rc;
}

/* Appends a configuration's rows (network row, then one per layer) to the CSV text. */
static void emit_rows(struct strbuf *b, const struct pconf *p, const char *model, int per_layer)
{
    char line[512], spec[64], uniform[64];
    const int n_layers = p->plan.n_layers;
    /* The network row's spec: the common spec of the compressed layers, or "mixed". */
    uniform[0] = '\0';
    for (int l = 0; l < n_layers; l++) {
        cost_spec_format(&p->plan.layer[l], spec, sizeof spec);
        if (!strcmp(spec, "dense")) continue;
        if (!uniform[0]) snprintf(uniform, sizeof uniform, "%s", spec);
        else if (strcmp(uniform, spec)) { snprintf(uniform, sizeof uniform, "mixed"); break; }
    }
    if (!uniform[0]) snprintf(uniform, sizeof uniform, "dense");
    double *v = malloc(sizeof(double) * (size_t)p->reps);
    int *quiet = malloc(sizeof(int) * (size_t)p->reps);
    if (!v || !quiet) {
        free(v);
        free(quiet);
        b->oom = 1;
        return;
    }
    const int nq = quiet_passes(p, quiet);
    char st[200];
    memcpy(v, p->delay, sizeof(double) * (size_t)p->reps);
    const double delay = median_of(v, p->reps, NULL, NULL);
    memcpy(v, p->e2e, sizeof(double) * (size_t)p->reps);
    stats_csv(v, p->reps, quiet, nq, st, sizeof st);
    snprintf(line, sizeof line, "%s,%s,network,,%s,,%d,%s,%.6f\n", p->name, model, uniform, p->reps, st, delay);
    strbuf_str(b, line);
    for (int l = 0; l < n_layers; l++) {
        cost_spec_format(&p->plan.layer[l], spec, sizeof spec);
        if (per_layer) {
            for (int r = 0; r < p->reps; r++) v[r] = p->layer[(size_t)r * n_layers + l];
            stats_csv(v, p->reps, quiet, nq, st, sizeof st);
            snprintf(line, sizeof line, "%s,%s,layer,%s,%s,%s,%d,%s,\n", p->name, model, p->plan.info[l].name, spec,
                     p->kind[l], p->reps, st);
        } else {
            snprintf(line, sizeof line, "%s,%s,layer,%s,%s,%s,0,,,,,,,\n", p->name, model, p->plan.info[l].name, spec,
                     p->kind[l]);
        }
        strbuf_str(b, line);
    }
    free(v);
    free(quiet);
}

/* The configurations of one model: names and plans. */
static int make_configs(const struct cost_profile_opts *o, const struct resnet *net, struct pconf **out, int *n_out)
{
    const int n_designed = (int)(sizeof profile_designed / sizeof *profile_designed);
    const int n = o->n_random ? o->n_random : n_designed + PROFILE_MIXED;
    struct pconf *c = calloc((size_t)n, sizeof *c);
    if (!c) return status_error(STATUS_NOMEM, "profile: out of memory");
    struct rng r;
    /* Held-out draws use another stream than the designed mixtures, whatever the seed. */
    rng_seed(&r, o->seed * 2 + (o->n_random ? 1 : 0));
    int rc = STATUS_OK;
    for (int i = 0; i < n && !rc; i++) {
        if (o->n_random) {
            snprintf(c[i].name, sizeof c[i].name, "r%02d", i + 1);
            rc = random_plan(net, &r, -1, &c[i].plan);
        } else if (i < n_designed) {
            snprintf(c[i].name, sizeof c[i].name, "d-%s", profile_designed[i]);
            rc = cost_plan_uniform(net, profile_designed[i], COMPRESS_DEFAULT_WEIGHT_THRESHOLD, &c[i].plan);
        } else {
            snprintf(c[i].name, sizeof c[i].name, "d-mix%d", i - n_designed + 1);
            rc = random_plan(net, &r, 2, &c[i].plan);
        }
    }
    if (rc) {
        for (int i = 0; i < n; i++) pconf_free(&c[i]);
        free(c);
        return rc;
    }
    *out = c;
    *n_out = n;
    return STATUS_OK;
}

/* Writes and reads back the configuration's compression config; they must agree. */
static int check_config_file(const struct cost_profile_opts *o, const struct resnet *net, const struct pconf *p)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s-%s.yaml", o->configs_dir, net->cfg.name, p->name);
    int rc = cost_plan_write_config(&p->plan, path);
    if (rc) return rc;
    struct compress_plan back;
    if ((rc = compress_config_load(path, net, &back))) return rc;
    for (int l = 0; l < back.n_layers && !rc; l++) {
        char a[64], b[64];
        cost_spec_format(&p->plan.layer[l], a, sizeof a);
        cost_spec_format(&back.layer[l], b, sizeof b);
        if (strcmp(a, b))
            rc = status_error(STATUS_BAD_INPUT, "%s: layer %s reads back as %s, written as %s", path, back.info[l].name, b, a);
    }
    compress_plan_free(&back);
    return rc;
}

static int profile_model(const struct cost_profile_opts *o, const char *model, struct strbuf *csv)
{
    struct resnet_config cfg;
    struct resnet *shape = NULL;
    struct pconf *c = NULL;
    int n = 0;
    float *x = NULL;
    struct dataset calib;
    memset(&calib, 0, sizeof calib);
    int rc = resnet_config_load(model, &cfg);
    if (rc) return rc;
    if ((rc = resnet_alloc(&cfg, o->seed, &shape))) return rc;
    if ((rc = make_configs(o, shape, &c, &n))) goto done;
    const int64_t per = (int64_t)cfg.in_channels * cfg.in_h * cfg.in_w;
    /* Random input and two random calibration images (8-bit activation ranges; their values do
     * not change the time). */
    x = malloc(sizeof(float) * (size_t)per);
    calib.images = malloc(sizeof(float) * (size_t)per * 2);
    calib.labels = calloc(2, sizeof *calib.labels);
    if (!x || !calib.images || !calib.labels) { rc = status_error(STATUS_NOMEM, "profile: out of memory"); goto done; }
    calib.n = 2;
    calib.C = cfg.in_channels;
    calib.H = cfg.in_h;
    calib.W = cfg.in_w;
    calib.n_classes = cfg.n_classes;
    snprintf(calib.name, sizeof calib.name, "random");
    struct rng r;
    rng_seed(&r, o->seed + 17);
    for (int64_t i = 0; i < per; i++) x[i] = (float)rng_normal(&r);
    for (int64_t i = 0; i < 2 * per; i++) calib.images[i] = (float)rng_normal(&r);
    /* Group size: networks of about 3x their fp32 weights each (params, folded, kernels). */
    const double net_mb = 3.0 * 4.0 * (double)shape->n_floats / 1e6;
    int group = (int)(PROFILE_GROUP_MB / (net_mb > 1.0 ? net_mb : 1.0));
    if (group < 1) group = 1;
    const int n_groups = (n + group - 1) / group;
    const double t_model = clock_now_s();
    progress(o, "profile %s: %d configurations in %d group%s, %s\n", cfg.name, n, n_groups, n_groups > 1 ? "s" : "",
             o->per_layer ? "per layer and end to end" : "end to end");
    /* Group g holds configurations g, g + n_groups, ...: every group mixes kinds, so a change of
     * load between groups does not fall on one kind. */
    struct pconf *gbuf = malloc(sizeof *gbuf * (size_t)group);
    if (!gbuf) { rc = status_error(STATUS_NOMEM, "profile: out of memory"); goto done; }
    for (int g = 0; g < n_groups && !rc; g++) {
        int gn = 0;
        for (int i = g; i < n && !rc; i += n_groups) {
            progress(o, "  building %s (%d/%d)\n", c[i].name, i + 1, n);
            if (o->configs_dir && (rc = check_config_file(o, shape, &c[i]))) break;
            if ((rc = pconf_build(&c[i], &cfg, o->seed, &calib))) break;
            gbuf[gn++] = c[i];
        }
        if (!rc) rc = time_group(o, gbuf, gn, o->seconds * gn / n, x, cfg.n_classes);
        for (int i = g, j = 0; i < n && j < gn; i += n_groups, j++) {
            c[i] = gbuf[j];   /* the timings came back in the copies */
            pconf_release_net(&c[i]);
        }
    }
    free(gbuf);
    if (rc) goto done;
    for (int i = 0; i < n; i++) emit_rows(csv, &c[i], cfg.name, o->per_layer);
    progress(o, "profile %s: done in %.0f s\n", cfg.name, clock_now_s() - t_model);
done:
    for (int i = 0; i < n; i++) pconf_free(&c[i]);
    free(c);
    free(x);
    dataset_free(&calib);
    resnet_free(shape);
    return rc;
}

int cost_profile_run(const struct cost_profile_opts *o, const char *out_csv)
{
    struct cost_machine m;
    cost_machine_detect(&m, o->threads);
    struct strbuf b = { 0 };
    char line[1024];
    strbuf_str(&b, "# rn50-tune profile measurements (cost/profile.h)\n");
    snprintf(line, sizeof line, "# cpu: %s\n# features: %s\n# cores: %d\n# threads: %d\n# date: %s\n", m.cpu, m.features,
             m.cores, m.threads, m.date);
    strbuf_str(&b, line);
    snprintf(line, sizeof line, "# command: %s\n# warmup: %d, timing budget per model: %g s, at least %d passes\n",
             o->command ? o->command : "", o->warmup, o->seconds, o->min_reps);
    strbuf_str(&b, line);
    strbuf_str(&b, COST_PROFILE_HEADER "\n");
    int rc = STATUS_OK;
    for (int i = 0; i < o->n_models && !rc; i++) rc = profile_model(o, o->models[i], &b);
    if (!rc && b.oom) rc = status_error(STATUS_NOMEM, "profile: out of memory for the measurements");
    if (!rc) rc = file_write_atomic(out_csv, file_write_strbuf, &b);
    free(b.p);
    return rc;
}
