// conv.cu — the gathers around the GEMMs of an NHWC conv2d (csrc/conv.h has the shapes):
//   conv_im2col     col (G, M, Kg)   <- x (N, H, W, C)      M = N*OH*OW, Kg = KH*KW*Cg, row (kh, kw, c)
//   conv_epilogue   y (M, OC)        <- t (G, M, OCg) + b, optional ReLU (t may be y when G == 1)
//   conv_grad_prep  gg (G, M, OCg)   <- dy (M, OC) masked by the ReLU's output y
//   conv_bias_grad  db (OC,)         <- column sums of gg, one thread per channel, rows in order
//   conv_col2im     dx (N, H, W, C)  <- dcol (G, M, Kg), each dx element gathering its
//                                       columns in a fixed order (no atomics)
// The GEMMs themselves run on cuBLAS (xp.matmul) in cuda/conv.py. Every kernel is a
// grid-stride loop writing each output element from one thread.
#include "common.cuh"

#define CONV_GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

template <typename T>
__device__ void conv_im2col_impl(T* col, const T* x, long long N, long long H, long long W, long long C,
                                 long long KH, long long KW, long long OH, long long OW, long long sh, long long sw,
                                 long long ph, long long pw, long long dh, long long dw, long long G) {
  const long long Cg = C / G, Kg = KH * KW * Cg, M = N * OH * OW;
  CONV_GRID_STRIDE(i, G * M * Kg) {
    const long long k = i % Kg, r = (i / Kg) % M, g = i / (Kg * M);
    const long long kh = k / (KW * Cg), kw = (k / Cg) % KW, c = k % Cg;
    const long long n = r / (OH * OW), q = r % (OH * OW), oh = q / OW, ow = q % OW;
    const long long ih = oh * sh - ph + kh * dh, iw = ow * sw - pw + kw * dw;
    const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
    col[i] = inside ? x[((n * H + ih) * W + iw) * C + g * Cg + c] : T(0);
  }
}

extern "C" __global__ void conv_im2col_f32(float* col, const float* x, long long N, long long H, long long W,
                                           long long C, long long KH, long long KW, long long OH, long long OW,
                                           long long sh, long long sw, long long ph, long long pw, long long dh,
                                           long long dw, long long G) {
  conv_im2col_impl<float>(col, x, N, H, W, C, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G);
}
extern "C" __global__ void conv_im2col_f64(double* col, const double* x, long long N, long long H, long long W,
                                           long long C, long long KH, long long KW, long long OH, long long OW,
                                           long long sh, long long sw, long long ph, long long pw, long long dh,
                                           long long dw, long long G) {
  conv_im2col_impl<double>(col, x, N, H, W, C, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G);
}

// y[r, oc] = act(t[g, r, o] + b[oc]) with oc = g * OCg + o; act 1 is a ReLU (NaN stays NaN).
template <typename T>
__device__ void conv_epilogue_impl(T* y, const T* t, const T* b, long long M, long long OC, long long G, int has_b,
                                   int act) {
  const long long OCg = OC / G;
  CONV_GRID_STRIDE(i, M * OC) {
    const long long r = i / OC, oc = i % OC, g = oc / OCg, o = oc % OCg;
    T v = t[(g * M + r) * OCg + o];
    if (has_b) v += b[oc];
    if (act == 1) v = v < T(0) ? T(0) : v;
    y[i] = v;
  }
}

extern "C" __global__ void conv_epilogue_f32(float* y, const float* t, const float* b, long long M, long long OC,
                                             long long G, int has_b, int act) {
  conv_epilogue_impl<float>(y, t, b, M, OC, G, has_b, act);
}
extern "C" __global__ void conv_epilogue_f64(double* y, const double* t, const double* b, long long M, long long OC,
                                             long long G, int has_b, int act) {
  conv_epilogue_impl<double>(y, t, b, M, OC, G, has_b, act);
}

// gg[g, r, o] = mask(dy[r, oc]): with act 1, (y <= 0) ? 0 : dy (a NaN y passes dy, as the
// CPU and PyTorch's threshold_backward); with act 0 a plain regrouping copy.
template <typename T>
__device__ void conv_grad_prep_impl(T* gg, const T* dy, const T* y, long long M, long long OC, long long G,
                                    int act) {
  const long long OCg = OC / G;
  CONV_GRID_STRIDE(i, M * OC) {
    const long long r = i / OC, oc = i % OC, g = oc / OCg, o = oc % OCg;
    T v = dy[i];
    if (act == 1) {
      const T yv = y[i];
      v = (yv > T(0) || yv != yv) ? v : T(0);
    }
    gg[(g * M + r) * OCg + o] = v;
  }
}

extern "C" __global__ void conv_grad_prep_f32(float* gg, const float* dy, const float* y, long long M, long long OC,
                                              long long G, int act) {
  conv_grad_prep_impl<float>(gg, dy, y, M, OC, G, act);
}
extern "C" __global__ void conv_grad_prep_f64(double* gg, const double* dy, const double* y, long long M,
                                              long long OC, long long G, int act) {
  conv_grad_prep_impl<double>(gg, dy, y, M, OC, G, act);
}

// db[oc] = sum over rows r (in order) of gg[g, r, o]: one thread per channel.
template <typename T>
__device__ void conv_bias_grad_impl(T* db, const T* gg, long long M, long long OC, long long G) {
  const long long OCg = OC / G;
  CONV_GRID_STRIDE(oc, OC) {
    const long long g = oc / OCg, o = oc % OCg;
    const T* p = gg + g * M * OCg + o;
    T acc = T(0);
    for (long long r = 0; r < M; ++r) acc += p[r * OCg];
    db[oc] = acc;
  }
}

extern "C" __global__ void conv_bias_grad_f32(float* db, const float* gg, long long M, long long OC, long long G) {
  conv_bias_grad_impl<float>(db, gg, M, OC, G);
}
extern "C" __global__ void conv_bias_grad_f64(double* db, const double* gg, long long M, long long OC, long long G) {
  conv_bias_grad_impl<double>(db, gg, M, OC, G);
}

// dx[n, ih, iw, c] = sum of dcol[g, (n, oh, ow), (kh, kw, c % Cg)] over the taps that read
// it: ih = oh * sh - ph + kh * dh (and likewise for w). Visited in increasing (oh, ow), the
// order in which the CPU's col2im adds them (kh and kw decreasing).
template <typename T>
__device__ void conv_col2im_impl(T* dx, const T* dcol, long long N, long long H, long long W, long long C,
                                 long long KH, long long KW, long long OH, long long OW, long long sh, long long sw,
                                 long long ph, long long pw, long long dh, long long dw, long long G) {
  const long long Cg = C / G, Kg = KH * KW * Cg, M = N * OH * OW;
  CONV_GRID_STRIDE(i, N * H * W * C) {
    const long long c = i % C, iw = (i / C) % W, ih = (i / (C * W)) % H, n = i / (C * W * H);
    const long long g = c / Cg, cc = c % Cg;
    const T* base = dcol + (g * M + n * OH * OW) * Kg + cc;
    T acc = T(0);
    for (long long kh = KH - 1; kh >= 0; --kh) {
      const long long th = ih + ph - kh * dh;
      if (th < 0 || th % sh != 0 || th / sh >= OH) continue;
      const long long oh = th / sh;
      for (long long kw = KW - 1; kw >= 0; --kw) {
        const long long tw = iw + pw - kw * dw;
        if (tw < 0 || tw % sw != 0 || tw / sw >= OW) continue;
        acc += base[(oh * OW + tw / sw) * Kg + (kh * KW + kw) * Cg];
      }
    }
    dx[i] = acc;
  }
}

extern "C" __global__ void conv_col2im_f32(float* dx, const float* dcol, long long N, long long H, long long W,
                                           long long C, long long KH, long long KW, long long OH, long long OW,
                                           long long sh, long long sw, long long ph, long long pw, long long dh,
                                           long long dw, long long G) {
  conv_col2im_impl<float>(dx, dcol, N, H, W, C, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G);
}
extern "C" __global__ void conv_col2im_f64(double* dx, const double* dcol, long long N, long long H, long long W,
                                           long long C, long long KH, long long KW, long long OH, long long OW,
                                           long long sh, long long sw, long long ph, long long pw, long long dh,
                                           long long dw, long long G) {
  conv_col2im_impl<double>(dx, dcol, N, H, W, C, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G);
}
