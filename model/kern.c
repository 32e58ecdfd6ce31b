/* kern.c — what the compressed kernels share (see kern.h): their names, run-time CPU feature
 * detection, and the fused residual add + ReLU + fake quantization pass. */
#include "kern.h"

#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define KERN_X86 1
#endif

const char *kern_kind_name(enum kern_kind k)
{
    static const char *names[] = { "dense", "lut", "sparse", "sparse-lut", "int8" };
    _Static_assert(sizeof names / sizeof *names == KERN_KIND_COUNT, "kern kind names");
    RN_ASSERT(k >= 0 && k < KERN_KIND_COUNT);
    return names[k];
}

static int force_portable;

void kern_force_portable(int on) { force_portable = on != 0; }

/* -1 unknown, else the CPU (and environment) answer. */
static int cpu_avx512 = -1, cpu_vnni = -1;

static void kern_cpu_init(void)
{
    if (cpu_avx512 >= 0) return;
#ifdef KERN_X86
    const char *e = getenv("RN_NO_AVX512");
    const int off = e && *e && strcmp(e, "0") != 0;
    __builtin_cpu_init();
    cpu_avx512 = !off && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    cpu_vnni = cpu_avx512 && __builtin_cpu_supports("avx512vnni");
#else
    cpu_avx512 = cpu_vnni = 0;
#endif
}

int kern_cpu_avx512(void)
{
    kern_cpu_init();
    return cpu_avx512 && !force_portable;
}

int kern_cpu_vnni(void)
{
    kern_cpu_init();
    return cpu_vnni && !force_portable;
}

/* One value through the pass; the reference and the vector tail. Same operations, in the same
 * order, as act_fake_quant (compress/quantize.c): x * (1 / scale), roundf, + zp, clamp, - zp, * scale. */
static inline float fq_one(float v, int relu, const struct act_qparams *q, float inv)
{
    if (relu) v = v > 0.0f ? v : 0.0f;
    if (!q) return v;
    if (!(q->scale > 0)) return 0.0f;
    float r = roundf(v * inv) + (float)q->zero_point;
    r = r < (float)q->qmin ? (float)q->qmin : (r > (float)q->qmax ? (float)q->qmax : r);
    return q->scale * (r - (float)q->zero_point);
}

void kern_fq_ref(const float *a, const float *b, int relu, const struct act_qparams *q, float *y, int64_t n)
{
    const float inv = q && q->scale > 0 ? 1.0f / q->scale : 0.0f;
    for (int64_t i = 0; i < n; i++) y[i] = fq_one(b ? a[i] + b[i] : a[i], relu, q, inv);
}

#ifdef KERN_X86
/* roundf on 16 lanes: truncate, then step away from zero where the dropped part is >= 0.5. */
__attribute__((target("avx512f"))) static inline __m512 round_away(__m512 v)
{
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
    const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    /* copysign(1, v) */
    const __m512i sign = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u));
    const __m512 one = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(_mm512_set1_ps(1.0f)), sign));
    return _mm512_mask_add_ps(t, up, t, one);
}

__attribute__((target("avx512f"))) static void kern_fq_avx512(const float *a, const float *b, int relu,
                                                              const struct act_qparams *q, float *y, int64_t n)
{
    const float inv = q && q->scale > 0 ? 1.0f / q->scale : 0.0f;
    const __m512 vinv = _mm512_set1_ps(inv), zp = _mm512_set1_ps(q ? (float)q->zero_point : 0.0f),
                 lo = _mm512_set1_ps(q ? (float)q->qmin : 0.0f), hi = _mm512_set1_ps(q ? (float)q->qmax : 0.0f),
                 sc = _mm512_set1_ps(q ? q->scale : 0.0f), z = _mm512_setzero_ps();
    const int quant = q && q->scale > 0, zero = q && !(q->scale > 0);
    #pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t i = 0; i < n - n % 16; i += 16) {
        __m512 v = _mm512_loadu_ps(a + i);
        if (b) v = _mm512_add_ps(v, _mm512_loadu_ps(b + i));
        if (relu) v = _mm512_max_ps(v, z);
        if (quant) {
            __m512 r = _mm512_add_ps(round_away(_mm512_mul_ps(v, vinv)), zp);
            r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
            v = _mm512_mul_ps(sc, _mm512_sub_ps(r, zp));
        } else if (zero) {
            v = z;
        }
        _mm512_storeu_ps(y + i, v);
    }
    for (int64_t i = n - n % 16; i < n; i++) y[i] = fq_one(b ? a[i] + b[i] : a[i], relu, q, inv);
}
#endif

void kern_fq(const float *a, const float *b, int relu, const struct act_qparams *q, float *y, int64_t n)
{
#ifdef KERN_X86
    if (kern_cpu_avx512()) {
        kern_fq_avx512(a, b, relu, q, y, n);
        return;
    }
#endif
    kern_fq_ref(a, b, relu, q, y, n);
}
