/* profile.h — measuring this machine (cpu-local) and reading measurements back for the fit.
 *
 * The profiler builds compressed networks (compress_apply on random weights: latency does not
 * depend on the weights' values) for a designed set of configurations — every kernel kind, bit
 * widths, group sizes, sparsities, W8A8, joint forms, a few per-layer mixtures — or for random
 * held-out ones, and times batch-1 forward passes (resnet_infer): warm-up passes first, then
 * repetitions interleaved across the configurations of a group (so that a burst of load from
 * another process spreads over all of them instead of biasing one), medians per network and per
 * layer (resnet_infer_set_profile).
 *
 * Measurements file (CSV, '#' lines are metadata: cpu, features, cores, threads, date, command):
 *
 *     config,model,scope,layer,spec,kind,reps,median_ms,q1_ms,q3_ms,p10_ms,min_ms,quiet_ms,rq_delay_ms
 *     d-lut4,resnet50,network,,lut4,,40,81.2,80.9,81.8,80.5,80.1,80.6,0.4
 *     d-lut4,resnet50,layer,conv1,lut4,lut,40,2.31,2.29,2.40,2.28,2.27,2.30,
 *
 * The statistics are over the timed passes: median and quartiles, the 10th percentile, the
 * minimum, and `quiet`: the median over the quarter of the passes (at least 5) during which this
 * process's threads waited least for a CPU (Linux run-queue delay, /proc/self/task/TID/schedstat;
 * rq_delay_ms is its median per pass). On a machine shared with other jobs the quiet passes are
 * the ones that measure our kernels rather than the others' load; per-layer quiet times are
 * taken over the same passes, so they add up like the network's.
 * A configuration's layer rows define its plan (spec per layer, cost/layer_features.h); their times
 * may be empty (not measured per layer). kind is the kernel the layer actually ran on. */
#ifndef RN_COST_PROFILE_H
#define RN_COST_PROFILE_H

#include "fit.h"
#include "machine.h"

#include <stdint.h>
#include <stdio.h>

#define COST_PROFILE_MAX_MODELS 8
#define COST_PROFILE_HEADER \
    "config,model,scope,layer,spec,kind,reps,median_ms,q1_ms,q3_ms,p10_ms,min_ms,quiet_ms,rq_delay_ms"

struct cost_profile_opts {
    const char *models[COST_PROFILE_MAX_MODELS];   /* names or YAML model files */
    int n_models;
    int threads;            /* 0: all cores */
    int warmup;             /* untimed passes per configuration before timing */
    int min_reps;           /* timed passes per configuration at least ... */
    double seconds;         /* ... and until about this much time per model has been spent timing */
    int n_random;           /* 0: the designed set; N: N random configurations per model */
    uint64_t seed;          /* for the random configurations and the weights */
    int per_layer;          /* 1: per-layer times too */
    const char *configs_dir;   /* if set: each configuration also written there as a compression
                                  config (MODEL-CONFIG.yaml), read back and checked */
    const char *command;    /* the command line, recorded in the file */
    FILE *progress;         /* progress lines, or NULL */
};

/* Runs the measurements and writes the CSV to out_csv atomically. */
int cost_profile_run(const struct cost_profile_opts *o, const char *out_csv);

/* Measurements read back: configurations as fit samples, with the networks they refer to. */
struct cost_measurements {
    int has_machine;
    struct cost_machine machine;
    int n_nets;
    char net_names[COST_PROFILE_MAX_MODELS][64];
    struct resnet *nets[COST_PROFILE_MAX_MODELS];   /* owned, architecture only (random weights) */
    int n;
    struct cost_sample *s;                          /* [n], owned */
};

/* Reads a measurements CSV written by cost_profile_run, or an end-to-end table in the shape of
 * data/apple_published_resnet50.csv (columns palettize_bits, granularity, group_size, sparsity,
 * weight_int8, act_int8, latency_ms; other columns are ignored or used by `select`) whose rows
 * are all of `table_model`. select: "COLUMN=VALUE;COLUMN=VALUE" keeps only the matching rows
 * (NULL or "": all). Rows with an empty latency are skipped. Errors name file, line and column. */
enum cost_stat { COST_STAT_MEDIAN, COST_STAT_P10, COST_STAT_MIN, COST_STAT_QUIET, COST_STAT_COUNT };
const char *cost_stat_name(enum cost_stat s);   /* "median", "p10", "min", "quiet" */
int cost_stat_parse(const char *name);           /* or -1 */

/* stat: which statistic of a profile's timed passes to read (tables have one latency). */
int cost_measurements_read(const char *path, const char *select, const char *table_model, enum cost_stat stat,
                           struct cost_measurements *m);
void cost_measurements_free(struct cost_measurements *m);

/* Builds the plan of `spec` applied to every layer of net with more than `threshold` weights
 * (the others stay dense, as a compression config's weight_threshold leaves them). */
int cost_plan_uniform(const struct resnet *net, const char *spec, int64_t threshold, struct compress_plan *plan);

/* Writes plan as a compression config (module_name_configs with each layer's exact name) that
 * compress_config_load resolves back to the same plan on net. */
int cost_plan_write_config(const struct compress_plan *plan, const char *path);

#endif
