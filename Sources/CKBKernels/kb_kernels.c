#include "kb_kernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

// The transcendental loops (exp, erf, tanh, GELU, softmax) are compiled twice where the compiler
// can dispatch at load time: for AVX-512 (512-bit vectors; GELU 42% and softmax 15% less time on
// Zen 4) and for the baseline target (-mavx2 -mfma), the one the machine supports picked when
// the library loads. The memory-bound loops stay 256-bit: at 512 bits they measured slower here.
#if defined(__x86_64__) && defined(__clang__) && defined(__linux__)
#define KB_VEC __attribute__((target_clones("avx512f", "default"), min_vector_width(512)))
#else
#define KB_VEC
#endif

// exp: Cephes expf (range reduction by ln 2, degree-6 polynomial), ~1 ulp on [-87.3, 88.37].
// The constants of kb_expf, shared with its 16-lane twin kb_exp16.
#define KB_EXP_LO -87.33654f
#define KB_EXP_HI 88.3762626647949f
#define KB_EXP_LOG2E 1.44269504088896341f
#define KB_EXP_C1 0.693359375f
#define KB_EXP_C2 -2.12194440e-4f
#define KB_EXP_P0 1.9875691500e-4f
#define KB_EXP_P1 1.3981999507e-3f
#define KB_EXP_P2 8.3334519073e-3f
#define KB_EXP_P3 4.1665795894e-2f
#define KB_EXP_P4 1.6666665459e-1f
#define KB_EXP_P5 5.0000001201e-1f
static inline float kb_expf(float x) {
    float xc = x < KB_EXP_LO ? KB_EXP_LO : (x > KB_EXP_HI ? KB_EXP_HI : x);
    float fx = xc * KB_EXP_LOG2E;
    fx = fx >= 0 ? fx + 0.5f : fx - 0.5f;
    int n = (int)fx;                         // round half away from zero
    float fn = (float)n;
    float r = xc - fn * KB_EXP_C1 - fn * KB_EXP_C2;
    float r2 = r * r;
    float p = KB_EXP_P0;
    p = p * r + KB_EXP_P1;
    p = p * r + KB_EXP_P2;
    p = p * r + KB_EXP_P3;
    p = p * r + KB_EXP_P4;
    p = p * r + KB_EXP_P5;
    p = p * r2 + r + 1.0f;
    union { int32_t i; float f; } s;
    s.i = (n + 127) << 23;
    float y = p * s.f;
    return x < KB_EXP_LO ? 0.0f : y;         // underflow to 0 as libm does
}

// erf: odd/even rational minimax approximation on [-4, 4] (the one Eigen and XLA use for float;
// erf(±4) rounds to ±1 in float). No exp and no branch, so it vectorizes to ~15 FMAs and a divide.
// Max abs error 4.2e-7 against double erf (measured over [-10, 10] in steps of 1e-5).
static inline float kb_erff(float a) {
    float x = a > 4.0f ? 4.0f : (a < -4.0f ? -4.0f : a);
    float x2 = x * x;
    float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    p = p * x;
    float q = x2 * -1.45660718464996e-05f - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return p / q;
}

static inline float kb_tanhf(float x) {
    float c = x < -10.0f ? -10.0f : (x > 10.0f ? 10.0f : x);
    float e = kb_expf(2.0f * c);
    float big = 1.0f - 2.0f / (e + 1.0f);
    // Near 0, 1 - 2/(e+1) cancels: use the odd series x - x^3/3 + 2x^5/15 - 17x^7/315.
    float s = x * x;
    float small = x * (1.0f + s * (-0.33333333333f + s * (0.13333333333f + s * (-0.053968253968f + s * 0.021869488536f))));
    return fabsf(x) < 0.125f ? small : big;
}

KB_VEC void kb_exp(float *x, ptrdiff_t n) { for (ptrdiff_t i = 0; i < n; i++) x[i] = kb_expf(x[i]); }
KB_VEC void kb_erf(float *x, ptrdiff_t n) { for (ptrdiff_t i = 0; i < n; i++) x[i] = kb_erff(x[i]); }
KB_VEC void kb_tanh(float *x, ptrdiff_t n) { for (ptrdiff_t i = 0; i < n; i++) x[i] = kb_tanhf(x[i]); }
void kb_relu(float *x, ptrdiff_t n) { for (ptrdiff_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0.0f; }

KB_VEC void kb_gelu_erf(float *x, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) { float v = x[i]; x[i] = 0.5f * v * (1.0f + kb_erff(v * 0.70710678118654752f)); }
}

KB_VEC void kb_gelu_tanh(float *x, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + kb_tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

void kb_add(float *x, const float *y, ptrdiff_t n) { for (ptrdiff_t i = 0; i < n; i++) x[i] += y[i]; }

void kb_add_bias_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *p = x + r * cols;
        for (ptrdiff_t c = 0; c < cols; c++) p[c] += bias[c];
    }
}

// Reductions with 8 independent accumulators, so that clang vectorizes them without fast-math.
static inline float row_max(const float *p, ptrdiff_t n) {
    float a[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) a[k] = p[i + k] > a[k] ? p[i + k] : a[k];
    float m = -INFINITY;
    for (int k = 0; k < 8; k++) m = a[k] > m ? a[k] : m;
    for (; i < n; i++) m = p[i] > m ? p[i] : m;
    return m;
}

static inline float row_sum(const float *p, ptrdiff_t n) {
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) a[k] += p[i + k];
    float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++) s += p[i];
    return s;
}

static inline float row_sqdev(const float *p, ptrdiff_t n, float mu) {
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) { float d = p[i + k] - mu; a[k] += d * d; }
    float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++) { float d = p[i] - mu; s += d * d; }
    return s;
}

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>
#define KB_HAVE_AVX512_PATHS 1
// The packed GEMM's check (kb_gemm.c), read once: softmax is called per attention head.
static int kb_has_avx512(void) {
    static int has = -1;
    if (has < 0) has = kb_gemm_packed_supported();
    return has;
}

// exp on 16 lanes: kb_expf's clamp, rounding (half away from zero), reduction, polynomial and
// underflow to 0 below -87.33654 (NaN stays NaN), with 2^n by vscalefps.
__attribute__((target("avx512f"), always_inline)) static inline __m512 kb_exp16(__m512 x0) {
    // (min/max return their second operand when either is NaN: x0 goes second, so NaN stays NaN)
    __m512 x = _mm512_max_ps(_mm512_set1_ps(KB_EXP_LO), _mm512_min_ps(_mm512_set1_ps(KB_EXP_HI), x0));
    __m512 fx = _mm512_mul_ps(x, _mm512_set1_ps(KB_EXP_LOG2E));
    __m512 half = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(_mm512_castps_si512(fx), _mm512_set1_epi32((int)0x80000000)),
                                                      _mm512_castps_si512(_mm512_set1_ps(0.5f))));
    __m512 fn = _mm512_roundscale_ps(_mm512_add_ps(fx, half), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(fn, _mm512_set1_ps(KB_EXP_C1), x);
    r = _mm512_fnmadd_ps(fn, _mm512_set1_ps(KB_EXP_C2), r);
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 p = _mm512_set1_ps(KB_EXP_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(KB_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(KB_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(KB_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(KB_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(KB_EXP_P5));
    p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __mmask16 keep = _mm512_cmp_ps_mask(x0, _mm512_set1_ps(KB_EXP_LO), _CMP_NLT_UQ);
    return _mm512_maskz_mov_ps(keep, _mm512_scalef_ps(p, fn));
}

// Row softmax, eight rows at a time phase by phase (mask + max, exp + sum, scale): one row's
// passes are short chains ending in a horizontal reduction, and interleaving eight rows
// overlaps their latencies (0.78 -> 0.41 ns per element on 128-wide rows here, data in cache).
#define KB_SMR 8
__attribute__((target("avx512f"), always_inline))
static inline void kb_softmax_group(float *x, ptrdiff_t r, int nb, ptrdiff_t cols, const float *mask, ptrdiff_t rows_per_mask) {
    ptrdiff_t full = cols / 16 * 16;
    __mmask16 kt = (__mmask16)((1u << (cols - full)) - 1);
    float *p[KB_SMR]; const float *m[KB_SMR];
    __m512 vmx[KB_SMR], s[KB_SMR], mxv[KB_SMR], inv[KB_SMR];
    for (int i = 0; i < nb; i++) {
        p[i] = x + (r + i) * cols;
        m[i] = mask ? mask + ((r + i) / rows_per_mask) * cols : NULL;
        vmx[i] = _mm512_set1_ps(-INFINITY);
    }
    ptrdiff_t c = 0;
    for (; c < full; c += 16)
        for (int i = 0; i < nb; i++) {
            __m512 v = _mm512_loadu_ps(p[i] + c);
            if (m[i]) { v = _mm512_add_ps(v, _mm512_loadu_ps(m[i] + c)); _mm512_storeu_ps(p[i] + c, v); }
            vmx[i] = _mm512_max_ps(vmx[i], v);
        }
    if (kt)
        for (int i = 0; i < nb; i++) {
            __m512 v = _mm512_maskz_loadu_ps(kt, p[i] + c);
            if (m[i]) { v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(kt, m[i] + c)); _mm512_mask_storeu_ps(p[i] + c, kt, v); }
            vmx[i] = _mm512_mask_max_ps(vmx[i], kt, vmx[i], v);
        }
    for (int i = 0; i < nb; i++) { mxv[i] = _mm512_set1_ps(_mm512_reduce_max_ps(vmx[i])); s[i] = _mm512_setzero_ps(); }
    for (c = 0; c < full; c += 16)
        for (int i = 0; i < nb; i++) {
            __m512 e = kb_exp16(_mm512_sub_ps(_mm512_loadu_ps(p[i] + c), mxv[i]));
            _mm512_storeu_ps(p[i] + c, e);
            s[i] = _mm512_add_ps(s[i], e);
        }
    if (kt)
        for (int i = 0; i < nb; i++) {
            __m512 e = kb_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(kt, p[i] + c), mxv[i]));
            _mm512_mask_storeu_ps(p[i] + c, kt, e);
            s[i] = _mm512_mask_add_ps(s[i], kt, s[i], e);
        }
    for (int i = 0; i < nb; i++) inv[i] = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(s[i]));
    for (c = 0; c < full; c += 16)
        for (int i = 0; i < nb; i++) _mm512_storeu_ps(p[i] + c, _mm512_mul_ps(_mm512_loadu_ps(p[i] + c), inv[i]));
    if (kt)
        for (int i = 0; i < nb; i++) _mm512_mask_storeu_ps(p[i] + c, kt, _mm512_mul_ps(_mm512_maskz_loadu_ps(kt, p[i] + c), inv[i]));
}

__attribute__((target("avx512f")))
static void kb_softmax_rows_avx512(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *mask, ptrdiff_t rows_per_mask) {
    ptrdiff_t r = 0;
    for (; r + KB_SMR <= rows; r += KB_SMR) kb_softmax_group(x, r, KB_SMR, cols, mask, rows_per_mask);
    if (r < rows) kb_softmax_group(x, r, (int)(rows - r), cols, mask, rows_per_mask);
}
#endif

// The portable path (and the baseline target's).
void kb_softmax_rows_generic(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *mask, ptrdiff_t rows_per_mask);
KB_VEC void kb_softmax_rows_generic(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *mask, ptrdiff_t rows_per_mask) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *p = x + r * cols;
        if (mask) {
            const float *m = mask + (r / rows_per_mask) * cols;
            for (ptrdiff_t c = 0; c < cols; c++) p[c] += m[c];
        }
        float mx = row_max(p, cols);
        for (ptrdiff_t c = 0; c < cols; c++) p[c] = kb_expf(p[c] - mx);
        float sum = row_sum(p, cols);
        float inv = 1.0f / sum;
        for (ptrdiff_t c = 0; c < cols; c++) p[c] *= inv;
    }
}

void kb_softmax_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *mask, ptrdiff_t rows_per_mask) {
#ifdef KB_HAVE_AVX512_PATHS
    if (kb_has_avx512()) { kb_softmax_rows_avx512(x, rows, cols, mask, rows_per_mask); return; }
#endif
    kb_softmax_rows_generic(x, rows, cols, mask, rows_per_mask);
}

void kb_layernorm_rows(const float *x, float *out, ptrdiff_t rows, ptrdiff_t cols, const float *gamma,
                       const float *beta, float eps, float *mean, float *rstd) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *p = x + r * cols;
        float *o = out + r * cols;
        float mu = row_sum(p, cols) / (float)cols;
        float v = row_sqdev(p, cols, mu);
        float rs = 1.0f / sqrtf(v / (float)cols + eps);
        for (ptrdiff_t c = 0; c < cols; c++) o[c] = (p[c] - mu) * rs * gamma[c] + beta[c];
        if (mean) mean[r] = mu;
        if (rstd) rstd[r] = rs;
    }
}

KB_VEC void kb_bias_gelu_erf_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *p = x + r * cols;
        for (ptrdiff_t c = 0; c < cols; c++) {
            float v = p[c] + bias[c];
            p[c] = 0.5f * v * (1.0f + kb_erff(v * 0.70710678118654752f));
        }
    }
}

void kb_bias_residual_layernorm_rows(float *x, const float *bias, const float *residual, float *out,
                                     ptrdiff_t rows, ptrdiff_t cols, const float *gamma, const float *beta,
                                     float eps, float *mean, float *rstd) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *p = x + r * cols;
        const float *res = residual + r * cols;
        for (ptrdiff_t c = 0; c < cols; c++) p[c] += bias[c] + res[c];
        float mu = row_sum(p, cols) / (float)cols;
        float v = row_sqdev(p, cols, mu);
        float rs = 1.0f / sqrtf(v / (float)cols + eps);
        float *o = out + r * cols;
        for (ptrdiff_t c = 0; c < cols; c++) o[c] = (p[c] - mu) * rs * gamma[c] + beta[c];
        if (mean) mean[r] = mu;
        if (rstd) rstd[r] = rs;
    }
}

// ---------------------------------------------------------------- backward kernels

// g = g * gelu'(x) in place (g holds dy on entry, dx on return); gelu'(x) = Phi(x) + x phi(x).
// In place with one pointer, so that clang's vectorized path is taken (no aliasing fallback).
KB_VEC void kb_gelu_erf_backward(const float *x, float *g, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + kb_erff(v * 0.70710678118654752f));
        float pdf = 0.3989422804014327f * kb_expf(-0.5f * v * v);
        g[i] = g[i] * (cdf + v * pdf);
    }
}

// g = g * d/dx [x/2 (1 + tanh(u))], u = sqrt(2/pi)(x + 0.044715 x^3), in place.
KB_VEC void kb_gelu_tanh_backward(const float *x, float *g, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float v = x[i];
        float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        float t = kb_tanhf(u);
        float du = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * v * v);
        g[i] = g[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
    }
}

// Row softmax backward in place: g = p * (g - sum(g * p)) (g holds dp on entry).
void kb_softmax_backward_rows(const float *p, float *g, ptrdiff_t rows, ptrdiff_t cols) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *pr = p + r * cols;
        float *dr = g + r * cols, *o = dr;
        float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        ptrdiff_t i = 0;
        for (; i + 8 <= cols; i += 8)
            for (int k = 0; k < 8; k++) a[k] += pr[i + k] * dr[i + k];
        float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        for (; i < cols; i++) s += pr[i] * dr[i];
        for (ptrdiff_t c = 0; c < cols; c++) o[c] = pr[c] * (dr[c] - s);
    }
}

// LayerNorm backward over rows. xhat = (x - mean) * rstd, y = xhat * gamma + beta.
// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma (overwrites dx).
// dgamma_rows / dbeta are NOT accumulated here (the caller reduces dy * xhat and dy over rows).
void kb_layernorm_backward_rows(const float *x, const float *dy, const float *gamma, const float *mean,
                                const float *rstd, float *dx, ptrdiff_t rows, ptrdiff_t cols) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols, *dr = dy + r * cols;
        float *o = dx + r * cols;
        float mu = mean[r], rs = rstd[r];
        float a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        ptrdiff_t i = 0;
        for (; i + 8 <= cols; i += 8)
            for (int k = 0; k < 8; k++) {
                float g = dr[i + k] * gamma[i + k];
                a[k] += g;
                b[k] += g * (xr[i + k] - mu) * rs;
            }
        float sg = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        float sgx = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
        for (; i < cols; i++) { float g = dr[i] * gamma[i]; sg += g; sgx += g * (xr[i] - mu) * rs; }
        float mg = sg / (float)cols, mgx = sgx / (float)cols;
        for (ptrdiff_t c = 0; c < cols; c++) {
            float xh = (xr[c] - mu) * rs;
            o[c] = rs * (dr[c] * gamma[c] - mg - xh * mgx);
        }
    }
}

// dgamma[c] += sum_r dy[r,c] * xhat[r,c]; dbeta[c] += sum_r dy[r,c].
void kb_layernorm_param_grads(const float *x, const float *dy, const float *mean, const float *rstd,
                              float *dgamma, float *dbeta, ptrdiff_t rows, ptrdiff_t cols) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols, *dr = dy + r * cols;
        float mu = mean[r], rs = rstd[r];
        for (ptrdiff_t c = 0; c < cols; c++) {
            dgamma[c] += dr[c] * (xr[c] - mu) * rs;
            dbeta[c] += dr[c];
        }
    }
}

// db[c] += sum_r dy[r, c].
void kb_bias_grad(const float *dy, float *db, ptrdiff_t rows, ptrdiff_t cols) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *dr = dy + r * cols;
        for (ptrdiff_t c = 0; c < cols; c++) db[c] += dr[c];
    }
}

// x *= scale where keep != 0, else 0 (dropout with a precomputed mask).
void kb_mask_scale(float *x, const uint8_t *keep, float scale, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) x[i] = keep[i] ? x[i] * scale : 0.0f;
}

// AdamW update over a flat block (see KBTrain.AdamW for the formula).
void kb_adamw(float *p, const float *g, float *m, float *v, const uint8_t *decay, ptrdiff_t n,
              float lr, float wd, float b1, float b2, float eps, float step_size, float sqrt_bc2) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float th = p[i];
        th -= decay[i] ? lr * wd * th : 0.0f;
        float gi = g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi; v[i] = vi;
        p[i] = th - step_size * mi / (sqrtf(vi) / sqrt_bc2 + eps);
    }
}

// Sum of squares in double (8 partial sums).
double kb_sumsq(const float *x, ptrdiff_t n) {
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) a[k] += (double)x[i + k] * (double)x[i + k];
    double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

void kb_scale(float *x, float s, ptrdiff_t n) { for (ptrdiff_t i = 0; i < n; i++) x[i] *= s; }

// y[r, i] = sum_j x[r, j] * b[i, j] (+ y[r, i] when accumulate): x [rows, k], b [n, k], small k and n.
void kb_small_right(const float *x, ptrdiff_t rows, ptrdiff_t k, const float *b, ptrdiff_t n, float *y, int accumulate) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *xr = x + r * k;
        float *yr = y + r * n;
        for (ptrdiff_t i = 0; i < n; i++) {
            const float *bi = b + i * k;
            float s = 0.0f;
            for (ptrdiff_t j = 0; j < k; j++) s += xr[j] * bi[j];
            yr[i] = accumulate ? yr[i] + s : s;
        }
    }
}

// dst[j][i][:] = src[i][j][:] for src [d0][d1][d2], for the j in [j0, j0 + nj). Tiled over j so
// that each read of src is a contiguous run of 16·d2 floats and the 16 write streams advance
// sequentially (the naive loop reads one element per cache line).
void kb_swap01_window(const float *src, ptrdiff_t d0, ptrdiff_t d1, ptrdiff_t d2, ptrdiff_t j0, ptrdiff_t nj, float *dst) {
    const ptrdiff_t TJ = 16;
    for (ptrdiff_t jb = j0; jb < j0 + nj; jb += TJ) {
        ptrdiff_t je = jb + TJ < j0 + nj ? jb + TJ : j0 + nj;
        for (ptrdiff_t i = 0; i < d0; i++) {
            const float *s = src + (i * d1 + jb) * d2;
            if (d2 == 1) {
                for (ptrdiff_t j = jb; j < je; j++) dst[j * d0 + i] = s[j - jb];
            } else if (d2 == 2) {
                for (ptrdiff_t j = jb; j < je; j++) {
                    dst[(j * d0 + i) * 2] = s[(j - jb) * 2];
                    dst[(j * d0 + i) * 2 + 1] = s[(j - jb) * 2 + 1];
                }
            } else {
                for (ptrdiff_t j = jb; j < je; j++) memcpy(dst + (j * d0 + i) * d2, s + (j - jb) * d2, (size_t)d2 * sizeof(float));
            }
        }
    }
}

// z[t][i2][j1] = sum_j2 b[i2][j2] * x[t][j1][j2] for t in [t0, t0 + nt): X_t·Bᵀ for a small B,
// written transposed per token (so A can multiply all tokens in one contiguous GEMM, and no axis
// is moved across tokens). x [N][n1][n2], z [N][m2][n1].
// One token's z[i2][j1] = b[i2]·x[j1] for an x row of n2 contiguous floats, n2 a constant.
static inline __attribute__((always_inline)) void bmix_dots(const float *xt, ptrdiff_t n1, const ptrdiff_t n2, const float *b,
        ptrdiff_t m2, float *zt) {
    for (ptrdiff_t j1 = 0; j1 < n1; j1++) {
        const float *xr = xt + j1 * n2;
        for (ptrdiff_t i2 = 0; i2 < m2; i2++) {
            float acc = 0.0f;
            {
#pragma clang fp reassociate(on)   // a vector product and one horizontal sum per dot
                for (ptrdiff_t j2 = 0; j2 < n2; j2++) acc += b[i2 * n2 + j2] * xr[j2];
            }
            zt[i2 * n1 + j1] = acc;
        }
    }
}

KB_VEC void kb_bmix_tr(const float *x, ptrdiff_t n1, ptrdiff_t n2, const float *b, ptrdiff_t m2,
                ptrdiff_t t0, ptrdiff_t nt, float *z) {
    if (n2 == 8 || n2 == 16) {   // contiguous dot products (the strided loop below reads one float per line)
        for (ptrdiff_t t = t0; t < t0 + nt; t++) {
            if (n2 == 8) bmix_dots(x + t * n1 * 8, n1, 8, b, m2, z + t * m2 * n1);
            else bmix_dots(x + t * n1 * 16, n1, 16, b, m2, z + t * m2 * n1);
        }
        return;
    }
    for (ptrdiff_t t = t0; t < t0 + nt; t++) {
        const float *xt = x + t * n1 * n2;
        float *zt = z + t * m2 * n1;
        for (ptrdiff_t i2 = 0; i2 < m2; i2++) {
            const float *bi = b + i2 * n2;
            float *zr = zt + i2 * n1;
            if (n2 == 2) {
                const float b0 = bi[0], b1 = bi[1];
                for (ptrdiff_t j1 = 0; j1 < n1; j1++) zr[j1] = b0 * xt[2 * j1] + b1 * xt[2 * j1 + 1];
            } else {
                for (ptrdiff_t j1 = 0; j1 < n1; j1++) zr[j1] = 0.0f;
                for (ptrdiff_t j2 = 0; j2 < n2; j2++) {
                    const float bv = bi[j2];
                    for (ptrdiff_t j1 = 0; j1 < n1; j1++) zr[j1] += bv * xt[j1 * n2 + j2];
                }
            }
        }
    }
}

// dx[t][j1][j2] += sum_i2 dz[t][i2][j1] * b[i2][j2]: the input gradient of kb_bmix_tr.
void kb_bmix_tr_back_x(const float *dz, ptrdiff_t n1, ptrdiff_t n2, const float *b, ptrdiff_t m2,
                       ptrdiff_t t0, ptrdiff_t nt, float *dx) {
    for (ptrdiff_t t = t0; t < t0 + nt; t++) {
        const float *dzt = dz + t * m2 * n1;
        float *dxt = dx + t * n1 * n2;
        for (ptrdiff_t i2 = 0; i2 < m2; i2++) {
            const float *dr = dzt + i2 * n1, *bi = b + i2 * n2;
            if (n2 == 2) {
                const float b0 = bi[0], b1 = bi[1];
                for (ptrdiff_t j1 = 0; j1 < n1; j1++) { dxt[2 * j1] += dr[j1] * b0; dxt[2 * j1 + 1] += dr[j1] * b1; }
            } else {
                for (ptrdiff_t j1 = 0; j1 < n1; j1++) {
                    const float d = dr[j1];
                    for (ptrdiff_t j2 = 0; j2 < n2; j2++) dxt[j1 * n2 + j2] += d * bi[j2];
                }
            }
        }
    }
}

// db[i2][j2] += sum_t sum_j1 dz[t][i2][j1] * x[t][j1][j2]: the gradient of B in kb_bmix_tr.
KB_VEC void kb_bmix_tr_back_b(const float *dz, const float *x, ptrdiff_t n1, ptrdiff_t n2, ptrdiff_t m2,
                              ptrdiff_t t0, ptrdiff_t nt, float *db) {
    // Elementwise products summed over tokens first (acc[i2][j1·n2 + j2], contiguous and
    // independent: it vectorizes), the j1 sum once at the end.
    ptrdiff_t cols = n1 * n2;
    float *acc = calloc((size_t)(m2 * cols), sizeof(float));
    if (acc) {
        for (ptrdiff_t t = t0; t < t0 + nt; t++) {
            const float *dzt = dz + t * m2 * n1, *xt = x + t * cols;
            for (ptrdiff_t i2 = 0; i2 < m2; i2++) {
                const float *dr = dzt + i2 * n1;
                float *a = acc + i2 * cols;
                if (n2 == 2) {
                    for (ptrdiff_t j1 = 0; j1 < n1; j1++) { a[2 * j1] += dr[j1] * xt[2 * j1]; a[2 * j1 + 1] += dr[j1] * xt[2 * j1 + 1]; }
                } else {
                    for (ptrdiff_t j1 = 0; j1 < n1; j1++)
                        for (ptrdiff_t j2 = 0; j2 < n2; j2++) a[j1 * n2 + j2] += dr[j1] * xt[j1 * n2 + j2];
                }
            }
        }
        for (ptrdiff_t i2 = 0; i2 < m2; i2++)
            for (ptrdiff_t j2 = 0; j2 < n2; j2++) {
                float s = 0.0f;
                for (ptrdiff_t j1 = 0; j1 < n1; j1++) s += acc[i2 * cols + j1 * n2 + j2];
                db[i2 * n2 + j2] += s;
            }
        free(acc);
        return;
    }
    for (ptrdiff_t t = t0; t < t0 + nt; t++) {
        const float *dzt = dz + t * m2 * n1, *xt = x + t * cols;
        for (ptrdiff_t i2 = 0; i2 < m2; i2++) {
            const float *dr = dzt + i2 * n1;
            for (ptrdiff_t j2 = 0; j2 < n2; j2++) {
                float s = 0.0f;
                for (ptrdiff_t j1 = 0; j1 < n1; j1++) s += dr[j1] * xt[j1 * n2 + j2];
                db[i2 * n2 + j2] += s;
            }
        }
    }
}

// y[t][i][j] = w[t][j][i] (+ bias[i][j]) for t in [t0, t0 + nt): each token's [r][c] block transposed
// to [c][r], token t's output row starting at y + t·ldy.
void kb_tr_tokens(const float *w, ptrdiff_t r, ptrdiff_t c, ptrdiff_t t0, ptrdiff_t nt, float *y, ptrdiff_t ldy,
                  const float *bias) {
    for (ptrdiff_t t = t0; t < t0 + nt; t++) {
        const float *wt = w + t * r * c;
        float *yt = y + t * ldy;
        if (r == 2) {
            const float *w0 = wt, *w1 = wt + c;
            if (bias) {
                for (ptrdiff_t i = 0; i < c; i++) { yt[2 * i] = w0[i] + bias[2 * i]; yt[2 * i + 1] = w1[i] + bias[2 * i + 1]; }
            } else {
                for (ptrdiff_t i = 0; i < c; i++) { yt[2 * i] = w0[i]; yt[2 * i + 1] = w1[i]; }
            }
        } else {
            for (ptrdiff_t j = 0; j < r; j++) for (ptrdiff_t i = 0; i < c; i++) yt[i * r + j] = wt[j * c + i];
            if (bias) for (ptrdiff_t k = 0; k < r * c; k++) yt[k] += bias[k];
        }
    }
}

// y[t][i1·m2 + i2] (= or +=) w[t][i1] · b[i2] (+ bias[i1·m2 + i2]) for t in [t0, t0 + nt): the
// way out of a Kronecker layer whose B is one column (Y_t = (A x_t) ⊗ b). w [N][m1], y rows ldy apart.
// Inlined with m2 a constant for the common widths, so that each i1 is one vector FMA.
static inline __attribute__((always_inline)) void outer_rows(const float *restrict w, ptrdiff_t m1, const float *restrict b,
        const ptrdiff_t m2, ptrdiff_t t0, ptrdiff_t nt, float *restrict y, ptrdiff_t ldy, const float *restrict bias, int accumulate) {
    // Vectorized along i2 (contiguous outputs), not across i1 (that made scatter stores).
    for (ptrdiff_t t = t0; t < t0 + nt; t++) {
        const float *wt = w + t * m1;
        float *yt = y + t * ldy;
#pragma clang loop vectorize(disable) interleave(disable)
        for (ptrdiff_t i1 = 0; i1 < m1; i1++) {
            const float v = wt[i1];
            float *restrict yr = yt + i1 * m2;
            const float *restrict br = bias ? bias + i1 * m2 : NULL;
            if (accumulate && br) { for (ptrdiff_t i2 = 0; i2 < m2; i2++) yr[i2] += v * b[i2] + br[i2]; }
            else if (accumulate) { for (ptrdiff_t i2 = 0; i2 < m2; i2++) yr[i2] += v * b[i2]; }
            else if (br) { for (ptrdiff_t i2 = 0; i2 < m2; i2++) yr[i2] = v * b[i2] + br[i2]; }
            else { for (ptrdiff_t i2 = 0; i2 < m2; i2++) yr[i2] = v * b[i2]; }
        }
    }
}

KB_VEC void kb_outer_rows(const float *w, ptrdiff_t m1, const float *b, ptrdiff_t m2, ptrdiff_t t0, ptrdiff_t nt,
                   float *y, ptrdiff_t ldy, const float *bias, int accumulate) {
    switch (m2) {
    case 4: outer_rows(w, m1, b, 4, t0, nt, y, ldy, bias, accumulate); break;
    case 8: outer_rows(w, m1, b, 8, t0, nt, y, ldy, bias, accumulate); break;
    case 16: outer_rows(w, m1, b, 16, t0, nt, y, ldy, bias, accumulate); break;
    case 32: outer_rows(w, m1, b, 32, t0, nt, y, ldy, bias, accumulate); break;
    default: outer_rows(w, m1, b, m2, t0, nt, y, ldy, bias, accumulate); break;
    }
}

// y[t][i1][:] (+)= sum_j1 a[i1][j1] * z[t][j1][:] for t in [t0, t0 + nt): a small A (m1 × n1)
// applied per token without moving axes. z [N][n1][d], y [N][m1][d].
void kb_small_left(const float *a, ptrdiff_t m1, ptrdiff_t n1, const float *z, ptrdiff_t d,
                   ptrdiff_t t0, ptrdiff_t nt, float *y, int accumulate) {
    for (ptrdiff_t t = t0; t < t0 + nt; t++) {
        const float *zt = z + t * n1 * d;
        float *yt = y + t * m1 * d;
        for (ptrdiff_t i1 = 0; i1 < m1; i1++) {
            float *o = yt + i1 * d;
            if (!accumulate) for (ptrdiff_t c = 0; c < d; c++) o[c] = 0.0f;
            for (ptrdiff_t j1 = 0; j1 < n1; j1++) {
                float av = a[i1 * n1 + j1];
                const float *zr = zt + j1 * d;
                for (ptrdiff_t c = 0; c < d; c++) o[c] += av * zr[c];
            }
        }
    }
}

// d[i1][j1] += sum_t sum_c g[t][i1][c] * z[t][j1][c] for t in [t0, t0 + nt): the gradient of a small
// A from per-token products (g [N][m1][d], z [N][n1][d]). Each (i1, j1) pair sums into KB_OL
// independent lanes carried across all tokens (a plain float reduction does not vectorize without
// reassociation: the scalar loop ran at ~2 GFLOP/s, a third of a kb8 student's backward).
#define KB_OL 64
KB_VEC void kb_small_outer(const float *g, ptrdiff_t m1, const float *z, ptrdiff_t n1, ptrdiff_t d,
                           ptrdiff_t t0, ptrdiff_t nt, float *out) {
    ptrdiff_t pairs = m1 * n1, dv = d / KB_OL * KB_OL;
    for (ptrdiff_t p0 = 0; p0 < pairs; p0 += 4) {
        ptrdiff_t np = pairs - p0 < 4 ? pairs - p0 : 4;
        float acc[4][KB_OL], tail[4];
        for (ptrdiff_t q = 0; q < 4; q++) { tail[q] = 0.0f; for (int l = 0; l < KB_OL; l++) acc[q][l] = 0.0f; }
        for (ptrdiff_t t = t0; t < t0 + nt; t++) {
            const float *gt = g + t * m1 * d, *zt = z + t * n1 * d;
            for (ptrdiff_t q = 0; q < np; q++) {
                ptrdiff_t p = p0 + q;
                const float *gr = gt + (p / n1) * d, *zr = zt + (p % n1) * d;
                float *a = acc[q];
                for (ptrdiff_t c = 0; c < dv; c += KB_OL)
                    for (int l = 0; l < KB_OL; l++) a[l] += gr[c + l] * zr[c + l];
                for (ptrdiff_t c = dv; c < d; c++) tail[q] += gr[c] * zr[c];
            }
        }
        for (ptrdiff_t q = 0; q < np; q++) {
            float s = tail[q];
            for (int l = 0; l < KB_OL; l++) s += acc[q][l];
            out[p0 + q] += s;
        }
    }
}

// Dropout keep-mask from SplitMix64 (the generator of KBTensor.SplitMix64): draw w (w = 1, 2, ...)
// is mix(state + w·γ), and each draw decides four entries from its 16-bit chunks, low first
// (keep when chunk >= threshold). Every draw depends only on its index, so the loop vectorizes;
// the result equals the draw-by-draw Swift loop. Returns the generator's state after the draws.
KB_VEC uint64_t kb_dropout_mask(uint64_t state, uint64_t threshold, ptrdiff_t count, uint8_t *out) {
    const uint64_t g = 0x9E3779B97F4A7C15ull;
    ptrdiff_t full = count / 4, words = (count + 3) / 4;
    for (ptrdiff_t w = 0; w < full; w++) {
        uint64_t z = state + (uint64_t)(w + 1) * g;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        for (int j = 0; j < 4; j++) out[4 * w + j] = ((z >> (16 * j)) & 0xFFFF) >= threshold ? 1 : 0;
    }
    if (words > full) {
        uint64_t z = state + (uint64_t)words * g;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        for (ptrdiff_t i = 4 * full; i < count; i++) { out[i] = (z & 0xFFFF) >= threshold ? 1 : 0; z >>= 16; }
    }
    return state + (uint64_t)words * g;
}

#include <malloc.h>
// glibc: serve large blocks from the heap (no mmap) and never trim freed memory back, so buffers
// freed after one step are reused, already paged in, by the next.
void kb_keep_freed_pages(void) {
#ifdef __GLIBC__
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
#endif
}

// Nesting depth of parallelChunks on this thread (a nested call runs inline).
static _Thread_local int kb_parallel_depth = 0;
void kb_parallel_enter(void) { kb_parallel_depth++; }
void kb_parallel_exit(void) { kb_parallel_depth--; }
int kb_in_parallel(void) { return kb_parallel_depth > 0; }

// g = scale * (s - t) over the kept entries of a rows × cols block (row r kept when rowmask is NULL
// or rowmask[r] != 0; column c weighted by colkeep[c], 0 or 1, when given), 0 elsewhere. Returns
// the sum of (s - t)^2 over the kept entries (rows summed in float, the block in double).
double kb_masked_sqdiff(const float *s, const float *t, float *g, ptrdiff_t rows, ptrdiff_t cols,
                        const int32_t *rowmask, const float *colkeep, float scale) {
    double total = 0.0;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *sr = s + r * cols, *tr = t + r * cols;
        float *gr = g + r * cols;
        if (rowmask && rowmask[r] == 0) { for (ptrdiff_t c = 0; c < cols; c++) gr[c] = 0.0f; continue; }
        float acc = 0.0f;
        if (colkeep) {
            for (ptrdiff_t c = 0; c < cols; c++) { float d = (sr[c] - tr[c]) * colkeep[c]; acc += d * d; gr[c] = scale * d; }
        } else {
            for (ptrdiff_t c = 0; c < cols; c++) { float d = sr[c] - tr[c]; acc += d * d; gr[c] = scale * d; }
        }
        total += (double)acc;
    }
    return total;
}

// The way out of the shared small-B path (a 2 × 2 B): for t in [t0, t0 + nt), with W_t = [2][m1]
// at w + t * 2 * m1, y_t[2 i + j] = b[j][0] W_t[0][i] + b[j][1] W_t[1][i] (+ bias[2 i + j]).
void kb_mix2_tr_tokens(const float *w, ptrdiff_t m1, const float *b, ptrdiff_t t0, ptrdiff_t nt, float *y,
                       ptrdiff_t ldy, const float *bias) {
    const float b00 = b[0], b01 = b[1], b10 = b[2], b11 = b[3];
    for (ptrdiff_t t = t0; t < t0 + nt; t++) {
        const float *w0 = w + t * 2 * m1, *w1 = w0 + m1;
        float *yt = y + t * ldy;
        if (bias) {
            for (ptrdiff_t i = 0; i < m1; i++) {
                yt[2 * i] = b00 * w0[i] + b01 * w1[i] + bias[2 * i];
                yt[2 * i + 1] = b10 * w0[i] + b11 * w1[i] + bias[2 * i + 1];
            }
        } else {
            for (ptrdiff_t i = 0; i < m1; i++) {
                yt[2 * i] = b00 * w0[i] + b01 * w1[i];
                yt[2 * i + 1] = b10 * w0[i] + b11 * w1[i];
            }
        }
    }
}
