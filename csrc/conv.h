// conv.h — 2-D convolution, channels_last (NHWC), through im2col / col2im and ember's GEMM.
//
//   x  : (N, H, W, C)                 input
//   w  : (KH, KW, C / G, OC)          Keras kernel layout == the (K, OC) GEMM matrix per group,
//                                     K = KH * KW * (C / G), row index (kh, kw, c)
//   b  : (OC,) or null                bias
//   y  : (N, OH, OW, OC)              output; the GEMM result (N*OH*OW, OC) IS this array
//
//   y[n, oh, ow, g*OCg + o] = b[.] + sum_{kh, kw, c} x[n, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw, g*Cg + c]
//                                                   * w[kh, kw, c, g*OCg + o]     (zero outside x)
//
// Only the top/left padding is passed: the bottom/right padding is implied by OH/OW.
// act == 1 fuses a ReLU into the forward; the backward then takes that forward's output y
// and masks dy with (y > 0) on the fly (the masked gradient is never materialised whole).
//
// Work is split into chunks of whole images (a fixed number, independent of the thread
// count); each chunk is processed by one thread in sub-chunks of at most ~1M im2col
// elements, so the im2col buffer (thread_local, grown once) stays bounded. The weight
// gradient is the sum of per-chunk partial sums reduced in chunk order: the result is
// bit-identical for any thread count.
#pragma once
#include <cstdint>

namespace ember {

struct ConvShape {
  int64_t N, H, W, C;   // input
  int64_t KH, KW, OC;   // kernel
  int64_t OH, OW;       // output
  int64_t sh, sw;       // strides
  int64_t ph, pw;       // top / left padding
  int64_t dh, dw;       // dilation
  int64_t G;            // groups (C % G == 0, OC % G == 0)
};

template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const ConvShape& s, int act);

// Any of dx, dw, db may be null (not wanted). y is the forward output when act == 1, else null.
template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* x, const T* w, const T* dy, const T* y,
                     const ConvShape& s, int act);

// Pieces of the two above for the fused conv + pool kernels (conv_pool.cpp), on output rows
// [r0, r1) (row r = (n * OH + oh) * OW + ow) kept in a caller's buffer (row r at + (r - r0) * OC):
//   forward_rows:  y = act(conv + b) of those rows.
//   backward_rows: from their (already masked) gradient g: dx += their share (dx zeroed by the
//     caller; a 1x1 stride-1 unpadded convolution overwrites its rows of dx), pw = (first) or
//     += their weight gradient (KH*KW*C/G, OC), pb += their bias gradient; any may be null.
template <typename T>
void conv2d_forward_rows(T* y, const T* x, const T* w, const T* b, const ConvShape& s, int64_t r0, int64_t r1,
                         int act);
template <typename T>
void conv2d_backward_rows(T* dx, T* pw, T* pb, const T* x, const T* w, const T* g, const ConvShape& s, int64_t r0,
                          int64_t r1, bool first);

// The direct seven-loop definition: the test oracle.
template <typename T>
void conv2d_forward_naive(T* y, const T* x, const T* w, const T* b, const ConvShape& s) {
  const int64_t Cg = s.C / s.G, OCg = s.OC / s.G;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow)
        for (int64_t oc = 0; oc < s.OC; ++oc) {
          const int64_t g = oc / OCg;
          T acc = b ? b[oc] : T(0);
          for (int64_t kh = 0; kh < s.KH; ++kh) {
            const int64_t ih = oh * s.sh - s.ph + kh * s.dh;
            if (ih < 0 || ih >= s.H) continue;
            for (int64_t kw = 0; kw < s.KW; ++kw) {
              const int64_t iw = ow * s.sw - s.pw + kw * s.dw;
              if (iw < 0 || iw >= s.W) continue;
              for (int64_t c = 0; c < Cg; ++c)
                acc += x[((n * s.H + ih) * s.W + iw) * s.C + g * Cg + c] *
                       w[((kh * s.KW + kw) * Cg + c) * s.OC + oc];
            }
          }
          y[((n * s.OH + oh) * s.OW + ow) * s.OC + oc] = acc;
        }
}

// AVX2 small-K kernels (conv_avx2.cpp), float only; see conv.cpp for the portable versions.
//   smallk_forward: C[m, :] = act(bias + sum_k A[m, k] * B[k, :])  for m < M, N outputs, ld = N
//   smallk_wgrad:   P[k, :] (+)= sum_m A[m, k] * G[m, :]           accumulate iff `accumulate`
void smallk_forward_avx2(float* C, const float* A, const float* B, const float* bias, int64_t M,
                         int64_t N, int64_t K, int act);
void smallk_wgrad_avx2(float* P, const float* A, const float* G, int64_t M, int64_t N, int64_t K,
                       bool accumulate);

// AVX2 direct kernels for one input channel and no padding (conv_avx2.cpp; no im2col):
// rows i < M of one image, whose top-left tap is xn[xoff[i]] and tap k at + toff[k]; N % 8 == 0.
//   c1_forward: Y[i, :] = act(bias + sum_k x(i, k) * W[k, :])
//   c1_wgrad:   g = Yf ? G * (Yf > 0) : G (into gbuf, M x N); pb[:] += sum_i g[i, :] if pb;
//               P[k, :] += sum_i x(i, k) * g[i, :] if P. Sums in a fixed order.
void c1_forward_avx2(float* Y, const float* xn, const int64_t* xoff, const int64_t* toff, const float* W,
                     const float* bias, int64_t M, int64_t N, int64_t K, int act);
void c1_wgrad_avx2(float* P, float* pb, float* gbuf, const float* xn, const int64_t* xoff, const int64_t* toff,
                   const float* G, const float* Yf, int64_t M, int64_t N, int64_t K);

}  // namespace ember
