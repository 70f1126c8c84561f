// pool_avx2.cpp — AVX2 max pooling (float; compiled with -mavx2 -mfma, reached only when
// use_avx2()). Non-overlapping windows (stride == window, no padding, C % 8 == 0): one output
// row per call, the running max and argmax of 8 channels in registers, x read once; the
// backward writes each dx cell once (no zero fill + scatter). Any other window
// (maxpool_window_avx2: overlapping, padded, any C): 8 channels per instruction. Same results
// as max_window in pool.cpp: the first maximum wins; a NaN always replaces the running max and
// a number never replaces a NaN (PyTorch's rule).
#include "pool.h"

#if defined(EMBER_X86)
#include "vec_avx2.h"

namespace ember {

void maxpool_tiled_row_avx2(float* y, int32_t* idx, const float* xn, const PoolShape& s, int64_t oh) {
  const int64_t C = s.C;
  for (int64_t ow = 0; ow < s.OW; ++ow) {
    float* yo = y + ow * C;
    int32_t* io = idx + ow * C;
    const int64_t h0 = oh * s.PH, w0 = ow * s.PW;
    if (h0 + 2 * s.PH <= s.H) {  // the same window one output row further down
      const char* nx = reinterpret_cast<const char*>(xn + ((h0 + s.PH) * s.W + w0) * C);
      for (int64_t r = 0; r < s.PH; ++r)
        for (int64_t b = 0; b < s.PW * C * 4; b += 64) _mm_prefetch(nx + r * s.W * C * 4 + b, _MM_HINT_T0);
    }
    for (int64_t c = 0; c < C; c += 8) {
      const int32_t p0 = int32_t(h0 * s.W + w0);
      __m256 m = _mm256_loadu_ps(xn + p0 * C + c);
      __m256 i = _mm256_castsi256_ps(_mm256_set1_epi32(p0));
      for (int64_t ih = h0; ih < h0 + s.PH; ++ih)
        for (int64_t iw = (ih == h0 ? w0 + 1 : w0); iw < w0 + s.PW; ++iw) {
          const int32_t p = int32_t(ih * s.W + iw);
          const __m256 v = _mm256_loadu_ps(xn + p * C + c);
          const __m256 gt = _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
          m = _mm256_blendv_ps(m, v, gt);
          i = _mm256_blendv_ps(i, _mm256_castsi256_ps(_mm256_set1_epi32(p)), gt);
        }
      _mm256_storeu_ps(yo + c, m);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(io + c), _mm256_castps_si256(i));
    }
  }
}

namespace {
// Max and argmax of 8 channels of one window; FULL: plain loads (masked loads are slow on AMD).
template <bool FULL>
inline void window8(float* yo, int32_t* io, const float* xc, const PoolShape& s, int64_t h0, int64_t h1,
                    int64_t w0, int64_t w1, __m256i tm) {
  const int64_t C = s.C;
  const int32_t p0 = int32_t(h0 * s.W + w0);
  __m256 m = FULL ? _mm256_loadu_ps(xc + p0 * C) : _mm256_maskload_ps(xc + p0 * C, tm);
  __m256 i = _mm256_castsi256_ps(_mm256_set1_epi32(p0));
  for (int64_t ih = h0; ih < h1; ++ih)
    for (int64_t iw = (ih == h0 ? w0 + 1 : w0); iw < w1; ++iw) {
      const int32_t p = int32_t(ih * s.W + iw);
      const __m256 v = FULL ? _mm256_loadu_ps(xc + p * C) : _mm256_maskload_ps(xc + p * C, tm);
      const __m256 win = _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      m = _mm256_blendv_ps(m, v, win);
      i = _mm256_blendv_ps(i, _mm256_castsi256_ps(_mm256_set1_epi32(p)), win);
    }
  if (FULL) {
    _mm256_storeu_ps(yo, m);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(io), _mm256_castps_si256(i));
  } else {
    _mm256_maskstore_ps(yo, tm, m);
    _mm256_maskstore_epi32(io, tm, _mm256_castps_si256(i));
  }
}
}  // namespace

void maxpool_window_avx2(float* yo, int32_t* io, const float* xn, const PoolShape& s, int64_t h0, int64_t h1,
                         int64_t w0, int64_t w1) {
  const int64_t C = s.C;
  int64_t c = 0;
  for (; c + 8 <= C; c += 8) window8<true>(yo + c, io + c, xn + c, s, h0, h1, w0, w1, __m256i());
  if (c < C) window8<false>(yo + c, io + c, xn + c, s, h0, h1, w0, w1, avx2::tail_mask(int(C - c)));
}

bool maxpool_tiled_backward_avx2(float* dxn, const float* g, const int32_t* id, const PoolShape& s) {
  const int64_t C = s.C;
  // Each index is compared with its window's cells, so a bad one can only miss them all:
  // `matched` collects the hits (and the -1s), and any lane left unmatched is a bad index.
  __m256i unmatched = _mm256_setzero_si256();
  for (int64_t oh = 0; oh < s.OH; ++oh)
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const float* go = g + (oh * s.OW + ow) * C;
      const int32_t* io = id + (oh * s.OW + ow) * C;
      for (int64_t c = 0; c < C; c += 8) {
        const __m256 gv = _mm256_loadu_ps(go + c);
        const __m256i iv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(io + c));
        __m256i matched = _mm256_cmpeq_epi32(iv, _mm256_set1_epi32(-1));
        for (int64_t ih = oh * s.PH; ih < (oh + 1) * s.PH; ++ih)
          for (int64_t iw = ow * s.PW; iw < (ow + 1) * s.PW; ++iw) {
            const int32_t p = int32_t(ih * s.W + iw);
            const __m256i hit = _mm256_cmpeq_epi32(iv, _mm256_set1_epi32(p));
            matched = _mm256_or_si256(matched, hit);
            _mm256_storeu_ps(dxn + p * C + c, _mm256_and_ps(gv, _mm256_castsi256_ps(hit)));
          }
        unmatched = _mm256_or_si256(unmatched, _mm256_andnot_si256(matched, _mm256_set1_epi32(-1)));
      }
    }
  // cells below / right of the last window get no gradient
  for (int64_t ih = 0; ih < s.H; ++ih) {
    const int64_t w0 = ih < s.OH * s.PH ? s.OW * s.PW : 0;
    for (int64_t i = (ih * s.W + w0) * C; i < (ih + 1) * s.W * C; ++i) dxn[i] = 0.0f;
  }
  return _mm256_testz_si256(unmatched, unmatched);
}

}  // namespace ember

#else

namespace ember {
void maxpool_tiled_row_avx2(float*, int32_t*, const float*, const PoolShape&, int64_t) {}
bool maxpool_tiled_backward_avx2(float*, const float*, const int32_t*, const PoolShape&) { return true; }
void maxpool_window_avx2(float*, int32_t*, const float*, const PoolShape&, int64_t, int64_t, int64_t, int64_t) {}
}  // namespace ember

#endif
