// Element-wise and row-wise float kernels, written as plain loops that clang vectorizes
// (AVX2 + FMA). Only KBTensor calls them; threading is done by the caller over row ranges.
#ifndef KB_KERNELS_H
#define KB_KERNELS_H
#include <stddef.h>

void kb_exp(float *x, ptrdiff_t n);                       // x = exp(x)
void kb_erf(float *x, ptrdiff_t n);                       // x = erf(x)
void kb_gelu_erf(float *x, ptrdiff_t n);                  // x = x/2 (1 + erf(x/sqrt 2))
void kb_gelu_tanh(float *x, ptrdiff_t n);                 // x = x/2 (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))
void kb_tanh(float *x, ptrdiff_t n);
void kb_relu(float *x, ptrdiff_t n);
void kb_add(float *x, const float *y, ptrdiff_t n);       // x += y
void kb_add_bias_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias);
// Row softmax over cols; mask (optional) is added first: row r uses mask + (r / rows_per_mask) * cols.
void kb_softmax_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *mask, ptrdiff_t rows_per_mask);
// LayerNorm over cols; mean / rstd (optional) receive per-row statistics.
void kb_layernorm_rows(const float *x, float *out, ptrdiff_t rows, ptrdiff_t cols, const float *gamma,
                       const float *beta, float eps, float *mean, float *rstd);
// x = gelu_erf(x + bias) per row, in one pass.
void kb_bias_gelu_erf_rows(float *x, ptrdiff_t rows, ptrdiff_t cols, const float *bias);
// x += bias + residual (kept: the pre-norm sum), then out = LayerNorm(x), in one pass per row.
void kb_bias_residual_layernorm_rows(float *x, const float *bias, const float *residual, float *out,
                                     ptrdiff_t rows, ptrdiff_t cols, const float *gamma, const float *beta,
                                     float eps, float *mean, float *rstd);
// Backward kernels.
// In place: g holds dy on entry and dx on return.
void kb_gelu_erf_backward(const float *x, float *g, ptrdiff_t n);
void kb_gelu_tanh_backward(const float *x, float *g, ptrdiff_t n);
void kb_softmax_backward_rows(const float *p, float *g, ptrdiff_t rows, ptrdiff_t cols);
void kb_layernorm_backward_rows(const float *x, const float *dy, const float *gamma, const float *mean,
                                const float *rstd, float *dx, ptrdiff_t rows, ptrdiff_t cols);
void kb_layernorm_param_grads(const float *x, const float *dy, const float *mean, const float *rstd,
                              float *dgamma, float *dbeta, ptrdiff_t rows, ptrdiff_t cols);
void kb_bias_grad(const float *dy, float *db, ptrdiff_t rows, ptrdiff_t cols);
#include <stdint.h>
void kb_mask_scale(float *x, const uint8_t *keep, float scale, ptrdiff_t n);
void kb_adamw(float *p, const float *g, float *m, float *v, const uint8_t *decay, ptrdiff_t n,
              float lr, float wd, float b1, float b2, float eps, float step_size, float sqrt_bc2);
double kb_sumsq(const float *x, ptrdiff_t n);
void kb_scale(float *x, float s, ptrdiff_t n);
// dst[j][i][:] = src[i][j][:] for src [d0][d1][d2], for j in [j0, j0 + nj).
void kb_swap01_window(const float *src, ptrdiff_t d0, ptrdiff_t d1, ptrdiff_t d2, ptrdiff_t j0, ptrdiff_t nj, float *dst);
// y[t][i1·m2 + i2] (= or +=) w[t][i1]·b[i2] (+ bias) for t in [t0, t0 + nt): a one-column B's way out.
void kb_outer_rows(const float *w, ptrdiff_t m1, const float *b, ptrdiff_t m2, ptrdiff_t t0, ptrdiff_t nt,
                   float *y, ptrdiff_t ldy, const float *bias, int accumulate);
// y = x · bᵀ (+ y with accumulate) for x [rows, k], b [n, k] with small k, n (no BLAS call overhead).
void kb_small_right(const float *x, ptrdiff_t rows, ptrdiff_t k, const float *b, ptrdiff_t n, float *y, int accumulate);
void kb_bmix_tr(const float *x, ptrdiff_t n1, ptrdiff_t n2, const float *b, ptrdiff_t m2,
                ptrdiff_t t0, ptrdiff_t nt, float *z);
void kb_bmix_tr_back_x(const float *dz, ptrdiff_t n1, ptrdiff_t n2, const float *b, ptrdiff_t m2,
                       ptrdiff_t t0, ptrdiff_t nt, float *dx);
void kb_bmix_tr_back_b(const float *dz, const float *x, ptrdiff_t n1, ptrdiff_t n2, ptrdiff_t m2,
                       ptrdiff_t t0, ptrdiff_t nt, float *db);
// glibc allocator policy: large blocks from the heap, freed memory kept (see Memory.swift).
void kb_keep_freed_pages(void);
// y[t][i][j] = w[t][j][i] (+ bias[i][j]): token-local transposes, output rows ldy apart.
void kb_tr_tokens(const float *w, ptrdiff_t r, ptrdiff_t c, ptrdiff_t t0, ptrdiff_t nt, float *y, ptrdiff_t ldy,
                  const float *bias);
// y[t][i1][:] (+)= sum_j1 a[i1][j1] z[t][j1][:] for t in [t0, t0 + nt) (small A, no axis moves).
void kb_small_left(const float *a, ptrdiff_t m1, ptrdiff_t n1, const float *z, ptrdiff_t d,
                   ptrdiff_t t0, ptrdiff_t nt, float *y, int accumulate);
// out[i1][j1] += sum_t sum_c g[t][i1][c] z[t][j1][c] for t in [t0, t0 + nt) (small-A gradient).
void kb_small_outer(const float *g, ptrdiff_t m1, const float *z, ptrdiff_t n1, ptrdiff_t d,
                    ptrdiff_t t0, ptrdiff_t nt, float *out);
// g = scale (s - t) on kept entries (rowmask[r] != 0, colkeep[c] in {0, 1}; NULL keeps all), else 0;
// returns the sum of (s - t)^2 over kept entries.
double kb_masked_sqdiff(const float *s, const float *t, float *g, ptrdiff_t rows, ptrdiff_t cols,
                        const int32_t *rowmask, const float *colkeep, float scale);
// y_t[2 i + j] = sum_l b[j][l] W_t[l][i] (+ bias) for a 2 x 2 b, W_t = [2][m1] at w + t 2 m1.
void kb_mix2_tr_tokens(const float *w, ptrdiff_t m1, const float *b, ptrdiff_t t0, ptrdiff_t nt, float *y,
                       ptrdiff_t ldy, const float *bias);
// Nesting depth of parallelChunks on the calling thread.
void kb_parallel_enter(void);
void kb_parallel_exit(void);
int kb_in_parallel(void);

// y = x · Wᵀ with W [n, k] packed once (kb_gemm.c). kb_pack_weight writes kb_packed_floats(n, k)
// floats; kb_gemm_packed computes C[0..<m, panel0·w ..< min(panel1·w, n)] (w = the panel width),
// overwriting C, or adding to it with `accumulate`. Only where kb_gemm_packed_supported() (AVX-512).
#include <stddef.h>
size_t kb_packed_floats(int n, int k);
int kb_packed_panel_width(void);
void kb_pack_weight(const float* w, int ldw, int n, int k, float* out);
// The same layout for Wᵀ [n, k], read from W [k, n] (row stride ldw): y = x · W.
void kb_pack_weight_t(const float* w, int ldw, int n, int k, float* out);
int kb_gemm_packed_supported(void);
void kb_gemm_packed(int m, int n, int k, const float* x, int ldx, const float* packed,
                    int panel0, int panel1, float* c, int ldc, int accumulate);
// The same product over the depth range [k0, k1) alone: C = x[:, k0..<k1] · W[:, k0..<k1]ᵀ, x still
// addressed from column 0 (a product of some input features, e.g. Q | K | V's key and value parts
// in an input gradient).
void kb_gemm_packed_depth(int m, int n, int k, int k0, int k1, const float* x, int ldx, const float* packed,
                          int panel0, int panel1, float* c, int ldc, int accumulate);

// One level of Strassen's algorithm on packed weights (kb_gemm.c): kb_pack_weight_strassen packs
// W [n, k] (or, with `transposed`, W given as its transpose [k, n] with row stride ldw) into
// kb_strassen_packed_floats(n, k) floats (n and k even). kb_gemm_strassen computes the rows
// [0, rows) of both row halves of C = x · Wᵀ: x's top half at xt, bottom half at xb (row stride
// ldx), C's at ct and cb, over the panels [panel0, panel1) of the n/2 columns of each half, with
// s a scratch of kb_strassen_scratch_floats(rows, k) floats. kb_gemm_strassen_plain computes rows
// that are not split (any count) from the same packs at the classical cost, given
// u = kb_strassen_rowsum(x). Only where kb_gemm_packed_supported().
size_t kb_strassen_packed_floats(int n, int k);
size_t kb_strassen_scratch_floats(int rows, int k);
void kb_pack_weight_strassen(const float* w, int ldw, int n, int k, int transposed, float* out);
void kb_gemm_strassen(int rows, int n, int k, const float* xt, const float* xb, int ldx, float* s,
                      const float* packs, int panel0, int panel1, float* ct, float* cb, int ldc, int accumulate);
void kb_strassen_rowsum(int rows, int k, const float* x, int ldx, float* u);
void kb_gemm_strassen_plain(int rows, int n, int k, const float* x, int ldx, const float* u,
                            const float* packs, int panel0, int panel1, float* c, int ldc, int accumulate);
// Dropout keep-mask of `count` entries from SplitMix64 state `state` (see kb_kernels.c); returns
// the state after the draws.
uint64_t kb_dropout_mask(uint64_t state, uint64_t threshold, ptrdiff_t count, uint8_t *out);

#endif
