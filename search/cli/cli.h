/* cli.h — what every rn50-tune command shares: strict option values, the options of the model
 * commands, and the one-line JSON summary that `--json` prints last. Only the program (search/cli/)
 * includes it; loading a model is compress/model_load.h, the project directory model/home.h. */
#ifndef RN_CLI_H
#define RN_CLI_H

#include "resnet.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Parses `s` as the value of option `opt`: a whole integer in [lo, hi] / a finite number in
 * [lo, hi]. Errors name the option, the value and the range. */
int cli_int(const char *opt, const char *s, long lo, long hi, int *out);
int cli_int64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
int cli_double(const char *opt, const char *s, double lo, double hi, double *out);

/* Walks argv for one command. Usage:
 *     struct cli_args a = cli_args_init(argc, argv);
 *     while (cli_next(&a)) { if (cli_is(&a, "--model")) { if (cli_value(&a, &model)) ... } ... else return cli_unknown(&a); }
 * Options take their value as the next argument or after '='. */
struct cli_args {
    int argc;
    char **argv;
    int i;
    const char *opt;     /* the current option, without any "=value" */
    const char *inline_value;
    char opt_buf[64];
};
struct cli_args cli_args_init(int argc, char **argv);
int cli_next(struct cli_args *a);
int cli_is(const struct cli_args *a, const char *name);
int cli_value(struct cli_args *a, const char **out);   /* STATUS_BAD_INPUT when the value is missing */
int cli_unknown(const struct cli_args *a);              /* records "unknown option" and returns STATUS_BAD_INPUT */

/* The arguments of the commands that read a run directory (plot, report): one RUN_DIR, --json,
 * --help (prints usage; returns 1 with *rc 0: the caller exits 0). Returns 0 with *rc set:
 * STATUS_OK, or STATUS_BAD_INPUT naming the option (a second directory, an unknown option, none). */
int cli_run_dir_args(int argc, char **argv, const char *usage, const char **run_dir, int *json, int *rc);

/* The options every model command shares: --model, --weights, --threads, --json. */
struct cli_common {
    const char *model, *weights;
    int threads, json;
};
/* If the current option is one of the shared ones, consumes it (setting *rc) and returns 1. */
int cli_common_option(struct cli_args *a, struct cli_common *c, int *rc);

/* A command's options, declared once each: name, kind, where the value goes, default, bounds and
 * help. One table drives parsing (cli_parse), the defaults and the options part of --help (as
 * Redis' static_configs[] does), so an option's bounds and default cannot disagree with its help. */
enum cli_kind {
    CLI_STR,      /* const char *: the argument as given */
    CLI_FLAG,     /* int: 1 when present (takes no value) */
    CLI_INT,      /* int in [min, max] */
    CLI_INT64,    /* int64_t in [min, max] */
    CLI_DOUBLE,   /* double in [dmin, dmax], finite */
    CLI_SET,      /* int: set to `min` when present (takes no value): --no-flip, --layers */
    CLI_CUSTOM,   /* the value handed to `custom` (a repeatable option, a list); with no `arg`
                   * the option takes no value and custom gets NULL */
    CLI_COMMON,   /* one of cli_common_option's: parsed there, listed here for --help only */
    CLI_KIND_COUNT
};
struct cli_option {
    const char *name;      /* "--batch" */
    enum cli_kind kind;
    size_t offset;         /* offsetof the value in the command's options struct (not CLI_COMMON) */
    const char *def;       /* the default as one would type it, parsed at start; NULL: zero/NULL */
    int64_t min, max;      /* CLI_INT, CLI_INT64 */
    double dmin, dmax;     /* CLI_DOUBLE */
    int (*custom)(void *opts, const char *value);   /* CLI_CUSTOM: STATUS_OK or a recorded error */
    const char *arg;       /* the value's name in --help ("B"); NULL for a flag */
    const char *help;      /* lines separated by '\n'; " (default DEF)" is added when def is set */
};
struct cli_command {
    const char *synopsis;  /* "usage: rn50-tune NAME ..." and the description, ending in a blank line */
    const struct cli_option *opt;
    int n_opt;
    const char *epilogue;  /* after the options (examples), starting with a blank line; may be NULL */
    int help_col;          /* the column the options' help starts in (0: 17) */
};

/* Sets the defaults of cmd's options in opts, then parses argv[1..argc) (argv[0] is the command)
 * into opts and *cm (the shared options, which any command with a cm accepts; cm NULL: the
 * command takes only the options of its table). Stops at the first error:
 * *rc is STATUS_OK or STATUS_BAD_INPUT naming the option, the value and what was expected (the
 * messages of cli_int64, cli_double, cli_value and cli_unknown). A bare argument is an unknown
 * option. Returns 1 when it printed --help (the command exits 0), else 0. */
int cli_parse(const struct cli_command *cmd, int argc, char **argv, void *opts, struct cli_common *cm, int *rc);
/* Prints cmd's usage: synopsis, one entry per option from the table, epilogue. */
void cli_usage(const struct cli_command *cmd, FILE *f);


/* jout: the minimal JSON writer of the summary line, {"a":1,"b":"x",...} (parsing is model/json.h). */
struct jout {
    FILE *f;
    int n;
};
void jout_begin(struct jout *j, FILE *f);
void jout_str(struct jout *j, const char *key, const char *value);
void jout_num(struct jout *j, const char *key, double value);
void jout_int(struct jout *j, const char *key, int64_t value);
void jout_raw(struct jout *j, const char *key, const char *raw);
void jout_end(struct jout *j);

/* Commands: each parses its own arguments (argv[0] is the command name), prints `--help`, and
 * returns the process exit code. */
int cmd_infer(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_size(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_cost(int argc, char **argv);

/* Prints "rn50-tune: error: MESSAGE" to stderr and returns the exit code for `status`. */
int cli_fail(int status);

#endif
