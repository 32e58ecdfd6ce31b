/* test_space.c — the search-space reader: the committed spaces load with the values they list;
 * defaults; and every error path names file:line, the key and what was expected. */
#include "check.h"
#include "space.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

static char dir[] = "/tmp/test_space_XXXXXX";

static int load_text(const char *text, struct space *s)
{
    char path[256];
    snprintf(path, sizeof path, "%s/space.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return space_load(path, s);
}

/* The load fails with STATUS_BAD_INPUT and the message holds "space.yaml:LINE:" and every
 * fragment given. */
static void expect_error(const char *text, int line, const char *frag1, const char *frag2)
{
    struct space s;
    const int rc = load_text(text, &s);
    char where[32];
    snprintf(where, sizeof where, "space.yaml:%d:", line);
    const char *msg = status_message();
    CHECK(rc == STATUS_BAD_INPUT);
    CHECK(strstr(msg, where) != NULL);
    CHECK(strstr(msg, frag1) != NULL);
    CHECK(!frag2 || strstr(msg, frag2) != NULL);
    CHECK(s.n_n_bits == 0 && s.workflows == 0);   /* zeroed, never half filled */
    if (rc != STATUS_BAD_INPUT || !strstr(msg, where) || !strstr(msg, frag1) || (frag2 && !strstr(msg, frag2)))
        fprintf(stderr, "  message was: %s\n", msg);
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    struct space s;
    CHECK(space_load(RN_SOURCE_DIR "/configs/spaces/default.yaml", &s) == STATUS_OK);
    CHECK(s.n_n_bits == 5 && s.n_bits[0] == 2 && s.n_bits[4] == 8);
    CHECK(s.n_group == 2 && s.group[0] == 0 && s.group[1] == 16);
    CHECK(s.n_sparsity == 2 && s.sparsity[0] == 0.25 && s.sparsity[1] == 0.5);
    CHECK(s.w8a8 == 1 && s.w8a16 == 1);
    CHECK(s.workflows == (SPACE_PTQ | SPACE_CALIB | SPACE_FINETUNE));   /* finetune: when --workflows asks */
    CHECK(s.joint == (SPACE_JOINT_PRUNE_PAL | SPACE_JOINT_PRUNE_QUANT));
    CHECK(s.per_layer == 1 && s.n_layer_bits == 5 && s.layer_bits[0] == 1);
    CHECK(s.n_layer_sparsity == 2 && s.layer_sparsity[0] == 0.9 && s.layer_sparsity[1] == 0.95);
    CHECK(s.n_leave_alone == 0);
    CHECK(space_load(RN_SOURCE_DIR "/configs/spaces/tiny.yaml", &s) == STATUS_OK);
    CHECK(s.n_leave_alone == 1 && space_leaves_alone(&s, "layer1.0.conv1") && space_leaves_alone(&s, "layer3.3.conv3"));
    CHECK(!space_leaves_alone(&s, "layer4.0.conv1") && !space_leaves_alone(&s, "xlayer1.0.conv1"));

    /* Defaults: workflows ptq, per_tensor granularity, no mixing. */
    CHECK(load_text("palettization:\n  n_bits: [4]\n", &s) == STATUS_OK);
    CHECK(s.workflows == SPACE_PTQ && s.n_group == 1 && s.group[0] == 0 && s.per_layer == 0 && s.joint == 0);
    CHECK(load_text("quantization: {w8a8: true}\nper_layer: false\n", &s) == STATUS_OK && s.w8a8 && !s.w8a16);

    CHECK(space_load("/nonexistent/space.yaml", &s) == STATUS_IO);
    CHECK(strstr(status_message(), "/nonexistent/space.yaml") != NULL);

    expect_error("palettization:\n  n_bits: [2, 9]\n", 2, "palettization.n_bits", "'9'");
    expect_error("palettization:\n  n_bits: [2,\n    4, 4]\n", 3, "appears twice", NULL);
    expect_error("palettization:\n  n_bit: [2]\n", 2, "unknown key 'n_bit'", "n_bits");
    expect_error("palettization:\n  n_bits: 4\n", 2, "palettization.n_bits", "a list");
    expect_error("palettization:\n  n_bits: [4]\n  granularity: [per_channel]\n", 3, "palettization.granularity",
                 "per_tensor or a group size");
    expect_error("palettization:\n  n_bits: [4]\n  granularity: [0]\n", 3, "palettization.granularity", "1..65536");
    expect_error("pruning:\n  sparsity: [0.5, 1.0]\n", 2, "pruning.sparsity", "0 < s < 1");
    expect_error("pruning:\n  sparsity: [abc]\n", 2, "'abc'", NULL);
    expect_error("quantization:\n  w8a8: maybe\n", 2, "quantization.w8a8", "true or false");
    expect_error("pruning:\n  sparsity: [0.5]\nworkflows: [ptq, qat]\n", 3, "unknown value 'qat'", "ptq, calib, finetune");
    expect_error("pruning:\n  sparsity: [0.5]\nworkflows: []\n", 3, "workflows", "at least one");
    expect_error("pruning:\n  sparsity: [0.5]\njoint: [prune+dance]\n", 3, "joint", "prune+palettize");
    expect_error("pruning:\n  sparsity: [0.5]\nper_layer: true\n", 3, "per_layer", "needs its choices");
    expect_error("pruning:\n  sparsity: [0.5]\nper_layer:\n  n_bits: [0]\n", 4, "per_layer.n_bits", "1..8");
    expect_error("pruning:\n  sparsity: [0.5]\nleave_alone: [\"layer(\"]\n", 3, "not a usable regex", NULL);
    /* Found by fuzzing: stacked quantifiers made glibc's regcomp take ~2.8 GB. */
    expect_error("pruning:\n  sparsity: [0.5]\nleave_alone: ['la+++++++++++++++']\n", 3,
                 "a quantifier applied to a quantifier", "a POSIX extended regex");
    expect_error("pruning:\n  sparsity: [0.5]\nleave_alone: ['((a{200}){200})']\n", 3, "expand to more than", NULL);
    expect_error("pruning:\n  sparsity: [0.5]\npruning:\n  sparsity: [0.25]\n", 3, "appears twice", NULL);
    expect_error("workflows: [ptq]\n", 1, "no compression choice", NULL);
    expect_error("- 1\n- 2\n", 1, "(top level)", "a mapping");
    expect_error("palettization:\n  n_bits: [4\n", 3, "not valid YAML", NULL);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_summary();
}
