/* cli.h — what every rn50-tune command shares: strict option values, the options of the model
 * commands, and the one-line JSON summary that `--json` prints last. Only the program (search/cli/)
 * includes it; loading a model is compress/model_load.h, the project directory model/home.h. */
#ifndef RN_CLI_H
#define RN_CLI_H

#include "resnet.h"
#include "train.h"

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
    int show;              /* no def: --help shows the value the command set before parsing as the
                            * default (defaults that a library function owns, train_opts_default) */
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
/* Prints cmd's usage: synopsis, one entry per option from the table, epilogue. opts (may be
 * NULL) holds the values the `show` rows print as their defaults. */
void cli_usage(const struct cli_command *cmd, const void *opts, FILE *f);

/* The training options train and finetune share: the loop's options (defaults from
 * train_opts_default, which the command may change before parsing) and the two the table cannot
 * store in place (o.label_smoothing is a float, o.seed unsigned). */
struct cli_train_args {
    struct train_opts o;
    const char *data, *config;   /* config: finetune's */
    double label_smoothing;
    int64_t seed;
    int no_test;                 /* finetune's */
};
/* train_opts_default, with the mirrors set from it. */
void cli_train_args_init(struct cli_train_args *ta);
/* After cli_parse: the mirrors back into o, and the checkpoint path (OUT with .ckpt.safetensors
 * when not given) written into ckpt[cap]. */
void cli_train_args_finish(struct cli_train_args *ta, char *ckpt, size_t cap);

/* The train and val splits of data for the loop (their train_limit, val_limit); a bad dataset's
 * message is prefixed with "--data DATA: ". */
struct dataset;
int cli_train_data_load(const char *data, const struct train_opts *o, struct dataset *train, struct dataset *val);

#define CLI_TA(field) offsetof(struct cli_train_args, field)
/* The rows of the loop's options, in the order of their help. */
#define CLI_TRAIN_OPTIONS                                                                                                   \
    { "--out", CLI_STR, CLI_TA(o.out), .arg = "OUT", .help = "the best model so far by val top-1 (.safetensors)" },                \
    { "--data", CLI_STR, CLI_TA(data), "fmnist", .arg = "D",                                                                \
      .help = "fmnist or npy:IMAGES.npy,LABELS.npy (then val = the same file)" },                                          \
    { "--epochs", CLI_INT, CLI_TA(o.epochs), .min = 1, .max = 10000, .arg = "E", .help = "epochs", .show = 1 },             \
    { "--batch", CLI_INT, CLI_TA(o.batch), .min = 1, .max = 65536, .arg = "B", .help = "images per step", .show = 1 },      \
    { "--lr", CLI_DOUBLE, CLI_TA(o.lr), .dmin = 0, .dmax = 100, .arg = "LR", .help = "peak learning rate", .show = 1 },     \
    { "--warmup", CLI_DOUBLE, CLI_TA(o.warmup_epochs), .dmin = 0, .dmax = 10000, .arg = "EPOCHS",                            \
      .help = "linear warm-up from lr/10, then cosine to 0", .show = 1 },                                                   \
    { "--momentum", CLI_DOUBLE, CLI_TA(o.momentum), .dmin = 0, .dmax = 0.999, .arg = "MU", .help = "SGD momentum", .show = 1 }, \
    { "--weight-decay", CLI_DOUBLE, CLI_TA(o.weight_decay), .dmin = 0, .dmax = 1, .arg = "WD",                              \
      .help = "on conv and fc weights", .show = 1 },                                                                        \
    { "--label-smoothing", CLI_DOUBLE, CLI_TA(label_smoothing), .dmin = 0, .dmax = 0.999, .arg = "S",                        \
      .help = "of the cross-entropy targets", .show = 1 },                                                                  \
    { "--crop-pad", CLI_INT, CLI_TA(o.crop_pad), .min = 0, .max = 64, .arg = "P",                                           \
      .help = "random crops after padding by P (0: no crops)", .show = 1 },                                                 \
    { "--no-flip", CLI_SET, CLI_TA(o.flip), .min = 0, .help = "no random horizontal flips" },                               \
    { "--seed", CLI_INT64, CLI_TA(seed), .min = 0, .max = INT64_MAX, .arg = "N", .help = "shuffling and augmentation seed", .show = 1 }, \
    { "--train-limit", CLI_INT64, CLI_TA(o.train_limit), .min = 1, .max = INT64_MAX, .arg = "N",                             \
      .help = "train on the first N training images only" },                                                                \
    { "--val-limit", CLI_INT64, CLI_TA(o.val_limit), .min = 1, .max = INT64_MAX, .arg = "N",                                 \
      .help = "evaluate on the first N val images only" },                                                                  \
    { "--max-steps", CLI_INT64, CLI_TA(o.max_steps), .min = 1, .max = INT64_MAX, .arg = "N",                                 \
      .help = "stop after N steps (checkpointed)" },                                                                        \
    { "--checkpoint", CLI_STR, CLI_TA(o.checkpoint), .arg = "C", .help = "the checkpoint (default: OUT with .ckpt.safetensors)" }, \
    { "--resume", CLI_STR, CLI_TA(o.resume), .arg = "C", .help = "continue from checkpoint C exactly" }


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
