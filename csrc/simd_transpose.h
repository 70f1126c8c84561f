// simd_transpose.h — 8 x 8 float transpose in ymm registers and the 8-row packing built on
// it, for the packing routines of
// gemm_avx2.cpp and gemm_avx512.cpp. Include only from files compiled with at least -mavx2.
// Internal linkage on purpose (anonymous namespace): each file gets its own copy, compiled
// with that file's flags, so the linker can never hand an AVX-512-compiled copy to the
// AVX2 path.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace ember {
namespace gemm_detail {
namespace {

inline void transpose8(__m256& r0, __m256& r1, __m256& r2, __m256& r3, __m256& r4, __m256& r5,
                       __m256& r6, __m256& r7) {
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r0 = _mm256_permute2f128_ps(u0, u4, 0x20);
  r1 = _mm256_permute2f128_ps(u1, u5, 0x20);
  r2 = _mm256_permute2f128_ps(u2, u6, 0x20);
  r3 = _mm256_permute2f128_ps(u3, u7, 0x20);
  r4 = _mm256_permute2f128_ps(u0, u4, 0x31);
  r5 = _mm256_permute2f128_ps(u1, u5, 0x31);
  r6 = _mm256_permute2f128_ps(u2, u6, 0x31);
  r7 = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// Packs a strip of 8 rows (row stride ld) into k-major order: d[p * dstride + r] =
// s[r * ld + p] for r < 8, p < kc. Whole groups of 8 k steps go through one 8x8 transpose.
inline void pack_rows8(const float* s, int64_t ld, int64_t kc, float* d, int64_t dstride) {
  int64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    __m256 x0 = _mm256_loadu_ps(s + p), x1 = _mm256_loadu_ps(s + ld + p);
    __m256 x2 = _mm256_loadu_ps(s + 2 * ld + p), x3 = _mm256_loadu_ps(s + 3 * ld + p);
    __m256 x4 = _mm256_loadu_ps(s + 4 * ld + p), x5 = _mm256_loadu_ps(s + 5 * ld + p);
    __m256 x6 = _mm256_loadu_ps(s + 6 * ld + p), x7 = _mm256_loadu_ps(s + 7 * ld + p);
    transpose8(x0, x1, x2, x3, x4, x5, x6, x7);
    float* q = d + p * dstride;
    _mm256_storeu_ps(q, x0);
    _mm256_storeu_ps(q + dstride, x1);
    _mm256_storeu_ps(q + 2 * dstride, x2);
    _mm256_storeu_ps(q + 3 * dstride, x3);
    _mm256_storeu_ps(q + 4 * dstride, x4);
    _mm256_storeu_ps(q + 5 * dstride, x5);
    _mm256_storeu_ps(q + 6 * dstride, x6);
    _mm256_storeu_ps(q + 7 * dstride, x7);
  }
  for (; p < kc; ++p)
    for (int64_t r = 0; r < 8; ++r) d[p * dstride + r] = s[r * ld + p];
}

}  // namespace
}  // namespace gemm_detail
}  // namespace ember
