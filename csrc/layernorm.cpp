// layernorm.cpp — see layernorm.h.
#include "layernorm.h"

#include <cmath>

#include "parallel.h"

namespace ember {

namespace {
constexpr int64_t kSerial = int64_t(1) << 62;
}

template <typename T>
void layernorm_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int64_t rows,
                       int64_t n, T eps) {
  parallel_for(rows, rows * n >= 16384 ? 2 : kSerial, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * n;
      T s = 0;
      for (int64_t j = 0; j < n; ++j) s += xr[j];
      const T mu = n ? s / T(n) : T(0);
      T v = 0;
      for (int64_t j = 0; j < n; ++j) v += (xr[j] - mu) * (xr[j] - mu);
      const T rs = T(1) / std::sqrt((n ? v / T(n) : T(0)) + eps);
      mean[r] = mu;
      rstd[r] = rs;
      T* yr = y + r * n;
      for (int64_t j = 0; j < n; ++j) yr[j] = (xr[j] - mu) * rs * gamma[j] + beta[j];
    }
  });
}

template <typename T>
void layernorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma, const T* mean,
                        const T* rstd, int64_t rows, int64_t n) {
  parallel_for(rows, rows * n >= 16384 ? 2 : kSerial, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T *xr = x + r * n, *g = dy + r * n;
      const T mu = mean[r], rs = rstd[r];
      T a = 0, b = 0;  // sums of dxhat and dxhat * xhat
      for (int64_t j = 0; j < n; ++j) {
        const T dh = g[j] * gamma[j];
        a += dh;
        b += dh * (xr[j] - mu);
      }
      a /= T(n);
      b *= rs / T(n);
      T* d = dx + r * n;
      for (int64_t j = 0; j < n; ++j) d[j] = rs * (g[j] * gamma[j] - a - (xr[j] - mu) * rs * b);
    }
  });
  // dgamma / dbeta: columns split across threads, rows summed in order (thread-count independent)
  parallel_for(n, rows * n >= 16384 ? 2 : kSerial, [&](int64_t c0, int64_t c1) {
    T* dg = dgamma + c0;
    T* db = dbeta + c0;
    const int64_t w = c1 - c0;
    for (int64_t c = 0; c < w; ++c) dg[c] = db[c] = T(0);
    for (int64_t r = 0; r < rows; ++r) {
      const T *xr = x + r * n + c0, *g = dy + r * n + c0;
      const T mu = mean[r], rs = rstd[r];
      for (int64_t c = 0; c < w; ++c) {
        dg[c] += g[c] * (xr[c] - mu) * rs;
        db[c] += g[c];
      }
    }
  });
}

template void layernorm_forward<float>(float*, float*, float*, const float*, const float*, const float*, int64_t,
                                       int64_t, float);
template void layernorm_forward<double>(double*, double*, double*, const double*, const double*, const double*,
                                        int64_t, int64_t, double);
template void layernorm_backward<float>(float*, float*, float*, const float*, const float*, const float*,
                                        const float*, const float*, int64_t, int64_t);
template void layernorm_backward<double>(double*, double*, double*, const double*, const double*, const double*,
                                         const double*, const double*, int64_t, int64_t);

}  // namespace ember
