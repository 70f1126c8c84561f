// batchnorm.cpp — fused batch normalisation forward / backward; see batchnorm.h.
#include "batchnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "parallel.h"

namespace ember {

namespace {

constexpr int64_t kRows = 256;  // rows per reduction chunk (fixed: results independent of threads)

// part[chunk * W + j] = f(chunk rows) for j < W; then out[j] = sum over chunks in order.
template <typename F>
void chunked_sums(std::vector<double>& out, int64_t M, int64_t W, F&& f) {
  const int64_t nch = (M + kRows - 1) / kRows;
  thread_local std::vector<double> part;
  if (int64_t(part.size()) < nch * W) part.resize(size_t(nch * W));
  double* P = part.data();
  parallel_for(nch, M * W >= (int64_t(1) << 16) ? 2 : (int64_t(1) << 62), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      double* pc = P + c * W;
      for (int64_t j = 0; j < W; ++j) pc[j] = 0.0;
      f(pc, c * kRows, std::min(M, (c + 1) * kRows));
    }
  });
  out.assign(size_t(W), 0.0);
  for (int64_t c = 0; c < nch; ++c)
    for (int64_t j = 0; j < W; ++j) out[j] += P[c * W + j];
}

template <typename T>
void normalize(T* y, const T* x, const T* gamma, const T* beta, const std::vector<double>& mean,
               const std::vector<double>& inv, int64_t M, int64_t C) {
  thread_local std::vector<T> sc, sh;
  sc.resize(size_t(C));
  sh.resize(size_t(C));
  for (int64_t j = 0; j < C; ++j) {
    const double g = gamma ? double(gamma[j]) : 1.0;
    sc[j] = T(inv[j] * g);
    sh[j] = T((beta ? double(beta[j]) : 0.0) - mean[j] * inv[j] * g);
  }
  const T* a = sc.data();
  const T* b = sh.data();
  parallel_for(M, M * C >= (int64_t(1) << 16) ? 2 : (int64_t(1) << 62), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      T* yr = y + r * C;
      for (int64_t j = 0; j < C; ++j) yr[j] = xr[j] * a[j] + b[j];
    }
  });
}

}  // namespace

template <typename T>
void batchnorm_forward_train(T* y, T* mean, T* invstd, T* running_mean, T* running_var, const T* x,
                             const T* gamma, const T* beta, int64_t M, int64_t C, double eps,
                             double momentum) {
  std::vector<double> mu, var, inv(static_cast<size_t>(C));
  chunked_sums(mu, M, C, [&](double* p, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < C; ++j) p[j] += double(x[r * C + j]);
  });
  for (auto& v : mu) v /= double(M > 0 ? M : 1);
  chunked_sums(var, M, C, [&](double* p, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < C; ++j) {
        const double d = double(x[r * C + j]) - mu[j];
        p[j] += d * d;
      }
  });
  for (int64_t j = 0; j < C; ++j) {
    var[j] /= double(M > 0 ? M : 1);
    inv[j] = 1.0 / std::sqrt(var[j] + eps);
    mean[j] = T(mu[j]);
    invstd[j] = T(inv[j]);
    // An empty batch has no statistics to blend in: leave the running ones as they are
    // (PyTorch does the same) rather than pull them towards 0.
    if (M == 0) continue;
    if (running_mean) running_mean[j] = T(momentum * double(running_mean[j]) + (1.0 - momentum) * mu[j]);
    if (running_var) running_var[j] = T(momentum * double(running_var[j]) + (1.0 - momentum) * var[j]);
  }
  normalize(y, x, gamma, beta, mu, inv, M, C);
}

template <typename T>
void batchnorm_forward_infer(T* y, const T* x, const T* gamma, const T* beta, const T* running_mean,
                             const T* running_var, int64_t M, int64_t C, double eps) {
  std::vector<double> mu(static_cast<size_t>(C)), inv(static_cast<size_t>(C));
  for (int64_t j = 0; j < C; ++j) {
    mu[j] = double(running_mean[j]);
    inv[j] = 1.0 / std::sqrt(double(running_var[j]) + eps);
  }
  normalize(y, x, gamma, beta, mu, inv, M, C);
}

template <typename T>
void batchnorm_backward_train(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                              const T* mean, const T* invstd, int64_t M, int64_t C) {
  // sums[j] = sum dy, sums[C + j] = sum dy * xhat
  std::vector<double> sums;
  chunked_sums(sums, M, 2 * C, [&](double* p, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < C; ++j) {
        const double g = double(dy[r * C + j]);
        p[j] += g;
        p[C + j] += g * (double(x[r * C + j]) - double(mean[j])) * double(invstd[j]);
      }
  });
  for (int64_t j = 0; j < C; ++j) {
    if (dbeta) dbeta[j] = T(sums[j]);
    if (dgamma) dgamma[j] = T(sums[C + j]);
  }
  if (!dx) return;
  // dx = k1 * dy + k2 * x + k0 per channel (xhat expanded), computed in T.
  thread_local std::vector<T> k0, k1, k2;
  k0.resize(size_t(C));
  k1.resize(size_t(C));
  k2.resize(size_t(C));
  const double invM = 1.0 / double(M > 0 ? M : 1);
  for (int64_t j = 0; j < C; ++j) {
    const double g = gamma ? double(gamma[j]) : 1.0, is = double(invstd[j]), mu = double(mean[j]);
    const double a = g * is;                       // coefficient of dy
    const double bx = -a * invM * sums[C + j] * is;  // coefficient of (x - mean)
    k1[j] = T(a);
    k2[j] = T(bx);
    k0[j] = T(-a * invM * sums[j] - bx * mu);
  }
  const T *c0 = k0.data(), *c1 = k1.data(), *c2 = k2.data();
  parallel_for(M, M * C >= (int64_t(1) << 16) ? 2 : (int64_t(1) << 62), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < C; ++j) dx[r * C + j] = c1[j] * dy[r * C + j] + c2[j] * x[r * C + j] + c0[j];
  });
}

#define EMBER_BN_INST(T)                                                                              \
  template void batchnorm_forward_train<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, int64_t, \
                                           int64_t, double, double);                                  \
  template void batchnorm_forward_infer<T>(T*, const T*, const T*, const T*, const T*, const T*,      \
                                           int64_t, int64_t, double);                                 \
  template void batchnorm_backward_train<T>(T*, T*, T*, const T*, const T*, const T*, const T*,       \
                                            const T*, int64_t, int64_t);
EMBER_BN_INST(float)
EMBER_BN_INST(double)
#undef EMBER_BN_INST

}  // namespace ember
