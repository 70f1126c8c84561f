// softmax.h — softmax, log-softmax and fused softmax-cross-entropy over the last axis.
//
// All arrays are row-major (rows, n): the op runs independently on each of `rows` rows of
// length `n`. Kernels overwrite their outputs. Stable for any finite logits (the row max
// is subtracted first). Rows are split across threads; each row is computed by one thread.
//
//   softmax_forward(y, x)                  y = exp(x - lse(x))
//   softmax_backward(dx, y, dy)            dx = y * (dy - sum(dy * y))
//   log_softmax_forward(y, x)              y = x - lse(x)
//   log_softmax_backward(dx, y, dy)        dx = dy - exp(y) * sum(dy)
//   xent_forward(loss, lse, x, p)          lse[r] = logsumexp(x[r]);
//                                          loss[r] = sum(p[r]) * lse[r] - sum(p[r] * x[r])
//   xent_backward(dx, dloss, x, p, lse)    dx = dloss[r] * (exp(x - lse) * sum(p[r]) - p[r])
//   sparse_xent_forward(loss, lse, x, lab) loss[r] = lse[r] - x[r, lab[r]]
//   sparse_xent_backward(dx, dloss, x, lab, lse)   dx = dloss[r] * (exp(x - lse) - onehot)
// Labels are int64 in [0, n) (checked by the caller). The probabilities are never stored:
// the forward saves only the per-row log-sum-exp and the backward recomputes exp(x - lse).
#pragma once
#include <cstdint>

namespace ember {

template <typename T> void softmax_forward(T* y, const T* x, int64_t rows, int64_t n);
template <typename T> void softmax_backward(T* dx, const T* y, const T* dy, int64_t rows, int64_t n);
template <typename T> void log_softmax_forward(T* y, const T* x, int64_t rows, int64_t n);
template <typename T> void log_softmax_backward(T* dx, const T* y, const T* dy, int64_t rows, int64_t n);
template <typename T>
void xent_forward(T* loss, T* lse, const T* x, const T* p, int64_t rows, int64_t n);
template <typename T>
void xent_backward(T* dx, const T* dloss, const T* x, const T* p, const T* lse, int64_t rows, int64_t n);
template <typename T>
void sparse_xent_forward(T* loss, T* lse, const T* x, const int64_t* labels, int64_t rows, int64_t n);
template <typename T>
void sparse_xent_backward(T* dx, const T* dloss, const T* x, const int64_t* labels, const T* lse,
                          int64_t rows, int64_t n);

namespace avx2 {
// float32 AVX2 versions of the row primitives (softmax_avx2.cpp).
float row_max(const float* x, int64_t n);
float row_sumexp(const float* x, float shift, int64_t n);                 // sum exp(x - shift)
void row_exp(float* y, const float* x, float shift, float scale, int64_t n);  // y = scale*exp(x-shift)
void row_exp_sub(float* dx, const float* x, float shift, float a, const float* p, float b,
                 int64_t n);  // dx = a*exp(x-shift) - b*p   (p may be null: no subtraction)
float row_dot(const float* a, const float* b, int64_t n);
float row_sum(const float* a, int64_t n);
}  // namespace avx2

namespace avx512 {
// float32 AVX-512F versions of the exp-heavy row primitives (softmax_avx512.cpp), same
// contracts as above.
float row_sumexp(const float* x, float shift, int64_t n);
void row_exp(float* y, const float* x, float shift, float scale, int64_t n);
void row_exp_sub(float* dx, const float* x, float shift, float a, const float* p, float b, int64_t n);
}  // namespace avx512

}  // namespace ember
