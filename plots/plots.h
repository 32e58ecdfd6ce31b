/* plots.h — the Pareto plots of a search run, drawn by gnuplot from the run's result files
 * (issue 7, SPEC §7). This library reads files only (points.csv, front.json); it knows nothing of
 * the search, so `rn50-tune plot results/RUN` redraws a run from what it left on disk.
 *
 * plots_draw(run_dir) reads run_dir/points.csv (columns as search/report.h writes them, found by
 * header name) and run_dir/front.json's "run" object (baseline, threshold_top1, chosen_id), and
 * writes into run_dir/plots/ (created if missing):
 *   points.dat, front.dat, baseline.dat, chosen.dat   whitespace-separated data gnuplot reads
 *   acc_size.gp, acc_latency.gp, size_latency.gp       the gnuplot scripts, kept beside the data
 *   acc_size.{png,svg}        top-1 (val) against size (MB): all points, the front as a line,
 *                             baseline marked, budget threshold as a horizontal line, chosen labelled
 *   acc_latency.{png,svg}     top-1 (val) against predicted latency (ms), same marks
 *   size_latency.{png,svg}    size against latency, points coloured by top-1 (palette), front ringed
 * PNG uses gnuplot's pngcairo terminal when it has one, else png. When gnuplot cannot be run (not
 * installed, not on PATH) a one-line warning goes to stderr, the data and scripts are still written
 * and the call succeeds; the images are then absent. */
#ifndef RN_PLOTS_H
#define RN_PLOTS_H

/* Returns STATUS_OK (also when gnuplot is missing: *drew tells), STATUS_BAD_INPUT (points.csv or
 * front.json malformed, message names file and line) or STATUS_IO. */
int plots_draw(const char *run_dir);

/* As plots_draw; *drew (may be NULL) is set to 1 when gnuplot ran and produced every image, 0 when
 * only the data and scripts were written. */
int plots_draw_ex(const char *run_dir, int *drew);

#endif
