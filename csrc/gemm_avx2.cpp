// gemm_avx2.cpp — AVX2/FMA micro-kernels and packing for the packed GEMM (compiled with
// -mavx2 -mfma; only reached when ember::use_avx2() is true). Driver: gemm.cpp.
//
// float: 6 x 16 tile = 12 ymm accumulators (6 rows x 2 vectors of 8), 2 ymm for the B row,
// 1 for the broadcast A value: 15 of 16 registers. Zen's 2 FMA pipes with 4-cycle latency
// need >= 8 independent FMA chains in flight; 12 gives slack. Per k step: 2 aligned loads of
// B, 6 broadcasts of A, 12 FMAs — the loads fit the 2-3 load ports per cycle.
// double: 6 x 8 tile, the same register shape with 4 lanes.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "gemm_kernels.h"
#include "gemm_pack.h"
#include "gemv_impl.h"
#include "simd_transpose.h"

namespace ember {
namespace gemm_detail {

namespace {

// ---- float 6x16 -------------------------------------------------------------------

#define EMBER_S_ROWP(i, r)                               \
  {                                                      \
    const __m256 ai = _mm256_broadcast_ss(r + off);      \
    c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);          \
    c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);          \
  }
#define EMBER_S_ROW(i)                                   \
  {                                                      \
    const __m256 ai = _mm256_broadcast_ss(a + (i));      \
    c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);          \
    c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);          \
  }

// Writes `cnt` (0..8) lanes of x to C: alpha * x (beta == 0: C is not read) or
// fma(alpha, x, beta * C). Masked moves are slow on AMD (microcoded), so they are used
// only for a genuinely partial vector.
inline void store_vec_f32(float* cr, __m256 x, int64_t cnt, __m256 va, __m256 vb, bool beta0) {
  if (cnt >= 8) {
    _mm256_storeu_ps(cr, beta0 ? _mm256_mul_ps(va, x)
                               : _mm256_fmadd_ps(va, x, _mm256_mul_ps(vb, _mm256_loadu_ps(cr))));
  } else if (cnt > 0 && cnt <= 3) {  // a few lanes: scalar moves beat a masked store
    alignas(32) float t[8];
    _mm256_store_ps(t, x);
    const float alpha = _mm256_cvtss_f32(va), beta = _mm256_cvtss_f32(vb);
    for (int64_t j = 0; j < cnt; ++j) cr[j] = beta0 ? alpha * t[j] : std::fma(alpha, t[j], beta * cr[j]);
  } else if (cnt > 0) {
    const __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(cnt)),
                                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(cr, k, beta0 ? _mm256_mul_ps(va, x)
                                     : _mm256_fmadd_ps(va, x, _mm256_mul_ps(vb, _mm256_maskload_ps(cr, k))));
  }
}

// One row of a tile (two 8-lane halves, n <= 16 valid columns).
inline void store_row_f32(float* cr, __m256 x0, __m256 x1, int64_t n, __m256 va, __m256 vb,
                          bool beta0) {
  store_vec_f32(cr, x0, n, va, vb, beta0);
  store_vec_f32(cr + 8, x1, n - 8, va, vb, beta0);
}

// Edge tiles: R rows x H*8 columns (R <= 4 rows: the last row panel when M % 6 is 1..4;
// H = 1: tiles with n <= 8 valid columns). The K loop is split S ways into independent
// accumulators so that R*H*S >= 8 FMA chains are in flight (Zen: 2 FMA pipes x 4 cycles
// latency), instead of paying for a full 6 x 16 tile. Element (i, p) of A at
// a[i*rsa + p*csa]; B panel rows are 16 apart.
template <int R, int H, int S>
void sgemm_rows(int64_t kc, const float* a, int64_t rsa, int64_t csa, const float* b, float* c,
                int64_t ldc, float alpha, float beta, int64_t n) {
  __m256 acc[S][R][H];
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s)
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) acc[s][r][h] = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + S <= kc; p += S) {
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) {
      __m256 bv[H];
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) bv[h] = _mm256_load_ps(b + (p + s) * 16 + 8 * h);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m256 ai = _mm256_broadcast_ss(a + r * rsa + (p + s) * csa);
#pragma GCC unroll 2
        for (int h = 0; h < H; ++h) acc[s][r][h] = _mm256_fmadd_ps(ai, bv[h], acc[s][r][h]);
      }
    }
  }
  for (; p < kc; ++p) {
    __m256 bv[H];
#pragma GCC unroll 2
    for (int h = 0; h < H; ++h) bv[h] = _mm256_load_ps(b + p * 16 + 8 * h);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 ai = _mm256_broadcast_ss(a + r * rsa + p * csa);
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) acc[0][r][h] = _mm256_fmadd_ps(ai, bv[h], acc[0][r][h]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    __m256 x[2] = {acc[0][r][0], _mm256_setzero_ps()};
    if (H == 2) x[1] = acc[0][r][H - 1];
#pragma GCC unroll 8
    for (int s = 1; s < S; ++s)
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) x[h] = _mm256_add_ps(x[h], acc[s][r][h]);
    store_row_f32(c + r * ldc, x[0], x[1], n, va, vb, beta == 0.0f);
  }
}

// Tiles the full 6 x 16 kernel would waste lanes or latency on: m <= 4 rows or n <= 8.
inline void sgemm_edge(int64_t kc, const float* a, int64_t rsa, int64_t csa, const float* b,
                       float* c, int64_t ldc, float alpha, float beta, int64_t m, int64_t n) {
  if (n <= 8) {
    switch (m) {
      case 1: sgemm_rows<1, 1, 8>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
      case 2: sgemm_rows<2, 1, 4>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
      case 3: sgemm_rows<3, 1, 3>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
      case 4: sgemm_rows<4, 1, 2>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
      case 5: sgemm_rows<5, 1, 2>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
      default: sgemm_rows<6, 1, 2>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
    }
    return;
  }
  switch (m) {
    case 1: sgemm_rows<1, 2, 4>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
    case 2: sgemm_rows<2, 2, 2>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
    case 3: sgemm_rows<3, 2, 2>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
    default: sgemm_rows<4, 2, 1>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
  }
}

// STRIDED: A is read in place, element (i, p) at a[i * rsa + p * csa] (rows past m are
// clamped to row m-1 and their results discarded); otherwise a is a packed panel.
template <bool STRIDED>
inline void sgemm_6x16(int64_t kc, const float* a, int64_t rsa, int64_t csa, const float* b,
                       float* c, int64_t ldc, float alpha, float beta, int64_t m, int64_t n) {
  if (m <= 4 || n <= 8) {
    if (STRIDED)
      sgemm_edge(kc, a, rsa, csa, b, c, ldc, alpha, beta, m, n);
    else
      sgemm_edge(kc, a, 1, 6, b, c, ldc, alpha, beta, m, n);
    return;
  }
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  if (beta != 0.0f)
    for (int64_t i = 0; i < m; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
  if (STRIDED) {
    const float* r0 = a;
    const float* r1 = a + std::min<int64_t>(1, m - 1) * rsa;
    const float* r2 = a + std::min<int64_t>(2, m - 1) * rsa;
    const float* r3 = a + std::min<int64_t>(3, m - 1) * rsa;
    const float* r4 = a + std::min<int64_t>(4, m - 1) * rsa;
    const float* r5 = a + std::min<int64_t>(5, m - 1) * rsa;
#pragma GCC unroll 4
    for (int64_t p = 0, off = 0; p < kc; ++p, off += csa) {
      const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
      EMBER_S_ROWP(0, r0) EMBER_S_ROWP(1, r1) EMBER_S_ROWP(2, r2)
      EMBER_S_ROWP(3, r3) EMBER_S_ROWP(4, r4) EMBER_S_ROWP(5, r5)
      b += 16;
    }
  } else {
#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; ++p) {
      const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
      EMBER_S_ROW(0) EMBER_S_ROW(1) EMBER_S_ROW(2) EMBER_S_ROW(3) EMBER_S_ROW(4) EMBER_S_ROW(5)
      a += 6;
      b += 16;
    }
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const bool beta0 = beta == 0.0f;
  store_row_f32(c, c00, c01, n, va, vb, beta0);
  store_row_f32(c + ldc, c10, c11, n, va, vb, beta0);
  store_row_f32(c + 2 * ldc, c20, c21, n, va, vb, beta0);
  store_row_f32(c + 3 * ldc, c30, c31, n, va, vb, beta0);
  store_row_f32(c + 4 * ldc, c40, c41, n, va, vb, beta0);
  if (m == 6) store_row_f32(c + 5 * ldc, c50, c51, n, va, vb, beta0);
}
#undef EMBER_S_ROW
#undef EMBER_S_ROWP

void sgemm_ukr_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                    float alpha, float beta, int64_t m, int64_t n) {
  sgemm_6x16<false>(kc, a, 0, 0, b, c, ldc, alpha, beta, m, n);
}
void sgemm_ukr_6x16_sa(int64_t kc, const float* a, int64_t rsa, int64_t csa, const float* b,
                       float* c, int64_t ldc, float alpha, float beta, int64_t m, int64_t n) {
  sgemm_6x16<true>(kc, a, rsa, csa, b, c, ldc, alpha, beta, m, n);
}

// Narrow tiles with 9..11 valid columns and A read in place row by row (csa == 1), e.g.
// dX of a 3x3 single-channel convolution (N = 9): a 6 x 16 tile would spend 7/16 of its
// FMAs on padding. Columns 0..7 go through the 8-wide k-split tile; the e = n - 8 extra
// columns are dot products along K of A's contiguous rows with bt (the extra columns of
// op(B) stored contiguously in K: bt[x * kc + p]), vectorised over p.
void sgemm_ukr_narrow_sa(int64_t kc, const float* a, int64_t rsa, const float* b, const float* bt,
                         float* c, int64_t ldc, float alpha, float beta, int64_t m, int64_t n) {
  sgemm_edge(kc, a, rsa, 1, b, c, ldc, alpha, beta, m, 8);
  const int64_t e = n - 8, k8 = kc / 8 * 8;
  for (int64_t r = 0; r < m; ++r) {
    const float* ar = a + r * rsa;
    for (int64_t x = 0; x < e; ++x) {
      const float* bx = bt + x * kc;
      __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
      int64_t p = 0;
      for (; p + 16 <= k8; p += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(ar + p), _mm256_loadu_ps(bx + p), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(ar + p + 8), _mm256_loadu_ps(bx + p + 8), acc1);
      }
      if (p < k8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(ar + p), _mm256_loadu_ps(bx + p), acc0);
      acc0 = _mm256_add_ps(acc0, acc1);
      __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc0), _mm256_extractf128_ps(acc0, 1));
      h = _mm_add_ps(h, _mm_movehl_ps(h, h));
      h = _mm_add_ss(h, _mm_movehdup_ps(h));
      float sum = _mm_cvtss_f32(h);
      for (p = k8; p < kc; ++p) sum = std::fma(ar[p], bx[p], sum);
      float* cx = c + r * ldc + 8 + x;
      *cx = beta == 0.0f ? alpha * sum : std::fma(alpha, sum, beta * *cx);
    }
  }
}

// ---- AVX2 packing for float (the transposing gathers; plain copies stay generic) ---

// op(A) = A (row-major M x K): 6 rows are read 8 columns at a time and transposed.
void pack_a_f32x6(bool trans, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
                  int64_t kc, float* dst) {
  if (trans) {  // op(A)(i, p) = A[p * lda + i]: 6 contiguous floats per p
    for (int64_t r = 0; r < mc; r += 6, dst += 6 * kc) {
      if (mc - r < 6) {
        pack_a_generic<float, 6>(true, A, lda, i0 + r, mc - r, p0, kc, dst);
        break;
      }
      const float* s = A + p0 * lda + i0 + r;
      for (int64_t p = 0; p < kc; ++p) {
        _mm_storeu_ps(dst + p * 6, _mm_loadu_ps(s + p * lda));
        _mm_storeu_si64(dst + p * 6 + 4, _mm_loadu_si64(s + p * lda + 4));
      }
    }
    return;
  }
  for (int64_t r = 0; r < mc; r += 6, dst += 6 * kc) {
    if (mc - r < 6) {
      pack_a_generic<float, 6>(false, A, lda, i0 + r, mc - r, p0, kc, dst);
      break;
    }
    const float* s = A + (i0 + r) * lda + p0;
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
      __m256 x0 = _mm256_loadu_ps(s + p), x1 = _mm256_loadu_ps(s + lda + p);
      __m256 x2 = _mm256_loadu_ps(s + 2 * lda + p), x3 = _mm256_loadu_ps(s + 3 * lda + p);
      __m256 x4 = _mm256_loadu_ps(s + 4 * lda + p), x5 = _mm256_loadu_ps(s + 5 * lda + p);
      __m256 x6 = _mm256_setzero_ps(), x7 = _mm256_setzero_ps();
      transpose8(x0, x1, x2, x3, x4, x5, x6, x7);
      float* d = dst + p * 6;  // each 8-wide store spills 2 lanes into the next column
      _mm256_storeu_ps(d, x0);
      _mm256_storeu_ps(d + 6, x1);
      _mm256_storeu_ps(d + 12, x2);
      _mm256_storeu_ps(d + 18, x3);
      _mm256_storeu_ps(d + 24, x4);
      _mm256_storeu_ps(d + 30, x5);
      _mm256_storeu_ps(d + 36, x6);
      _mm_storeu_ps(d + 42, _mm256_castps256_ps128(x7));
      _mm_storeu_si64(d + 46, _mm_castps_si128(_mm256_extractf128_ps(x7, 1)));
    }
    for (; p < kc; ++p)
      for (int64_t i = 0; i < 6; ++i) dst[p * 6 + i] = s[i * lda + p];
  }
}

// op(B) = B^T (B row-major N x K): 16 rows are read 8 columns at a time, two 8x8 transposes.
void pack_b_f32x16(bool trans, const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,
                   int64_t nc, float* dst) {
  if (!trans) {
    pack_b_generic<float, 16>(trans, B, ldb, p0, kc, j0, nc, dst);
    return;
  }
  for (int64_t c = 0; c < nc; c += 16, dst += 16 * kc) {
    if (nc - c < 16) {
      pack_b_generic<float, 16>(true, B, ldb, p0, kc, j0 + c, nc - c, dst);
      break;
    }
    for (int h = 0; h < 2; ++h) pack_rows8(B + (j0 + c + 8 * h) * ldb + p0, ldb, kc, dst + 8 * h, 16);
  }
}

// ---- double 6x8 -------------------------------------------------------------------

#define EMBER_D_ROW(i)                                   \
  {                                                      \
    const __m256d ai = _mm256_broadcast_sd(a + (i));     \
    c##i##0 = _mm256_fmadd_pd(ai, b0, c##i##0);          \
    c##i##1 = _mm256_fmadd_pd(ai, b1, c##i##1);          \
  }

void dgemm_ukr_6x8(int64_t kc, const double* a, const double* b, double* c, int64_t ldc,
                   double alpha, double beta, int64_t m, int64_t n) {
  __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd();
  __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd();
  __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
  __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
  __m256d c40 = _mm256_setzero_pd(), c41 = _mm256_setzero_pd();
  __m256d c50 = _mm256_setzero_pd(), c51 = _mm256_setzero_pd();
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; ++p) {
    const __m256d b0 = _mm256_load_pd(b), b1 = _mm256_load_pd(b + 4);
    EMBER_D_ROW(0) EMBER_D_ROW(1) EMBER_D_ROW(2) EMBER_D_ROW(3) EMBER_D_ROW(4) EMBER_D_ROW(5)
    a += 6;
    b += 8;
  }
  alignas(32) double t[6 * 8];
  _mm256_store_pd(t + 0, c00); _mm256_store_pd(t + 4, c01);
  _mm256_store_pd(t + 8, c10); _mm256_store_pd(t + 12, c11);
  _mm256_store_pd(t + 16, c20); _mm256_store_pd(t + 20, c21);
  _mm256_store_pd(t + 24, c30); _mm256_store_pd(t + 28, c31);
  _mm256_store_pd(t + 32, c40); _mm256_store_pd(t + 36, c41);
  _mm256_store_pd(t + 40, c50); _mm256_store_pd(t + 44, c51);
  for (int64_t i = 0; i < m; ++i) {
    double* cr = c + i * ldc;
    const double* tr = t + i * 8;
    if (beta == 0.0)
      for (int64_t j = 0; j < n; ++j) cr[j] = alpha * tr[j];
    else
      for (int64_t j = 0; j < n; ++j) cr[j] = std::fma(alpha, tr[j], beta * cr[j]);
  }
}
#undef EMBER_D_ROW

// Vector traits for gemv_impl.h.
struct GemvF8 {
  using T = float;
  using V = __m256;
  static constexpr int L = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V loadu(const float* p) { return _mm256_loadu_ps(p); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static float fma(float a, float b, float c) { return std::fma(a, b, c); }
  static void lanes(float* p, V x) { _mm256_storeu_ps(p, x); }
  static float hsum(V x) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
  }
};
struct GemvD4 {
  using T = double;
  using V = __m256d;
  static constexpr int L = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V loadu(const double* p) { return _mm256_loadu_pd(p); }
  static V set1(double x) { return _mm256_set1_pd(x); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static double fma(double a, double b, double c) { return std::fma(a, b, c); }
  static void lanes(double* p, V x) { _mm256_storeu_pd(p, x); }
  static double hsum(V x) {
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(x), _mm256_extractf128_pd(x, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
  }
};

}  // namespace

// Cache blocking (double uses the same byte budgets with half the elements per line).
// The issue targets Zen 3: 32 KiB L1d, 512 KiB L2 per core, 32 MiB shared L3:
//   KC = 256: a B micro-panel (KC x 16 floats = 16 KiB) plus an A micro-panel (KC x 6 =
//             6 KiB) stay in L1 while one tile is computed; the B micro-panel is reused by
//             every A micro-panel of the MC block (jr outer, ir inner), so it must not be
//             evicted: 22 KiB of 32.
//   MC = 144 (24 micro-panels): the packed A block, MC x KC = 144 KiB, lives in L2 (under
//             a third of 512 KiB, leaving room for the B micro-panels and C tiles passing by).
//   NC = 4080 (255 micro-panels): the packed B block, KC x NC = 4 MiB, lives in the shared
//             L3 and is read by both cores.
// This machine reports family 26 (Zen 5: 48 KiB L1d, 1 MiB L2). There KC = 512 (32 KiB B
// micro-panel + 12 KiB A micro-panel = 44 of 48 KiB) halves the passes over C, which
// matters once C leaves L2 (2048^3: 16 MiB of C re-read and re-written per K block):
// best-of-60 single-thread, 2048^3 120.5 -> 127.7 GFLOP/s, 1024^3 and 512^3 unchanged within
// noise; MC = 96 keeps the A block (192 KiB) well inside L2. So KC/MC are picked from the
// cache sizes reported at run time.

// The byte budgets above as a formula of the cache sizes (cache_sizes.h: gemm_blocking):
// 32 KiB L1d / 512 KiB L2 gives KC = 256, MC = 144; 48 KiB / 1 MiB gives KC = 512, MC = 96
// (the A block capped at 192 KiB). Computed once per process.
KernelSet<float> avx2_float_kernels() {
  static const GemmBlocking bl = gemm_blocking(cache_sizes(), 6, 16, 4, 192 * 1024, 4080);
  return {6, 16, bl.mc, bl.kc, bl.nc, &sgemm_ukr_6x16, &sgemm_ukr_6x16_sa,
          &sgemm_ukr_narrow_sa, &pack_a_f32x6, &pack_b_f32x16};
}
KernelSet<double> avx2_double_kernels() {
  static const GemmBlocking bl = gemm_blocking(cache_sizes(), 6, 8, 8, 192 * 1024, 2040);
  return {6, 8, bl.mc, bl.kc, bl.nc, &dgemm_ukr_6x8, nullptr, nullptr,
          &pack_a_generic<double, 6>, &pack_b_generic<double, 8>};
}

GemvSet<float> avx2_float_gemv() { return {&gemv_dot<GemvF8>, &gemv_axpy<GemvF8>}; }
GemvSet<double> avx2_double_gemv() { return {&gemv_dot<GemvD4>, &gemv_axpy<GemvD4>}; }

}  // namespace gemm_detail
}  // namespace ember
