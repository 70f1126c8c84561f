// conv_pool.h — a 2-D convolution (+ bias, + ReLU) and the 2-D max pooling of its output,
// in one pass (NHWC): the conv output is computed band by band of rows into a per-thread
// tile of about L1 size and pooled while it is in cache; it is never written whole.
//
//   x, w, b : as conv.h; cs the convolution's shape (cs.OH x cs.OW its output)
//   ps      : the pooling of that output: ps.N = cs.N, ps.H = cs.OH, ps.W = cs.OW, ps.C = cs.OC
//   y, idx  : (N, ps.OH, ps.OW, OC): what conv2d_forward then maxpool2d_forward give (idx the
//             conv-output cell oh * OW + ow of each maximum, -1 for a window of padding only),
//             except that with act == 1 idx is -1 where y is a ReLU zero (y <= 0, not NaN):
//             the ReLU backward's mask travels in idx, so the backward never reads y.
//
// The backward takes the forward's idx and gives (dx, dw, db) of the pair: the pooling's
// scatter of one band of rows at a time into a per-thread tile, then conv2d_backward_rows on
// it; the full-size conv gradient is never materialised. Chunks of whole images (a fixed
// count), partial sums of dw / db reduced in chunk order: the same bits for any thread count.
// Returns false when an idx entry is neither -1 nor a cell of its own window (then nothing
// but dx / dw / db was written, and they are incomplete).
#pragma once
#include <cstdint>

#include "conv.h"
#include "pool.h"

namespace ember {

template <typename T>
void conv2d_maxpool2d_forward(T* y, int32_t* idx, const T* x, const T* w, const T* b, const ConvShape& cs,
                              const PoolShape& ps, int act);

template <typename T>
bool conv2d_maxpool2d_backward(T* dx, T* dw, T* db, const T* x, const T* w, const T* dy, const int32_t* idx,
                               const ConvShape& cs, const PoolShape& ps);

// AVX2 (conv_pool_avx2.cpp), float, non-overlapping unpadded windows, OC % 8 == 0:
// pool_tiled_band_avx2: pooled rows [po0, po1) of one image (y, idx at row po0) from the tile of
// its conv rows [po0 * PH, po1 * PH), indices the image's (-1 at ReLU zeros when act == 1);
// and the backward's scatter: the
// gradient of pooled rows [po0, po1) of one image (dy, idx at that image) into tile, conv rows
// [po0 * PH, po1 * PH) x all OW columns; false when an idx entry is not -1 or a cell of its window.
void pool_tiled_band_avx2(float* y, int32_t* idx, const float* tile, const PoolShape& ps, int64_t po0, int64_t po1,
                          int act);
bool pool_scatter_tiled_avx2(float* tile, const float* dy, const int32_t* idx, const PoolShape& ps, int64_t po0,
                             int64_t po1);
// ... and for a convolution of one input channel without padding (conv.h's c1 kernels' case),
// OC % 8 == 0, and 2x2 windows of stride 2: pooled row po of image xn (y, idx at that row), the
// conv output of each window computed and pooled in registers (never stored); toff[k]: tap k's
// offset in xn.
void c1_conv_pool_row_avx2(float* y, int32_t* idx, const float* xn, const int64_t* toff, const float* W,
                           const float* bias, const ConvShape& cs, const PoolShape& ps, int64_t po, int act);

}  // namespace ember
