// softmax.cpp — see softmax.h. The row primitives have a portable version (any T) and an
// AVX2 float32 version (softmax_avx2.cpp) chosen at run time.
#include "softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu.h"
#include "parallel.h"

namespace ember {

namespace {

// ---- portable row primitives (also the naive oracle) ----
template <typename T> T p_max(const T* x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}
template <typename T> T p_sumexp(const T* x, T s, int64_t n) {
  T acc = 0;
  for (int64_t j = 0; j < n; ++j) acc += std::exp(x[j] - s);
  return acc;
}
template <typename T> void p_exp(T* y, const T* x, T s, T scale, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] = scale * std::exp(x[j] - s);
}
template <typename T> void p_exp_sub(T* dx, const T* x, T s, T a, const T* p, T b, int64_t n) {
  if (p)
    for (int64_t j = 0; j < n; ++j) dx[j] = a * std::exp(x[j] - s) - b * p[j];
  else
    for (int64_t j = 0; j < n; ++j) dx[j] = a * std::exp(x[j] - s);
}

template <typename T> T p_dot(const T* a, const T* b, int64_t n) {
  T s = 0;
  for (int64_t j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}
template <typename T> T p_sum(const T* a, int64_t n) {
  T s = 0;
  for (int64_t j = 0; j < n; ++j) s += a[j];
  return s;
}

// A float accumulator stops growing once its terms fall below half an ulp of it (all 2^24
// of them for ones; a 2^28-class logsumexp came out 0.1 short): the row sums run in
// blocks of kSumBlock elements in T (the kernels' own accumulators), the blocks added in
// double. Rows up to kSumBlock get the bits of one kernel call.
constexpr int64_t kSumBlock = 4096;
template <typename T, typename F> T blocked_sum(int64_t n, F&& part) {
  if (n <= kSumBlock) return part(0, n);
  double acc = 0;
  for (int64_t j = 0; j < n; j += kSumBlock) acc += double(part(j, std::min(kSumBlock, n - j)));
  return T(acc);
}

// ---- dispatch: float32 goes to AVX2 / AVX-512 when available ----
template <typename T> T k_dot(const T* a, const T* b, int64_t n) { return p_dot(a, b, n); }
template <typename T> T k_sum(const T* a, int64_t n) { return p_sum(a, n); }
template <typename T> T r_max(const T* x, int64_t n) { return p_max(x, n); }
template <typename T> T k_sumexp(const T* x, T s, int64_t n) { return p_sumexp(x, s, n); }
template <typename T> void r_exp(T* y, const T* x, T s, T c, int64_t n) { p_exp(y, x, s, c, n); }
template <typename T> void r_exp_sub(T* d, const T* x, T s, T a, const T* p, T b, int64_t n) {
  p_exp_sub(d, x, s, a, p, b, n);
}
#if defined(EMBER_X86)
template <> float k_dot<float>(const float* a, const float* b, int64_t n) {
  return use_avx2() ? avx2::row_dot(a, b, n) : p_dot(a, b, n);
}
template <> float k_sum<float>(const float* a, int64_t n) {
  return use_avx2() ? avx2::row_sum(a, n) : p_sum(a, n);
}
template <> float r_max<float>(const float* x, int64_t n) {
  return use_avx2() ? avx2::row_max(x, n) : p_max(x, n);
}
// The exp passes take AVX-512 where the CPU has it (16 lanes; softmax fwd+bwd 4096x1000 at
// one thread: see the commit for the figures).
template <> float k_sumexp<float>(const float* x, float s, int64_t n) {
  if (use_avx512()) return avx512::row_sumexp(x, s, n);
  return use_avx2() ? avx2::row_sumexp(x, s, n) : p_sumexp(x, s, n);
}
template <> void r_exp<float>(float* y, const float* x, float s, float c, int64_t n) {
  if (use_avx512()) avx512::row_exp(y, x, s, c, n);
  else if (use_avx2()) avx2::row_exp(y, x, s, c, n);
  else p_exp(y, x, s, c, n);
}
template <> void r_exp_sub<float>(float* d, const float* x, float s, float a, const float* p, float b,
                                  int64_t n) {
  if (use_avx512()) avx512::row_exp_sub(d, x, s, a, p, b, n);
  else if (use_avx2()) avx2::row_exp_sub(d, x, s, a, p, b, n);
  else p_exp_sub(d, x, s, a, p, b, n);
}
#endif

template <typename T> T r_dot(const T* a, const T* b, int64_t n) {
  return blocked_sum<T>(n, [&](int64_t j, int64_t m) { return k_dot(a + j, b + j, m); });
}
template <typename T> T r_sum(const T* a, int64_t n) {
  return blocked_sum<T>(n, [&](int64_t j, int64_t m) { return k_sum(a + j, m); });
}
template <typename T> T r_sumexp(const T* x, T s, int64_t n) {
  return blocked_sum<T>(n, [&](int64_t j, int64_t m) { return k_sumexp(x + j, s, m); });
}

// r_max ignores NaN, so a row whose max m is not finite holds +inf (m = +inf) or only -inf
// and NaN (m = -inf). Only a row of -inf alone is fully masked (n == 0 included); the others
// give NaN, as x - max = inf - inf or NaN does in PyTorch.
template <typename T> bool fully_masked(const T* x, int64_t n, T m) {
  if (m != -std::numeric_limits<T>::infinity()) return false;
  for (int64_t j = 0; j < n; ++j)
    if (x[j] != x[j]) return false;
  return true;
}

// log-sum-exp of a row; -inf for a fully masked row, NaN for a row with NaN or +inf.
template <typename T> T row_lse(const T* x, int64_t n) {
  T m = r_max(x, n);
  if (!std::isfinite(m))
    return fully_masked(x, n, m) ? m : std::numeric_limits<T>::quiet_NaN();
  return m + std::log(r_sumexp(x, m, n));
}

constexpr int64_t kMinParallel = 32;

template <typename F> void rows_for(int64_t rows, int64_t n, F&& f) {
  parallel_for(rows, rows * n >= 16384 ? 2 : (int64_t(1) << 62), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) f(r);
  });
  (void)kMinParallel;
}

}  // namespace

template <typename T> void softmax_forward(T* y, const T* x, int64_t rows, int64_t n) {
  rows_for(rows, n, [&](int64_t r) {
    const T* xr = x + r * n;
    T m = r_max(xr, n);
    if (!std::isfinite(m)) {  // a fully masked (all -inf) row: zeros; +inf or NaN: NaN
      const T fill = fully_masked(xr, n, m) ? T(0) : std::numeric_limits<T>::quiet_NaN();
      for (int64_t j = 0; j < n; ++j) y[r * n + j] = fill;
      return;
    }
    T* yr = y + r * n;
    r_exp(yr, xr, m, T(1), n);  // one exp per element, then normalise in place (row is in L1)
    const T inv = T(1) / r_sum(yr, n);
    for (int64_t j = 0; j < n; ++j) yr[j] *= inv;
  });
}

template <typename T> void softmax_backward(T* dx, const T* y, const T* dy, int64_t rows, int64_t n) {
  rows_for(rows, n, [&](int64_t r) {
    const T *yr = y + r * n, *gr = dy + r * n;
    T* d = dx + r * n;
    const T dot = r_dot(yr, gr, n);
    for (int64_t j = 0; j < n; ++j) d[j] = yr[j] * (gr[j] - dot);
  });
}

template <typename T> void log_softmax_forward(T* y, const T* x, int64_t rows, int64_t n) {
  rows_for(rows, n, [&](int64_t r) {
    const T* xr = x + r * n;
    T lse = row_lse(xr, n);
    T* yr = y + r * n;
    for (int64_t j = 0; j < n; ++j) yr[j] = xr[j] - lse;
  });
}

template <typename T> void log_softmax_backward(T* dx, const T* y, const T* dy, int64_t rows, int64_t n) {
  rows_for(rows, n, [&](int64_t r) {
    const T* gr = dy + r * n;
    const T s = r_sum(gr, n);
    // dx = dy - exp(y) * s   (computed as -(s*exp(y - 0)) + dy)
    r_exp_sub(dx + r * n, y + r * n, T(0), -s, gr, T(-1), n);
  });
}

template <typename T>
void xent_forward(T* loss, T* lse, const T* x, const T* p, int64_t rows, int64_t n) {
  rows_for(rows, n, [&](int64_t r) {
    const T *xr = x + r * n, *pr = p + r * n;
    T l = row_lse(xr, n);
    const double sp = double(r_sum(pr, n));
    lse[r] = l;
    // no target mass: 0, unless log_softmax(x) is NaN (NaN, +inf or only -inf in the row),
    // as 0 * NaN is in PyTorch's -sum(p * log_softmax(x))
    if (sp == 0) {
      loss[r] = std::isfinite(l) || n == 0 ? T(0) : std::numeric_limits<T>::quiet_NaN();
      return;
    }
    // the vectorised sums first; lse * sum(p) - sum(p * x) equals sum(p * (lse - x)) while
    // everything is finite, but an infinite target makes it inf - inf = NaN. So a non-finite
    // result (rare: NaN / inf in the row) is recomputed by PyTorch's formula term by term,
    // where a zero target skips its logit (0 * -inf is no NaN: ember's masked-class rule)
    double res = sp * double(l) - double(r_dot(pr, xr, n));
    if (!std::isfinite(res)) {
      res = 0;
      for (int64_t j = 0; j < n; ++j)
        if (pr[j] != T(0)) res += double(pr[j]) * (double(l) - double(xr[j]));
    }
    loss[r] = T(res);
  });
}

template <typename T>
void xent_backward(T* dx, const T* dloss, const T* x, const T* p, const T* lse, int64_t rows, int64_t n) {
  rows_for(rows, n, [&](int64_t r) {
    const T* pr = p + r * n;
    const T sp = r_sum(pr, n);
    r_exp_sub(dx + r * n, x + r * n, lse[r], dloss[r] * sp, pr, dloss[r], n);
  });
}

template <typename T>
void sparse_xent_forward(T* loss, T* lse, const T* x, const int64_t* labels, int64_t rows, int64_t n) {
  rows_for(rows, n, [&](int64_t r) {
    const T* xr = x + r * n;
    T l = row_lse(xr, n);
    lse[r] = l;
    loss[r] = l - xr[labels[r]];
  });
}

template <typename T>
void sparse_xent_backward(T* dx, const T* dloss, const T* x, const int64_t* labels, const T* lse,
                          int64_t rows, int64_t n) {
  rows_for(rows, n, [&](int64_t r) {
    T* d = dx + r * n;
    r_exp(d, x + r * n, lse[r], dloss[r], n);
    d[labels[r]] -= dloss[r];
  });
}

#define EMBER_SOFTMAX_INST(T)                                                                    \
  template void softmax_forward<T>(T*, const T*, int64_t, int64_t);                               \
  template void softmax_backward<T>(T*, const T*, const T*, int64_t, int64_t);                    \
  template void log_softmax_forward<T>(T*, const T*, int64_t, int64_t);                           \
  template void log_softmax_backward<T>(T*, const T*, const T*, int64_t, int64_t);                \
  template void xent_forward<T>(T*, T*, const T*, const T*, int64_t, int64_t);                    \
  template void xent_backward<T>(T*, const T*, const T*, const T*, const T*, int64_t, int64_t);   \
  template void sparse_xent_forward<T>(T*, T*, const T*, const int64_t*, int64_t, int64_t);       \
  template void sparse_xent_backward<T>(T*, const T*, const T*, const int64_t*, const T*, int64_t, int64_t);
EMBER_SOFTMAX_INST(float)
EMBER_SOFTMAX_INST(double)
#undef EMBER_SOFTMAX_INST

}  // namespace ember
