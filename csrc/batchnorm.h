// batchnorm.h — batch normalisation over the last (channel) axis.
//
//   x, y, dx, dy : (M, C)  (any-rank channels-last input flattened: M = product of the
//                           leading dims)         gamma, beta, mean, invstd, running_* : (C,)
//
// Training forward: mean = E[x], var = E[(x - mean)^2] (biased, as Keras), invstd =
//   1 / sqrt(var + eps), y = (x - mean) * invstd * gamma + beta, and in place
//   running = momentum * running + (1 - momentum) * batch statistic (Keras' convention).
// Inference forward: the same with the running statistics.
// Training backward (one reduction sweep, one output sweep):
//   dbeta = sum dy, dgamma = sum dy * xhat,
//   dx = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma).
// gamma / beta may be null (scale=False / center=False). Reductions run over fixed chunks
// of rows with double partial sums, reduced in chunk order: bit-identical for any thread
// count.
#pragma once
#include <cstdint>

namespace ember {

template <typename T>
void batchnorm_forward_train(T* y, T* mean, T* invstd, T* running_mean, T* running_var, const T* x,
                             const T* gamma, const T* beta, int64_t M, int64_t C, double eps,
                             double momentum);
template <typename T>
void batchnorm_forward_infer(T* y, const T* x, const T* gamma, const T* beta, const T* running_mean,
                             const T* running_var, int64_t M, int64_t C, double eps);
template <typename T>
void batchnorm_backward_train(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                              const T* mean, const T* invstd, int64_t M, int64_t C);

}  // namespace ember
