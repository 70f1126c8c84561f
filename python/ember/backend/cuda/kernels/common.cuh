// Helpers shared by ember's CUDA kernel families (kernels/<family>.cu include this first).
// Compiled three ways, so it includes no header at all:
//  * NVRTC at run time (no host headers: INFINITY, <cmath>, <limits> are unavailable),
//  * nvcc in the compile test (-Werror all-warnings),
//  * g++ in the CPU emulator, with emu/cuda_emu.h force-included and EMBER_CUDA_EMULATION set.
#pragma once

// ---- special values (bit patterns: no header has them under NVRTC) ---------------------------
template <typename T> __device__ __forceinline__ T ember_inf();
template <> __device__ __forceinline__ float ember_inf<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double ember_inf<double>() {
  return __longlong_as_double(0x7ff0000000000000LL);
}
// The quiet NaN NumPy produces (positive sign, payload 0).
template <typename T> __device__ __forceinline__ T ember_nan();
template <> __device__ __forceinline__ float ember_nan<float>() { return __int_as_float(0x7fc00000); }
template <> __device__ __forceinline__ double ember_nan<double>() {
  return __longlong_as_double(0x7ff8000000000000LL);
}
// Largest finite value (FLT_MAX / DBL_MAX).
template <typename T> __device__ __forceinline__ T ember_max_finite();
template <> __device__ __forceinline__ float ember_max_finite<float>() { return __int_as_float(0x7f7fffff); }
template <> __device__ __forceinline__ double ember_max_finite<double>() {
  return __longlong_as_double(0x7fefffffffffffffLL);
}

// ---- math: one name for float and double (expf vs exp chosen by overload) --------------------
#define EMBER_MATH1(name, f32, f64)                                                   \
  __device__ __forceinline__ float name(float x) { return f32(x); }                   \
  __device__ __forceinline__ double name(double x) { return f64(x); }
EMBER_MATH1(ember_exp, expf, exp)
EMBER_MATH1(ember_expm1, expm1f, expm1)
EMBER_MATH1(ember_log, logf, log)
EMBER_MATH1(ember_log1p, log1pf, log1p)
EMBER_MATH1(ember_tanh, tanhf, tanh)
EMBER_MATH1(ember_sqrt, sqrtf, sqrt)
EMBER_MATH1(ember_rsqrt, rsqrtf, rsqrt)
EMBER_MATH1(ember_abs, fabsf, fabs)
EMBER_MATH1(ember_erf, erff, erf)
EMBER_MATH1(ember_floor, floorf, floor)
EMBER_MATH1(ember_ceil, ceilf, ceil)
EMBER_MATH1(ember_sin, sinf, sin)
EMBER_MATH1(ember_cos, cosf, cos)
#undef EMBER_MATH1
__device__ __forceinline__ float ember_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double ember_pow(double x, double y) { return pow(x, y); }
// IEEE fmax/fmin: a NaN operand is ignored (fmax(NaN, 1) = 1). For "NaN in, NaN out"
// use ember_max / ember_min below.
__device__ __forceinline__ float ember_fmax(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double ember_fmax(double a, double b) { return fmax(a, b); }
__device__ __forceinline__ float ember_fmin(float a, float b) { return fminf(a, b); }
__device__ __forceinline__ double ember_fmin(double a, double b) { return fmin(a, b); }

template <typename T> __device__ __forceinline__ bool ember_isnan(T x) { return x != x; }
template <typename T> __device__ __forceinline__ bool ember_isinf(T x) {
  return x == ember_inf<T>() || x == -ember_inf<T>();
}
// NaN-propagating max/min (as np.maximum / np.minimum): a NaN in either operand is the result.
template <typename T> __device__ __forceinline__ T ember_max(T a, T b) {
  return (a != a || a > b) ? a : b;
}
template <typename T> __device__ __forceinline__ T ember_min(T a, T b) {
  return (a != a || a < b) ? a : b;
}

// ---- block reductions ---------------------------------------------------------------------------
// Sum of buf[0 .. LANES) (LANES a power of two) by the whole block, in a fixed pairwise tree, so
// the bits do not depend on the block size. Every thread of the block must call it, after
// writing its lanes; buf may be reused once it returns.
template <int LANES, typename T> __device__ T ember_block_tree_sum(T* buf) {
  __syncthreads();
  for (int s = LANES / 2; s > 0; s >>= 1) {
    for (int i = threadIdx.x; i < s; i += blockDim.x) buf[i] += buf[i + s];
    __syncthreads();
  }
  const T r = buf[0];
  __syncthreads();  // buf is reused by the next reduction
  return r;
}

// ---- launch-shape helpers ----------------------------------------------------------------------
// Grid-stride loop over [0, n): results do not depend on the grid or block size.
#define EMBER_GRID_STRIDE(i, n)                                                          \
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;     \
       i < (n); i += static_cast<long long>(blockDim.x) * gridDim.x)

// Dynamic shared memory (the launch's shared_mem bytes) viewed as T*. Kernels use this macro,
// never a raw `extern __shared__` (one declaration, one alignment, and the emulator can map it).
#ifdef EMBER_CUDA_EMULATION
#define EMBER_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(ember_emu::dynamic_shared())
#else
#define EMBER_DYNAMIC_SHARED(T, name)                                                    \
  extern __shared__ __align__(16) unsigned char ember_dynamic_shared_[];                \
  T* name = reinterpret_cast<T*>(ember_dynamic_shared_)
#endif
