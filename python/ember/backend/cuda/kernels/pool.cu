// pool.cu — NHWC max / average pooling forward and backward (semantics of csrc/pool.h).
//   window (oh, ow): rows oh*sh - ph .. + PH - 1, columns ow*sw - pw .. + PW - 1, clipped to x.
//   Max pooling keeps the first maximum's ih * W + iw (int32), or the window's last NaN;
//   an empty window gives y = 0 and idx = -1. Average pooling divides by the cells inside x
//   (or PH * PW with count_pad).
// The backwards are gathers: each dx element sums, in increasing (oh, ow), the windows
// that cover it (the order the CPU scatters in), so no two threads write one element.
#include "common.cuh"

#define POOL_GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// The first output row / column whose window covers input row ih: oh * s - p + P - 1 >= ih.
__device__ inline long long pool_first(long long ih, long long P, long long s, long long p) {
  const long long t = ih + p - P + 1;
  return t <= 0 ? 0 : (t + s - 1) / s;
}

// One past the last: oh * s - p <= ih.
__device__ inline long long pool_last(long long ih, long long s, long long p, long long O) {
  const long long l = (ih + p) / s + 1;
  return l < O ? l : O;
}

template <typename T>
__device__ void max_pool2d_impl(T* y, int* idx, const T* x, long long N, long long H, long long W, long long C,
                                long long PH, long long PW, long long OH, long long OW, long long sh, long long sw,
                                long long ph, long long pw) {
  POOL_GRID_STRIDE(i, N * OH * OW * C) {
    const long long c = i % C, ow = (i / C) % OW, oh = (i / (C * OW)) % OH, n = i / (C * OW * OH);
    const long long hs = oh * sh - ph, ws = ow * sw - pw;
    const long long h0 = hs < 0 ? 0 : hs, h1 = hs + PH < H ? hs + PH : H;
    const long long w0 = ws < 0 ? 0 : ws, w1 = ws + PW < W ? ws + PW : W;
    if (h0 >= h1 || w0 >= w1) {
      y[i] = T(0);
      idx[i] = -1;
      continue;
    }
    const T* xn = x + n * H * W * C + c;
    T best = xn[(h0 * W + w0) * C];
    int at = (int)(h0 * W + w0);
    for (long long ih = h0; ih < h1; ++ih)
      for (long long iw = (ih == h0 ? w0 + 1 : w0); iw < w1; ++iw) {
        const T v = xn[(ih * W + iw) * C];
        if (v > best || v != v) {  // a NaN wins (the last one), as in PyTorch
          best = v;
          at = (int)(ih * W + iw);
        }
      }
    y[i] = best;
    idx[i] = at;
  }
}

extern "C" __global__ void max_pool2d_f32(float* y, int* idx, const float* x, long long N, long long H, long long W,
                                          long long C, long long PH, long long PW, long long OH, long long OW,
                                          long long sh, long long sw, long long ph, long long pw) {
  max_pool2d_impl<float>(y, idx, x, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw);
}
extern "C" __global__ void max_pool2d_f64(double* y, int* idx, const double* x, long long N, long long H,
                                          long long W, long long C, long long PH, long long PW, long long OH,
                                          long long OW, long long sh, long long sw, long long ph, long long pw) {
  max_pool2d_impl<double>(y, idx, x, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw);
}

// dx[n, ih, iw, c] = sum of dy over the windows covering (ih, iw) whose argmax is that cell.
template <typename T>
__device__ void max_pool2d_backward_impl(T* dx, const T* dy, const int* idx, long long N, long long H, long long W,
                                         long long C, long long PH, long long PW, long long OH, long long OW,
                                         long long sh, long long sw, long long ph, long long pw) {
  POOL_GRID_STRIDE(i, N * H * W * C) {
    const long long c = i % C, iw = (i / C) % W, ih = (i / (C * W)) % H, n = i / (C * W * H);
    const int cell = (int)(ih * W + iw);
    const long long oh1 = pool_last(ih, sh, ph, OH), ow0 = pool_first(iw, PW, sw, pw), ow1 = pool_last(iw, sw, pw, OW);
    T acc = T(0);
    for (long long oh = pool_first(ih, PH, sh, ph); oh < oh1; ++oh)
      for (long long ow = ow0; ow < ow1; ++ow) {
        const long long o = ((n * OH + oh) * OW + ow) * C + c;
        if (idx[o] == cell) acc += dy[o];
      }
    dx[i] = acc;
  }
}

extern "C" __global__ void max_pool2d_backward_f32(float* dx, const float* dy, const int* idx, long long N,
                                                   long long H, long long W, long long C, long long PH, long long PW,
                                                   long long OH, long long OW, long long sh, long long sw,
                                                   long long ph, long long pw) {
  max_pool2d_backward_impl<float>(dx, dy, idx, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw);
}
extern "C" __global__ void max_pool2d_backward_f64(double* dx, const double* dy, const int* idx, long long N,
                                                   long long H, long long W, long long C, long long PH, long long PW,
                                                   long long OH, long long OW, long long sh, long long sw,
                                                   long long ph, long long pw) {
  max_pool2d_backward_impl<double>(dx, dy, idx, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw);
}

// The divisor of window (oh, ow): its cells inside x, or PH * PW with count_pad (0: empty).
__device__ inline long long pool_count(long long oh, long long ow, long long H, long long W, long long PH,
                                       long long PW, long long sh, long long sw, long long ph, long long pw,
                                       int count_pad) {
  if (count_pad) return PH * PW;
  const long long hs = oh * sh - ph, ws = ow * sw - pw;
  const long long h0 = hs < 0 ? 0 : hs, h1 = hs + PH < H ? hs + PH : H;
  const long long w0 = ws < 0 ? 0 : ws, w1 = ws + PW < W ? ws + PW : W;
  return (h1 > h0 ? h1 - h0 : 0) * (w1 > w0 ? w1 - w0 : 0);
}

template <typename T>
__device__ void avg_pool2d_impl(T* y, const T* x, long long N, long long H, long long W, long long C, long long PH,
                                long long PW, long long OH, long long OW, long long sh, long long sw, long long ph,
                                long long pw, int count_pad) {
  POOL_GRID_STRIDE(i, N * OH * OW * C) {
    const long long c = i % C, ow = (i / C) % OW, oh = (i / (C * OW)) % OH, n = i / (C * OW * OH);
    const long long hs = oh * sh - ph, ws = ow * sw - pw;
    const long long h0 = hs < 0 ? 0 : hs, h1 = hs + PH < H ? hs + PH : H;
    const long long w0 = ws < 0 ? 0 : ws, w1 = ws + PW < W ? ws + PW : W;
    const T* xn = x + n * H * W * C + c;
    T acc = T(0);
    for (long long ih = h0; ih < h1; ++ih)
      for (long long iw = w0; iw < w1; ++iw) acc += xn[(ih * W + iw) * C];
    const long long cnt = pool_count(oh, ow, H, W, PH, PW, sh, sw, ph, pw, count_pad);
    y[i] = acc * (cnt > 0 ? T(1) / T(cnt) : T(0));
  }
}

extern "C" __global__ void avg_pool2d_f32(float* y, const float* x, long long N, long long H, long long W,
                                          long long C, long long PH, long long PW, long long OH, long long OW,
                                          long long sh, long long sw, long long ph, long long pw, int count_pad) {
  avg_pool2d_impl<float>(y, x, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw, count_pad);
}
extern "C" __global__ void avg_pool2d_f64(double* y, const double* x, long long N, long long H, long long W,
                                          long long C, long long PH, long long PW, long long OH, long long OW,
                                          long long sh, long long sw, long long ph, long long pw, int count_pad) {
  avg_pool2d_impl<double>(y, x, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw, count_pad);
}

template <typename T>
__device__ void avg_pool2d_backward_impl(T* dx, const T* dy, long long N, long long H, long long W, long long C,
                                         long long PH, long long PW, long long OH, long long OW, long long sh,
                                         long long sw, long long ph, long long pw, int count_pad) {
  POOL_GRID_STRIDE(i, N * H * W * C) {
    const long long c = i % C, iw = (i / C) % W, ih = (i / (C * W)) % H, n = i / (C * W * H);
    const long long oh1 = pool_last(ih, sh, ph, OH), ow0 = pool_first(iw, PW, sw, pw), ow1 = pool_last(iw, sw, pw, OW);
    T acc = T(0);
    for (long long oh = pool_first(ih, PH, sh, ph); oh < oh1; ++oh)
      for (long long ow = ow0; ow < ow1; ++ow) {
        const long long cnt = pool_count(oh, ow, H, W, PH, PW, sh, sw, ph, pw, count_pad);
        if (cnt > 0) acc += dy[((n * OH + oh) * OW + ow) * C + c] * (T(1) / T(cnt));
      }
    dx[i] = acc;
  }
}

extern "C" __global__ void avg_pool2d_backward_f32(float* dx, const float* dy, long long N, long long H, long long W,
                                                   long long C, long long PH, long long PW, long long OH,
                                                   long long OW, long long sh, long long sw, long long ph,
                                                   long long pw, int count_pad) {
  avg_pool2d_backward_impl<float>(dx, dy, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw, count_pad);
}
extern "C" __global__ void avg_pool2d_backward_f64(double* dx, const double* dy, long long N, long long H,
                                                   long long W, long long C, long long PH, long long PW, long long OH,
                                                   long long OW, long long sh, long long sw, long long ph,
                                                   long long pw, int count_pad) {
  avg_pool2d_backward_impl<double>(dx, dy, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw, count_pad);
}
