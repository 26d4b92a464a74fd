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

// The one packing traversal: for each K block, each panel of KB_NR packed rows, kc × KB_NR
// values k-major, rows past n zero-filled. Packed row j, column kk is s0·W[r0 + j][c0 + kk] +
// s1·W[r1 + j][c1 + kk] (s1 = 0: the first term alone; the plain packs take r0 = c0 = 0, s0 = 1;
// Strassen's packs a quadrant or the sum of two); W [rows, cols] with row stride ldw, or with
// `transposed` given as its transpose (W[r][c] = w[c·ldw + r]; then a panel's values for one kk
// are contiguous in w).
static void kb_pack_combo(const float* w, int ldw, int transposed, int n, int k,
                          int r0, int c0, float s0, int r1, int c1, float s1, float* out) {
    int np = (n + KB_NR - 1) / KB_NR;
    float* d = out;
    size_t rs = transposed ? 1 : (size_t)ldw, cs = transposed ? (size_t)ldw : 1;
    for (int pc = 0; pc < k; pc += KB_KC) {
        int kc = k - pc < KB_KC ? k - pc : KB_KC;
        for (int jp = 0; jp < np; jp++) {
            int rows = n - jp * KB_NR < KB_NR ? n - jp * KB_NR : KB_NR;
            for (int kk = 0; kk < kc; kk++) {
                float* dst = d + (size_t)kk * KB_NR;
                const float* a = w + (size_t)(r0 + jp * KB_NR) * rs + (size_t)(c0 + pc + kk) * cs;
                const float* b = w + (size_t)(r1 + jp * KB_NR) * rs + (size_t)(c1 + pc + kk) * cs;
                if (s1 == 0.0f) { for (int j = 0; j < rows; j++) dst[j] = s0 * a[(size_t)j * rs]; }
                else { for (int j = 0; j < rows; j++) dst[j] = s0 * a[(size_t)j * rs] + s1 * b[(size_t)j * rs]; }
                if (rows < KB_NR) memset(dst + rows, 0, sizeof(float) * (size_t)(KB_NR - rows));
            }
            d += (size_t)kc * KB_NR;
        }
    }
}

void kb_pack_weight(const float* w, int ldw, int n, int k, float* out) { kb_pack_combo(w, ldw, 0, n, k, 0, 0, 1, 0, 0, 0, out); }

// The packed matrix is Wᵀ [n, k] for W [k, n] (row stride ldw).
void kb_pack_weight_t(const float* w, int ldw, int n, int k, float* out) { kb_pack_combo(w, ldw, 1, n, k, 0, 0, 1, 0, 0, 0, out); }

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>

int kb_gemm_packed_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

// The register tile r [MR][3 zmm] = x rows [MR, kc] (read in place, row stride ldx) · b-panel
// [kc, NR] (rows past mr re-read row 0), shared by kb_tile and kb_tile2 (inlined into each).
__attribute__((target("avx512f"), always_inline))
static inline void kb_tile_product(int kc, const float* restrict x, int ldx, const float* restrict b, int mr,
                                   __m512 r[KB_MR][3]) {
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
}

// C tile [MR, NR] (= or +=) x rows [MR, kc] (read in place, row stride ldx) · b-panel [kc, NR];
// only rows < mr and columns < nr are written (a partial tile goes through a local buffer; rows
// past mr re-read row 0 and are dropped). Reading x in place instead of packing it into
// micro-panels measured 1–3% faster: the 8 rows of one tile stay in L1 across the panel loop.
__attribute__((target("avx512f")))
static void kb_tile(int kc, const float* restrict x, int ldx, const float* restrict b, float* restrict c, int ldc,
                    int accumulate, int mr, int nr) {
    __m512 r[KB_MR][3];
    kb_tile_product(kc, x, ldx, b, mr, r);
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

// One destination of a tile: C (row stride ldc), the sign the tile is added with, and whether it
// is added to C's values (`acc`) or overwrites them.
typedef struct { float* c; float sign; int acc; } kb_dest;

// kb_tile for Strassen's products: the same product (kb_tile_product) written to one or two destinations, each with a
// sign (every product feeds up to two blocks of C). A separate function so that the classical
// tile keeps its plain epilogue (routing it through this one measured 1.5–2% slower end to end).
__attribute__((target("avx512f")))
static void kb_tile2(int kc, const float* restrict x, int ldx, const float* restrict b, int ldc, int mr, int nr,
                     kb_dest d0, kb_dest d1) {
    // Destinations that are read back (Strassen's products add into C blocks last touched by
    // another product): fetch their lines while the tile computes.
    for (int d = 0; d < 2; d++) {
        kb_dest t = d ? d1 : d0;
        if (!t.c || !t.acc) continue;
        for (int i = 0; i < mr; i++) for (int j = 0; j < 3; j++) _mm_prefetch((const char*)(t.c + (size_t)i * ldc + 16 * j), _MM_HINT_T1);
    }
    __m512 r[KB_MR][3];
    kb_tile_product(kc, x, ldx, b, mr, r);
    for (int d = 0; d < 2; d++) {
        kb_dest t = d ? d1 : d0;
        if (!t.c) continue;
        if (mr == KB_MR && nr == KB_NR) {
            __m512 sg = _mm512_set1_ps(t.sign);
            for (int i = 0; i < KB_MR; i++) {
                float* ci = t.c + (size_t)i * ldc;
                for (int j = 0; j < 3; j++) {
                    __m512 v = t.acc ? _mm512_fmadd_ps(sg, r[i][j], _mm512_loadu_ps(ci + 16 * j))
                                     : (t.sign == 1.0f ? r[i][j] : _mm512_mul_ps(sg, r[i][j]));
                    _mm512_storeu_ps(ci + 16 * j, v);
                }
            }
            continue;
        }
        float tile[KB_MR * KB_NR];
        for (int i = 0; i < KB_MR; i++) for (int j = 0; j < 3; j++) _mm512_storeu_ps(tile + i * KB_NR + 16 * j, r[i][j]);
        for (int i = 0; i < mr; i++) {
            float* ci = t.c + (size_t)i * ldc;
            const float* ti = tile + i * KB_NR;
            if (t.acc) { for (int j = 0; j < nr; j++) ci[j] += t.sign * ti[j]; }
            else { for (int j = 0; j < nr; j++) ci[j] = t.sign * ti[j]; }
        }
    }
}

void kb_gemm_packed_depth(int m, int n, int k, int k0, int k1, const float* x, int ldx, const float* packed,
                          int panel0, int panel1, float* c, int ldc, int accumulate) {
    if (m <= 0 || n <= 0 || panel1 <= panel0) return;
    if (k0 < 0) k0 = 0;
    if (k1 > k) k1 = k;
    if (k1 <= k0) {
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
            // This K block's part of [k0, k1): packed rows [s, e) of each of its panels.
            int s = k0 > pc ? k0 - pc : 0, e = k1 < pc + kc ? k1 - pc : kc;
            if (s < e) {
                for (int jp = panel0; jp < panel1; jp++) {
                    const float* b = block + (size_t)jp * kc * KB_NR + (size_t)s * KB_NR;
                    int nr = n - jp * KB_NR < KB_NR ? n - jp * KB_NR : KB_NR;
                    for (int ip = 0; ip < mc; ip += KB_MR) {
                        int mr = mc - ip < KB_MR ? mc - ip : KB_MR;
                        kb_tile(e - s, x + (size_t)(ic + ip) * ldx + pc + s, ldx, b, c + (size_t)(ic + ip) * ldc + jp * KB_NR, ldc,
                                pc + s > k0 || accumulate, mr, nr);
                    }
                }
            }
            block += (size_t)np * kc * KB_NR;
        }
    }
}

void kb_gemm_packed(int m, int n, int k, const float* x, int ldx, const float* packed,
                    int panel0, int panel1, float* c, int ldc, int accumulate) {
    kb_gemm_packed_depth(m, n, k, 0, k, x, ldx, packed, panel0, panel1, c, ldc, accumulate);
}

// ---- One level of Strassen's algorithm on packed weights (Strassen 1969; with the weight-side
// sums formed once at packing, and each product's tiles added straight into the two blocks of C it
// feeds, as in Huang, Smith, Henry & van de Geijn, "Strassen's Algorithm Reloaded", SC 2016).
// C = x · Wᵀ with x [m, k] split into row halves (t, b) and column halves (1, 2), B = Wᵀ [k, n] into
// quadrants B11 .. B22 (B_ij = V_jiᵀ for the quadrants V of W [n, k]). Seven products of half size
// instead of eight:
//   M1 = (A11 + A22)(B11 + B22)   C11 +, C22 +        M5 = (A11 + A12) B22   C11 −, C12 +
//   M2 = (A21 + A22) B11          C21 +, C22 −        M6 = (A21 − A11)(B11 + B12)   C22 +
//   M3 = A11 (B12 − B22)          C12 +, C22 +        M7 = (A12 − A22)(B21 + B22)   C11 +
//   M4 = A22 (B21 − B11)          C11 +, C21 +
// The seven packed operands ("Strassen packs", kb_strassen_packed_floats) are, in W's terms,
// V11 + V22, V11, V21 − V22, V12 − V11, V22, V11 + V21, V12 + V22, each packed as kb_pack_weight
// packs an [n/2, k/2] weight. The plain product (rows that are not split) comes from four of
// them at the classic cost: C[:, 1] = (x1 + x2)·B11 + x2·(B21 − B11), C[:, 2] = x1·(B12 − B22) +
// (x1 + x2)·B22.

size_t kb_strassen_packed_floats(int n, int k) { return 7 * kb_packed_floats(n / 2, k / 2); }

void kb_pack_weight_strassen(const float* w, int ldw, int n, int k, int transposed, float* out) {
    int nh = n / 2, kh = k / 2;
    size_t sz = kb_packed_floats(nh, kh);
    // (r, c) of V11, V12, V21, V22 in W [n, k]
    const int V[4][2] = {{0, 0}, {0, kh}, {nh, 0}, {nh, kh}};
    // per operand: first quadrant, sign, second quadrant, sign (0: none)
    const int q[7][2] = {{0, 3}, {0, -1}, {2, 3}, {1, 0}, {3, -1}, {0, 2}, {1, 3}};
    const float sg[7][2] = {{1, 1}, {1, 0}, {1, -1}, {1, -1}, {1, 0}, {1, 1}, {1, 1}};
    for (int i = 0; i < 7; i++) {
        int a = q[i][0], b = q[i][1] < 0 ? 0 : q[i][1];
        kb_pack_combo(w, ldw, transposed, nh, kh, V[a][0], V[a][1], sg[i][0], V[b][0], V[b][1], sg[i][1], out + i * sz);
    }
}

// The A-side sums of rows [0, rows) of the halves (one row block at a time, into L2): S1 = A11 + A22, S2 = A21 + A22, S5 = A11 + A12,
// S6 = A21 − A11, S7 = A12 − A22, each [rows, k/2] contiguous, one after another in s.
__attribute__((target("avx512f")))
static void kb_strassen_sums(int rows, int k, const float* xt, const float* xb, int ldx, float* s) {
    int kh = k / 2;
    size_t blk = (size_t)rows * kh;
    for (int r = 0; r < rows; r++) {
        const float *a11 = xt + (size_t)r * ldx, *a12 = a11 + kh, *a21 = xb + (size_t)r * ldx, *a22 = a21 + kh;
        float *s1 = s + (size_t)r * kh, *s2 = s1 + blk, *s5 = s2 + blk, *s6 = s5 + blk, *s7 = s6 + blk;
        for (int j = 0; j < kh; j++) {
            s1[j] = a11[j] + a22[j]; s2[j] = a21[j] + a22[j]; s5[j] = a11[j] + a12[j];
            s6[j] = a21[j] - a11[j]; s7[j] = a12[j] - a22[j];
        }
    }
}

#ifndef KB_SMC
#define KB_SMC 128
#endif
size_t kb_strassen_scratch_floats(int rows, int k) { return (size_t)5 * (rows < KB_SMC ? rows : KB_SMC) * (size_t)(k / 2); }

void kb_gemm_strassen(int rows, int n, int k, const float* xt, const float* xb, int ldx, float* s,
                      const float* packs, int panel0, int panel1, float* ct, float* cb, int ldc, int accumulate) {
    int nh = n / 2, kh = k / 2;
    if (rows <= 0 || nh <= 0 || kh <= 0 || panel1 <= panel0) return;
    size_t sz = kb_packed_floats(nh, kh);
    int np = (nh + KB_NR - 1) / KB_NR, a = accumulate;
    for (int ic = 0; ic < rows; ic += KB_SMC) {
        int mc = rows - ic < KB_SMC ? rows - ic : KB_SMC;
        size_t blk = (size_t)mc * kh, co = (size_t)ic * ldc;
        kb_strassen_sums(mc, k, xt + (size_t)ic * ldx, xb + (size_t)ic * ldx, ldx, s);
        float *c11 = ct + co, *c12 = ct + co + nh, *c21 = cb + co, *c22 = cb + co + nh;
        struct { const float* x; int ld; kb_dest d0, d1; } P[7] = {
            {s,                     kh,  {c11, 1, a}, {c22, 1, a}},
            {s + blk,               kh,  {c21, 1, a}, {c22, -1, 1}},
            {xt + (size_t)ic * ldx, ldx, {c12, 1, a}, {c22, 1, 1}},
            {xb + (size_t)ic * ldx + kh, ldx, {c11, 1, 1}, {c21, 1, 1}},
            {s + 2 * blk,           kh,  {c11, -1, 1}, {c12, 1, 1}},
            {s + 3 * blk,           kh,  {c22, 1, 1}, {0, 0, 0}},
            {s + 4 * blk,           kh,  {c11, 1, 1}, {0, 0, 0}},
        };
        for (int p = 0; p < 7; p++) {
            for (int pc = 0; pc < kh; pc += KB_KC) {
                int kc = kh - pc < KB_KC ? kh - pc : KB_KC;
                for (int jp = panel0; jp < panel1; jp++) {
                    int nr = nh - jp * KB_NR < KB_NR ? nh - jp * KB_NR : KB_NR;
                    const float* b = packs + p * sz + (size_t)pc * np * KB_NR + (size_t)jp * kc * KB_NR;
                    for (int ip = 0; ip < mc; ip += KB_MR) {
                        int mr = mc - ip < KB_MR ? mc - ip : KB_MR;
                        size_t off = (size_t)ip * ldc + (size_t)jp * KB_NR;
                        kb_dest e0 = {P[p].d0.c + off, P[p].d0.sign, P[p].d0.acc || pc > 0};
                        kb_dest e1 = {P[p].d1.c ? P[p].d1.c + off : 0, P[p].d1.sign, P[p].d1.acc || pc > 0};
                        kb_tile2(kc, P[p].x + (size_t)ip * P[p].ld + pc, P[p].ld, b, ldc, mr, nr, e0, e1);
                    }
                }
            }
        }
    }
}

// u [rows, k/2] = x1 + x2, the sum kb_gemm_strassen_plain reads.
__attribute__((target("avx512f")))
void kb_strassen_rowsum(int rows, int k, const float* x, int ldx, float* u) {
    int kh = k / 2;
    for (int r = 0; r < rows; r++) {
        const float* x1 = x + (size_t)r * ldx;
        float* ur = u + (size_t)r * kh;
        for (int j = 0; j < kh; j++) ur[j] = x1[j] + x1[kh + j];
    }
}

void kb_gemm_strassen_plain(int rows, int n, int k, const float* x, int ldx, const float* u,
                            const float* packs, int panel0, int panel1, float* c, int ldc, int accumulate) {
    int nh = n / 2, kh = k / 2;
    if (rows <= 0 || nh <= 0 || kh <= 0 || panel1 <= panel0) return;
    size_t sz = kb_packed_floats(nh, kh);
    // The classical loop on four of the packs (each a plain packed [n/2, k/2] weight).
    kb_gemm_packed(rows, nh, kh, u, kh, packs + 1 * sz, panel0, panel1, c, ldc, accumulate);       // (x1 + x2)·B11
    kb_gemm_packed(rows, nh, kh, x + kh, ldx, packs + 3 * sz, panel0, panel1, c, ldc, 1);          // x2·(B21 − B11)
    kb_gemm_packed(rows, nh, kh, x, ldx, packs + 2 * sz, panel0, panel1, c + nh, ldc, accumulate); // x1·(B12 − B22)
    kb_gemm_packed(rows, nh, kh, u, kh, packs + 4 * sz, panel0, panel1, c + nh, ldc, 1);           // (x1 + x2)·B22
}
#else
size_t kb_strassen_packed_floats(int n, int k) { (void)n; (void)k; return 0; }
size_t kb_strassen_scratch_floats(int rows, int k) { (void)rows; (void)k; return 0; }
void kb_pack_weight_strassen(const float* w, int ldw, int n, int k, int transposed, float* out) {
    (void)w; (void)ldw; (void)n; (void)k; (void)transposed; (void)out; abort();
}
void kb_gemm_strassen(int rows, int n, int k, const float* xt, const float* xb, int ldx, float* s,
                      const float* packs, int panel0, int panel1, float* ct, float* cb, int ldc, int accumulate) {
    (void)rows; (void)n; (void)k; (void)xt; (void)xb; (void)ldx; (void)s; (void)packs; (void)panel0; (void)panel1;
    (void)ct; (void)cb; (void)ldc; (void)accumulate; abort();
}
void kb_strassen_rowsum(int rows, int k, const float* x, int ldx, float* u) { (void)rows; (void)k; (void)x; (void)ldx; (void)u; abort(); }
void kb_gemm_strassen_plain(int rows, int n, int k, const float* x, int ldx, const float* u,
                            const float* packs, int panel0, int panel1, float* c, int ldc, int accumulate) {
    (void)rows; (void)n; (void)k; (void)x; (void)ldx; (void)u; (void)packs; (void)panel0; (void)panel1; (void)c; (void)ldc;
    (void)accumulate; abort();
}
int kb_gemm_packed_supported(void) { return 0; }
void kb_gemm_packed(int m, int n, int k, const float* x, int ldx, const float* packed,
                    int panel0, int panel1, float* c, int ldc, int accumulate) {
    (void)accumulate; (void)m; (void)n; (void)k; (void)x; (void)ldx; (void)packed; (void)panel0; (void)panel1; (void)c; (void)ldc;
    abort();
}
void kb_gemm_packed_depth(int m, int n, int k, int k0, int k1, const float* x, int ldx, const float* packed,
                          int panel0, int panel1, float* c, int ldc, int accumulate) {
    (void)accumulate; (void)m; (void)n; (void)k; (void)k0; (void)k1; (void)x; (void)ldx; (void)packed; (void)panel0; (void)panel1;
    (void)c; (void)ldc; abort();
}
#endif
