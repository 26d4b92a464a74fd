// A GEMM for y = x · Wᵀ with W packed ahead, for AVX-512 machines: fixed weights (inference, a
// distillation teacher) packed once, and a training step's weights packed once per step (W for
// the forward products, Wᵀ via kb_pack_weight_t for the input gradients).
//
// OpenBLAS packs both operands on every call. At the few rows of a short batch (128 tokens
// through a 768×3072 weight) re-packing the weight is a large share of the work: its single-thread
// sgemm reaches 86–101 GFLOP/s on those shapes here, this kernel 112–117 (the FMA peak of one Zen 4
// core is ~116 at the nominal clock), and 106–116 at 512–4096 rows where OpenBLAS reaches 97–105
// (tools/bench_gemm.py). Machines without AVX-512 keep OpenBLAS (`kb_gemm_packed_supported`).
//
// Blocking (after BLIS, Goto & van de Geijn 2008): row blocks of MC rows outermost (so each
// block's C stays in cache while all of K is summed into it), K in blocks of KC, and a register
// micro-kernel computing an MR × NR tile (8 × 48: 24 zmm accumulators; per k, 3 vector loads of W
// and 8 broadcasts of x for 24 FMAs). KC = 768 and MC = 128 were the best of a 3×3 grid here.
// Packed W layout: for each K block (KC rows of k), for each panel of NR output features, the
// panel's kc × NR values, k-major, features past N zero-filled.
#include "kb_kernels.h"
#include <stdlib.h>
#include <string.h>

#define KB_MR 8
#define KB_NR 48
#define KB_KC 768
#define KB_MC 128

size_t kb_packed_floats(int n, int k) {
    size_t panels = (size_t)(n + KB_NR - 1) / KB_NR;
    return panels * KB_NR * (size_t)k;
}

int kb_packed_panel_width(void) { return KB_NR; }

// One traversal for both layouts: for each K block, each panel of KB_NR packed rows, kc × KB_NR
// values k-major, rows past n zero-filled. Packed row j, column kk is W[j][kk] (W [n, k]), or
// with `transposed` W[kk][j] (W [k, n]; then a panel's values for one kk are contiguous in W).
static void kb_pack_panels(const float* w, int ldw, int n, int k, int transposed, float* out) {
    int np = (n + KB_NR - 1) / KB_NR;
    float* d = out;
    for (int pc = 0; pc < k; pc += KB_KC) {
        int kc = k - pc < KB_KC ? k - pc : KB_KC;
        for (int jp = 0; jp < np; jp++) {
            int rows = n - jp * KB_NR < KB_NR ? n - jp * KB_NR : KB_NR;
            for (int kk = 0; kk < kc; kk++) {
                float* dst = d + (size_t)kk * KB_NR;
                if (transposed) {
                    memcpy(dst, w + (size_t)(pc + kk) * ldw + jp * KB_NR, sizeof(float) * (size_t)rows);
                } else {
                    const float* src = w + (size_t)jp * KB_NR * ldw + pc + kk;
                    for (int j = 0; j < rows; j++) dst[j] = src[(size_t)j * ldw];
                }
                if (rows < KB_NR) memset(dst + rows, 0, sizeof(float) * (size_t)(KB_NR - rows));
            }
            d += (size_t)kc * KB_NR;
        }
    }
}

void kb_pack_weight(const float* w, int ldw, int n, int k, float* out) { kb_pack_panels(w, ldw, n, k, 0, out); }

// The packed matrix is Wᵀ [n, k] for W [k, n] (row stride ldw).
void kb_pack_weight_t(const float* w, int ldw, int n, int k, float* out) { kb_pack_panels(w, ldw, n, k, 1, out); }

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>

int kb_gemm_packed_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

// C tile [MR, NR] (= or +=) x rows [MR, kc] (read in place, row stride ldx) · b-panel [kc, NR];
// only rows < mr and columns < nr are written (a partial tile goes through a local buffer; rows
// past mr re-read row 0 and are dropped). Reading x in place instead of packing it into
// micro-panels measured 1–3% faster: the 8 rows of one tile stay in L1 across the panel loop.
__attribute__((target("avx512f")))
static void kb_tile(int kc, const float* restrict x, int ldx, const float* restrict b, float* restrict c, int ldc,
                    int accumulate, int mr, int nr) {
    __m512 r[KB_MR][3];
    const float* xr[KB_MR];
    for (int i = 0; i < KB_MR; i++) xr[i] = x + (size_t)(i < mr ? i : 0) * ldx;
    for (int i = 0; i < KB_MR; i++) for (int j = 0; j < 3; j++) r[i][j] = _mm512_setzero_ps();
    for (int kk = 0; kk < kc; kk++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), b2 = _mm512_loadu_ps(b + 32);
        _mm_prefetch((const char*)(b + KB_NR * 8), _MM_HINT_T0);
        for (int i = 0; i < KB_MR; i++) {
            __m512 ai = _mm512_set1_ps(xr[i][kk]);
            r[i][0] = _mm512_fmadd_ps(ai, b0, r[i][0]);
            r[i][1] = _mm512_fmadd_ps(ai, b1, r[i][1]);
            r[i][2] = _mm512_fmadd_ps(ai, b2, r[i][2]);
        }
        b += KB_NR;
    }
    if (mr == KB_MR && nr == KB_NR) {
        for (int i = 0; i < KB_MR; i++) {
            float* ci = c + (size_t)i * ldc;
            for (int j = 0; j < 3; j++) {
                __m512 v = accumulate ? _mm512_add_ps(r[i][j], _mm512_loadu_ps(ci + 16 * j)) : r[i][j];
                _mm512_storeu_ps(ci + 16 * j, v);
            }
        }
        return;
    }
    float tile[KB_MR * KB_NR];
    for (int i = 0; i < KB_MR; i++) for (int j = 0; j < 3; j++) _mm512_storeu_ps(tile + i * KB_NR + 16 * j, r[i][j]);
    for (int i = 0; i < mr; i++) {
        float* ci = c + (size_t)i * ldc;
        const float* ti = tile + i * KB_NR;
        if (accumulate) { for (int j = 0; j < nr; j++) ci[j] += ti[j]; }
        else { for (int j = 0; j < nr; j++) ci[j] = ti[j]; }
    }
}

void kb_gemm_packed(int m, int n, int k, const float* x, int ldx, const float* packed,
                    int panel0, int panel1, float* c, int ldc, int accumulate) {
    if (m <= 0 || n <= 0 || panel1 <= panel0) return;
    if (k <= 0) {
        if (accumulate) return;
        for (int i = 0; i < m; i++) {
            int j0 = panel0 * KB_NR, j1 = panel1 * KB_NR < n ? panel1 * KB_NR : n;
            if (j1 > j0) memset(c + (size_t)i * ldc + j0, 0, sizeof(float) * (size_t)(j1 - j0));
        }
        return;
    }
    int np = (n + KB_NR - 1) / KB_NR;
    for (int ic = 0; ic < m; ic += KB_MC) {
        int mc = m - ic < KB_MC ? m - ic : KB_MC;
        const float* block = packed;
        for (int pc = 0; pc < k; pc += KB_KC) {
            int kc = k - pc < KB_KC ? k - pc : KB_KC;
            for (int jp = panel0; jp < panel1; jp++) {
                const float* b = block + (size_t)jp * kc * KB_NR;
                int nr = n - jp * KB_NR < KB_NR ? n - jp * KB_NR : KB_NR;
                for (int ip = 0; ip < mc; ip += KB_MR) {
                    int mr = mc - ip < KB_MR ? mc - ip : KB_MR;
                    kb_tile(kc, x + (size_t)(ic + ip) * ldx + pc, ldx, b, c + (size_t)(ic + ip) * ldc + jp * KB_NR, ldc,
                            pc > 0 || accumulate, mr, nr);
                }
            }
            block += (size_t)np * kc * KB_NR;
        }
    }
}
#else
int kb_gemm_packed_supported(void) { return 0; }
void kb_gemm_packed(int m, int n, int k, const float* x, int ldx, const float* packed,
                    int panel0, int panel1, float* c, int ldc, int accumulate) {
    (void)accumulate; (void)m; (void)n; (void)k; (void)x; (void)ldx; (void)packed; (void)panel0; (void)panel1; (void)c; (void)ldc;
    abort();
}
#endif
