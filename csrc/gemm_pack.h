// gemm_pack.h — generic packing routines for the GEMM family (internal).
//
// Included by gemm.cpp (baseline x86-64) and gemm_avx2.cpp (-mavx2 -mfma). Everything here
// has internal linkage (anonymous namespace) on purpose: an inline/template function with
// external linkage would be emitted in both files and the linker could keep the AVX2 copy
// for the portable path, which would crash on a CPU without AVX2.
// Layout: see gemm_kernels.h.
#pragma once
#include <algorithm>
#include <cstdint>

namespace ember {
namespace gemm_detail {
namespace {

template <typename T, int MR>
void pack_a_generic(bool trans, const T* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
                    int64_t kc, T* dst) {
  for (int64_t r = 0; r < mc; r += MR, dst += MR * kc) {
    const int64_t m = std::min<int64_t>(MR, mc - r);
    if (trans) {  // op(A)(i, p) = A[p * lda + i]: m contiguous values per p
      const T* src = A + p0 * lda + i0 + r;
      if (m == MR) {
        for (int64_t p = 0; p < kc; ++p)
          for (int i = 0; i < MR; ++i) dst[p * MR + i] = src[p * lda + i];
      } else {
        for (int64_t p = 0; p < kc; ++p)
          for (int i = 0; i < MR; ++i) dst[p * MR + i] = i < m ? src[p * lda + i] : T(0);
      }
    } else {  // op(A)(i, p) = A[i * lda + p]: read each row contiguously
      for (int64_t i = 0; i < m; ++i) {
        const T* src = A + (i0 + r + i) * lda + p0;
        for (int64_t p = 0; p < kc; ++p) dst[p * MR + i] = src[p];
      }
      for (int64_t i = m; i < MR; ++i)
        for (int64_t p = 0; p < kc; ++p) dst[p * MR + i] = T(0);
    }
  }
}

template <typename T, int NR>
void pack_b_generic(bool trans, const T* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,
                    int64_t nc, T* dst) {
  for (int64_t c = 0; c < nc; c += NR, dst += NR * kc) {
    const int64_t n = std::min<int64_t>(NR, nc - c);
    if (!trans) {  // op(B)(p, j) = B[p * ldb + j]: n contiguous values per p
      const T* src = B + p0 * ldb + j0 + c;
      if (n == NR) {
        for (int64_t p = 0; p < kc; ++p)
          for (int j = 0; j < NR; ++j) dst[p * NR + j] = src[p * ldb + j];
      } else {
        for (int64_t p = 0; p < kc; ++p)
          for (int j = 0; j < NR; ++j) dst[p * NR + j] = j < n ? src[p * ldb + j] : T(0);
      }
    } else {  // op(B)(p, j) = B[j * ldb + p]
      for (int64_t j = 0; j < n; ++j) {
        const T* src = B + (j0 + c + j) * ldb + p0;
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = src[p];
      }
      for (int64_t j = n; j < NR; ++j)
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = T(0);
    }
  }
}

}  // namespace
}  // namespace gemm_detail
}  // namespace ember
