// bind_conv.cpp — Python bindings for convolution, pooling and batch normalisation.
#include "bind_common.h"
#include "batchnorm.h"
#include "conv.h"
#include "conv_pool.h"
#include "pool.h"

namespace ember_py {

namespace {

// ---------------------------------------------------------------------------------
// conv
// ---------------------------------------------------------------------------------

// A float array argument that may be None; checked against dtype d and shape `want`.
std::optional<py::array> opt_array(const std::string& op, const char* name, const py::object& o, DType d,
                                   const std::vector<int64_t>& want) {
  std::optional<py::array> a = opt_arg(op, name, o);
  if (!a) return a;
  same_dtype(op, name, *a, d);
  check_shape(op, name, *a, want);
  check_contiguous(op, name, *a);
  return a;
}

// The same for a required argument.
py::array req_array(const std::string& op, const char* name, const py::array& a, DType d,
                    const std::vector<int64_t>& want) {
  same_dtype(op, name, a, d);
  check_shape(op, name, a, want);
  check_contiguous(op, name, a);
  return a;
}

template <typename T>
const T* opt_cptr(const std::optional<py::array>& a) { return a ? cptr<T>(*a) : nullptr; }
template <typename T>
T* opt_mptr(std::optional<py::array>& a) { return a ? mptr<T>(*a) : nullptr; }

// Window sizes, strides, paddings and dilations above 2^31 - 1 make no sense for an array
// that fits in memory, and bounding them keeps every offset the kernels compute
// (index * stride + padding ...) inside int64.
constexpr int64_t kMaxParam = (int64_t(1) << 31) - 1;

bool in_range(const std::vector<int64_t>& v, int64_t lo) {
  return std::all_of(v.begin(), v.end(), [lo](int64_t e) { return e >= lo && e <= kMaxParam; });
}

template <typename V>
std::string vec_str(const V& v) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
  s << ")";
  return s.str();
}

void check_pairs(const std::string& op, const std::vector<int64_t>& strides,
                 const std::vector<int64_t>& pads, const std::vector<int64_t>& dil) {
  if (strides.size() != 2 || !in_range(strides, 1))
    fail(op, "strides must be two integers >= 1 (and < 2^31). Received: strides=" + vec_str(strides));
  if (pads.size() != 4 || !in_range(pads, 0))
    fail(op, "padding must be four integers >= 0 (and < 2^31; top, bottom, left, right). Received: padding=" +
                 vec_str(pads));
  if (dil.size() != 2 || !in_range(dil, 1))
    fail(op, "dilation must be two integers >= 1 (and < 2^31). Received: dilation=" + vec_str(dil));
}

// Validates x (N, H, W, C) and w (KH, KW, C/G, OC) and works out the output size.
ember::ConvShape conv_shape(const std::string& op, const py::array& x, const py::array& w,
                            const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                            const std::vector<int64_t>& dil, int64_t groups) {
  check_ndim(op, "x", x, 4);
  check_ndim(op, "w", w, 4);
  check_pairs(op, strides, pads, dil);
  ember::ConvShape s{};
  s.N = x.shape(0); s.H = x.shape(1); s.W = x.shape(2); s.C = x.shape(3);
  s.KH = w.shape(0); s.KW = w.shape(1); s.OC = w.shape(3);
  s.sh = strides[0]; s.sw = strides[1]; s.ph = pads[0]; s.pw = pads[2];
  s.dh = dil[0]; s.dw = dil[1]; s.G = groups;
  if (groups < 1 || groups > std::max<int64_t>(s.C, 1) || s.C % groups != 0 || s.OC % groups != 0)
    fail(op, "groups must divide the input channels and the filters. Received: groups=" + std::to_string(groups) +
                 ", x.shape=" + shape_str(x) + ", w.shape=" + shape_str(w));
  if (w.shape(2) != s.C / groups)
    fail(op, "the kernel expects " + std::to_string(w.shape(2) * groups) + " input channels but x has " +
                 std::to_string(s.C) + ". Received: x.shape=" + shape_str(x) + ", w.shape=" + shape_str(w) +
                 ", groups=" + std::to_string(groups));
  const int64_t eh = s.dh * (s.KH - 1) + 1, ew = s.dw * (s.KW - 1) + 1;
  const int64_t hp = s.H + pads[0] + pads[1], wp = s.W + pads[2] + pads[3];
  if (s.KH < 1 || s.KW < 1 || eh > hp || ew > wp)
    fail(op, "the (dilated) kernel " + std::to_string(eh) + "x" + std::to_string(ew) +
                 " is larger than the padded input " + std::to_string(hp) + "x" + std::to_string(wp) +
                 ". Received: x.shape=" + shape_str(x) + ", w.shape=" + shape_str(w));
  s.OH = (hp - eh) / s.sh + 1;
  s.OW = (wp - ew) / s.sw + 1;
  return s;
}

// The checks every conv binding starts with: x and w of one float dtype (returned in d),
// C-contiguous, and shapes that make a convolution.
ember::ConvShape conv_inputs(const std::string& op, const py::array& x, const py::array& w,
                             const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                             const std::vector<int64_t>& dil, int64_t groups, DType& d) {
  d = float_dtype(op, "x", x);
  same_dtype(op, "w", w, d);
  check_contiguous(op, "x", x);
  check_contiguous(op, "w", w);
  return conv_shape(op, x, w, strides, pads, dil, groups);
}

py::array conv2d_forward_py(py::array x, py::array w, py::object b, std::vector<int64_t> strides,
                            std::vector<int64_t> pads, std::vector<int64_t> dil, int64_t groups, int act,
                            py::object out) {
  const std::string op = "conv2d";
  DType d;
  const ember::ConvShape s = conv_inputs(op, x, w, strides, pads, dil, groups, d);
  std::optional<py::array> bias = opt_array(op, "b", b, d, {s.OC});
  if (act != 0 && act != 1) fail(op, "act must be 0 (none) or 1 (relu). Received: act=" + std::to_string(act));
  std::vector<Named> read{{"x", &x}, {"w", &w}};
  if (bias) read.push_back({"b", &*bias});
  py::array y = out_or_new(op, out, d, {s.N, s.OH, s.OW, s.OC}, read);
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::conv2d_forward<float>(mptr<float>(y), cptr<float>(x), cptr<float>(w), opt_cptr<float>(bias), s, act);
    else
      ember::conv2d_forward<double>(mptr<double>(y), cptr<double>(x), cptr<double>(w), opt_cptr<double>(bias), s, act);
  }
  return y;
}

// The requested gradients of a convolution's backward (None where not requested): dx like
// x, dw like w, db (OC,); conv2d_backward and conv2d_max_pool2d_backward share them.
struct ConvGrads {
  py::object dx = py::none(), dw = py::none(), db = py::none();
  ConvGrads(const std::string& op, DType d, const ember::ConvShape& s, bool need_dx, bool need_dw, bool need_db) {
    if (need_dx) dx = out_or_new(op, py::none(), d, {s.N, s.H, s.W, s.C});
    if (need_dw) dw = out_or_new(op, py::none(), d, {s.KH, s.KW, s.C / s.G, s.OC});
    if (need_db) db = out_or_new(op, py::none(), d, {s.OC});
  }
  static void* ptr(const py::object& o) {
    return o.is_none() ? nullptr : py::reinterpret_borrow<py::array>(o).mutable_data();
  }
};

py::tuple conv2d_backward_py(py::array x, py::array w, py::array dy, py::object y, std::vector<int64_t> strides,
                             std::vector<int64_t> pads, std::vector<int64_t> dil, int64_t groups, int act,
                             bool need_dx, bool need_dw, bool need_db) {
  const std::string op = "conv2d_backward";
  DType d;
  const ember::ConvShape s = conv_inputs(op, x, w, strides, pads, dil, groups, d);
  same_dtype(op, "dy", dy, d);
  check_contiguous(op, "dy", dy);
  check_shape(op, "dy", dy, {s.N, s.OH, s.OW, s.OC});
  std::optional<py::array> ya = opt_array(op, "y", y, d, {s.N, s.OH, s.OW, s.OC});
  if (act != 0 && act != 1) fail(op, "act must be 0 (none) or 1 (relu). Received: act=" + std::to_string(act));
  if (act == 1 && !ya) fail(op, "act=1 (relu) needs the forward output y");
  const ConvGrads gr(op, d, s, need_dx, need_dw, need_db);
  void *pdx = gr.ptr(gr.dx), *pdw = gr.ptr(gr.dw), *pdb = gr.ptr(gr.db);
  const void* py_ = ya ? ya->data() : nullptr;
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::conv2d_backward<float>(static_cast<float*>(pdx), static_cast<float*>(pdw), static_cast<float*>(pdb),
                                    cptr<float>(x), cptr<float>(w), cptr<float>(dy),
                                    static_cast<const float*>(py_), s, act);
    else
      ember::conv2d_backward<double>(static_cast<double*>(pdx), static_cast<double*>(pdw), static_cast<double*>(pdb),
                                     cptr<double>(x), cptr<double>(w), cptr<double>(dy),
                                     static_cast<const double*>(py_), s, act);
  }
  return py::make_tuple(gr.dx, gr.dw, gr.db);
}

py::array conv2d_naive_py(py::array x, py::array w, py::object b, std::vector<int64_t> strides,
                          std::vector<int64_t> pads, std::vector<int64_t> dil, int64_t groups) {
  const std::string op = "conv2d_naive";
  DType d;
  const ember::ConvShape s = conv_inputs(op, x, w, strides, pads, dil, groups, d);
  std::optional<py::array> bias = opt_array(op, "b", b, d, {s.OC});
  py::array y = out_or_new(op, py::none(), d, {s.N, s.OH, s.OW, s.OC});
  if (d == DType::F32)
    ember::conv2d_forward_naive<float>(mptr<float>(y), cptr<float>(x), cptr<float>(w), opt_cptr<float>(bias), s);
  else
    ember::conv2d_forward_naive<double>(mptr<double>(y), cptr<double>(x), cptr<double>(w), opt_cptr<double>(bias), s);
  return y;
}

// (end conv)

// ---------------------------------------------------------------------------------
// pool
// ---------------------------------------------------------------------------------

ember::PoolShape pool_shape(const std::string& op, int64_t N, int64_t H, int64_t W, int64_t C,
                            const std::vector<int64_t>& pool, const std::vector<int64_t>& strides,
                            const std::vector<int64_t>& pads, const std::string& xs) {
  if (pool.size() != 2 || !in_range(pool, 1))
    fail(op, "pool_size must be two integers >= 1 (and < 2^31). Received: pool_size=" + vec_str(pool));
  check_pairs(op, strides, pads, {1, 1});
  if (pads[0] >= pool[0] || pads[1] >= pool[0] || pads[2] >= pool[1] || pads[3] >= pool[1])
    fail(op, "padding must be smaller than the pool window. Received: padding=" + vec_str(pads) +
                 ", pool_size=" + vec_str(pool));
  const int64_t hp = H + pads[0] + pads[1], wp = W + pads[2] + pads[3];
  if (pool[0] > hp || pool[1] > wp)
    fail(op, "the pool window " + vec_str(pool) + " is larger than the padded input " + std::to_string(hp) +
                 "x" + std::to_string(wp) + ". Received: x.shape=" + xs);
  ember::PoolShape s{};
  s.N = N; s.H = H; s.W = W; s.C = C; s.PH = pool[0]; s.PW = pool[1];
  s.sh = strides[0]; s.sw = strides[1]; s.ph = pads[0]; s.pw = pads[2];
  s.OH = (hp - s.PH) / s.sh + 1;
  s.OW = (wp - s.PW) / s.sw + 1;
  return s;
}


// x_shape of a pooling backward: four sizes >= 0 whose product fits (dx is allocated from it).
void check_x_shape(const std::string& op, const std::vector<int64_t>& xshape) {
  int64_t total = 1;
  bool ok = xshape.size() == 4;
  for (size_t i = 0; ok && i < 4; ++i)
    ok = xshape[i] >= 0 && !__builtin_mul_overflow(total, std::max<int64_t>(xshape[i], 1), &total);
  if (!ok) fail(op, "x_shape must be four sizes >= 0 (N, H, W, C) of an array that fits in memory. Received: " +
                        vec_str(xshape));
}

py::tuple maxpool2d_forward_py(py::array x, std::vector<int64_t> pool, std::vector<int64_t> strides,
                               std::vector<int64_t> pads) {
  const std::string op = "max_pool2d";
  DType d = float_dtype(op, "x", x);
  check_ndim(op, "x", x, 4);
  check_contiguous(op, "x", x);
  const ember::PoolShape s = pool_shape(op, x.shape(0), x.shape(1), x.shape(2), x.shape(3), pool, strides, pads, shape_str(x));
  if (s.H * s.W >= (int64_t(1) << 31)) fail(op, "the image is too large for int32 indices");
  py::array y = out_or_new(op, py::none(), d, {s.N, s.OH, s.OW, s.C});
  py::array_t<int32_t> idx(std::vector<py::ssize_t>{s.N, s.OH, s.OW, s.C});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32) ember::maxpool2d_forward<float>(mptr<float>(y), idx.mutable_data(), cptr<float>(x), s);
    else ember::maxpool2d_forward<double>(mptr<double>(y), idx.mutable_data(), cptr<double>(x), s);
  }
  return py::make_tuple(y, idx);
}

py::array maxpool2d_backward_py(py::array dy, py::array idx, std::vector<int64_t> xshape, std::vector<int64_t> pool,
                                std::vector<int64_t> strides, std::vector<int64_t> pads) {
  const std::string op = "max_pool2d_backward";
  DType d = float_dtype(op, "dy", dy);
  check_x_shape(op, xshape);
  const ember::PoolShape s = pool_shape(op, xshape[0], xshape[1], xshape[2], xshape[3], pool, strides, pads, vec_str(xshape));
  check_shape(op, "dy", dy, {s.N, s.OH, s.OW, s.C});
  check_contiguous(op, "dy", dy);
  if (!idx.dtype().is(py::dtype::of<int32_t>())) throw py::type_error(op + ": 'idx' must be int32");
  check_shape(op, "idx", idx, {s.N, s.OH, s.OW, s.C});
  check_contiguous(op, "idx", idx);
  if (s.H * s.W >= (int64_t(1) << 31)) fail(op, "the image is too large for int32 indices");
  const int32_t* id = static_cast<const int32_t*>(idx.data());
  py::array dx = out_or_new(op, py::none(), d, {s.N, s.H, s.W, s.C});
  int64_t bad = -1;
  {
    py::gil_scoped_release nogil;
    // The kernel checks idx as it scatters (never writing outside dx); only when it
    // reports a bad entry is idx searched again, for the message.
    const bool ok = d == DType::F32 ? ember::maxpool2d_backward<float>(mptr<float>(dx), cptr<float>(dy), id, s)
                                    : ember::maxpool2d_backward<double>(mptr<double>(dx), cptr<double>(dy), id, s);
    if (!ok) bad = ember::maxpool2d_bad_index(id, s);
  }
  if (bad >= 0) {
    const int64_t c = bad % s.C, o = bad / s.C, ow = o % s.OW, oh = (o / s.OW) % s.OH, n = o / (s.OW * s.OH);
    fail(op, "'idx' must hold, for each output, -1 or the cell ih * W + iw of its pooling window (as "
             "max_pool2d_forward returns). Received: idx[" + std::to_string(n) + ", " + std::to_string(oh) + ", " +
             std::to_string(ow) + ", " + std::to_string(c) + "] = " + std::to_string(id[bad]) +
             " for x_shape=" + vec_str(xshape));
  }
  return dx;
}

py::array avgpool2d_forward_py(py::array x, std::vector<int64_t> pool, std::vector<int64_t> strides,
                               std::vector<int64_t> pads, bool count_pad) {
  const std::string op = "avg_pool2d";
  DType d = float_dtype(op, "x", x);
  check_ndim(op, "x", x, 4);
  check_contiguous(op, "x", x);
  const ember::PoolShape s = pool_shape(op, x.shape(0), x.shape(1), x.shape(2), x.shape(3), pool, strides, pads, shape_str(x));
  py::array y = out_or_new(op, py::none(), d, {s.N, s.OH, s.OW, s.C});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32) ember::avgpool2d_forward<float>(mptr<float>(y), cptr<float>(x), s, count_pad);
    else ember::avgpool2d_forward<double>(mptr<double>(y), cptr<double>(x), s, count_pad);
  }
  return y;
}

py::array avgpool2d_backward_py(py::array dy, std::vector<int64_t> xshape, std::vector<int64_t> pool,
                                std::vector<int64_t> strides, std::vector<int64_t> pads, bool count_pad) {
  const std::string op = "avg_pool2d_backward";
  DType d = float_dtype(op, "dy", dy);
  check_x_shape(op, xshape);
  const ember::PoolShape s = pool_shape(op, xshape[0], xshape[1], xshape[2], xshape[3], pool, strides, pads, vec_str(xshape));
  check_shape(op, "dy", dy, {s.N, s.OH, s.OW, s.C});
  check_contiguous(op, "dy", dy);
  py::array dx = out_or_new(op, py::none(), d, {s.N, s.H, s.W, s.C});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32) ember::avgpool2d_backward<float>(mptr<float>(dx), cptr<float>(dy), s, count_pad);
    else ember::avgpool2d_backward<double>(mptr<double>(dx), cptr<double>(dy), s, count_pad);
  }
  return dx;
}

// (end pool)

// ---------------------------------------------------------------------------------
// conv + max pool (fused)
// ---------------------------------------------------------------------------------

// The pooling of the conv output (N, OH, OW, OC) that conv shape s gives.
ember::PoolShape conv_pool_shape(const std::string& op, const py::array& x, const ember::ConvShape& s,
                                 const std::vector<int64_t>& pool, const std::vector<int64_t>& pstrides,
                                 const std::vector<int64_t>& ppads) {
  const ember::PoolShape ps = pool_shape(op, s.N, s.OH, s.OW, s.OC, pool, pstrides, ppads,
                                         shape_str(x) + " (conv output " + vec_str(std::vector<int64_t>{
                                                                              s.N, s.OH, s.OW, s.OC}) + ")");
  if (s.OH * s.OW >= (int64_t(1) << 31)) fail(op, "the conv output is too large for int32 indices");
  return ps;
}

py::tuple conv2d_maxpool2d_forward_py(py::array x, py::array w, py::object b, std::vector<int64_t> strides,
                                      std::vector<int64_t> pads, std::vector<int64_t> dil, int64_t groups, int act,
                                      std::vector<int64_t> pool, std::vector<int64_t> pool_strides,
                                      std::vector<int64_t> pool_pads) {
  const std::string op = "conv2d_max_pool2d";
  DType d;
  const ember::ConvShape s = conv_inputs(op, x, w, strides, pads, dil, groups, d);
  std::optional<py::array> bias = opt_array(op, "b", b, d, {s.OC});
  if (act != 0 && act != 1) fail(op, "act must be 0 (none) or 1 (relu). Received: act=" + std::to_string(act));
  const ember::PoolShape ps = conv_pool_shape(op, x, s, pool, pool_strides, pool_pads);
  py::array y = out_or_new(op, py::none(), d, {s.N, ps.OH, ps.OW, s.OC});
  py::array_t<int32_t> idx(std::vector<py::ssize_t>{s.N, ps.OH, ps.OW, s.OC});
  auto run = [&](auto tag) {
    using T = decltype(tag);
    T* py_ = mptr<T>(y);
    int32_t* pi = idx.mutable_data();
    const T *px = cptr<T>(x), *pw = cptr<T>(w), *pb = opt_cptr<T>(bias);
    py::gil_scoped_release nogil;
    ember::conv2d_maxpool2d_forward<T>(py_, pi, px, pw, pb, s, ps, act);
  };
  if (d == DType::F32) run(float());
  else run(double());
  return py::make_tuple(y, idx);
}

py::tuple conv2d_maxpool2d_backward_py(py::array x, py::array w, py::array dy, py::array idx,
                                       std::vector<int64_t> strides, std::vector<int64_t> pads,
                                       std::vector<int64_t> dil, int64_t groups, std::vector<int64_t> pool,
                                       std::vector<int64_t> pool_strides, std::vector<int64_t> pool_pads,
                                       bool need_dx, bool need_dw, bool need_db) {
  const std::string op = "conv2d_max_pool2d_backward";
  DType d;
  const ember::ConvShape s = conv_inputs(op, x, w, strides, pads, dil, groups, d);
  const ember::PoolShape ps = conv_pool_shape(op, x, s, pool, pool_strides, pool_pads);
  const std::vector<int64_t> yshape{s.N, ps.OH, ps.OW, s.OC};
  req_array(op, "dy", dy, d, yshape);
  if (!idx.dtype().is(py::dtype::of<int32_t>()))
    throw py::type_error(op + ": 'idx' must be int32. Received: dtype=" + std::string(py::str(idx.dtype())));
  check_shape(op, "idx", idx, yshape);
  check_contiguous(op, "idx", idx);
  const ConvGrads gr(op, d, s, need_dx, need_dw, need_db);
  void *pdx = gr.ptr(gr.dx), *pdw = gr.ptr(gr.dw), *pdb = gr.ptr(gr.db);
  const int32_t* id = static_cast<const int32_t*>(idx.data());
  int64_t bad = -1;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T *px = cptr<T>(x), *pw = cptr<T>(w), *pg = cptr<T>(dy);
    py::gil_scoped_release nogil;
    if (!ember::conv2d_maxpool2d_backward<T>(static_cast<T*>(pdx), static_cast<T*>(pdw), static_cast<T*>(pdb), px,
                                             pw, pg, id, s, ps))
      bad = ember::maxpool2d_bad_index(id, ps);
  };
  if (d == DType::F32) run(float());
  else run(double());
  if (bad >= 0) {
    const int64_t c = bad % s.OC, o = bad / s.OC, ow = o % ps.OW, oh = (o / ps.OW) % ps.OH, n = o / (ps.OW * ps.OH);
    fail(op, "'idx' must hold, for each output, -1 or the conv-output cell oh * OW + ow of its pooling window (as "
             "conv2d_max_pool2d_forward returns). Received: idx[" + std::to_string(n) + ", " + std::to_string(oh) +
             ", " + std::to_string(ow) + ", " + std::to_string(c) + "] = " + std::to_string(id[bad]));
  }
  return py::make_tuple(gr.dx, gr.dw, gr.db);
}

// (end conv + max pool)

// ---------------------------------------------------------------------------------
// batchnorm
// ---------------------------------------------------------------------------------

py::tuple batchnorm_forward_train_py(py::array x, py::object gamma, py::object beta, py::object rmean,
                                     py::object rvar, double eps, double momentum) {
  const std::string op = "batch_norm";
  DType d = float_dtype(op, "x", x);
  check_ndim(op, "x", x, 2);
  check_contiguous(op, "x", x);
  const int64_t M = x.shape(0), C = x.shape(1);
  auto g = opt_array(op, "gamma", gamma, d, {C}), b = opt_array(op, "beta", beta, d, {C});
  auto rm = opt_array(op, "running_mean", rmean, d, {C}), rv = opt_array(op, "running_var", rvar, d, {C});
  // The running statistics are updated in place: writeable, and apart from each other and
  // from the operands the kernel reads.
  std::vector<Named> written, read{{"x", &x}};
  if (rm) { check_writeable(op, "running_mean", *rm); written.push_back({"running_mean", &*rm}); }
  if (rv) { check_writeable(op, "running_var", *rv); written.push_back({"running_var", &*rv}); }
  if (g) read.push_back({"gamma", &*g});
  if (b) read.push_back({"beta", &*b});
  check_no_overlap(op, written, read);
  py::array y = out_or_new(op, py::none(), d, {M, C});
  py::array mean = out_or_new(op, py::none(), d, {C}), inv = out_or_new(op, py::none(), d, {C});
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T *pg = opt_cptr<T>(g), *pb = opt_cptr<T>(b);
    T *prm = opt_mptr<T>(rm), *prv = opt_mptr<T>(rv);
    py::gil_scoped_release nogil;
    ember::batchnorm_forward_train<T>(mptr<T>(y), mptr<T>(mean), mptr<T>(inv), prm, prv, cptr<T>(x), pg, pb, M, C,
                                      eps, momentum);
  };
  if (d == DType::F32) run(float());
  else run(double());
  return py::make_tuple(y, mean, inv);
}

py::array batchnorm_forward_infer_py(py::array x, py::object gamma, py::object beta, py::array rmean,
                                     py::array rvar, double eps) {
  const std::string op = "batch_norm";
  DType d = float_dtype(op, "x", x);
  check_ndim(op, "x", x, 2);
  check_contiguous(op, "x", x);
  const int64_t M = x.shape(0), C = x.shape(1);
  auto g = opt_array(op, "gamma", gamma, d, {C}), b = opt_array(op, "beta", beta, d, {C});
  py::array rm = req_array(op, "running_mean", rmean, d, {C}), rv = req_array(op, "running_var", rvar, d, {C});
  py::array y = out_or_new(op, py::none(), d, {M, C});
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T *pg = opt_cptr<T>(g), *pb = opt_cptr<T>(b);
    py::gil_scoped_release nogil;
    ember::batchnorm_forward_infer<T>(mptr<T>(y), cptr<T>(x), pg, pb, cptr<T>(rm), cptr<T>(rv), M, C, eps);
  };
  if (d == DType::F32) run(float());
  else run(double());
  return y;
}

py::tuple batchnorm_backward_train_py(py::array dy, py::array x, py::object gamma, py::array mean, py::array invstd,
                                      bool need_dx) {
  const std::string op = "batch_norm_backward";
  DType d = float_dtype(op, "x", x);
  check_ndim(op, "x", x, 2);
  check_contiguous(op, "x", x);
  const int64_t M = x.shape(0), C = x.shape(1);
  same_dtype(op, "dy", dy, d);
  check_shape(op, "dy", dy, {M, C});
  check_contiguous(op, "dy", dy);
  auto g = opt_array(op, "gamma", gamma, d, {C});
  py::array mu = req_array(op, "mean", mean, d, {C}), is = req_array(op, "invstd", invstd, d, {C});
  std::optional<py::array> dxa;
  if (need_dx) dxa = out_or_new(op, py::none(), d, {M, C});
  py::array dg = out_or_new(op, py::none(), d, {C}), db = out_or_new(op, py::none(), d, {C});
  py::object dx = dxa ? py::object(*dxa) : py::object(py::none());
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* pg = opt_cptr<T>(g);
    T* pdx = opt_mptr<T>(dxa);
    py::gil_scoped_release nogil;
    ember::batchnorm_backward_train<T>(pdx, mptr<T>(dg), mptr<T>(db), cptr<T>(dy), cptr<T>(x), pg, cptr<T>(mu),
                                       cptr<T>(is), M, C);
  };
  if (d == DType::F32) run(float());
  else run(double());
  return py::make_tuple(dx, dg, db);
}

// (end batchnorm)

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", &conv2d_forward_py, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("strides"),
        py::arg("pads"), py::arg("dilation"), py::arg("groups"), py::arg("act") = 0, py::arg("out") = py::none(),
        "NHWC conv2d: x (N,H,W,C), w (KH,KW,C/G,OC), b (OC,) or None, pads (top,bottom,left,right); act 1 = relu");
  m.def("conv2d_backward", &conv2d_backward_py, py::arg("x"), py::arg("w"), py::arg("dy"), py::arg("y"),
        py::arg("strides"), py::arg("pads"), py::arg("dilation"), py::arg("groups"), py::arg("act"),
        py::arg("need_dx"), py::arg("need_dw"), py::arg("need_db"),
        "(dx, dw, db) of conv2d_forward (None where not needed); y: the forward output when act=1");
  m.def("conv2d_naive", &conv2d_naive_py, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("strides"),
        py::arg("pads"), py::arg("dilation"), py::arg("groups"), "the direct seven-loop conv2d (test oracle)");
  m.def("max_pool2d_forward", &maxpool2d_forward_py, py::arg("x"), py::arg("pool"), py::arg("strides"), py::arg("pads"),
        "NHWC max pooling: (y, argmax int32 ih*W+iw)");
  m.def("max_pool2d_backward", &maxpool2d_backward_py, py::arg("dy"), py::arg("idx"), py::arg("x_shape"),
        py::arg("pool"), py::arg("strides"), py::arg("pads"));
  m.def("conv2d_max_pool2d_forward", &conv2d_maxpool2d_forward_py, py::arg("x"), py::arg("w"), py::arg("b"),
        py::arg("strides"), py::arg("pads"), py::arg("dilation"), py::arg("groups"), py::arg("act"), py::arg("pool"),
        py::arg("pool_strides"), py::arg("pool_pads"),
        "conv2d_forward then max_pool2d_forward of its output in one pass: (y, argmax int32 oh*OW+ow of the conv "
        "output; with act=1, -1 where y is a ReLU zero)");
  m.def("conv2d_max_pool2d_backward", &conv2d_maxpool2d_backward_py, py::arg("x"), py::arg("w"), py::arg("dy"),
        py::arg("idx"), py::arg("strides"), py::arg("pads"), py::arg("dilation"), py::arg("groups"), py::arg("pool"),
        py::arg("pool_strides"), py::arg("pool_pads"), py::arg("need_dx"), py::arg("need_dw"), py::arg("need_db"),
        "(dx, dw, db) of conv2d_max_pool2d_forward (None where not needed) from its idx (which holds the ReLU mask)");
  m.def("avg_pool2d_forward", &avgpool2d_forward_py, py::arg("x"), py::arg("pool"), py::arg("strides"), py::arg("pads"),
        py::arg("count_pad") = false);
  m.def("avg_pool2d_backward", &avgpool2d_backward_py, py::arg("dy"), py::arg("x_shape"), py::arg("pool"),
        py::arg("strides"), py::arg("pads"), py::arg("count_pad") = false);
  m.def("batch_norm_forward_train", &batchnorm_forward_train_py, py::arg("x"), py::arg("gamma"), py::arg("beta"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("eps"), py::arg("momentum"),
        "x (M, C): (y, mean, invstd); running stats updated in place");
  m.def("batch_norm_forward_infer", &batchnorm_forward_infer_py, py::arg("x"), py::arg("gamma"), py::arg("beta"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("eps"));
  m.def("batch_norm_backward_train", &batchnorm_backward_train_py, py::arg("dy"), py::arg("x"), py::arg("gamma"),
        py::arg("mean"), py::arg("invstd"), py::arg("need_dx") = true, "(dx or None, dgamma, dbeta)");
}

}  // namespace ember_py
