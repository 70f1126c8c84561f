// attention.h — scaled dot-product attention, forward and backward, flash-attention style.
//
//   q    (B, H, Tq, D)      k (B, H, Tk, D)      v (B, H, Tk, Dv)      out (B, H, Tq, Dv)
//   each addressed through element strides (batch, head, time) in qs / ks / vs / os with a
//   unit stride over the feature axis: (B, H, T, D) contiguous, or the (B, T, H, D) layout
//   that a projection (B, T, H*D) reshapes to without a copy. dq / dk / dv use the layouts of
//   q / k / v, d_out that of out.  lse (B, H, Tq) contiguous: the per-row log-sum-exp of the
//   scaled, masked scores.
//   mask uint8 (nullptr = none): element (b, h, i, j) at mask[b*ms[0] + h*ms[1] + i*ms[2] + j*ms[3]]
//        (strides in elements, 0 for broadcast axes); nonzero = attend (PyTorch's bool mask).
//   causal: query i attends key j only when j <= i (top-left aligned, like PyTorch).
//
//   out[i] = sum_j softmax_j(scale * q[i].k[j] over attended j) v[j]
//
// Queries are processed in blocks of 64 against blocks of 64 keys with an online softmax
// (running row max and sum); the backward recomputes the probabilities block by block from
// the saved lse, so no Tq x Tk matrix is ever stored. A row with no attended key gives a
// zero output, lse = +inf and zero gradients. Masks act by position, after scaling (any
// scale): a NaN or +inf score of an attended key makes its row NaN (out and lse), and a
// masked key's value never reaches the forward output. Work is split over the B*H heads, one head per
// thread at a time, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace ember {

struct AttnShape {
  int64_t B, H, Tq, Tk, D, Dv;
  int64_t qs[3], ks[3], vs[3], os[3];  // (batch, head, time) strides in elements
  const uint8_t* mask;
  int64_t ms[4];
  bool causal;
};

template <typename T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, const AttnShape& s, T scale);

// dq, dk, dv are overwritten. d_out is the gradient of out.
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* d_out, const T* q, const T* k, const T* v,
                        const T* out, const T* lse, const AttnShape& s, T scale);

// The plain reference (materialises each row's scores): the test oracle.
template <typename T>
void attention_forward_naive(T* out, T* lse, const T* q, const T* k, const T* v, const AttnShape& s, T scale);

namespace avx2 {
void attention_forward_f32(float* out, float* lse, const float* q, const float* k, const float* v,
                           const AttnShape& s, float scale);
void attention_backward_f32(float* dq, float* dk, float* dv, const float* d_out, const float* q,
                            const float* k, const float* v, const float* out, const float* lse,
                            const AttnShape& s, float scale);
}  // namespace avx2

namespace avx512 {
void attention_forward_f32(float* out, float* lse, const float* q, const float* k, const float* v,
                           const AttnShape& s, float scale);
void attention_backward_f32(float* dq, float* dk, float* dv, const float* d_out, const float* q,
                            const float* k, const float* v, const float* out, const float* lse,
                            const AttnShape& s, float scale);
}  // namespace avx512

}  // namespace ember
