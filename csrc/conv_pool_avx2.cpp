// conv_pool_avx2.cpp — the fused conv + max-pool backward's scatter for non-overlapping,
// unpadded windows (float, OC % 8 == 0; compiled with -mavx2 -mfma, reached only when
// use_avx2()): each conv cell of the band is written once, 8 channels per instruction, with
// the pooled dy where the cell is its window's argmax (masked by the ReLU: y > 0 or NaN) and
// 0 elsewhere, so the tile needs no zero fill. As maxpool_tiled_backward_avx2, each index is
// compared with its window's cells: one that matches none (and is not -1) is reported.
#include "conv_pool.h"

#if defined(EMBER_X86)
#include <immintrin.h>

namespace ember {

bool pool_scatter_tiled_avx2(float* tile, const float* dy, const float* y, const int32_t* idx, const PoolShape& ps,
                             int64_t po0, int64_t po1, int act) {
  const int64_t C = ps.C, W = ps.W;
  const int64_t r0 = po0 * ps.PH;
  const __m256 zero = _mm256_setzero_ps();
  const __m256i none = _mm256_set1_epi32(-1);
  __m256i unmatched = _mm256_setzero_si256();
  for (int64_t po = po0; po < po1; ++po) {
    for (int64_t pw = 0; pw < ps.OW; ++pw) {
      const int64_t o = (po * ps.OW + pw) * C;
      for (int64_t c = 0; c < C; c += 8) {
        __m256 gv = _mm256_loadu_ps(dy + o + c);
        if (act == 1) gv = _mm256_and_ps(gv, _mm256_cmp_ps(_mm256_loadu_ps(y + o + c), zero, _CMP_NLE_UQ));
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
bool pool_scatter_tiled_avx2(float*, const float*, const float*, const int32_t*, const PoolShape&, int64_t, int64_t,
                             int) {
  return true;
}
}  // namespace ember

#endif
