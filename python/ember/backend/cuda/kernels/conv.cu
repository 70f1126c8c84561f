// conv.cu — the gathers around the GEMMs of an NHWC conv2d (csrc/conv.h has the shapes):
//   conv_im2col     col (G, M, Kg)   <- x (N, H, W, C)      M = N*OH*OW, Kg = KH*KW*Cg, row (kh, kw, c)
//   conv_epilogue   y (M, OC)        <- t (G, M, OCg) + b, optional ReLU (t may be y when G == 1)
//   conv_grad_prep  gg (G, M, OCg)   <- dy (M, OC) masked by the ReLU's output y
//   conv_bias_grad_part  (M / chunk, OC) <- column sums of gg by fixed blocks of rows
//   conv_col2im     dx (N, H, W, C)  <- dcol (G, M, Kg), each dx element gathering its
//                                       columns in a fixed order (no atomics)
// The GEMMs themselves run on cuBLAS (xp.matmul) in cuda/conv.py. Every kernel is a
// grid-stride loop writing each output element from one thread.
#include "common.cuh"

// Index arithmetic (a dozen divisions per element) runs in 32-bit integers when the caller
// says every index of the launch fits (idx32: all arrays under 2^30 elements, so i plus the
// grid stride stays under 2^31): 64-bit division costs several times as much on the GPU.
#define CONV_LOOP(I, i, n) \
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < (n); i += I(blockDim.x) * I(gridDim.x))

// The convolution's sizes in the index type I.
template <typename I>
struct ConvGeom {
  I N, H, W, C, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G, Cg, Kg, M;
  __device__ ConvGeom(long long N_, long long H_, long long W_, long long C_, long long KH_, long long KW_,
                      long long OH_, long long OW_, long long sh_, long long sw_, long long ph_, long long pw_,
                      long long dh_, long long dw_, long long G_)
      : N(I(N_)), H(I(H_)), W(I(W_)), C(I(C_)), KH(I(KH_)), KW(I(KW_)), OH(I(OH_)), OW(I(OW_)), sh(I(sh_)),
        sw(I(sw_)), ph(I(ph_)), pw(I(pw_)), dh(I(dh_)), dw(I(dw_)), G(I(G_)), Cg(I(C_ / G_)),
        Kg(I(KH_ * KW_ * (C_ / G_))), M(I(N_ * OH_ * OW_)) {}
};

template <typename T, typename I>
__device__ void conv_im2col_body(T* col, const T* x, const ConvGeom<I>& s) {
  CONV_LOOP(I, i, s.G * s.M * s.Kg) {
    const I k = i % s.Kg, r = (i / s.Kg) % s.M, g = i / (s.Kg * s.M);
    const I kh = k / (s.KW * s.Cg), kw = (k / s.Cg) % s.KW, c = k % s.Cg;
    const I n = r / (s.OH * s.OW), q = r % (s.OH * s.OW), oh = q / s.OW, ow = q % s.OW;
    const I ih = oh * s.sh - s.ph + kh * s.dh, iw = ow * s.sw - s.pw + kw * s.dw;
    const bool inside = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W;
    col[i] = inside ? x[((n * s.H + ih) * s.W + iw) * s.C + g * s.Cg + c] : T(0);
  }
}

template <typename T>
__device__ void conv_im2col_impl(T* col, const T* x, long long N, long long H, long long W, long long C,
                                 long long KH, long long KW, long long OH, long long OW, long long sh, long long sw,
                                 long long ph, long long pw, long long dh, long long dw, long long G, int idx32) {
  if (idx32)
    conv_im2col_body<T, int>(col, x, ConvGeom<int>(N, H, W, C, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G));
  else
    conv_im2col_body<T, long long>(col, x,
                                   ConvGeom<long long>(N, H, W, C, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G));
}

extern "C" __global__ void conv_im2col_f32(float* col, const float* x, long long N, long long H, long long W,
                                           long long C, long long KH, long long KW, long long OH, long long OW,
                                           long long sh, long long sw, long long ph, long long pw, long long dh,
                                           long long dw, long long G, int idx32) {
  conv_im2col_impl<float>(col, x, N, H, W, C, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G, idx32);
}
extern "C" __global__ void conv_im2col_f64(double* col, const double* x, long long N, long long H, long long W,
                                           long long C, long long KH, long long KW, long long OH, long long OW,
                                           long long sh, long long sw, long long ph, long long pw, long long dh,
                                           long long dw, long long G, int idx32) {
  conv_im2col_impl<double>(col, x, N, H, W, C, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G, idx32);
}

// y[r, oc] = act(t[g, r, o] + b[oc]) with oc = g * OCg + o; act 1 is a ReLU (NaN stays NaN).
template <typename T>
__device__ void conv_epilogue_impl(T* y, const T* t, const T* b, long long M, long long OC, long long G, int has_b,
                                   int act) {
  const long long OCg = OC / G;
  EMBER_GRID_STRIDE(i, M * OC) {
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
  EMBER_GRID_STRIDE(i, M * OC) {
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

// part[k, oc] = sum over the rows r of block k (`chunk` rows, in order) of gg[g, r, o]; one
// thread per (block, channel). The blocks are then added in order by the elementwise
// family's chunk_column_sum: db depends on `chunk` only, never on the launch.
template <typename T>
__device__ void conv_bias_grad_part_impl(T* part, const T* gg, long long M, long long OC, long long G,
                                         long long chunk) {
  const long long OCg = OC / G, nch = (M + chunk - 1) / chunk;
  EMBER_GRID_STRIDE(i, nch * OC) {
    const long long k = i / OC, oc = i % OC, g = oc / OCg, o = oc % OCg;
    const long long r1 = (k + 1) * chunk < M ? (k + 1) * chunk : M;
    const T* p = gg + g * M * OCg + o;
    T acc = T(0);
    for (long long r = k * chunk; r < r1; ++r) acc += p[r * OCg];
    part[i] = acc;
  }
}

extern "C" __global__ void conv_bias_grad_part_f32(float* part, const float* gg, long long M, long long OC,
                                                   long long G, long long chunk) {
  conv_bias_grad_part_impl<float>(part, gg, M, OC, G, chunk);
}
extern "C" __global__ void conv_bias_grad_part_f64(double* part, const double* gg, long long M, long long OC,
                                                   long long G, long long chunk) {
  conv_bias_grad_part_impl<double>(part, gg, M, OC, G, chunk);
}

// dx[n, ih, iw, c] = sum of dcol[g, (n, oh, ow), (kh, kw, c % Cg)] over the taps that read
// it: ih = oh * sh - ph + kh * dh (and likewise for w). Visited in increasing (oh, ow), the
// order in which the CPU's col2im adds them (kh and kw decreasing).
template <typename T, typename I>
__device__ void conv_col2im_body(T* dx, const T* dcol, const ConvGeom<I>& s) {
  CONV_LOOP(I, i, s.N * s.H * s.W * s.C) {
    const I c = i % s.C, iw = (i / s.C) % s.W, ih = (i / (s.C * s.W)) % s.H, n = i / (s.C * s.W * s.H);
    const I g = c / s.Cg, cc = c % s.Cg;
    const T* base = dcol + (g * s.M + n * s.OH * s.OW) * s.Kg + cc;
    T acc = T(0);
    for (I kh = s.KH - 1; kh >= 0; --kh) {
      const I th = ih + s.ph - kh * s.dh;
      if (th < 0 || th % s.sh != 0 || th / s.sh >= s.OH) continue;
      const I oh = th / s.sh;
      for (I kw = s.KW - 1; kw >= 0; --kw) {
        const I tw = iw + s.pw - kw * s.dw;
        if (tw < 0 || tw % s.sw != 0 || tw / s.sw >= s.OW) continue;
        acc += base[(oh * s.OW + tw / s.sw) * s.Kg + (kh * s.KW + kw) * s.Cg];
      }
    }
    dx[i] = acc;
  }
}

template <typename T>
__device__ void conv_col2im_impl(T* dx, const T* dcol, long long N, long long H, long long W, long long C,
                                 long long KH, long long KW, long long OH, long long OW, long long sh, long long sw,
                                 long long ph, long long pw, long long dh, long long dw, long long G, int idx32) {
  if (idx32)
    conv_col2im_body<T, int>(dx, dcol, ConvGeom<int>(N, H, W, C, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G));
  else
    conv_col2im_body<T, long long>(dx, dcol,
                                   ConvGeom<long long>(N, H, W, C, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G));
}

extern "C" __global__ void conv_col2im_f32(float* dx, const float* dcol, long long N, long long H, long long W,
                                           long long C, long long KH, long long KW, long long OH, long long OW,
                                           long long sh, long long sw, long long ph, long long pw, long long dh,
                                           long long dw, long long G, int idx32) {
  conv_col2im_impl<float>(dx, dcol, N, H, W, C, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G, idx32);
}
extern "C" __global__ void conv_col2im_f64(double* dx, const double* dcol, long long N, long long H, long long W,
                                           long long C, long long KH, long long KW, long long OH, long long OW,
                                           long long sh, long long sw, long long ph, long long pw, long long dh,
                                           long long dw, long long G, int idx32) {
  conv_col2im_impl<double>(dx, dcol, N, H, W, C, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G, idx32);
}
