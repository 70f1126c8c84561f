// elementwise.cpp — fused bias + activation and optimizer update steps (see elementwise.h).
#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "activations.h"
#include "cpu.h"
#include "parallel.h"

namespace ember {

namespace {

constexpr int64_t kParallelWork = 1 << 15;  // elements below which threads are not worth waking
constexpr int64_t kRowBlock = 32;           // rows per db partial sum (fixed: thread-count independent)

template <typename T>
inline T sigmoid(T z) {
  // exp of a non-positive number only: no overflow for large |z|
  if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
  T e = std::exp(z);
  return e / (T(1) + e);
}

template <typename T>
inline T act_fwd(T z, int act, T alpha) {
  switch (act) {
    case kRelu: return z < T(0) ? T(0) : z;
    case kSigmoid: return sigmoid(z);
    case kTanh: return std::tanh(z);
    case kGelu: return T(0.5) * z * (T(1) + std::erf(z * T(0.70710678118654752440)));
    case kLeakyRelu: return z > T(0) ? z : alpha * z;
    default: return z;
  }
}

// d act / d z from the output y (or the pre-activation z for gelu).
template <typename T>
inline T act_grad(T y, T z, int act, T alpha) {
  switch (act) {
    case kRelu: return y > T(0) ? T(1) : T(0);
    case kSigmoid: return y * (T(1) - y);
    case kTanh: return T(1) - y * y;
    case kGelu: {
      T cdf = T(0.5) * (T(1) + std::erf(z * T(0.70710678118654752440)));
      T pdf = std::exp(T(-0.5) * z * z) * T(0.39894228040143267794);
      return cdf + z * pdf;
    }
    case kLeakyRelu: return y > T(0) ? T(1) : alpha;
    default: return T(1);
  }
}

template <typename F>
inline void run(int64_t n, int64_t work, F&& f) {
  parallel_for(n, work >= kParallelWork ? 1 : n + 1, f);
}

// dx for rows [r0, r1).
template <typename T>
void backward_rows(T* dx, const T* dy, const T* y, const T* x, const T* b, int64_t r0, int64_t r1,
                   int64_t cols, int act, T alpha) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t o = r * cols;
    switch (act) {
      case kLinear:
        for (int64_t c = 0; c < cols; ++c) dx[o + c] = dy[o + c];
        break;
      case kRelu:  // dy loaded unconditionally: a select, not a branch on random signs (9.6 -> 0.3 ms, 4096x512)
        for (int64_t c = 0; c < cols; ++c) {
          const T d = dy[o + c];
          // PyTorch's threshold_backward, (y <= 0) ? 0 : dy: a NaN y passes dy. Spelled as
          // (y > 0 | y != y): the `<=` select measured ~25% slower here (4096x1000, GCC)
          const T yv = y[o + c];
          dx[o + c] = ((yv > T(0)) | (yv != yv)) ? d : T(0);
        }
        break;
      case kSigmoid:
        for (int64_t c = 0; c < cols; ++c) dx[o + c] = dy[o + c] * y[o + c] * (T(1) - y[o + c]);
        break;
      case kTanh:
        for (int64_t c = 0; c < cols; ++c) dx[o + c] = dy[o + c] * (T(1) - y[o + c] * y[o + c]);
        break;
      case kLeakyRelu:
        for (int64_t c = 0; c < cols; ++c) {
          const T d = dy[o + c], ad = alpha * d;  // both sides computed: a select, no branch
          dx[o + c] = y[o + c] > T(0) ? d : ad;
        }
        break;
      default:
#if defined(EMBER_X86)
        if (std::is_same<T, float>::value && act == kGelu && use_avx2()) {
          for (int64_t c = 0; c < cols; ++c) dx[o + c] = x[o + c] + (b ? b[c] : T(0));  // z, in place
          avx2::gelu_grad_f32(reinterpret_cast<float*>(dx + o), reinterpret_cast<const float*>(dy + o),
                              reinterpret_cast<const float*>(dx + o), cols);
          break;
        }
#endif
        for (int64_t c = 0; c < cols; ++c) {
          T z = x[o + c] + (b ? b[c] : T(0));
          dx[o + c] = dy[o + c] * act_grad(T(0), z, act, alpha);
        }
    }
  }
}

}  // namespace

template <typename T>
void bias_act_forward(T* y, const T* x, const T* b, int64_t rows, int64_t cols, int act, double alpha) {
  const T a = T(alpha);
  run(rows, rows * cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      if (act == kLinear) {
        if (b) for (int64_t c = 0; c < cols; ++c) yr[c] = xr[c] + b[c];
        else if (yr != xr) for (int64_t c = 0; c < cols; ++c) yr[c] = xr[c];
      } else if (act == kRelu) {
        for (int64_t c = 0; c < cols; ++c) {
          T z = xr[c] + (b ? b[c] : T(0));
          yr[c] = z < T(0) ? T(0) : z;  // NaN passes through (so it is seen, not hidden)
        }
      } else if (act == kLeakyRelu) {  // both sides computed: a vector select
        for (int64_t c = 0; c < cols; ++c) {
          const T z = xr[c] + (b ? b[c] : T(0)), az = a * z;
          yr[c] = z > T(0) ? z : az;
        }
#if defined(EMBER_X86)
      } else if (std::is_same<T, float>::value && (act == kSigmoid || act == kTanh || act == kGelu) &&
                 use_avx2()) {
        // vectorised (scalar libm tanh / exp / erf: 16 / 7 / 7 ns per element; here under 1)
        for (int64_t c = 0; c < cols; ++c) yr[c] = xr[c] + (b ? b[c] : T(0));
        float* yf = reinterpret_cast<float*>(yr);
        if (act == kSigmoid) avx2::sigmoid_f32(yf, yf, cols);
        else if (act == kTanh) avx2::tanh_f32(yf, yf, cols);
        else avx2::gelu_f32(yf, yf, cols);
#endif
      } else {
        for (int64_t c = 0; c < cols; ++c) yr[c] = act_fwd(xr[c] + (b ? b[c] : T(0)), act, a);
      }
    }
  });
}

template <typename T>
void bias_act_backward(T* dx, T* db, const T* dy, const T* y, const T* x, const T* b, int64_t rows,
                       int64_t cols, int act, double alpha) {
  const T a = T(alpha);
  if (!db) {
    run(rows, rows * cols, [&](int64_t r0, int64_t r1) { backward_rows(dx, dy, y, x, b, r0, r1, cols, act, a); });
    return;
  }
  const int64_t nblk = (rows + kRowBlock - 1) / kRowBlock;
  thread_local std::vector<T> partial;  // grows, never shrinks: no allocation per step
  if (int64_t(partial.size()) < nblk * cols) partial.resize(size_t(nblk * cols));
  T* part = partial.data();
  run(nblk, rows * cols, [&](int64_t b0, int64_t b1) {
    for (int64_t k = b0; k < b1; ++k) {
      const int64_t r0 = k * kRowBlock, r1 = std::min(rows, r0 + kRowBlock);
      backward_rows(dx, dy, y, x, b, r0, r1, cols, act, a);
      T* pk = part + k * cols;
      for (int64_t c = 0; c < cols; ++c) pk[c] = T(0);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < cols; ++c) pk[c] += dx[r * cols + c];
    }
  });
  for (int64_t c = 0; c < cols; ++c) db[c] = T(0);
  for (int64_t k = 0; k < nblk; ++k)
    for (int64_t c = 0; c < cols; ++c) db[c] += part[k * cols + c];
}

template <typename T>
void bias_act_forward_naive(T* y, const T* x, const T* b, int64_t rows, int64_t cols, int act, double alpha) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      y[r * cols + c] = act_fwd(x[r * cols + c] + (b ? b[c] : T(0)), act, T(alpha));
}

template <typename T>
void bias_act_backward_naive(T* dx, T* db, const T* dy, const T* y, const T* x, const T* b, int64_t rows,
                             int64_t cols, int act, double alpha) {
  if (db) for (int64_t c = 0; c < cols; ++c) db[c] = T(0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = r * cols + c;
      T z = act == kGelu ? x[i] + (b ? b[c] : T(0)) : T(0);
      // ReLU / leaky ReLU: selects, as PyTorch (a NaN or inf dy where y <= 0 gives 0, not NaN)
      if (act == kRelu) dx[i] = y[i] <= T(0) ? T(0) : dy[i];
      else if (act == kLeakyRelu) dx[i] = y[i] > T(0) ? dy[i] : T(alpha) * dy[i];
      else dx[i] = dy[i] * act_grad(act == kGelu ? T(0) : y[i], z, act, T(alpha));
      if (db) db[c] += dx[i];
    }
}

template <typename T>
void sgd_span(T* __restrict p, T* __restrict m, const T* __restrict g, int64_t n, T lr, T mu, bool nesterov,
              bool wd, T decay) {
  for (int64_t i = 0; i < n; ++i) {  // loop-invariant branches: unswitched, the loops vectorise
    T pi = p[i];
    if (wd) pi -= decay * pi;
    if (m) {
      T mi = mu * m[i] - lr * g[i];
      m[i] = mi;
      pi += nesterov ? mu * mi - lr * g[i] : mi;
    } else {
      pi -= lr * g[i];
    }
    p[i] = pi;
  }
}

template <typename T>
void sgd_update(T* p, T* m, const T* g, int64_t n, double lr_, double momentum, bool nesterov, double wd) {
  const T lr = T(lr_), mu = T(momentum), decay = T(lr_ * wd);
  run(n, n, [&](int64_t i0, int64_t i1) {
    sgd_span<T>(p + i0, m ? m + i0 : nullptr, g + i0, i1 - i0, lr, mu, nesterov, wd != 0.0, decay);
  });
}

// The Adam step on elements [0, n) of the spans: a plain function with restrict pointers and
// by-value constants, so the loop vectorises (written inline in the parallel lambda, GCC
// left it scalar: 692k weights 1.25 ms -> see the commit for the figure).
template <typename T>
void adam_span(T* __restrict pp, T* __restrict mp, T* __restrict vp, T* __restrict hp, const T* __restrict gp,
               int64_t n, T c1, T c2, T step, T e, T keep) {
  if (hp) {
    for (int64_t i = 0; i < n; ++i) {
      const T gi = gp[i];
      const T mi = mp[i] + (gi - mp[i]) * c1;
      const T vi = vp[i] + (gi * gi - vp[i]) * c2;
      mp[i] = mi;
      vp[i] = vi;
      // a NaN-propagating max: std::max drops a NaN already in vhat (NaN must stay seen)
      const T h0 = hp[i], mx = std::max(vi, h0);  // vi first: std::max returns it when vi is NaN
      const T hi = h0 != h0 ? h0 : mx;
      hp[i] = hi;
      pp[i] = pp[i] * keep - step * mi / (std::sqrt(hi) + e);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {  // the hot loop: branch-free so it vectorises
    const T gi = gp[i];
    const T mi = mp[i] + (gi - mp[i]) * c1;
    const T vi = vp[i] + (gi * gi - vp[i]) * c2;
    mp[i] = mi;
    vp[i] = vi;
    pp[i] = pp[i] * keep - step * mi / (std::sqrt(vi) + e);
  }
}

template <typename T>
void adam_update(T* p, T* m, T* v, T* vhat, const T* g, int64_t n, double lr, double lr_t, double beta1,
                 double beta2, double eps, double wd) {
  const T c1 = T(1.0 - beta1), c2 = T(1.0 - beta2), step = T(lr_t), e = T(eps);
  const T keep = T(1.0 - lr * wd);  // decoupled weight decay: p *= 1 - lr * wd
  run(n, n, [&](int64_t i0, int64_t i1) {
    adam_span<T>(p + i0, m + i0, v + i0, vhat ? vhat + i0 : nullptr, g + i0, i1 - i0, c1, c2, step, e, keep);
  });
}

template <typename T>
void rmsprop_span(T* __restrict p, T* __restrict v, T* __restrict mom, T* __restrict avg, const T* __restrict g,
                  int64_t n, T lr, T rho, T c, T mu, T e, T decay, bool wd) {
  for (int64_t i = 0; i < n; ++i) {  // loop-invariant branches: unswitched, the loops vectorise
    const T gi = g[i];
    T pi = p[i];
    if (wd) pi -= decay * pi;
    T vi = rho * v[i] + c * gi * gi;
    v[i] = vi;
    T den = vi + e;
    if (avg) {
      T ai = rho * avg[i] + c * gi;
      avg[i] = ai;
      den = vi - ai * ai + e;
    }
    T inc = lr * gi / std::sqrt(den);
    if (mom) {
      T mo = mu * mom[i] + inc;
      mom[i] = mo;
      pi -= mo;
    } else {
      pi -= inc;
    }
    p[i] = pi;
  }
}

template <typename T>
void rmsprop_update(T* p, T* v, T* mom, T* avg, const T* g, int64_t n, double lr_, double rho_,
                    double momentum, double eps, double wd) {
  const T lr = T(lr_), rho = T(rho_), c = T(1.0 - rho_), mu = T(momentum), e = T(eps), decay = T(lr_ * wd);
  run(n, n, [&](int64_t i0, int64_t i1) {
    rmsprop_span<T>(p + i0, v + i0, mom ? mom + i0 : nullptr, avg ? avg + i0 : nullptr, g + i0, i1 - i0, lr, rho,
                    c, mu, e, decay, wd != 0.0);
  });
}

#define EMBER_INSTANTIATE(T)                                                                          \
  template void bias_act_forward<T>(T*, const T*, const T*, int64_t, int64_t, int, double);          \
  template void bias_act_backward<T>(T*, T*, const T*, const T*, const T*, const T*, int64_t, int64_t, \
                                     int, double);                                                   \
  template void bias_act_forward_naive<T>(T*, const T*, const T*, int64_t, int64_t, int, double);    \
  template void bias_act_backward_naive<T>(T*, T*, const T*, const T*, const T*, const T*, int64_t,   \
                                           int64_t, int, double);                                    \
  template void sgd_update<T>(T*, T*, const T*, int64_t, double, double, bool, double);              \
  template void adam_update<T>(T*, T*, T*, T*, const T*, int64_t, double, double, double, double,     \
                               double, double);                                                      \
  template void rmsprop_update<T>(T*, T*, T*, T*, const T*, int64_t, double, double, double, double,  \
                                  double);

EMBER_INSTANTIATE(float)
EMBER_INSTANTIATE(double)
#undef EMBER_INSTANTIATE

}  // namespace ember
