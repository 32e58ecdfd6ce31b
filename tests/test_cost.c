/* test_cost.c — the cost model: the fit recovers known coefficients from synthetic measurements
 * (per-layer and end-to-end rows over two architectures), degenerate designs are clear errors
 * (too few rows, a term without data), collinear terms are merged (a profile of one model fits,
 * reports net.out_m merged into net.one and predicts its measurements), device profiles
 * round-trip through YAML and bad ones give file:line:key errors, measurement files (profile CSV,
 * the Apple table) read back into the right plans, layer specs parse and print back, prediction on
 * a plan is the dot product of its features, and plans written as compression configs load back
 * unchanged. */
#include "apply.h"
#include "check.h"
#include "config.h"
#include "data.h"
#include "format.h"
#include "device.h"
#include "kern_attach.h"
#include "profile.h"
#include "rng.h"
#include "status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RN_SOURCE_DIR
#define RN_SOURCE_DIR "."
#endif

static char tmpdir[256];
static int file_no;

static const char *write_file(const char *ext, const char *text)
{
    static char paths[4][320];
    char *p = paths[file_no % 4];
    snprintf(p, sizeof paths[0], "%s/f%03d.%s", tmpdir, file_no++, ext);
    FILE *f = fopen(p, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", p);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    return p;
}

static int has(const char *hay, const char *needle)
{
    if (strstr(hay, needle)) return 1;
    fprintf(stderr, "  message '%s' lacks '%s'\n", hay, needle);
    return 0;
}

/* A random plan: each layer above the threshold gets a random spec from every family. */
static void random_plan(const struct resnet *net, struct rng *r, struct compress_plan *plan)
{
    static const char *const specs[] = { "dense", "lut2", "lut4g8", "lut6", "sp0.5", "sp0.85", "sp0.9+lut4",
                                         "sp0.95+lut3g16", "w8a8", "sp0.7+w8a8", "w8a16", "sp0.6+lut8g4" };
    CHECK(compress_plan_init_empty(net, plan) == 0);
    const int uniform = rng_below(r, 3) == 0;
    const char *u = specs[rng_below(r, 12)];
    for (int i = 0; i < plan->n_layers; i++) {
        if (plan->info[i].OC * plan->info[i].K <= 2048) continue;
        CHECK(cost_spec_parse(uniform ? u : specs[rng_below(r, 12)], &plan->layer[i]) == 0);
    }
}

static void make_samples(struct resnet *const *nets, int n_nets, int n, const double *coef, double noise,
                         uint64_t seed, struct cost_sample *s)
{
    struct rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        memset(&s[i], 0, sizeof s[i]);
        const struct resnet *net = nets[i % n_nets];
        snprintf(s[i].config, sizeof s[i].config, "c%d", i);
        snprintf(s[i].model, sizeof s[i].model, "%s", net->cfg.name);
        s[i].net = net;
        random_plan(net, &r, &s[i].plan);
        s[i].layer_ms = malloc(sizeof(double) * (size_t)s[i].plan.n_layers);
        for (int l = 0; l < s[i].plan.n_layers; l++) {
            double x[COST_TERMS] = { 0 };
            cost_layer_features(net, &s[i].plan, l, 1.0, x, NULL);
            double t = 0.0;
            for (int k = 0; k < COST_TERMS; k++) t += coef[k] * x[k];
            s[i].layer_ms[l] = t * (1.0 + noise * (2.0 * rng_uniform(&r) - 1.0));
        }
        s[i].e2e_ms = cost_fit_predict(coef, net, &s[i].plan) * (1.0 + noise * (2.0 * rng_uniform(&r) - 1.0));
    }
}

static int parse_term_list(const char *list, int *terms)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", list);
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        terms[n] = cost_term_parse(t);
        CHECK(terms[n] >= 0);
        n++;
    }
    return n;
}

static void test_fit_recovers(struct resnet *const *nets)
{
    int terms[COST_TERMS];
    const int n_terms = parse_term_list(cost_default_terms_profile, terms);
    double coef[COST_TERMS] = { 0 };
    struct rng r;
    rng_seed(&r, 42);
    printf("fit: %d terms, seed 42\n", n_terms);
    for (int j = 0; j < n_terms; j++) coef[terms[j]] = 0.01 + rng_uniform(&r);   /* positive, varied */
    enum { N = 48 };
    static struct cost_sample s[N];
    make_samples(nets, 2, N, coef, 0.0, 7, s);
    struct cost_fit_result fr;
    int rc = cost_fit(s, N, terms, n_terms, &fr);
    CHECK(rc == 0);
    if (!rc) {
        for (int j = 0; j < n_terms; j++) CHECK_REL(fr.coef[terms[j]], coef[terms[j]], 1e-6);
        CHECK(fr.rank == n_terms);
        CHECK(fr.n_configs == N);
        CHECK(fr.fit_mape < 1e-6);
        CHECK(fr.loo_mape < 1e-6);
        CHECK(fr.n_layer_rows > N * 20);
        cost_fit_result_free(&fr);
    }
    for (int i = 0; i < N; i++) cost_sample_free(&s[i]);

    /* With 1 % multiplicative noise the end-to-end error stays at the noise level. */
    make_samples(nets, 2, N, coef, 0.01, 8, s);
    rc = cost_fit(s, N, terms, n_terms, &fr);
    CHECK(rc == 0);
    if (!rc) {
        CHECK(fr.fit_mape < 1.0);
        CHECK(fr.loo_mape < 2.0);
        printf("fit with 1%% noise: fit MAPE %.3f %%, loo MAPE %.3f %% (max %.3f)\n", fr.fit_mape, fr.loo_mape, fr.loo_max);
        cost_fit_result_free(&fr);
    }
    for (int i = 0; i < N; i++) cost_sample_free(&s[i]);
}

static void test_fit_degenerate(struct resnet *const *nets)
{
    double coef[COST_TERMS] = { 0 };
    int terms[COST_TERMS];
    int n_terms = parse_term_list(cost_default_terms_profile, terms);
    for (int j = 0; j < n_terms; j++) coef[terms[j]] = 0.5;
    static struct cost_sample s[6];
    struct cost_fit_result fr;

    /* too few rows: end-to-end rows only, fewer than the terms */
    make_samples(nets, 2, 6, coef, 0.0, 3, s);
    for (int i = 0; i < 6; i++) {
        free(s[i].layer_ms);
        s[i].layer_ms = NULL;
    }
    CHECK(cost_fit(s, 6, terms, n_terms, &fr) == STATUS_BAD_INPUT);
    CHECK(has(status_message(), "too few measurements: 6 rows for 28 terms"));
    CHECK(fr.fitted == NULL);

    /* a term with no data: every layer dense, yet an int8 term */
    for (int i = 0; i < 6; i++)
        for (int l = 0; l < s[i].plan.n_layers; l++) memset(&s[i].plan.layer[l], 0, sizeof s[i].plan.layer[l]);
    for (int i = 0; i < 6; i++) {
        s[i].layer_ms = malloc(sizeof(double) * (size_t)s[i].plan.n_layers);
        for (int l = 0; l < s[i].plan.n_layers; l++) s[i].layer_ms[l] = 0.1 + 0.01 * l;
    }
    const int t2[] = { cost_term(KERN_DENSE, CF_ONE), cost_term(KERN_DENSE, CF_GMACS), cost_term(KERN_INT8, CF_ONE) };
    CHECK(cost_fit(s, 6, t2, 3, &fr) == STATUS_BAD_INPUT);
    CHECK(has(status_message(), "term int8.one is zero in every row"));

    /* collinear: one architecture, so net.one and net.out_m move together; the later term is
     * merged into the earlier one, in the order given */
    for (int i = 0; i < 6; i++) s[i].net = nets[0];
    for (int i = 0; i < 6; i++) {
        cost_sample_free(&s[i]);
        CHECK(compress_plan_init_empty(nets[0], &s[i].plan) == 0);
        s[i].e2e_ms = 1.0 + i;
    }
    const int t3[] = { cost_term(COST_GROUP_NET, CF_ONE), cost_term(COST_GROUP_NET, CF_OUT_M) };
    const int t3r[] = { t3[1], t3[0] };
    for (int order = 0; order < 2; order++) {
        const int *t = order ? t3r : t3;
        CHECK(cost_fit(s, 6, t, 2, &fr) == 0);
        CHECK(fr.rank == 1 && fr.n_merged == 1);
        if (fr.n_merged == 1) {
            CHECK(fr.merged[0].term == t[1] && fr.merged[0].into == t[0]);
            CHECK(fr.used[t[1]] && fr.coef[t[1]] == 0.0);
        }
        /* identical plans: the fit is the mean weighted as the rows are (relative errors) */
        double w1 = 0.0, w2 = 0.0;
        for (int i = 0; i < 6; i++) {
            w1 += 1.0 / s[i].e2e_ms;
            w2 += 1.0 / (s[i].e2e_ms * s[i].e2e_ms);
        }
        CHECK_REL(fr.fitted[0], w1 / w2, 1e-9);
        cost_fit_result_free(&fr);
    }

    /* a term given twice, and a non-positive latency */
    const int t4[] = { cost_term(COST_GROUP_NET, CF_ONE), cost_term(COST_GROUP_NET, CF_ONE) };
    CHECK(cost_fit(s, 6, t4, 2, &fr) == STATUS_BAD_INPUT);
    CHECK(has(status_message(), "given twice"));
    s[2].e2e_ms = -1.0;
    CHECK(cost_fit(s, 6, t3, 1, &fr) == STATUS_BAD_INPUT);
    CHECK(has(status_message(), "configuration c2"));
    for (int i = 0; i < 6; i++) cost_sample_free(&s[i]);
}

/* A profile of one model: in every configuration net.out_m is the same multiple of net.one (the
 * network's output values do not depend on the plan), so the default terms cannot all be fitted.
 * The fit merges net.out_m into net.one, recovers every other coefficient, and predicts the
 * fitted configurations and new ones of the same model exactly; through cost_calibrate the
 * merge is reported and written, and the device file reads back and predicts the measurements. */
static void test_fit_one_model(struct resnet *fm)
{
    int terms[COST_TERMS];
    const int n_terms = parse_term_list(cost_default_terms_profile, terms);
    const int one = cost_term(COST_GROUP_NET, CF_ONE), out_m = cost_term(COST_GROUP_NET, CF_OUT_M);
    double coef[COST_TERMS] = { 0 };
    struct rng r;
    rng_seed(&r, 43);
    printf("fit on one model (rn50-fmnist): %d terms, seed 43\n", n_terms);
    for (int j = 0; j < n_terms; j++) coef[terms[j]] = 0.01 + rng_uniform(&r);
    enum { N = 24 };
    static struct cost_sample s[N];
    struct resnet *const nets[1] = { fm };
    make_samples(nets, 1, N, coef, 0.0, 11, s);
    double x[COST_TERMS];
    cost_net_features(fm, &s[0].plan, x);
    const double ratio = x[out_m];   /* net.out_m / net.one, the same for every plan of fm */
    struct cost_fit_result fr;
    int rc = cost_fit(s, N, terms, n_terms, &fr);
    CHECK(rc == 0);
    if (!rc) {
        CHECK(fr.rank == n_terms - 1);
        CHECK(fr.n_merged == 1);
        if (fr.n_merged == 1) {
            CHECK(fr.merged[0].term == out_m && fr.merged[0].into == one);
            CHECK(has(fr.merged[0].relation, "net.out_m = "));
            char want[64];
            snprintf(want, sizeof want, "%.4g net.one", ratio);
            CHECK(has(fr.merged[0].relation, want));
        }
        CHECK(fr.used[out_m] && fr.coef[out_m] == 0.0);
        /* net.one carries net.out_m's cost; every other term is recovered as it was. */
        CHECK_REL(fr.coef[one], coef[one] + ratio * coef[out_m], 1e-6);
        for (int j = 0; j < n_terms; j++)
            if (terms[j] != one && terms[j] != out_m) CHECK_REL(fr.coef[terms[j]], coef[terms[j]], 1e-6);
        CHECK(fr.fit_mape < 1e-6 && fr.loo_mape < 1e-6);
        /* a configuration the fit did not see, of the same model */
        struct compress_plan plan;
        random_plan(fm, &r, &plan);
        CHECK_REL(cost_fit_predict(fr.coef, fm, &plan), cost_fit_predict(coef, fm, &plan), 1e-9);
        compress_plan_free(&plan);
        cost_fit_result_free(&fr);
    }
    for (int i = 0; i < N; i++) cost_sample_free(&s[i]);

    /* The same through a profile CSV with 1 % noise: cost_calibrate reports the merge, writes it,
     * and the file reads back and predicts what it was fitted on. */
    make_samples(nets, 1, N, coef, 0.01, 12, s);
    const size_t cap = (size_t)1 << 21;
    char *text = malloc(cap);
    CHECK(text != NULL);
    if (!text) return;
    size_t n = (size_t)snprintf(text, cap, "# cpu: Test CPU\n# features: avx2\n# cores: 2\n# threads: 2\n# date: x\n"
                                           COST_PROFILE_HEADER "\n");
    for (int i = 0; i < N && n < cap; i++) {
        const double e = s[i].e2e_ms;
        n += (size_t)snprintf(text + n, cap - n, "%s,rn50-fmnist,network,,mixed,,5,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,0\n",
                              s[i].config, e, e, e, e, e, e);
        for (int l = 0; l < s[i].plan.n_layers && n < cap; l++) {
            char spec[128];
            const double t = s[i].layer_ms[l];
            cost_spec_format(&s[i].plan.layer[l], spec, sizeof spec);
            n += (size_t)snprintf(text + n, cap - n, "%s,rn50-fmnist,layer,%s,%s,%s,5,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,\n",
                                  s[i].config, s[i].plan.info[l].name, spec,
                                  kern_kind_name(kern_plan_layer_kind(&s[i].plan, l)), t, t, t, t, t, t);
        }
    }
    CHECK(n < cap);
    const char *csv = write_file("csv", text);
    char yaml[320], report_path[320];
    snprintf(yaml, sizeof yaml, "%s/one-model.yaml", tmpdir);
    snprintf(report_path, sizeof report_path, "%s/one-model.txt", tmpdir);
    FILE *report = fopen(report_path, "w+");
    CHECK(report != NULL);
    struct cost_model *m = NULL;
    CHECK(report && cost_calibrate("one-model", csv, NULL, NULL, NULL, NULL, yaml, report, &m) == 0);
    if (report) {
        rewind(report);
        const size_t got = fread(text, 1, cap - 1, report);
        text[got] = '\0';
        fclose(report);
        CHECK(has(text, "term net.out_m merged into net.one: in every measured row net.out_m = "));
        CHECK(has(text, "28 terms (1 merged)"));
        CHECK(has(text, "leave-one-out MAPE"));
    }
    if (m) {
        CHECK(m->fit.fit_mape < 1.0 && m->fit.loo_mape < 2.0);
        printf("one model, 1%% noise: fit MAPE %.3f %%, loo MAPE %.3f %% (max %.3f)\n", m->fit.fit_mape, m->fit.loo_mape,
               m->fit.loo_max);
    }
    cost_model_free(m);
    struct cost_model *b = NULL;
    CHECK(cost_model_read(yaml, &b) == 0);
    if (b) {
        CHECK(b->merged[out_m] && b->merged_into[out_m] == one);
        CHECK(b->used[out_m] && b->coef[out_m] == 0.0 && b->coef[one] > 0.0);
        CHECK(b->fit.rank == n_terms - 1 && b->n_data == N);
        double worst = 0.0;
        for (int i = 0; i < N; i++) {
            double ms = 0.0;
            CHECK(cost_predict(b, fm, &s[i].plan, &ms) == 0);
            worst = fmax(worst, fabs(ms - s[i].e2e_ms) / s[i].e2e_ms);
        }
        CHECK(worst < 0.03);   /* 1 % noise on every row */
        printf("one model: worst fitted error from the device file %.3f %%\n", 100.0 * worst);
    }
    cost_model_free(b);
    free(text);
    for (int i = 0; i < N; i++) cost_sample_free(&s[i]);
}

static void test_yaml_round_trip(void)
{
    struct cost_model *m = calloc(1, sizeof *m);
    snprintf(m->device, sizeof m->device, "test \"dev\"");
    m->source = COST_SOURCE_PROFILE;
    m->has_machine = 1;
    cost_machine_detect(&m->machine, 2);
    snprintf(m->measurements, sizeof m->measurements, "results/cost/x.csv");
    m->coef[cost_term(KERN_LUT, CF_LUTS)] = 0.1234567890123456789;
    m->used[cost_term(KERN_LUT, CF_LUTS)] = 1;
    m->coef[cost_term(COST_GROUP_NET, CF_ONE)] = -3.5e-7;
    m->used[cost_term(COST_GROUP_NET, CF_ONE)] = 1;
    m->used[cost_term(COST_GROUP_NET, CF_OUT_M)] = 1;   /* merged into net.one: coefficient 0 */
    m->merged[cost_term(COST_GROUP_NET, CF_OUT_M)] = 1;
    m->merged_into[cost_term(COST_GROUP_NET, CF_OUT_M)] = cost_term(COST_GROUP_NET, CF_ONE);
    m->fit.rows = 10;
    m->fit.configs = 3;
    m->fit.loo_mape = 4.25;
    m->n_data = 1;
    m->data = calloc(1, sizeof *m->data);
    snprintf(m->data[0].config, sizeof m->data[0].config, "d-lut4");
    snprintf(m->data[0].model, sizeof m->data[0].model, "resnet50");
    m->data[0].measured_ms = 80.5;
    m->data[0].fitted_ms = 79.25;
    m->data[0].loo_ms = 78.125;
    char path[320];
    snprintf(path, sizeof path, "%s/dev.yaml", tmpdir);
    CHECK(cost_model_write(m, path) == 0);
    struct cost_model *b = NULL;
    CHECK(cost_model_load(path, &b) == 0);
    if (b) {
        CHECK(!strcmp(b->device, m->device));
        CHECK(b->source == COST_SOURCE_PROFILE && b->has_machine);
        CHECK(!strcmp(b->machine.cpu, m->machine.cpu) && !strcmp(b->machine.features, m->machine.features));
        CHECK(b->machine.cores == m->machine.cores && b->machine.threads == 2);
        CHECK(!strcmp(b->measurements, m->measurements));
        for (int t = 0; t < COST_TERMS; t++) {
            CHECK(b->used[t] == m->used[t]);
            CHECK(b->coef[t] == m->coef[t]);   /* %.17g: exact */
            CHECK(b->merged[t] == m->merged[t] && (!b->merged[t] || b->merged_into[t] == m->merged_into[t]));
        }
        CHECK(b->fit.rows == 10 && b->fit.configs == 3 && b->fit.loo_mape == 4.25);
        CHECK(b->n_data == 1 && !strcmp(b->data[0].config, "d-lut4") && b->data[0].loo_ms == 78.125);
    }
    cost_model_free(b);
    cost_model_free(m);
    /* a bare name resolves under the project's configs/devices */
    char p2[1024];
    cost_device_path("iphone15pro", p2, sizeof p2);
    CHECK(has(p2, "/configs/devices/iphone15pro.yaml"));
    cost_device_path("x/y.yaml", p2, sizeof p2);
    CHECK(!strcmp(p2, "x/y.yaml"));
}

static void test_bad_profiles(void)
{
    static const struct { const char *text, *expect; } cases[] = {
        { "device: a\nsource: table\nterms: {net.one: 1}\nbogus: 3\n", ":4: top level: unknown key 'bogus'" },
        { "device: a\nsource: tablet\nterms: {net.one: 1}\n", ":2: key 'source': 'tablet' is not allowed" },
        { "device: a\nsource: table\nterms:\n  net.one: 1\n  lut.lutz: 2\n", ":5: terms: unknown term 'lut.lutz'" },
        { "device: a\nsource: table\nterms:\n  net.one: fast\n", ":4: key 'terms.net.one': 'fast' is not a number" },
        { "device: a\nsource: table\nterms:\n  net.one: 1\n  net.one: 2\n", ":5: terms: term 'net.one' given twice" },
        { "device: a\nsource: table\n", ":1: top level: missing key 'terms'" },
        { "device: a\nsource: table\nterms: {}\n", ":3: terms: no terms" },
        { "device: a\nsource: profile\nterms: {net.one: 1}\n", "source 'profile' needs the key 'machine'" },
        { "device: a\nsource: table\nmachine: {cpu: x, features: y, cores: 2, threads: 2, date: z}\nterms: {net.one: 1}\n",
          ":3: key 'machine': only for source 'profile'" },
        { "device: a\nsource: profile\nmachine: {cpu: x, features: y, cores: 2, date: z}\nterms: {net.one: 1}\n",
          ":3: machine: missing key 'threads'" },
        { "device: a\nsource: profile\nmachine: {cpu: x, features: y, cores: two, threads: 2, date: z}\nterms: {net.one: 1}\n",
          ":3: key 'machine.cores': 'two' is not a number" },
        { "device: a\nsource: table\nterms: {net.one: 1}\nfit: {rows: 3, loo_mape_pct: -1}\n",
          ":4: key 'fit.loo_mape_pct': '-1' is not a number in 0..1e+09" },
        { "device: a\nsource: table\nterms: {net.one: 1}\ndata:\n  - {config: c, model: m, measured_ms: 1, fitted_ms: 1}\n",
          ":5: data[]: missing key 'loo_ms'" },
        { "device: a\nsource: table\nterms: {net.one: 1\n", "YAML syntax error" },
        { "device: a\ndevice: b\nsource: table\nterms: {net.one: 1}\n", ":2: top level: key 'device' given twice" },
        { "- a\n- b\n", ":1: top level: expected a mapping" },
        { "device: a\nsource: table\nterms: {net.one: 1, net.out_m: 0}\nmerged:\n  net.outm: net.one\n",
          ":5: merged: unknown term 'net.outm'" },
        { "device: a\nsource: table\nterms: {net.one: 1, net.out_m: 0}\nmerged:\n  net.out_m: net.out_m\n",
          ":5: key 'merged.net.out_m': 'net.out_m' is not another term" },
        { "device: a\nsource: table\nterms: {net.one: 1, net.out_m: 0.5}\nmerged:\n  net.out_m: net.one\n",
          ":5: merged: term 'net.out_m' must be in terms with coefficient 0" },
        { "device: a\nsource: table\nmerged: {net.out_m: lut.luts}\nterms: {net.one: 1, net.out_m: 0}\n",
          ":3: key 'merged.net.out_m': 'lut.luts' is not a fitted term of terms" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *p = write_file("yaml", cases[i].text);
        struct cost_model *m = NULL;
        const int rc = cost_model_load(p, &m);
        CHECK(rc == STATUS_BAD_INPUT);
        CHECK(m == NULL);
        CHECK(has(status_message(), p));
        CHECK(has(status_message(), cases[i].expect));
    }
    struct cost_model *m = NULL;
    CHECK(cost_model_load("no-such-device-xyz", &m) == STATUS_IO);
    CHECK(has(status_message(), "no-such-device-xyz"));
    CHECK(has(status_message(), COST_REPROFILE_COMMAND));
}

static void test_predict(struct resnet *fm)
{
    const char *p = write_file("yaml", "device: t\nsource: table\nterms:\n  net.one: 0.5\n  dense.gmacs: 10\n"
                                       "  sparse.gmacs_nz: 20\n  any.weight_mb: 0.25\n  lut.luts: 3\n");
    struct cost_model *m = NULL;
    CHECK(cost_model_load(p, &m) == 0);
    if (!m) return;
    struct compress_plan plan;
    CHECK(compress_plan_init_empty(fm, &plan) == 0);
    double dense_ms = 0.0, ms = 0.0, want = 0.5;
    for (int l = 0; l < plan.n_layers; l++) {
        double x[COST_TERMS] = { 0 };
        cost_layer_features(fm, &plan, l, 1.0, x, NULL);
        want += 10 * x[cost_term(KERN_DENSE, CF_GMACS)] + 0.25 * x[cost_term(COST_GROUP_ANY, CF_WEIGHT_MB)];
    }
    CHECK(cost_predict(m, fm, NULL, &dense_ms) == 0);
    CHECK_REL(dense_ms, want, 1e-12);
    /* prune layer3.* to 90 % and palettize: their MACs move to the sparse-lut kind, fewer bytes */
    int n_sp = 0;
    for (int l = 0; l < plan.n_layers; l++)
        if (!strncmp(plan.info[l].name, "layer3.", 7) && plan.info[l].OC * plan.info[l].K > 2048) {
            CHECK(cost_spec_parse("sp0.9+lut4g8", &plan.layer[l]) == 0);
            n_sp++;
        }
    CHECK(n_sp > 10);
    want = 0.5;
    for (int l = 0; l < plan.n_layers; l++) {
        double x[COST_TERMS] = { 0 };
        enum kern_kind k;
        cost_layer_features(fm, &plan, l, 1.0, x, &k);
        CHECK(k == (l < plan.n_layers && !strncmp(plan.info[l].name, "layer3.", 7) && plan.info[l].OC * plan.info[l].K > 2048
                        ? KERN_SPARSE_LUT : KERN_DENSE));
        want += 10 * x[cost_term(KERN_DENSE, CF_GMACS)] + 0.25 * x[cost_term(COST_GROUP_ANY, CF_WEIGHT_MB)] +
                3 * x[cost_term(KERN_LUT, CF_LUTS)];
    }
    CHECK(cost_predict(m, fm, &plan, &ms) == 0);
    CHECK_REL(ms, want, 1e-12);
    CHECK(ms < dense_ms);
    /* a plan of another architecture is refused */
    struct compress_plan other = plan;
    other.n_layers = plan.n_layers - 1;
    CHECK(cost_predict(m, fm, &other, &ms) == STATUS_BAD_INPUT);
    CHECK(has(status_message(), "not model rn50-fmnist's"));
    compress_plan_free(&plan);
    cost_model_free(m);
}

static void test_specs(struct resnet *fm)
{
    static const char *const good[] = { "dense", "lut4", "lut4g16", "sp0.75", "sp0.75+lut4g16", "w8a8", "sp0.5+w8a8",
                                        "w8a16", "lut1", "lut8g1" };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        struct layer_plan lp;
        char back[64];
        CHECK(cost_spec_parse(good[i], &lp) == 0);
        cost_spec_format(&lp, back, sizeof back);
        CHECK(!strcmp(back, good[i]));
    }
    struct layer_plan lp;
    CHECK(cost_spec_parse("lut4+sp0.5", &lp) == 0 && lp.pal.enabled && lp.prune.enabled);   /* any order */
    lp.prune.target_sparsity = KERN_SPARSE_MIN;   /* at the sparse kernel's threshold */
    CHECK(kern_plan_kind(&lp, 0, 1000, 0) == KERN_SPARSE_LUT);
    CHECK(kern_plan_kind(&lp, 0, 1001, 0) == KERN_LUT);   /* floor(1001 s) zeros: just under it */
    CHECK(kern_plan_kind(&lp, 1, 1000, 0) == KERN_DENSE);   /* the fc layer: dense or int8 only */
    static const char *const bad[] = { "", "lut9", "lut4g0", "sp1.5", "sp0", "lut4+w8a8", "w8a8+w8a16", "foo", "lut4x",
                                       "sp0.5+sp0.6" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(cost_spec_parse(bad[i], &lp) == STATUS_BAD_INPUT);
        CHECK(has(status_message(), "layer spec"));
    }
    /* kinds */
    CHECK(cost_spec_parse("sp0.5+w8a8", &lp) == 0 && kern_plan_kind(&lp, 0, 100, 1) == KERN_INT8);
    CHECK(cost_spec_parse("w8a16", &lp) == 0 && kern_plan_kind(&lp, 0, 100, 0) == KERN_DENSE);
    CHECK(kern_plan_kind(&lp, 0, 100, 1) == KERN_INT8);   /* in a network with 8-bit activations */
    CHECK(cost_spec_parse("sp0.9", &lp) == 0 && kern_plan_kind(&lp, 0, 100, 0) == KERN_SPARSE);
    CHECK(cost_spec_parse("lut3g4", &lp) == 0 && kern_plan_kind(&lp, 0, 100, 0) == KERN_LUT);
    /* Palettization wins over int8 weights (configs/compress/palettize4-a8.yaml): the layer runs its
     * LUT kernel, not the int8 one; affine int8 weights run no kernel (dense), even when sparse. */
    lp.quant = (struct quant_cfg){ .enabled = 1, .symmetric = 1, .activations = 1 };
    CHECK(kern_plan_kind(&lp, 0, 100, 1) == KERN_LUT && kern_plan_kind(&lp, 1, 100, 1) == KERN_DENSE);
    CHECK(cost_spec_parse("sp0.9+w8a8", &lp) == 0 && kern_plan_kind(&lp, 0, 100, 1) == KERN_INT8);
    lp.quant.symmetric = 0;
    CHECK(kern_plan_kind(&lp, 0, 100, 1) == KERN_DENSE && kern_plan_kind(&lp, 0, 100, 0) == KERN_SPARSE);
    /* terms */
    char name[48];
    for (int t = 0; t < COST_TERMS; t++) {
        cost_term_name(t, name, sizeof name);
        CHECK(cost_term_parse(name) == t);
    }
    CHECK(cost_term_parse("sparse-lut.luts") == cost_term(KERN_SPARSE_LUT, CF_LUTS));
    CHECK(cost_term_parse("lut") < 0 && cost_term_parse("lut.") < 0 && cost_term_parse("xyz.one") < 0);
    /* a uniform plan keeps small layers dense, and writes/reads back as a compression config */
    struct compress_plan plan, back;
    CHECK(cost_plan_uniform(fm, "sp0.85+lut3g8", 2048, &plan) == 0);
    CHECK(kern_plan_layer_kind(&plan, 0) == KERN_DENSE);   /* the stem: 16x1x3x3 weights, under the threshold */
    CHECK(kern_plan_layer_kind(&plan, resnet_find_conv(fm, "layer3.0.conv2")) == KERN_SPARSE_LUT);
    /* fc: 10x512, pruned; its 10 outputs are no multiple of 8, so coremltools (and the config
     * reader) leave it unpalettized */
    CHECK(!plan.layer[plan.n_layers - 1].pal.enabled && plan.layer[plan.n_layers - 1].prune.enabled);
    CHECK(kern_plan_layer_kind(&plan, plan.n_layers - 1) == KERN_DENSE);
    CHECK(cost_spec_parse("w8a8", &plan.layer[5]) == 0);
    CHECK(cost_spec_parse("w8a16", &plan.layer[6]) == 0);
    char path[320];
    snprintf(path, sizeof path, "%s/plan.yaml", tmpdir);
    CHECK(cost_plan_write_config(&plan, path) == 0);
    CHECK(compress_config_load(path, fm, &back) == 0);
    for (int l = 0; l < plan.n_layers && back.n_layers == plan.n_layers; l++) {
        char a[64], b[64];
        cost_spec_format(&plan.layer[l], a, sizeof a);
        cost_spec_format(&back.layer[l], b, sizeof b);
        CHECK(!strcmp(a, b));
    }
    compress_plan_free(&plan);
    compress_plan_free(&back);
}

static void test_measurements(struct resnet *fm)
{
    /* A profile CSV for rn50-fmnist with two configurations, written row by row. */
    char *text = malloc(1 << 20);
    size_t n = 0;
    n += (size_t)sprintf(text + n, "# cpu: Test CPU\n# features: avx2\n# cores: 4\n# threads: 2\n# date: x\n"
                                   COST_PROFILE_HEADER "\n");
    for (int c = 0; c < 2; c++) {
        n += (size_t)sprintf(text + n, "cfg%d,rn50-fmnist,network,,mixed,,5,%d.5,1,3,1,1,1.25,0.1\n", c, 2 + c);
        for (int l = 0; l <= fm->n_conv; l++)
            n += (size_t)sprintf(text + n, "cfg%d,rn50-fmnist,layer,%s,%s,dense,5,0.01,0.01,0.02,0.01,0.005,0.0125,\n", c,
                                 l < fm->n_conv ? fm->conv[l].name : "fc", c == 1 && l == 3 ? "sp0.9+lut4" : "dense");
    }
    const char *p = write_file("csv", text);
    struct cost_measurements ms;
    CHECK(cost_measurements_read(p, NULL, NULL, COST_STAT_MEDIAN, &ms) == 0);
    CHECK(ms.n == 2 && ms.n_nets == 1 && ms.has_machine && ms.machine.cores == 4 && !strcmp(ms.machine.cpu, "Test CPU"));
    if (ms.n == 2) {
        CHECK(ms.s[1].e2e_ms == 3.5 && ms.s[1].layer_ms && ms.s[1].layer_ms[2] == 0.01);
        CHECK(kern_plan_layer_kind(&ms.s[1].plan, 3) == KERN_SPARSE_LUT && ms.s[1].plan.layer[3].pal.n_bits == 4);
        CHECK(kern_plan_layer_kind(&ms.s[0].plan, 3) == KERN_DENSE);
    }
    cost_measurements_free(&ms);
    CHECK(cost_measurements_read(p, NULL, NULL, COST_STAT_MIN, &ms) == 0);   /* another statistic's column */
    CHECK(ms.n == 2 && ms.s[0].e2e_ms == 1.0 && ms.s[0].layer_ms && ms.s[0].layer_ms[0] == 0.005);
    cost_measurements_free(&ms);
    CHECK(cost_measurements_read(p, NULL, NULL, COST_STAT_QUIET, &ms) == 0);
    CHECK(ms.n == 2 && ms.s[0].e2e_ms == 1.25 && ms.s[0].layer_ms && ms.s[0].layer_ms[0] == 0.0125);
    cost_measurements_free(&ms);
    /* errors: a missing layer row, a bad number, an unknown layer, a --select on a profile */
    char *cut = strstr(text, "cfg1,rn50-fmnist,layer,fc");
    char saved = cut[0];
    cut[0] = '\0';
    p = write_file("csv", text);
    CHECK(cost_measurements_read(p, NULL, NULL, COST_STAT_MEDIAN, &ms) == STATUS_BAD_INPUT);
    CHECK(has(status_message(), "configuration cfg1 (rn50-fmnist): no row for layer fc"));
    cut[0] = saved;
    char *num = strstr(text, "0.01,0.01,0.02");
    memcpy(num, "0.0x", 4);
    p = write_file("csv", text);
    CHECK(cost_measurements_read(p, NULL, NULL, COST_STAT_MEDIAN, &ms) == STATUS_BAD_INPUT);
    CHECK(has(status_message(), ":8: column median_ms: '0.0x'"));
    memcpy(num, "0.01", 4);
    char *lay = strstr(text, "layer1.0.conv1,");
    memcpy(lay, "layer9", 6);
    p = write_file("csv", text);
    CHECK(cost_measurements_read(p, NULL, NULL, COST_STAT_MEDIAN, &ms) == STATUS_BAD_INPUT);
    CHECK(has(status_message(), "column layer: 'layer9.0.conv1' is not a layer of rn50-fmnist"));
    memcpy(lay, "layer1", 6);
    p = write_file("csv", text);
    CHECK(cost_measurements_read(p, "a=b", NULL, COST_STAT_MEDIAN, &ms) == STATUS_BAD_INPUT);
    CHECK(has(status_message(), "only for tables"));
    free(text);
    /* no header: an empty file (its line buffer was read uninitialised), and comments only, the
     * last one with a comma (it was taken for a table's header) */
    p = write_file("csv", "");
    CHECK(cost_measurements_read(p, NULL, NULL, COST_STAT_MEDIAN, &ms) == STATUS_BAD_INPUT);
    CHECK(has(status_message(), "no header line"));
    p = write_file("csv", "# cpu: x\n\n# a, b\n");
    CHECK(cost_measurements_read(p, NULL, NULL, COST_STAT_MEDIAN, &ms) == STATUS_BAD_INPUT);
    CHECK(has(status_message(), "no header line"));

    /* The published Apple table, iPhone 15 Pro iOS 18 seed rows with a latency. */
    const char *apple = RN_SOURCE_DIR "/configs/devices/apple_published_resnet50.csv";
    if (access(apple, R_OK) != 0) {
        fprintf(stderr, "skipping the table checks: %s is missing\n", apple);
        return;
    }
    CHECK(cost_measurements_read(apple, "device=iPhone 15 Pro;os=iOS18 seed", NULL, COST_STAT_MEDIAN, &ms) == 0);
    CHECK(ms.n == 12 && !ms.has_machine && ms.n_nets == 1);
    int found = 0;
    for (int i = 0; i < ms.n; i++) {
        if (strcmp(ms.s[i].config, "ptq:lut4g16")) continue;
        found = 1;
        CHECK(ms.s[i].e2e_ms == 1.38 && ms.s[i].layer_ms == NULL);
        const struct layer_plan *lp = &ms.s[i].plan.layer[10];
        CHECK(lp->pal.enabled && lp->pal.n_bits == 4 && lp->pal.granularity == PAL_PER_GROUPED_CHANNEL && lp->pal.group_size == 16);
    }
    CHECK(found);
    cost_measurements_free(&ms);
    CHECK(cost_measurements_read(apple, "phone=x", NULL, COST_STAT_MEDIAN, &ms) == STATUS_BAD_INPUT);
    CHECK(has(status_message(), "has no column 'phone'"));
    CHECK(cost_measurements_read(apple, "device=Pixel", NULL, COST_STAT_MEDIAN, &ms) == STATUS_BAD_INPUT);
    CHECK(has(status_message(), "no rows with a latency"));
}

static void test_machine(void)
{
    struct cost_machine a, b;
    cost_machine_detect(&a, 2);
    CHECK(a.cpu[0] && a.cores >= 1 && a.threads == 2 && a.date[0]);
    b = a;
    char why[600];
    CHECK(cost_machine_same(&a, &b, why, sizeof why));
    b.cores = a.cores + 1;
    CHECK(!cost_machine_same(&a, &b, why, sizeof why) && has(why, "cores"));
}

/* The kinds the cost model assumes are the kernels compress_apply attaches (kern_attach). */
static void test_kinds_match_kernels(void)
{
    struct resnet_config cfg;
    CHECK(resnet_config_load("rn50-fmnist", &cfg) == 0);
    struct dataset calib;
    memset(&calib, 0, sizeof calib);
    const int64_t per = (int64_t)cfg.in_channels * cfg.in_h * cfg.in_w;
    calib.n = 2;
    calib.C = cfg.in_channels;
    calib.H = cfg.in_h;
    calib.W = cfg.in_w;
    calib.n_classes = cfg.n_classes;
    calib.images = malloc(sizeof(float) * (size_t)(2 * per));
    calib.labels = calloc(2, sizeof *calib.labels);
    struct rng r;
    rng_seed(&r, 5);
    for (int64_t i = 0; i < 2 * per; i++) calib.images[i] = (float)rng_normal(&r);
    int mismatches = 0, kinds_seen[KERN_KIND_COUNT] = { 0 };
    for (int trial = 0; trial < 8; trial++) {
        struct resnet *net = NULL;
        CHECK(resnet_alloc(&cfg, 3, &net) == 0);
        if (!net) break;
        struct compress_plan plan;
        random_plan(net, &r, &plan);
        if (trial == 0)
            for (int l = 0; l < plan.n_layers; l++)   /* pruned exactly at the sparse kernel's threshold */
                if (plan.info[l].OC * plan.info[l].K > 2048) {
                    CHECK(cost_spec_parse("sp0.5", &plan.layer[l]) == 0);
                    plan.layer[l].prune.target_sparsity = KERN_SPARSE_MIN;
                }
        struct apply_result res;
        const int rc = compress_apply(net, &plan, &calib, &res);
        CHECK(rc == 0);
        for (int l = 0; !rc && l < plan.n_layers; l++) {
            const enum kern_kind k = kern_plan_layer_kind(&plan, l);
            kinds_seen[k]++;
            if (strcmp(resnet_conv_kernel_name(net, l), kern_kind_name(k))) {
                char spec[64];
                cost_spec_format(&plan.layer[l], spec, sizeof spec);
                fprintf(stderr, "  trial %d layer %s (%s): runs %s, the cost model assumes %s\n", trial, plan.info[l].name,
                        spec, resnet_conv_kernel_name(net, l), kern_kind_name(k));
                mismatches++;
            }
        }
        if (!rc) apply_result_free(&res);
        format_free_activations(net);
        compress_plan_free(&plan);
        resnet_free(net);
    }
    CHECK(mismatches == 0);
    for (int k = 0; k < KERN_KIND_COUNT; k++) CHECK(kinds_seen[k] > 0);
    dataset_free(&calib);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/rn_test_cost_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    struct resnet_config c18, cfm;
    struct resnet *nets[2] = { NULL, NULL };
    CHECK(resnet_config_load("rn50-fmnist", &cfm) == 0 && resnet_alloc(&cfm, 1, &nets[0]) == 0);
    CHECK(resnet_config_load("resnet18", &c18) == 0 && resnet_alloc(&c18, 1, &nets[1]) == 0);
    if (!nets[0] || !nets[1]) return check_summary();
    test_specs(nets[0]);
    test_fit_recovers(nets);
    test_fit_degenerate(nets);
    test_fit_one_model(nets[0]);
    test_yaml_round_trip();
    test_bad_profiles();
    test_predict(nets[0]);
    test_measurements(nets[0]);
    test_machine();
    test_kinds_match_kernels();
    resnet_free(nets[0]);
    resnet_free(nets[1]);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
