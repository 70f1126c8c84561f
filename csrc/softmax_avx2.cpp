// softmax_avx2.cpp — AVX2/FMA float32 row primitives for softmax.cpp (see softmax.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "softmax.h"
#include "vec_avx2.h"

namespace ember {
namespace avx2 {

// The max of the non-NaN entries (as the portable p_max): max_ps returns its second
// operand when either is NaN, so the running max goes second and never becomes NaN. A NaN
// entry still reaches the result through exp(NaN - max) in the sum.
float row_max(const float* x, int64_t n) {
  __m256 m0 = _mm256_set1_ps(-std::numeric_limits<float>::infinity()), m1 = m0;
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    m0 = _mm256_max_ps(_mm256_loadu_ps(x + j), m0);
    m1 = _mm256_max_ps(_mm256_loadu_ps(x + j + 8), m1);
  }
  float m = hmax(_mm256_max_ps(m0, m1));
  for (; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

float row_sumexp(const float* x, float shift, int64_t n) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 a0 = _mm256_setzero_ps(), a1 = a0;
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    a0 = _mm256_add_ps(a0, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), s)));
    a1 = _mm256_add_ps(a1, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8), s)));
  }
  if (j + 8 <= n) {
    a0 = _mm256_add_ps(a0, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), s)));
    j += 8;
  }
  if (j < n) {
    __m256i tm = tail_mask(int(n - j));
    __m256 e = exp_ps(_mm256_sub_ps(_mm256_maskload_ps(x + j, tm), s));
    a1 = _mm256_add_ps(a1, _mm256_and_ps(e, _mm256_castsi256_ps(tm)));
  }
  return hsum(_mm256_add_ps(a0, a1));
}

void row_exp(float* y, const float* x, float shift, float scale, int64_t n) {
  const __m256 s = _mm256_set1_ps(shift), c = _mm256_set1_ps(scale);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm256_storeu_ps(y + j, _mm256_mul_ps(c, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), s))));
  if (j < n) {
    __m256i tm = tail_mask(int(n - j));
    _mm256_maskstore_ps(y + j, tm, _mm256_mul_ps(c, exp_ps(_mm256_sub_ps(_mm256_maskload_ps(x + j, tm), s))));
  }
}

void row_exp_sub(float* dx, const float* x, float shift, float a, const float* p, float b, int64_t n) {
  if (!p) return row_exp(dx, x, shift, a, n);
  const __m256 s = _mm256_set1_ps(shift), va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), s));
    _mm256_storeu_ps(dx + j, _mm256_fmsub_ps(va, e, _mm256_mul_ps(vb, _mm256_loadu_ps(p + j))));
  }
  if (j < n) {
    __m256i tm = tail_mask(int(n - j));
    __m256 e = exp_ps(_mm256_sub_ps(_mm256_maskload_ps(x + j, tm), s));
    _mm256_maskstore_ps(dx + j, tm, _mm256_fmsub_ps(va, e, _mm256_mul_ps(vb, _mm256_maskload_ps(p + j, tm))));
  }
}

float row_dot(const float* a, const float* b, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0;
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8), a1);
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; j < n; ++j) s += a[j] * b[j];
  return s;
}

float row_sum(const float* a, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0;
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    a0 = _mm256_add_ps(_mm256_loadu_ps(a + j), a0);
    a1 = _mm256_add_ps(_mm256_loadu_ps(a + j + 8), a1);
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; j < n; ++j) s += a[j];
  return s;
}

}  // namespace avx2
}  // namespace ember
