// gemm_kernels.h — internal to the GEMM family (gemm.cpp, gemm_avx2.cpp, gemm_avx512.cpp).
// Not a public API.
//
// A micro-kernel computes one MR x NR tile of C from packed panels:
//   a: kc x MR panel of op(A), element (i, p) at a[p * MR + i]   (zero padded past m)
//   b: kc x NR panel of op(B), element (p, j) at b[p * NR + j]   (zero padded past n,
//      64-byte aligned)
//   C[i, j] (i < m, j < n, row stride ldc) = alpha * sum_p a(i,p) b(p,j) + beta * C[i, j]
// beta == 0 writes C without reading it. Every element is summed over p in ascending
// order with one accumulator, so a tile's values do not depend on where it sits in the
// matrix or which thread computes it.
//
// Packing: pack_a writes ceil(mc/MR) panels of kc x MR (panel r at dst + r*MR*kc),
// pack_b writes ceil(nc/NR) panels of kc x NR; both zero pad the last panel.
#pragma once
#include <cstdint>

#include "cache_sizes.h"

namespace ember {

namespace gemm_detail {

template <typename T>
using MicroKernel = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha,
                             T beta, int64_t m, int64_t n);
// The same with A read in place: element (i, p) at a[i * rsa + p * csa] (no packing; used
// when each A panel would be used for only one or two B panels). nullptr: not available.
template <typename T>
using MicroKernelSA = void (*)(int64_t kc, const T* a, int64_t rsa, int64_t csa, const T* b, T* c,
                               int64_t ldc, T alpha, T beta, int64_t m, int64_t n);
// Tiles with 9..11 valid columns, A in place with unit column stride; bt holds the columns
// 8..n-1 of the B panel contiguously in K (bt[x * kc + p]). nullptr: not available.
template <typename T>
using MicroKernelNarrow = void (*)(int64_t kc, const T* a, int64_t rsa, const T* b, const T* bt,
                                   T* c, int64_t ldc, T alpha, T beta, int64_t m, int64_t n);
// Pack rows [i0, i0+mc) x cols [p0, p0+kc) of op(A).
template <typename T>
using PackA = void (*)(bool trans, const T* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
                       int64_t kc, T* dst);
// Pack rows [p0, p0+kc) x cols [j0, j0+nc) of op(B).
template <typename T>
using PackB = void (*)(bool trans, const T* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,
                       int64_t nc, T* dst);

template <typename T>
struct KernelSet {
  int64_t mr, nr;
  int64_t mc, kc, nc;  // cache blocking (see gemm.cpp for the reasoning)
  MicroKernel<T> kernel;
  MicroKernelSA<T> kernel_sa;
  MicroKernelNarrow<T> kernel_narrow;
  PackA<T> pack_a;
  PackB<T> pack_b;
};

// Matrix-vector kernels (gemv_impl.h): dot(rows, K, R, ldr, x, out) gives
// out[i] = sum_p R[i*ldr + p] x[p]; axpy(K, n, R, ldr, x, out) gives out[j] = sum_p x[p] R[p*ldr + j].
template <typename T>
struct GemvSet {
  void (*dot)(int64_t rows, int64_t K, const T* R, int64_t ldr, const T* x, T* out);
  void (*axpy)(int64_t K, int64_t n, const T* R, int64_t ldr, const T* x, T* out);
};

// AVX2/FMA kernels (gemm_avx2.cpp): float 6x16, double 6x8. Only call when use_avx2().
KernelSet<float> avx2_float_kernels();
KernelSet<double> avx2_double_kernels();
// AVX-512F kernels (gemm_avx512.cpp): float 8x32, double 8x16. Only call when use_avx512().
KernelSet<float> avx512_float_kernels();
KernelSet<double> avx512_double_kernels();
GemvSet<float> avx2_float_gemv();
GemvSet<double> avx2_double_gemv();
GemvSet<float> avx512_float_gemv();
GemvSet<double> avx512_double_gemv();

}  // namespace gemm_detail
}  // namespace ember
