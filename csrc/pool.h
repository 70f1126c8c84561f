// pool.h — 2-D max and average pooling, channels_last (NHWC).
//
//   x  : (N, H, W, C)      y, dy : (N, OH, OW, C)      idx : (N, OH, OW, C) int32
//
//   window (oh, ow) covers rows oh*sh - ph .. + PH - 1 and columns ow*sw - pw .. + PW - 1 of
//   x; cells outside x (the padding) are ignored by max pooling and, unless count_pad, not
//   counted by average pooling (Keras / TF "same" semantics). Only the top/left padding is
//   passed: the bottom/right padding is implied by OH/OW.
//   Max pooling keeps, per output, ih * W + iw of the first maximum (for the backward), or of
//   the last NaN when the window holds NaN (then y is NaN: PyTorch's rule);
//   a window with no cell inside x gives y = 0 and idx = -1.
//   Global pooling is the window (H, W) with stride 1 and no padding.
//
// Forward: each output written by one thread. Backward overwrites dx; one image per
// thread, windows visited in a fixed order (overlapping windows add up deterministically).
#pragma once
#include <cstdint>

namespace ember {

struct PoolShape {
  int64_t N, H, W, C;
  int64_t PH, PW;   // window
  int64_t OH, OW;
  int64_t sh, sw;   // strides
  int64_t ph, pw;   // top / left padding
};

template <typename T>
void maxpool2d_forward(T* y, int32_t* idx, const T* x, const PoolShape& s);
// Every entry of idx must be -1 or a cell (ih * W + iw) of its own window. The backward
// checks that as it scatters: false when some entry is not (dx is then incomplete, but
// nothing outside it was written); maxpool2d_bad_index then finds the first such entry
// (its flat position in idx, else -1) for the error message.
template <typename T>
bool maxpool2d_backward(T* dx, const T* dy, const int32_t* idx, const PoolShape& s);
int64_t maxpool2d_bad_index(const int32_t* idx, const PoolShape& s);
// Max and first argmax (ih * W + iw; the last NaN when there is one) of one window, rows
// [h0, h1) and columns [w0, w1) of image xn (not empty), all channels: what the forward
// computes for one output (AVX2 when use_avx2()).
template <typename T>
void maxpool2d_window(T* yo, int32_t* io, const T* xn, const PoolShape& s, int64_t h0, int64_t h1, int64_t w0,
                      int64_t w1);
// AVX2 (pool_avx2.cpp): output row oh of one image for non-overlapping windows (s == window,
// no padding), float, C % 8 == 0; y, idx point at that row, xn at the image.
void maxpool_tiled_row_avx2(float* y, int32_t* idx, const float* xn, const PoolShape& s, int64_t oh);
// ... and its backward for one image: dxn[cell] = dy of its window where cell was the argmax, else 0.
// Any window (rows [h0, h1), columns [w0, w1) of image xn, not empty), float, any C: the
// result of max_window in pool.cpp, 8 channels per instruction.
void maxpool_window_avx2(float* yo, int32_t* io, const float* xn, const PoolShape& s, int64_t h0, int64_t h1,
                         int64_t w0, int64_t w1);
// Returns false when an index of the image is neither -1 nor a cell of its window.
bool maxpool_tiled_backward_avx2(float* dxn, const float* g, const int32_t* id, const PoolShape& s);

template <typename T>
void avgpool2d_forward(T* y, const T* x, const PoolShape& s, bool count_pad);
template <typename T>
void avgpool2d_backward(T* dx, const T* dy, const PoolShape& s, bool count_pad);

}  // namespace ember
