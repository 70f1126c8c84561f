// conv_pool.cpp — conv2d (+ bias, + ReLU) and the max pooling of its output, fused; see
// conv_pool.h. The convolution itself is conv.cpp's (conv2d_forward_rows / _backward_rows on
// one band of rows at a time), the window max pool.cpp's: only the banding is new here, plus
// the AVX2 kernels of conv_pool_avx2.cpp for the common cases (non-overlapping windows; one
// input channel with 2x2 windows, where the forward never stores the conv output at all).
#include "conv_pool.h"

#include <algorithm>
#include <atomic>
#include <type_traits>
#include <vector>

#include "cpu.h"
#include "parallel.h"

namespace ember {

namespace {

// A buffer owned by the calling thread that only grows (no per-call allocation).
template <typename T, int Slot>
T* buffer(int64_t n) {
  thread_local std::vector<T> buf;
  if (int64_t(buf.size()) < n) buf.resize(size_t(n));
  return buf.data();
}

// Windows that tile the conv output without overlap or padding (2x2 stride 2 ...): each conv
// cell lies in at most one window, and a band of pooled rows owns its conv rows outright.
inline bool tiled(const PoolShape& s) {
  return s.sh == s.PH && s.sw == s.PW && s.ph == 0 && s.pw == 0 && s.OH * s.PH <= s.H && s.OW * s.PW <= s.W;
}

struct Plan {
  int64_t rows_img;  // conv output rows (cells) per image
  int64_t imgs, nchunks;
  int64_t band;      // pooled rows per band
  int64_t crows;     // conv rows per band of the backward with overlapping / padded windows
};

// Bands of about 16 KiB of conv output: the tile, the pooled rows and their idx stay in L1.
template <typename T>
Plan make_plan(const ConvShape& cs, const PoolShape& ps) {
  Plan p;
  p.rows_img = cs.OH * cs.OW;
  p.imgs = std::max<int64_t>(1, std::min<int64_t>(cs.N, 4096 / std::max<int64_t>(p.rows_img, 1)));
  p.nchunks = (cs.N + p.imgs - 1) / p.imgs;
  const int64_t fit = (int64_t(16) << 10) / std::max<int64_t>(cs.OW * cs.OC * int64_t(sizeof(T)), 1);
  p.band = std::max<int64_t>(1, (fit - ps.PH) / ps.sh + 1);
  p.crows = std::max<int64_t>(1, fit);
  return p;
}

// body(chunk) for every chunk of images: in parallel when there are enough chunks and work,
// else serially (the GEMMs inside may then use the threads); each chunk by one thread.
template <typename F>
void over_chunks(const Plan& p, int64_t work, F&& body) {
  if (p.nchunks >= 2 && p.nchunks >= get_num_threads() && work >= (int64_t(1) << 17))
    parallel_for(p.nchunks, 2, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) body(c);
    });
  else
    for (int64_t c = 0; c < p.nchunks; ++c) body(c);
}

struct Win {
  int64_t h0, h1, w0, w1;
};
inline Win window(const PoolShape& s, int64_t oh, int64_t ow) {  // clipped to the conv output
  const int64_t hs = oh * s.sh - s.ph, ws = ow * s.sw - s.pw;
  return {std::max<int64_t>(hs, 0), std::min<int64_t>(hs + s.PH, s.H), std::max<int64_t>(ws, 0),
          std::min<int64_t>(ws + s.PW, s.W)};
}

// Pool pooled rows [po0, po1) of one image from the tile holding its conv rows [r0, r1);
// yb / ib at pooled row po0. Indices are made the image's (+ r0 * OW).
template <typename T>
void pool_window_rows(T* yb, int32_t* ib, const T* tile, const PoolShape& ps, int64_t po0, int64_t po1, int64_t r0,
                      int64_t r1) {
  PoolShape ts = ps;  // the tile as an image of r1 - r0 rows
  ts.H = r1 - r0;
  const int64_t C = ps.C;
  const int32_t off = int32_t(r0 * ps.W);
  for (int64_t po = po0; po < po1; ++po)
    for (int64_t pw = 0; pw < ps.OW; ++pw) {
      T* yo = yb + ((po - po0) * ps.OW + pw) * C;
      int32_t* io = ib + ((po - po0) * ps.OW + pw) * C;
      const Win w = window(ps, po, pw);
      if (w.h0 >= w.h1 || w.w0 >= w.w1) {
        std::fill(yo, yo + C, T(0));
        std::fill(io, io + C, int32_t(-1));
        continue;
      }
      maxpool2d_window(yo, io, tile, ts, w.h0 - r0, w.h1 - r0, w.w0, w.w1);
      for (int64_t c = 0; c < C; ++c) io[c] += off;
    }
}

// ... and with act == 1, idx = -1 where the pooled output is a ReLU zero (y <= 0 and not
// NaN, as the ReLU backward's mask): no gradient flows there, and the backward needs no y.
template <typename T>
void pool_band(T* yb, int32_t* ib, const T* tile, const PoolShape& ps, int64_t po0, int64_t po1, int64_t r0,
               int64_t r1, int act) {
  if constexpr (std::is_same<T, float>::value) {
    if (use_avx2() && tiled(ps) && ps.C % 8 == 0) return pool_tiled_band_avx2(yb, ib, tile, ps, po0, po1, act);
  }
  pool_window_rows(yb, ib, tile, ps, po0, po1, r0, r1);
  if (act != 1) return;
  T* __restrict y = yb;
  int32_t* __restrict i = ib;
  for (int64_t k = 0; k < (po1 - po0) * ps.OW * ps.C; ++k) {
    const T v = y[k];
    i[k] = ((v > T(0)) | (v != v)) ? i[k] : int32_t(-1);
  }
}

// The conv-output gradient of rows [r0, r1) of one image (dyn, idn at the image) into tile:
// each pooled output's dy added to its argmax cell when that lies in the band, windows in
// order (as maxpool2d_backward). With `check` (non-overlapping windows, each entry met in
// exactly one band): false when an entry is neither -1 nor a cell of its window.
template <typename T>
bool scatter_band(T* tile, const T* dyn, const int32_t* idn, const PoolShape& ps, int64_t r0, int64_t r1,
                  bool check) {
  const int64_t C = ps.C;
  std::fill(tile, tile + (r1 - r0) * ps.W * C, T(0));
  const int64_t num = r0 + ps.ph - ps.PH + 1;
  const int64_t lo = num <= 0 ? 0 : (num + ps.sh - 1) / ps.sh;
  const int64_t hi = std::min(ps.OH, (r1 - 1 + ps.ph) / ps.sh + 1);
  constexpr int64_t kB = 64;
  T gb[kB];
  bool matched[kB];
  bool ok = true;
  for (int64_t po = lo; po < hi; ++po)
    for (int64_t pw = 0; pw < ps.OW; ++pw) {
      const Win w = window(ps, po, pw);
      const int64_t o = (po * ps.OW + pw) * C;
      for (int64_t c0 = 0; c0 < C; c0 += kB) {
        const int64_t nc = std::min(kB, C - c0);
        const T* __restrict g = dyn + o + c0;
        const int32_t* __restrict io = idn + o + c0;
        for (int64_t c = 0; c < nc; ++c) {
          gb[c] = g[c];
          matched[c] = io[c] == -1;
        }
        for (int64_t ih = std::max(w.h0, r0); ih < std::min(w.h1, r1); ++ih)
          for (int64_t iw = w.w0; iw < w.w1; ++iw) {
            const int32_t p = int32_t(ih * ps.W + iw);
            T* __restrict t = tile + ((ih - r0) * ps.W + iw) * C + c0;
            for (int64_t c = 0; c < nc; ++c) {
              const bool hit = io[c] == p;
              t[c] += hit ? gb[c] : T(0);
              matched[c] |= hit;
            }
          }
        if (check)
          for (int64_t c = 0; c < nc; ++c) ok &= matched[c];
      }
    }
  return ok;
}

// The case of conv.cpp's c1 kernels (float, AVX2, one input channel, no padding, K <= 32,
// OC % 8 == 0) with 2x2 windows of stride 2: conv and pooling both in registers.
inline bool in_registers(const ConvShape& cs, const PoolShape& ps) {
  // no padding: top / left are 0 and the last output's taps lie inside x (bottom / right)
  return use_avx2() && cs.G == 1 && cs.C == 1 && cs.KH * cs.KW <= 32 && cs.OC % 8 == 0 && cs.OC > 0 &&
         tiled(ps) && ps.PH == 2 && ps.PW == 2 && cs.ph == 0 && cs.pw == 0 &&
         (cs.OH - 1) * cs.sh + (cs.KH - 1) * cs.dh < cs.H && (cs.OW - 1) * cs.sw + (cs.KW - 1) * cs.dw < cs.W;
}

}  // namespace

template <typename T>
void conv2d_maxpool2d_forward(T* y, int32_t* idx, const T* x, const T* w, const T* b, const ConvShape& cs,
                              const PoolShape& ps, int act) {
  const Plan p = make_plan<T>(cs, ps);
  if (cs.N == 0 || ps.OH == 0 || ps.OW == 0 || cs.OC == 0) return;
  const int64_t prow = ps.OW * cs.OC, kg = cs.KH * cs.KW * (cs.C / cs.G);
  if constexpr (std::is_same<T, float>::value) {
    if (in_registers(cs, ps)) {
      int64_t toff[32];
      for (int64_t kh = 0; kh < cs.KH; ++kh)
        for (int64_t kw = 0; kw < cs.KW; ++kw) toff[kh * cs.KW + kw] = kh * cs.dh * cs.W + kw * cs.dw;
      over_chunks(p, cs.N * p.rows_img * kg * cs.OC, [&](int64_t chunk) {
        for (int64_t n = chunk * p.imgs; n < std::min(cs.N, (chunk + 1) * p.imgs); ++n)
          for (int64_t po = 0; po < ps.OH; ++po)
            c1_conv_pool_row_avx2(y + (n * ps.OH + po) * prow, idx + (n * ps.OH + po) * prow, x + n * cs.H * cs.W,
                                  toff, w, b, cs, ps, po, act);
      });
      return;
    }
  }
  over_chunks(p, cs.N * p.rows_img * kg * cs.OC, [&](int64_t chunk) {
    T* tile = buffer<T, 0>(std::min(cs.OH, (p.band - 1) * ps.sh + ps.PH) * cs.OW * cs.OC);
    for (int64_t n = chunk * p.imgs; n < std::min(cs.N, (chunk + 1) * p.imgs); ++n)
      for (int64_t po0 = 0; po0 < ps.OH; po0 += p.band) {
        const int64_t po1 = std::min(ps.OH, po0 + p.band);
        const int64_t r0 = std::max<int64_t>(po0 * ps.sh - ps.ph, 0);
        const int64_t r1 = std::min(cs.OH, (po1 - 1) * ps.sh - ps.ph + ps.PH);
        if (r0 < r1) conv2d_forward_rows(tile, x, w, b, cs, n * p.rows_img + r0 * cs.OW, n * p.rows_img + r1 * cs.OW, act);
        const int64_t at = (n * ps.OH + po0) * prow;
        pool_band(y + at, idx + at, tile, ps, po0, po1, r0, std::max(r0, r1), act);
      }
  });
}

namespace {

// The gradient of the conv rows [r0, r1) of one image (dyn, idn at the image) into tile: the
// AVX2 scatter for non-overlapping windows, rows past the last window zero; else scatter_band.
template <typename T>
bool band_gradient(T* tile, const T* dyn, const int32_t* idn, const ConvShape& cs, const PoolShape& ps, int64_t r0,
                   int64_t r1, bool tl, bool vec) {
  if constexpr (std::is_same<T, float>::value) {
    if (vec) {
      const int64_t rp = std::max(r0, std::min(r1, ps.OH * ps.PH));  // rows in windows
      const bool ok = r0 < rp ? pool_scatter_tiled_avx2(tile, dyn, idn, ps, r0 / ps.PH, rp / ps.PH) : true;
      std::fill(tile + (rp - r0) * cs.OW * cs.OC, tile + (r1 - r0) * cs.OW * cs.OC, T(0));
      return ok;
    }
  }
  return scatter_band(tile, dyn, idn, ps, r0, r1, tl);
}

// dst[i] = sum of the nch partials part[c * n + i], c in order (the same bits for any thread count).
template <typename T>
void reduce_partials(T* dst, const T* part, int64_t n, int64_t nch) {
  parallel_for(n, nch * n >= (int64_t(1) << 16) ? 4096 : (int64_t(1) << 62), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T acc = part[i];
      for (int64_t c = 1; c < nch; ++c) acc += part[c * n + i];
      dst[i] = acc;
    }
  });
}

}  // namespace

template <typename T>
bool conv2d_maxpool2d_backward(T* dx, T* dw, T* db, const T* x, const T* w, const T* dy, const int32_t* idx,
                               const ConvShape& cs, const PoolShape& ps) {
  const Plan p = make_plan<T>(cs, ps);
  const int64_t wsize = cs.KH * cs.KW * (cs.C / cs.G) * cs.OC, nch = p.nchunks;
  const bool tl = tiled(ps);
  // Overlapping or padded windows: an entry is met in several bands, so check idx up front.
  if (!tl && maxpool2d_bad_index(idx, ps) >= 0) return false;
  if (cs.N == 0 || p.rows_img == 0 || cs.OC == 0) {
    if (dx) std::fill(dx, dx + cs.N * cs.H * cs.W * cs.C, T(0));
    if (dw) std::fill(dw, dw + wsize, T(0));
    if (db) std::fill(db, db + cs.OC, T(0));
    return true;
  }
  T* part_w = dw ? buffer<T, 1>(nch * wsize) : nullptr;  // per-chunk partial sums, reduced in order
  T* part_b = db ? buffer<T, 2>(nch * cs.OC) : nullptr;
  const bool vec = std::is_same<T, float>::value && tl && cs.OC % 8 == 0 && use_avx2();
  const int64_t pimg = ps.OH * ps.OW * cs.OC;
  std::atomic<bool> ok{true};
  over_chunks(p, cs.N * p.rows_img * wsize, [&](int64_t chunk) {
    const int64_t n0 = chunk * p.imgs, n1 = std::min(cs.N, n0 + p.imgs);
    if (dx) std::fill(dx + n0 * cs.H * cs.W * cs.C, dx + n1 * cs.H * cs.W * cs.C, T(0));
    T* pw = dw ? part_w + chunk * wsize : nullptr;
    T* pb = db ? part_b + chunk * cs.OC : nullptr;
    if (pb) std::fill(pb, pb + cs.OC, T(0));
    const int64_t step = tl ? p.band * ps.PH : p.crows;  // conv rows per band
    T* tile = buffer<T, 3>(std::min(step, cs.OH) * cs.OW * cs.OC);
    bool first = true, good = true;
    for (int64_t n = n0; n < n1; ++n)
      // rows past the last window get a zero gradient, but are not skipped: 0 * inf in x is
      // NaN in dw, as in the unfused pair
      for (int64_t r0 = 0; r0 < cs.OH; r0 += step, first = false) {
        const int64_t r1 = std::min(cs.OH, r0 + step);
        good &= band_gradient(tile, dy + n * pimg, idx + n * pimg, cs, ps, r0, r1, tl, vec);
        conv2d_backward_rows(dx, pw, pb, x, w, tile, cs, n * p.rows_img + r0 * cs.OW, n * p.rows_img + r1 * cs.OW,
                             first);
      }
    if (first && pw) std::fill(pw, pw + wsize, T(0));
    if (!good) ok.store(false, std::memory_order_relaxed);
  });
  if (dw) reduce_partials(dw, part_w, wsize, nch);
  if (db) reduce_partials(db, part_b, cs.OC, nch);
  return ok.load();
}

#define EMBER_CONV_POOL_INST(T)                                                                                 \
  template void conv2d_maxpool2d_forward<T>(T*, int32_t*, const T*, const T*, const T*, const ConvShape&,      \
                                            const PoolShape&, int);                                             \
  template bool conv2d_maxpool2d_backward<T>(T*, T*, T*, const T*, const T*, const T*, const int32_t*,             \
                                             const ConvShape&, const PoolShape&);
EMBER_CONV_POOL_INST(float)
EMBER_CONV_POOL_INST(double)
#undef EMBER_CONV_POOL_INST

}  // namespace ember
