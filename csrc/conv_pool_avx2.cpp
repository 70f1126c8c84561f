// conv_pool_avx2.cpp — the fused conv + max-pool backward's scatter for non-overlapping,
// unpadded windows (float, OC % 8 == 0; compiled with -mavx2 -mfma, reached only when
// use_avx2()): each conv cell of the band is written once, 8 channels per instruction, with
// the pooled dy where the cell is its window's argmax and 0 elsewhere, so the tile needs no
// zero fill. As maxpool_tiled_backward_avx2, each index is compared with its window's cells:
// one that matches none (and is not -1) is reported.
#include "conv_pool.h"

#if defined(EMBER_X86)
#include <immintrin.h>

#include <algorithm>

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

// ---- one input channel, no conv padding (conv.h's c1 case), 2x2 windows, stride 2 --------
// The conv output of each window's four cells is computed in registers and pooled there:
// nothing of it is stored. Per window and 16 channels: 4 cells x 2 vectors of accumulators,
// each summed over the taps in order k = 0..K-1 from the bias, as c1_forward_avx2 does (the
// same bits), then ReLU, then the max / first argmax in cell order (max_window's rule).

namespace {

template <int NV>
inline void c1_window2x2(float* yo, int32_t* io, const float* x0, int64_t dx, int64_t dy, const int64_t* toff,
                         const float* W, const float* bias, int64_t N, int64_t K, int32_t cell0, int32_t OW,
                         int act) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 a[4][NV];
  for (int v = 0; v < NV; ++v) a[0][v] = a[1][v] = a[2][v] = a[3][v] = bias ? _mm256_loadu_ps(bias + 8 * v) : zero;
  const float* x1 = x0 + dx;
  const float* x2 = x0 + dy;
  const float* x3 = x2 + dx;
  for (int64_t k = 0; k < K; ++k) {
    const int64_t t = toff[k];
    const __m256 p0 = _mm256_broadcast_ss(x0 + t), p1 = _mm256_broadcast_ss(x1 + t), p2 = _mm256_broadcast_ss(x2 + t),
                 p3 = _mm256_broadcast_ss(x3 + t);
    for (int v = 0; v < NV; ++v) {
      const __m256 wv = _mm256_loadu_ps(W + k * N + 8 * v);
      a[0][v] = _mm256_fmadd_ps(p0, wv, a[0][v]);
      a[1][v] = _mm256_fmadd_ps(p1, wv, a[1][v]);
      a[2][v] = _mm256_fmadd_ps(p2, wv, a[2][v]);
      a[3][v] = _mm256_fmadd_ps(p3, wv, a[3][v]);
    }
  }
  const int32_t cells[4] = {cell0, cell0 + 1, cell0 + OW, cell0 + OW + 1};
  for (int v = 0; v < NV; ++v) {
    __m256 m = act == 1 ? _mm256_max_ps(zero, a[0][v]) : a[0][v];  // NaN passes (as c1_forward)
    __m256 i = _mm256_castsi256_ps(_mm256_set1_epi32(cells[0]));
    for (int c = 1; c < 4; ++c) {
      const __m256 val = act == 1 ? _mm256_max_ps(zero, a[c][v]) : a[c][v];
      const __m256 win = _mm256_or_ps(_mm256_cmp_ps(val, m, _CMP_GT_OQ), _mm256_cmp_ps(val, val, _CMP_UNORD_Q));
      m = _mm256_blendv_ps(m, val, win);
      i = _mm256_blendv_ps(i, _mm256_castsi256_ps(_mm256_set1_epi32(cells[c])), win);
    }
    if (act == 1) i = _mm256_or_ps(i, _mm256_cmp_ps(m, zero, _CMP_LE_OQ));  // a ReLU zero: -1
    _mm256_storeu_ps(yo + 8 * v, m);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(io + 8 * v), _mm256_castps_si256(i));
  }
}

}  // namespace

void c1_conv_pool_row_avx2(float* y, int32_t* idx, const float* xn, const int64_t* toff, const float* W,
                           const float* bias, const ConvShape& cs, const PoolShape& ps, int64_t po, int act) {
  const int64_t N = cs.OC, K = cs.KH * cs.KW;
  const int64_t oh = 2 * po;
  for (int64_t pw = 0; pw < ps.OW; ++pw) {
    const int64_t ow = 2 * pw;
    const float* x0 = xn + oh * cs.sh * cs.W + ow * cs.sw;
    const int32_t cell0 = int32_t(oh * cs.OW + ow);
    int64_t j = 0;
    for (; j + 16 <= N; j += 16)
      c1_window2x2<2>(y + pw * N + j, idx + pw * N + j, x0, cs.sw, cs.sh * cs.W, toff, W + j, bias ? bias + j : nullptr,
                      N, K, cell0, int32_t(cs.OW), act);
    if (j < N)
      c1_window2x2<1>(y + pw * N + j, idx + pw * N + j, x0, cs.sw, cs.sh * cs.W, toff, W + j, bias ? bias + j : nullptr,
                      N, K, cell0, int32_t(cs.OW), act);
  }
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
void c1_conv_pool_row_avx2(float*, int32_t*, const float*, const int64_t*, const float*, const float*,
                           const ConvShape&, const PoolShape&, int64_t, int) {}
bool pool_scatter_tiled_avx2(float*, const float*, const int32_t*, const PoolShape&, int64_t, int64_t) {
  return true;
}
}  // namespace ember

#endif
