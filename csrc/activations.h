// activations.h — vectorised elementwise activations (float32, AVX2/FMA), shared by the
// fused dense bias+activation (elementwise.cpp) and the recurrent cells (rnn.cpp).
// Accuracy: a few ulp relative (see vec_avx2.h); NaN propagates.
// Definitions in activations_avx2.cpp; call only when ember::use_avx2().
#pragma once
#include <cstdint>

namespace ember {
namespace avx2 {

void sigmoid_f32(float* y, const float* x, int64_t n);  // y may alias x
void tanh_f32(float* y, const float* x, int64_t n);     // y may alias x
// GELU (erf form): y = z / 2 (1 + erf(z / sqrt 2)); y may alias z.
void gelu_f32(float* y, const float* z, int64_t n);
// dx = dy * GELU'(z) = dy * (Phi(z) + z phi(z)); dx may alias dy or z.
void gelu_grad_f32(float* dx, const float* dy, const float* z, int64_t n);

}  // namespace avx2
}  // namespace ember
