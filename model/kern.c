/* kern.c — what the compressed kernels share (see kern.h): their names, run-time CPU feature
 * detection, and the fused residual add + ReLU + fake quantization pass. */
#include "kern.h"
#include "kern_x86.h"

#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


const char *kern_kind_name(enum kern_kind k)
{
    static const char *names[] = { "dense", "lut", "sparse", "sparse-lut", "int8" };
    _Static_assert(sizeof names / sizeof *names == KERN_KIND_COUNT, "kern kind names");
    RN_ASSERT(k >= 0 && k < KERN_KIND_COUNT);
    return names[k];
}

static int force_portable;   /* 0: the CPU's best; 1: plain C; 2: AVX2 at most */

void kern_force_portable(int mode) { force_portable = mode; }

/* The CPU (and environment) answer as bits, 0 until known. Threads may ask at once: each computes
 * the same value and publishes it whole, so no thread sees one feature set and not another. */
enum { CPU_KNOWN = 1, CPU_AVX512 = 2, CPU_VNNI = 4, CPU_AVX2 = 8 };
static int cpu_bits;

static int kern_cpu(void)
{
    int bits = __atomic_load_n(&cpu_bits, __ATOMIC_ACQUIRE);
    if (bits) return bits;
    bits = CPU_KNOWN;
#ifdef KERN_X86
    const char *e = getenv("RN_NO_AVX512");
    const int off = e && *e && strcmp(e, "0") != 0;
    __builtin_cpu_init();
    if (!off && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
        bits |= CPU_AVX512;
        if (__builtin_cpu_supports("avx512vnni")) bits |= CPU_VNNI;
    }
    /* The AVX2 paths use FMA too (the direct convolution); every AVX2 CPU we know has it. */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) bits |= CPU_AVX2;
#endif
    __atomic_store_n(&cpu_bits, bits, __ATOMIC_RELEASE);
    return bits;
}

int kern_cpu_avx512(void) { return (kern_cpu() & CPU_AVX512) && !force_portable; }

int kern_cpu_vnni(void) { return (kern_cpu() & CPU_VNNI) && !force_portable; }

int kern_cpu_avx2(void) { return (kern_cpu() & CPU_AVX2) && force_portable != 1; }

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
/* Elements [lo, hi) of kern_fq, 16 at a time (hi - lo a multiple of 16). Its own function,
 * called from the parallel loop with scalars and pointers only: clang outlines an OpenMP loop
 * body into a function without the target attribute, where AVX-512 values would be an error. */
__attribute__((target("avx512f"))) static void kern_fq_avx512_range(const float *a, const float *b, int relu,
                                                                    const struct act_qparams *q, float *y,
                                                                    int64_t lo, int64_t hi)
{
    const struct act_qparams none = { 0 };
    const struct kern_fq16 fq = kern_fq16_of(q ? q : &none);
    const __m512 z = _mm512_setzero_ps();
    for (int64_t i = lo; i < hi; i += 16) {
        __m512 v = _mm512_loadu_ps(a + i);
        if (b) v = _mm512_add_ps(v, _mm512_loadu_ps(b + i));
        if (relu) v = _mm512_max_ps(v, z);
        if (q) v = kern_fq16(&fq, v);
        _mm512_storeu_ps(y + i, v);
    }
}

static void kern_fq_avx512(const float *a, const float *b, int relu, const struct act_qparams *q, float *y, int64_t n)
{
    const float inv = q && q->scale > 0 ? 1.0f / q->scale : 0.0f;
    const int64_t nv = n - n % 16, chunk = 4096;   /* elements per call: a multiple of 16 */
    #pragma omp parallel for schedule(static) if (n > 262144)
    for (int64_t c = 0; c < nv; c += chunk) kern_fq_avx512_range(a, b, relu, q, y, c, c + chunk < nv ? c + chunk : nv);
    for (int64_t i = nv; i < n; i++) y[i] = fq_one(b ? a[i] + b[i] : a[i], relu, q, inv);
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
