// elementwise.cu — fused bias + activation forward / backward and the in-place optimizer
// steps (SGD, Adam / AdamW, RMSprop). The math and the NaN rules are those of
// csrc/elementwise.{h,cpp}: see there for the formulas. Optional operands travel as a
// flag (has_*) beside a pointer the kernel then never reads.
#include "common.cuh"

// activation codes (backend.cpu.FUSED_ACTIVATIONS)
#define EW_LINEAR 0
#define EW_RELU 1
#define EW_SIGMOID 2
#define EW_TANH 3
#define EW_GELU 4
#define EW_LEAKY 5

template <typename T>
__device__ inline T ew_sigmoid(T z) {
  // exp of a non-positive number only: no overflow for large |z|
  if (z >= T(0)) return T(1) / (T(1) + ember_exp(-z));
  const T e = ember_exp(z);
  return e / (T(1) + e);
}

template <typename T>
__device__ inline T ew_act(T z, int act, T alpha) {
  switch (act) {
    case EW_RELU: return z < T(0) ? T(0) : z;  // NaN passes through
    case EW_SIGMOID: return ew_sigmoid(z);
    case EW_TANH: return ember_tanh(z);
    case EW_GELU: return T(0.5) * z * (T(1) + ember_erf(z * T(0.70710678118654752440)));
    case EW_LEAKY: return z > T(0) ? z : alpha * z;
    default: return z;
  }
}

// dx of one element: relu / leaky relu are selects on y (a NaN y passes dy for relu, as
// PyTorch's threshold_backward); gelu differentiates at z = x + b.
template <typename T>
__device__ inline T ew_grad(T d, T y, T z, int act, T alpha) {
  switch (act) {
    case EW_RELU: return (y > T(0) || y != y) ? d : T(0);
    case EW_SIGMOID: return d * y * (T(1) - y);
    case EW_TANH: return d * (T(1) - y * y);
    case EW_GELU: {
      const T cdf = T(0.5) * (T(1) + ember_erf(z * T(0.70710678118654752440)));
      const T pdf = ember_exp(T(-0.5) * z * z) * T(0.39894228040143267794);
      return d * (cdf + z * pdf);
    }
    case EW_LEAKY: return y > T(0) ? d : alpha * d;
    default: return d;
  }
}

// y[r, c] = act(x[r, c] + b[c]) over rows * cols elements; y may be x (each element is read
// and written by the same thread).
template <typename T>
__device__ void bias_act_forward_impl(T* y, const T* x, const T* b, long long rows, long long cols, int act,
                                      T alpha, int has_b) {
  const long long n = rows * cols;
  EMBER_GRID_STRIDE(i, n) {
    const T z = x[i] + (has_b ? b[i % cols] : T(0));
    y[i] = ew_act(z, act, alpha);
  }
}

extern "C" __global__ void bias_act_forward_f32(float* y, const float* x, const float* b, long long rows,
                                                long long cols, int act, float alpha, int has_b) {
  bias_act_forward_impl<float>(y, x, b, rows, cols, act, alpha, has_b);
}
extern "C" __global__ void bias_act_forward_f64(double* y, const double* x, const double* b, long long rows,
                                                long long cols, int act, double alpha, int has_b) {
  bias_act_forward_impl<double>(y, x, b, rows, cols, act, alpha, has_b);
}

// dx only (no db): one element per thread, grid-stride. y is read unless act is linear or
// gelu; x (and b when has_b) only for gelu.
template <typename T>
__device__ void bias_act_backward_impl(T* dx, const T* dy, const T* y, const T* x, const T* b, long long rows,
                                       long long cols, int act, T alpha, int has_b) {
  const long long n = rows * cols;
  EMBER_GRID_STRIDE(i, n) {
    const T yv = (act == EW_LINEAR || act == EW_GELU) ? T(0) : y[i];
    const T z = act == EW_GELU ? x[i] + (has_b ? b[i % cols] : T(0)) : T(0);
    dx[i] = ew_grad(dy[i], yv, z, act, alpha);
  }
}

extern "C" __global__ void bias_act_backward_f32(float* dx, const float* dy, const float* y, const float* x,
                                                 const float* b, long long rows, long long cols, int act,
                                                 float alpha, int has_b) {
  bias_act_backward_impl<float>(dx, dy, y, x, b, rows, cols, act, alpha, has_b);
}
extern "C" __global__ void bias_act_backward_f64(double* dx, const double* dy, const double* y, const double* x,
                                                 const double* b, long long rows, long long cols, int act,
                                                 double alpha, int has_b) {
  bias_act_backward_impl<double>(dx, dy, y, x, b, rows, cols, act, alpha, has_b);
}

// dx and the column sums of dx by fixed blocks of `chunk` rows (32, as the CPU):
// part[k, c] = sum of dx[r, c] over the rows r of block k, in order; one thread per
// (block, column), so neighbouring threads read neighbouring columns (coalesced).
// chunk_column_sum then adds the blocks in order: no atomics, and the grouping depends on
// `chunk` only, never on the launch.
template <typename T>
__device__ void bias_act_backward_part_impl(T* dx, T* part, const T* dy, const T* y, const T* x, const T* b,
                                            long long rows, long long cols, int act, T alpha, int has_b,
                                            long long chunk) {
  const long long nch = (rows + chunk - 1) / chunk;
  EMBER_GRID_STRIDE(i, nch * cols) {
    const long long k = i / cols, c = i % cols;
    const long long r1 = (k + 1) * chunk < rows ? (k + 1) * chunk : rows;
    const T bc = has_b ? b[c] : T(0);
    T acc = T(0);
    for (long long r = k * chunk; r < r1; ++r) {
      const long long e = r * cols + c;
      const T yv = (act == EW_LINEAR || act == EW_GELU) ? T(0) : y[e];
      const T z = act == EW_GELU ? x[e] + bc : T(0);
      const T d = ew_grad(dy[e], yv, z, act, alpha);
      dx[e] = d;
      acc += d;
    }
    part[i] = acc;
  }
}

extern "C" __global__ void bias_act_backward_part_f32(float* dx, float* part, const float* dy, const float* y,
                                                      const float* x, const float* b, long long rows, long long cols,
                                                      int act, float alpha, int has_b, long long chunk) {
  bias_act_backward_part_impl<float>(dx, part, dy, y, x, b, rows, cols, act, alpha, has_b, chunk);
}
extern "C" __global__ void bias_act_backward_part_f64(double* dx, double* part, const double* dy, const double* y,
                                                      const double* x, const double* b, long long rows,
                                                      long long cols, int act, double alpha, int has_b,
                                                      long long chunk) {
  bias_act_backward_part_impl<double>(dx, part, dy, y, x, b, rows, cols, act, alpha, has_b, chunk);
}

// out[c] = sum over k < nchunks, in order, of part[k, c] (part (nchunks, cols)); one thread
// per column. Also finishes the conv family's bias gradient.
template <typename T>
__device__ void chunk_column_sum_impl(T* out, const T* part, long long nchunks, long long cols) {
  EMBER_GRID_STRIDE(c, cols) {
    T acc = T(0);
    for (long long k = 0; k < nchunks; ++k) acc += part[k * cols + c];
    out[c] = acc;
  }
}

extern "C" __global__ void chunk_column_sum_f32(float* out, const float* part, long long nchunks, long long cols) {
  chunk_column_sum_impl<float>(out, part, nchunks, cols);
}
extern "C" __global__ void chunk_column_sum_f64(double* out, const double* part, long long nchunks, long long cols) {
  chunk_column_sum_impl<double>(out, part, nchunks, cols);
}

// Keras SGD with decoupled weight decay (decay = lr * wd): m = mu m - lr g;
// p += nesterov ? mu m - lr g : m  (no momentum buffer: p -= lr g).
template <typename T>
__device__ void sgd_update_impl(T* p, T* m, const T* g, long long n, T lr, T mu, int nesterov, int has_m,
                                int has_wd, T decay) {
  EMBER_GRID_STRIDE(i, n) {
    T pi = p[i];
    if (has_wd) pi -= decay * pi;
    if (has_m) {
      const T mi = mu * m[i] - lr * g[i];
      m[i] = mi;
      pi += nesterov ? mu * mi - lr * g[i] : mi;
    } else {
      pi -= lr * g[i];
    }
    p[i] = pi;
  }
}

extern "C" __global__ void sgd_update_f32(float* p, float* m, const float* g, long long n, float lr, float mu,
                                          int nesterov, int has_m, int has_wd, float decay) {
  sgd_update_impl<float>(p, m, g, n, lr, mu, nesterov, has_m, has_wd, decay);
}
extern "C" __global__ void sgd_update_f64(double* p, double* m, const double* g, long long n, double lr, double mu,
                                          int nesterov, int has_m, int has_wd, double decay) {
  sgd_update_impl<double>(p, m, g, n, lr, mu, nesterov, has_m, has_wd, decay);
}

// Keras Adam / AdamW: c1 = 1 - beta_1, c2 = 1 - beta_2, step = lr_t, keep = 1 - lr * wd;
// amsgrad keeps vhat = max(vhat, v) with a NaN in either staying NaN.
template <typename T>
__device__ void adam_update_impl(T* p, T* m, T* v, T* vhat, const T* g, long long n, T c1, T c2, T step, T e,
                                 T keep, int has_vhat) {
  EMBER_GRID_STRIDE(i, n) {
    const T gi = g[i];
    const T mi = m[i] + (gi - m[i]) * c1;
    const T vi = v[i] + (gi * gi - v[i]) * c2;
    m[i] = mi;
    v[i] = vi;
    T den = vi;
    if (has_vhat) {
      const T h0 = vhat[i];
      const T mx = vi < h0 ? h0 : vi;  // std::max(vi, h0): vi when vi is NaN
      den = h0 != h0 ? h0 : mx;
      vhat[i] = den;
    }
    p[i] = p[i] * keep - step * mi / (ember_sqrt(den) + e);
  }
}

extern "C" __global__ void adam_update_f32(float* p, float* m, float* v, float* vhat, const float* g, long long n,
                                           float c1, float c2, float step, float e, float keep, int has_vhat) {
  adam_update_impl<float>(p, m, v, vhat, g, n, c1, c2, step, e, keep, has_vhat);
}
extern "C" __global__ void adam_update_f64(double* p, double* m, double* v, double* vhat, const double* g,
                                           long long n, double c1, double c2, double step, double e, double keep,
                                           int has_vhat) {
  adam_update_impl<double>(p, m, v, vhat, g, n, c1, c2, step, e, keep, has_vhat);
}

// Keras RMSprop: v = rho v + c g^2 (c = 1 - rho); centered: a = rho a + c g, den = v - a^2 + eps;
// inc = lr g / sqrt(den); momentum: mo = mu mo + inc, p -= mo; else p -= inc.
template <typename T>
__device__ void rmsprop_update_impl(T* p, T* v, T* mom, T* avg, const T* g, long long n, T lr, T rho, T c, T mu,
                                    T e, T decay, int has_wd, int has_mom, int has_avg) {
  EMBER_GRID_STRIDE(i, n) {
    const T gi = g[i];
    T pi = p[i];
    if (has_wd) pi -= decay * pi;
    const T vi = rho * v[i] + c * gi * gi;
    v[i] = vi;
    T den = vi + e;
    if (has_avg) {
      const T ai = rho * avg[i] + c * gi;
      avg[i] = ai;
      den = vi - ai * ai + e;
    }
    const T inc = lr * gi / ember_sqrt(den);
    if (has_mom) {
      const T mo = mu * mom[i] + inc;
      mom[i] = mo;
      pi -= mo;
    } else {
      pi -= inc;
    }
    p[i] = pi;
  }
}

extern "C" __global__ void rmsprop_update_f32(float* p, float* v, float* mom, float* avg, const float* g,
                                              long long n, float lr, float rho, float c, float mu, float e,
                                              float decay, int has_wd, int has_mom, int has_avg) {
  rmsprop_update_impl<float>(p, v, mom, avg, g, n, lr, rho, c, mu, e, decay, has_wd, has_mom, has_avg);
}
extern "C" __global__ void rmsprop_update_f64(double* p, double* v, double* mom, double* avg, const double* g,
                                              long long n, double lr, double rho, double c, double mu, double e,
                                              double decay, int has_wd, int has_mom, int has_avg) {
  rmsprop_update_impl<double>(p, v, mom, avg, g, n, lr, rho, c, mu, e, decay, has_wd, has_mom, has_avg);
}
