/* device.h — device profiles (configs/devices/NAME.yaml): the fitted cost model with its
 * provenance, read strictly and written whole. struct cost_model (opaque in cost.h) is defined
 * here for the cost commands, the fit and the tests.
 *
 * File shape (every key but machine/measurements/select/merged/fit/data is required):
 *
 *     device: cpu-local
 *     source: profile              # profile: measured here (rn50-tune profile) | table: imported
 *     machine: {cpu: "...", features: "...", cores: 2, threads: 2, date: "..."}   # profile only
 *     measurements: results/cost/cpu-local.csv   # the file the fit used (relative to the project)
 *     select: "device=iPhone 15 Pro;os=iOS18 seed"   # the rows of a table the fit used
 *     statistic: median            # of a profile's timed passes: median, p10 or min
 *     terms: {dense.gmacs: 12.5, net.one: 0.4, ...}   # ms per feature unit (cost/layer_features.h)
 *     merged: {net.out_m: net.one}   # terms the measurements could not separate (cost_fit): each
 *                                    # has coefficient 0 in terms, the named term carries its cost
 *     fit: {rows: 3300, layer_rows: 3240, configs: 60, rank: 30, fit_mape_pct: 1.1,
 *           fit_max_pct: 3.0, loo_mape_pct: 1.4, loo_max_pct: 4.2, loo_deficient_folds: 0}
 *     data:                        # the end-to-end rows used: measured, fitted, leave-one-out
 *       - {config: dense, model: resnet50, measured_ms: 80.1, fitted_ms: 79.6, loo_ms: 79.2}
 */
#ifndef RN_COST_DEVICE_H
#define RN_COST_DEVICE_H

#include "cost.h"
#include "layer_features.h"
#include "fit.h"
#include "machine.h"

#include <stdio.h>

enum cost_source { COST_SOURCE_PROFILE, COST_SOURCE_TABLE, COST_SOURCE_COUNT };

struct cost_data_row {
    char config[64];
    char model[64];
    double measured_ms, fitted_ms, loo_ms;
};

struct cost_model {
    char path[512];               /* the file it was read from, or "" */
    char device[64];
    enum cost_source source;
    int has_machine;
    struct cost_machine machine;
    char measurements[512];
    char select[256];
    char statistic[16];           /* of the profile's passes the fit used: median, p10, min or quiet ("": a table) */
    double coef[COST_TERMS];
    unsigned char used[COST_TERMS];
    /* merged[t]: term t was merged by the fit (coefficient 0); merged_into[t] is the kept term with
     * the largest share of the combination it equals in the measurements. */
    unsigned char merged[COST_TERMS];
    int merged_into[COST_TERMS];
    struct {
        int rows, layer_rows, configs, rank, loo_deficient;
        double fit_mape, fit_max, loo_mape, loo_max;   /* percent */
    } fit;
    int n_data;
    struct cost_data_row *data;   /* owned */
};

/* The profile file for `device`: a bare name is HOME/configs/devices/NAME.yaml (HOME:
 * $RN50_TUNE_HOME, else this source tree), a name with '/' or ending in .yaml is itself. */
void cost_device_path(const char *device, char *buf, size_t cap);

/* Reads a profile without the machine check (cost_model_load adds it). */
int cost_model_read(const char *path, struct cost_model **out);
/* Writes m to path atomically (model/atomic_file.h). */
int cost_model_write(const struct cost_model *m, const char *path);

/* Fills m's coefficients, fit statistics and data rows from a fit over samples s[0..n). */
int cost_model_set_fit(struct cost_model *m, const struct cost_fit_result *r, const struct cost_sample *s, int n);

/* Default terms (comma-separated "group.feature") for measurements from this machine's profiler
 * and for imported end-to-end tables. */
extern const char cost_default_terms_profile[];
extern const char cost_default_terms_table[];

/* Calibrates a device: reads `measurements` (profile CSV or table; select and table_model as in
 * cost_measurements_read; statistic NULL: p10), fits `terms` (NULL: the default for the file's kind), and writes the
 * profile to out_path (NULL: cost_device_path(device)). *out (may be NULL) receives the model,
 * and, when non-NULL, the fit's per-configuration table is printed to `report`. */
int cost_calibrate(const char *device, const char *measurements, const char *select, const char *table_model,
                   const char *terms, const char *statistic, const char *out_path, FILE *report, struct cost_model **out);

/* The command that re-profiles this machine (printed in warnings and written in profiles). */
#define COST_REPROFILE_COMMAND "rn50-tune profile --device cpu-local --fit"

#endif
