/* test_apply.c — compression end to end on a small trained-shape network: every example config in
 * configs/compress/ applied, saved in the compressed format, loaded back (same decoded weights,
 * same logits), the dequantized torchvision export reproducing the compressed logits, bit packing,
 * and the joint order (pruned weights stay zero through palettization and int8). */
#include "apply.h"
#include "check.h"
#include "config.h"
#include "fixture.h"
#include "format.h"
#include "rng.h"
#include "status.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#ifndef RN_SOURCE_DIR
#define RN_SOURCE_DIR "."
#endif
#define SEED 31337

static void test_packing(struct rng *r)
{
    for (int bits = 1; bits <= 8; bits++) {
        const int64_t n = 37;
        uint8_t v[37], back[37], packed[37];
        for (int i = 0; i < n; i++) v[i] = (uint8_t)rng_below(r, 1u << bits);
        format_pack_bits(v, n, bits, packed);
        format_unpack_bits(packed, n, bits, back);
        CHECK(memcmp(v, back, sizeof v) == 0);
        if (bits == 4) CHECK(packed[0] == (uint8_t)(v[0] | v[1] << 4));   /* LSB first */
    }
}

static struct resnet *fixture_net(void) { return fixture_net_seeded(SEED); }

static void logits_of(struct resnet *net, const float *x, int N, float *out)
{
    struct resnet_infer *ws = NULL;
    CHECK(resnet_infer_alloc(net, N, &ws) == STATUS_OK);
    if (ws) resnet_infer(ws, x, N, out);
    resnet_infer_free(ws);
}

static void test_config_file(const char *config, const struct dataset *calib, const float *x, int N)
{
    struct resnet *net = fixture_net();
    CHECK(net != NULL);
    if (!net) return;
    struct compress_plan plan;
    struct apply_result res;
    CHECK(compress_config_load(config, net, &plan) == STATUS_OK);
    int rc = compress_apply(net, &plan, calib, &res);
    int dkm = strstr(config, "dkm") != NULL;
    if (dkm) {
        /* Training-time palettization is refused with a pointer to finetune. */
        CHECK(rc == STATUS_BAD_INPUT && strstr(status_message(), "finetune"));
        compress_plan_free(&plan);
        resnet_free(net);
        return;
    }
    CHECK(rc == STATUS_OK);
    if (rc) {
        fprintf(stderr, "%s: %s\n", config, status_message());
        compress_plan_free(&plan);
        resnet_free(net);
        return;
    }
    const int K = net->cfg.n_classes;
    float *a = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N * K);
    logits_of(net, x, N, a);
    /* Pruned weights are exactly zero and stay so through the later stages. */
    for (int i = 0; i < res.n_layers; i++) {
        const struct compressed_weight *cw = &res.cw[i];
        if (!cw->mask) continue;
        int64_t zeros_ok = 1;
        for (int64_t e = 0; e < cw->OC * cw->K; e++) zeros_ok &= cw->mask[e] || cw->dense[e] == 0.0f;
        CHECK(zeros_ok);
    }
    const char *path = "test_apply_model.safetensors";
    CHECK(format_save(path, net, &plan, res.cw, res.aq, NULL) == STATUS_OK);
    CHECK(format_is_compressed(path));
    struct resnet *back = NULL;
    struct compressed_weight *cw = NULL;
    CHECK(format_load(path, &back, &cw) == STATUS_OK);
    if (back) {
        for (int i = 0; i < res.n_layers; i++) {
            const int64_t n = res.cw[i].OC * res.cw[i].K;
            CHECK(memcmp(res.cw[i].dense, cw[i].dense, sizeof(float) * n) == 0);
        }
        logits_of(back, x, N, b);
        CHECK(memcmp(a, b, sizeof(float) * N * K) == 0);
        for (int i = 0; i <= back->n_conv; i++) compressed_weight_free(&cw[i]);
        free(cw);
        format_free_activations(back);
        resnet_free(back);
    }
    remove(path);
    if (!res.aq) {
        /* The dequantized export, refolded by a plain loader, gives the same logits. */
        const char *dq = "test_apply_dq.safetensors";
        CHECK(format_save_dequantized(net, dq) == STATUS_OK);
        struct resnet *plain = NULL;
        CHECK(resnet_alloc(&net->cfg, 1, &plain) == STATUS_OK);
        CHECK(plain && resnet_load_weights(plain, dq) == STATUS_OK);
        if (plain) {
            logits_of(plain, x, N, b);
            for (int i = 0; i < N * K; i++) CHECK_ABS(a[i], b[i], 1e-4 * (1 + fabs(a[i])));
        }
        resnet_free(plain);
        remove(dq);
    }
    printf("%-60s ok (%s)\n", config, res.aq ? "8-bit activations" : "weights only");
    free(a);
    free(b);
    apply_result_free(&res);
    format_free_activations(net);
    compress_plan_free(&plan);
    resnet_free(net);
}

/* The integer layers of W8A8 equal an int64 reference bit for bit: y = float(sum (q_x - zp) * q_w)
 * * (s_x * s_w) + bias (then ReLU), for each kind of convolution and the fc layer. */
static void test_int8_exact(const struct dataset *calib, struct rng *r)
{
    char config[1024];
    snprintf(config, sizeof config, "%s/configs/compress/w8a8.yaml", RN_SOURCE_DIR);
    struct resnet *net = fixture_net();
    struct compress_plan plan;
    struct apply_result res;
    CHECK(net && compress_config_load(config, net, &plan) == STATUS_OK);
    if (!net) return;
    CHECK(compress_apply(net, &plan, calib, &res) == STATUS_OK);
    CHECK(net->int_conv != NULL && res.aq != NULL);
    if (!res.aq) return;
    const struct act_quant *aq = res.aq;
    const int N = 2, site = 5;
    const struct act_qparams *p = &aq->qp[site];
    int checked = 0;
    for (int ci = 0; ci < net->n_conv; ci++) {
        if (!aq->qw[ci]) continue;
        const struct resnet_conv *c = &net->conv[ci];
        const int64_t n_in = (int64_t)c->d.IC * N * c->H * c->W, ohw = (int64_t)c->OH * c->OW;
        const int64_t n_out = c->d.OC * N * ohw, K = conv_k(&c->d);
        float *x = malloc(sizeof(float) * n_in), *y = malloc(sizeof(float) * n_out);
        int32_t *q = malloc(sizeof(int32_t) * n_in);
        for (int64_t i = 0; i < n_in; i++) {
            q[i] = (int32_t)rng_below(r, (uint64_t)(p->qmax - p->qmin + 1)) + p->qmin - p->zero_point;
            x[i] = p->scale * (float)q[i];
        }
        CHECK(net->int_conv(net->act_ctx, ci, site, x, N, NULL, 1, y) == 1);
        int same = 1;
        for (int oc = 0; oc < c->d.OC && same; oc++)
            for (int n = 0; n < N; n++)
                for (int oh = 0; oh < c->OH; oh++)
                    for (int ow = 0; ow < c->OW; ow++) {
                        int64_t acc = 0;
                        for (int64_t k = 0; k < K; k++) {
                            const int kw = (int)(k % c->d.KW), kh = (int)(k / c->d.KW % c->d.KH), ic = (int)(k / (c->d.KW * c->d.KH));
                            const int ih = oh * c->d.stride - c->d.pad + kh, iw = ow * c->d.stride - c->d.pad + kw;
                            if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                            acc += (int64_t)q[(((int64_t)ic * N + n) * c->H + ih) * c->W + iw] * (int64_t)aq->qw[ci][oc * K + k];
                        }
                        float want = (float)acc * (p->scale * aq->sw[ci][oc]) + c->bf[oc];
                        want = want < 0.0f ? 0.0f : want;
                        same &= y[((int64_t)oc * N + n) * ohw + oh * c->OW + ow] == want;
                    }
        CHECK(same);
        if (!same) fprintf(stderr, "int8 conv %s differs from the int64 reference\n", c->name);
        checked++;
        free(x);
        free(y);
        free(q);
    }
    printf("int8 layers: %d convs equal their int64 reference\n", checked);
    CHECK(checked > 10);
    apply_result_free(&res);
    format_free_activations(net);
    compress_plan_free(&plan);
    resnet_free(net);
}

int main(void)
{
    printf("seed %d\n", SEED);
    ops_set_threads(2);
    struct rng r;
    rng_seed(&r, SEED);
    test_packing(&r);

    /* Calibration images and a test batch: random normalised 28x28 images. */
    struct dataset calib;
    fixture_random_images(&calib, 64, &r);

    char dir[1024];
    snprintf(dir, sizeof dir, "%s/configs/compress", RN_SOURCE_DIR);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int n_configs = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        const size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        test_config_file(path, &calib, calib.images, 4);
        n_configs++;
    }
    if (d) closedir(d);
    CHECK(n_configs >= 10);
    test_int8_exact(&calib, &r);
    dataset_free(&calib);
    return check_summary();
}
