/* report_html.h — RUN/report.html (issue 21, SPEC §7): the whole run on one self-contained page a
 * person reads and sends on. No network, no external scripts, styles or fonts: CSS, a few lines of
 * JS and the plots (inline SVG) are in the file, and a Content-Security-Policy forbids the page
 * any load at all.
 *
 * Sections: the summary (baseline, chosen point, best global point, budget, hypervolume, wall
 * time, evaluations) and the best point per workflow; the three Pareto plots (top-1 against size
 * and against predicted latency, size against latency) with every evaluated point, screened ones
 * marked, the front, the budget line, the baseline and the chosen point; the per-layer
 * sensitivity heat map (each single-layer choice's accuracy drop against the baseline on the
 * same images, the chosen config's choice per layer marked); the chosen config per layer (kind,
 * bits, group, sparsity, size, predicted latency share); how the budget decision was made; the
 * commands that reproduce the run and the versions it was made with.
 *
 * Inputs, all from the run directory: points.csv and front.json (report.h), results.db (db.h:
 * every evaluation, screened and sensitivity ones included, and the provenance of
 * provenance.h), the chosen point's config file, and the device profile it names (for the
 * per-layer latency split; the profile as it is now). A section whose input is missing (an older
 * run without sensitivities or provenance, a model that cannot be built) says so on the page. */
#ifndef RN_REPORT_HTML_H
#define RN_REPORT_HTML_H

struct resnet;

/* Writes run_dir/report.html atomically. net: the run's model (for the per-layer sections; only
 * its architecture is used), or NULL to build it from front.json's model name (random weights).
 * Statuses: STATUS_BAD_INPUT naming the missing or malformed file when points.csv, front.json or
 * results.db is missing or unreadable as such (nothing is written); STATUS_IO when the page
 * cannot be written; STATUS_NOMEM. */
int report_html_write(const char *run_dir, const struct resnet *net);

#endif
