// softmax.cu — softmax / log-softmax over the last axis of a (rows, n) array, their
// backward, and the fused softmax cross-entropy (dense and sparse labels), with the CPU
// kernels' rules (csrc/softmax.cpp): NaN or +inf in a row gives NaN, a row of only -inf is
// fully masked (softmax 0, lse -inf).
//
// One block per row (grid-stride over rows). Row reductions are deterministic whatever the
// block size: element j goes to lane j % kLanes (each lane summed in order by one thread),
// then the kLanes partials meet in a fixed shared-memory tree.
#include "common.cuh"

#define EMBER_SM_LANES 128

// max ignoring NaN (as the CPU's r_max: NaN never compares greater)
template <typename T> __device__ T sm_tree_max(T* buf) {
  __syncthreads();
  for (int s = EMBER_SM_LANES / 2; s > 0; s >>= 1) {
    for (int i = threadIdx.x; i < s; i += blockDim.x) buf[i] = buf[i + s] > buf[i] ? buf[i + s] : buf[i];
    __syncthreads();
  }
  const T r = buf[0];
  __syncthreads();
  return r;
}

// Row max (NaN ignored) and whether the row holds a NaN.
template <typename T> __device__ void sm_row_max(const T* x, long long n, T* buf, T* m, bool* has_nan) {
  for (int lane = threadIdx.x; lane < EMBER_SM_LANES; lane += blockDim.x) {
    T mx = -ember_inf<T>(), nan = T(0);
    for (long long j = lane; j < n; j += EMBER_SM_LANES) {
      const T v = x[j];
      mx = v > mx ? v : mx;
      if (v != v) nan = T(1);
    }
    buf[lane] = mx;
    buf[EMBER_SM_LANES + lane] = nan;
  }
  *m = sm_tree_max(buf);
  *has_nan = ember_block_tree_sum<EMBER_SM_LANES>(buf + EMBER_SM_LANES) != T(0);
}

template <typename T> __device__ T sm_sum_exp(const T* x, T s, long long n, T* buf) {
  for (int lane = threadIdx.x; lane < EMBER_SM_LANES; lane += blockDim.x) {
    T acc = T(0);
    for (long long j = lane; j < n; j += EMBER_SM_LANES) acc += ember_exp(x[j] - s);
    buf[lane] = acc;
  }
  return ember_block_tree_sum<EMBER_SM_LANES>(buf);
}

template <typename T> __device__ T sm_sum(const T* a, long long n, T* buf) {
  for (int lane = threadIdx.x; lane < EMBER_SM_LANES; lane += blockDim.x) {
    T acc = T(0);
    for (long long j = lane; j < n; j += EMBER_SM_LANES) acc += a[j];
    buf[lane] = acc;
  }
  return ember_block_tree_sum<EMBER_SM_LANES>(buf);
}

template <typename T> __device__ T sm_dot(const T* a, const T* b, long long n, T* buf) {
  for (int lane = threadIdx.x; lane < EMBER_SM_LANES; lane += blockDim.x) {
    T acc = T(0);
    for (long long j = lane; j < n; j += EMBER_SM_LANES) acc += a[j] * b[j];
    buf[lane] = acc;
  }
  return ember_block_tree_sum<EMBER_SM_LANES>(buf);
}

// log-sum-exp of a row: -inf for a fully masked row (only -inf, or n == 0), NaN for a row
// holding NaN or +inf.
template <typename T> __device__ T sm_row_lse(const T* x, long long n, T* buf) {
  T m;
  bool has_nan;
  sm_row_max(x, n, buf, &m, &has_nan);
  if (!(m - m == T(0))) return (m == -ember_inf<T>() && !has_nan) ? m : ember_nan<T>();
  return m + ember_log(sm_sum_exp(x, m, n, buf));
}

template <typename T> __device__ void softmax_forward_impl(const T* x, T* y, long long rows, long long n, int log) {
  __shared__ T buf[2 * EMBER_SM_LANES];
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    if (log) {
      const T lse = sm_row_lse(xr, n, buf);
      for (long long j = threadIdx.x; j < n; j += blockDim.x) yr[j] = xr[j] - lse;
      continue;
    }
    T m;
    bool has_nan;
    sm_row_max(xr, n, buf, &m, &has_nan);
    if (!(m - m == T(0))) {  // all -inf: zeros; +inf or NaN: NaN
      const T fill = (m == -ember_inf<T>() && !has_nan) ? T(0) : ember_nan<T>();
      for (long long j = threadIdx.x; j < n; j += blockDim.x) yr[j] = fill;
      continue;
    }
    const T inv = T(1) / sm_sum_exp(xr, m, n, buf);
    for (long long j = threadIdx.x; j < n; j += blockDim.x) yr[j] = ember_exp(xr[j] - m) * inv;
  }
}

// softmax: dx = y (dy - <y, dy>);  log-softmax: dx = dy - exp(y) sum(dy)
template <typename T>
__device__ void softmax_backward_impl(const T* y, const T* dy, T* dx, long long rows, long long n, int log) {
  __shared__ T buf[EMBER_SM_LANES];
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *yr = y + r * n, *gr = dy + r * n;
    T* d = dx + r * n;
    if (log) {
      const T s = sm_sum(gr, n, buf);
      for (long long j = threadIdx.x; j < n; j += blockDim.x) d[j] = -s * ember_exp(yr[j]) + gr[j];
    } else {
      const T dot = sm_dot(yr, gr, n, buf);
      for (long long j = threadIdx.x; j < n; j += blockDim.x) d[j] = yr[j] * (gr[j] - dot);
    }
  }
}

// Dense labels p: loss = -sum(p * log_softmax(x)) = lse * sum(p) - <p, x>, in double; a
// non-finite result (NaN / inf in the row) is recomputed term by term, a zero target
// skipping its logit (0 * -inf is no NaN: ember's masked-class rule).
template <typename T>
__device__ void xent_forward_impl(const T* x, const T* p, T* loss, T* lse, long long rows, long long n) {
  __shared__ T buf[2 * EMBER_SM_LANES];
  __shared__ double dbuf[EMBER_SM_LANES];
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *xr = x + r * n, *pr = p + r * n;
    const T l = sm_row_lse(xr, n, buf);
    const double sp = double(sm_sum(pr, n, buf));
    const T dot = sm_dot(pr, xr, n, buf);
    double res = sp * double(l) - double(dot);
    if (sp != 0.0 && !(res - res == 0.0)) {
      for (int lane = threadIdx.x; lane < EMBER_SM_LANES; lane += blockDim.x) {
        double acc = 0.0;
        for (long long j = lane; j < n; j += EMBER_SM_LANES)
          if (pr[j] != T(0)) acc += double(pr[j]) * (double(l) - double(xr[j]));
        dbuf[lane] = acc;
      }
      res = ember_block_tree_sum<EMBER_SM_LANES>(dbuf);
    }
    if (threadIdx.x == 0) {
      lse[r] = l;
      if (sp == 0.0) loss[r] = (l - l == T(0)) || n == 0 ? T(0) : ember_nan<T>();
      else loss[r] = T(res);
    }
  }
}

template <typename T>
__device__ void xent_sparse_forward_impl(const T* x, const long long* labels, T* loss, T* lse, long long rows,
                                         long long n) {
  __shared__ T buf[2 * EMBER_SM_LANES];
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    const T l = sm_row_lse(xr, n, buf);
    if (threadIdx.x == 0) {
      lse[r] = l;
      // an out-of-range label (checked lazily by the Python side) is a NaN, never a stray read
      const long long t = labels[r];
      loss[r] = t >= 0 && t < n ? l - xr[t] : ember_nan<T>();
    }
  }
}

// dx = dloss * (sum(p) exp(x - lse) - p)
template <typename T>
__device__ void xent_backward_impl(const T* dloss, const T* x, const T* p, const T* lse, T* dx, long long rows,
                                   long long n) {
  __shared__ T buf[EMBER_SM_LANES];
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *xr = x + r * n, *pr = p + r * n;
    const T a = dloss[r] * sm_sum(pr, n, buf), b = dloss[r], l = lse[r];
    T* d = dx + r * n;
    for (long long j = threadIdx.x; j < n; j += blockDim.x) d[j] = a * ember_exp(xr[j] - l) - b * pr[j];
  }
}

template <typename T>
__device__ void xent_sparse_backward_impl(const T* dloss, const T* x, const long long* labels, const T* lse, T* dx,
                                          long long rows, long long n) {
  const long long total = rows * n;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < total;
       e += (long long)gridDim.x * blockDim.x) {
    const long long r = e / n, j = e - r * n;
    const T v = dloss[r] * ember_exp(x[e] - lse[r]);
    const long long t = labels[r];
    dx[e] = t < 0 || t >= n ? ember_nan<T>() : j == t ? v - dloss[r] : v;
  }
}

extern "C" __global__ void softmax_forward_f32(const float* x, float* y, long long rows, long long n, int log) { softmax_forward_impl<float>(x, y, rows, n, log); }
extern "C" __global__ void softmax_forward_f64(const double* x, double* y, long long rows, long long n, int log) { softmax_forward_impl<double>(x, y, rows, n, log); }
extern "C" __global__ void softmax_backward_f32(const float* y, const float* dy, float* dx, long long rows, long long n, int log) { softmax_backward_impl<float>(y, dy, dx, rows, n, log); }
extern "C" __global__ void softmax_backward_f64(const double* y, const double* dy, double* dx, long long rows, long long n, int log) { softmax_backward_impl<double>(y, dy, dx, rows, n, log); }
extern "C" __global__ void xent_forward_f32(const float* x, const float* p, float* loss, float* lse, long long rows, long long n) { xent_forward_impl<float>(x, p, loss, lse, rows, n); }
extern "C" __global__ void xent_forward_f64(const double* x, const double* p, double* loss, double* lse, long long rows, long long n) { xent_forward_impl<double>(x, p, loss, lse, rows, n); }
extern "C" __global__ void xent_sparse_forward_f32(const float* x, const long long* labels, float* loss, float* lse, long long rows, long long n) { xent_sparse_forward_impl<float>(x, labels, loss, lse, rows, n); }
extern "C" __global__ void xent_sparse_forward_f64(const double* x, const long long* labels, double* loss, double* lse, long long rows, long long n) { xent_sparse_forward_impl<double>(x, labels, loss, lse, rows, n); }
extern "C" __global__ void xent_backward_f32(const float* dloss, const float* x, const float* p, const float* lse, float* dx, long long rows, long long n) { xent_backward_impl<float>(dloss, x, p, lse, dx, rows, n); }
extern "C" __global__ void xent_backward_f64(const double* dloss, const double* x, const double* p, const double* lse, double* dx, long long rows, long long n) { xent_backward_impl<double>(dloss, x, p, lse, dx, rows, n); }
extern "C" __global__ void xent_sparse_backward_f32(const float* dloss, const float* x, const long long* labels, const float* lse, float* dx, long long rows, long long n) { xent_sparse_backward_impl<float>(dloss, x, labels, lse, dx, rows, n); }
extern "C" __global__ void xent_sparse_backward_f64(const double* dloss, const double* x, const long long* labels, const double* lse, double* dx, long long rows, long long n) { xent_sparse_backward_impl<double>(dloss, x, labels, lse, dx, rows, n); }
