// attention.cu — scaled dot-product attention, forward (online softmax) and backward, with
// the rules of csrc/attention.h:
//   q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv), out (B, H, Tq, Dv) for bthd == 0, or
//   the (B, T, H, D) layout for bthd == 1; all C-contiguous. lse (B, H, Tq) contiguous.
//   mask: int32, element (b, h, i, j) at mask[b*ms0 + h*ms1 + i*ms2 + j*ms3] (0 strides
//   broadcast), nonzero = attend; has_mask == 0: no mask. causal: key j attends query i when
//   j <= i. A position is masked by position after scaling (any scale, <= 0 and NaN too); a
//   masked key's value never reaches the output; a NaN score of an attended key makes its row
//   NaN; a row with no attended key gives out 0, lse +inf and zero gradients.
//
// Forward: one thread per query row, blocks of blockDim queries share tiles of kt keys /
// values in shared memory, where each thread also keeps its query row and output
// accumulator; the running max / sum are rescaled once per tile (kt and the block size are
// chosen by the caller from the head sizes only; a tile of keys all masked for a row leaves
// it bit for bit unchanged, so neither the launch nor the causal tile skipping changes the
// result). Backward (no atomics): dq by one thread per query row over key tiles, dk / dv by
// one thread per key row over query tiles, each summed in order, the rows and accumulators
// in shared memory as in the forward.
#include "common.cuh"

// (batch, head, time) strides in elements of a (B, H, T, F) / (B, T, H, F) contiguous array
__device__ __forceinline__ void attn_strides(long long* st, int bthd, long long H, long long T, long long F) {
  st[0] = T * H * F;
  st[1] = bthd ? F : T * F;
  st[2] = bthd ? H * F : F;
}

__device__ __forceinline__ bool attn_masked(const int* mask, int has_mask, int causal, long long b, long long h,
                                            long long i, long long j, long long ms0, long long ms1, long long ms2,
                                            long long ms3) {
  if (causal && j > i) return true;
  return has_mask && mask[b * ms0 + h * ms1 + i * ms2 + j * ms3] == 0;
}

// Copies rows [r0, r0 + nr) of a (T, F) slice with row stride ld into dst (nr x F).
template <typename T>
__device__ void attn_load(T* dst, const T* src, long long r0, long long nr, long long F, long long ld) {
  for (long long e = threadIdx.x; e < nr * F; e += blockDim.x) {
    const long long r = e / F, c = e - r * F;
    dst[e] = src[(r0 + r) * ld + c];
  }
}

// One key tile of the online softmax for this thread's query row i (csrc/attention_impl.h's
// online_rows): scores into S (masked: -inf), the running max m and sum l, the accumulator
// rescaled to the new max, then += p v over the attended keys only.
template <typename T>
__device__ void attn_online_tile(const T* Qs, T* Acc, T* S, const T* Ks, const T* Vs, T* m, T* l, long long QB,
                                 long long nk, long long D, long long Dv, T scale, const int* mask, int has_mask,
                                 int causal, long long b, long long h, long long i, long long j0, long long ms0,
                                 long long ms1, long long ms2, long long ms3) {
  const int tid = threadIdx.x;
  const T ninf = -ember_inf<T>();
  T mx = ninf;
  bool any_nan = false;
  for (long long c = 0; c < nk; ++c) {
    T sc = ninf;
    if (!attn_masked(mask, has_mask, causal, b, h, i, j0 + c, ms0, ms1, ms2, ms3)) {
      T acc = T(0);
      for (long long d = 0; d < D; ++d) acc += Qs[d * QB + tid] * Ks[c * D + d];
      sc = acc * scale;
    }
    S[c * QB + tid] = sc;
    mx = sc > mx ? sc : mx;
    any_nan = any_nan || sc != sc;
  }
  T mnew = *m < mx ? mx : *m;  // std::max: a NaN m stays
  if (mnew == ninf && !any_nan) {  // nothing attended yet and no NaN score: the tile adds nothing
    for (long long c = 0; c < nk; ++c) S[c * QB + tid] = T(0);
  } else {
    if (mnew == ninf) mnew = ember_nan<T>();
    const T alpha = ember_exp(*m - mnew);
    T sum = T(0);
    for (long long c = 0; c < nk; ++c) {
      const T p = ember_exp(S[c * QB + tid] - mnew);
      S[c * QB + tid] = p;
      sum += p;
    }
    *l = *l * alpha + sum;
    if (alpha != T(1))
      for (long long d = 0; d < Dv; ++d) Acc[d * QB + tid] *= alpha;
    *m = mnew;
  }
  for (long long c = 0; c < nk; ++c) {
    if (attn_masked(mask, has_mask, causal, b, h, i, j0 + c, ms0, ms1, ms2, ms3)) continue;
    const T p = S[c * QB + tid];
    for (long long d = 0; d < Dv; ++d) Acc[d * QB + tid] += p * Vs[c * Dv + d];
  }
}

template <typename T>
__device__ void attention_forward_impl(const T* q, const T* k, const T* v, const int* mask, T* out, T* lse,
                                       long long B, long long H, long long Tq, long long Tk, long long D,
                                       long long Dv, long long ms0, long long ms1, long long ms2, long long ms3,
                                       int causal, int has_mask, int bthd, T scale, int kt) {
  // shared: the block's query rows and accumulators, feature-major ([d * QB + thread]: each
  // thread its own bank), this tile's scores, then the key / value tile (read by all threads)
  EMBER_DYNAMIC_SHARED(T, smem);
  const long long QB = blockDim.x, ntiles = (Tq + QB - 1) / QB;
  T *Qs = smem, *Acc = Qs + D * QB, *S = Acc + Dv * QB, *Ks = S + kt * QB, *Vs = Ks + kt * D;
  long long qs[3], ks[3], vs[3], os[3];
  attn_strides(qs, bthd, H, Tq, D);
  attn_strides(ks, bthd, H, Tk, D);
  attn_strides(vs, bthd, H, Tk, Dv);
  attn_strides(os, bthd, H, Tq, Dv);
  const T ninf = -ember_inf<T>();
  const int tid = threadIdx.x;
  for (long long work = blockIdx.x; work < B * H * ntiles; work += gridDim.x) {
    const long long bh = work / ntiles, i0 = (work - bh * ntiles) * QB, b = bh / H, h = bh - b * H;
    const long long i = i0 + tid;
    const bool active = i < Tq;
    const T* kb = k + b * ks[0] + h * ks[1];
    const T* vb = v + b * vs[0] + h * vs[1];
    T m = ninf, l = T(0);
    __syncthreads();  // the previous work item's tiles are no longer read
    if (active) {
      const T* qr = q + b * qs[0] + h * qs[1] + i * qs[2];
      for (long long d = 0; d < D; ++d) Qs[d * QB + tid] = qr[d];
      for (long long d = 0; d < Dv; ++d) Acc[d * QB + tid] = T(0);
    }
    const long long ilast = (i0 + QB < Tq ? i0 + QB : Tq) - 1;
    const long long kend = causal && ilast + 1 < Tk ? ilast + 1 : Tk;
    for (long long j0 = 0; j0 < kend; j0 += kt) {
      const long long nk = kend - j0 < kt ? kend - j0 : kt;
      __syncthreads();  // the previous tile is no longer read
      attn_load(Ks, kb, j0, nk, D, ks[2]);
      attn_load(Vs, vb, j0, nk, Dv, vs[2]);
      __syncthreads();
      if (active)
        attn_online_tile(Qs, Acc, S, Ks, Vs, &m, &l, QB, nk, D, Dv, scale, mask, has_mask, causal, b, h, i, j0,
                         ms0, ms1, ms2, ms3);
    }
    if (!active) continue;
    T* o = out + b * os[0] + h * os[1] + i * os[2];
    if (l != T(0)) {  // attended (l > 0), or NaN: out and lse NaN
      const T inv = T(1) / l;
      for (long long d = 0; d < Dv; ++d) o[d] = Acc[d * QB + tid] * inv;
      lse[bh * Tq + i] = m + ember_log(l);
    } else {
      for (long long d = 0; d < Dv; ++d) o[d] = T(0);
      lse[bh * Tq + i] = ember_inf<T>();
    }
  }
}

// delta[bh, i] = <d_out[i], out[i]>, one thread per query row
template <typename T>
__device__ void attention_backward_delta_impl(const T* dout, const T* out, T* delta, long long B, long long H,
                                              long long Tq, long long Dv, int bthd) {
  long long os[3];
  attn_strides(os, bthd, H, Tq, Dv);
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < B * H * Tq;
       e += (long long)gridDim.x * blockDim.x) {
    const long long bh = e / Tq, i = e - bh * Tq, b = bh / H, h = bh - b * H;
    const long long off = b * os[0] + h * os[1] + i * os[2];
    T acc = T(0);
    for (long long c = 0; c < Dv; ++c) acc += dout[off + c] * out[off + c];
    delta[e] = acc;
  }
}

// p = exp(scale s - lse), dp = <d_out[i], v[j]>, ds = p (dp - delta[i]) scale;  dq[i] = sum_j ds k[j].
// Shared: the block's q rows, d_out rows and dq accumulators (feature-major), then the key /
// value tile.
template <typename T>
__device__ void attention_backward_dq_impl(const T* dout, const T* q, const T* k, const T* v, const T* lse,
                                           const T* delta, const int* mask, T* dq, long long B, long long H,
                                           long long Tq, long long Tk, long long D, long long Dv, long long ms0,
                                           long long ms1, long long ms2, long long ms3, int causal, int has_mask,
                                           int bthd, T scale, int kt) {
  EMBER_DYNAMIC_SHARED(T, smem);
  const long long QB = blockDim.x, ntiles = (Tq + QB - 1) / QB;
  T *Qr = smem, *Gr = Qr + D * QB, *Acc = Gr + Dv * QB, *Ks = Acc + D * QB, *Vs = Ks + kt * D;
  long long qs[3], ks[3], vs[3], os[3];
  attn_strides(qs, bthd, H, Tq, D);
  attn_strides(ks, bthd, H, Tk, D);
  attn_strides(vs, bthd, H, Tk, Dv);
  attn_strides(os, bthd, H, Tq, Dv);
  const int tid = threadIdx.x;
  for (long long work = blockIdx.x; work < B * H * ntiles; work += gridDim.x) {
    const long long bh = work / ntiles, i0 = (work - bh * ntiles) * QB, b = bh / H, h = bh - b * H;
    const long long i = i0 + tid;
    const bool active = i < Tq;
    const T li = active ? lse[bh * Tq + i] : T(0), di = active ? delta[bh * Tq + i] : T(0);
    __syncthreads();
    if (active) {
      const T* qr = q + b * qs[0] + h * qs[1] + i * qs[2];
      const T* gr = dout + b * os[0] + h * os[1] + i * os[2];
      for (long long d = 0; d < D; ++d) {
        Qr[d * QB + tid] = qr[d];
        Acc[d * QB + tid] = T(0);
      }
      for (long long d = 0; d < Dv; ++d) Gr[d * QB + tid] = gr[d];
    }
    const long long ilast = (i0 + QB < Tq ? i0 + QB : Tq) - 1;
    const long long kend = causal && ilast + 1 < Tk ? ilast + 1 : Tk;
    for (long long j0 = 0; j0 < kend; j0 += kt) {
      const long long nk = kend - j0 < kt ? kend - j0 : kt;
      __syncthreads();
      attn_load(Ks, k + b * ks[0] + h * ks[1], j0, nk, D, ks[2]);
      attn_load(Vs, v + b * vs[0] + h * vs[1], j0, nk, Dv, vs[2]);
      __syncthreads();
      if (!active) continue;
      for (long long c = 0; c < nk; ++c) {
        if (attn_masked(mask, has_mask, causal, b, h, i, j0 + c, ms0, ms1, ms2, ms3)) continue;
        T s = T(0), dp = T(0);
        for (long long d = 0; d < D; ++d) s += Qr[d * QB + tid] * Ks[c * D + d];
        for (long long d = 0; d < Dv; ++d) dp += Gr[d * QB + tid] * Vs[c * Dv + d];
        const T p = ember_exp(s * scale - li);
        const T ds = p * (dp - di) * scale;
        for (long long d = 0; d < D; ++d) Acc[d * QB + tid] += ds * Ks[c * D + d];
      }
    }
    if (!active) continue;
    T* g = dq + b * qs[0] + h * qs[1] + i * qs[2];
    for (long long d = 0; d < D; ++d) g[d] = Acc[d * QB + tid];
  }
}

// dv[j] = sum_i p d_out[i],  dk[j] = sum_i ds q[i]: one thread per key row over query tiles.
// Shared: the block's k / v rows and dk / dv accumulators (feature-major), then the tile's q
// and d_out rows, lse and delta.
template <typename T>
__device__ void attention_backward_dkv_impl(const T* dout, const T* q, const T* k, const T* v, const T* lse,
                                            const T* delta, const int* mask, T* dk, T* dv, long long B,
                                            long long H, long long Tq, long long Tk, long long D, long long Dv,
                                            long long ms0, long long ms1, long long ms2, long long ms3, int causal,
                                            int has_mask, int bthd, T scale, int kt) {
  EMBER_DYNAMIC_SHARED(T, smem);
  const long long KB = blockDim.x, ntiles = (Tk + KB - 1) / KB;
  T *Kr = smem, *Vr = Kr + D * KB, *AK = Vr + Dv * KB, *AV = AK + D * KB;
  T *Qs = AV + Dv * KB, *Gs = Qs + kt * D, *Ls = Gs + kt * Dv, *Ds = Ls + kt;
  long long qs[3], ks[3], vs[3], os[3];
  attn_strides(qs, bthd, H, Tq, D);
  attn_strides(ks, bthd, H, Tk, D);
  attn_strides(vs, bthd, H, Tk, Dv);
  attn_strides(os, bthd, H, Tq, Dv);
  const int tid = threadIdx.x;
  for (long long work = blockIdx.x; work < B * H * ntiles; work += gridDim.x) {
    const long long bh = work / ntiles, j0 = (work - bh * ntiles) * KB, b = bh / H, h = bh - b * H;
    const long long j = j0 + tid;
    const bool active = j < Tk;
    __syncthreads();
    if (active) {
      const T* kr = k + b * ks[0] + h * ks[1] + j * ks[2];
      const T* vr = v + b * vs[0] + h * vs[1] + j * vs[2];
      for (long long d = 0; d < D; ++d) {
        Kr[d * KB + tid] = kr[d];
        AK[d * KB + tid] = T(0);
      }
      for (long long d = 0; d < Dv; ++d) {
        Vr[d * KB + tid] = vr[d];
        AV[d * KB + tid] = T(0);
      }
    }
    const long long istart = causal ? (j0 < Tq ? j0 : Tq) : 0;  // queries before j0 attend no key here
    for (long long i0 = istart; i0 < Tq; i0 += kt) {
      const long long nq = Tq - i0 < kt ? Tq - i0 : kt;
      __syncthreads();
      attn_load(Qs, q + b * qs[0] + h * qs[1], i0, nq, D, qs[2]);
      attn_load(Gs, dout + b * os[0] + h * os[1], i0, nq, Dv, os[2]);
      for (long long c = tid; c < nq; c += blockDim.x) {
        Ls[c] = lse[bh * Tq + i0 + c];
        Ds[c] = delta[bh * Tq + i0 + c];
      }
      __syncthreads();
      if (!active) continue;
      for (long long c = 0; c < nq; ++c) {
        if (attn_masked(mask, has_mask, causal, b, h, i0 + c, j, ms0, ms1, ms2, ms3)) continue;
        T s = T(0), dp = T(0);
        for (long long d = 0; d < D; ++d) s += Qs[c * D + d] * Kr[d * KB + tid];
        for (long long d = 0; d < Dv; ++d) dp += Gs[c * Dv + d] * Vr[d * KB + tid];
        const T p = ember_exp(s * scale - Ls[c]);
        const T ds = p * (dp - Ds[c]) * scale;
        for (long long d = 0; d < Dv; ++d) AV[d * KB + tid] += p * Gs[c * Dv + d];
        for (long long d = 0; d < D; ++d) AK[d * KB + tid] += ds * Qs[c * D + d];
      }
    }
    if (!active) continue;
    T* gk = dk + b * ks[0] + h * ks[1] + j * ks[2];
    T* gv = dv + b * vs[0] + h * vs[1] + j * vs[2];
    for (long long d = 0; d < D; ++d) gk[d] = AK[d * KB + tid];
    for (long long d = 0; d < Dv; ++d) gv[d] = AV[d * KB + tid];
  }
}

extern "C" __global__ void attention_forward_f32(const float* q, const float* k, const float* v, const int* mask, float* out, float* lse, long long B, long long H, long long Tq, long long Tk, long long D, long long Dv, long long ms0, long long ms1, long long ms2, long long ms3, int causal, int has_mask, int bthd, float scale, int kt) { attention_forward_impl<float>(q, k, v, mask, out, lse, B, H, Tq, Tk, D, Dv, ms0, ms1, ms2, ms3, causal, has_mask, bthd, scale, kt); }
extern "C" __global__ void attention_forward_f64(const double* q, const double* k, const double* v, const int* mask, double* out, double* lse, long long B, long long H, long long Tq, long long Tk, long long D, long long Dv, long long ms0, long long ms1, long long ms2, long long ms3, int causal, int has_mask, int bthd, double scale, int kt) { attention_forward_impl<double>(q, k, v, mask, out, lse, B, H, Tq, Tk, D, Dv, ms0, ms1, ms2, ms3, causal, has_mask, bthd, scale, kt); }
extern "C" __global__ void attention_backward_delta_f32(const float* dout, const float* out, float* delta, long long B, long long H, long long Tq, long long Dv, int bthd) { attention_backward_delta_impl<float>(dout, out, delta, B, H, Tq, Dv, bthd); }
extern "C" __global__ void attention_backward_delta_f64(const double* dout, const double* out, double* delta, long long B, long long H, long long Tq, long long Dv, int bthd) { attention_backward_delta_impl<double>(dout, out, delta, B, H, Tq, Dv, bthd); }
extern "C" __global__ void attention_backward_dq_f32(const float* dout, const float* q, const float* k, const float* v, const float* lse, const float* delta, const int* mask, float* dq, long long B, long long H, long long Tq, long long Tk, long long D, long long Dv, long long ms0, long long ms1, long long ms2, long long ms3, int causal, int has_mask, int bthd, float scale, int kt) { attention_backward_dq_impl<float>(dout, q, k, v, lse, delta, mask, dq, B, H, Tq, Tk, D, Dv, ms0, ms1, ms2, ms3, causal, has_mask, bthd, scale, kt); }
extern "C" __global__ void attention_backward_dq_f64(const double* dout, const double* q, const double* k, const double* v, const double* lse, const double* delta, const int* mask, double* dq, long long B, long long H, long long Tq, long long Tk, long long D, long long Dv, long long ms0, long long ms1, long long ms2, long long ms3, int causal, int has_mask, int bthd, double scale, int kt) { attention_backward_dq_impl<double>(dout, q, k, v, lse, delta, mask, dq, B, H, Tq, Tk, D, Dv, ms0, ms1, ms2, ms3, causal, has_mask, bthd, scale, kt); }
extern "C" __global__ void attention_backward_dkv_f32(const float* dout, const float* q, const float* k, const float* v, const float* lse, const float* delta, const int* mask, float* dk, float* dv, long long B, long long H, long long Tq, long long Tk, long long D, long long Dv, long long ms0, long long ms1, long long ms2, long long ms3, int causal, int has_mask, int bthd, float scale, int kt) { attention_backward_dkv_impl<float>(dout, q, k, v, lse, delta, mask, dk, dv, B, H, Tq, Tk, D, Dv, ms0, ms1, ms2, ms3, causal, has_mask, bthd, scale, kt); }
extern "C" __global__ void attention_backward_dkv_f64(const double* dout, const double* q, const double* k, const double* v, const double* lse, const double* delta, const int* mask, double* dk, double* dv, long long B, long long H, long long Tq, long long Tk, long long D, long long Dv, long long ms0, long long ms1, long long ms2, long long ms3, int causal, int has_mask, int bthd, double scale, int kt) { attention_backward_dkv_impl<double>(dout, q, k, v, lse, delta, mask, dk, dv, B, H, Tq, Tk, D, Dv, ms0, ms1, ms2, ms3, causal, has_mask, bthd, scale, kt); }
