// attention_avx512.cpp — AVX-512F float32 block primitives for the tiled attention
// (algorithm in attention_impl.h; compiled with -mavx512f -mavx2 -mfma, only reached when
// ember::use_avx512() is true). The block product keeps an MR x 32 tile of C in registers
// (MR rows x 2 zmm); partial tiles use masked loads/stores (__mmask16), so a tail costs the
// same instructions as a full tile. Each element of C is one FMA chain over k in order,
// started from zero and then added to C: the same order as the AVX2 path, whatever the tile.
//
// Everything here has internal linkage (see gemm_pack.h): nothing compiled for AVX-512 may
// be picked by the linker for the portable or AVX2 paths.
// GCC 12's AVX-512 intrinsics start unmasked operations from _mm512_undefined_ps(), which
// -Wmaybe-uninitialized reports once inlined (GCC bug 105593, fixed in GCC 13): silenced for
// the intrinsics header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "attention_impl.h"
#include "vec_avx512.h"

namespace ember {

namespace {

// C[MR rows x up to 16*NV cols] (=|+=) sum_k A(m, k) B[k, n]; FULL: all 16*NV columns
// (no masks); otherwise vector v covers the lanes in mask mk[v].
template <int MR, int NV, bool FULL>
inline void tile(int64_t K, const float* A, int64_t sam, int64_t sak, const float* B, int64_t ldb, float* C,
                 int64_t ldc, __mmask16 mk0, __mmask16 mk1, bool accumulate) {
  const __mmask16 mk[2] = {mk0, mk1};
  __m512 c[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) c[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    __m512 bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = FULL ? _mm512_loadu_ps(b + 16 * v) : _mm512_maskz_loadu_ps(mk[v], b + 16 * v);
    const float* a = A + k * sak;
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * sam]);
      for (int v = 0; v < NV; ++v) c[r][v] = _mm512_fmadd_ps(av, bv[v], c[r][v]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    float* cr = C + r * ldc;
    for (int v = 0; v < NV; ++v) {
      if (FULL) {
        if (accumulate) c[r][v] = _mm512_add_ps(c[r][v], _mm512_loadu_ps(cr + 16 * v));
        _mm512_storeu_ps(cr + 16 * v, c[r][v]);
      } else {
        if (accumulate) c[r][v] = _mm512_add_ps(c[r][v], _mm512_maskz_loadu_ps(mk[v], cr + 16 * v));
        _mm512_mask_storeu_ps(cr + 16 * v, mk[v], c[r][v]);
      }
    }
  }
}

// All M rows of one column strip: MR0-row tiles, then one tile for the remaining rows.
template <int NV, bool FULL, int MR0>
inline void tile_rows(int64_t M, int64_t K, const float* A, int64_t sam, int64_t sak, const float* B, int64_t ldb,
                      float* C, int64_t ldc, __mmask16 mk0, __mmask16 mk1, bool acc) {
  int64_t m = 0;
  for (; m + MR0 <= M; m += MR0) tile<MR0, NV, FULL>(K, A + m * sam, sam, sak, B, ldb, C + m * ldc, ldc, mk0, mk1, acc);
  const float* a = A + m * sam;
  float* c = C + m * ldc;
  switch (M - m) {
    case 7: if (MR0 > 7) tile<7, NV, FULL>(K, a, sam, sak, B, ldb, c, ldc, mk0, mk1, acc); break;
    case 6: if (MR0 > 6) tile<6, NV, FULL>(K, a, sam, sak, B, ldb, c, ldc, mk0, mk1, acc); break;
    case 5: if (MR0 > 5) tile<5, NV, FULL>(K, a, sam, sak, B, ldb, c, ldc, mk0, mk1, acc); break;
    case 4: if (MR0 > 4) tile<4, NV, FULL>(K, a, sam, sak, B, ldb, c, ldc, mk0, mk1, acc); break;
    case 3: tile<3, NV, FULL>(K, a, sam, sak, B, ldb, c, ldc, mk0, mk1, acc); break;
    case 2: tile<2, NV, FULL>(K, a, sam, sak, B, ldb, c, ldc, mk0, mk1, acc); break;
    case 1: tile<1, NV, FULL>(K, a, sam, sak, B, ldb, c, ldc, mk0, mk1, acc); break;
    default: break;
  }
}

template <int MR0>
void mm_tiles(int64_t M, int64_t N, int64_t K, const float* A, int64_t sam, int64_t sak, const float* B, int64_t ldb,
              float* C, int64_t ldc, bool accumulate) {
  static_assert(MR0 >= 4 && MR0 <= 8, "tile_rows handles remainders of up to 7 rows");
  int64_t n0 = 0;
  for (; n0 + 32 <= N; n0 += 32)
    tile_rows<2, true, MR0>(M, K, A, sam, sak, B + n0, ldb, C + n0, ldc, 0xFFFF, 0xFFFF, accumulate);
  const int64_t r = N - n0;
  if (r > 16)
    tile_rows<2, false, MR0>(M, K, A, sam, sak, B + n0, ldb, C + n0, ldc, 0xFFFF, first_lanes(r - 16), accumulate);
  else if (r == 16)
    tile_rows<1, true, MR0>(M, K, A, sam, sak, B + n0, ldb, C + n0, ldc, 0xFFFF, 0, accumulate);
  else if (r > 0)
    tile_rows<1, false, MR0>(M, K, A, sam, sak, B + n0, ldb, C + n0, ldc, first_lanes(r), 0, accumulate);
}

struct Avx512Ops {
  // 8-row tiles (16 accumulators) for every product: 4-row tiles measured ~5 % slower in the
  // backward (B8 H8 T256 D64: 10.5 vs 10.1 ms), unlike the AVX2 path.
  static void mm(int64_t M, int64_t N, int64_t K, const float* A, int64_t sam, int64_t sak, const float* B,
                 int64_t ldb, float* C, int64_t ldc, bool accumulate) {
    mm_tiles<8>(M, N, K, A, sam, sak, B, ldb, C, ldc, accumulate);
  }
  static void mm_fwd(int64_t M, int64_t N, int64_t K, const float* A, int64_t sam, int64_t sak, const float* B,
                     int64_t ldb, float* C, int64_t ldc, bool accumulate) {
    mm_tiles<8>(M, N, K, A, sam, sak, B, ldb, C, ldc, accumulate);
  }
  // The row helpers take whole vectors with plain loads / stores and one masked vector for
  // the tail (n <= kBK = 64): masked stores are slow on AMD (in the softmax rows, masking
  // every vector made an exp pass slower than AVX2's).
  static float scale_max(float* row, int64_t n, float scale) {
    const __m512 s = _mm512_set1_ps(scale);
    __m512 mx = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    int64_t c = 0;
    for (; c + 16 <= n; c += 16) {
      const __m512 x = _mm512_mul_ps(_mm512_loadu_ps(row + c), s);
      _mm512_storeu_ps(row + c, x);
      mx = _mm512_max_ps(x, mx);  // x first: a NaN x leaves mx (see attention_impl.h)
    }
    if (c < n) {
      const __mmask16 k = first_lanes(n - c);
      const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, row + c), s);
      _mm512_mask_storeu_ps(row + c, k, x);
      mx = _mm512_mask_max_ps(mx, k, x, mx);
    }
    return _mm512_reduce_max_ps(mx);
  }
  static float exp_sum(float* row, int64_t n, float shift) {
    const __m512 sh = _mm512_set1_ps(shift);
    __m512 acc = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 16 <= n; c += 16) {
      const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(row + c), sh));
      _mm512_storeu_ps(row + c, e);
      acc = _mm512_add_ps(acc, e);
    }
    if (c < n) {
      const __mmask16 k = first_lanes(n - c);
      const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, row + c), sh));
      _mm512_mask_storeu_ps(row + c, k, e);
      acc = _mm512_mask_add_ps(acc, k, acc, e);
    }
    return _mm512_reduce_add_ps(acc);  // a fixed shuffle tree
  }
  static void scale_exp(float* row, int64_t n, float scale, float shift) {
    const __m512 sc = _mm512_set1_ps(scale), sh = _mm512_set1_ps(shift);
    int64_t c = 0;
    for (; c + 16 <= n; c += 16)
      _mm512_storeu_ps(row + c, exp512(_mm512_fmsub_ps(_mm512_loadu_ps(row + c), sc, sh)));
    if (c < n) {
      const __mmask16 k = first_lanes(n - c);
      _mm512_mask_storeu_ps(row + c, k, exp512(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(k, row + c), sc, sh)));
    }
  }
};

}  // namespace

namespace avx512 {
void attention_forward_f32(float* out, float* lse, const float* q, const float* k, const float* v,
                           const AttnShape& s, float scale) {
  attn_forward_all<float, Avx512Ops>(out, lse, q, k, v, s, scale);
}
void attention_backward_f32(float* dq, float* dk, float* dv, const float* d_out, const float* q, const float* k,
                            const float* v, const float* out, const float* lse, const AttnShape& s, float scale) {
  attn_backward_all<float, Avx512Ops>(dq, dk, dv, d_out, q, k, v, out, lse, s, scale);
}
}  // namespace avx512

}  // namespace ember
