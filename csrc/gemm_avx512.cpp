// gemm_avx512.cpp — AVX-512F micro-kernels and packing for the packed GEMM (compiled with
// -mavx512f -mavx2 -mfma; only reached when ember::use_avx512() is true). Driver: gemm.cpp.
//
// Why a second SIMD path: the Zen 3 has no AVX-512, but CPUs that do (Zen 4/5,
// Intel since Skylake-SP) run 512-bit FMAs at the same rate as 256-bit ones on Zen 5 and
// most Intel server parts, so a zmm kernel does twice the work per instruction. NumPy's
// OpenBLAS picks its Haswell (AVX2) kernels on this machine (family 26, Zen 5), so this
// path is where ember pulls ahead of it; on a CPU without AVX-512 the AVX2 path runs.
//
// float: 8 x 32 tile = 16 zmm accumulators (8 rows x 2 vectors of 16), 2 zmm for the B row,
// broadcasts of A straight from memory: 19 of 32 registers. 2 FMA pipes x 4 cycles of
// latency need >= 8 independent chains; 16 give slack. Per k step: 2 aligned 64-byte loads
// of B, 8 broadcast loads of A, 16 FMAs (8 cycles at 2 FMAs per cycle). MR = 8 divides the
// batch sizes, image sizes and widths deep learning uses (the AVX2 path's 6 leaves a
// 2-row remainder on every 128).
// double: 8 x 16, the same register shape with 8 lanes.
//
// Edge tiles (m < 8 rows or n <= 16 columns) use the same template with fewer rows or one
// vector per row, and split K into S independent accumulator sets so that >= ~10 FMA chains
// stay in flight. The tile shape (R, H, S) depends only on the tile's (m, n), and packed and
// in-place A go through the same code, so every element is summed in the same order
// whatever the thread count or packing decision.
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

template <typename T>
struct Z;
template <>
struct Z<float> {
  using V = __m512;
  using M = __mmask16;
  static constexpr int L = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V load(const float* p) { return _mm512_load_ps(p); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static V loadu(M k, const float* p) { return _mm512_maskz_loadu_ps(k, p); }
  static void storeu(float* p, V x) { _mm512_storeu_ps(p, x); }
  static void storeu(float* p, M k, V x) { _mm512_mask_storeu_ps(p, k, x); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static float hsum(V x) { return _mm512_reduce_add_ps(x); }  // a fixed shuffle tree
};
template <>
struct Z<double> {
  using V = __m512d;
  using M = __mmask8;
  static constexpr int L = 8;
  static V zero() { return _mm512_setzero_pd(); }
  static V set1(double x) { return _mm512_set1_pd(x); }
  static V load(const double* p) { return _mm512_load_pd(p); }
  static V loadu(const double* p) { return _mm512_loadu_pd(p); }
  static V loadu(M k, const double* p) { return _mm512_maskz_loadu_pd(k, p); }
  static void storeu(double* p, V x) { _mm512_storeu_pd(p, x); }
  static void storeu(double* p, M k, V x) { _mm512_mask_storeu_pd(p, k, x); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static double hsum(V x) { return _mm512_reduce_add_pd(x); }
};

constexpr int kMR = 8;

// Writes cnt (<= L) lanes of x to C: alpha * x (beta == 0: C is not read) or
// alpha * x + beta * C (one FMA). Masked moves are native on AVX-512 (Zen 4/5 included).
template <typename T>
inline void store_vec(T* cr, typename Z<T>::V x, int64_t cnt, typename Z<T>::V va,
                      typename Z<T>::V vb, bool beta0) {
  using Zt = Z<T>;
  if (cnt >= Zt::L) {
    Zt::storeu(cr, beta0 ? Zt::mul(va, x) : Zt::fmadd(va, x, Zt::mul(vb, Zt::loadu(cr))));
  } else if (cnt > 0) {
    const typename Zt::M k = typename Zt::M((1u << cnt) - 1u);
    Zt::storeu(cr, k, beta0 ? Zt::mul(va, x) : Zt::fmadd(va, x, Zt::mul(vb, Zt::loadu(k, cr))));
  }
}

// One R x (H * L) tile: C[r, j] for r < R (R == m), j < n. PACKED: a is a packed panel
// (element (i, p) at a[p * kMR + i]); otherwise element (i, p) at a[i * rsa + p * csa].
// The B panel rows are NR = 2L apart. K is split S ways into independent accumulators
// (summed at the end in a fixed order); S = 1 for the full tile.
template <typename T, int R, int H, int S, bool PACKED>
void tile(int64_t kc, const T* a, int64_t rsa, int64_t csa, const T* b, T* c, int64_t ldc,
          T alpha, T beta, int64_t n) {
  using Zt = Z<T>;
  using V = typename Zt::V;
  constexpr int L = Zt::L, NR = 2 * L;
  if (PACKED) {
    rsa = 1;
    csa = kMR;
  }
  V acc[S][R][H];
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s)
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) acc[s][r][h] = Zt::zero();
  if (beta != T(0))
    for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
  const T* ar[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) ar[r] = a + r * rsa;
  int64_t p = 0, off = 0;
  for (; p + S <= kc; p += S) {
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s, off += csa) {
      V bv[H];
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) bv[h] = Zt::load(b + (p + s) * NR + L * h);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const V ai = Zt::set1(ar[r][off]);
#pragma GCC unroll 2
        for (int h = 0; h < H; ++h) acc[s][r][h] = Zt::fmadd(ai, bv[h], acc[s][r][h]);
      }
    }
  }
  for (; p < kc; ++p, off += csa) {
    V bv[H];
#pragma GCC unroll 2
    for (int h = 0; h < H; ++h) bv[h] = Zt::load(b + p * NR + L * h);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const V ai = Zt::set1(ar[r][off]);
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) acc[0][r][h] = Zt::fmadd(ai, bv[h], acc[0][r][h]);
    }
  }
  const V va = Zt::set1(alpha), vb = Zt::set1(beta);
  const bool beta0 = beta == T(0);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
    for (int h = 0; h < H; ++h) {
      V x = acc[0][r][h];
#pragma GCC unroll 8
      for (int s = 1; s < S; ++s) x = Zt::add(x, acc[s][r][h]);
      store_vec<T>(c + r * ldc + L * h, x, n - L * h, va, vb, beta0);
    }
  }
}

// K split for an R x H tile: enough independent accumulators for ~10 FMA chains.
constexpr int splits(int R, int H) { return (10 + R * H - 1) / (R * H) > 8 ? 8 : (10 + R * H - 1) / (R * H); }

template <typename T, int R, bool PACKED>
inline void tile_rows(int64_t kc, const T* a, int64_t rsa, int64_t csa, const T* b, T* c,
                      int64_t ldc, T alpha, T beta, int64_t n) {
  if (n > Z<T>::L)
    tile<T, R, 2, splits(R, 2), PACKED>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n);
  else
    tile<T, R, 1, splits(R, 1), PACKED>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n);
}

template <typename T, bool PACKED>
void kernel_any(int64_t kc, const T* a, int64_t rsa, int64_t csa, const T* b, T* c, int64_t ldc,
                T alpha, T beta, int64_t m, int64_t n) {
  switch (m) {
    case 1: tile_rows<T, 1, PACKED>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
    case 2: tile_rows<T, 2, PACKED>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
    case 3: tile_rows<T, 3, PACKED>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
    case 4: tile_rows<T, 4, PACKED>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
    case 5: tile_rows<T, 5, PACKED>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
    case 6: tile_rows<T, 6, PACKED>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
    case 7: tile_rows<T, 7, PACKED>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
    default: tile_rows<T, 8, PACKED>(kc, a, rsa, csa, b, c, ldc, alpha, beta, n); break;
  }
}

template <typename T>
void ukr_packed(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta, int64_t m,
                int64_t n) {
  kernel_any<T, true>(kc, a, 1, kMR, b, c, ldc, alpha, beta, m, n);
}
template <typename T>
void ukr_strided(int64_t kc, const T* a, int64_t rsa, int64_t csa, const T* b, T* c, int64_t ldc,
                 T alpha, T beta, int64_t m, int64_t n) {
  kernel_any<T, false>(kc, a, rsa, csa, b, c, ldc, alpha, beta, m, n);
}

// ---- packing for float (the transposing gathers; plain copies stay generic) ----------

// op(A) = A (row-major M x K): 8 rows read 8 columns at a time, one 8x8 transpose, and the
// 8 transposed rows are exactly 8 consecutive k steps of the panel. op(A) = A^T: 8
// contiguous floats per k step.
void pack_a_f32x8(bool trans, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
                  int64_t kc, float* dst) {
  for (int64_t r = 0; r < mc; r += kMR, dst += kMR * kc) {
    if (mc - r < kMR) {
      pack_a_generic<float, kMR>(trans, A, lda, i0 + r, mc - r, p0, kc, dst);
      break;
    }
    if (trans) {
      const float* s = A + p0 * lda + i0 + r;
      for (int64_t p = 0; p < kc; ++p) _mm256_storeu_ps(dst + p * kMR, _mm256_loadu_ps(s + p * lda));
      continue;
    }
    pack_rows8(A + (i0 + r) * lda + p0, lda, kc, dst, kMR);
  }
}

// op(B) = B^T (B row-major N x K): 32 rows of B, read 8 columns at a time in four 8x8
// transposes per 8 k steps. op(B) = B: 32 contiguous floats per k step (generic copy).
void pack_b_f32x32(bool trans, const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,
                   int64_t nc, float* dst) {
  constexpr int NR = 32;
  if (!trans) {
    pack_b_generic<float, NR>(false, B, ldb, p0, kc, j0, nc, dst);
    return;
  }
  for (int64_t c = 0; c < nc; c += NR, dst += NR * kc) {
    if (nc - c < NR) {
      pack_b_generic<float, NR>(true, B, ldb, p0, kc, j0 + c, nc - c, dst);
      break;
    }
    for (int q = 0; q < NR / 8; ++q) pack_rows8(B + (j0 + c + 8 * q) * ldb + p0, ldb, kc, dst + 8 * q, NR);
  }
}

// Cache blocking. A B micro-panel is KC x 32 floats (or x 16 doubles) = 128 * KC bytes; it
// stays in L1 while every A micro-panel of the MC block passes by (jr outer, ir inner).
//   48 KiB L1d (Zen 5): KC = 256, a 32 KiB B micro-panel + an 8 KiB A micro-panel.
//   32 KiB L1d (Zen 4, Intel): KC = 128, 16 + 4 KiB.
//   MC = 144 (18 micro-panels): the A block, MC x KC = 144 KiB at KC = 256, stays in the
//        1 MiB L2 (Zen 4: 1 MiB, Intel SP: 1-2 MiB) with room for the B panels passing by.
//   NC = 4096 floats / 2048 doubles: a 4 MiB B block in the shared L3.
// Measured here (median of 15, 1 / 2 threads, GFLOP/s), MC x KC = 144 x 256: 2048^3
// 227 / 427, 1024^3 229 / 437, 128x784x128 222 / 430. 96 x 256, 192 x 256, 288 x 256,
// 144 x 384, 96 x 512 and 144 x 128 were all within +-5 % of that (the machine's noise),
// so the sizes follow the cache reasoning above. In-L1 peak of the 8 x 32 kernel alone:
// ~252 GFLOP/s per core.

// Vector traits for gemv_impl.h.
template <typename T0>
struct GemvZ : Z<T0> {
  using T = T0;
  using V = typename Z<T0>::V;
  static T fma(T a, T b, T c) { return std::fma(a, b, c); }
  static void lanes(T* p, V x) { Z<T0>::storeu(p, x); }
  static T hsum(V x) { return Z<T0>::hsum(x); }
};

}  // namespace

// From the cache sizes (cache_sizes.h): 48 KiB L1d gives KC = 256, 32 KiB KC = 128; the A
// block is capped at 144 KiB (MC = 144 at KC = 256).
KernelSet<float> avx512_float_kernels() {
  static const GemmBlocking bl = gemm_blocking(cache_sizes(), kMR, 32, 4, 144 * 1024, 4096);
  return {kMR, 32, bl.mc, bl.kc, bl.nc, &ukr_packed<float>, &ukr_strided<float>, nullptr,
          &pack_a_f32x8, &pack_b_f32x32};
}
KernelSet<double> avx512_double_kernels() {
  static const GemmBlocking bl = gemm_blocking(cache_sizes(), kMR, 16, 8, 144 * 1024, 2048);
  return {kMR, 16, bl.mc, bl.kc, bl.nc, &ukr_packed<double>, &ukr_strided<double>, nullptr,
          &pack_a_generic<double, kMR>, &pack_b_generic<double, 16>};
}

GemvSet<float> avx512_float_gemv() { return {&gemv_dot<GemvZ<float>>, &gemv_axpy<GemvZ<float>>}; }
GemvSet<double> avx512_double_gemv() { return {&gemv_dot<GemvZ<double>>, &gemv_axpy<GemvZ<double>>}; }

}  // namespace gemm_detail
}  // namespace ember
