// conv_avx2.cpp — register-blocked kernels for convolutions with a tiny reduction
// (K = KH*KW*Cin <= 32, e.g. the 3x3 one-channel MNIST layer, K = 9), where a packed GEMM
// would spend its time packing. Compiled with -mavx2 -mfma; reached only when use_avx2().
//
// smallk_forward: C (M, N) = act(bias + A (M, K) @ B (K, N)); 2 rows x up to 4 vectors of 8
//   outputs per step (8 accumulators), B rows re-read from L1, bias and ReLU fused.
// smallk_wgrad:   P (K, N) (+)= A^T (K, M) @ G (M, N); 3 taps x up to 4 vectors (12
//   accumulators) stay in registers over all M rows. Each P element is summed over m in
//   order 0..M-1 by one thread: deterministic.
// c1_forward / c1_wgrad: one input channel, no padding (the MNIST first layer): x is read
//   in place through row / tap offsets, no im2col. The forward is FMA-bound (3 rows x 4
//   vectors); the weight gradient masks dy with !(y <= 0) and sums db in one sweep into an
//   L1-sized buffer per block of rows, then 3 taps x 4 vectors per pass, prefetching the
//   next block of dy / y during the first pass (dy and y come from memory once).
#include "conv.h"

#if defined(EMBER_X86)
#include <immintrin.h>

namespace ember {

namespace {

// One k step of a register tile: row t of the accumulators c<t><v> += broadcast(*src) * g<v>
// for the NV vectors of g (used by the forward and the weight-gradient kernels below).
#define EMBER_ROW(t, src)                                  \
  {                                                        \
    const __m256 a = _mm256_broadcast_ss(src);             \
    c##t##0 = _mm256_fmadd_ps(a, g0, c##t##0);             \
    if (NV > 1) c##t##1 = _mm256_fmadd_ps(a, g1, c##t##1); \
    if (NV > 2) c##t##2 = _mm256_fmadd_ps(a, g2, c##t##2); \
    if (NV > 3) c##t##3 = _mm256_fmadd_ps(a, g3, c##t##3); \
  }

inline __m256i tail_mask(int64_t rem) {  // lanes < rem set
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(rem)), idx);
}

template <int NV, bool PART>
inline __m256 ld(const float* p, int v, __m256i m) {
  return (PART && v == NV - 1) ? _mm256_maskload_ps(p + 8 * v, m) : _mm256_loadu_ps(p + 8 * v);
}
template <int NV, bool PART>
inline void st(float* p, int v, __m256 x, __m256i m) {
  if (PART && v == NV - 1) _mm256_maskstore_ps(p + 8 * v, m, x);
  else _mm256_storeu_ps(p + 8 * v, x);
}

template <int NV, bool PART>
void fwd_cols(float* C, const float* A, const float* B, const float* bias, int64_t M, int64_t N,
              int64_t K, int act, __m256i m) {
  __m256 bv[NV];
  for (int v = 0; v < NV; ++v) bv[v] = bias ? ld<NV, PART>(bias, v, m) : _mm256_setzero_ps();
  // ReLU as max(zero, a): max_ps returns its second operand when either is NaN, so NaN
  // passes (as PyTorch's ReLU), at no cost
  const __m256 zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= M; i += 2) {
    __m256 a0[NV], a1[NV];
    for (int v = 0; v < NV; ++v) a0[v] = a1[v] = bv[v];
    const float* x0 = A + i * K;
    const float* x1 = x0 + K;
    for (int64_t k = 0; k < K; ++k) {
      const __m256 p0 = _mm256_broadcast_ss(x0 + k), p1 = _mm256_broadcast_ss(x1 + k);
      const float* bk = B + k * N;
      for (int v = 0; v < NV; ++v) {
        const __m256 wv = ld<NV, PART>(bk, v, m);
        a0[v] = _mm256_fmadd_ps(p0, wv, a0[v]);
        a1[v] = _mm256_fmadd_ps(p1, wv, a1[v]);
      }
    }
    for (int v = 0; v < NV; ++v) {
      if (act == 1) {
        a0[v] = _mm256_max_ps(zero, a0[v]);
        a1[v] = _mm256_max_ps(zero, a1[v]);
      }
      st<NV, PART>(C + i * N, v, a0[v], m);
      st<NV, PART>(C + (i + 1) * N, v, a1[v], m);
    }
  }
  if (i < M) {
    __m256 a0[NV];
    for (int v = 0; v < NV; ++v) a0[v] = bv[v];
    const float* x0 = A + i * K;
    for (int64_t k = 0; k < K; ++k) {
      const __m256 p0 = _mm256_broadcast_ss(x0 + k);
      for (int v = 0; v < NV; ++v) a0[v] = _mm256_fmadd_ps(p0, ld<NV, PART>(B + k * N, v, m), a0[v]);
    }
    for (int v = 0; v < NV; ++v) st<NV, PART>(C + i * N, v, act == 1 ? _mm256_max_ps(zero, a0[v]) : a0[v], m);
  }
}

template <int NV, int KB, bool PART>
void wgrad_cols(float* P, const float* A, const float* G, int64_t M, int64_t N, int64_t K,
                bool accumulate, __m256i m) {
  // Scalar accumulators (not an array): GCC otherwise stores the array back every row.
  const __m256 z = _mm256_setzero_ps();
  __m256 c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z, c20 = z, c21 = z, c22 = z, c23 = z;
  for (int64_t i = 0; i < M; ++i) {
    const float* gi = G + i * N;
    const float* ai = A + i * K;
    const __m256 g0 = ld<NV, PART>(gi, 0, m);
    const __m256 g1 = NV > 1 ? ld<NV, PART>(gi, 1, m) : z;
    const __m256 g2 = NV > 2 ? ld<NV, PART>(gi, 2, m) : z;
    const __m256 g3 = NV > 3 ? ld<NV, PART>(gi, 3, m) : z;
    EMBER_ROW(0, ai + 0)
    if (KB > 1) EMBER_ROW(1, ai + 1)
    if (KB > 2) EMBER_ROW(2, ai + 2)
  }
  const __m256 acc[3][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}};
  for (int t = 0; t < KB; ++t)
    for (int v = 0; v < NV; ++v) {
      float* p = P + t * N;
      __m256 r = acc[t][v];
      if (accumulate) r = _mm256_add_ps(r, ld<NV, PART>(p, v, m));
      st<NV, PART>(p, v, r, m);
    }
}

template <int NV, bool PART>
void wgrad_block(float* P, const float* A, const float* G, int64_t M, int64_t N, int64_t K,
                 bool accumulate, __m256i m) {
  int64_t k0 = 0;
  for (; k0 + 3 <= K; k0 += 3) wgrad_cols<NV, 3, PART>(P + k0 * N, A + k0, G, M, N, K, accumulate, m);
  if (K - k0 == 2) wgrad_cols<NV, 2, PART>(P + k0 * N, A + k0, G, M, N, K, accumulate, m);
  if (K - k0 == 1) wgrad_cols<NV, 1, PART>(P + k0 * N, A + k0, G, M, N, K, accumulate, m);
}

// Column blocks of 32 outputs; the last block may be narrower and end in a partial vector.
template <typename Full, typename Tail>
void by_columns(int64_t N, Full&& full, Tail&& tail) {
  int64_t j = 0;
  for (; j + 32 <= N; j += 32) full(j);
  if (j < N) tail(j, N - j);
}

}  // namespace

void smallk_forward_avx2(float* C, const float* A, const float* B, const float* bias, int64_t M,
                         int64_t N, int64_t K, int act) {
  const __m256i all = _mm256_set1_epi32(-1);
  by_columns(
      N, [&](int64_t j) { fwd_cols<4, false>(C + j, A, B + j, bias ? bias + j : nullptr, M, N, K, act, all); },
      [&](int64_t j, int64_t rem) {
        const float* bj = bias ? bias + j : nullptr;
        const __m256i m = (rem % 8) ? tail_mask(rem % 8) : all;
        const int nv = int((rem + 7) / 8);
        const bool part = rem % 8 != 0;
#define EMBER_FWD(NV) \
  (part ? fwd_cols<NV, true>(C + j, A, B + j, bj, M, N, K, act, m) : fwd_cols<NV, false>(C + j, A, B + j, bj, M, N, K, act, m))
        if (nv == 1) EMBER_FWD(1);
        else if (nv == 2) EMBER_FWD(2);
        else if (nv == 3) EMBER_FWD(3);
        else EMBER_FWD(4);
#undef EMBER_FWD
      });
}

void smallk_wgrad_avx2(float* P, const float* A, const float* G, int64_t M, int64_t N, int64_t K,
                       bool accumulate) {
  const __m256i all = _mm256_set1_epi32(-1);
  by_columns(
      N, [&](int64_t j) { wgrad_block<4, false>(P + j, A, G + j, M, N, K, accumulate, all); },
      [&](int64_t j, int64_t rem) {
        const __m256i m = (rem % 8) ? tail_mask(rem % 8) : all;
        const int nv = int((rem + 7) / 8);
        const bool part = rem % 8 != 0;
#define EMBER_WG(NV) \
  (part ? wgrad_block<NV, true>(P + j, A, G + j, M, N, K, accumulate, m) : wgrad_block<NV, false>(P + j, A, G + j, M, N, K, accumulate, m))
        if (nv == 1) EMBER_WG(1);
        else if (nv == 2) EMBER_WG(2);
        else if (nv == 3) EMBER_WG(3);
        else EMBER_WG(4);
#undef EMBER_WG
      });
}


// ---- one input channel, no padding: no im2col at all --------------------------------
// Rows i < M of one image: the top-left tap of row i is xn[xoff[i]], tap k adds toff[k].
// N % 8 == 0 (the caller checks); columns in blocks of up to 4 vectors.

namespace {

template <int NV>
void c1_fwd_cols(float* Y, const float* xn, const int64_t* xoff, const int64_t* toff, const float* W,
                 const float* bias, int64_t M, int64_t N, int64_t K, int act) {
  __m256 bv[NV];
  for (int v = 0; v < NV; ++v) bv[v] = bias ? _mm256_loadu_ps(bias + 8 * v) : _mm256_setzero_ps();
  // ReLU as max(zero, a): NaN passes (see fwd_cols)
  const __m256 zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 3 <= M; i += 3) {
    __m256 a0[NV], a1[NV], a2[NV];
    for (int v = 0; v < NV; ++v) a0[v] = a1[v] = a2[v] = bv[v];
    const float* x0 = xn + xoff[i];
    const float* x1 = xn + xoff[i + 1];
    const float* x2 = xn + xoff[i + 2];
    for (int64_t k = 0; k < K; ++k) {
      const int64_t t = toff[k];
      const __m256 p0 = _mm256_broadcast_ss(x0 + t), p1 = _mm256_broadcast_ss(x1 + t),
                   p2 = _mm256_broadcast_ss(x2 + t);
      const float* wk = W + k * N;
      for (int v = 0; v < NV; ++v) {
        const __m256 wv = _mm256_loadu_ps(wk + 8 * v);
        a0[v] = _mm256_fmadd_ps(p0, wv, a0[v]);
        a1[v] = _mm256_fmadd_ps(p1, wv, a1[v]);
        a2[v] = _mm256_fmadd_ps(p2, wv, a2[v]);
      }
    }
    float* y0 = Y + i * N;
    for (int v = 0; v < NV; ++v) {
      if (act == 1) {
        a0[v] = _mm256_max_ps(zero, a0[v]);
        a1[v] = _mm256_max_ps(zero, a1[v]);
        a2[v] = _mm256_max_ps(zero, a2[v]);
      }
      _mm256_storeu_ps(y0 + 8 * v, a0[v]);
      _mm256_storeu_ps(y0 + N + 8 * v, a1[v]);
      _mm256_storeu_ps(y0 + 2 * N + 8 * v, a2[v]);
    }
  }
  for (; i < M; ++i) {
    __m256 a0[NV];
    for (int v = 0; v < NV; ++v) a0[v] = bv[v];
    const float* x0 = xn + xoff[i];
    for (int64_t k = 0; k < K; ++k) {
      const __m256 p0 = _mm256_broadcast_ss(x0 + toff[k]);
      for (int v = 0; v < NV; ++v) a0[v] = _mm256_fmadd_ps(p0, _mm256_loadu_ps(W + k * N + 8 * v), a0[v]);
    }
    for (int v = 0; v < NV; ++v)
      _mm256_storeu_ps(Y + i * N + 8 * v, act == 1 ? _mm256_max_ps(zero, a0[v]) : a0[v]);
  }
}

// P[k0 + t, :NV*8] += sum_i x(i, k0 + t) * G[i, :], t < KB; 3 x 4 accumulators in registers.
template <int NV, int KB>
void c1_wgrad_cols(float* P, const float* xn, const int64_t* xoff, const int64_t* toff, const float* G,
                   int64_t M, int64_t N, const float* pf0, const float* pf1) {
  const __m256 z = _mm256_setzero_ps();
  __m256 c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z, c20 = z, c21 = z, c22 = z, c23 = z;
  const int64_t o0 = toff[0], o1 = KB > 1 ? toff[1] : 0, o2 = KB > 2 ? toff[2] : 0;
  for (int64_t i = 0; i < M; ++i) {
    const float* gi = G + i * N;
    const float* xi = xn + xoff[i];
    if (pf0)  // overlap the next block's dy / y fetch with this arithmetic (prefetch never faults)
      for (int64_t q = 0; q < N; q += 16) {
        _mm_prefetch(reinterpret_cast<const char*>(pf0 + i * N + q), _MM_HINT_T0);
        if (pf1) _mm_prefetch(reinterpret_cast<const char*>(pf1 + i * N + q), _MM_HINT_T0);
      }
    const __m256 g0 = _mm256_loadu_ps(gi);
    const __m256 g1 = NV > 1 ? _mm256_loadu_ps(gi + 8) : z;
    const __m256 g2 = NV > 2 ? _mm256_loadu_ps(gi + 16) : z;
    const __m256 g3 = NV > 3 ? _mm256_loadu_ps(gi + 24) : z;
    EMBER_ROW(0, xi + o0)
    if (KB > 1) EMBER_ROW(1, xi + o1)
    if (KB > 2) EMBER_ROW(2, xi + o2)
  }
  const __m256 acc[3][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}};
  for (int t = 0; t < KB; ++t)
    for (int v = 0; v < NV; ++v) {
      float* p = P + t * N + 8 * v;
      _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), acc[t][v]));
    }
}

template <int NV>
void c1_wgrad_block(float* P, const float* xn, const int64_t* xoff, const int64_t* toff, const float* G,
                    int64_t M, int64_t N, int64_t K, const float* pf0, const float* pf1) {
  int64_t k0 = 0;
  for (; k0 + 3 <= K; k0 += 3, pf0 = pf1 = nullptr)
    c1_wgrad_cols<NV, 3>(P + k0 * N, xn, xoff, toff + k0, G, M, N, pf0, pf1);
  if (K - k0 == 2) c1_wgrad_cols<NV, 2>(P + k0 * N, xn, xoff, toff + k0, G, M, N, pf0, pf1);
  if (K - k0 == 1) c1_wgrad_cols<NV, 1>(P + k0 * N, xn, xoff, toff + k0, G, M, N, pf0, pf1);
}

// gbuf[i, :] = Yf ? (Yf[i, :] <= 0 ? 0 : G[i, :]) : -, pb[:] += sum_i of that; rows in order
// (NLE_UQ: a NaN y keeps dy, as PyTorch's threshold_backward).
template <int NV>
void c1_mask_cols(float* gbuf, float* pb, const float* G, const float* Yf, int64_t M, int64_t N) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 s[NV];
  for (int v = 0; v < NV; ++v) s[v] = zero;
  for (int64_t i = 0; i < M; ++i)
    for (int v = 0; v < NV; ++v) {
      __m256 a = _mm256_loadu_ps(G + i * N + 8 * v);
      if (Yf) {
        a = _mm256_and_ps(a, _mm256_cmp_ps(_mm256_loadu_ps(Yf + i * N + 8 * v), zero, _CMP_NLE_UQ));
        _mm256_storeu_ps(gbuf + i * N + 8 * v, a);
      }
      s[v] = _mm256_add_ps(s[v], a);
    }
  if (pb)
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(pb + 8 * v, _mm256_add_ps(_mm256_loadu_ps(pb + 8 * v), s[v]));
}

template <typename F>
void by_vectors(int64_t N, F&& f) {  // N % 8 == 0: blocks of 4 vectors, then the rest
  int64_t j = 0;
  for (; j + 32 <= N; j += 32) f(j, 4);
  if (j < N) f(j, int((N - j) / 8));
}

}  // namespace

void c1_forward_avx2(float* Y, const float* xn, const int64_t* xoff, const int64_t* toff, const float* W,
                     const float* bias, int64_t M, int64_t N, int64_t K, int act) {
  by_vectors(N, [&](int64_t j, int nv) {
    const float* bj = bias ? bias + j : nullptr;
    if (nv == 4) c1_fwd_cols<4>(Y + j, xn, xoff, toff, W + j, bj, M, N, K, act);
    else if (nv == 3) c1_fwd_cols<3>(Y + j, xn, xoff, toff, W + j, bj, M, N, K, act);
    else if (nv == 2) c1_fwd_cols<2>(Y + j, xn, xoff, toff, W + j, bj, M, N, K, act);
    else c1_fwd_cols<1>(Y + j, xn, xoff, toff, W + j, bj, M, N, K, act);
  });
}

void c1_wgrad_avx2(float* P, float* pb, float* gbuf, const float* xn, const int64_t* xoff, const int64_t* toff,
                   const float* G, const float* Yf, int64_t M, int64_t N, int64_t K) {
  const float* g = G;
  if (Yf || pb) {
    // One pass over dy (and y): the masked gradient of these M rows into gbuf (L1-sized),
    // the bias gradient summed on the way.
    by_vectors(N, [&](int64_t j, int nv) {
      if (nv == 4) c1_mask_cols<4>(gbuf + j, pb ? pb + j : nullptr, G + j, Yf ? Yf + j : nullptr, M, N);
      else if (nv == 3) c1_mask_cols<3>(gbuf + j, pb ? pb + j : nullptr, G + j, Yf ? Yf + j : nullptr, M, N);
      else if (nv == 2) c1_mask_cols<2>(gbuf + j, pb ? pb + j : nullptr, G + j, Yf ? Yf + j : nullptr, M, N);
      else c1_mask_cols<1>(gbuf + j, pb ? pb + j : nullptr, G + j, Yf ? Yf + j : nullptr, M, N);
    });
    if (Yf) g = gbuf;
  }
  if (!P) return;
  // the next block of rows follows in dy and y: prefetch it during the first tap pass
  const float* pf0 = G + M * N;
  const float* pf1 = Yf ? Yf + M * N : nullptr;
  by_vectors(N, [&](int64_t j, int nv) {
    const float* p0 = j == 0 ? pf0 : nullptr;
    const float* p1 = j == 0 ? pf1 : nullptr;
    if (nv == 4) c1_wgrad_block<4>(P + j, xn, xoff, toff, g + j, M, N, K, p0, p1);
    else if (nv == 3) c1_wgrad_block<3>(P + j, xn, xoff, toff, g + j, M, N, K, p0, p1);
    else if (nv == 2) c1_wgrad_block<2>(P + j, xn, xoff, toff, g + j, M, N, K, p0, p1);
    else c1_wgrad_block<1>(P + j, xn, xoff, toff, g + j, M, N, K, p0, p1);
  });
}

}  // namespace ember

#else  // not x86: use_avx2() is always false, these are never reached

namespace ember {
void smallk_forward_avx2(float*, const float*, const float*, const float*, int64_t, int64_t, int64_t, int) {}
void smallk_wgrad_avx2(float*, const float*, const float*, int64_t, int64_t, int64_t, bool) {}
void c1_forward_avx2(float*, const float*, const int64_t*, const int64_t*, const float*, const float*, int64_t,
                     int64_t, int64_t, int) {}
void c1_wgrad_avx2(float*, float*, float*, const float*, const int64_t*, const int64_t*, const float*,
                   const float*, int64_t, int64_t, int64_t) {}
#undef EMBER_ROW

}  // namespace ember

#endif
