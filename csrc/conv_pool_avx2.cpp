// conv_pool_avx2.cpp — the fused conv + max-pool backward's scatter for non-overlapping,
// unpadded windows (float, OC % 8 == 0; compiled with -mavx2 -mfma, reached only when
// use_avx2()): each conv cell of the band is written once, 8 channels per instruction, with
// the pooled dy where the cell is its window's argmax and 0 elsewhere, so the tile needs no
// zero fill. As maxpool_tiled_backward_avx2, each index is compared with its window's cells:
// one that matches none (and is not -1) is reported.
#include "conv_pool.h"

#if defined(EMBER_X86)
#include <immintrin.h>

namespace ember {

namespace {

// Max and first argmax of NV vectors of 8 channels over one window (rows [h0, h1), columns
// [w0, w1) of the tile, whose row 0 is conv row r0): NV independent chains, so the compare /
// blend latencies overlap. Same rule as max_window: a NaN always wins (the last one), ties keep
// the first cell. RELU: the index is -1 where the max is a ReLU zero (not > 0, not NaN).
template <int NV, bool RELU>
inline void window_nv(float* yo, int32_t* io, const float* tile, int64_t W, int64_t C, int64_t h0, int64_t h1,
                      int64_t w0, int64_t w1, int64_t r0) {
  __m256 m[NV], i[NV];
  const float* p0 = tile + ((h0 - r0) * W + w0) * C;
  const __m256 i0 = _mm256_castsi256_ps(_mm256_set1_epi32(int32_t(h0 * W + w0)));
  for (int v = 0; v < NV; ++v) {
    m[v] = _mm256_loadu_ps(p0 + 8 * v);
    i[v] = i0;
  }
  for (int64_t ih = h0; ih < h1; ++ih)
    for (int64_t iw = (ih == h0 ? w0 + 1 : w0); iw < w1; ++iw) {
      const float* pc = tile + ((ih - r0) * W + iw) * C;
      const __m256 ic = _mm256_castsi256_ps(_mm256_set1_epi32(int32_t(ih * W + iw)));
      for (int v = 0; v < NV; ++v) {
        const __m256 x = _mm256_loadu_ps(pc + 8 * v);
        const __m256 win = _mm256_or_ps(_mm256_cmp_ps(x, m[v], _CMP_GT_OQ), _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
        m[v] = _mm256_blendv_ps(m[v], x, win);
        i[v] = _mm256_blendv_ps(i[v], ic, win);
      }
    }
  for (int v = 0; v < NV; ++v) {
    if (RELU)  // a max <= 0 (ordered: a NaN keeps its index) gets -1
      i[v] = _mm256_or_ps(i[v], _mm256_cmp_ps(m[v], _mm256_setzero_ps(), _CMP_LE_OQ));
    _mm256_storeu_ps(yo + 8 * v, m[v]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(io + 8 * v), _mm256_castps_si256(i[v]));
  }
}

template <bool RELU>
void tiled_band(float* y, int32_t* idx, const float* tile, const PoolShape& ps, int64_t po0, int64_t po1) {
  const int64_t C = ps.C, W = ps.W, r0 = po0 * ps.PH;
  for (int64_t po = po0; po < po1; ++po)
    for (int64_t pw = 0; pw < ps.OW; ++pw) {
      const int64_t o = ((po - po0) * ps.OW + pw) * C;
      const int64_t h0 = po * ps.PH, w0 = pw * ps.PW;
      int64_t c = 0;
      for (; c + 32 <= C; c += 32)
        window_nv<4, RELU>(y + o + c, idx + o + c, tile + c, W, C, h0, h0 + ps.PH, w0, w0 + ps.PW, r0);
      for (; c < C; c += 8)
        window_nv<1, RELU>(y + o + c, idx + o + c, tile + c, W, C, h0, h0 + ps.PH, w0, w0 + ps.PW, r0);
    }
}

}  // namespace

void pool_tiled_band_avx2(float* y, int32_t* idx, const float* tile, const PoolShape& ps, int64_t po0, int64_t po1,
                          int act) {
  if (act == 1) tiled_band<true>(y, idx, tile, ps, po0, po1);
  else tiled_band<false>(y, idx, tile, ps, po0, po1);
}

bool pool_scatter_tiled_avx2(float* tile, const float* dy, const int32_t* idx, const PoolShape& ps, int64_t po0,
                             int64_t po1) {
  const int64_t C = ps.C, W = ps.W;
  const int64_t r0 = po0 * ps.PH;
  const __m256i none = _mm256_set1_epi32(-1);
  __m256i unmatched = _mm256_setzero_si256();
  for (int64_t po = po0; po < po1; ++po) {
    for (int64_t pw = 0; pw < ps.OW; ++pw) {
      const int64_t o = (po * ps.OW + pw) * C;
      for (int64_t c = 0; c < C; c += 8) {
        const __m256 gv = _mm256_loadu_ps(dy + o + c);
        const __m256i iv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + o + c));
        __m256i matched = _mm256_cmpeq_epi32(iv, none);
        for (int64_t ih = po * ps.PH; ih < (po + 1) * ps.PH; ++ih)
          for (int64_t iw = pw * ps.PW; iw < (pw + 1) * ps.PW; ++iw) {
            const __m256i hit = _mm256_cmpeq_epi32(iv, _mm256_set1_epi32(int32_t(ih * W + iw)));
            matched = _mm256_or_si256(matched, hit);
            _mm256_storeu_ps(tile + ((ih - r0) * W + iw) * C + c, _mm256_and_ps(gv, _mm256_castsi256_ps(hit)));
          }
        unmatched = _mm256_or_si256(unmatched, _mm256_andnot_si256(matched, none));
      }
    }
    // columns right of the last window get no gradient
    for (int64_t ih = po * ps.PH; ih < (po + 1) * ps.PH; ++ih)
      for (int64_t i = ((ih - r0) * W + ps.OW * ps.PW) * C; i < (ih - r0 + 1) * W * C; ++i) tile[i] = 0.0f;
  }
  return _mm256_testz_si256(unmatched, unmatched);
}

}  // namespace ember

#else

namespace ember {
void pool_tiled_band_avx2(float*, int32_t*, const float*, const PoolShape&, int64_t, int64_t, int) {}
bool pool_scatter_tiled_avx2(float*, const float*, const int32_t*, const PoolShape&, int64_t, int64_t) {
  return true;
}
}  // namespace ember

#endif
