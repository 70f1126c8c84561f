// vec_avx512.h — small AVX-512F helpers shared by the *_avx512.cpp kernels (attention,
// softmax). Include ONLY from files compiled with -mavx512f. Internal linkage on purpose
// (anonymous namespace): every including file gets its own copy, compiled with its own
// flags, and the linker never has to choose between copies (see gemm_pack.h).
#pragma once
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positives in the intrinsics (bug 105593)
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

namespace ember {
namespace {

// exp(x) for 16 floats: the same operations, constants and special cases as avx2::exp_ps
// (Cephes-style range reduction + degree-6 polynomial, ~2 ulp on [-87, 88]; x < -87.3 gives
// 0, -inf included; x > 88.72 gives +inf; x in (88, 88.72] is clamped to exp(88); NaN gives
// NaN: x is min/max's second operand, the one they return for NaN), so both paths return the
// same bits for the same input.
inline __m512 exp512(__m512 x) {
  const __m512 hi = _mm512_set1_ps(88.0f), lo = _mm512_set1_ps(-87.3365447505531f);
  const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
  const __mmask16 over = _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.7228391f), _CMP_GT_OQ);
  const __m512 xc = _mm512_max_ps(lo, _mm512_min_ps(hi, x));
  const __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), xc);
  r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500E-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
  const __m512 r2 = _mm512_mul_ps(r, r);
  p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
  const __m512 y = _mm512_maskz_mov_ps(__mmask16(~under), _mm512_mul_ps(p, _mm512_castsi512_ps(e)));
  return _mm512_mask_blend_ps(over, y, _mm512_set1_ps(__builtin_inff()));
}

inline __mmask16 first_lanes(int64_t n) {  // mask of the first n (0..16) lanes
  return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u);
}

}  // namespace
}  // namespace ember
