// softmax_avx512.cpp — AVX-512F float32 row primitives for softmax.cpp (see softmax.h; only
// reached when ember::use_avx512() is true). The exp-heavy passes: 16 lanes per instruction
// and masked tails, with exp512 (the same operations and constants as avx2::exp_ps).
#include "softmax.h"
#include "vec_avx512.h"

namespace ember {
namespace avx512 {

float row_sumexp(const float* x, float shift, int64_t n) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) {
    a0 = _mm512_add_ps(a0, exp512(_mm512_sub_ps(_mm512_loadu_ps(x + j), s)));
    a1 = _mm512_add_ps(a1, exp512(_mm512_sub_ps(_mm512_loadu_ps(x + j + 16), s)));
  }
  for (; j < n; j += 16) {  // masked lanes add exactly 0
    const __mmask16 k = first_lanes(n - j);
    a0 = _mm512_add_ps(a0, _mm512_maskz_mov_ps(k, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), s))));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

// Whole vectors with plain loads / stores; only the tail is masked (masked stores are slow
// on AMD: with masks on every vector the exp pass of a 65536 x 64 softmax backward was
// slower than the AVX2 one).
void row_exp(float* y, const float* x, float shift, float scale, int64_t n) {
  const __m512 s = _mm512_set1_ps(shift), c = _mm512_set1_ps(scale);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    _mm512_storeu_ps(y + j, _mm512_mul_ps(c, exp512(_mm512_sub_ps(_mm512_loadu_ps(x + j), s))));
  if (j < n) {
    const __mmask16 k = first_lanes(n - j);
    _mm512_mask_storeu_ps(y + j, k, _mm512_mul_ps(c, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), s))));
  }
}

void row_exp_sub(float* dx, const float* x, float shift, float a, const float* p, float b, int64_t n) {
  if (!p) return row_exp(dx, x, shift, a, n);
  const __m512 s = _mm512_set1_ps(shift), va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + j), s));
    _mm512_storeu_ps(dx + j, _mm512_fmsub_ps(va, e, _mm512_mul_ps(vb, _mm512_loadu_ps(p + j))));
  }
  if (j < n) {
    const __mmask16 k = first_lanes(n - j);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), s));
    _mm512_mask_storeu_ps(dx + j, k, _mm512_fmsub_ps(va, e, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(k, p + j))));
  }
}

}  // namespace avx512
}  // namespace ember
