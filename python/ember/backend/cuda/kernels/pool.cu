// pool.cu — NHWC max / average pooling forward and backward (semantics of csrc/pool.h).
//   window (oh, ow): rows oh*sh - ph .. + PH - 1, columns ow*sw - pw .. + PW - 1, clipped to x.
//   Max pooling keeps the first maximum's ih * W + iw (int32), or the window's last NaN;
//   an empty window gives y = 0 and idx = -1. Average pooling divides by the cells inside x
//   (or PH * PW with count_pad).
// The backwards are gathers: each dx element sums, in increasing (oh, ow), the windows
// that cover it (the order the CPU scatters in), so no two threads write one element.
// Index arithmetic runs in 32-bit integers when the caller says every index fits (idx32:
// arrays under 2^30 elements); 64-bit division costs several times as much on the GPU.
#include "common.cuh"

#define POOL_LOOP(I, i, n) \
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < (n); i += I(blockDim.x) * I(gridDim.x))

// The pooling's sizes in the index type I.
template <typename I>
struct PoolGeom {
  I N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw;
  __device__ PoolGeom(long long N_, long long H_, long long W_, long long C_, long long PH_, long long PW_,
                      long long OH_, long long OW_, long long sh_, long long sw_, long long ph_, long long pw_)
      : N(I(N_)), H(I(H_)), W(I(W_)), C(I(C_)), PH(I(PH_)), PW(I(PW_)), OH(I(OH_)), OW(I(OW_)), sh(I(sh_)),
        sw(I(sw_)), ph(I(ph_)), pw(I(pw_)) {}
  // The window of output (oh, ow), clipped to x: rows [h0, h1), columns [w0, w1).
  __device__ void window(I oh, I ow, I& h0, I& h1, I& w0, I& w1) const {
    const I hs = oh * sh - ph, ws = ow * sw - pw;
    h0 = hs < 0 ? I(0) : hs;
    h1 = hs + PH < H ? hs + PH : H;
    w0 = ws < 0 ? I(0) : ws;
    w1 = ws + PW < W ? ws + PW : W;
  }
  // The outputs whose windows cover input row ih: [first, last) (likewise for columns).
  __device__ I first(I i, I P, I s, I p) const {
    const I t = i + p - P + 1;
    return t <= 0 ? I(0) : (t + s - 1) / s;
  }
  __device__ I last(I i, I s, I p, I O) const {
    const I l = (i + p) / s + 1;
    return l < O ? l : O;
  }
  // The divisor of window (oh, ow): its cells inside x, or PH * PW with count_pad (0: empty).
  __device__ I count(I oh, I ow, int count_pad) const {
    if (count_pad) return PH * PW;
    I h0, h1, w0, w1;
    window(oh, ow, h0, h1, w0, w1);
    return (h1 > h0 ? h1 - h0 : I(0)) * (w1 > w0 ? w1 - w0 : I(0));
  }
};

template <typename T, typename I>
__device__ void max_pool2d_body(T* y, int* idx, const T* x, const PoolGeom<I>& s) {
  POOL_LOOP(I, i, s.N * s.OH * s.OW * s.C) {
    const I c = i % s.C, ow = (i / s.C) % s.OW, oh = (i / (s.C * s.OW)) % s.OH, n = i / (s.C * s.OW * s.OH);
    I h0, h1, w0, w1;
    s.window(oh, ow, h0, h1, w0, w1);
    if (h0 >= h1 || w0 >= w1) {
      y[i] = T(0);
      idx[i] = -1;
      continue;
    }
    const T* xn = x + n * s.H * s.W * s.C + c;
    T best = xn[(h0 * s.W + w0) * s.C];
    int at = (int)(h0 * s.W + w0);
    for (I ih = h0; ih < h1; ++ih)
      for (I iw = (ih == h0 ? w0 + 1 : w0); iw < w1; ++iw) {
        const T v = xn[(ih * s.W + iw) * s.C];
        if (v > best || v != v) {  // a NaN wins (the last one), as in PyTorch
          best = v;
          at = (int)(ih * s.W + iw);
        }
      }
    y[i] = best;
    idx[i] = at;
  }
}

// dx[n, ih, iw, c] = sum of dy over the windows covering (ih, iw) whose argmax is that cell.
template <typename T, typename I>
__device__ void max_pool2d_backward_body(T* dx, const T* dy, const int* idx, const PoolGeom<I>& s) {
  POOL_LOOP(I, i, s.N * s.H * s.W * s.C) {
    const I c = i % s.C, iw = (i / s.C) % s.W, ih = (i / (s.C * s.W)) % s.H, n = i / (s.C * s.W * s.H);
    const int cell = (int)(ih * s.W + iw);
    const I oh1 = s.last(ih, s.sh, s.ph, s.OH), ow0 = s.first(iw, s.PW, s.sw, s.pw), ow1 = s.last(iw, s.sw, s.pw, s.OW);
    T acc = T(0);
    for (I oh = s.first(ih, s.PH, s.sh, s.ph); oh < oh1; ++oh)
      for (I ow = ow0; ow < ow1; ++ow) {
        const I o = ((n * s.OH + oh) * s.OW + ow) * s.C + c;
        if (idx[o] == cell) acc += dy[o];
      }
    dx[i] = acc;
  }
}

template <typename T, typename I>
__device__ void avg_pool2d_body(T* y, const T* x, const PoolGeom<I>& s, int count_pad) {
  POOL_LOOP(I, i, s.N * s.OH * s.OW * s.C) {
    const I c = i % s.C, ow = (i / s.C) % s.OW, oh = (i / (s.C * s.OW)) % s.OH, n = i / (s.C * s.OW * s.OH);
    I h0, h1, w0, w1;
    s.window(oh, ow, h0, h1, w0, w1);
    const T* xn = x + n * s.H * s.W * s.C + c;
    T acc = T(0);
    for (I ih = h0; ih < h1; ++ih)
      for (I iw = w0; iw < w1; ++iw) acc += xn[(ih * s.W + iw) * s.C];
    const I cnt = s.count(oh, ow, count_pad);
    y[i] = acc * (cnt > 0 ? T(1) / T(cnt) : T(0));
  }
}

template <typename T, typename I>
__device__ void avg_pool2d_backward_body(T* dx, const T* dy, const PoolGeom<I>& s, int count_pad) {
  POOL_LOOP(I, i, s.N * s.H * s.W * s.C) {
    const I c = i % s.C, iw = (i / s.C) % s.W, ih = (i / (s.C * s.W)) % s.H, n = i / (s.C * s.W * s.H);
    const I oh1 = s.last(ih, s.sh, s.ph, s.OH), ow0 = s.first(iw, s.PW, s.sw, s.pw), ow1 = s.last(iw, s.sw, s.pw, s.OW);
    T acc = T(0);
    for (I oh = s.first(ih, s.PH, s.sh, s.ph); oh < oh1; ++oh)
      for (I ow = ow0; ow < ow1; ++ow) {
        const I cnt = s.count(oh, ow, count_pad);
        if (cnt > 0) acc += dy[((n * s.OH + oh) * s.OW + ow) * s.C + c] * (T(1) / T(cnt));
      }
    dx[i] = acc;
  }
}

template <typename T>
__device__ void max_pool2d_impl(T* y, int* idx, const T* x, long long N, long long H, long long W, long long C,
                                long long PH, long long PW, long long OH, long long OW, long long sh, long long sw,
                                long long ph, long long pw, int idx32) {
  if (idx32)
    max_pool2d_body<T, int>(y, idx, x, PoolGeom<int>(N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw));
  else
    max_pool2d_body<T, long long>(y, idx, x, PoolGeom<long long>(N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw));
}

extern "C" __global__ void max_pool2d_f32(float* y, int* idx, const float* x, long long N, long long H, long long W,
                                          long long C, long long PH, long long PW, long long OH, long long OW,
                                          long long sh, long long sw, long long ph, long long pw, int idx32) {
  max_pool2d_impl<float>(y, idx, x, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw, idx32);
}

extern "C" __global__ void max_pool2d_f64(double* y, int* idx, const double* x, long long N, long long H,
                                          long long W, long long C, long long PH, long long PW, long long OH,
                                          long long OW, long long sh, long long sw, long long ph, long long pw,
                                          int idx32) {
  max_pool2d_impl<double>(y, idx, x, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw, idx32);
}

template <typename T>
__device__ void max_pool2d_backward_impl(T* dx, const T* dy, const int* idx, long long N, long long H, long long W,
                                         long long C, long long PH, long long PW, long long OH, long long OW,
                                         long long sh, long long sw, long long ph, long long pw, int idx32) {
  if (idx32)
    max_pool2d_backward_body<T, int>(dx, dy, idx, PoolGeom<int>(N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw));
  else
    max_pool2d_backward_body<T, long long>(dx, dy, idx,
                                           PoolGeom<long long>(N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw));
}

extern "C" __global__ void max_pool2d_backward_f32(float* dx, const float* dy, const int* idx, long long N,
                                                   long long H, long long W, long long C, long long PH, long long PW,
                                                   long long OH, long long OW, long long sh, long long sw,
                                                   long long ph, long long pw, int idx32) {
  max_pool2d_backward_impl<float>(dx, dy, idx, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw, idx32);
}

extern "C" __global__ void max_pool2d_backward_f64(double* dx, const double* dy, const int* idx, long long N,
                                                   long long H, long long W, long long C, long long PH, long long PW,
                                                   long long OH, long long OW, long long sh, long long sw,
                                                   long long ph, long long pw, int idx32) {
  max_pool2d_backward_impl<double>(dx, dy, idx, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw, idx32);
}

template <typename T>
__device__ void avg_pool2d_impl(T* y, const T* x, long long N, long long H, long long W, long long C, long long PH,
                                long long PW, long long OH, long long OW, long long sh, long long sw, long long ph,
                                long long pw, int count_pad, int idx32) {
  if (idx32)
    avg_pool2d_body<T, int>(y, x, PoolGeom<int>(N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw), count_pad);
  else
    avg_pool2d_body<T, long long>(y, x, PoolGeom<long long>(N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw), count_pad);
}

extern "C" __global__ void avg_pool2d_f32(float* y, const float* x, long long N, long long H, long long W,
                                          long long C, long long PH, long long PW, long long OH, long long OW,
                                          long long sh, long long sw, long long ph, long long pw, int count_pad,
                                          int idx32) {
  avg_pool2d_impl<float>(y, x, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw, count_pad, idx32);
}

extern "C" __global__ void avg_pool2d_f64(double* y, const double* x, long long N, long long H, long long W,
                                          long long C, long long PH, long long PW, long long OH, long long OW,
                                          long long sh, long long sw, long long ph, long long pw, int count_pad,
                                          int idx32) {
  avg_pool2d_impl<double>(y, x, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw, count_pad, idx32);
}

template <typename T>
__device__ void avg_pool2d_backward_impl(T* dx, const T* dy, long long N, long long H, long long W, long long C,
                                         long long PH, long long PW, long long OH, long long OW, long long sh,
                                         long long sw, long long ph, long long pw, int count_pad, int idx32) {
  if (idx32)
    avg_pool2d_backward_body<T, int>(dx, dy, PoolGeom<int>(N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw), count_pad);
  else
    avg_pool2d_backward_body<T, long long>(dx, dy,
                                           PoolGeom<long long>(N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw), count_pad);
}

extern "C" __global__ void avg_pool2d_backward_f32(float* dx, const float* dy, long long N, long long H, long long W,
                                                   long long C, long long PH, long long PW, long long OH,
                                                   long long OW, long long sh, long long sw, long long ph,
                                                   long long pw, int count_pad, int idx32) {
  avg_pool2d_backward_impl<float>(dx, dy, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw, count_pad, idx32);
}

extern "C" __global__ void avg_pool2d_backward_f64(double* dx, const double* dy, long long N, long long H,
                                                   long long W, long long C, long long PH, long long PW,
                                                   long long OH, long long OW, long long sh, long long sw,
                                                   long long ph, long long pw, int count_pad, int idx32) {
  avg_pool2d_backward_impl<double>(dx, dy, N, H, W, C, PH, PW, OH, OW, sh, sw, ph, pw, count_pad, idx32);
}
