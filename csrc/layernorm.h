// layernorm.h — fused layer normalization over the last axis.
//
//   x, y (rows, n); gamma, beta (n); mean, rstd (rows) saved for backward.
//   y = (x - mean) * rstd * gamma + beta,  rstd = 1 / sqrt(var + eps)  (biased variance)
//   backward: dx (rows, n), dgamma, dbeta (n) (overwritten).
// Rows are split across threads for y / dx; dgamma / dbeta are split across columns, each
// summed over rows in order, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace ember {

template <typename T>
void layernorm_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int64_t rows,
                       int64_t n, T eps);
template <typename T>
void layernorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma, const T* mean,
                        const T* rstd, int64_t rows, int64_t n);

}  // namespace ember
