// activations_avx2.cpp — vectorised sigmoid / tanh over arrays (float32); see activations.h.
#include "activations.h"

#include <cmath>

#include "vec_avx2.h"

namespace ember {
namespace avx2 {

void sigmoid_f32(float* y, const float* x, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(y + j, sigmoid_ps(_mm256_loadu_ps(x + j)));
  if (j < n) {  // the tail through the same vector code, so every element gets the same formula
    const __m256i m = tail_mask(int(n - j));
    _mm256_maskstore_ps(y + j, m, sigmoid_ps(_mm256_maskload_ps(x + j, m)));
  }
}

void tanh_f32(float* y, const float* x, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(y + j, tanh_ps(_mm256_loadu_ps(x + j)));
  if (j < n) {
    const __m256i m = tail_mask(int(n - j));
    _mm256_maskstore_ps(y + j, m, tanh_ps(_mm256_maskload_ps(x + j, m)));
  }
}

namespace {

constexpr float kRsqrt2 = 0.70710678118654752440f, kRsqrt2Pi = 0.39894228040143267794f;
// Below this z, 1 + erf(z / sqrt 2) cancels (erf -> -1): those lanes use the scalar erf,
// which is accurate to a few ulp of its result there. They are rare in activations.
constexpr float kCancel = -2.5f;

// Phi(z) = (1 + erf(z / sqrt 2)) / 2 for 8 lanes, the cancelling lanes recomputed in scalar.
inline __m256 cdf8(__m256 z, const float* zs) {
  __m256 c = _mm256_mul_ps(_mm256_set1_ps(0.5f),
                           _mm256_add_ps(_mm256_set1_ps(1.0f), erf_ps(_mm256_mul_ps(z, _mm256_set1_ps(kRsqrt2)))));
  const int low = _mm256_movemask_ps(_mm256_cmp_ps(z, _mm256_set1_ps(kCancel), _CMP_LT_OQ));
  if (low) {
    alignas(32) float t[8];
    _mm256_store_ps(t, c);
    for (int l = 0; l < 8; ++l)
      if (low & (1 << l)) t[l] = 0.5f * (1.0f + std::erf(zs[l] * kRsqrt2));
    c = _mm256_load_ps(t);
  }
  return c;
}

}  // namespace

void gelu_f32(float* y, const float* z, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(z + j);
    _mm256_storeu_ps(y + j, _mm256_mul_ps(v, cdf8(v, z + j)));
  }
  if (j < n) {  // the tail through a zero-padded copy: the same formula for every element
    const int k = int(n - j);
    alignas(32) float zs[8] = {0, 0, 0, 0, 0, 0, 0, 0}, out[8];
    for (int l = 0; l < k; ++l) zs[l] = z[j + l];
    const __m256 v = _mm256_load_ps(zs);
    _mm256_store_ps(out, _mm256_mul_ps(v, cdf8(v, zs)));
    for (int l = 0; l < k; ++l) y[j + l] = out[l];
  }
}

namespace {
inline __m256 gelu_grad8(__m256 v, __m256 d, const float* zs) {
  const __m256 pdf = _mm256_mul_ps(_mm256_set1_ps(kRsqrt2Pi),
                                   exp_ps(_mm256_mul_ps(_mm256_set1_ps(-0.5f), _mm256_mul_ps(v, v))));
  return _mm256_mul_ps(d, _mm256_fmadd_ps(v, pdf, cdf8(v, zs)));
}
}  // namespace

void gelu_grad_f32(float* dx, const float* dy, const float* z, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm256_storeu_ps(dx + j, gelu_grad8(_mm256_loadu_ps(z + j), _mm256_loadu_ps(dy + j), z + j));
  if (j < n) {
    const int k = int(n - j);
    alignas(32) float zs[8] = {0, 0, 0, 0, 0, 0, 0, 0}, ds[8] = {0, 0, 0, 0, 0, 0, 0, 0}, out[8];
    for (int l = 0; l < k; ++l) {
      zs[l] = z[j + l];
      ds[l] = dy[j + l];
    }
    _mm256_store_ps(out, gelu_grad8(_mm256_load_ps(zs), _mm256_load_ps(ds), zs));
    for (int l = 0; l < k; ++l) dx[j + l] = out[l];
  }
}

}  // namespace avx2
}  // namespace ember
