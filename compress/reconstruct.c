/* reconstruct.c — least-squares refit of pruned layers on calibration data (see reconstruct.h). */
#include "reconstruct.h"

#include "status.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void recon_patches(const float *x, int N, int n, int H, int W, const struct conv_desc *d, const int *pos, int n_pos,
                   float *out)
{
    const int OW = conv_out_size(W, d->KW, d->stride, d->pad);
    const int64_t K = conv_k(d);
    for (int j = 0; j < n_pos; j++) {
        const int oh = pos[j] / OW, ow = pos[j] % OW;
        float *row = out + (int64_t)j * K;
        int64_t k = 0;
        for (int c = 0; c < d->IC; c++) {
            const float *plane = x + ((int64_t)c * N + n) * H * W;
            for (int kh = 0; kh < d->KH; kh++) {
                const int ih = oh * d->stride - d->pad + kh;
                for (int kw = 0; kw < d->KW; kw++, k++) {
                    const int iw = ow * d->stride - d->pad + kw;
                    row[k] = ih >= 0 && ih < H && iw >= 0 && iw < W ? plane[(int64_t)ih * W + iw] : 0.0f;
                }
            }
        }
    }
}

/* Solves A x = r in place (A [n, n] symmetric positive definite, row-major; the lower triangle
 * is overwritten by its Cholesky factor). Returns 0, or -1 when A is not positive definite. */
static int cholesky_solve(double *A, double *r, int n)
{
    for (int j = 0; j < n; j++) {
        double s = A[(int64_t)j * n + j];
        for (int k = 0; k < j; k++) s -= A[(int64_t)j * n + k] * A[(int64_t)j * n + k];
        if (!(s > 0.0)) return -1;
        const double l = sqrt(s);
        A[(int64_t)j * n + j] = l;
        for (int i = j + 1; i < n; i++) {
            double t = A[(int64_t)i * n + j];
            for (int k = 0; k < j; k++) t -= A[(int64_t)i * n + k] * A[(int64_t)j * n + k];
            A[(int64_t)i * n + j] = t / l;
        }
    }
    for (int i = 0; i < n; i++) {   /* L z = r */
        double t = r[i];
        for (int k = 0; k < i; k++) t -= A[(int64_t)i * n + k] * r[k];
        r[i] = t / A[(int64_t)i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {   /* L^T x = z */
        double t = r[i];
        for (int k = i + 1; k < n; k++) t -= A[(int64_t)k * n + i] * r[k];
        r[i] = t / A[(int64_t)i * n + i];
    }
    return 0;
}

/* The damping: 1 % of the mean of diag(X^ X^T), or a tiny floor when every input is zero. */
static double recon_damp(const double *diag, int64_t K)
{
    double m = 0.0;
    for (int64_t k = 0; k < K; k++) m += diag[k];
    m = K ? m / (double)K : 0.0;
    return m > 0.0 ? 0.01 * m : 1e-8;
}

/* Solves one channel's system A [ns + 1]^2, r (its kept columns S, then the bias) and writes the
 * channel's weights and bias; a system Cholesky cannot take leaves the channel as magnitude
 * pruning made it. */
static void solve_row(const float *w_row, float b, int64_t K, const unsigned char *m_row, const int64_t *S, int ns,
                      double *A, double *r, float *w_out, float *b_out)
{
    const int n = ns + 1;
    if (cholesky_solve(A, r, n)) {   /* leave the channel as magnitude pruning made it */
        for (int64_t k = 0; k < K; k++) w_out[k] = m_row[k] ? w_row[k] : 0.0f;
        *b_out = b;
        return;
    }
    for (int64_t k = 0; k < K; k++) w_out[k] = 0.0f;
    for (int i = 0; i < ns; i++) w_out[S[i]] = (float)r[i];
    *b_out = (float)r[ns];
}

int recon_fit(const float *w, const float *b, int64_t OC, int64_t K, const float *y, const float *xh, int64_t P,
              const unsigned char *mask, float *w_out, float *b_out)
{
    /* The systems are as large as the most kept weights of a channel, plus the bias (at 90 %
     * sparsity a hundredth of (K + 1)^2: 1.7 MB instead of 170 MB on ResNet50's 3x3x512). */
    int64_t max_kept = 0;
    for (int64_t o = 0; o < OC; o++) {
        int64_t kept = 0;
        for (int64_t k = 0; k < K; k++) kept += mask[o * K + k] != 0;
        if (kept > max_kept) max_kept = kept;
    }
    float *g = malloc(sizeof(float) * (size_t)(K * K));
    float *R = malloc(sizeof(float) * (size_t)(K * OC));   /* X^T Y [K, OC] */
    double *colsum = malloc(sizeof(double) * (size_t)K), *ysum = malloc(sizeof(double) * (size_t)OC);
    double *diag = malloc(sizeof(double) * (size_t)K);
    double *A = malloc(sizeof(double) * (size_t)((max_kept + 1) * (max_kept + 1)));
    double *r = malloc(sizeof(double) * (size_t)(max_kept + 1));
    int64_t *S = malloc(sizeof(int64_t) * (size_t)K);
    float *wr = malloc(sizeof(float) * (size_t)K);
    int rc = STATUS_OK;
    if (!g || !R || !colsum || !ysum || !diag || !A || !r || !S || !wr) {
        rc = status_error(STATUS_NOMEM, "out of memory refitting a pruned layer (K %lld)", (long long)K);
        goto done;
    }
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)K, (int)P, 1.0f, xh, (int)K, 0.0f, g, (int)K);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)OC, (int)P, 1.0f, xh, (int)K, y, (int)OC, 0.0f, R,
                (int)OC);
    for (int64_t k = 0; k < K; k++) colsum[k] = 0.0;
    for (int64_t o = 0; o < OC; o++) ysum[o] = 0.0;
    for (int64_t p = 0; p < P; p++) {
        for (int64_t k = 0; k < K; k++) colsum[k] += xh[p * K + k];
        for (int64_t o = 0; o < OC; o++) ysum[o] += y[p * OC + o];
    }
    for (int64_t k = 0; k < K; k++) diag[k] = g[k * K + k];
    const double damp = recon_damp(diag, K);
    for (int64_t o = 0; o < OC; o++) {
        const unsigned char *m_row = mask + o * K;
        int ns = 0;
        for (int64_t k = 0; k < K; k++)
            if (m_row[k]) S[ns++] = k;
        const int n = ns + 1;
        for (int i = 0; i < ns; i++) {
            for (int j = 0; j <= i; j++) {
                const int64_t a = S[j], c = S[i];   /* a <= c: the upper triangle holds g[a][c] */
                A[(int64_t)i * n + j] = A[(int64_t)j * n + i] = g[a * K + c];
            }
            A[(int64_t)i * n + i] += damp;
            A[(int64_t)i * n + ns] = A[(int64_t)ns * n + i] = colsum[S[i]];
            r[i] = R[S[i] * OC + o];
        }
        A[(int64_t)ns * n + ns] = (double)P;
        r[ns] = ysum[o];
        memcpy(wr, w + o * K, sizeof(float) * (size_t)K);   /* w_out may alias w */
        solve_row(wr, b[o], K, m_row, S, ns, A, r, w_out + o * K, &b_out[o]);
    }
done:
    free(g);
    free(R);
    free(colsum);
    free(ysum);
    free(diag);
    free(A);
    free(r);
    free(S);
    free(wr);
    return rc;
}

int recon_fit_ref(const float *w, const float *b, int64_t OC, int64_t K, const float *y, const float *xh, int64_t P,
                  const unsigned char *mask, float *w_out, float *b_out)
{
    double *diag = calloc((size_t)K, sizeof(double));
    double *A = malloc(sizeof(double) * (size_t)((K + 1) * (K + 1))), *r = malloc(sizeof(double) * (size_t)(K + 1));
    int64_t *S = malloc(sizeof(int64_t) * (size_t)K);
    float *wr = malloc(sizeof(float) * (size_t)K);
    if (!diag || !A || !r || !S || !wr) {
        free(diag), free(A), free(r), free(S), free(wr);
        return status_error(STATUS_NOMEM, "out of memory");
    }
    for (int64_t k = 0; k < K; k++)
        for (int64_t p = 0; p < P; p++) diag[k] += (double)xh[p * K + k] * xh[p * K + k];
    const double damp = recon_damp(diag, K);
    for (int64_t o = 0; o < OC; o++) {
        int ns = 0;
        for (int64_t k = 0; k < K; k++)
            if (mask[o * K + k]) S[ns++] = k;
        const int n = ns + 1;
        /* Features: the kept inputs, then 1 (the bias). */
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0.0;
                for (int64_t p = 0; p < P; p++)
                    s += (i < ns ? (double)xh[p * K + S[i]] : 1.0) * (j < ns ? (double)xh[p * K + S[j]] : 1.0);
                A[(int64_t)i * n + j] = s + (i == j && i < ns ? damp : 0.0);
            }
            double t = 0.0;
            for (int64_t p = 0; p < P; p++) t += (i < ns ? (double)xh[p * K + S[i]] : 1.0) * y[p * OC + o];
            r[i] = t;
        }
        /* Gaussian elimination with partial pivoting. */
        int singular = 0;
        for (int c = 0; c < n && !singular; c++) {
            int piv = c;
            for (int i = c + 1; i < n; i++)
                if (fabs(A[(int64_t)i * n + c]) > fabs(A[(int64_t)piv * n + c])) piv = i;
            if (A[(int64_t)piv * n + c] == 0.0) { singular = 1; break; }
            if (piv != c) {
                for (int j = 0; j < n; j++) {
                    const double t = A[(int64_t)c * n + j];
                    A[(int64_t)c * n + j] = A[(int64_t)piv * n + j];
                    A[(int64_t)piv * n + j] = t;
                }
                const double t = r[c];
                r[c] = r[piv];
                r[piv] = t;
            }
            for (int i = c + 1; i < n; i++) {
                const double f = A[(int64_t)i * n + c] / A[(int64_t)c * n + c];
                for (int j = c; j < n; j++) A[(int64_t)i * n + j] -= f * A[(int64_t)c * n + j];
                r[i] -= f * r[c];
            }
        }
        memcpy(wr, w + o * K, sizeof(float) * (size_t)K);
        if (singular) {
            for (int64_t k = 0; k < K; k++) w_out[o * K + k] = mask[o * K + k] ? wr[k] : 0.0f;
            b_out[o] = b[o];
            continue;
        }
        for (int i = n - 1; i >= 0; i--) {
            double t = r[i];
            for (int j = i + 1; j < n; j++) t -= A[(int64_t)i * n + j] * r[j];
            r[i] = t / A[(int64_t)i * n + i];
        }
        for (int64_t k = 0; k < K; k++) w_out[o * K + k] = 0.0f;
        for (int i = 0; i < ns; i++) w_out[o * K + S[i]] = (float)r[i];
        b_out[o] = (float)r[ns];
    }
    free(diag), free(A), free(r), free(S), free(wr);
    return STATUS_OK;
}

/* ---- capturing layer inputs ---- */

struct capture {
    const struct resnet *net;
    const unsigned char *want;
    float **patches;
    const int *n_pos;
    int64_t cur, next;       /* index of the first image of the pass being run; of the next one */
    int *site_of;            /* [n_conv + 1] the input site of each layer */
};

/* The layer's convolution as recon_patches sees it: the fc layer is a 1x1 conv on [C, N, 1, 1]. */
static void layer_geometry(const struct resnet *net, int i, struct conv_desc *d, int *H, int *W)
{
    if (i < net->n_conv) {
        *d = net->conv[i].d;
        *H = net->conv[i].H;
        *W = net->conv[i].W;
    } else {
        *d = (struct conv_desc){ .IC = net->features, .OC = net->cfg.n_classes, .KH = 1, .KW = 1, .stride = 1, .pad = 0 };
        *H = *W = 1;
    }
}

void recon_positions(int64_t img, int ohw, int n_pos, int *pos)
{
    if (n_pos == ohw) {
        for (int j = 0; j < n_pos; j++) pos[j] = j;
        return;
    }
    const int shift = (int)((img * 7919) % ohw);
    for (int j = 0; j < n_pos; j++) pos[j] = (int)(((int64_t)j * ohw / n_pos + shift) % ohw);
}

static void capture_hook(void *ctx, int site, float *x, int64_t n)
{
    struct capture *c = ctx;
    const struct resnet *net = c->net;
    if (site == 0) {
        /* The network input: a new pass over the next images. resnet_infer runs a batch as
         * sub-batches one after another when a hook is set, so images are counted here rather
         * than per resnet_infer call. */
        c->cur = c->next;
        c->next += n / ((int64_t)net->cfg.in_channels * net->cfg.in_h * net->cfg.in_w);
    }
    for (int i = 0; i <= net->n_conv; i++) {
        if (!c->want[i] || c->site_of[i] != site) continue;
        struct conv_desc d;
        int H, W;
        layer_geometry(net, i, &d, &H, &W);
        const int N = (int)(n / ((int64_t)d.IC * H * W));
        const int ohw = conv_out_size(H, d.KH, d.stride, d.pad) * conv_out_size(W, d.KW, d.stride, d.pad);
        int pos[RECON_POSITIONS_PER_IMAGE];
        const int64_t K = conv_k(&d);
        /* Image by image: the positions move with the image. */
        for (int b = 0; b < N; b++) {
            recon_positions(c->cur + b, ohw, c->n_pos[i], pos);
            recon_patches(x, N, b, H, W, &d, pos, c->n_pos[i], c->patches[i] + (c->cur + b) * c->n_pos[i] * K);
        }
    }
}

int recon_capture(struct resnet *net, const struct dataset *calib, int64_t n_samples, const unsigned char *want,
                  float **patches, int *n_pos)
{
    if (n_samples > calib->n) n_samples = calib->n;
    if (n_samples < 1) return status_error(STATUS_BAD_INPUT, "%s: no calibration images", calib->name);
    const int n_layers = net->n_conv + 1;
    struct capture c = { .net = net, .want = want, .patches = patches, .n_pos = n_pos };
    int rc = STATUS_OK;
    c.site_of = malloc(sizeof(int) * (size_t)n_layers);
    if (!c.site_of) return status_error(STATUS_NOMEM, "out of memory");
    for (int i = 0; i < n_layers; i++) {
        patches[i] = NULL;
        n_pos[i] = 0;
        c.site_of[i] = resnet_conv_in_site(net, i);
        if (!want[i]) continue;
        struct conv_desc d;
        int H, W;
        layer_geometry(net, i, &d, &H, &W);
        const int ohw = conv_out_size(H, d.KH, d.stride, d.pad) * conv_out_size(W, d.KW, d.stride, d.pad);
        n_pos[i] = ohw < RECON_POSITIONS_PER_IMAGE ? ohw : RECON_POSITIONS_PER_IMAGE;
        patches[i] = calloc((size_t)(n_samples * n_pos[i] * conv_k(&d)), sizeof(float));
        if (!patches[i]) { rc = status_error(STATUS_NOMEM, "out of memory for calibration patches"); goto done; }
    }
    /* The hook sees every site on the simulation path (the kernel path with its own activation
     * quantization would call none); the previous hook and mode (none and the kernel path while
     * weights are being compressed) are put back after. */
    void (*hook)(void *, int, float *, int64_t) = net->act_hook;
    void *hook_ctx = net->act_ctx;
    const int simulate = net->simulate;
    net->act_hook = capture_hook;
    net->act_ctx = &c;
    net->simulate = 1;
    float *x = calib->images ? NULL : malloc(sizeof(float) * (size_t)(n_samples * dataset_image_floats(calib)));   /* [n, C, H, W] */
    rc = calib->images || x ? resnet_run_images(net, dataset_batch_ptr(calib, 0, n_samples, x), n_samples)
                            : status_error(STATUS_NOMEM, "out of memory for calibration images");
    free(x);
    net->act_hook = hook;
    net->act_ctx = hook_ctx;
    net->simulate = simulate;
    RN_ASSERT(rc || c.next == n_samples);
done:
    free(c.site_of);
    if (rc)
        for (int i = 0; i < n_layers; i++) {
            free(patches[i]);
            patches[i] = NULL;
        }
    return rc;
}
