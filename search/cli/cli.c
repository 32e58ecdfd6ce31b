/* cli.c — shared command-line plumbing (see cli.h). */
#include "cli.h"
#include "data.h"
#include "dist.h"
#include "clock.h"
#include "format.h"
#include "status.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int cli_int64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return status_error(STATUS_BAD_INPUT, "%s: '%s' is not an integer in %lld..%lld", opt, s, (long long)lo,
                            (long long)hi);
    *out = v;
    return STATUS_OK;
}

int cli_int(const char *opt, const char *s, long lo, long hi, int *out)
{
    int64_t v = 0;
    int rc = cli_int64(opt, s, lo, hi, &v);
    if (!rc) *out = (int)v;
    return rc;
}

int cli_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return status_error(STATUS_BAD_INPUT, "%s: '%s' is not a number in %g..%g", opt, s, lo, hi);
    *out = v;
    return STATUS_OK;
}

struct cli_args cli_args_init(int argc, char **argv)
{
    struct cli_args a;
    memset(&a, 0, sizeof a);
    a.argc = argc;
    a.argv = argv;
    a.i = 0;   /* argv[0] is the command */
    return a;
}

int cli_next(struct cli_args *a)
{
    if (++a->i >= a->argc) return 0;
    const char *arg = a->argv[a->i];
    const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    if (eq && (size_t)(eq - arg) < sizeof a->opt_buf) {
        memcpy(a->opt_buf, arg, (size_t)(eq - arg));
        a->opt_buf[eq - arg] = '\0';
        a->opt = a->opt_buf;
        a->inline_value = eq + 1;
    } else {
        a->opt = arg;
        a->inline_value = NULL;
    }
    return 1;
}

int cli_is(const struct cli_args *a, const char *name) { return strcmp(a->opt, name) == 0; }

int cli_value(struct cli_args *a, const char **out)
{
    if (a->inline_value) {
        *out = a->inline_value;
        return STATUS_OK;
    }
    if (a->i + 1 >= a->argc) return status_error(STATUS_BAD_INPUT, "%s: missing value", a->opt);
    *out = a->argv[++a->i];
    return STATUS_OK;
}

int cli_unknown(const struct cli_args *a)
{
    return status_error(STATUS_BAD_INPUT, "%s: unknown option for '%s' (see %s --help)", a->opt, a->argv[0], a->argv[0]);
}

int cli_run_dir_args(int argc, char **argv, const char *usage, const char **run_dir, int *json, int *rc)
{
    *run_dir = NULL;
    *json = 0;
    *rc = STATUS_OK;
    struct cli_args a = cli_args_init(argc, argv);
    while (!*rc && cli_next(&a)) {
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) {
            fputs(usage, stdout);
            return 1;
        } else if (cli_is(&a, "--json")) {
            *json = 1;
        } else if (a.opt[0] != '-' && !*run_dir) {
            *run_dir = a.opt;
        } else if (a.opt[0] != '-') {
            *rc = status_error(STATUS_BAD_INPUT, "'%s': one run directory only (already have '%s'; see rn50-tune %s --help)",
                               a.opt, *run_dir, argv[0]);
        } else {
            *rc = cli_unknown(&a);
        }
    }
    if (!*rc && !*run_dir) *rc = status_error(STATUS_BAD_INPUT, "RUN_DIR: required (see rn50-tune %s --help)", argv[0]);
    return 0;
}

int cli_common_option(struct cli_args *a, struct cli_common *c, int *rc)
{
    const char *v = NULL;
    if (cli_is(a, "--model")) *rc = cli_value(a, &c->model);
    else if (cli_is(a, "--weights")) *rc = cli_value(a, &c->weights);
    else if (cli_is(a, "--threads")) {
        if (!(*rc = cli_value(a, &v))) *rc = cli_int("--threads", v, 1, 1024, &c->threads);
        struct dataset_options o = *dataset_options_get();
        o.threads = c->threads;   /* image decoding uses as many */
        if (!*rc) dataset_options_set(&o);
    }
    else if (cli_is(a, "--json")) c->json = 1;
    else if (cli_is(a, "--cache-dir") || cli_is(a, "--val-per-class") || cli_is(a, "--skip-bad")) {
        /* Image-folder options (data.h): kept process-wide, read by every dataset_load. */
        struct dataset_options o = *dataset_options_get();
        if (cli_is(a, "--skip-bad")) o.skip_bad = 1;
        else if (!(*rc = cli_value(a, &v)) && cli_is(a, "--cache-dir")) {
            if (strlen(v) >= sizeof o.cache_dir) *rc = status_error(STATUS_BAD_INPUT, "--cache-dir: path longer than %zu bytes", sizeof o.cache_dir - 1);
            else snprintf(o.cache_dir, sizeof o.cache_dir, "%s", v);
        } else if (!*rc) {
            *rc = cli_int("--val-per-class", v, 1, 1000000, &o.val_per_class);
        }
        if (!*rc) dataset_options_set(&o);
    }
    else return 0;
    return 1;
}

void jout_begin(struct jout *j, FILE *f)
{
    j->f = f;
    j->n = 0;
    fputc('{', f);
}

static void jout_key(struct jout *j, const char *key)
{
    fprintf(j->f, "%s\"%s\":", j->n++ ? "," : "", key);
}

void jout_str(struct jout *j, const char *key, const char *value)
{
    jout_key(j, key);
    fputc('"', j->f);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(j->f, "\\%c", *p);
        else if (*p < 0x20) fprintf(j->f, "\\u%04x", *p);
        else fputc(*p, j->f);
    }
    fputc('"', j->f);
}

void jout_num(struct jout *j, const char *key, double value)
{
    jout_key(j, key);
    if (isfinite(value)) fprintf(j->f, "%.10g", value);
    else fputs("null", j->f);
}

void jout_int(struct jout *j, const char *key, int64_t value)
{
    jout_key(j, key);
    fprintf(j->f, "%lld", (long long)value);
}

void jout_raw(struct jout *j, const char *key, const char *raw)
{
    jout_key(j, key);
    fputs(raw, j->f);
}

void jout_end(struct jout *j)
{
    fputs("}\n", j->f);
    fflush(j->f);
}

int cli_fail(int status)
{
    /* On several ranks the message is rank 0's, which every failure reaches (dist.h). */
    if (dist_rank() == 0) fprintf(stderr, "rn50-tune: error: %s\n", status_message());
    return status == STATUS_OK ? 1 : (status == STATUS_IO ? 3 : 2);
}

/* ---- option tables ---- */

static const char *cli_kind_names[] = { "string", "flag", "int", "int64", "double", "set", "custom", "common" };
_Static_assert(sizeof cli_kind_names / sizeof *cli_kind_names == CLI_KIND_COUNT, "cli_kind_names");

/* Stores the text s as row o's value in opts, through the same strict parsers whether s came from
 * the command line or from the table's default. */
static int cli_option_set(const struct cli_option *o, const char *s, void *opts)
{
    char *at = (char *)opts + o->offset;
    switch (o->kind) {
    case CLI_STR: memcpy(at, &s, sizeof s); return STATUS_OK;
    case CLI_FLAG: { const int one = 1; memcpy(at, &one, sizeof one); return STATUS_OK; }
    case CLI_INT: {
        int v = 0;
        int rc = cli_int(o->name, s, (long)o->min, (long)o->max, &v);
        if (!rc) memcpy(at, &v, sizeof v);
        return rc;
    }
    case CLI_INT64: {
        int64_t v = 0;
        int rc = cli_int64(o->name, s, o->min, o->max, &v);
        if (!rc) memcpy(at, &v, sizeof v);
        return rc;
    }
    case CLI_DOUBLE: {
        double v = 0;
        int rc = cli_double(o->name, s, o->dmin, o->dmax, &v);
        if (!rc) memcpy(at, &v, sizeof v);
        return rc;
    }
    case CLI_SET: { const int v = (int)o->min; memcpy(at, &v, sizeof v); return STATUS_OK; }
    case CLI_CUSTOM: return o->custom(opts, s);
    case CLI_COMMON:
    case CLI_KIND_COUNT: break;
    }
    RN_ASSERT(!"cli_option_set: a kind without a value");
    return STATUS_BAD_INPUT;
}

int cli_parse(const struct cli_command *cmd, int argc, char **argv, void *opts, struct cli_common *cm, int *rc)
{
    *rc = STATUS_OK;
    for (int k = 0; k < cmd->n_opt; k++) {
        const struct cli_option *o = &cmd->opt[k];
        if (!o->def || o->kind == CLI_COMMON) continue;
        /* A default outside its own bounds is our mistake, not the user's. */
        if (cli_option_set(o, o->def, opts)) {
            fprintf(stderr, "rn50-tune: %s: default '%s' (%s) does not parse: %s\n", o->name, o->def, cli_kind_names[o->kind],
                    status_message());
            RN_ASSERT(!"an option table's default is out of its bounds");
        }
    }
    struct cli_args a = cli_args_init(argc, argv);
    while (!*rc && cli_next(&a)) {
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) {
            cli_usage(cmd, opts, stdout);
            return 1;
        }
        const struct cli_option *o = NULL;
        for (int k = 0; k < cmd->n_opt && !o; k++)
            if (cli_is(&a, cmd->opt[k].name)) o = &cmd->opt[k];
        if (!o || o->kind == CLI_COMMON) {
            if (!cm || !cli_common_option(&a, cm, rc)) *rc = cli_unknown(&a);
        } else if (o->kind == CLI_FLAG || o->kind == CLI_SET || (o->kind == CLI_CUSTOM && !o->arg)) {
            *rc = cli_option_set(o, NULL, opts);
        } else {
            const char *v = NULL;
            if (!(*rc = cli_value(&a, &v))) *rc = cli_option_set(o, v, opts);
        }
    }
    return 0;
}

/* The value of a `show` row in opts, as --help prints it. */
static void cli_print_value(const struct cli_option *o, const void *opts, FILE *f)
{
    const char *at = (const char *)opts + o->offset;
    if (o->kind == CLI_INT) { int v; memcpy(&v, at, sizeof v); fprintf(f, " (default %d)", v); }
    else if (o->kind == CLI_INT64) { int64_t v; memcpy(&v, at, sizeof v); fprintf(f, " (default %lld)", (long long)v); }
    else if (o->kind == CLI_DOUBLE) { double v; memcpy(&v, at, sizeof v); fprintf(f, " (default %g)", v); }
}

void cli_usage(const struct cli_command *cmd, const void *opts, FILE *f)
{
    /* The help column: "  --name ARG" padded to it, or followed by two spaces when longer;
     * continuation lines of the help start in the same column. */
    const int col = cmd->help_col ? cmd->help_col : 17;
    fputs(cmd->synopsis, f);
    for (int k = 0; k < cmd->n_opt; k++) {
        const struct cli_option *o = &cmd->opt[k];
        char head[96];
        snprintf(head, sizeof head, "  %s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        const int n = (int)strlen(head);
        fprintf(f, "%s%*s", head, n < col - 1 ? col - n : 2, "");
        for (const char *p = o->help; *p;) {
            const char *nl = strchr(p, '\n');
            const int len = nl ? (int)(nl - p) : (int)strlen(p);
            fprintf(f, "%.*s", len, p);
            if (!nl) break;
            fprintf(f, "\n%*s", col, "");
            p = nl + 1;
        }
        if (o->def) fprintf(f, " (default %s)", o->def);
        else if (o->show && opts) cli_print_value(o, opts, f);
        fputc('\n', f);
    }
    if (cmd->epilogue) fputs(cmd->epilogue, f);
}

/* ---- the training options (train, finetune) ---- */

void cli_train_args_init(struct cli_train_args *ta)
{
    memset(ta, 0, sizeof *ta);
    train_opts_default(&ta->o);
    ta->label_smoothing = ta->o.label_smoothing;
    ta->seed = (int64_t)ta->o.seed;
}

void cli_train_args_finish(struct cli_train_args *ta, char *ckpt, size_t cap)
{
    ta->o.label_smoothing = (float)ta->label_smoothing;
    ta->o.seed = (uint64_t)ta->seed;
    if (!ta->o.checkpoint && ta->o.out) {
        size_t n = strlen(ta->o.out);
        const char *ext = ".safetensors";
        if (n > strlen(ext) && strcmp(ta->o.out + n - strlen(ext), ext) == 0) n -= strlen(ext);
        snprintf(ckpt, cap, "%.*s.ckpt.safetensors", (int)n, ta->o.out);
        ta->o.checkpoint = ckpt;
    }
}

int cli_train_data_load(const char *data, const struct train_opts *o, struct dataset *train, struct dataset *val)
{
    int rc = dataset_load(data, "train", o->train_limit, train);
    if (!rc) rc = dataset_load(data, "val", o->val_limit, val);
    if (rc == STATUS_BAD_INPUT) {   /* name the option the bad value came from */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", status_message());
        rc = status_error(rc, "--data %s: %s", data, msg);
    }
    return rc;
}
