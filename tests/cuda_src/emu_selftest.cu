// Test-only kernels for tests/test_cuda_emu.py and tests/test_cuda_compile.py: the patterns
// ember's kernel families use (grid-stride elementwise, shared-memory tree reduction with
// __syncthreads, dynamic shared memory, 2-D blocks), written to the .cu conventions.
#include "common.cuh"

template <typename T>
__device__ void axpy_impl(long long n, T alpha, const T* x, T* y) {
  EMBER_GRID_STRIDE(i, n) { y[i] = alpha * x[i] + y[i]; }
}
extern "C" __global__ void axpy_f32(long long n, float alpha, const float* x, float* y) { axpy_impl<float>(n, alpha, x, y); }
extern "C" __global__ void axpy_f64(long long n, double alpha, const double* x, double* y) { axpy_impl<double>(n, alpha, x, y); }

// Row sums of a (rows, cols) matrix: one block per row (grid-stride over rows), each thread
// sums a strided slice in a fixed order, then a shared-memory tree halves the partial sums.
// The result depends on the block size (the summation order), never on the grid size.
template <typename T>
__device__ void row_sum_impl(const T* x, T* out, int rows, int cols) {
  __shared__ T partial[1024];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    T acc = T(0);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) acc += x[(long long)r * cols + c];
    partial[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
      __syncthreads();
    }
    if (threadIdx.x == 0) out[r] = partial[0];
    __syncthreads();
  }
}
extern "C" __global__ void row_sum_f32(const float* x, float* out, int rows, int cols) { row_sum_impl<float>(x, out, rows, cols); }
extern "C" __global__ void row_sum_f64(const double* x, double* out, int rows, int cols) { row_sum_impl<double>(x, out, rows, cols); }

// Row maxima with NaN propagation through dynamic shared memory (blockDim.x values).
template <typename T>
__device__ void row_max_impl(const T* x, T* out, int rows, int cols) {
  EMBER_DYNAMIC_SHARED(T, partial);
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    T m = -ember_inf<T>();
    for (int c = threadIdx.x; c < cols; c += blockDim.x) m = ember_max(m, x[(long long)r * cols + c]);
    partial[threadIdx.x] = m;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) partial[threadIdx.x] = ember_max(partial[threadIdx.x], partial[threadIdx.x + s]);
      __syncthreads();
    }
    if (threadIdx.x == 0) out[r] = partial[0];
    __syncthreads();
  }
}
extern "C" __global__ void row_max_f32(const float* x, float* out, int rows, int cols) { row_max_impl<float>(x, out, rows, cols); }
extern "C" __global__ void row_max_f64(const double* x, double* out, int rows, int cols) { row_max_impl<double>(x, out, rows, cols); }

// 2-D blocks and grids: out[i, j] = x[j, i] + i (transpose with an index term).
extern "C" __global__ void transpose_plus_row_f32(const float* x, float* out, int rows, int cols) {
  int i = blockIdx.y * blockDim.y + threadIdx.y;  // row of out
  int j = blockIdx.x * blockDim.x + threadIdx.x;  // column of out
  if (i < cols && j < rows) out[(long long)i * rows + j] = x[(long long)j * cols + i] + (float)i;
}

// Exp of x, with special values: exp(-inf) = 0, NaN stays NaN; writes ember_nan where x > limit.
extern "C" __global__ void exp_or_nan_f64(long long n, const double* x, double limit, double* out) {
  EMBER_GRID_STRIDE(i, n) { out[i] = x[i] > limit ? ember_nan<double>() : ember_exp(x[i]); }
}

// The bug CUDA leaves undefined: threads past the end return before a barrier the others reach.
extern "C" __global__ void divergent_barrier_f32(float* x, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  x[i] += 1.0f;
  __syncthreads();
}

// An off-by-one bound (i <= n) for the guard-zone test: thread n writes one past the end.
extern "C" __global__ void off_by_one_f32(float* x, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) x[i] = 1.0f;
}
