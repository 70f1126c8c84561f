// attention.cpp — portable block primitives, the naive oracle and the run-time dispatch
// for scaled dot-product attention (algorithm in attention_impl.h, contract in attention.h).
#include "attention.h"

#include "attention_impl.h"
#include "cpu.h"

namespace ember {

namespace {

template <typename T> struct PortableOps {
  // C[M x N] (=|+=) A(m, k) * B[k * ldb + n], A element (m, k) at A[m * sam + k * sak].
  static void mm(int64_t M, int64_t N, int64_t K, const T* A, int64_t sam, int64_t sak, const T* B,
                 int64_t ldb, T* C, int64_t ldc, bool accumulate) {
    for (int64_t m = 0; m < M; ++m) {
      T* c = C + m * ldc;
      if (!accumulate) std::fill(c, c + N, T(0));
      for (int64_t k = 0; k < K; ++k) {
        const T a = A[m * sam + k * sak];
        const T* b = B + k * ldb;
        for (int64_t n = 0; n < N; ++n) c[n] += a * b[n];
      }
    }
  }
  static void mm_fwd(int64_t M, int64_t N, int64_t K, const T* A, int64_t sam, int64_t sak, const T* B,
                     int64_t ldb, T* C, int64_t ldc, bool accumulate) {
    mm(M, N, K, A, sam, sak, B, ldb, C, ldc, accumulate);
  }
  static T scale_max(T* row, int64_t n, T scale) {
    T mx = -std::numeric_limits<T>::infinity();
    for (int64_t c = 0; c < n; ++c) {
      row[c] *= scale;
      mx = row[c] > mx ? row[c] : mx;
    }
    return mx;
  }
  static T exp_sum(T* row, int64_t n, T shift) {
    T s = 0;
    for (int64_t c = 0; c < n; ++c) s += (row[c] = std::exp(row[c] - shift));
    return s;
  }
  static void scale_exp(T* row, int64_t n, T scale, T shift) {
    for (int64_t c = 0; c < n; ++c) row[c] = std::exp(row[c] * scale - shift);
  }
};

}  // namespace

template <typename T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, const AttnShape& s, T scale) {
  attn_forward_all<T, PortableOps<T>>(out, lse, q, k, v, s, scale);
}
template <>
void attention_forward<float>(float* out, float* lse, const float* q, const float* k, const float* v,
                              const AttnShape& s, float scale) {
#if defined(EMBER_X86)
  if (use_avx512()) return avx512::attention_forward_f32(out, lse, q, k, v, s, scale);
  if (use_avx2()) return avx2::attention_forward_f32(out, lse, q, k, v, s, scale);
#endif
  attn_forward_all<float, PortableOps<float>>(out, lse, q, k, v, s, scale);
}

template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* d_out, const T* q, const T* k, const T* v, const T* out,
                        const T* lse, const AttnShape& s, T scale) {
  attn_backward_all<T, PortableOps<T>>(dq, dk, dv, d_out, q, k, v, out, lse, s, scale);
}
template <>
void attention_backward<float>(float* dq, float* dk, float* dv, const float* d_out, const float* q,
                               const float* k, const float* v, const float* out, const float* lse,
                               const AttnShape& s, float scale) {
#if defined(EMBER_X86)
  if (use_avx512()) return avx512::attention_backward_f32(dq, dk, dv, d_out, q, k, v, out, lse, s, scale);
  if (use_avx2()) return avx2::attention_backward_f32(dq, dk, dv, d_out, q, k, v, out, lse, s, scale);
#endif
  attn_backward_all<float, PortableOps<float>>(dq, dk, dv, d_out, q, k, v, out, lse, s, scale);
}

template <typename T>
void attention_forward_naive(T* out, T* lse, const T* q, const T* k, const T* v, const AttnShape& s, T scale) {
  std::vector<T> sc(size_t(std::max<int64_t>(s.Tk, 1)));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h) {
      const int64_t bh = b * s.H + h;
      for (int64_t i = 0; i < s.Tq; ++i) {
        T mx = -std::numeric_limits<T>::infinity();
        bool any_nan = false;  // a NaN score is attended, not masked: the row becomes NaN
        for (int64_t j = 0; j < s.Tk; ++j) {
          bool ok = !(s.causal && j > i) &&
                    (!s.mask || s.mask[b * s.ms[0] + h * s.ms[1] + i * s.ms[2] + j * s.ms[3]]);
          T acc = 0;
          for (int64_t d = 0; d < s.D; ++d)
            acc += q[b * s.qs[0] + h * s.qs[1] + i * s.qs[2] + d] * k[b * s.ks[0] + h * s.ks[1] + j * s.ks[2] + d];
          sc[j] = ok ? acc * scale : -std::numeric_limits<T>::infinity();
          mx = std::max(mx, sc[j]);
          any_nan |= sc[j] != sc[j];
        }
        T* o = out + b * s.os[0] + h * s.os[1] + i * s.os[2];
        std::fill(o, o + s.Dv, T(0));
        if (mx == -std::numeric_limits<T>::infinity() && !any_nan) {
          lse[bh * s.Tq + i] = std::numeric_limits<T>::infinity();
          continue;
        }
        T sum = 0;
        for (int64_t j = 0; j < s.Tk; ++j) sum += (sc[j] = std::exp(sc[j] - mx));
        for (int64_t j = 0; j < s.Tk; ++j) {
          if ((s.causal && j > i) || (s.mask && !s.mask[b * s.ms[0] + h * s.ms[1] + i * s.ms[2] + j * s.ms[3]]))
            continue;  // a masked key's value never reaches the output, NaN or not
          for (int64_t d = 0; d < s.Dv; ++d) o[d] += sc[j] / sum * v[b * s.vs[0] + h * s.vs[1] + j * s.vs[2] + d];
        }
        lse[bh * s.Tq + i] = mx + std::log(sum);
      }
    }
}

template void attention_forward<double>(double*, double*, const double*, const double*, const double*,
                                        const AttnShape&, double);
template void attention_backward<double>(double*, double*, double*, const double*, const double*, const double*,
                                         const double*, const double*, const double*, const AttnShape&, double);
template void attention_forward_naive<float>(float*, float*, const float*, const float*, const float*,
                                             const AttnShape&, float);
template void attention_forward_naive<double>(double*, double*, const double*, const double*, const double*,
                                              const AttnShape&, double);

}  // namespace ember
