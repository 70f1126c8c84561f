// elementwise.h — fused bias + activation, and in-place optimizer update steps.
//
// Fused bias + activation (rows x cols, row-major, b of length cols, b may be null):
//   bias_act_forward:  y[r, c] = act(x[r, c] + b[c])            (y may alias x)
//   bias_act_backward: dx[r, c] = dy[r, c] * act'(z[r, c])       z = x + b
//                      db[c]    = sum_r dx[r, c]                 (db may be null)
//   act' is taken from the saved output y for linear / relu / leaky_relu (alpha >= 0) /
//   sigmoid / tanh, and from the pre-activation z = x + b for gelu (x, b read only then).
//   db is reduced over fixed blocks of rows, then the block sums in block order, so the
//   result is the same for any thread count.
//
// Optimizer steps (n elements, everything updated in place, Keras formulas; weight decay
// is decoupled, p -= lr * wd * p, as in Keras 3 and AdamW):
//   sgd_update:     m = mu * m - lr * g;  p += nesterov ? mu * m - lr * g : m   (m null: p -= lr * g)
//   adam_update:    m += (1 - b1) (g - m);  v += (1 - b2) (g^2 - v);  vh = max(vh, v) (amsgrad)
//                   p -= lr_t * m / (sqrt(v or vh) + eps),  lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
//   rmsprop_update: v = rho v + (1 - rho) g^2;  centered: a = rho a + (1 - rho) g, den = v - a^2 + eps
//                   else den = v + eps;  inc = lr g / sqrt(den);  mom: mo = mu mo + inc, p -= mo
//                   else p -= inc
#pragma once
#include <cstdint>

namespace ember {

enum Activation : int { kLinear = 0, kRelu = 1, kSigmoid = 2, kTanh = 3, kGelu = 4, kLeakyRelu = 5 };

template <typename T>
void bias_act_forward(T* y, const T* x, const T* b, int64_t rows, int64_t cols, int act, double alpha);
template <typename T>
void bias_act_backward(T* dx, T* db, const T* dy, const T* y, const T* x, const T* b, int64_t rows,
                       int64_t cols, int act, double alpha);

// Naive single-threaded versions of the same math (test oracle).
template <typename T>
void bias_act_forward_naive(T* y, const T* x, const T* b, int64_t rows, int64_t cols, int act, double alpha);
template <typename T>
void bias_act_backward_naive(T* dx, T* db, const T* dy, const T* y, const T* x, const T* b, int64_t rows,
                             int64_t cols, int act, double alpha);

template <typename T>
void sgd_update(T* p, T* m, const T* g, int64_t n, double lr, double momentum, bool nesterov, double wd);
template <typename T>
void adam_update(T* p, T* m, T* v, T* vhat, const T* g, int64_t n, double lr, double lr_t, double beta1,
                 double beta2, double eps, double wd);
template <typename T>
void rmsprop_update(T* p, T* v, T* mom, T* avg, const T* g, int64_t n, double lr, double rho,
                    double momentum, double eps, double wd);

}  // namespace ember
