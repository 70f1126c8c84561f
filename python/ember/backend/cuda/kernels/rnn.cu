// rnn.cu — the fused elementwise parts of LSTM / GRU (reset_after) / SimpleRNN, one step
// per launch, as csrc/rnn.cpp (contract in csrc/rnn.h): the input projection of all steps and
// the recurrent product of each step are cuBLAS GEMMs on the Python side (cuda/rnn.py).
//
//   arrays (B, T, F) contiguous: element (b, t, c) at (b*T + t)*F + c; h0 / c0 / dh / dc (B, U).
//   mask int32 (B, T) (has_mask == 0: none): where 0 the step is skipped, the states carry.
//   act / ract codes: 0 tanh, 1 sigmoid, 2 relu, 3 linear, 4 hard_sigmoid (Keras 3: relu6(x + 3) / 6).
//   Gate derivatives come from the saved activated values (tanh 1 - y^2, sigmoid y (1 - y),
//   relu [y > 0], linear 1, hard_sigmoid 1/6 where 0 < y < 1).
// Each thread owns one (b, unit) pair (grid-stride), so no two threads write one element.
#include "common.cuh"

template <typename T> __device__ T rnn_act(int a, T x) {
  switch (a) {
    case 0: return ember_tanh(x);
    case 1: return T(1) / (T(1) + ember_exp(-x));
    case 2: return x < T(0) ? T(0) : x;  // NaN stays NaN
    case 4: {
      const T lo = x + T(3) < T(0) ? T(0) : x + T(3);  // std::max / std::min: NaN stays
      return (T(6) < lo ? T(6) : lo) / T(6);
    }
    default: return x;
  }
}

template <typename T> __device__ T rnn_deriv(int a, T y) {
  switch (a) {
    case 0: return T(1) - y * y;
    case 1: return y * (T(1) - y);
    case 2: return T(y > T(0));
    case 4: return y > T(0) && y < T(1) ? T(1) / T(6) : T(0);
    default: return T(1);
  }
}

__device__ __forceinline__ bool rnn_on(const int* mask, int has_mask, long long b, long long Tn, long long t) {
  return !has_mask || mask[b * Tn + t] != 0;
}

#define EMBER_RNN_LOOP(B, U)                                                                       \
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < (B) * (U);            \
       e += (long long)gridDim.x * blockDim.x)

// gates (B, T, 4U) holds x W on entry and the activated gates i, f, c, o on exit; Z (B, 4U) = h_prev R
template <typename T>
__device__ void lstm_fwd_step_impl(const T* Z, const T* bias, const T* h0, const T* c0, const int* mask, T* gates,
                                   T* cs, T* y, long long B, long long Tn, long long U, long long t, int has_mask,
                                   int act, int ract) {
  EMBER_RNN_LOOP(B, U) {
    const long long b = e / U, j = e - b * U, bt = b * Tn + t, G = 4 * U;
    const T cp = t == 0 ? c0[b * U + j] : cs[(bt - 1) * U + j];
    const T hp = t == 0 ? h0[b * U + j] : y[(bt - 1) * U + j];
    T* g = gates + bt * G;
    if (!rnn_on(mask, has_mask, b, Tn, t)) {
      cs[bt * U + j] = cp;
      y[bt * U + j] = hp;
      for (int k = 0; k < 4; ++k) g[k * U + j] = T(0);
      continue;
    }
    const T* z = Z + b * G;
    const T gi = rnn_act(ract, z[j] + (g[j] + bias[j]));
    const T gf = rnn_act(ract, z[U + j] + (g[U + j] + bias[U + j]));
    const T gg = rnn_act(act, z[2 * U + j] + (g[2 * U + j] + bias[2 * U + j]));
    const T go = rnn_act(ract, z[3 * U + j] + (g[3 * U + j] + bias[3 * U + j]));
    const T c = gf * cp + gi * gg;
    g[j] = gi;
    g[U + j] = gf;
    g[2 * U + j] = gg;
    g[3 * U + j] = go;
    cs[bt * U + j] = c;
    y[bt * U + j] = rnn_act(act, c) * go;
  }
}

// dh += dy[t]; on a live step dZ[t] (B, T, 4U) and dc from the saved gates, else dZ[t] = 0
template <typename T>
__device__ void lstm_bwd_step_impl(const T* dy, const T* gates, const T* cs, const T* c0, const int* mask, T* dh,
                                   T* dc, T* dz, long long B, long long Tn, long long U, long long t, int has_mask,
                                   int act, int ract) {
  EMBER_RNN_LOOP(B, U) {
    const long long b = e / U, j = e - b * U, bt = b * Tn + t, G = 4 * U;
    const T h = dh[e] + dy[bt * U + j];
    dh[e] = h;
    T* d = dz + bt * G;
    if (!rnn_on(mask, has_mask, b, Tn, t)) {
      for (int k = 0; k < 4; ++k) d[k * U + j] = T(0);
      continue;
    }
    const T* g = gates + bt * G;
    const T gi = g[j], gf = g[U + j], gg = g[2 * U + j], go = g[3 * U + j];
    const T cp = t == 0 ? c0[b * U + j] : cs[(bt - 1) * U + j];
    const T th = rnn_act(act, cs[bt * U + j]);
    const T dct = dc[e] + h * go * rnn_deriv(act, th);
    d[j] = rnn_deriv(ract, gi) * (dct * gg);
    d[U + j] = rnn_deriv(ract, gf) * (dct * cp);
    d[2 * U + j] = rnn_deriv(act, gg) * (dct * gi);
    d[3 * U + j] = rnn_deriv(ract, go) * (h * th);
    dc[e] = dct * gf;
  }
}

// gates (B, T, 3U) holds x W on entry, the activated z, r, hh on exit; hrec = h_prev R_h + b_rh
template <typename T>
__device__ void gru_fwd_step_impl(const T* Z, const T* bias, const T* h0, const int* mask, T* gates, T* hrec, T* y,
                                  long long B, long long Tn, long long U, long long t, int has_mask, int act,
                                  int ract) {
  EMBER_RNN_LOOP(B, U) {
    const long long b = e / U, j = e - b * U, bt = b * Tn + t, G = 3 * U;
    const T *bi = bias, *br = bias + G;
    const T hp = t == 0 ? h0[b * U + j] : y[(bt - 1) * U + j];
    T* g = gates + bt * G;
    if (!rnn_on(mask, has_mask, b, Tn, t)) {
      y[bt * U + j] = hp;
      for (int k = 0; k < 3; ++k) g[k * U + j] = T(0);
      hrec[bt * U + j] = T(0);
      continue;
    }
    const T* z = Z + b * G;
    const T gz = rnn_act(ract, z[j] + (g[j] + bi[j] + br[j]));
    const T gr = rnn_act(ract, z[U + j] + (g[U + j] + bi[U + j] + br[U + j]));
    const T hr = z[2 * U + j] + br[2 * U + j];
    const T hh = rnn_act(act, g[2 * U + j] + bi[2 * U + j] + gr * hr);
    g[j] = gz;
    g[U + j] = gr;
    g[2 * U + j] = hh;
    hrec[bt * U + j] = hr;
    y[bt * U + j] = gz * hp + (T(1) - gz) * hh;
  }
}

// dh += dy[t]; on a live step the input-side (dxz) and recurrent-side (dhz) gate gradients
template <typename T>
__device__ void gru_bwd_step_impl(const T* dy, const T* gates, const T* hrec, const T* h0, const T* y,
                                  const int* mask, T* dh, T* dxz, T* dhz, long long B, long long Tn, long long U,
                                  long long t, int has_mask, int act, int ract) {
  EMBER_RNN_LOOP(B, U) {
    const long long b = e / U, j = e - b * U, bt = b * Tn + t, G = 3 * U;
    const T h = dh[e] + dy[bt * U + j];
    dh[e] = h;
    T *dx = dxz + bt * G, *dr = dhz + bt * G;
    if (!rnn_on(mask, has_mask, b, Tn, t)) {
      for (int k = 0; k < 3; ++k) dx[k * U + j] = dr[k * U + j] = T(0);
      continue;
    }
    const T* g = gates + bt * G;
    const T gz = g[j], gr = g[U + j], hh = g[2 * U + j], hr = hrec[bt * U + j];
    const T hp = t == 0 ? h0[b * U + j] : y[(bt - 1) * U + j];
    const T dz = h * (hp - hh) * rnn_deriv(ract, gz);
    const T da = h * (T(1) - gz) * rnn_deriv(act, hh);
    const T drr = da * hr * rnn_deriv(ract, gr);
    dx[j] = dr[j] = dz;
    dx[U + j] = dr[U + j] = drr;
    dx[2 * U + j] = da;
    dr[2 * U + j] = da * gr;
  }
}

template <typename T>
__device__ void srnn_fwd_step_impl(const T* Z, const T* xw, const T* bias, const T* h0, const int* mask, T* y,
                                   long long B, long long Tn, long long U, long long t, int has_mask, int act) {
  EMBER_RNN_LOOP(B, U) {
    const long long b = e / U, j = e - b * U, bt = b * Tn + t;
    if (!rnn_on(mask, has_mask, b, Tn, t)) y[bt * U + j] = t == 0 ? h0[e] : y[(bt - 1) * U + j];
    else y[bt * U + j] = rnn_act(act, Z[e] + (xw[bt * U + j] + bias[j]));
  }
}

template <typename T>
__device__ void srnn_bwd_step_impl(const T* dy, const T* y, const int* mask, T* dh, T* da, long long B, long long Tn,
                                   long long U, long long t, int has_mask, int act) {
  EMBER_RNN_LOOP(B, U) {
    const long long b = e / U, j = e - b * U, bt = b * Tn + t;
    const T h = dh[e] + dy[bt * U + j];
    dh[e] = h;
    da[bt * U + j] = rnn_on(mask, has_mask, b, Tn, t) ? rnn_deriv(act, y[bt * U + j]) * h : T(0);
  }
}

// After the step's GEMM tmp = dZ[t] R^T (B, U), on live steps: dh = tmp (* rmask), or for the
// GRU dh = dh * z + tmp (* rmask) (z from gates (B, T, 3U)).
template <typename T>
__device__ void set_dh_impl(const T* tmp, const T* rmask, const T* gates, const int* mask, T* dh, long long B,
                            long long Tn, long long U, long long t, int has_mask, int has_rmask, int gru) {
  EMBER_RNN_LOOP(B, U) {
    const long long b = e / U, j = e - b * U;
    if (!rnn_on(mask, has_mask, b, Tn, t)) continue;
    const T r = has_rmask ? tmp[e] * rmask[e] : tmp[e];
    dh[e] = gru ? dh[e] * gates[(b * Tn + t) * 3 * U + j] + r : r;
  }
}

// Column sums of a (rows, n) array in two deterministic passes: partial sums over fixed blocks
// of EMBER_RNN_RB rows (one thread per (block, column), rows in order), then one thread per
// column adds the blocks in order. The block size is a constant: same bits for any launch.
#define EMBER_RNN_RB 32

template <typename T> __device__ void colsum_partial_impl(const T* a, T* part, long long rows, long long n) {
  const long long nblk = (rows + EMBER_RNN_RB - 1) / EMBER_RNN_RB;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < nblk * n;
       e += (long long)gridDim.x * blockDim.x) {
    const long long blk = e / n, c = e - blk * n;
    const long long r1 = (blk + 1) * EMBER_RNN_RB < rows ? (blk + 1) * EMBER_RNN_RB : rows;
    T s = T(0);
    for (long long r = blk * EMBER_RNN_RB; r < r1; ++r) s += a[r * n + c];
    part[e] = s;
  }
}

template <typename T> __device__ void colsum_impl(const T* part, T* out, long long nblk, long long n) {
  for (long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x; c < n; c += (long long)gridDim.x * blockDim.x) {
    T s = T(0);
    for (long long k = 0; k < nblk; ++k) s += part[k * n + c];
    out[c] = s;
  }
}

extern "C" __global__ void lstm_fwd_step_f32(const float* Z, const float* bias, const float* h0, const float* c0, const int* mask, float* gates, float* cs, float* y, long long B, long long Tn, long long U, long long t, int has_mask, int act, int ract) { lstm_fwd_step_impl<float>(Z, bias, h0, c0, mask, gates, cs, y, B, Tn, U, t, has_mask, act, ract); }
extern "C" __global__ void lstm_fwd_step_f64(const double* Z, const double* bias, const double* h0, const double* c0, const int* mask, double* gates, double* cs, double* y, long long B, long long Tn, long long U, long long t, int has_mask, int act, int ract) { lstm_fwd_step_impl<double>(Z, bias, h0, c0, mask, gates, cs, y, B, Tn, U, t, has_mask, act, ract); }
extern "C" __global__ void lstm_bwd_step_f32(const float* dy, const float* gates, const float* cs, const float* c0, const int* mask, float* dh, float* dc, float* dz, long long B, long long Tn, long long U, long long t, int has_mask, int act, int ract) { lstm_bwd_step_impl<float>(dy, gates, cs, c0, mask, dh, dc, dz, B, Tn, U, t, has_mask, act, ract); }
extern "C" __global__ void lstm_bwd_step_f64(const double* dy, const double* gates, const double* cs, const double* c0, const int* mask, double* dh, double* dc, double* dz, long long B, long long Tn, long long U, long long t, int has_mask, int act, int ract) { lstm_bwd_step_impl<double>(dy, gates, cs, c0, mask, dh, dc, dz, B, Tn, U, t, has_mask, act, ract); }
extern "C" __global__ void gru_fwd_step_f32(const float* Z, const float* bias, const float* h0, const int* mask, float* gates, float* hrec, float* y, long long B, long long Tn, long long U, long long t, int has_mask, int act, int ract) { gru_fwd_step_impl<float>(Z, bias, h0, mask, gates, hrec, y, B, Tn, U, t, has_mask, act, ract); }
extern "C" __global__ void gru_fwd_step_f64(const double* Z, const double* bias, const double* h0, const int* mask, double* gates, double* hrec, double* y, long long B, long long Tn, long long U, long long t, int has_mask, int act, int ract) { gru_fwd_step_impl<double>(Z, bias, h0, mask, gates, hrec, y, B, Tn, U, t, has_mask, act, ract); }
extern "C" __global__ void gru_bwd_step_f32(const float* dy, const float* gates, const float* hrec, const float* h0, const float* y, const int* mask, float* dh, float* dxz, float* dhz, long long B, long long Tn, long long U, long long t, int has_mask, int act, int ract) { gru_bwd_step_impl<float>(dy, gates, hrec, h0, y, mask, dh, dxz, dhz, B, Tn, U, t, has_mask, act, ract); }
extern "C" __global__ void gru_bwd_step_f64(const double* dy, const double* gates, const double* hrec, const double* h0, const double* y, const int* mask, double* dh, double* dxz, double* dhz, long long B, long long Tn, long long U, long long t, int has_mask, int act, int ract) { gru_bwd_step_impl<double>(dy, gates, hrec, h0, y, mask, dh, dxz, dhz, B, Tn, U, t, has_mask, act, ract); }
extern "C" __global__ void srnn_fwd_step_f32(const float* Z, const float* xw, const float* bias, const float* h0, const int* mask, float* y, long long B, long long Tn, long long U, long long t, int has_mask, int act) { srnn_fwd_step_impl<float>(Z, xw, bias, h0, mask, y, B, Tn, U, t, has_mask, act); }
extern "C" __global__ void srnn_fwd_step_f64(const double* Z, const double* xw, const double* bias, const double* h0, const int* mask, double* y, long long B, long long Tn, long long U, long long t, int has_mask, int act) { srnn_fwd_step_impl<double>(Z, xw, bias, h0, mask, y, B, Tn, U, t, has_mask, act); }
extern "C" __global__ void srnn_bwd_step_f32(const float* dy, const float* y, const int* mask, float* dh, float* da, long long B, long long Tn, long long U, long long t, int has_mask, int act) { srnn_bwd_step_impl<float>(dy, y, mask, dh, da, B, Tn, U, t, has_mask, act); }
extern "C" __global__ void srnn_bwd_step_f64(const double* dy, const double* y, const int* mask, double* dh, double* da, long long B, long long Tn, long long U, long long t, int has_mask, int act) { srnn_bwd_step_impl<double>(dy, y, mask, dh, da, B, Tn, U, t, has_mask, act); }
extern "C" __global__ void rnn_set_dh_f32(const float* tmp, const float* rmask, const float* gates, const int* mask, float* dh, long long B, long long Tn, long long U, long long t, int has_mask, int has_rmask, int gru) { set_dh_impl<float>(tmp, rmask, gates, mask, dh, B, Tn, U, t, has_mask, has_rmask, gru); }
extern "C" __global__ void rnn_set_dh_f64(const double* tmp, const double* rmask, const double* gates, const int* mask, double* dh, long long B, long long Tn, long long U, long long t, int has_mask, int has_rmask, int gru) { set_dh_impl<double>(tmp, rmask, gates, mask, dh, B, Tn, U, t, has_mask, has_rmask, gru); }
extern "C" __global__ void rnn_colsum_partial_f32(const float* a, float* part, long long rows, long long n) { colsum_partial_impl<float>(a, part, rows, n); }
extern "C" __global__ void rnn_colsum_partial_f64(const double* a, double* part, long long rows, long long n) { colsum_partial_impl<double>(a, part, rows, n); }
extern "C" __global__ void rnn_colsum_f32(const float* part, float* out, long long nblk, long long n) { colsum_impl<float>(part, out, nblk, n); }
extern "C" __global__ void rnn_colsum_f64(const double* part, double* out, long long nblk, long long n) { colsum_impl<double>(part, out, nblk, n); }
