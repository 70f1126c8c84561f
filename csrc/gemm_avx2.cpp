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

namespace ember {
namespace gemm_detail {

namespace {

// ---- float 6x16 -------------------------------------------------------------------

#define EMBER_S_ROW(i)                                   \
  {                                                      \
    const __m256 ai = _mm256_broadcast_ss(a + (i));      \
    c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);          \
    c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);          \
  }

void sgemm_ukr_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                    float alpha, float beta, int64_t m, int64_t n) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  if (beta != 0.0f)
    for (int64_t i = 0; i < m; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    EMBER_S_ROW(0) EMBER_S_ROW(1) EMBER_S_ROW(2) EMBER_S_ROW(3) EMBER_S_ROW(4) EMBER_S_ROW(5)
    a += 6;
    b += 16;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  if (m == 6 && n == 16) {
    if (beta == 0.0f) {
#define EMBER_S_ST(i)                                                   \
  _mm256_storeu_ps(c + (i) * ldc, _mm256_mul_ps(va, c##i##0));          \
  _mm256_storeu_ps(c + (i) * ldc + 8, _mm256_mul_ps(va, c##i##1));
      EMBER_S_ST(0) EMBER_S_ST(1) EMBER_S_ST(2) EMBER_S_ST(3) EMBER_S_ST(4) EMBER_S_ST(5)
#undef EMBER_S_ST
    } else {
      const __m256 vb = _mm256_set1_ps(beta);
#define EMBER_S_ST(i)                                                                         \
  _mm256_storeu_ps(c + (i) * ldc,                                                             \
                   _mm256_fmadd_ps(va, c##i##0, _mm256_mul_ps(vb, _mm256_loadu_ps(c + (i) * ldc)))); \
  _mm256_storeu_ps(c + (i) * ldc + 8,                                                         \
                   _mm256_fmadd_ps(va, c##i##1, _mm256_mul_ps(vb, _mm256_loadu_ps(c + (i) * ldc + 8))));
      EMBER_S_ST(0) EMBER_S_ST(1) EMBER_S_ST(2) EMBER_S_ST(3) EMBER_S_ST(4) EMBER_S_ST(5)
#undef EMBER_S_ST
    }
    return;
  }
  // Partial tile: spill the accumulators and write the m x n corner with the same
  // arithmetic as the full-tile path (fma(alpha, acc, beta * c)).
  alignas(32) float t[6 * 16];
  _mm256_store_ps(t + 0, c00); _mm256_store_ps(t + 8, c01);
  _mm256_store_ps(t + 16, c10); _mm256_store_ps(t + 24, c11);
  _mm256_store_ps(t + 32, c20); _mm256_store_ps(t + 40, c21);
  _mm256_store_ps(t + 48, c30); _mm256_store_ps(t + 56, c31);
  _mm256_store_ps(t + 64, c40); _mm256_store_ps(t + 72, c41);
  _mm256_store_ps(t + 80, c50); _mm256_store_ps(t + 88, c51);
  for (int64_t i = 0; i < m; ++i) {
    float* cr = c + i * ldc;
    const float* tr = t + i * 16;
    if (beta == 0.0f)
      for (int64_t j = 0; j < n; ++j) cr[j] = alpha * tr[j];
    else
      for (int64_t j = 0; j < n; ++j) cr[j] = std::fma(alpha, tr[j], beta * cr[j]);
  }
}
#undef EMBER_S_ROW

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

}  // namespace

// Cache blocking (float; double uses the same byte budgets with half the elements).
// Target: Zen 3 per the issue (32 KiB L1d, 512 KiB L2 per core, 32 MiB shared L3); this
// machine reports family 26 (Zen 5: 48 KiB L1d, 1 MiB L2), so the choice is conservative.
//   KC = 256: a B micro-panel (KC x 16 floats = 16 KiB) plus an A micro-panel (KC x 6 =
//             6 KiB) stay in L1 while one tile is computed; the B micro-panel is reused by
//             every A micro-panel of the MC block, so it must not be evicted.
//   MC = 144 (24 micro-panels): the packed A block, MC x KC = 144 KiB, lives in L2 (half
//             of Zen 3's 512 KiB, leaving room for the streaming B panels and C tiles).
//   NC = 4080 (255 micro-panels): the packed B block, KC x NC = 4 MiB, lives in the shared
//             L3 and is read by both cores.
KernelSet<float> avx2_float_kernels() {
  return {6, 16, 144, 256, 4080, &sgemm_ukr_6x16, &pack_a_generic<float, 6>,
          &pack_b_generic<float, 16>};
}
KernelSet<double> avx2_double_kernels() {
  return {6, 8, 72, 256, 2040, &dgemm_ukr_6x8, &pack_a_generic<double, 6>,
          &pack_b_generic<double, 8>};
}

}  // namespace gemm_detail
}  // namespace ember
