// batchnorm.cu — batch normalisation over the channel axis of x (M, C); the formulas are
// those of csrc/batchnorm.h (sums in double, Keras' momentum convention, an empty batch
// leaves the running statistics alone).
// One block per channel (blocks stride over channels). A channel's sums are split over
// BN_LANES fixed lanes (lane l adds rows l, l + BN_LANES, ... in order), then the lanes
// are added by a fixed shared-memory tree: the result does not depend on the block size.
#include "common.cuh"

#define BN_LANES 256

// lanes[k * BN_LANES + l], k < nsums: pairwise tree; afterwards lanes[k * BN_LANES] holds sum k.
// Called by every thread of the block, after the lanes are written and synchronised.
__device__ inline void bn_tree(double* lanes, int nsums) {
  for (int s = BN_LANES / 2; s > 0; s >>= 1) {
    for (int l = threadIdx.x; l < s; l += blockDim.x)
      for (int k = 0; k < nsums; ++k) lanes[k * BN_LANES + l] += lanes[k * BN_LANES + l + s];
    __syncthreads();
  }
}

template <typename T>
__device__ void batch_norm_train_impl(T* y, T* mean, T* invstd, T* running_mean, T* running_var, const T* x,
                                      const T* gamma, const T* beta, long long M, long long C, double eps,
                                      double momentum, int has_gamma, int has_beta, int has_rmean,
                                      int has_rvar) {
  __shared__ double lanes[BN_LANES];
  const double count = double(M > 0 ? M : 1);
  for (long long j = blockIdx.x; j < C; j += gridDim.x) {
    for (int l = threadIdx.x; l < BN_LANES; l += blockDim.x) {
      double acc = 0.0;
      for (long long r = l; r < M; r += BN_LANES) acc += double(x[r * C + j]);
      lanes[l] = acc;
    }
    __syncthreads();
    bn_tree(lanes, 1);
    const double mu = lanes[0] / count;
    __syncthreads();  // every thread has read the sum before the lanes are reused
    for (int l = threadIdx.x; l < BN_LANES; l += blockDim.x) {
      double acc = 0.0;
      for (long long r = l; r < M; r += BN_LANES) {
        const double dv = double(x[r * C + j]) - mu;
        acc += dv * dv;
      }
      lanes[l] = acc;
    }
    __syncthreads();
    bn_tree(lanes, 1);
    const double var = lanes[0] / count;
    const double inv = 1.0 / ember_sqrt(var + eps);
    if (threadIdx.x == 0) {
      mean[j] = T(mu);
      invstd[j] = T(inv);
      if (has_rmean && M > 0) running_mean[j] = T(momentum * double(running_mean[j]) + (1.0 - momentum) * mu);
      if (has_rvar && M > 0) running_var[j] = T(momentum * double(running_var[j]) + (1.0 - momentum) * var);
    }
    const double g = has_gamma ? double(gamma[j]) : 1.0;
    const T a = T(inv * g), b = T((has_beta ? double(beta[j]) : 0.0) - mu * inv * g);
    for (long long r = threadIdx.x; r < M; r += blockDim.x) y[r * C + j] = x[r * C + j] * a + b;
    __syncthreads();  // the lanes are free again for the next channel
  }
}

extern "C" __global__ void batch_norm_train_f32(float* y, float* mean, float* invstd, float* running_mean,
                                                float* running_var, const float* x, const float* gamma,
                                                const float* beta, long long M, long long C, double eps,
                                                double momentum, int has_gamma, int has_beta, int has_rmean,
                                                int has_rvar) {
  batch_norm_train_impl<float>(y, mean, invstd, running_mean, running_var, x, gamma, beta, M, C, eps, momentum,
                               has_gamma, has_beta, has_rmean, has_rvar);
}
extern "C" __global__ void batch_norm_train_f64(double* y, double* mean, double* invstd, double* running_mean,
                                                double* running_var, const double* x, const double* gamma,
                                                const double* beta, long long M, long long C, double eps,
                                                double momentum, int has_gamma, int has_beta, int has_rmean,
                                                int has_rvar) {
  batch_norm_train_impl<double>(y, mean, invstd, running_mean, running_var, x, gamma, beta, M, C, eps, momentum,
                                has_gamma, has_beta, has_rmean, has_rvar);
}

// y = x * a + b per channel with a = invstd * gamma, b = beta - mean * a from the running
// statistics (computed in double, applied in T as the CPU does); one element per thread.
template <typename T>
__device__ void batch_norm_infer_impl(T* y, const T* x, const T* gamma, const T* beta, const T* running_mean,
                                      const T* running_var, long long M, long long C, double eps, int has_gamma,
                                      int has_beta) {
  EMBER_GRID_STRIDE(i, M * C) {
    const long long j = i % C;
    const double inv = 1.0 / ember_sqrt(double(running_var[j]) + eps);
    const double g = has_gamma ? double(gamma[j]) : 1.0;
    const T a = T(inv * g), b = T((has_beta ? double(beta[j]) : 0.0) - double(running_mean[j]) * inv * g);
    y[i] = x[i] * a + b;
  }
}

extern "C" __global__ void batch_norm_infer_f32(float* y, const float* x, const float* gamma, const float* beta,
                                                const float* running_mean, const float* running_var, long long M,
                                                long long C, double eps, int has_gamma, int has_beta) {
  batch_norm_infer_impl<float>(y, x, gamma, beta, running_mean, running_var, M, C, eps, has_gamma, has_beta);
}
extern "C" __global__ void batch_norm_infer_f64(double* y, const double* x, const double* gamma, const double* beta,
                                                const double* running_mean, const double* running_var, long long M,
                                                long long C, double eps, int has_gamma, int has_beta) {
  batch_norm_infer_impl<double>(y, x, gamma, beta, running_mean, running_var, M, C, eps, has_gamma, has_beta);
}

// dbeta = sum dy, dgamma = sum dy * xhat (in double); dx = k1 dy + k2 x + k0 per channel
// (gamma invstd / M (M dy - dbeta - xhat dgamma) expanded), applied in T.
template <typename T>
__device__ void batch_norm_backward_impl(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                                         const T* mean, const T* invstd, long long M, long long C, int has_gamma,
                                         int need_dx) {
  __shared__ double lanes[2 * BN_LANES];
  const double invM = 1.0 / double(M > 0 ? M : 1);
  for (long long j = blockIdx.x; j < C; j += gridDim.x) {
    const double mu = double(mean[j]), is = double(invstd[j]);
    for (int l = threadIdx.x; l < BN_LANES; l += blockDim.x) {
      double s0 = 0.0, s1 = 0.0;
      for (long long r = l; r < M; r += BN_LANES) {
        const double g = double(dy[r * C + j]);
        s0 += g;
        s1 += g * (double(x[r * C + j]) - mu) * is;
      }
      lanes[l] = s0;
      lanes[BN_LANES + l] = s1;
    }
    __syncthreads();
    bn_tree(lanes, 2);
    const double sdy = lanes[0], sdyx = lanes[BN_LANES];
    if (threadIdx.x == 0) {
      dbeta[j] = T(sdy);
      dgamma[j] = T(sdyx);
    }
    if (need_dx) {
      const double a = (has_gamma ? double(gamma[j]) : 1.0) * is;  // coefficient of dy
      const double bx = -a * invM * sdyx * is;                       // coefficient of (x - mean)
      const T k1 = T(a), k2 = T(bx), k0 = T(-a * invM * sdy - bx * mu);
      for (long long r = threadIdx.x; r < M; r += blockDim.x)
        dx[r * C + j] = k1 * dy[r * C + j] + k2 * x[r * C + j] + k0;
    }
    __syncthreads();  // every thread has read the sums before the lanes are reused
  }
}

extern "C" __global__ void batch_norm_backward_f32(float* dx, float* dgamma, float* dbeta, const float* dy,
                                                   const float* x, const float* gamma, const float* mean,
                                                   const float* invstd, long long M, long long C, int has_gamma,
                                                   int need_dx) {
  batch_norm_backward_impl<float>(dx, dgamma, dbeta, dy, x, gamma, mean, invstd, M, C, has_gamma, need_dx);
}
extern "C" __global__ void batch_norm_backward_f64(double* dx, double* dgamma, double* dbeta, const double* dy,
                                                   const double* x, const double* gamma, const double* mean,
                                                   const double* invstd, long long M, long long C, int has_gamma,
                                                   int need_dx) {
  batch_norm_backward_impl<double>(dx, dgamma, dbeta, dy, x, gamma, mean, invstd, M, C, has_gamma, need_dx);
}
