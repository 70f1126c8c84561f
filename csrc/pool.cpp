// pool.cpp — max / average pooling forward and backward (NHWC); see pool.h for shapes.
//
// The channel loop is innermost and contiguous, so the compiler vectorises it; the naive
// oracle lives in tests/test_pool.py (NumPy) and is the definition in pool.h.
#include "pool.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <type_traits>

#include "cpu.h"
#include "parallel.h"

namespace ember {

namespace {

// Waking a second thread costs microseconds (milliseconds on a loaded machine): only go
// parallel when there are enough output cells times window cells.
inline int64_t min_par(const PoolShape& s) {
  return s.N * s.OH * s.OW * s.C * s.PH * s.PW >= (int64_t(1) << 16) ? 2 : (int64_t(1) << 62);
}

// The window rows [h0, h1) and columns [w0, w1) inside x for output (oh, ow).
struct Win {
  int64_t h0, h1, w0, w1;
};
inline Win window(const PoolShape& s, int64_t oh, int64_t ow) {
  const int64_t hs = oh * s.sh - s.ph, ws = ow * s.sw - s.pw;
  return {std::max<int64_t>(hs, 0), std::min<int64_t>(hs + s.PH, s.H), std::max<int64_t>(ws, 0),
          std::min<int64_t>(ws + s.PW, s.W)};
}

// Max and first argmax of one window, all channels; a NaN in the window gives NaN and the
// index of the window's last NaN (PyTorch's max_pool2d rule). __restrict and unconditional loads let
// the channel loop vectorise into compare + blend (no data-dependent branches).
template <typename T>
inline void max_window(T* __restrict yo, int32_t* __restrict io, const T* __restrict xn, const PoolShape& s,
                       const Win& w) {
  const int64_t C = s.C;
  {  // the first cell initialises: ties keep the earliest cell
    const int32_t p = int32_t(w.h0 * s.W + w.w0);
    const T* __restrict xp = xn + p * C;
    for (int64_t c = 0; c < C; ++c) {
      yo[c] = xp[c];
      io[c] = p;
    }
  }
  for (int64_t ih = w.h0; ih < w.h1; ++ih)
    for (int64_t iw = (ih == w.h0 ? w.w0 + 1 : w.w0); iw < w.w1; ++iw) {
      const int32_t p = int32_t(ih * s.W + iw);
      const T* __restrict xp = xn + p * C;
      for (int64_t c = 0; c < C; ++c) {
        const T v = xp[c], b = yo[c];
        const int32_t i = io[c];
        const bool win = (v > b) | (v != v);  // a NaN wins (the last one), as in PyTorch; | keeps it a vector select
        const int32_t m = -int32_t(win);   // all ones where v wins
        yo[c] = win ? v : b;
        io[c] = (p & m) | (i & ~m);
      }
    }
}

// Windows that tile x without overlap or padding (2x2 stride 2 and the like): every x cell
// lies in at most one window, so the backward writes each dx cell exactly once.
inline bool tiled(const PoolShape& s) {
  return s.sh == s.PH && s.sw == s.PW && s.ph == 0 && s.pw == 0 && s.OH * s.PH <= s.H && s.OW * s.PW <= s.W;
}

}  // namespace

template <typename T>
void maxpool2d_forward(T* y, int32_t* idx, const T* x, const PoolShape& s) {
  const int64_t C = s.C;
  const bool avx2 = std::is_same<T, float>::value && use_avx2();
  const bool vec = avx2 && tiled(s) && C % 8 == 0;
  parallel_for(s.N * s.OH, min_par(s), [&](int64_t b, int64_t e) {
    for (int64_t nr = b; nr < e; ++nr) {
      const int64_t n = nr / s.OH, oh = nr % s.OH;
      const T* xn = x + n * s.H * s.W * C;
      if constexpr (std::is_same<T, float>::value) {
        if (vec) {
          maxpool_tiled_row_avx2(y + nr * s.OW * C, idx + nr * s.OW * C, xn, s, oh);
          continue;
        }
      }
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        T* yo = y + ((n * s.OH + oh) * s.OW + ow) * C;
        int32_t* io = idx + ((n * s.OH + oh) * s.OW + ow) * C;
        const Win w = window(s, oh, ow);
        if (w.h0 >= w.h1 || w.w0 >= w.w1) {
          std::fill(yo, yo + C, T(0));
          std::fill(io, io + C, int32_t(-1));
          continue;
        }
        if constexpr (std::is_same<T, float>::value) {
          if (avx2) {
            maxpool_window_avx2(yo, io, xn, s, w.h0, w.h1, w.w0, w.w1);
            continue;
          }
        }
        max_window(yo, io, xn, s, w);
      }
    }
  });
}

namespace {

// Whether every index of one output cell's channels is -1 or a cell of its window `w`.
// Unsigned 32-bit arithmetic, no division: p is in the window when p - (h0 * W + w0) -
// dh * W < w1 - w0 for one row dh (wrapping is exact here: p and the cells are int32 and
// the cells are >= 0). Vectorises over channels in blocks.
bool window_indices_ok(const int32_t* io, int64_t C, const Win& w, int64_t W) {
  const uint32_t base = uint32_t(w.h0 * W + w.w0), ww = uint32_t(std::max<int64_t>(w.w1 - w.w0, 0));
  const int64_t wh = w.h1 - w.h0;
  constexpr int64_t kBlock = 64;
  uint32_t ok[kBlock];
  for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
    const int64_t n = std::min(kBlock, C - c0);
    for (int64_t c = 0; c < n; ++c) ok[c] = io[c0 + c] == -1;
    for (int64_t dh = 0; dh < wh; ++dh) {
      const uint32_t row = base + uint32_t(dh * W);
      for (int64_t c = 0; c < n; ++c) ok[c] |= uint32_t(io[c0 + c]) - row < ww;
    }
    uint32_t all = 1;
    for (int64_t c = 0; c < n; ++c) all &= ok[c];
    if (!all) return false;
  }
  return true;
}

}  // namespace

template <typename T>
bool maxpool2d_backward(T* dx, const T* dy, const int32_t* idx, const PoolShape& s) {
  const int64_t C = s.C, img = s.H * s.W * C, oimg = s.OH * s.OW * C;
  const bool vec = std::is_same<T, float>::value && tiled(s) && C % 8 == 0 && use_avx2();
  // The indices are checked as they are used (one pass over idx, not two): a cell whose
  // indices are not all -1 or cells of its own window scatters nothing, so a bad index
  // never writes outside dx, and the call reports it.
  std::atomic<bool> ok{true};
  parallel_for(s.N, min_par(s), [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      T* dxn = dx + n * img;
      const T* g = dy + n * oimg;
      const int32_t* id = idx + n * oimg;
      if constexpr (std::is_same<T, float>::value) {
        if (vec) {
          if (!maxpool_tiled_backward_avx2(dxn, g, id, s)) ok.store(false, std::memory_order_relaxed);
          continue;
        }
      }
      std::fill(dxn, dxn + img, T(0));
      for (int64_t o = 0; o < s.OH * s.OW; ++o) {
        const int32_t* io = id + o * C;
        if (!window_indices_ok(io, C, window(s, o / s.OW, o % s.OW), s.W)) {
          ok.store(false, std::memory_order_relaxed);
          continue;
        }
        for (int64_t c = 0; c < C; ++c) {
          const int32_t p = io[c];
          if (p >= 0) dxn[int64_t(p) * C + c] += g[o * C + c];
        }
      }
    }
  });
  return ok.load();
}

int64_t maxpool2d_bad_index(const int32_t* idx, const PoolShape& s) {
  const int64_t cells = s.OH * s.OW, C = s.C;
  std::atomic<int64_t> first{std::numeric_limits<int64_t>::max()};
  parallel_for(s.N * cells, min_par(s), [&](int64_t b, int64_t e) {
    for (int64_t nc = b; nc < e; ++nc) {
      const int64_t o = nc % cells;
      const Win w = window(s, o / s.OW, o % s.OW);
      if (window_indices_ok(idx + nc * C, C, w, s.W)) continue;
      int64_t at = nc * C;  // the first bad channel of this cell
      while (window_indices_ok(idx + at, 1, w, s.W)) ++at;
      int64_t cur = first.load();
      while (at < cur && !first.compare_exchange_weak(cur, at)) {}
      return;  // later cells of this chunk come after `at`
    }
  });
  const int64_t f = first.load();
  return f == std::numeric_limits<int64_t>::max() ? -1 : f;
}

template <typename T>
void avgpool2d_forward(T* y, const T* x, const PoolShape& s, bool count_pad) {
  const int64_t C = s.C;
  parallel_for(s.N * s.OH, min_par(s), [&](int64_t b, int64_t e) {
    for (int64_t nr = b; nr < e; ++nr) {
      const int64_t n = nr / s.OH, oh = nr % s.OH;
      const T* xn = x + n * s.H * s.W * C;
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        T* yo = y + ((n * s.OH + oh) * s.OW + ow) * C;
        const Win w = window(s, oh, ow);
        std::fill(yo, yo + C, T(0));
        for (int64_t ih = w.h0; ih < w.h1; ++ih)
          for (int64_t iw = w.w0; iw < w.w1; ++iw) {
            const T* xp = xn + (ih * s.W + iw) * C;
            for (int64_t c = 0; c < C; ++c) yo[c] += xp[c];
          }
        const int64_t cnt = count_pad ? s.PH * s.PW : (w.h1 - w.h0) * (w.w1 - w.w0);
        const T inv = cnt > 0 ? T(1) / T(cnt) : T(0);
        for (int64_t c = 0; c < C; ++c) yo[c] *= inv;
      }
    }
  });
}

template <typename T>
void avgpool2d_backward(T* dx, const T* dy, const PoolShape& s, bool count_pad) {
  const int64_t C = s.C, img = s.H * s.W * C;
  parallel_for(s.N, min_par(s), [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      T* dxn = dx + n * img;
      std::fill(dxn, dxn + img, T(0));
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          const T* g = dy + ((n * s.OH + oh) * s.OW + ow) * C;
          const Win w = window(s, oh, ow);
          const int64_t cnt = count_pad ? s.PH * s.PW : (w.h1 - w.h0) * (w.w1 - w.w0);
          if (cnt <= 0) continue;
          const T inv = T(1) / T(cnt);
          for (int64_t ih = w.h0; ih < w.h1; ++ih)
            for (int64_t iw = w.w0; iw < w.w1; ++iw) {
              T* dp = dxn + (ih * s.W + iw) * C;
              for (int64_t c = 0; c < C; ++c) dp[c] += g[c] * inv;
            }
        }
    }
  });
}

template <typename T>
void maxpool2d_window(T* yo, int32_t* io, const T* xn, const PoolShape& s, int64_t h0, int64_t h1, int64_t w0,
                      int64_t w1) {
  if constexpr (std::is_same<T, float>::value) {
    if (use_avx2()) return maxpool_window_avx2(yo, io, xn, s, h0, h1, w0, w1);
  }
  max_window(yo, io, xn, s, Win{h0, h1, w0, w1});
}

#define EMBER_POOL_INST(T)                                                          \
  template void maxpool2d_window<T>(T*, int32_t*, const T*, const PoolShape&, int64_t, int64_t, int64_t, int64_t); \
  template void maxpool2d_forward<T>(T*, int32_t*, const T*, const PoolShape&);     \
  template bool maxpool2d_backward<T>(T*, const T*, const int32_t*, const PoolShape&); \
  template void avgpool2d_forward<T>(T*, const T*, const PoolShape&, bool);         \
  template void avgpool2d_backward<T>(T*, const T*, const PoolShape&, bool);
EMBER_POOL_INST(float)
EMBER_POOL_INST(double)
#undef EMBER_POOL_INST

}  // namespace ember
