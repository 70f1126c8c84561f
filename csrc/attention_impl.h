// attention_impl.h — the tiled attention algorithm, written once over a policy P that
// supplies the block primitives (portable in attention.cpp, AVX2 in attention_avx2.cpp,
// AVX-512 in attention_avx512.cpp). Everything here has internal linkage so the translation
// units never share code compiled for different instruction sets.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <new>
#include <vector>

#include "attention.h"
#include "parallel.h"

namespace ember {
namespace {

constexpr int64_t kBQ = 64, kBK = 64;

// An allocator with internal linkage, so that std::vector<T, LocalAlloc<T>> and its members
// (resize's _M_default_append above all) are local to each translation unit too. With
// std::allocator, std::vector<float>::_M_default_append is a weak symbol emitted by every
// file that grows a workspace (nm showed it in attention_avx2.cpp.o), and the linker keeps
// one copy for all of them: possibly one compiled for AVX2, which the portable path would
// then run on a CPU without AVX2.
template <typename T> struct LocalAlloc {
  using value_type = T;
  LocalAlloc() = default;
  template <typename U> LocalAlloc(const LocalAlloc<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p); }
  template <typename U> bool operator==(const LocalAlloc<U>&) const noexcept { return true; }
  template <typename U> bool operator!=(const LocalAlloc<U>&) const noexcept { return false; }
};

template <typename T> struct AttnWork {
  using Buf = std::vector<T, LocalAlloc<T>>;
  Buf kt, vt, s, dp, acc, m, l, dvec;
  void grow(Buf& x, size_t n) { if (x.size() < n) x.resize(n); }
};

template <typename T> AttnWork<T>& attn_work() {
  static thread_local AttnWork<T> w;
  return w;
}

// Set masked entries of a (nq x nk) block (rows i0.., keys j0..) to `fill`: a position is
// masked by the mask, never by its value.
template <typename T>
void apply_mask(T* S, int64_t ld, int64_t i0, int64_t nq, int64_t j0, int64_t nk, const uint8_t* mask,
                int64_t msq, int64_t msk, bool causal, T fill) {
  if (mask)
    for (int64_t r = 0; r < nq; ++r) {
      const uint8_t* mr = mask + (i0 + r) * msq + j0 * msk;
      T* row = S + r * ld;
      for (int64_t c = 0; c < nk; ++c)
        if (!mr[c * msk]) row[c] = fill;
    }
  if (causal && j0 + nk - 1 > i0)
    for (int64_t r = 0; r < nq; ++r) {
      T* row = S + r * ld;
      for (int64_t c = std::max<int64_t>(i0 + r - j0 + 1, 0); c < nk; ++c) row[c] = fill;
    }
}

// Transposes src (rows x cols, row stride ld) block by block: block b holds rows
// [b*kBK, b*kBK + kBK) as a (cols x kBK) matrix at dst + b*cols*kBK, so the block products
// read B with a short, cache-friendly row stride of kBK.
template <typename T>
void transpose_blocked(T* dst, const T* src, int64_t rows, int64_t cols, int64_t ld) {
  for (int64_t i0 = 0; i0 < rows; i0 += kBK) {
    T* blk = dst + (i0 / kBK) * cols * kBK;
    const int64_t ni = std::min(kBK, rows - i0);
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t i = 0; i < ni; ++i) blk[j * kBK + i] = src[(i0 + i) * ld + j];
  }
}

inline int64_t padded(int64_t t) { return (t + kBK - 1) / kBK * kBK; }

template <typename T> bool all_finite(const T* V, int64_t rows, int64_t cols, int64_t ld) {
  for (int64_t j = 0; j < rows; ++j)
    for (int64_t c = 0; c < cols; ++c)
      if (!std::isfinite(V[j * ld + c])) return false;
  return true;
}

// acc (nq x Dv) += P V over the attended keys only: a masked key's value never reaches the
// output (in the block product its P = 0 would meet V as 0 * inf or 0 * NaN = NaN). Used only
// for heads whose V holds NaN or inf.
template <typename T>
void pv_attended(T* acc, const T* S, const T* V, int64_t lv, int64_t i0, int64_t nq, int64_t j0, int64_t nk,
                 int64_t Dv, const uint8_t* mask, int64_t msq, int64_t msk, bool causal) {
  for (int64_t r = 0; r < nq; ++r)
    for (int64_t c = 0; c < nk; ++c) {
      const int64_t i = i0 + r, j = j0 + c;
      if ((causal && j > i) || (mask && !mask[i * msq + j * msk])) continue;
      const T p = S[r * kBK + c];
      for (int64_t d = 0; d < Dv; ++d) acc[r * Dv + d] += p * V[j * lv + d];
    }
}

// One block of the online softmax: each row of S (nq x nk, masked; scores times `scale`
// after scale_max) becomes exp(S - new max), its sum joins l, acc is rescaled to the new max.
// Always inlined: as a call, the AVX2 forward (B8 H8 T256 D64) ran 1.5-2x slower (GCC 12).
template <typename T, class P>
inline __attribute__((always_inline)) void online_rows(T* S, T* m, T* l, T* acc, int64_t nq, int64_t nk, int64_t Dv, T scale) {
  const T ninf = -std::numeric_limits<T>::infinity();
  for (int64_t r = 0; r < nq; ++r) {
    T* row = S + r * kBK;
    // scale_max ignores NaN (a NaN score reaches the row through exp(NaN - max)), and
    // std::max(m, mx) keeps a NaN m: a row that has seen a NaN score stays NaN.
    const T mx = P::scale_max(row, nk, scale);
    T mnew = std::max(m[r], mx);
    if (mnew == ninf) {  // only -inf and NaN: nothing attended yet, or a NaN score
      if (std::none_of(row, row + nk, [](T v) { return v != v; })) {
        std::fill(row, row + nk, T(0));
        continue;
      }
      mnew = std::numeric_limits<T>::quiet_NaN();
    }
    const T alpha = std::exp(m[r] - mnew);
    const T sum = P::exp_sum(row, nk, mnew);
    l[r] = l[r] * alpha + sum;
    if (alpha != T(1))
      for (int64_t c = 0; c < Dv; ++c) acc[r * Dv + c] *= alpha;
    m[r] = mnew;
  }
}

template <typename T, class P>
void attn_fwd_head(T* O, T* lse, const T* Q, const T* K, const T* V, const uint8_t* mask, int64_t msq,
                   int64_t msk, const AttnShape& s, T scale) {
  const int64_t Tq = s.Tq, Tk = s.Tk, D = s.D, Dv = s.Dv;
  const int64_t lq = s.qs[2], lk = s.ks[2], lv = s.vs[2], lo = s.os[2];
  AttnWork<T>& w = attn_work<T>();
  w.grow(w.kt, size_t(D * padded(Tk)));
  w.grow(w.s, size_t(kBQ * kBK));
  w.grow(w.acc, size_t(kBQ * Dv));
  w.grow(w.m, kBQ);
  w.grow(w.l, kBQ);
  T *Kt = w.kt.data(), *S = w.s.data(), *acc = w.acc.data(), *m = w.m.data(), *l = w.l.data();
  transpose_blocked(Kt, K, Tk, D, lk);
  const T ninf = -std::numeric_limits<T>::infinity();
  const bool v_finite = all_finite(V, Tk, Dv, lv);  // Tk x Dv reads: nothing beside the products
  for (int64_t i0 = 0; i0 < Tq; i0 += kBQ) {
    const int64_t nq = std::min(kBQ, Tq - i0);
    std::fill(m, m + nq, ninf);
    std::fill(l, l + nq, T(0));
    std::fill(acc, acc + nq * Dv, T(0));
    const int64_t kend = s.causal ? std::min(Tk, i0 + nq) : Tk;
    for (int64_t j0 = 0; j0 < kend; j0 += kBK) {
      const int64_t nk = std::min(kBK, kend - j0);
      P::mm_fwd(nq, nk, D, Q + i0 * lq, lq, 1, Kt + j0 * D, kBK, S, kBK, false);
      // -inf * scale is -inf only for scale > 0: otherwise scale first, then mask (one more
      // pass over the block, for scale <= 0 or NaN only).
      const bool early = scale > T(0);
      if (early) apply_mask(S, kBK, i0, nq, j0, nk, mask, msq, msk, s.causal, ninf);
      else {
        for (int64_t r = 0; r < nq; ++r) P::scale_max(S + r * kBK, nk, scale);
        apply_mask(S, kBK, i0, nq, j0, nk, mask, msq, msk, s.causal, ninf);
      }
      online_rows<T, P>(S, m, l, acc, nq, nk, Dv, early ? scale : T(1));
      if (v_finite) P::mm_fwd(nq, Dv, nk, S, kBK, 1, V + j0 * lv, lv, acc, Dv, true);
      else pv_attended(acc, S, V, lv, i0, nq, j0, nk, Dv, mask, msq, msk, s.causal);
    }
    for (int64_t r = 0; r < nq; ++r) {
      T* o = O + (i0 + r) * lo;
      if (l[r] != T(0)) {  // attended (l > 0), or NaN: out and lse NaN
        const T inv = T(1) / l[r];
        for (int64_t c = 0; c < Dv; ++c) o[c] = acc[r * Dv + c] * inv;
        lse[i0 + r] = m[r] + std::log(l[r]);
      } else {
        std::fill(o, o + Dv, T(0));
        lse[i0 + r] = std::numeric_limits<T>::infinity();
      }
    }
  }
}

template <typename T, class P>
void attn_bwd_head(T* dQ, T* dK, T* dV, const T* dO, const T* Q, const T* K, const T* V, const T* O,
                   const T* lse, const uint8_t* mask, int64_t msq, int64_t msk, const AttnShape& s, T scale) {
  const int64_t Tq = s.Tq, Tk = s.Tk, D = s.D, Dv = s.Dv;
  const int64_t lq = s.qs[2], lk = s.ks[2], lv = s.vs[2], lo = s.os[2];
  AttnWork<T>& w = attn_work<T>();
  w.grow(w.kt, size_t(D * padded(Tk)));
  w.grow(w.vt, size_t(Dv * padded(Tk)));
  w.grow(w.s, size_t(kBQ * kBK));
  w.grow(w.dp, size_t(kBQ * kBK));
  w.grow(w.dvec, size_t(Tq));
  T *Kt = w.kt.data(), *Vt = w.vt.data(), *S = w.s.data(), *dP = w.dp.data(), *Dd = w.dvec.data();
  transpose_blocked(Kt, K, Tk, D, lk);
  transpose_blocked(Vt, V, Tk, Dv, lv);
  for (int64_t i = 0; i < Tq; ++i) {
    T acc = 0;
    for (int64_t c = 0; c < Dv; ++c) acc += dO[i * lo + c] * O[i * lo + c];
    Dd[i] = acc;
    std::fill(dQ + i * lq, dQ + i * lq + D, T(0));
  }
  for (int64_t j = 0; j < Tk; ++j) {
    std::fill(dK + j * lk, dK + j * lk + D, T(0));
    std::fill(dV + j * lv, dV + j * lv + Dv, T(0));
  }
  for (int64_t j0 = 0; j0 < Tk; j0 += kBK) {
    const int64_t nk = std::min(kBK, Tk - j0);
    const int64_t istart = s.causal ? (j0 / kBQ) * kBQ : 0;
    for (int64_t i0 = istart; i0 < Tq; i0 += kBQ) {
      const int64_t nq = std::min(kBQ, Tq - i0);
      P::mm(nq, nk, D, Q + i0 * lq, lq, 1, Kt + j0 * D, kBK, S, kBK, false);
      for (int64_t r = 0; r < nq; ++r) P::scale_exp(S + r * kBK, nk, scale, lse[i0 + r]);
      apply_mask(S, kBK, i0, nq, j0, nk, mask, msq, msk, s.causal, T(0));  // P = 0 where masked
      P::mm(nk, Dv, nq, S, 1, kBK, dO + i0 * lo, lo, dV + j0 * lv, lv, true);       // dV += P^T dO
      P::mm(nq, nk, Dv, dO + i0 * lo, lo, 1, Vt + j0 * Dv, kBK, dP, kBK, false);          // dP = dO V^T
      for (int64_t r = 0; r < nq; ++r) {
        const T di = Dd[i0 + r];
        T *p = S + r * kBK, *d = dP + r * kBK;
        for (int64_t c = 0; c < nk; ++c) d[c] = p[c] * (d[c] - di) * scale;
      }
      P::mm(nq, D, nk, dP, kBK, 1, K + j0 * lk, lk, dQ + i0 * lq, lq, true);        // dQ += dS K
      P::mm(nk, D, nq, dP, 1, kBK, Q + i0 * lq, lq, dK + j0 * lk, lk, true);        // dK += dS^T Q
    }
  }
}

template <typename T, class P>
void attn_forward_all(T* out, T* lse, const T* q, const T* k, const T* v, const AttnShape& s, T scale) {
  const int64_t BH = s.B * s.H;
  parallel_for(BH, 2, [&](int64_t a, int64_t e) {
    for (int64_t bh = a; bh < e; ++bh) {
      const int64_t b = bh / s.H, h = bh % s.H;
      const uint8_t* mk = s.mask ? s.mask + b * s.ms[0] + h * s.ms[1] : nullptr;
      attn_fwd_head<T, P>(out + b * s.os[0] + h * s.os[1], lse + bh * s.Tq, q + b * s.qs[0] + h * s.qs[1],
                          k + b * s.ks[0] + h * s.ks[1], v + b * s.vs[0] + h * s.vs[1], mk, s.ms[2], s.ms[3], s,
                          scale);
    }
  });
}

template <typename T, class P>
void attn_backward_all(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* out,
                       const T* lse, const AttnShape& s, T scale) {
  const int64_t BH = s.B * s.H;
  parallel_for(BH, 2, [&](int64_t a, int64_t e) {
    for (int64_t bh = a; bh < e; ++bh) {
      const int64_t b = bh / s.H, h = bh % s.H;
      const uint8_t* mk = s.mask ? s.mask + b * s.ms[0] + h * s.ms[1] : nullptr;
      const int64_t oq = b * s.qs[0] + h * s.qs[1], ok = b * s.ks[0] + h * s.ks[1];
      const int64_t ov = b * s.vs[0] + h * s.vs[1], oo = b * s.os[0] + h * s.os[1];
      attn_bwd_head<T, P>(dq + oq, dk + ok, dv + ov, dout + oo, q + oq, k + ok, v + ov, out + oo, lse + bh * s.Tq,
                          mk, s.ms[2], s.ms[3], s, scale);
    }
  });
}

}  // namespace
}  // namespace ember
