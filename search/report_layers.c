/* report_layers.c — the report page's per-layer sections (report_html.h): the sensitivity heat map
 * (layers x single-layer choices, from the run's "sensitivity" evaluations in results.db) and the
 * chosen config per layer (its plan resolved on the model: kind, bits, group, sparsity, size by
 * compress/size.h, latency by the device profile's per-layer terms). */
#include "config.h"
#include "cost.h"
#include "html.h"
#include "kern_attach.h"
#include "layer_features.h"
#include "report_html_int.h"
#include "size.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHOICES 32

/* Column order: fp16, palettization by bits, pruning by sparsity, int8. */
static double choice_rank(const char *c)
{
    if (!strcmp(c, "fp16")) return 0;
    if (!strncmp(c, "pal", 3)) return 100 + strtod(c + 3, NULL);
    if (!strncmp(c, "prune", 5)) return 200 + strtod(c + 5, NULL);
    return 300 + (strcmp(c, "w8a8") == 0);
}

/* "s-LAYER-CHOICE" -> layer and choice; 0 if the name is not of that form. */
static int split_name(const char *name, char *layer, size_t nl, char *choice, size_t nc)
{
    const char *dash = strrchr(name, '-');
    if (strncmp(name, "s-", 2) || !dash || dash <= name + 2) return 0;
    snprintf(layer, nl, "%.*s", (int)(dash - name - 2), name + 2);
    snprintf(choice, nc, "%s", dash + 1);
    return 1;
}

struct heat {
    char (*layer)[48];
    int *order;                    /* [n_layers]: plan index, or INT_MAX-like when not in the plan */
    int n_layers;
    char choice[MAX_CHOICES][16];
    int n_choices;
    const struct db_eval **cell;   /* [n_layers * MAX_CHOICES], NULL: not measured */
};

static int find_layer(const struct heat *t, const char *name)
{
    for (int i = 0; i < t->n_layers; i++)
        if (!strcmp(t->layer[i], name)) return i;
    return -1;
}

static int find_choice(const struct heat *t, const char *name)
{
    for (int i = 0; i < t->n_choices; i++)
        if (!strcmp(t->choice[i], name)) return i;
    return -1;
}

static void heat_free(struct heat *t)
{
    free(t->layer);
    free(t->order);
    free(t->cell);
}

static const struct db_eval *sens_row(const struct db_eval *e, char *layer, size_t nl, char *choice, size_t nc)
{
    if (strcmp(e->stage, "sensitivity") || strcmp(e->split, "val") || e->n_images <= 0) return NULL;
    return split_name(e->name, layer, nl, choice, nc) ? e : NULL;
}

/* Layers (in the model's order when the plan is known, else as measured) and choices (by
 * choice_rank) first, then the cells. */
static int heat_build(const struct rh *h, struct heat *t)
{
    memset(t, 0, sizeof *t);
    const size_t cap = (size_t)h->n_rows + 1;
    t->layer = calloc(cap, sizeof *t->layer);
    t->order = calloc(cap, sizeof *t->order);
    t->cell = calloc(cap * MAX_CHOICES, sizeof *t->cell);
    if (!t->layer || !t->order || !t->cell) return -1;
    snprintf(t->choice[t->n_choices++], sizeof t->choice[0], "fp16");
    char layer[48], choice[16];
    for (int i = 0; i < h->n_rows; i++) {
        if (!sens_row(&h->rows[i], layer, sizeof layer, choice, sizeof choice)) continue;
        if (find_layer(t, layer) < 0) {
            const int li = t->n_layers++;
            snprintf(t->layer[li], sizeof t->layer[li], "%s", layer);
            t->order[li] = h->plan.n_layers + li;
            for (int l = 0; h->have_plan && l < h->plan.n_layers; l++)
                if (!strcmp(h->plan.info[l].name, layer)) t->order[li] = l;
        }
        if (find_choice(t, choice) < 0 && t->n_choices < MAX_CHOICES)
            snprintf(t->choice[t->n_choices++], sizeof t->choice[0], "%s", choice);
    }
    /* Insertion sorts: tens of layers and a handful of choices. */
    for (int i = 1; i < t->n_layers; i++)
        for (int j = i; j > 0 && t->order[j - 1] > t->order[j]; j--) {
            char tmp[48];
            memcpy(tmp, t->layer[j], sizeof tmp);
            memcpy(t->layer[j], t->layer[j - 1], sizeof tmp);
            memcpy(t->layer[j - 1], tmp, sizeof tmp);
            const int o = t->order[j];
            t->order[j] = t->order[j - 1];
            t->order[j - 1] = o;
        }
    for (int i = 1; i < t->n_choices; i++)
        for (int j = i; j > 0 && choice_rank(t->choice[j - 1]) > choice_rank(t->choice[j]); j--) {
            char tmp[16];
            memcpy(tmp, t->choice[j], sizeof tmp);
            memcpy(t->choice[j], t->choice[j - 1], sizeof tmp);
            memcpy(t->choice[j - 1], tmp, sizeof tmp);
        }
    for (int i = 0; i < h->n_rows; i++) {
        const struct db_eval *e = sens_row(&h->rows[i], layer, sizeof layer, choice, sizeof choice);
        const int li = e ? find_layer(t, layer) : -1, ci = e ? find_choice(t, choice) : -1;
        if (li >= 0 && ci >= 0) t->cell[li * MAX_CHOICES + ci] = e;
    }
    return 0;
}

/* The chosen plan's choice for a layer, or "" when unknown. */
static void chosen_choice(const struct rh *h, const char *layer, char *out, size_t n)
{
    out[0] = '\0';
    for (int l = 0; h->have_plan && l < h->plan.n_layers; l++)
        if (!strcmp(h->plan.info[l].name, layer)) rh_layer_choice(&h->plan.layer[l], out, n);
}

void rh_section_heatmap(struct rh *h)
{
    struct strbuf *b = h->b;
    strbuf_str(b, "<h2 id=sensitivity>Per-layer sensitivity</h2>");
    struct heat t;
    if (heat_build(h, &t)) {
        heat_free(&t);
        strbuf_str(b, "<p class=missing>out of memory building the heat map</p>");
        return;
    }
    if (t.n_layers == 0) {
        strbuf_str(b, "<p class=missing>This run has no sensitivity evaluations in results.db (a global-only run, a space "
                      "without per-layer choices, or a run made before they were stored): no heat map.</p>\n");
        heat_free(&t);
        return;
    }
    const double cap = h->budget_points > 0.5 ? h->budget_points : 0.5;
    int64_t n_img = 0;
    for (int i = 0; i < t.n_layers * MAX_CHOICES; i++)
        if (t.cell[i]) n_img = t.cell[i]->n_images;
    /* The baseline on the same images, for the change of loss. */
    double base_loss = NAN;
    for (int i = 0; i < h->n_rows; i++)
        if (!strcmp(h->rows[i].stage, "baseline") && !strcmp(h->rows[i].split, "val") && h->rows[i].n_images == n_img)
            base_loss = h->rows[i].loss / (double)n_img;
    strbuf_printf(b, "<p class=note>Each cell: that layer alone compressed with that choice, every other layer left fp16, "
                     "evaluated on the first %" PRId64 " val images. The number is the drop of top-1 in points against the "
                     "baseline on the same images (images it lost minus images it gained, over %" PRId64 "; negative: it scored "
                     "better); hover for the counts and the change of mean cross-entropy. The colour saturates at the budget "
                     "(%.2f points). A blank grey cell was not measured: that choice saves nothing on that layer (the search "
                     "never takes it). %s</p>",
                  n_img, n_img, cap, h->have_plan ? "A black frame marks the chosen config's choice for the layer." : "");
    if (h->have_plan && h->plan.n_layers > t.n_layers)
        strbuf_printf(b, "<p class=note>%d of the model's %d layers were measured; the others have at most the weight "
                         "threshold's %" PRId64 " weights or are left alone by the search space, and are never compressed.</p>",
                      t.n_layers, h->plan.n_layers, h->plan.weight_threshold);
    if (!h->have_plan) {
        strbuf_str(b, "<p class=missing>The chosen config's choices are not marked: ");
        html_text(b, h->plan_note);
        strbuf_str(b, "</p>");
    }
    strbuf_printf(b, "<div class=scroll><table class=heat><thead><tr><th>layer (%d)</th>", t.n_layers);
    for (int c = 0; c < t.n_choices; c++) {
        strbuf_str(b, "<th>");
        html_text(b, t.choice[c]);
        strbuf_str(b, "</th>");
    }
    strbuf_str(b, "<th>chosen</th></tr></thead><tbody>\n");
    for (int l = 0; l < t.n_layers; l++) {
        char pick[32];
        chosen_choice(h, t.layer[l], pick, sizeof pick);
        strbuf_str(b, "<tr><td class=layer>");
        html_text(b, t.layer[l]);
        strbuf_str(b, "</td>");
        for (int c = 0; c < t.n_choices; c++) {
            const struct db_eval *e = t.cell[l * MAX_CHOICES + c];
            const int is_pick = pick[0] && !strcmp(pick, t.choice[c]);
            const double drop = e ? 100.0 * (double)(e->lost - e->gained) / (double)e->n_images : c == 0 ? 0.0 : NAN;
            char col[8], title[256];
            int dark = 0;
            html_colour_drop(drop, cap, col, &dark);
            if (e)
                snprintf(title, sizeof title, "%s as %s: top-1 %.2f %% on val[:%" PRId64 "], %" PRId64 " images lost and %" PRId64
                         " gained against the baseline (drop %.2f points); mean cross-entropy %+.4f",
                         t.layer[l], t.choice[c], 100.0 * (double)e->correct / (double)e->n_images, e->n_images, e->lost, e->gained, drop,
                         e->loss / (double)e->n_images - base_loss);
            else
                snprintf(title, sizeof title, c == 0 ? "%s left fp16: the baseline" : "%s as %s: not measured (saves nothing)",
                         t.layer[l], t.choice[c]);
            strbuf_printf(b, "<td%s style=\"background:%s%s\" title=\"", is_pick ? " class=pick" : "", col, dark ? ";color:#fff" : "");
            html_text(b, title);
            strbuf_str(b, "\">");
            if (e || c == 0) html_num(b, "%.1f", drop);
            strbuf_str(b, "</td>");
        }
        strbuf_str(b, "<td>");
        html_text(b, pick[0] ? pick : h->have_plan ? "other" : "?");
        strbuf_str(b, "</td></tr>\n");
    }
    strbuf_str(b, "</tbody></table></div>\n");
    heat_free(&t);
}

void rh_section_layers(struct rh *h)
{
    struct strbuf *b = h->b;
    strbuf_str(b, "<h2 id=layers>Chosen config per layer</h2>");
    if (!h->have_plan) {
        strbuf_str(b, "<p class=missing>Not available: ");
        html_text(b, h->plan_note);
        strbuf_str(b, "</p>\n");
        return;
    }
    const struct compress_plan *p = &h->plan;
    double *ms = calloc((size_t)p->n_layers + 1, sizeof *ms), net_ms = NAN, total_ms = 0;
    struct size_layer *sl = calloc((size_t)p->n_layers + 1, sizeof *sl);
    if (!ms || !sl) {
        free(ms);
        free(sl);
        strbuf_str(b, "<p class=missing>out of memory</p>");
        return;
    }
    const int have_ms = h->cost && !cost_predict_layers(h->cost, h->net, p, ms, &net_ms);
    double total_b = 0;
    for (int i = 0; i < p->n_layers; i++) {
        size_layer(&p->info[i], &p->layer[i], NULL, &sl[i]);
        total_b += (double)sl[i].bytes;
        total_ms += have_ms ? ms[i] : 0;
    }
    if (have_ms) total_ms += net_ms;
    const struct report_point *c = report_chosen(&h->run, h->pts, h->n);
    strbuf_str(b, "<p class=note>The chosen point's config (");
    if (c) {
        strbuf_str(b, "<code>");
        html_text(b, c->config);
        strbuf_str(b, "</code>");
    }
    strbuf_str(b, ") resolved on the model. Size: the layer's weights and bias in the Core ML package from shapes "
                  "(compress/size.h; the package's program and header are not in a layer). ");
    if (have_ms) {
        strbuf_printf(b, "Latency: the per-layer terms of the device profile <code>");
        html_text(b, h->run.device);
        html_num(b, "</code> as it is now; they add up with %.4g ms of network-level work", net_ms);
        html_num(b, " to %.4g ms", total_ms);
        html_num(b, " (the run predicted %.4g ms for this point).", c ? c->latency_ms : NAN);
    } else {
        strbuf_str(b, "Latency: not available (");
        html_text(b, h->cost_note[0] ? h->cost_note : "the profile does not match the model");
        strbuf_str(b, ").");
    }
    strbuf_printf(b, "</p><div class=scroll><table class=sort><thead><tr><th>#</th><th>layer</th><th class=n>weights</th>"
                     "<th>kernel</th><th>scheme</th><th class=n>bits</th><th>group</th><th>algorithm</th><th class=n>sparsity</th>"
                     "<th class=n>size (bytes)</th><th class=n>size share</th><th class=n>latency (ms)</th><th class=n>latency share</th>"
                     "</tr></thead><tbody>\n");
    for (int i = 0; i < p->n_layers; i++) {
        const struct layer_plan *lp = &p->layer[i];
        const enum kern_kind kind = h->net ? kern_plan_layer_kind(p, i) : KERN_DENSE;
        strbuf_printf(b, "<tr><td class=n>%d</td><td><code>", i);
        html_text(b, p->info[i].name);
        strbuf_printf(b, "</code></td><td class=n>%" PRId64 "</td><td>%s</td><td>", p->info[i].OC * p->info[i].K, kern_kind_name(kind));
        html_text(b, sl[i].scheme);
        strbuf_str(b, "</td><td class=n>");
        if (lp->pal.enabled) strbuf_printf(b, "%d", lp->pal.n_bits);
        else strbuf_str(b, lp->quant.enabled ? "8" : "16");
        strbuf_str(b, "</td><td>");
        if (lp->pal.enabled && lp->pal.granularity == PAL_PER_GROUPED_CHANNEL) strbuf_printf(b, "%d channels", lp->pal.group_size);
        else strbuf_str(b, lp->pal.enabled ? "per tensor" : lp->quant.enabled ? "per channel" : "&ndash;");
        strbuf_str(b, "</td><td>");
        if (lp->pal.enabled) strbuf_str(b, compress_pal_algorithm_name(lp->pal.algorithm));
        if (lp->quant.enabled) strbuf_str(b, lp->quant.activations ? " int8 w + a" : " int8 w");
        if (lp->prune.enabled && lp->prune.reconstruct) strbuf_str(b, " refit");
        strbuf_str(b, "</td><td class=n>");
        if (lp->prune.enabled) html_num(b, "%.0f %%", 100 * lp->prune.target_sparsity);
        strbuf_printf(b, "</td><td class=n>%zu</td><td class=n>", sl[i].bytes);
        html_num(b, "%.1f %%", 100.0 * (double)sl[i].bytes / total_b);
        strbuf_str(b, "</td><td class=n>");
        html_num(b, "%.4f", have_ms ? ms[i] : NAN);
        strbuf_str(b, "</td><td class=n>");
        html_num(b, have_ms ? "%.1f %%" : "%.1f", have_ms ? 100.0 * ms[i] / total_ms : NAN);
        strbuf_str(b, "</td></tr>\n");
    }
    strbuf_str(b, "</tbody></table></div>\n");
    free(ms);
    free(sl);
}
