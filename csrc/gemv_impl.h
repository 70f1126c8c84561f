// gemv_impl.h — matrix-vector kernels of the GEMM family, for products with M == 1 or
// N == 1 (a batch of one, a Dense(1) head and its weight gradient). Packing would copy the
// whole matrix to use each element once, so these read it in place.
//
// Written once over a vector-traits type VT and compiled per instruction set: gemm.cpp
// (portable, one lane), gemm_avx2.cpp (8 floats / 4 doubles), gemm_avx512.cpp (16 / 8).
// Internal linkage on purpose (see gemm_pack.h). VT provides: T, V, L, zero, loadu, set1,
// add, fmadd (vector), fma (scalar, fused where the ISA fuses the vector one), lanes (store),
// hsum (the lanes' sum, in a fixed order).
//
// Summation order, fixed by the shape alone (so results do not depend on the thread count
// or on how rows and columns are grouped):
//   gemv_dot:  each row's two vector accumulators take p in steps of 2L (and one more
//              vector step into the first if L or more are left), their lanes are added
//              in one fixed order (reduce2), then the K % L tail in ascending p.
//   gemv_axpy: each column is one accumulator over p ascending, vector lane or scalar alike.
#pragma once
#include <algorithm>
#include <cstdint>

namespace ember {
namespace gemm_detail {
namespace {

// Sum of the lanes of acc0 + acc1: the two vectors added lane by lane, then VT::hsum's
// fixed shuffle tree.
template <class VT>
inline typename VT::T reduce2(typename VT::V a0, typename VT::V a1) {
  return VT::hsum(VT::add(a0, a1));
}

// out[i] = sum_p R[i * ldr + p] * x[p] for i < rows (R rows contiguous in p).
template <class VT>
void gemv_dot(int64_t rows, int64_t K, const typename VT::T* R, int64_t ldr,
              const typename VT::T* x, typename VT::T* out) {
  using T = typename VT::T;
  using V = typename VT::V;
  constexpr int L = VT::L, G = 4;  // G rows share each load of x
  const int64_t kv = K / (2 * L) * (2 * L);  // two vectors per step up to kv,
  const int64_t kl = K / L * L;              // then one more vector if a whole one is left
  int64_t i = 0;
  for (; i + G <= rows; i += G) {
    V a0[G], a1[G];
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) a0[g] = a1[g] = VT::zero();
    for (int64_t p = 0; p < kv; p += 2 * L) {
      const V x0 = VT::loadu(x + p), x1 = VT::loadu(x + p + L);
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        const T* r = R + (i + g) * ldr + p;
        a0[g] = VT::fmadd(VT::loadu(r), x0, a0[g]);
        a1[g] = VT::fmadd(VT::loadu(r + L), x1, a1[g]);
      }
    }
    if (kl > kv) {
      const V x0 = VT::loadu(x + kv);
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) a0[g] = VT::fmadd(VT::loadu(R + (i + g) * ldr + kv), x0, a0[g]);
    }
    for (int g = 0; g < G; ++g) {
      const T* r = R + (i + g) * ldr;
      T s = kl ? reduce2<VT>(a0[g], a1[g]) : T(0);
      for (int64_t p = kl; p < K; ++p) s = VT::fma(r[p], x[p], s);
      out[i + g] = s;
    }
  }
  for (; i < rows; ++i) {
    const T* r = R + i * ldr;
    V a0 = VT::zero(), a1 = VT::zero();
    for (int64_t p = 0; p < kv; p += 2 * L) {
      a0 = VT::fmadd(VT::loadu(r + p), VT::loadu(x + p), a0);
      a1 = VT::fmadd(VT::loadu(r + p + L), VT::loadu(x + p + L), a1);
    }
    if (kl > kv) a0 = VT::fmadd(VT::loadu(r + kv), VT::loadu(x + kv), a0);
    T s = kl ? reduce2<VT>(a0, a1) : T(0);
    for (int64_t p = kl; p < K; ++p) s = VT::fma(r[p], x[p], s);
    out[i] = s;
  }
}

// NB vectors of columns [j, j + NB*L): out[j + c] = sum_p x[p] * R[p * ldr + j + c].
template <class VT, int NB>
inline void axpy_block(int64_t K, const typename VT::T* R, int64_t ldr, const typename VT::T* x,
                       typename VT::T* out) {
  using V = typename VT::V;
  constexpr int L = VT::L;
  V acc[NB];
#pragma GCC unroll 8
  for (int v = 0; v < NB; ++v) acc[v] = VT::zero();
  for (int64_t p = 0; p < K; ++p) {
    const V xp = VT::set1(x[p]);
    const typename VT::T* r = R + p * ldr;
#pragma GCC unroll 8
    for (int v = 0; v < NB; ++v) acc[v] = VT::fmadd(xp, VT::loadu(r + v * L), acc[v]);
  }
#pragma GCC unroll 8
  for (int v = 0; v < NB; ++v) VT::lanes(out + v * L, acc[v]);
}

// out[j] = sum_p x[p] * R[p * ldr + j] for j < n (R rows contiguous in j). Up to 16
// vectors of columns: blocks of up to 8 held in registers while the rows of R pass. Wider: blocks
// of kAxpyBlock columns accumulated in `out` itself (L1), four rows of R at a time, so R is
// read row after row, in address order. Either way each column is one chain of fused
// multiply-adds over p ascending: the same bits.
constexpr int64_t kAxpyBlock = 4096;
template <class VT>
void gemv_axpy(int64_t K, int64_t n, const typename VT::T* R, int64_t ldr,
               const typename VT::T* x, typename VT::T* out) {
  using T = typename VT::T;
  using V = typename VT::V;
  constexpr int L = VT::L;
  const int64_t nv = n / L * L;
  if (n <= 16 * L) {
    int64_t j = 0;
    for (; j + 8 * L <= nv; j += 8 * L) axpy_block<VT, 8>(K, R + j, ldr, x, out + j);
    switch ((nv - j) / L) {
      case 7: axpy_block<VT, 7>(K, R + j, ldr, x, out + j); break;
      case 6: axpy_block<VT, 6>(K, R + j, ldr, x, out + j); break;
      case 5: axpy_block<VT, 5>(K, R + j, ldr, x, out + j); break;
      case 4: axpy_block<VT, 4>(K, R + j, ldr, x, out + j); break;
      case 3: axpy_block<VT, 3>(K, R + j, ldr, x, out + j); break;
      case 2: axpy_block<VT, 2>(K, R + j, ldr, x, out + j); break;
      case 1: axpy_block<VT, 1>(K, R + j, ldr, x, out + j); break;
      default: break;
    }
  } else {
    for (int64_t j0 = 0; j0 < nv; j0 += kAxpyBlock) {
      const int64_t jn = std::min(kAxpyBlock, nv - j0);
      T* o = out + j0;
      for (int64_t j = 0; j < jn; j += L) VT::lanes(o + j, VT::zero());
      int64_t p = 0;
      for (; p + 4 <= K; p += 4) {
        const V x0 = VT::set1(x[p]), x1 = VT::set1(x[p + 1]);
        const V x2 = VT::set1(x[p + 2]), x3 = VT::set1(x[p + 3]);
        const T* r0 = R + p * ldr + j0;
        const T* r1 = r0 + ldr;
        const T* r2 = r1 + ldr;
        const T* r3 = r2 + ldr;
        for (int64_t j = 0; j < jn; j += L) {
          V acc = VT::fmadd(x0, VT::loadu(r0 + j), VT::loadu(o + j));
          acc = VT::fmadd(x1, VT::loadu(r1 + j), acc);
          acc = VT::fmadd(x2, VT::loadu(r2 + j), acc);
          VT::lanes(o + j, VT::fmadd(x3, VT::loadu(r3 + j), acc));
        }
      }
      for (; p < K; ++p) {
        const V xp = VT::set1(x[p]);
        const T* r = R + p * ldr + j0;
        for (int64_t j = 0; j < jn; j += L) VT::lanes(o + j, VT::fmadd(xp, VT::loadu(r + j), VT::loadu(o + j)));
      }
    }
  }
  if (nv == n) return;
  if (n >= L) {  // the last L columns again: the overlap is recomputed to the same bits
    axpy_block<VT, 1>(K, R + n - L, ldr, x, out + n - L);
    return;
  }
  for (int64_t j = nv; j < n; ++j) {
    T s = T(0);
    for (int64_t p = 0; p < K; ++p) s = VT::fma(x[p], R[p * ldr + j], s);
    out[j] = s;
  }
}

}  // namespace
}  // namespace gemm_detail
}  // namespace ember
