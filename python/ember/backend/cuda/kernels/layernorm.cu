// layernorm.cu — layer normalization over the last axis of a (rows, n) array, as
// csrc/layernorm.cpp: mu = mean(x), rs = 1 / sqrt(mean((x - mu)^2) + eps),
// y = (x - mu) rs gamma + beta; saved (mu, rs) per row.
//
// Forward and dx: one block per row (grid-stride over rows), row sums in kLanes lanes
// (lane j % kLanes summed in order by one thread) and a fixed shared-memory tree, so the bits
// do not depend on the block size. dgamma / dbeta: fixed 32-row block partial sums, then the
// blocks added in order per column (two passes, no atomics).
#include "common.cuh"

#define EMBER_LN_LANES 128

template <typename T>
__device__ void layernorm_forward_impl(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd,
                                       long long rows, long long n, T eps) {
  __shared__ T buf[EMBER_LN_LANES];
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    for (int lane = threadIdx.x; lane < EMBER_LN_LANES; lane += blockDim.x) {
      T s = T(0);
      for (long long j = lane; j < n; j += EMBER_LN_LANES) s += xr[j];
      buf[lane] = s;
    }
    const T s = ember_block_tree_sum<EMBER_LN_LANES>(buf);
    const T mu = n ? s / T(n) : T(0);
    for (int lane = threadIdx.x; lane < EMBER_LN_LANES; lane += blockDim.x) {
      T v = T(0);
      for (long long j = lane; j < n; j += EMBER_LN_LANES) v += (xr[j] - mu) * (xr[j] - mu);
      buf[lane] = v;
    }
    const T v = ember_block_tree_sum<EMBER_LN_LANES>(buf);
    const T rs = T(1) / ember_sqrt((n ? v / T(n) : T(0)) + eps);
    if (threadIdx.x == 0) {
      mean[r] = mu;
      rstd[r] = rs;
    }
    T* yr = y + r * n;
    for (long long j = threadIdx.x; j < n; j += blockDim.x) yr[j] = (xr[j] - mu) * rs * gamma[j] + beta[j];
  }
}

// dx = rs (dy gamma - a - (x - mu) rs b), a = mean(dy gamma), b = sum(dy gamma (x - mu)) rs / n
template <typename T>
__device__ void layernorm_backward_dx_impl(const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd,
                                           T* dx, long long rows, long long n) {
  __shared__ T buf[2 * EMBER_LN_LANES];
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *xr = x + r * n, *g = dy + r * n;
    const T mu = mean[r], rs = rstd[r];
    for (int lane = threadIdx.x; lane < EMBER_LN_LANES; lane += blockDim.x) {
      T a = T(0), b = T(0);
      for (long long j = lane; j < n; j += EMBER_LN_LANES) {
        const T dh = g[j] * gamma[j];
        a += dh;
        b += dh * (xr[j] - mu);
      }
      buf[lane] = a;
      buf[EMBER_LN_LANES + lane] = b;
    }
    const T a = ember_block_tree_sum<EMBER_LN_LANES>(buf) / T(n);
    const T b = ember_block_tree_sum<EMBER_LN_LANES>(buf + EMBER_LN_LANES) * (rs / T(n));
    T* d = dx + r * n;
    for (long long j = threadIdx.x; j < n; j += blockDim.x) d[j] = rs * (g[j] * gamma[j] - a - (xr[j] - mu) * rs * b);
  }
}

// dgamma / dbeta in two deterministic passes: partial sums over fixed blocks of EMBER_LN_RB rows
// (one thread per (block, column), rows in order), then one thread per column adds the blocks
// in order. The block size is a constant, so the bits do not depend on the launch.
#define EMBER_LN_RB 32

template <typename T>
__device__ void layernorm_backward_partial_impl(const T* dy, const T* x, const T* mean, const T* rstd, T* pg, T* pb,
                                                long long rows, long long n) {
  const long long nblk = (rows + EMBER_LN_RB - 1) / EMBER_LN_RB;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < nblk * n;
       e += (long long)gridDim.x * blockDim.x) {
    const long long blk = e / n, c = e - blk * n, r1 = (blk + 1) * EMBER_LN_RB < rows ? (blk + 1) * EMBER_LN_RB : rows;
    T dg = T(0), db = T(0);
    for (long long r = blk * EMBER_LN_RB; r < r1; ++r) {
      const T g = dy[r * n + c];
      dg += g * (x[r * n + c] - mean[r]) * rstd[r];
      db += g;
    }
    pg[e] = dg;
    pb[e] = db;
  }
}

template <typename T>
__device__ void layernorm_backward_params_impl(const T* pg, const T* pb, T* dgamma, T* dbeta, long long nblk,
                                               long long n) {
  for (long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x; c < n; c += (long long)gridDim.x * blockDim.x) {
    T dg = T(0), db = T(0);
    for (long long k = 0; k < nblk; ++k) {
      dg += pg[k * n + c];
      db += pb[k * n + c];
    }
    dgamma[c] = dg;
    dbeta[c] = db;
  }
}

extern "C" __global__ void layernorm_forward_f32(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd, long long rows, long long n, float eps) { layernorm_forward_impl<float>(x, gamma, beta, y, mean, rstd, rows, n, eps); }
extern "C" __global__ void layernorm_forward_f64(const double* x, const double* gamma, const double* beta, double* y, double* mean, double* rstd, long long rows, long long n, double eps) { layernorm_forward_impl<double>(x, gamma, beta, y, mean, rstd, rows, n, eps); }
extern "C" __global__ void layernorm_backward_dx_f32(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd, float* dx, long long rows, long long n) { layernorm_backward_dx_impl<float>(dy, x, gamma, mean, rstd, dx, rows, n); }
extern "C" __global__ void layernorm_backward_dx_f64(const double* dy, const double* x, const double* gamma, const double* mean, const double* rstd, double* dx, long long rows, long long n) { layernorm_backward_dx_impl<double>(dy, x, gamma, mean, rstd, dx, rows, n); }
extern "C" __global__ void layernorm_backward_partial_f32(const float* dy, const float* x, const float* mean, const float* rstd, float* pg, float* pb, long long rows, long long n) { layernorm_backward_partial_impl<float>(dy, x, mean, rstd, pg, pb, rows, n); }
extern "C" __global__ void layernorm_backward_partial_f64(const double* dy, const double* x, const double* mean, const double* rstd, double* pg, double* pb, long long rows, long long n) { layernorm_backward_partial_impl<double>(dy, x, mean, rstd, pg, pb, rows, n); }
extern "C" __global__ void layernorm_backward_params_f32(const float* pg, const float* pb, float* dgamma, float* dbeta, long long nblk, long long n) { layernorm_backward_params_impl<float>(pg, pb, dgamma, dbeta, nblk, n); }
extern "C" __global__ void layernorm_backward_params_f64(const double* pg, const double* pb, double* dgamma, double* dbeta, long long nblk, long long n) { layernorm_backward_params_impl<double>(pg, pb, dgamma, dbeta, nblk, n); }
