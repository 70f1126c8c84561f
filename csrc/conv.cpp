// conv.cpp — conv2d forward / backward (NHWC) through im2col + GEMM; see conv.h for shapes.
#include "conv.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "parallel.h"

namespace ember {

namespace {

template <typename T>
void gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  if constexpr (std::is_same<T, float>::value)
    sgemm(tA, tB, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
  else
    dgemm(tA, tB, M, N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
}

// A buffer owned by the calling thread that only grows (no per-call allocation).
template <typename T, int Slot>
T* workspace(int64_t n) {
  thread_local std::vector<T> buf;
  if (int64_t(buf.size()) < n) buf.resize(size_t(n));
  return buf.data();
}

// How the batch is cut: chunks of whole images (fixed, independent of the thread count),
// each processed in sub-chunks of at most `sub` output rows.
struct Plan {
  int64_t rows_img, Cg, OCg, Kg, sub, imgs, nchunks;
  bool direct;   // 1x1, stride 1, no padding, one group: x itself is the im2col matrix
  bool smallk;   // float + AVX2 + one group + tiny K: the register-blocked kernels
  bool c1;       // float + AVX2 + one input channel, no padding, OC % 8 == 0: no im2col at all
  int64_t c1rows;  // rows per c1 block (the masked-gradient buffer stays in L1)
};

template <typename T>
Plan make_plan(const ConvShape& s) {
  Plan p;
  p.rows_img = s.OH * s.OW;
  p.Cg = s.C / s.G;
  p.OCg = s.OC / s.G;
  p.Kg = s.KH * s.KW * p.Cg;
  const int64_t widest = std::max<int64_t>({p.Kg, s.OC, 1});
  p.sub = std::max<int64_t>(32, std::min<int64_t>(4096, (int64_t(1) << 20) / widest));
  p.imgs = std::max<int64_t>(1, std::min<int64_t>(s.N, p.sub / std::max<int64_t>(p.rows_img, 1)));
  p.nchunks = (s.N + p.imgs - 1) / p.imgs;
  p.direct = s.KH == 1 && s.KW == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0 &&
             s.G == 1 && s.OH == s.H && s.OW == s.W;
  p.smallk = std::is_same<T, float>::value && s.G == 1 && p.Kg <= 32 && use_avx2();
  p.c1 = p.smallk && s.C == 1 && s.ph == 0 && s.pw == 0 && s.OC % 8 == 0 &&
         (s.OH - 1) * s.sh + (s.KH - 1) * s.dh < s.H && (s.OW - 1) * s.sw + (s.KW - 1) * s.dw < s.W;
  p.c1rows = std::max<int64_t>(8, std::min<int64_t>(128, 4096 / std::max<int64_t>(s.OC, 1)));
  return p;
}

// col[r - r0, (kh, kw, c)] = x[n, ih, iw, g*Cg + c] (zero in the padding), rows r0..r1.
template <typename T>
void im2col(T* col, const T* x, const ConvShape& s, const Plan& p, int64_t g, int64_t r0, int64_t r1) {
  const int64_t Cg = p.Cg;
  if (p.Kg == 0) return;  // no input channel: an empty patch row (col may be null; memset(null, 0, 0) is UB)
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / p.rows_img, q = r % p.rows_img, oh = q / s.OW, ow = q % s.OW;
    T* dst = col + (r - r0) * p.Kg;
    const T* xn = x + n * s.H * s.W * s.C + g * Cg;
    for (int64_t kh = 0; kh < s.KH; ++kh) {
      const int64_t ih = oh * s.sh - s.ph + kh * s.dh;
      if (ih < 0 || ih >= s.H) {
        std::memset(dst, 0, sizeof(T) * s.KW * Cg);
        dst += s.KW * Cg;
        continue;
      }
      for (int64_t kw = 0; kw < s.KW; ++kw, dst += Cg) {
        const int64_t iw = ow * s.sw - s.pw + kw * s.dw;
        if (iw < 0 || iw >= s.W) {
          std::memset(dst, 0, sizeof(T) * Cg);
          continue;
        }
        const T* src = xn + (ih * s.W + iw) * s.C;
        for (int64_t c = 0; c < Cg; ++c) dst[c] = src[c];
      }
    }
  }
}

// The patch matrix of group g for output rows [r0, r1): x itself (row stride C) for a 1x1
// stride-1 convolution, else im2col into work slot 0 (row stride Kg); lda receives the stride.
template <typename T>
const T* patches(const T* x, const ConvShape& s, const Plan& p, int64_t g, int64_t r0, int64_t r1, int64_t& lda) {
  if (p.direct) {
    lda = s.C;
    return x + r0 * s.C;
  }
  T* col = workspace<T, 0>((r1 - r0) * p.Kg);
  im2col(col, x, s, p, g, r0, r1);
  lda = p.Kg;
  return col;
}

// dx[n, ih, iw, g*Cg + c] += col[r - r0, (kh, kw, c)], rows r0..r1 (the adjoint of im2col).
template <typename T>
void col2im(T* dx, const T* col, const ConvShape& s, const Plan& p, int64_t g, int64_t r0, int64_t r1) {
  const int64_t Cg = p.Cg;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / p.rows_img, q = r % p.rows_img, oh = q / s.OW, ow = q % s.OW;
    const T* src = col + (r - r0) * p.Kg;
    T* xn = dx + n * s.H * s.W * s.C + g * Cg;
    for (int64_t kh = 0; kh < s.KH; ++kh) {
      const int64_t ih = oh * s.sh - s.ph + kh * s.dh;
      if (ih < 0 || ih >= s.H) {
        src += s.KW * Cg;
        continue;
      }
      for (int64_t kw = 0; kw < s.KW; ++kw, src += Cg) {
        const int64_t iw = ow * s.sw - s.pw + kw * s.dw;
        if (iw < 0 || iw >= s.W) continue;
        T* dst = xn + (ih * s.W + iw) * s.C;
        for (int64_t c = 0; c < Cg; ++c) dst[c] += src[c];
      }
    }
  }
}

// The c1 kernels' row / tap offsets: body(n, q0, mc, xoff, toff) for every block of at most
// p.c1rows output rows q0.. of each image n met by rows [r0, r1) (a fixed blocking from each
// image's first row of the range).
template <typename F>
void c1_blocks(const ConvShape& s, const Plan& p, int64_t r0, int64_t r1, F&& body) {
  int64_t toff[32];
  for (int64_t kh = 0; kh < s.KH; ++kh)
    for (int64_t kw = 0; kw < s.KW; ++kw) toff[kh * s.KW + kw] = kh * s.dh * s.W + kw * s.dw;
  int64_t xoff[128];
  for (int64_t r = r0; r < r1;) {
    const int64_t n = r / p.rows_img, qe = std::min(p.rows_img, r1 - n * p.rows_img);
    for (int64_t q0 = r % p.rows_img; q0 < qe; q0 += p.c1rows) {
      const int64_t mc = std::min(p.c1rows, qe - q0);
      for (int64_t i = 0; i < mc; ++i) {
        const int64_t q = q0 + i;
        xoff[i] = (q / s.OW) * s.sh * s.W + (q % s.OW) * s.sw;
      }
      body(n, q0, mc, xoff, toff);
    }
    r = n * p.rows_img + qe;
  }
}

// Run body(chunk) over all chunks: in parallel when there are enough of them, otherwise
// serially so the GEMM inside can use the threads. Either way each chunk is done by one
// thread, so the results do not depend on the thread count.
template <typename F>
void over_chunks(int64_t nchunks, int64_t work, F&& body) {
  if (nchunks >= 2 && nchunks >= get_num_threads() && work >= (int64_t(1) << 17))
    parallel_for(nchunks, 2, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) body(c);
    });
  else
    for (int64_t c = 0; c < nchunks; ++c) body(c);
}

// Rows [r0, r1) of the output (row r = (n * OH + oh) * OW + ow) into y (row r at y + (r - r0) * OC).
template <typename T>
void forward_rows(T* y, const T* x, const T* w, const T* b, const ConvShape& s, const Plan& p, int64_t r0,
                  int64_t r1, int act) {
  if constexpr (std::is_same<T, float>::value) {
    if (p.c1) {
      c1_blocks(s, p, r0, r1, [&](int64_t n, int64_t q0, int64_t mc, const int64_t* xoff, const int64_t* toff) {
        c1_forward_avx2(y + (n * p.rows_img + q0 - r0) * s.OC, x + n * s.H * s.W, xoff, toff, w, b, mc, s.OC, p.Kg,
                        act);
      });
      return;
    }
  }
  for (int64_t rs = r0; rs < r1; rs += p.sub) {
    const int64_t re = std::min(r1, rs + p.sub), mc = re - rs;
    T* yc = y + (rs - r0) * s.OC;
    if constexpr (std::is_same<T, float>::value) {
      if (p.smallk) {
        int64_t lda;
        const T* col = patches(x, s, p, 0, rs, re, lda);
        smallk_forward_avx2(yc, col, w, b, mc, s.OC, p.Kg, act);
        continue;
      }
    }
    for (int64_t g = 0; g < s.G; ++g) {
      int64_t lda;
      const T* a = patches(x, s, p, g, rs, re, lda);
      gemm<T>(false, false, mc, p.OCg, p.Kg, a, lda, w + g * p.OCg, s.OC, T(0), yc + g * p.OCg, s.OC);
    }
    if (b || act == 1)
      for (int64_t r = 0; r < mc; ++r) {
        T* row = yc + r * s.OC;
        if (b)
          for (int64_t o = 0; o < s.OC; ++o) row[o] += b[o];
        if (act == 1)
          for (int64_t o = 0; o < s.OC; ++o) row[o] = row[o] < T(0) ? T(0) : row[o];  // NaN stays NaN
      }
  }
}

// (y <= 0) ? 0 : g for n elements (PyTorch's threshold_backward), into work slot 3.
template <typename T>
const T* relu_masked(const T* g, const T* y, int64_t n) {
  T* __restrict m = workspace<T, 3>(n);
  const T* __restrict yc = y;
  const T* __restrict gs = g;
  for (int64_t i = 0; i < n; ++i) {
    const T gv = gs[i];  // unconditional load: the loop vectorises, no branches
    const T yv = yc[i];  // a NaN y passes dy; spelled as in bias_act_backward (speed)
    m[i] = ((yv > T(0)) | (yv != yv)) ? gv : T(0);
  }
  return m;
}

// The backward of rows [r0, r1) from their gradient g (row r at g + (r - r0) * OC), masked on
// the fly by (y > 0 or NaN) when y (the forward output, same rows) is given: dx += their
// share (dx zeroed by the caller; a direct 1x1 convolution overwrites its rows instead),
// pw = (first) or += their weight gradient, pb += their bias gradient; pw, pb, dx may be null.
template <typename T>
void backward_rows(T* dx, T* pw, T* pb, const T* x, const T* w, const T* g, const T* y, const ConvShape& s,
                   const Plan& p, int64_t r0, int64_t r1, bool first) {
  if constexpr (std::is_same<T, float>::value) {
    if (p.c1 && !dx) {
      if (pw && first) std::fill(pw, pw + p.Kg * s.OC, T(0));
      T* gbuf = workspace<T, 3>(p.c1rows * s.OC);
      c1_blocks(s, p, r0, r1, [&](int64_t n, int64_t q0, int64_t mc, const int64_t* xoff, const int64_t* toff) {
        const int64_t o = (n * p.rows_img + q0 - r0) * s.OC;
        c1_wgrad_avx2(pw, pb, gbuf, x + n * s.H * s.W, xoff, toff, g + o, y ? y + o : nullptr, mc, s.OC, p.Kg);
      });
      return;
    }
  }
  for (int64_t rs = r0; rs < r1; rs += p.sub) {
    const int64_t re = std::min(r1, rs + p.sub), mc = re - rs;
    const bool init = first && rs == r0;
    const T* g_ = g + (rs - r0) * s.OC;
    if (y) g_ = relu_masked(g_, y + (rs - r0) * s.OC, mc * s.OC);
    if (pb) {
      T* __restrict acc = pb;
      const T* __restrict gs = g_;
      for (int64_t r = 0; r < mc; ++r)
        for (int64_t o = 0; o < s.OC; ++o) acc[o] += gs[r * s.OC + o];
    }
    if constexpr (std::is_same<T, float>::value) {
      if (p.smallk && pw && !p.direct) {
        int64_t lda;
        const T* col = patches(x, s, p, 0, rs, re, lda);  // not direct: im2col
        smallk_wgrad_avx2(pw, col, g_, mc, s.OC, p.Kg, !init);
        if (dx) {
          T* dcol = workspace<T, 4>(mc * p.Kg);
          gemm<T>(false, true, mc, p.Kg, s.OC, g_, s.OC, w, s.OC, T(0), dcol, p.Kg);
          col2im(dx, dcol, s, p, 0, rs, re);
        }
        continue;
      }
    }
    for (int64_t gi = 0; gi < s.G; ++gi) {
      const T* gg = g_ + gi * p.OCg;
      if (pw) {
        int64_t lda;
        const T* a = patches(x, s, p, gi, rs, re, lda);
        gemm<T>(true, false, p.Kg, p.OCg, mc, a, lda, gg, s.OC, init ? T(0) : T(1), pw + gi * p.OCg, s.OC);
      }
      if (dx) {
        if (p.direct) {
          gemm<T>(false, true, mc, p.Kg, p.OCg, gg, s.OC, w, s.OC, T(0), dx + rs * s.C, s.C);
        } else {
          T* dcol = workspace<T, 4>(mc * p.Kg);
          gemm<T>(false, true, mc, p.Kg, p.OCg, gg, s.OC, w + gi * p.OCg, s.OC, T(0), dcol, p.Kg);
          col2im(dx, dcol, s, p, gi, rs, re);
        }
      }
    }
  }
}

}  // namespace

template <typename T>
void conv2d_forward_rows(T* y, const T* x, const T* w, const T* b, const ConvShape& s, int64_t r0, int64_t r1,
                         int act) {
  if (r0 < r1 && s.OC > 0) forward_rows(y, x, w, b, s, make_plan<T>(s), r0, r1, act);
}

template <typename T>
void conv2d_backward_rows(T* dx, T* pw, T* pb, const T* x, const T* w, const T* g, const ConvShape& s, int64_t r0,
                          int64_t r1, bool first) {
  if (r0 < r1 && s.OC > 0) backward_rows(dx, pw, pb, x, w, g, static_cast<const T*>(nullptr), s, make_plan<T>(s), r0, r1, first);
}

template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const ConvShape& s, int act) {
  const Plan p = make_plan<T>(s);
  if (s.N == 0 || p.rows_img == 0 || s.OC == 0) return;
  over_chunks(p.nchunks, s.N * p.rows_img * p.Kg * s.OC, [&](int64_t chunk) {
    const int64_t R0 = chunk * p.imgs * p.rows_img;
    const int64_t R1 = std::min(s.N, (chunk + 1) * p.imgs) * p.rows_img;
    forward_rows(y + R0 * s.OC, x, w, b, s, p, R0, R1, act);
  });
}

template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* x, const T* w, const T* dy, const T* y,
                     const ConvShape& s, int act) {
  const Plan p = make_plan<T>(s);
  const int64_t wsize = p.Kg * s.OC;
  const int64_t nch = p.nchunks;
  // Per-chunk partial sums of dw and db, reduced in chunk order below.
  T* part_w = dw ? workspace<T, 1>(nch * wsize) : nullptr;
  T* part_b = db ? workspace<T, 2>(nch * s.OC) : nullptr;
  const bool mask = act == 1 && y != nullptr;
  if (s.N == 0 || p.rows_img == 0 || s.OC == 0) {
    if (dx) std::fill(dx, dx + s.N * s.H * s.W * s.C, T(0));
    if (dw) std::fill(dw, dw + wsize, T(0));
    if (db) std::fill(db, db + s.OC, T(0));
    return;
  }
  over_chunks(nch, s.N * p.rows_img * p.Kg * s.OC, [&](int64_t chunk) {
    const int64_t n0 = chunk * p.imgs, n1 = std::min(s.N, n0 + p.imgs);
    const int64_t R0 = n0 * p.rows_img, R1 = n1 * p.rows_img;
    if (dx && !p.direct) std::fill(dx + n0 * s.H * s.W * s.C, dx + n1 * s.H * s.W * s.C, T(0));
    T* pw = dw ? part_w + chunk * wsize : nullptr;
    T* pb = db ? part_b + chunk * s.OC : nullptr;
    if (pb) std::fill(pb, pb + s.OC, T(0));
    backward_rows(dx, pw, pb, x, w, dy + R0 * s.OC, mask ? y + R0 * s.OC : nullptr, s, p, R0, R1, true);
  });
  // Fixed-order reduction of the per-chunk partials.
  if (dw)
    parallel_for(wsize, nch * wsize >= (int64_t(1) << 16) ? 4096 : (int64_t(1) << 62), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T acc = part_w[i];
        for (int64_t c = 1; c < nch; ++c) acc += part_w[c * wsize + i];
        dw[i] = acc;
      }
    });
  if (db)
    for (int64_t o = 0; o < s.OC; ++o) {
      T acc = part_b[o];
      for (int64_t c = 1; c < nch; ++c) acc += part_b[c * s.OC + o];
      db[o] = acc;
    }
}

template void conv2d_forward<float>(float*, const float*, const float*, const float*, const ConvShape&, int);
template void conv2d_forward<double>(double*, const double*, const double*, const double*, const ConvShape&, int);
template void conv2d_backward<float>(float*, float*, float*, const float*, const float*, const float*,
                                     const float*, const ConvShape&, int);
template void conv2d_backward<double>(double*, double*, double*, const double*, const double*, const double*,
                                      const double*, const ConvShape&, int);
template void conv2d_forward_rows<float>(float*, const float*, const float*, const float*, const ConvShape&, int64_t,
                                         int64_t, int);
template void conv2d_forward_rows<double>(double*, const double*, const double*, const double*, const ConvShape&,
                                          int64_t, int64_t, int);
template void conv2d_backward_rows<float>(float*, float*, float*, const float*, const float*, const float*,
                                          const ConvShape&, int64_t, int64_t, bool);
template void conv2d_backward_rows<double>(double*, double*, double*, const double*, const double*, const double*,
                                           const ConvShape&, int64_t, int64_t, bool);


}  // namespace ember
