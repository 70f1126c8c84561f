// attention_avx2.cpp — AVX2/FMA float32 block primitives for the tiled attention
// (algorithm in attention_impl.h). The block product keeps a 6 x 16 tile of C in registers.
#include "attention_impl.h"
#include "vec_avx2.h"

namespace ember {

namespace {

// C[MR rows x up to 16 cols] (=|+=) sum_k A(m, k) B[k, n]; FULL: n == 16 (no masked loads).
template <int MR, bool FULL>
inline void tile(int64_t K, const float* A, int64_t sam, int64_t sak, const float* B, int64_t ldb, float* C,
                 int64_t ldc, int n, bool accumulate) {
  __m256 c0[MR], c1[MR];
  for (int r = 0; r < MR; ++r) c0[r] = c1[r] = _mm256_setzero_ps();
  const __m256i m0 = FULL ? _mm256_set1_epi32(-1) : avx2::tail_mask(std::min(n, 8));
  const __m256i m1 = FULL ? _mm256_set1_epi32(-1) : avx2::tail_mask(std::max(n - 8, 0));
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    __m256 b0, b1;
    if (FULL) {
      b0 = _mm256_loadu_ps(b);
      b1 = _mm256_loadu_ps(b + 8);
    } else {
      b0 = _mm256_maskload_ps(b, m0);
      b1 = _mm256_maskload_ps(b + 8, m1);
    }
    const float* a = A + k * sak;
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * sam);
      c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    float* c = C + r * ldc;
    if (FULL) {
      if (accumulate) {
        c0[r] = _mm256_add_ps(c0[r], _mm256_loadu_ps(c));
        c1[r] = _mm256_add_ps(c1[r], _mm256_loadu_ps(c + 8));
      }
      _mm256_storeu_ps(c, c0[r]);
      _mm256_storeu_ps(c + 8, c1[r]);
    } else {
      if (accumulate) {
        c0[r] = _mm256_add_ps(c0[r], _mm256_maskload_ps(c, m0));
        c1[r] = _mm256_add_ps(c1[r], _mm256_maskload_ps(c + 8, m1));
      }
      _mm256_maskstore_ps(c, m0, c0[r]);
      _mm256_maskstore_ps(c + 8, m1, c1[r]);
    }
  }
}

template <bool FULL, int MR0>
inline void tile_rows(int64_t M, int64_t K, const float* A, int64_t sam, int64_t sak, const float* B, int64_t ldb,
                      float* C, int64_t ldc, int n, bool acc) {
  int64_t m = 0;
  if (MR0 == 6)
    for (; m + 6 <= M; m += 6) tile<6, FULL>(K, A + m * sam, sam, sak, B, ldb, C + m * ldc, ldc, n, acc);
  for (; m + 4 <= M; m += 4) tile<4, FULL>(K, A + m * sam, sam, sak, B, ldb, C + m * ldc, ldc, n, acc);
  for (; m < M; ++m) tile<1, FULL>(K, A + m * sam, sam, sak, B, ldb, C + m * ldc, ldc, n, acc);
}

template <int MR0>
void mm_tiles(int64_t M, int64_t N, int64_t K, const float* A, int64_t sam, int64_t sak, const float* B, int64_t ldb,
              float* C, int64_t ldc, bool accumulate) {
  int64_t n0 = 0;
  for (; n0 + 16 <= N; n0 += 16) tile_rows<true, MR0>(M, K, A, sam, sak, B + n0, ldb, C + n0, ldc, 16, accumulate);
  if (n0 < N) tile_rows<false, MR0>(M, K, A, sam, sak, B + n0, ldb, C + n0, ldc, int(N - n0), accumulate);
}

struct Avx2Ops {
  // 4-row tiles by default; the forward's products use 6-row tiles (12 accumulators), which
  // measured faster there but slower in the backward's mix of products.
  static void mm(int64_t M, int64_t N, int64_t K, const float* A, int64_t sam, int64_t sak, const float* B,
                 int64_t ldb, float* C, int64_t ldc, bool accumulate) {
    mm_tiles<4>(M, N, K, A, sam, sak, B, ldb, C, ldc, accumulate);
  }
  static void mm_fwd(int64_t M, int64_t N, int64_t K, const float* A, int64_t sam, int64_t sak, const float* B,
                     int64_t ldb, float* C, int64_t ldc, bool accumulate) {
    mm_tiles<6>(M, N, K, A, sam, sak, B, ldb, C, ldc, accumulate);
  }
  static float scale_max(float* row, int64_t n, float scale) {
    const __m256 s = _mm256_set1_ps(scale);
    __m256 mx = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
      __m256 x = _mm256_mul_ps(_mm256_loadu_ps(row + c), s);
      _mm256_storeu_ps(row + c, x);
      mx = _mm256_max_ps(x, mx);  // x first: a NaN x leaves mx (see attention_impl.h)
    }
    float m = avx2::hmax(mx);
    for (; c < n; ++c) {
      row[c] *= scale;
      m = row[c] > m ? row[c] : m;
    }
    return m;
  }
  static float exp_sum(float* row, int64_t n, float shift) {
    const __m256 sh = _mm256_set1_ps(shift);
    __m256 acc = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
      __m256 e = avx2::exp_ps(_mm256_sub_ps(_mm256_loadu_ps(row + c), sh));
      _mm256_storeu_ps(row + c, e);
      acc = _mm256_add_ps(acc, e);
    }
    float s = avx2::hsum(acc);
    for (; c < n; ++c) s += (row[c] = std::exp(row[c] - shift));
    return s;
  }
  static void scale_exp(float* row, int64_t n, float scale, float shift) {
    const __m256 sc = _mm256_set1_ps(scale), sh = _mm256_set1_ps(shift);
    int64_t c = 0;
    for (; c + 8 <= n; c += 8)
      _mm256_storeu_ps(row + c, avx2::exp_ps(_mm256_fmsub_ps(_mm256_loadu_ps(row + c), sc, sh)));
    for (; c < n; ++c) row[c] = std::exp(row[c] * scale - shift);
  }
};

}  // namespace

namespace avx2 {
void attention_forward_f32(float* out, float* lse, const float* q, const float* k, const float* v,
                           const AttnShape& s, float scale) {
  attn_forward_all<float, Avx2Ops>(out, lse, q, k, v, s, scale);
}
void attention_backward_f32(float* dq, float* dk, float* dv, const float* d_out, const float* q, const float* k,
                            const float* v, const float* out, const float* lse, const AttnShape& s, float scale) {
  attn_backward_all<float, Avx2Ops>(dq, dk, dv, d_out, q, k, v, out, lse, s, scale);
}
}  // namespace avx2

}  // namespace ember
