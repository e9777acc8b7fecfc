// tunekit's f32 GEMM for AVX-512F, compiled into the source build of ggml's CPU backend (source-build.ts
// includes this file into ggml's llamafile/sgemm.cpp and calls it first from llamafile_sgemm for f32 × f32).
// ggml's own f32 kernel (tinyBLAS) streams whole K rows per tile without packing; on 2 Zen 5 cores it reached
// 28 % of the FMA peak at 512 × 2048 × 2048. This one packs cache blocks (KC × MC of W in L2, KC × NR of X in L1)
// and runs a 32 × 12 register tile: ~80 % of the peak on the same shape (bench/RESULTS.md).
//
// C[n][m] = Σ_k W[m][k] · X[n][k] — W: M × K rows (lda), X: N × K rows (ldb), C: N × M rows (ldc); the layout of
// ggml's MUL_MAT (src0 = W, src1 = X, dst = C). Every thread of the node calls it with its index and computes
// whole 32-row or 12-column panels of C (tk_sgemm_f32), so threads write disjoint parts of C and need no barrier.
// Valid C and C++ (it is compiled inside sgemm.cpp and, for the tests, alone as C).
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#define TK_MR 32
#define TK_NR 12
#define TK_KC 256
#define TK_MC 256
#define TK_NC 2040 // a multiple of TK_NR

static void tk_pack_w(const float *W, int64_t lda, int64_t m0, int64_t mc, int64_t k0, int64_t kc, float *dst) {
  // panels of TK_MR rows: dst[panel][k][TK_MR]
  for (int64_t p = 0; p < mc; p += TK_MR) {
    int64_t rows = mc - p < TK_MR ? mc - p : TK_MR;
    float *d = dst + p * kc;
    if (rows == TK_MR) {
      for (int64_t r = 0; r < TK_MR; r++) {
        const float *s = W + (m0 + p + r) * lda + k0;
        for (int64_t k = 0; k < kc; k++) d[k * TK_MR + r] = s[k];
      }
    } else {
      for (int64_t k = 0; k < kc; k++)
        for (int64_t r = 0; r < TK_MR; r++) d[k * TK_MR + r] = r < rows ? W[(m0 + p + r) * lda + k0 + k] : 0.0f;
    }
  }
}

static void tk_pack_x(const float *X, int64_t ldb, int64_t n, int64_t k0, int64_t kc, float *dst) {
  // panels of TK_NR columns: dst[panel][k][TK_NR]
  for (int64_t p = 0; p < n; p += TK_NR) {
    int64_t cols = n - p < TK_NR ? n - p : TK_NR;
    float *d = dst + p * kc;
    for (int64_t c = 0; c < TK_NR; c++) {
      if (c < cols) {
        const float *s = X + (p + c) * ldb + k0;
        for (int64_t k = 0; k < kc; k++) d[k * TK_NR + c] = s[k];
      } else {
        for (int64_t k = 0; k < kc; k++) d[k * TK_NR + c] = 0.0f;
      }
    }
  }
}

// acc over kc; then C (TK_NR rows of 32 floats at stride ldc) = (first ? 0 : C) + acc, for rows<TK_NR / m<TK_MR partial.
static inline void tk_micro(const float *a, const float *b, int64_t kc, float *C, int64_t ldc, int first, int64_t mrows, int64_t ncols) {
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
  __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
  __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
  __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
  __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps(), c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
  __m512 ca0 = _mm512_setzero_ps(), ca1 = _mm512_setzero_ps(), cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; k++) {
    __m512 a0 = _mm512_load_ps(a), a1 = _mm512_load_ps(a + 16);
    __m512 bb;
#define STEP(i, x0, x1) bb = _mm512_set1_ps(b[i]); x0 = _mm512_fmadd_ps(a0, bb, x0); x1 = _mm512_fmadd_ps(a1, bb, x1);
    STEP(0, c00, c01) STEP(1, c10, c11) STEP(2, c20, c21) STEP(3, c30, c31) STEP(4, c40, c41) STEP(5, c50, c51)
    STEP(6, c60, c61) STEP(7, c70, c71) STEP(8, c80, c81) STEP(9, c90, c91) STEP(10, ca0, ca1) STEP(11, cb0, cb1)
#undef STEP
    a += TK_MR;
    b += TK_NR;
  }
  __m512 acc[TK_NR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51},
                       {c60, c61}, {c70, c71}, {c80, c81}, {c90, c91}, {ca0, ca1}, {cb0, cb1}};
  // masks of the rows that exist (all 32 but in the last panel of an M that is not a multiple of 32)
  __mmask16 m0 = mrows >= 16 ? 0xFFFF : (__mmask16)((1u << mrows) - 1);
  __mmask16 m1 = mrows <= 16 ? 0 : (__mmask16)((1u << (mrows - 16)) - 1);
  for (int64_t j = 0; j < ncols; j++) {
    float *c = C + j * ldc;
    __m512 v0 = acc[j][0], v1 = acc[j][1];
    if (!first) {
      v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, c), v0);
      v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, c + 16), v1);
    }
    _mm512_mask_storeu_ps(c, m0, v0);
    _mm512_mask_storeu_ps(c + 16, m1, v1);
  }
}

// Packing buffers of each thread index, kept between calls (a training step makes hundreds of calls). Indexed
// by ggml's thread index (ggml runs one graph at a time per backend), so no thread-local storage is needed.
#define TK_MAX_THREADS 256
static float *tk_buf[TK_MAX_THREADS][2];
static size_t tk_cap[TK_MAX_THREADS][2];
static float *tk_scratch(int ith, size_t floats, int which) {
  if (ith < 0 || ith >= TK_MAX_THREADS) return NULL;
  if (tk_cap[ith][which] < floats) {
    free(tk_buf[ith][which]);
    tk_buf[ith][which] = (float *)aligned_alloc(64, ((floats * 4 + 63) / 64) * 64);
    tk_cap[ith][which] = tk_buf[ith][which] ? floats : 0;
  }
  return tk_buf[ith][which];
}

// This thread's rows [mbeg, mend) without packing: only when the packing buffers cannot be allocated.
static void tk_sgemm_plain(int64_t mbeg, int64_t mend, int64_t N, int64_t K, const float *W, int64_t lda,
                           const float *X, int64_t ldb, float *C, int64_t ldc) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t m = mbeg; m < mend; m++) {
      float s = 0;
      for (int64_t k = 0; k < K; k++) s += W[m * lda + k] * X[n * ldb + k];
      C[n * ldc + m] = s;
    }
}

// Rows [mbeg, mend) × columns [nbeg, nend) of C.
static void tk_sgemm_block(int ith, int64_t mbeg, int64_t mend, int64_t nbeg, int64_t nend, int64_t K,
                           const float *W, int64_t lda, const float *X, int64_t ldb, float *C, int64_t ldc) {
  float *xp = tk_scratch(ith, (size_t)TK_NC * TK_KC, 0);
  float *wp = tk_scratch(ith, (size_t)TK_MC * TK_KC, 1);
  if (!xp || !wp) {
    tk_sgemm_plain(mbeg, mend, nend - nbeg, K, W, lda, X + nbeg * ldb, ldb, C + nbeg * ldc, ldc);
    return;
  }
  for (int64_t nb = nbeg; nb < nend; nb += TK_NC) {
    int64_t nn = nend - nb < TK_NC ? nend - nb : TK_NC;
    for (int64_t k0 = 0; k0 < K; k0 += TK_KC) {
      int64_t kc = K - k0 < TK_KC ? K - k0 : TK_KC;
      tk_pack_x(X + nb * ldb, ldb, nn, k0, kc, xp);
      for (int64_t m0 = mbeg; m0 < mend; m0 += TK_MC) {
        int64_t mc = mend - m0 < TK_MC ? mend - m0 : TK_MC;
        tk_pack_w(W, lda, m0, mc, k0, kc, wp);
        for (int64_t n0 = 0; n0 < nn; n0 += TK_NR) {
          int64_t ncols = nn - n0 < TK_NR ? nn - n0 : TK_NR;
          for (int64_t i = 0; i < mc; i += TK_MR) {
            int64_t mrows = mc - i < TK_MR ? mc - i : TK_MR;
            tk_micro(wp + i * kc, xp + n0 * kc, kc, C + (nb + n0) * ldc + m0 + i, ldc, k0 == 0, mrows, ncols);
          }
        }
      }
    }
  }
}

// Thread ith of nth computes its share: whole 32-row panels of M when there are enough for every thread
// (no duplicated packing of W), otherwise whole 12-column panels of N (small M: LoRA ranks, attention heads).
static void tk_sgemm_f32(int64_t M, int64_t N, int64_t K, const float *W, int64_t lda, const float *X,
                         int64_t ldb, float *C, int64_t ldc, int ith, int nth) {
  int64_t mpanels = (M + TK_MR - 1) / TK_MR, npanels = (N + TK_NR - 1) / TK_NR;
  if (mpanels >= 2 * nth || npanels < nth) {
    int64_t p0 = mpanels * ith / nth, p1 = mpanels * (ith + 1) / nth;
    int64_t mend = p1 * TK_MR < M ? p1 * TK_MR : M;
    if (p0 * TK_MR < mend) tk_sgemm_block(ith, p0 * TK_MR, mend, 0, N, K, W, lda, X, ldb, C, ldc);
  } else {
    int64_t p0 = npanels * ith / nth, p1 = npanels * (ith + 1) / nth;
    int64_t nend = p1 * TK_NR < N ? p1 * TK_NR : N;
    if (p0 * TK_NR < nend) tk_sgemm_block(ith, 0, M, p0 * TK_NR, nend, K, W, lda, X, ldb, C, ldc);
  }
}
