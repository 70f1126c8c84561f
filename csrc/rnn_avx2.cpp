// rnn_avx2.cpp — vectorised sigmoid / tanh for the fused recurrent cells (float32).
#include "rnn.h"

#include <cmath>

#include "vec_avx2.h"

namespace ember {
namespace avx2 {

void sigmoid_f32(float* y, const float* x, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 e = exp_ps(_mm256_sub_ps(zero, _mm256_loadu_ps(x + j)));
    _mm256_storeu_ps(y + j, _mm256_div_ps(one, _mm256_add_ps(one, e)));
  }
  for (; j < n; ++j) y[j] = 1.0f / (1.0f + std::exp(-x[j]));
}

void tanh_f32(float* y, const float* x, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), m2 = _mm256_set1_ps(-2.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 v = _mm256_loadu_ps(x + j);
    __m256 a = _mm256_andnot_ps(sign, v);
    __m256 t = exp_ps(_mm256_mul_ps(m2, a));
    __m256 r = _mm256_div_ps(_mm256_sub_ps(one, t), _mm256_add_ps(one, t));
    _mm256_storeu_ps(y + j, _mm256_or_ps(r, _mm256_and_ps(sign, v)));
  }
  for (; j < n; ++j) y[j] = std::tanh(x[j]);
}

}  // namespace avx2
}  // namespace ember
