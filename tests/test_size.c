/* test_size.c — the deployment size model: byte counts, packing and alignment on tiny layers
 * computed by hand, the same from real compressed layers, the exact end of weight.bin, and the
 * published torchvision ResNet50 totals (fp16 48.8 MiB, 4-bit 12.5 MiB, 50 % / 75 % sparsity
 * 1.77x / 3.17x smaller than fp16), from shapes alone. */
#include "check.h"
#include "config.h"
#include "resnet.h"
#include "size.h"

#include <string.h>

/* Published tolerances (issue 4): totals and ratios within 2 %. */
#define PUBLISHED_TOL 0.02

static struct compress_layer_info layer(const char *name, int is_linear, int64_t OC, int64_t IC, int64_t K)
{
    struct compress_layer_info li;
    memset(&li, 0, sizeof li);
    snprintf(li.name, sizeof li.name, "%s", name);
    li.is_linear = is_linear;
    li.OC = OC;
    li.IC = IC;
    li.K = K;
    return li;
}

static struct layer_plan pal_plan(int n_bits, int group_size)
{
    struct layer_plan p;
    memset(&p, 0, sizeof p);
    p.pal.enabled = 1;
    p.pal.n_bits = n_bits;
    p.pal.granularity = group_size ? PAL_PER_GROUPED_CHANNEL : PAL_PER_TENSOR;
    p.pal.group_size = group_size;
    return p;
}

static struct layer_plan prune_plan(double s)
{
    struct layer_plan p;
    memset(&p, 0, sizeof p);
    p.prune.enabled = 1;
    p.prune.target_sparsity = s;
    return p;
}

static void hand_computed(void)
{
    struct layer_plan none;
    memset(&none, 0, sizeof none);
    struct size_layer s;

    /* Dense 4x9: 36 fp16 = 72 bytes -> record 64 + 128 padded; the 4-element bias is inline. */
    struct compress_layer_info a = layer("conv1", 0, 4, 1, 9);
    size_layer(&a, &none, NULL, &s);
    CHECK(s.blob_bytes == 192 && s.payload_bytes == 72 && s.tail_pad == 56);
    CHECK(s.n_blobs == 1 && s.n_inline == 1 && s.inline_bytes == 8);
    CHECK(!strcmp(s.scheme, "fp16"));

    /* 3-bit per tensor, 16x27 = 432 weights: ceil(432*3/8) = 162 bytes -> 64 + 192; the LUT has
     * 8 < 10 entries, so it is inline (16 bytes); bias 16 fp16 = 32 bytes -> 64 + 64. */
    struct compress_layer_info b = layer("layer1.0.conv2", 0, 16, 3, 27);
    struct layer_plan p3 = pal_plan(3, 0);
    size_layer(&b, &p3, NULL, &s);
    CHECK(s.payload_bytes == 162 + 32 && s.blob_bytes == 256 + 128 && s.inline_bytes == 16);
    CHECK(s.n_blobs == 2 && s.n_inline == 1 && !strcmp(s.scheme, "lut3"));
    /* group_size 4: 4 LUTs in one constant of 32 entries (64 bytes) -> a blob of 128. */
    p3 = pal_plan(3, 4);
    size_layer(&b, &p3, NULL, &s);
    CHECK(s.blob_bytes == 256 + 128 + 128 && s.inline_bytes == 0 && s.n_blobs == 3);
    /* Ragged: 10 channels in groups of 4: coremltools stores the layer in fp16 (270 weights). */
    struct compress_layer_info b10 = layer("x", 0, 10, 3, 27);
    size_layer(&b10, &p3, NULL, &s);
    CHECK(s.payload_bytes == 270 * 2 + 20 && !strcmp(s.scheme, "fp16"));
    /* channel_axis 1 groups input channels: 3 channels in groups of 3 -> 1 LUT of 8 entries
     * (inline); in groups of 2 they do not divide: fp16. */
    p3 = pal_plan(3, 3);
    p3.pal.channel_axis = 1;
    size_layer(&b, &p3, NULL, &s);
    CHECK(s.payload_bytes == 162 + 32 && s.inline_bytes == 16);
    p3.pal.group_size = 2;
    size_layer(&b, &p3, NULL, &s);
    CHECK(s.payload_bytes == 432 * 2 + 32);
    /* The program: a dense conv, and what a palettized or pruned form adds (measured, size.h). */
    struct layer_plan fp16_plan = { 0 };
    size_layer(&b, &fp16_plan, NULL, &s);
    const size_t prog_dense = s.program_bytes;
    CHECK(prog_dense == SIZE_CONV_LAYER_BYTES);
    p3 = pal_plan(3, 0);
    size_layer(&b, &p3, NULL, &s);
    CHECK(s.program_bytes == prog_dense + SIZE_LUT_BYTES);

    /* Packing is LSB-first with no per-row padding: 17 1-bit indices are 3 bytes, 15 5-bit are
     * 75 bits = 10 bytes. */
    struct compress_layer_info c17 = layer("x", 0, 1, 17, 17);
    struct layer_plan p1 = pal_plan(1, 0);
    size_layer(&c17, &p1, NULL, &s);
    CHECK(s.payload_bytes == 3 && s.inline_bytes == 4 + 2);   /* LUT of 2 and bias of 1: inline */
    struct compress_layer_info c15 = layer("x", 0, 3, 5, 5);
    struct layer_plan p5 = pal_plan(5, 0);
    size_layer(&c15, &p5, NULL, &s);
    CHECK(s.payload_bytes == 10 + 64 && s.blob_bytes == (64 + 64) * 2 && s.inline_bytes == 6);

    /* Sparse 50 % of 8x25 = 200: 100 kept; mask 25 bytes -> 128; 200 bytes of fp16 -> 64 + 256;
     * bias of 8 inline. */
    struct compress_layer_info d = layer("x", 0, 8, 1, 25);
    struct layer_plan sp = prune_plan(0.5);
    size_layer(&d, &sp, NULL, &s);
    CHECK(s.n_nonzero == 100 && s.payload_bytes == 225 && s.blob_bytes == 128 + 320 && s.inline_bytes == 16);
    CHECK(!strcmp(s.scheme, "sparse50.0%"));
    /* ceil(200 * 0.67) = 134 kept; 0.3 -> exactly 140 (no binary-rounding 141). */
    sp = prune_plan(0.33);
    size_layer(&d, &sp, NULL, &s);
    CHECK(s.n_nonzero == 134);
    sp = prune_plan(0.3);
    size_layer(&d, &sp, NULL, &s);
    CHECK(s.n_nonzero == 140);
    /* per_channel keeps whole rows: ceil(8 * 0.5) = 4 rows of 25; n:m 2:4 zeroes 2 in each of
     * 6 full groups of a 25-long row: 8 * (25 - 12) kept. */
    sp = prune_plan(0.5);
    sp.prune.granularity = PRUNE_PER_CHANNEL;
    size_layer(&d, &sp, NULL, &s);
    CHECK(s.n_nonzero == 100);
    sp = prune_plan(0.6);
    sp.prune.granularity = PRUNE_PER_CHANNEL;
    size_layer(&d, &sp, NULL, &s);
    CHECK(s.n_nonzero == 4 * 25);
    sp = prune_plan(0.5);
    sp.prune.n_m_n = 2;
    sp.prune.n_m_m = 4;
    size_layer(&d, &sp, NULL, &s);
    CHECK(s.n_nonzero == 8 * 13);

    /* Sparse + 2-bit: mask 25 + indices of the 100 nonzeros 25 bytes + inline LUT of 4. */
    struct layer_plan spal = prune_plan(0.5);
    spal.pal = pal_plan(2, 0).pal;
    size_layer(&d, &spal, NULL, &s);
    CHECK(s.payload_bytes == 50 && s.blob_bytes == 256 && s.inline_bytes == 8 + 16);
    CHECK(!strcmp(s.scheme, "sparse50.0%+lut2"));

    /* int8 12x20: 240 bytes -> 64 + 256; scale 12 fp16 -> 128; bias -> 128; affine adds an int8
     * zero-point vector (12 bytes -> 128). */
    struct compress_layer_info e = layer("fc", 1, 12, 20, 20);
    struct layer_plan q;
    memset(&q, 0, sizeof q);
    q.quant.enabled = 1;
    q.quant.symmetric = 1;
    size_layer(&e, &q, NULL, &s);
    CHECK(s.blob_bytes == 320 + 128 + 128 && s.payload_bytes == 240 + 24 + 24 && !strcmp(s.scheme, "int8"));
    q.quant.symmetric = 0;
    size_layer(&e, &q, NULL, &s);
    CHECK(s.blob_bytes == 320 + 128 * 3 && !strcmp(s.scheme, "int8-affine"));
    /* Palettized and quantized: the fp16 LUT stays, quantization is the activations' only. */
    q.quant.symmetric = 1;
    q.pal = pal_plan(4, 0).pal;
    size_layer(&e, &q, NULL, &s);
    CHECK(s.payload_bytes == 120 + 32 + 24);

    /* From a real compressed layer: its own nonzero count and group count win over the plan. */
    uint8_t mask[200];
    float dense[200];
    uint16_t lut[32];
    uint8_t idx[200];
    struct compressed_weight cw;
    memset(&cw, 0, sizeof cw);
    cw.OC = 8;
    cw.K = 25;
    cw.mask = mask;
    cw.n_nonzero = 77;
    cw.n_bits = 4;
    cw.n_groups = 2;
    cw.lut = lut;
    cw.indices = idx;
    cw.dense = dense;
    size_layer(&d, &sp, &cw, &s);
    /* mask 25 -> 128; 77 4-bit indices = 39 bytes -> 128; 32-entry LUT = 64 bytes -> 128. */
    CHECK(s.n_nonzero == 77 && s.payload_bytes == 25 + 39 + 64 && s.blob_bytes == 3 * 128);
    CHECK(size_layer_bytes(&d, &sp, &cw) == s.bytes);

    /* Whole file: header 64; blob 1 record at 64, 72 bytes of data to 200; record 2 at 256, 600
     * bytes to 920; record 3 at 960, 20 bytes to 1044, where the file ends (no trailing pad). */
    struct compress_plan plan;
    memset(&plan, 0, sizeof plan);
    struct compress_layer_info infos[2] = { layer("conv1", 0, 4, 1, 9), layer("fc", 1, 10, 30, 30) };
    struct layer_plan plans[2];
    memset(plans, 0, sizeof plans);
    plan.n_layers = 2;
    plan.info = infos;
    plan.layer = plans;
    struct size_report rep;
    CHECK(size_model(&plan, NULL, &rep) == 0);
    CHECK(rep.weight_file_bytes == 1044);
    CHECK(rep.total_bytes == rep.weight_file_bytes + rep.program_bytes);
    CHECK(rep.program_bytes == SIZE_PACKAGE_FIXED_BYTES + rep.layer[0].program_bytes + rep.layer[0].inline_bytes +
                                   rep.layer[1].program_bytes + rep.layer[1].inline_bytes);
    size_report_free(&rep);
    size_report_free(&rep);
    size_report_free(NULL);
}

/* Sets every layer with more than 2048 weights (coremltools' default threshold) to lp. */
static void plan_all(struct compress_plan *plan, const struct layer_plan *lp)
{
    for (int i = 0; i < plan->n_layers; i++) {
        memset(&plan->layer[i], 0, sizeof plan->layer[i]);
        if (plan->info[i].OC * plan->info[i].K > plan->weight_threshold) plan->layer[i] = *lp;
    }
}

static double model_bytes(struct compress_plan *plan, const struct layer_plan *lp, const char *what)
{
    struct layer_plan none;
    memset(&none, 0, sizeof none);
    plan_all(plan, lp ? lp : &none);
    struct size_report rep;
    CHECK(size_model(plan, NULL, &rep) == 0);
    printf("  %-24s weight.bin %10zu B  program %7zu B  total %10zu B = %7.3f MiB\n", what, rep.weight_file_bytes,
           rep.program_bytes, rep.total_bytes, rep.mib);
    const double b = (double)rep.total_bytes;
    size_report_free(&rep);
    return b;
}

static void published_resnet50(void)
{
    struct resnet_config cfg;
    struct resnet *net = NULL;
    CHECK(resnet_config_load("resnet50", &cfg) == 0);
    CHECK(resnet_alloc(&cfg, 1, &net) == 0);
    if (!net) return;
    struct compress_plan plan;
    CHECK(compress_plan_init_empty(net, &plan) == 0);
    CHECK(plan.n_layers == 54);
    int64_t n = 0;
    for (int i = 0; i < plan.n_layers; i++) n += plan.info[i].OC * plan.info[i].K;
    CHECK(n == 25502912);   /* torchvision's 25,557,032 parameters less BatchNorm and fc bias */

    printf("torchvision resnet50, from shapes alone (published figures in parentheses):\n");
    const double mib = 1024.0 * 1024.0;
    const double fp16 = model_bytes(&plan, NULL, "fp16 (48.8 MiB)");
    struct layer_plan p4 = pal_plan(4, 0);
    const double lut4 = model_bytes(&plan, &p4, "4-bit per tensor (12.5)");
    struct layer_plan s50 = prune_plan(0.5), s75 = prune_plan(0.75);
    const double sp50 = model_bytes(&plan, &s50, "50% sparse");
    const double sp75 = model_bytes(&plan, &s75, "75% sparse");
    struct layer_plan g16 = pal_plan(4, 16);
    model_bytes(&plan, &g16, "4-bit group_size 16");
    struct layer_plan w8;
    memset(&w8, 0, sizeof w8);
    w8.quant.enabled = w8.quant.symmetric = w8.quant.activations = 1;
    model_bytes(&plan, &w8, "W8A8");
    printf("  fp16 %.3f MiB (%+.2f %%), 4-bit %.3f MiB (%+.2f %%), 50%% sparse %.3fx (1.77x, %+.2f %%), "
           "75%% sparse %.3fx (3.17x, %+.2f %%)\n",
           fp16 / mib, 100 * (fp16 / mib / 48.8 - 1), lut4 / mib, 100 * (lut4 / mib / 12.5 - 1), fp16 / sp50,
           100 * (fp16 / sp50 / 1.77 - 1), fp16 / sp75, 100 * (fp16 / sp75 / 3.17 - 1));
    CHECK_REL(fp16 / mib, 48.8, PUBLISHED_TOL);
    CHECK_REL(lut4 / mib, 12.5, PUBLISHED_TOL);
    CHECK_REL(fp16 / sp50, 1.77, PUBLISHED_TOL);
    CHECK_REL(fp16 / sp75, 3.17, PUBLISHED_TOL);
    compress_plan_free(&plan);
    resnet_free(net);
}

int main(void)
{
    hand_computed();
    published_resnet50();
    return check_summary();
}
