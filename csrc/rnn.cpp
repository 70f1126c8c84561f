// rnn.cpp — fused LSTM / GRU / SimpleRNN over a sequence (contract in rnn.h).
#include "rnn.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "activations.h"
#include "cpu.h"
#include "gemm.h"
#include "parallel.h"

namespace ember {

namespace {

// ---- GEMM and activations, by dtype ----
inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                 const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  dgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <typename T> void sigmoid_(T* y, const T* x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] = T(1) / (T(1) + std::exp(-x[j]));
}
template <typename T> void tanh_(T* y, const T* x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] = std::tanh(x[j]);
}
#if defined(EMBER_X86)
template <> void sigmoid_<float>(float* y, const float* x, int64_t n) {
  if (use_avx2()) return avx2::sigmoid_f32(y, x, n);
  for (int64_t j = 0; j < n; ++j) y[j] = 1.0f / (1.0f + std::exp(-x[j]));
}
template <> void tanh_<float>(float* y, const float* x, int64_t n) {
  if (use_avx2()) return avx2::tanh_f32(y, x, n);
  for (int64_t j = 0; j < n; ++j) y[j] = std::tanh(x[j]);
}
#endif

// y = act(x) over n values (y may be x). tanh / sigmoid are the routines above.
template <typename T> void activate(RnnAct a, T* y, const T* x, int64_t n) {
  switch (a) {
    case RnnAct::Tanh: return tanh_(y, x, n);
    case RnnAct::Sigmoid: return sigmoid_(y, x, n);
    case RnnAct::Relu:
      for (int64_t j = 0; j < n; ++j) y[j] = x[j] < T(0) ? T(0) : x[j];  // NaN stays NaN
      return;
    case RnnAct::Linear:
      if (y != x) std::copy_n(x, n, y);
      return;
    case RnnAct::HardSigmoid:  // Keras 3: relu6(x + 3) / 6
      for (int64_t j = 0; j < n; ++j) y[j] = std::min(std::max(x[j] + T(3), T(0)), T(6)) / T(6);
      return;
  }
}

// d = act'(x) from the activated value y = act(x), over n values (d may be y).
template <typename T> void deriv(RnnAct a, T* d, const T* y, int64_t n) {
  switch (a) {
    case RnnAct::Tanh:
      for (int64_t j = 0; j < n; ++j) d[j] = T(1) - y[j] * y[j];
      return;
    case RnnAct::Sigmoid:
      for (int64_t j = 0; j < n; ++j) d[j] = y[j] * (T(1) - y[j]);
      return;
    case RnnAct::Relu:
      for (int64_t j = 0; j < n; ++j) d[j] = T(y[j] > T(0));
      return;
    case RnnAct::Linear:
      std::fill(d, d + n, T(1));
      return;
    case RnnAct::HardSigmoid:
      for (int64_t j = 0; j < n; ++j) d[j] = y[j] > T(0) && y[j] < T(1) ? T(1) / T(6) : T(0);
      return;
  }
}

inline bool default_acts(const RnnShape& s) { return s.act == RnnAct::Tanh && s.ract == RnnAct::Sigmoid; }

template <typename T> std::vector<T>& work(int slot) {
  static thread_local std::vector<T> w[4];
  return w[slot];
}
template <typename T> T* grow(int slot, int64_t n) {
  auto& v = work<T>(slot);
  if (v.size() < size_t(n)) v.resize(size_t(n));
  return v.data();
}

template <typename F> void rows(int64_t B, int64_t work_per_row, F&& f) {
  parallel_for(B, B * work_per_row >= 8192 ? 2 : (int64_t(1) << 62), [&](int64_t a, int64_t e) {
    for (int64_t b = a; b < e; ++b) f(b);
  });
}

inline bool on(const RnnShape& s, int64_t b, int64_t t) { return !s.mask || s.mask[b * s.T + t]; }

template <typename T> const T* rmask(const RnnShape& s) { return static_cast<const T*>(s.rmask); }

// Step t's recurrent projection Z (B x G) = h_prev R, h_prev being h0 or the outputs of step
// t-1 (rows Tn*U apart in y); with a recurrent dropout mask, (h_prev * rmask) R, the masked
// state built into work slot `slot`.
template <typename T>
void recurrent_gemm(T* Z, const T* h0, const T* y, const T* R, int64_t t, int64_t G, int slot,
                    const RnnShape& s) {
  const int64_t B = s.B, U = s.U;
  const T* hp = t == 0 ? h0 : y + (t - 1) * U;
  int64_t ld = t == 0 ? U : s.T * U;
  if (const T* rm = rmask<T>(s)) {
    T* hd = grow<T>(slot, B * U);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < U; ++j) hd[b * U + j] = hp[b * ld + j] * rm[b * U + j];
    hp = hd;
    ld = U;
  }
  gemm(false, false, B, G, U, T(1), hp, ld, R, G, T(0), Z, G);
}

// d h_prev through the recurrent GEMM: tmp = dZ R^T, times rmask when there is one.
template <typename T> void set_dh(T* dh, const T* tmp, const T* rm, int64_t U) {
  if (rm)
    for (int64_t j = 0; j < U; ++j) dh[j] = tmp[j] * rm[j];
  else
    std::copy_n(tmp, U, dh);
}

// Column sums of a (rows x n) matrix into out (n): split over columns, fixed order.
template <typename T> void colsum(T* out, const T* a, int64_t nrows, int64_t n, int64_t lda) {
  parallel_for(n, nrows * n >= 65536 ? 2 : (int64_t(1) << 62), [&](int64_t c0, int64_t c1) {
    std::fill(out + c0, out + c1, T(0));
    for (int64_t r = 0; r < nrows; ++r)
      for (int64_t c = c0; c < c1; ++c) out[c] += a[r * lda + c];
  });
}

// The GEMMs at the end of every backward: dW = X^T dXZ, dR = Hprev^T dHZ, dx = dXZ W^T.
template <typename T>
void finish_backward(T* dx, T* dW, T* dR, const T* dXZ, const T* dHZ, int64_t G, const T* x, const T* W,
                     const T* h0, const T* y, const RnnShape& s) {
  const int64_t B = s.B, Tn = s.T, I = s.I, U = s.U, BT = B * Tn;
  if (BT == 0) {  // empty sequence batch: weight gradients are zero
    std::fill(dR, dR + U * G, T(0));
    std::fill(dW, dW + I * G, T(0));
    return;
  }
  T* Hp = grow<T>(3, BT * U);  // h_prev (times rmask) for every (b, t)
  const T* rm = rmask<T>(s);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < Tn; ++t) {
      const T* hp = t == 0 ? h0 + b * U : y + (b * Tn + t - 1) * U;
      T* out = Hp + (b * Tn + t) * U;
      if (rm)
        for (int64_t j = 0; j < U; ++j) out[j] = hp[j] * rm[b * U + j];
      else
        std::copy_n(hp, U, out);
    }
  gemm(true, false, U, G, BT, T(1), Hp, U, dHZ, G, T(0), dR, G);
  gemm(true, false, I, G, BT, T(1), x, I, dXZ, G, T(0), dW, G);
  gemm(false, true, BT, I, G, T(1), dXZ, G, W, G, T(0), dx, I);
}

}  // namespace

// ============================== LSTM ==============================

template <typename T>
void lstm_forward(T* y, T* cseq, T* gates, const T* x, const T* W, const T* R, const T* bias, const T* h0,
                  const T* c0, const RnnShape& s) {
  const int64_t B = s.B, Tn = s.T, I = s.I, U = s.U, G = 4 * U;
  gemm(false, false, B * Tn, G, I, T(1), x, I, W, G, T(0), gates, G);
  T* Z = grow<T>(0, B * G);
  for (int64_t t = 0; t < Tn; ++t) {
    recurrent_gemm(Z, h0, y, R, t, G, 1, s);
    rows(B, G, [&](int64_t b) {
      const int64_t bt = b * Tn + t;
      const T* cp = t == 0 ? c0 + b * U : cseq + (bt - 1) * U;
      const T* hpb = t == 0 ? h0 + b * U : y + (bt - 1) * U;
      T *g = gates + bt * G, *c = cseq + bt * U, *h = y + bt * U, *z = Z + b * G;
      if (!on(s, b, t)) {
        std::copy_n(cp, U, c);
        std::copy_n(hpb, U, h);
        std::fill(g, g + G, T(0));
        return;
      }
      for (int64_t j = 0; j < G; ++j) z[j] += g[j] + bias[j];
      activate(s.ract, g, z, 2 * U);
      activate(s.act, g + 2 * U, z + 2 * U, U);
      activate(s.ract, g + 3 * U, z + 3 * U, U);
      const T *gi = g, *gf = g + U, *gg = g + 2 * U, *go = g + 3 * U;
      for (int64_t j = 0; j < U; ++j) c[j] = gf[j] * cp[j] + gi[j] * gg[j];
      activate(s.act, h, c, U);
      for (int64_t j = 0; j < U; ++j) h[j] *= go[j];
    });
  }
}

template <typename T>
void lstm_backward(T* dx, T* dW, T* dR, T* dbias, T* dh0, T* dc0, const T* dy, const T* dhT, const T* dcT,
                   const T* x, const T* W, const T* R, const T* h0, const T* c0, const T* y, const T* cseq,
                   const T* gates, const RnnShape& s) {
  const int64_t B = s.B, Tn = s.T, U = s.U, G = 4 * U;
  const T* rm = rmask<T>(s);
  const bool fast = default_acts(s);
  T* dZ = grow<T>(0, B * Tn * G);
  T* tmp = grow<T>(1, B * U);
  T* tc = grow<T>(2, B * U);
  std::copy_n(dhT, B * U, dh0);  // dh0 / dc0 carry the running dh / dc
  std::copy_n(dcT, B * U, dc0);
  for (int64_t t = Tn - 1; t >= 0; --t) {
    rows(B, G, [&](int64_t b) {
      const int64_t bt = b * Tn + t;
      T *dh = dh0 + b * U, *dc = dc0 + b * U, *dz = dZ + bt * G;
      const T* dyb = dy + bt * U;
      for (int64_t j = 0; j < U; ++j) dh[j] += dyb[j];
      if (!on(s, b, t)) {
        std::fill(dz, dz + G, T(0));
        return;
      }
      const T* g = gates + bt * G;
      const T *gi = g, *gf = g + U, *gg = g + 2 * U, *go = g + 3 * U;
      const T* cp = t == 0 ? c0 + b * U : cseq + (bt - 1) * U;
      T* th = tc + b * U;
      activate(s.act, th, cseq + bt * U, U);
      if (fast) {
        for (int64_t j = 0; j < U; ++j) {
          const T dct = dc[j] + dh[j] * go[j] * (T(1) - th[j] * th[j]);
          dz[j] = dct * gg[j] * gi[j] * (T(1) - gi[j]);
          dz[U + j] = dct * cp[j] * gf[j] * (T(1) - gf[j]);
          dz[2 * U + j] = dct * gi[j] * (T(1) - gg[j] * gg[j]);
          dz[3 * U + j] = dh[j] * th[j] * go[j] * (T(1) - go[j]);
          dc[j] = dct * gf[j];
        }
        return;
      }
      // any activations: the gate derivatives go into dz first, act'(c) into th once used
      deriv(s.ract, dz, gi, 2 * U);  // i', f'
      deriv(s.act, dz + 2 * U, gg, U);
      deriv(s.ract, dz + 3 * U, go, U);
      for (int64_t j = 0; j < U; ++j) dz[3 * U + j] *= dh[j] * th[j];
      deriv(s.act, th, th, U);
      for (int64_t j = 0; j < U; ++j) {
        const T dct = dc[j] + dh[j] * go[j] * th[j];
        dz[j] *= dct * gg[j];
        dz[U + j] *= dct * cp[j];
        dz[2 * U + j] *= dct * gi[j];
        dc[j] = dct * gf[j];
      }
    });
    gemm(false, true, B, U, G, T(1), dZ + t * G, Tn * G, R, G, T(0), tmp, U);
    for (int64_t b = 0; b < B; ++b)
      if (on(s, b, t)) set_dh(dh0 + b * U, tmp + b * U, rm ? rm + b * U : nullptr, U);
  }
  colsum(dbias, dZ, B * Tn, G, G);
  finish_backward(dx, dW, dR, dZ, dZ, G, x, W, h0, y, s);
}

// ============================== GRU ==============================

template <typename T>
void gru_forward(T* y, T* gates, T* hrec, const T* x, const T* W, const T* R, const T* bias, const T* h0,
                 const RnnShape& s) {
  const int64_t B = s.B, Tn = s.T, I = s.I, U = s.U, G = 3 * U;
  const T *bi = bias, *br = bias + G;
  gemm(false, false, B * Tn, G, I, T(1), x, I, W, G, T(0), gates, G);
  T* Z = grow<T>(0, B * G);
  for (int64_t t = 0; t < Tn; ++t) {
    recurrent_gemm(Z, h0, y, R, t, G, 1, s);
    rows(B, G, [&](int64_t b) {
      const int64_t bt = b * Tn + t;
      const T* hpb = t == 0 ? h0 + b * U : y + (bt - 1) * U;
      T *g = gates + bt * G, *h = y + bt * U, *z = Z + b * G, *hr = hrec + bt * U;
      if (!on(s, b, t)) {
        std::copy_n(hpb, U, h);
        std::fill(g, g + G, T(0));
        std::fill(hr, hr + U, T(0));
        return;
      }
      for (int64_t j = 0; j < 2 * U; ++j) z[j] += g[j] + bi[j] + br[j];
      activate(s.ract, g, z, 2 * U);
      for (int64_t j = 0; j < U; ++j) {
        hr[j] = z[2 * U + j] + br[2 * U + j];
        z[2 * U + j] = g[2 * U + j] + bi[2 * U + j] + g[U + j] * hr[j];
      }
      activate(s.act, g + 2 * U, z + 2 * U, U);
      const T *gz = g, *hh = g + 2 * U;
      for (int64_t j = 0; j < U; ++j) h[j] = gz[j] * hpb[j] + (T(1) - gz[j]) * hh[j];
    });
  }
}

template <typename T>
void gru_backward(T* dx, T* dW, T* dR, T* dbias, T* dh0, const T* dy, const T* dhT, const T* x, const T* W,
                  const T* R, const T* h0, const T* y, const T* gates, const T* hrec, const RnnShape& s) {
  const int64_t B = s.B, Tn = s.T, U = s.U, G = 3 * U;
  const T* rm = rmask<T>(s);
  const bool fast = default_acts(s);
  T* dXZ = grow<T>(0, B * Tn * G);
  T* dHZ = grow<T>(1, B * Tn * G);
  T* tmp = grow<T>(2, B * U);
  std::copy_n(dhT, B * U, dh0);
  for (int64_t t = Tn - 1; t >= 0; --t) {
    rows(B, G, [&](int64_t b) {
      const int64_t bt = b * Tn + t;
      T *dh = dh0 + b * U, *dxz = dXZ + bt * G, *dhz = dHZ + bt * G;
      const T* dyb = dy + bt * U;
      for (int64_t j = 0; j < U; ++j) dh[j] += dyb[j];
      if (!on(s, b, t)) {
        std::fill(dxz, dxz + G, T(0));
        std::fill(dhz, dhz + G, T(0));
        return;
      }
      const T* g = gates + bt * G;
      const T *gz = g, *gr = g + U, *hh = g + 2 * U, *hr = hrec + bt * U;
      const T* hpb = t == 0 ? h0 + b * U : y + (bt - 1) * U;
      if (fast) {
        for (int64_t j = 0; j < U; ++j) {
          const T dz = dh[j] * (hpb[j] - hh[j]) * gz[j] * (T(1) - gz[j]);
          const T da = dh[j] * (T(1) - gz[j]) * (T(1) - hh[j] * hh[j]);
          const T dr = da * hr[j] * gr[j] * (T(1) - gr[j]);
          dxz[j] = dhz[j] = dz;
          dxz[U + j] = dhz[U + j] = dr;
          dxz[2 * U + j] = da;
          dhz[2 * U + j] = da * gr[j];
        }
        return;
      }
      // any activations: z', r', hh' go into dxz first
      deriv(s.ract, dxz, gz, 2 * U);
      deriv(s.act, dxz + 2 * U, hh, U);
      for (int64_t j = 0; j < U; ++j) {
        const T dz = dh[j] * (hpb[j] - hh[j]) * dxz[j];
        const T da = dh[j] * (T(1) - gz[j]) * dxz[2 * U + j];
        const T dr = da * hr[j] * dxz[U + j];
        dxz[j] = dhz[j] = dz;
        dxz[U + j] = dhz[U + j] = dr;
        dxz[2 * U + j] = da;
        dhz[2 * U + j] = da * gr[j];
      }
    });
    gemm(false, true, B, U, G, T(1), dHZ + t * G, Tn * G, R, G, T(0), tmp, U);
    for (int64_t b = 0; b < B; ++b) {
      if (!on(s, b, t)) continue;
      const T* gz = gates + (b * Tn + t) * G;
      T* dh = dh0 + b * U;
      if (rm)
        for (int64_t j = 0; j < U; ++j) dh[j] = dh[j] * gz[j] + tmp[b * U + j] * rm[b * U + j];
      else
        for (int64_t j = 0; j < U; ++j) dh[j] = dh[j] * gz[j] + tmp[b * U + j];
    }
  }
  colsum(dbias, dXZ, B * Tn, G, G);
  colsum(dbias + G, dHZ, B * Tn, G, G);
  finish_backward(dx, dW, dR, dXZ, dHZ, G, x, W, h0, y, s);
}

// ============================== SimpleRNN ==============================

template <typename T>
void simple_rnn_forward(T* y, const T* x, const T* W, const T* R, const T* bias, const T* h0, const RnnShape& s) {
  const int64_t B = s.B, Tn = s.T, I = s.I, U = s.U;
  T* XW = grow<T>(0, B * Tn * U);
  gemm(false, false, B * Tn, U, I, T(1), x, I, W, U, T(0), XW, U);
  T* Z = grow<T>(1, B * U);
  for (int64_t t = 0; t < Tn; ++t) {
    recurrent_gemm(Z, h0, y, R, t, U, 2, s);
    rows(B, U, [&](int64_t b) {
      const int64_t bt = b * Tn + t;
      T *h = y + bt * U, *z = Z + b * U;
      if (!on(s, b, t)) {
        std::copy_n(t == 0 ? h0 + b * U : y + (bt - 1) * U, U, h);
        return;
      }
      for (int64_t j = 0; j < U; ++j) z[j] += XW[bt * U + j] + bias[j];
      activate(s.act, h, z, U);
    });
  }
}

template <typename T>
void simple_rnn_backward(T* dx, T* dW, T* dR, T* dbias, T* dh0, const T* dy, const T* dhT, const T* x,
                         const T* W, const T* R, const T* h0, const T* y, const RnnShape& s) {
  const int64_t B = s.B, Tn = s.T, U = s.U;
  const T* rm = rmask<T>(s);
  T* dA = grow<T>(0, B * Tn * U);
  T* tmp = grow<T>(1, B * U);
  std::copy_n(dhT, B * U, dh0);
  for (int64_t t = Tn - 1; t >= 0; --t) {
    rows(B, U, [&](int64_t b) {
      const int64_t bt = b * Tn + t;
      T *dh = dh0 + b * U, *da = dA + bt * U;
      const T *h = y + bt * U, *dyb = dy + bt * U;
      for (int64_t j = 0; j < U; ++j) dh[j] += dyb[j];
      if (!on(s, b, t)) {
        std::fill(da, da + U, T(0));
        return;
      }
      deriv(s.act, da, h, U);
      for (int64_t j = 0; j < U; ++j) da[j] *= dh[j];
    });
    gemm(false, true, B, U, U, T(1), dA + t * U, Tn * U, R, U, T(0), tmp, U);
    for (int64_t b = 0; b < B; ++b)
      if (on(s, b, t)) set_dh(dh0 + b * U, tmp + b * U, rm ? rm + b * U : nullptr, U);
  }
  colsum(dbias, dA, B * Tn, U, U);
  finish_backward(dx, dW, dR, dA, dA, U, x, W, h0, y, s);
}

#define EMBER_RNN_INST(T)                                                                                      \
  template void lstm_forward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, const T*,         \
                                const RnnShape&);                                                              \
  template void lstm_backward<T>(T*, T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,      \
                                 const T*, const T*, const T*, const T*, const T*, const T*, const RnnShape&); \
  template void gru_forward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, const RnnShape&);  \
  template void gru_backward<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,           \
                                const T*, const T*, const T*, const T*, const RnnShape&);                      \
  template void simple_rnn_forward<T>(T*, const T*, const T*, const T*, const T*, const T*, const RnnShape&);   \
  template void simple_rnn_backward<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,    \
                                       const T*, const T*, const RnnShape&);
EMBER_RNN_INST(float)
EMBER_RNN_INST(double)
#undef EMBER_RNN_INST

}  // namespace ember
