/* main.c — the rn50-tune program: a thin dispatcher over the commands in cli.h. */
#include "cli.h"
#include "dist.h"
#include "ops.h"
#include "status.h"

#include <stdio.h>
#include <string.h>

static const char main_usage[] =
    "usage: rn50-tune COMMAND [options]   (rn50-tune COMMAND --help for each)\n"
    "\n"
    "commands:\n"
    "  eval     top-1/top-5 accuracy of a model on a dataset split\n"
    "  infer    logits for images in a .npy file\n"
    "  bench    latency of forward passes (or training steps)\n"
    "  train    train a model (SGD, cosine schedule, checkpoints, resume)\n"
    "  compress compress a model with a config (palettization, pruning, int8) into a file\n"
    "  size     deployment (Core ML mlpackage) size of a model under a config\n"
    "  finetune compress while training (DKM palettization, scheduled pruning) into a file\n"
    "  tune     search compressions: Pareto front of accuracy, size, latency under a budget\n"
    "           (the default: `rn50-tune --objective size --budget 5%` runs tune)\n"
    "  plot     redraw a run's Pareto plots (PNG, SVG via gnuplot) from results/RUN's files\n"
    "  report   rebuild a run's report.html (one self-contained page) from results/RUN's files\n"
    "  profile  measure this machine's compressed kernels (per layer) for its cost model\n"
    "  cost     fit a device's latency model (cost fit), predict a model's latency (cost predict)\n"
    "\n"
    "example: rn50-tune --objective size --budget 5%   (tune the embedded rn50-fmnist)\n";

/* The command's exit code; several ranks end together (see main). */
static int run_command(int argc, char **argv)
{
    static const struct { const char *name; int (*run)(int, char **); } commands[] = {
        { "eval", cmd_eval }, { "infer", cmd_infer }, { "bench", cmd_bench }, { "train", cmd_train },
        { "compress", cmd_compress }, { "size", cmd_size }, { "finetune", cmd_finetune }, { "tune", cmd_tune },
        { "plot", cmd_plot }, { "report", cmd_report }, { "profile", cmd_profile }, { "cost", cmd_cost },
    };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(main_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* An option first means the main job: `rn50-tune --objective size --budget 5%`. */
    if (strncmp(argv[1], "--", 2) == 0) return cmd_tune(argc, argv);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "rn50-tune: error: unknown command '%s' (expected tune, eval, infer, bench, train, finetune, compress, size, plot, report, profile or cost; see rn50-tune --help)\n", argv[1]);
    return 2;
}

int main(int argc, char **argv)
{
    if (dist_init(&argc, &argv)) return cli_fail(STATUS_BAD_INPUT);
    if (dist_size() > 1) {
        /* Only the commands that evaluate spread over ranks; the others would have every rank
         * write the same files (profile would time kernels that share the cores). */
        const char *cmd = argc < 2 ? "" : strncmp(argv[1], "--", 2) == 0 ? "tune" : argv[1];
        if (strcmp(cmd, "tune") != 0 && strcmp(cmd, "eval") != 0) {
            status_error(STATUS_BAD_INPUT, "%s runs on one rank only, not %d (only tune and eval spread over ranks): run it without mpirun or srun",
                         cmd[0] ? cmd : "rn50-tune without a command", dist_size());
            const int code = cli_fail(STATUS_BAD_INPUT);
            dist_finalize();
            return code;
        }
        ops_set_default_threads(dist_default_threads());
    }
    const int code = run_command(argc, argv);
    /* A failure every rank agreed on (dist_agree over all of them) ends each normally; any
     * other, on several ranks, ends the job at once: the one way that cannot leave a rank
     * waiting for another. */
    fflush(stdout);
    fflush(stderr);
    if (code != 0 && dist_size() > 1 && !dist_failed_together()) dist_abort(code);
    dist_finalize();
    return code;
}
