// bindings.cpp — the one place that knows Python.
//
// Every binding validates its arguments (ndim, shapes, dtype, contiguity) and raises
// ValueError/TypeError naming the op and the shapes it received, then releases the GIL
// around the kernel. Kernels in the other files never see a Python object.
//
// Sections, one per kernel family, in the order of csrc/: keep each family's bindings
// inside its own section so parallel work on different families merges cleanly.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "batchnorm.h"
#include "conv.h"
#include "cpu.h"
#include "elementwise.h"
#include "gemm.h"
#include "parallel.h"
#include "pool.h"
#include "softmax.h"
#include "attention.h"
#include "rnn.h"
#include "layernorm.h"

namespace py = pybind11;

namespace {

// ---------------------------------------------------------------------------------
// Validation helpers (shared by every section)
// ---------------------------------------------------------------------------------

std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  if (a.ndim() == 1) s << ",";
  s << ")";
  return s.str();
}

[[noreturn]] void fail(const std::string& op, const std::string& msg) {
  throw py::value_error(op + ": " + msg);
}

enum class DType { F32, F64 };

DType float_dtype(const std::string& op, const char* name, const py::array& a) {
  if (a.dtype().is(py::dtype::of<float>())) return DType::F32;
  if (a.dtype().is(py::dtype::of<double>())) return DType::F64;
  throw py::type_error(op + ": '" + name + "' must be float32 or float64. Received: dtype=" +
                       std::string(py::str(a.dtype())) + ", shape=" + shape_str(a));
}

void same_dtype(const std::string& op, const char* name, const py::array& a, DType d) {
  if (float_dtype(op, name, a) != d)
    throw py::type_error(op + ": '" + name + "' has dtype " + std::string(py::str(a.dtype())) +
                         " but the other operands are " + (d == DType::F32 ? "float32" : "float64"));
}

void check_ndim(const std::string& op, const char* name, const py::array& a, int ndim) {
  if (a.ndim() != ndim)
    fail(op, std::string("'") + name + "' must be " + std::to_string(ndim) + "-D. Received: shape=" + shape_str(a));
}

void check_contiguous(const std::string& op, const char* name, const py::array& a) {
  if (!(a.flags() & py::array::c_style))
    fail(op, std::string("'") + name + "' must be C-contiguous. Received: shape=" + shape_str(a));
}

void check_writeable(const std::string& op, const char* name, const py::array& a) {
  if (!a.writeable()) fail(op, std::string("'") + name + "' must be writeable");
}

void check_shape(const std::string& op, const char* name, const py::array& a,
                 const std::vector<int64_t>& want) {
  bool ok = a.ndim() == py::ssize_t(want.size());
  for (size_t i = 0; ok && i < want.size(); ++i) ok = a.shape(i) == want[i];
  if (!ok) {
    std::ostringstream s;
    s << "'" << name << "' must have shape (";
    for (size_t i = 0; i < want.size(); ++i) s << (i ? ", " : "") << want[i];
    s << (want.size() == 1 ? ",)" : ")") << ". Received: shape=" << shape_str(a);
    fail(op, s.str());
  }
}

template <typename T>
const T* cptr(const py::array& a) { return static_cast<const T*>(a.data()); }
template <typename T>
T* mptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }

// A C-contiguous array of `shape` and dtype `d`: `out` when given (checked), else new.
py::array out_or_new(const std::string& op, const py::object& out, DType d,
                     const std::vector<int64_t>& shape) {
  if (!out.is_none()) {
    py::array o = py::reinterpret_borrow<py::array>(out);
    same_dtype(op, "out", o, d);
    check_shape(op, "out", o, shape);
    check_contiguous(op, "out", o);
    check_writeable(op, "out", o);
    return o;
  }
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  if (d == DType::F32) return py::array_t<float>(s);
  return py::array_t<double>(s);
}

// ---------------------------------------------------------------------------------
// gemm
// ---------------------------------------------------------------------------------

// A 2-D operand as the GEMM sees it: base pointer, transpose flag and leading dimension.
// Row-major views with unit inner stride pass as they are; column-major views (a .T of a
// contiguous array) pass with the transpose flag flipped; anything else is copied.
struct MatView {
  py::array keep;  // owns a copy when one was needed
  const void* data;
  bool trans;
  int64_t ld;
};

MatView mat_view(const py::array& a, bool trans, const std::string& op, const char* name) {
  const int64_t isz = a.itemsize();
  const int64_t r = a.shape(0), c = a.shape(1);
  const int64_t s0 = a.strides(0), s1 = a.strides(1);
  if ((s1 == isz || c == 1) && s0 % isz == 0 && s0 / isz >= std::max<int64_t>(c, 1))
    return {a, a.data(), trans, s0 / isz};
  if ((s0 == isz || r == 1) && s1 % isz == 0 && s1 / isz >= std::max<int64_t>(r, 1))
    return {a, a.data(), !trans, s1 / isz};
  py::array copy = py::array::ensure(a, py::array::c_style | py::array::forcecast);
  if (!copy) fail(op, std::string("could not make '") + name + "' contiguous");
  return {copy, copy.data(), trans, std::max<int64_t>(c, 1)};
}

py::array gemm_py(py::array a, py::array b, bool trans_a, bool trans_b, double alpha,
                  double beta, py::object out) {
  const std::string op = "gemm";
  check_ndim(op, "a", a, 2);
  check_ndim(op, "b", b, 2);
  DType d = float_dtype(op, "a", a);
  same_dtype(op, "b", b, d);
  const int64_t M = trans_a ? a.shape(1) : a.shape(0), K = trans_a ? a.shape(0) : a.shape(1);
  const int64_t Kb = trans_b ? b.shape(1) : b.shape(0), N = trans_b ? b.shape(0) : b.shape(1);
  if (K != Kb)
    fail(op, "inner dimensions differ: op(a) is (" + std::to_string(M) + ", " + std::to_string(K) +
                 ") and op(b) is (" + std::to_string(Kb) + ", " + std::to_string(N) +
                 "). Received: a.shape=" + shape_str(a) + ", b.shape=" + shape_str(b) +
                 ", trans_a=" + (trans_a ? "True" : "False") + ", trans_b=" + (trans_b ? "True" : "False"));
  if (beta != 0.0 && out.is_none()) fail(op, "beta != 0 needs 'out' (the C it scales)");
  py::array c = out_or_new(op, out, d, {M, N});
  MatView va = mat_view(a, trans_a, op, "a"), vb = mat_view(b, trans_b, op, "b");
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::sgemm(va.trans, vb.trans, M, N, K, float(alpha), static_cast<const float*>(va.data), va.ld,
                   static_cast<const float*>(vb.data), vb.ld, float(beta), mptr<float>(c), std::max<int64_t>(N, 1));
    else
      ember::dgemm(va.trans, vb.trans, M, N, K, alpha, static_cast<const double*>(va.data), va.ld,
                   static_cast<const double*>(vb.data), vb.ld, beta, mptr<double>(c), std::max<int64_t>(N, 1));
  }
  return c;
}

// Batched: a (B, M, K) [or (B, K, M) with trans_a], b likewise; the batch dimension may be
// 1 on either side (broadcast). Each matrix must have unit inner stride or unit row stride
// (the same rule as gemm); otherwise the operand is copied.
py::array gemm_batched_py(py::array a, py::array b, bool trans_a, bool trans_b, double alpha,
                          py::object out) {
  const std::string op = "gemm_batched";
  check_ndim(op, "a", a, 3);
  check_ndim(op, "b", b, 3);
  DType d = float_dtype(op, "a", a);
  same_dtype(op, "b", b, d);
  const int64_t Ba = a.shape(0), Bb = b.shape(0);
  if (Ba != Bb && Ba != 1 && Bb != 1)
    fail(op, "batch sizes differ. Received: a.shape=" + shape_str(a) + ", b.shape=" + shape_str(b));
  const int64_t batch = std::max(Ba, Bb);
  const int64_t M = trans_a ? a.shape(2) : a.shape(1), K = trans_a ? a.shape(1) : a.shape(2);
  const int64_t Kb = trans_b ? b.shape(2) : b.shape(1), N = trans_b ? b.shape(1) : b.shape(2);
  if (K != Kb)
    fail(op, "inner dimensions differ. Received: a.shape=" + shape_str(a) + ", b.shape=" + shape_str(b));
  py::array c = out_or_new(op, out, d, {batch, M, N});
  auto prep = [&](py::array x, bool t, int64_t& ld, int64_t& bs, bool& tt) -> py::array {
    const int64_t isz = x.itemsize();
    const int64_t r = x.shape(1), cc = x.shape(2);
    const int64_t s0 = x.strides(0), s1 = x.strides(1), s2 = x.strides(2);
    bool ok0 = s0 % isz == 0 && (s0 >= 0);
    if (ok0 && (s2 == isz || cc == 1) && s1 % isz == 0 && s1 / isz >= std::max<int64_t>(cc, 1)) {
      ld = s1 / isz; tt = t; bs = x.shape(0) == 1 ? 0 : s0 / isz; return x;
    }
    if (ok0 && (s1 == isz || r == 1) && s2 % isz == 0 && s2 / isz >= std::max<int64_t>(r, 1)) {
      ld = s2 / isz; tt = !t; bs = x.shape(0) == 1 ? 0 : s0 / isz; return x;
    }
    py::array y = py::array::ensure(x, py::array::c_style | py::array::forcecast);
    ld = std::max<int64_t>(cc, 1); tt = t; bs = x.shape(0) == 1 ? 0 : r * cc; return y;
  };
  int64_t lda, ldb, sa, sb;
  bool ta, tb;
  py::array ka = prep(a, trans_a, lda, sa, ta), kb = prep(b, trans_b, ldb, sb, tb);
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::sgemm_batched(ta, tb, batch, M, N, K, float(alpha), cptr<float>(ka), lda, sa, cptr<float>(kb), ldb, sb,
                           0.0f, mptr<float>(c), std::max<int64_t>(N, 1), M * N);
    else
      ember::dgemm_batched(ta, tb, batch, M, N, K, alpha, cptr<double>(ka), lda, sa, cptr<double>(kb), ldb, sb,
                           0.0, mptr<double>(c), std::max<int64_t>(N, 1), M * N);
  }
  return c;
}

// ---------------------------------------------------------------------------------
// elementwise (fused activations, optimizer updates)
// ---------------------------------------------------------------------------------

const char* act_name(int act) {
  static const char* names[] = {"linear", "relu", "sigmoid", "tanh", "gelu", "leaky_relu"};
  return act >= 0 && act <= 5 ? names[act] : "?";
}

void check_act(const std::string& op, int act) {
  if (act < 0 || act > 5)
    fail(op, "activation code must be 0..5 (linear, relu, sigmoid, tanh, gelu, leaky_relu). Received: " +
                 std::to_string(act));
}

// Optional operands travel as py::object: None -> nullptr. (A default-constructed py::array is
// an empty array, not a null handle, so it cannot stand for "absent".)
template <typename T>
const T* opt_cptr(const py::object& o) {
  return o.is_none() ? nullptr : static_cast<const T*>(py::reinterpret_borrow<py::array>(o).data());
}
template <typename T>
T* opt_mptr(const py::object& o) {
  if (o.is_none()) return nullptr;
  py::array a = py::reinterpret_borrow<py::array>(o);
  return static_cast<T*>(a.mutable_data());
}

// x (rows, cols), b (cols,) or None -> y = act(x + b); `out` may be x itself (in place).
py::array bias_act_forward_py(py::array x, py::object b, int act, double alpha, py::object out, bool naive) {
  const std::string op = std::string("bias_act_forward[") + act_name(act) + "]";
  check_act(op, act);
  check_ndim(op, "x", x, 2);
  check_contiguous(op, "x", x);
  DType d = float_dtype(op, "x", x);
  const int64_t rows = x.shape(0), cols = x.shape(1);
  if (!b.is_none()) {
    py::array bb = py::reinterpret_borrow<py::array>(b);
    same_dtype(op, "b", bb, d);
    check_shape(op, "b", bb, {cols});
    check_contiguous(op, "b", bb);
  }
  py::array y = out_or_new(op, out, d, {rows, cols});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32) {
      auto f = naive ? &ember::bias_act_forward_naive<float> : &ember::bias_act_forward<float>;
      f(mptr<float>(y), cptr<float>(x), opt_cptr<float>(b), rows, cols, act, alpha);
    } else {
      auto f = naive ? &ember::bias_act_forward_naive<double> : &ember::bias_act_forward<double>;
      f(mptr<double>(y), cptr<double>(x), opt_cptr<double>(b), rows, cols, act, alpha);
    }
  }
  return y;
}

// dy, y (rows, cols); x (rows, cols) and b (cols,) are read only for gelu (x needed then).
// Returns (dx, db) with db None unless need_db.
py::tuple bias_act_backward_py(py::array dy, py::object y, py::object x, py::object b, int act, double alpha,
                               bool need_db, bool naive) {
  const std::string op = std::string("bias_act_backward[") + act_name(act) + "]";
  check_act(op, act);
  check_ndim(op, "dy", dy, 2);
  check_contiguous(op, "dy", dy);
  DType d = float_dtype(op, "dy", dy);
  const int64_t rows = dy.shape(0), cols = dy.shape(1);
  auto take = [&](const py::object& o, const char* name, std::vector<int64_t> shape, bool required) {
    if (o.is_none()) {
      if (required) fail(op, std::string("'") + name + "' is required for this activation");
      return;
    }
    py::array a = py::reinterpret_borrow<py::array>(o);
    same_dtype(op, name, a, d);
    check_shape(op, name, a, shape);
    check_contiguous(op, name, a);
  };
  const bool gelu = act == ember::kGelu;
  take(y, "y", {rows, cols}, !gelu && act != ember::kLinear);
  take(x, "x", {rows, cols}, gelu);
  take(b, "b", {cols}, false);
  py::array dx = out_or_new(op, py::none(), d, {rows, cols});
  py::object db = py::none();
  py::array dba;
  if (need_db) {
    dba = out_or_new(op, py::none(), d, {cols});
    db = dba;
  }
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32) {
      auto f = naive ? &ember::bias_act_backward_naive<float> : &ember::bias_act_backward<float>;
      f(mptr<float>(dx), need_db ? mptr<float>(dba) : nullptr, cptr<float>(dy), opt_cptr<float>(y),
        opt_cptr<float>(x), opt_cptr<float>(b), rows, cols, act, alpha);
    } else {
      auto f = naive ? &ember::bias_act_backward_naive<double> : &ember::bias_act_backward<double>;
      f(mptr<double>(dx), need_db ? mptr<double>(dba) : nullptr, cptr<double>(dy), opt_cptr<double>(y),
        opt_cptr<double>(x), opt_cptr<double>(b), rows, cols, act, alpha);
    }
  }
  return py::make_tuple(dx, db);
}

// Optimizer state arrays: same dtype, same size as the parameter, C-contiguous, writeable.
struct UpdateArgs {
  DType d;
  int64_t n;
};

UpdateArgs check_update(const std::string& op, py::array& p, const py::array& g) {
  DType d = float_dtype(op, "param", p);
  check_contiguous(op, "param", p);
  check_writeable(op, "param", p);
  same_dtype(op, "grad", g, d);
  check_contiguous(op, "grad", g);
  if (g.size() != p.size())
    fail(op, "'grad' has shape " + shape_str(g) + " but 'param' has shape " + shape_str(p));
  return {d, int64_t(p.size())};
}

void slot(const std::string& op, const char* name, const py::object& o, const py::array& p, DType d,
          bool required) {
  if (o.is_none()) {
    if (required) fail(op, std::string("state '") + name + "' is required");
    return;
  }
  py::array a = py::reinterpret_borrow<py::array>(o);
  same_dtype(op, name, a, d);
  check_contiguous(op, name, a);
  check_writeable(op, name, a);
  if (a.size() != p.size())
    fail(op, std::string("state '") + name + "' has shape " + shape_str(a) + " but 'param' has shape " + shape_str(p));
}

void sgd_update_py(py::array p, py::array g, py::object m, double lr, double momentum, bool nesterov, double wd) {
  const std::string op = "sgd_update";
  UpdateArgs u = check_update(op, p, g);
  slot(op, "momentum", m, p, u.d, false);
  float* mf = u.d == DType::F32 ? opt_mptr<float>(m) : nullptr;
  double* md = u.d == DType::F64 ? opt_mptr<double>(m) : nullptr;
  py::gil_scoped_release nogil;
  if (u.d == DType::F32)
    ember::sgd_update<float>(mptr<float>(p), mf, cptr<float>(g), u.n, lr, momentum, nesterov, wd);
  else
    ember::sgd_update<double>(mptr<double>(p), md, cptr<double>(g), u.n, lr, momentum, nesterov, wd);
}

void adam_update_py(py::array p, py::array g, py::object m, py::object v, py::object vhat, double lr, double lr_t,
                    double beta1, double beta2, double eps, double wd) {
  const std::string op = "adam_update";
  UpdateArgs u = check_update(op, p, g);
  slot(op, "m", m, p, u.d, true);
  slot(op, "v", v, p, u.d, true);
  slot(op, "vhat", vhat, p, u.d, false);
  if (u.d == DType::F32) {
    float *mp = opt_mptr<float>(m), *vp = opt_mptr<float>(v), *hp = opt_mptr<float>(vhat);
    py::gil_scoped_release nogil;
    ember::adam_update<float>(mptr<float>(p), mp, vp, hp, cptr<float>(g), u.n, lr, lr_t, beta1, beta2, eps, wd);
  } else {
    double *mp = opt_mptr<double>(m), *vp = opt_mptr<double>(v), *hp = opt_mptr<double>(vhat);
    py::gil_scoped_release nogil;
    ember::adam_update<double>(mptr<double>(p), mp, vp, hp, cptr<double>(g), u.n, lr, lr_t, beta1, beta2, eps, wd);
  }
}

void rmsprop_update_py(py::array p, py::array g, py::object v, py::object mom, py::object avg, double lr,
                       double rho, double momentum, double eps, double wd) {
  const std::string op = "rmsprop_update";
  UpdateArgs u = check_update(op, p, g);
  slot(op, "v", v, p, u.d, true);
  slot(op, "momentum", mom, p, u.d, false);
  slot(op, "average_grad", avg, p, u.d, false);
  if (u.d == DType::F32) {
    float *vp = opt_mptr<float>(v), *mp = opt_mptr<float>(mom), *ap = opt_mptr<float>(avg);
    py::gil_scoped_release nogil;
    ember::rmsprop_update<float>(mptr<float>(p), vp, mp, ap, cptr<float>(g), u.n, lr, rho, momentum, eps, wd);
  } else {
    double *vp = opt_mptr<double>(v), *mp = opt_mptr<double>(mom), *ap = opt_mptr<double>(avg);
    py::gil_scoped_release nogil;
    ember::rmsprop_update<double>(mptr<double>(p), vp, mp, ap, cptr<double>(g), u.n, lr, rho, momentum, eps, wd);
  }
}

// (end elementwise)

// ---------------------------------------------------------------------------------
// conv
// ---------------------------------------------------------------------------------

// A float array argument that may be None; checked against dtype d and shape `want`.
py::array opt_array(const std::string& op, const char* name, const py::object& o, DType d,
                    const std::vector<int64_t>& want) {
  if (o.is_none()) return py::array();
  py::array a = py::reinterpret_borrow<py::array>(o);
  same_dtype(op, name, a, d);
  check_shape(op, name, a, want);
  check_contiguous(op, name, a);
  return a;
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
  if (strides.size() != 2 || strides[0] < 1 || strides[1] < 1)
    fail(op, "strides must be two integers >= 1. Received: strides=" + vec_str(strides));
  if (pads.size() != 4 || *std::min_element(pads.begin(), pads.end()) < 0)
    fail(op, "padding must be four integers >= 0 (top, bottom, left, right). Received: padding=" + vec_str(pads));
  if (dil.size() != 2 || dil[0] < 1 || dil[1] < 1)
    fail(op, "dilation must be two integers >= 1. Received: dilation=" + vec_str(dil));
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
  if (groups < 1 || s.C % groups != 0 || s.OC % groups != 0)
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

py::array conv2d_forward_py(py::array x, py::array w, py::object b, std::vector<int64_t> strides,
                            std::vector<int64_t> pads, std::vector<int64_t> dil, int64_t groups, int act,
                            py::object out) {
  const std::string op = "conv2d";
  DType d = float_dtype(op, "x", x);
  same_dtype(op, "w", w, d);
  check_contiguous(op, "x", x);
  check_contiguous(op, "w", w);
  const ember::ConvShape s = conv_shape(op, x, w, strides, pads, dil, groups);
  py::array bias = opt_array(op, "b", b, d, {s.OC});
  if (act != 0 && act != 1) fail(op, "act must be 0 (none) or 1 (relu)");
  py::array y = out_or_new(op, out, d, {s.N, s.OH, s.OW, s.OC});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::conv2d_forward<float>(mptr<float>(y), cptr<float>(x), cptr<float>(w),
                                   b.is_none() ? nullptr : cptr<float>(bias), s, act);
    else
      ember::conv2d_forward<double>(mptr<double>(y), cptr<double>(x), cptr<double>(w),
                                    b.is_none() ? nullptr : cptr<double>(bias), s, act);
  }
  return y;
}

py::tuple conv2d_backward_py(py::array x, py::array w, py::array dy, py::object y, std::vector<int64_t> strides,
                             std::vector<int64_t> pads, std::vector<int64_t> dil, int64_t groups, int act,
                             bool need_dx, bool need_dw, bool need_db) {
  const std::string op = "conv2d_backward";
  DType d = float_dtype(op, "x", x);
  same_dtype(op, "w", w, d);
  same_dtype(op, "dy", dy, d);
  check_contiguous(op, "x", x);
  check_contiguous(op, "w", w);
  check_contiguous(op, "dy", dy);
  const ember::ConvShape s = conv_shape(op, x, w, strides, pads, dil, groups);
  check_shape(op, "dy", dy, {s.N, s.OH, s.OW, s.OC});
  py::array ya = opt_array(op, "y", y, d, {s.N, s.OH, s.OW, s.OC});
  if (act == 1 && y.is_none()) fail(op, "act=1 (relu) needs the forward output y");
  py::object dx = py::none(), dw = py::none(), db = py::none();
  if (need_dx) dx = out_or_new(op, py::none(), d, {s.N, s.H, s.W, s.C});
  if (need_dw) dw = out_or_new(op, py::none(), d, {s.KH, s.KW, s.C / s.G, s.OC});
  if (need_db) db = out_or_new(op, py::none(), d, {s.OC});
  auto ptr = [](py::object& o) -> void* { return o.is_none() ? nullptr : py::reinterpret_borrow<py::array>(o).mutable_data(); };
  void *pdx = ptr(dx), *pdw = ptr(dw), *pdb = ptr(db);
  const void* py_ = y.is_none() ? nullptr : ya.data();
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
  return py::make_tuple(dx, dw, db);
}

py::array conv2d_naive_py(py::array x, py::array w, py::object b, std::vector<int64_t> strides,
                          std::vector<int64_t> pads, std::vector<int64_t> dil, int64_t groups) {
  const std::string op = "conv2d_naive";
  DType d = float_dtype(op, "x", x);
  same_dtype(op, "w", w, d);
  check_contiguous(op, "x", x);
  check_contiguous(op, "w", w);
  const ember::ConvShape s = conv_shape(op, x, w, strides, pads, dil, groups);
  py::array bias = opt_array(op, "b", b, d, {s.OC});
  py::array y = out_or_new(op, py::none(), d, {s.N, s.OH, s.OW, s.OC});
  if (d == DType::F32)
    ember::conv2d_forward_naive<float>(mptr<float>(y), cptr<float>(x), cptr<float>(w),
                                       b.is_none() ? nullptr : cptr<float>(bias), s);
  else
    ember::conv2d_forward_naive<double>(mptr<double>(y), cptr<double>(x), cptr<double>(w),
                                        b.is_none() ? nullptr : cptr<double>(bias), s);
  return y;
}

// (end conv)

// ---------------------------------------------------------------------------------
// pool
// ---------------------------------------------------------------------------------

ember::PoolShape pool_shape(const std::string& op, int64_t N, int64_t H, int64_t W, int64_t C,
                            const std::vector<int64_t>& pool, const std::vector<int64_t>& strides,
                            const std::vector<int64_t>& pads, const std::string& xs) {
  if (pool.size() != 2 || pool[0] < 1 || pool[1] < 1)
    fail(op, "pool_size must be two integers >= 1. Received: pool_size=" + vec_str(pool));
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


py::tuple maxpool2d_forward_py(py::array x, std::vector<int64_t> pool, std::vector<int64_t> strides,
                               std::vector<int64_t> pads) {
  const std::string op = "max_pool2d";
  DType d = float_dtype(op, "x", x);
  check_ndim(op, "x", x, 4);
  check_contiguous(op, "x", x);
  const ember::PoolShape s = pool_shape(op, x.shape(0), x.shape(1), x.shape(2), x.shape(3), pool, strides, pads, shape_str(x));
  py::array y = out_or_new(op, py::none(), d, {s.N, s.OH, s.OW, s.C});
  py::array_t<int32_t> idx(std::vector<py::ssize_t>{s.N, s.OH, s.OW, s.C});
  if (s.H * s.W >= (int64_t(1) << 31)) fail(op, "the image is too large for int32 indices");
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
  if (xshape.size() != 4) fail(op, "x_shape must have 4 entries. Received: " + vec_str(xshape));
  const ember::PoolShape s = pool_shape(op, xshape[0], xshape[1], xshape[2], xshape[3], pool, strides, pads, vec_str(xshape));
  check_shape(op, "dy", dy, {s.N, s.OH, s.OW, s.C});
  check_contiguous(op, "dy", dy);
  if (!idx.dtype().is(py::dtype::of<int32_t>())) throw py::type_error(op + ": 'idx' must be int32");
  check_shape(op, "idx", idx, {s.N, s.OH, s.OW, s.C});
  check_contiguous(op, "idx", idx);
  py::array dx = out_or_new(op, py::none(), d, {s.N, s.H, s.W, s.C});
  {
    py::gil_scoped_release nogil;
    const int32_t* id = static_cast<const int32_t*>(idx.data());
    if (d == DType::F32) ember::maxpool2d_backward<float>(mptr<float>(dx), cptr<float>(dy), id, s);
    else ember::maxpool2d_backward<double>(mptr<double>(dx), cptr<double>(dy), id, s);
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
  if (xshape.size() != 4) fail(op, "x_shape must have 4 entries. Received: " + vec_str(xshape));
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
// batchnorm
// ---------------------------------------------------------------------------------

py::tuple batchnorm_forward_train_py(py::array x, py::object gamma, py::object beta, py::object rmean,
                                     py::object rvar, double eps, double momentum) {
  const std::string op = "batch_norm";
  DType d = float_dtype(op, "x", x);
  check_ndim(op, "x", x, 2);
  check_contiguous(op, "x", x);
  const int64_t M = x.shape(0), C = x.shape(1);
  py::array g = opt_array(op, "gamma", gamma, d, {C}), b = opt_array(op, "beta", beta, d, {C});
  py::array rm = opt_array(op, "running_mean", rmean, d, {C}), rv = opt_array(op, "running_var", rvar, d, {C});
  if (!rmean.is_none()) check_writeable(op, "running_mean", rm);
  if (!rvar.is_none()) check_writeable(op, "running_var", rv);
  py::array y = out_or_new(op, py::none(), d, {M, C});
  py::array mean = out_or_new(op, py::none(), d, {C}), inv = out_or_new(op, py::none(), d, {C});
  auto run = [&](auto tag) {
    using T = decltype(tag);
    auto o = [](const py::object& ob, py::array& a) -> const T* { return ob.is_none() ? nullptr : cptr<T>(a); };
    auto om = [](const py::object& ob, py::array& a) -> T* { return ob.is_none() ? nullptr : mptr<T>(a); };
    const T *pg = o(gamma, g), *pb = o(beta, b);
    T *prm = om(rmean, rm), *prv = om(rvar, rv);
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
  py::array g = opt_array(op, "gamma", gamma, d, {C}), b = opt_array(op, "beta", beta, d, {C});
  py::array rm = opt_array(op, "running_mean", rmean, d, {C}), rv = opt_array(op, "running_var", rvar, d, {C});
  py::array y = out_or_new(op, py::none(), d, {M, C});
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gamma.is_none() ? nullptr : cptr<T>(g);
    const T* pb = beta.is_none() ? nullptr : cptr<T>(b);
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
  py::array g = opt_array(op, "gamma", gamma, d, {C});
  py::array mu = opt_array(op, "mean", mean, d, {C}), is = opt_array(op, "invstd", invstd, d, {C});
  py::object dx = need_dx ? py::object(out_or_new(op, py::none(), d, {M, C})) : py::none();
  py::array dg = out_or_new(op, py::none(), d, {C}), db = out_or_new(op, py::none(), d, {C});
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gamma.is_none() ? nullptr : cptr<T>(g);
    T* pdx = dx.is_none() ? nullptr : static_cast<T*>(py::reinterpret_borrow<py::array>(dx).mutable_data());
    py::gil_scoped_release nogil;
    ember::batchnorm_backward_train<T>(pdx, mptr<T>(dg), mptr<T>(db), cptr<T>(dy), cptr<T>(x), pg, cptr<T>(mu),
                                       cptr<T>(is), M, C);
  };
  if (d == DType::F32) run(float());
  else run(double());
  return py::make_tuple(dx, dg, db);
}

// (end batchnorm)

// ---------------------------------------------------------------------------------
// softmax
// ---------------------------------------------------------------------------------

// All softmax bindings take C-contiguous 2-D (rows, n) arrays; Python folds leading axes.
void check2c(const std::string& op, const char* name, const py::array& a) {
  check_ndim(op, name, a, 2);
  check_contiguous(op, name, a);
}

py::array softmax_fwd_py(py::array x, bool log) {
  const std::string op = log ? "log_softmax" : "softmax";
  check2c(op, "x", x);
  DType d = float_dtype(op, "x", x);
  const int64_t R = x.shape(0), N = x.shape(1);
  py::array y = out_or_new(op, py::none(), d, {R, N});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32) {
      if (log) ember::log_softmax_forward(mptr<float>(y), cptr<float>(x), R, N);
      else ember::softmax_forward(mptr<float>(y), cptr<float>(x), R, N);
    } else {
      if (log) ember::log_softmax_forward(mptr<double>(y), cptr<double>(x), R, N);
      else ember::softmax_forward(mptr<double>(y), cptr<double>(x), R, N);
    }
  }
  return y;
}

py::array softmax_bwd_py(py::array y, py::array dy, bool log) {
  const std::string op = log ? "log_softmax_backward" : "softmax_backward";
  check2c(op, "y", y);
  DType d = float_dtype(op, "y", y);
  same_dtype(op, "dy", dy, d);
  check_shape(op, "dy", dy, {y.shape(0), y.shape(1)});
  check_contiguous(op, "dy", dy);
  const int64_t R = y.shape(0), N = y.shape(1);
  py::array dx = out_or_new(op, py::none(), d, {R, N});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32) {
      if (log) ember::log_softmax_backward(mptr<float>(dx), cptr<float>(y), cptr<float>(dy), R, N);
      else ember::softmax_backward(mptr<float>(dx), cptr<float>(y), cptr<float>(dy), R, N);
    } else {
      if (log) ember::log_softmax_backward(mptr<double>(dx), cptr<double>(y), cptr<double>(dy), R, N);
      else ember::softmax_backward(mptr<double>(dx), cptr<double>(y), cptr<double>(dy), R, N);
    }
  }
  return dx;
}

void check_labels(const std::string& op, const py::array& labels, int64_t R, int64_t N) {
  if (!labels.dtype().is(py::dtype::of<int64_t>()))
    throw py::type_error(op + ": 'labels' must be int64. Received: dtype=" + std::string(py::str(labels.dtype())));
  check_shape(op, "labels", labels, {R});
  check_contiguous(op, "labels", labels);
  const int64_t* l = cptr<int64_t>(labels);
  for (int64_t r = 0; r < R; ++r)
    if (l[r] < 0 || l[r] >= N)
      fail(op, "label " + std::to_string(l[r]) + " at row " + std::to_string(r) + " is outside [0, " +
                   std::to_string(N) + ") for logits of shape (" + std::to_string(R) + ", " + std::to_string(N) + ")");
}

py::tuple xent_fwd_py(py::array x, py::array labels, bool sparse) {
  const std::string op = sparse ? "sparse_softmax_cross_entropy" : "softmax_cross_entropy";
  check2c(op, "logits", x);
  DType d = float_dtype(op, "logits", x);
  const int64_t R = x.shape(0), N = x.shape(1);
  if (sparse) check_labels(op, labels, R, N);
  else {
    same_dtype(op, "labels", labels, d);
    check_shape(op, "labels", labels, {R, N});
    check_contiguous(op, "labels", labels);
  }
  py::array loss = out_or_new(op, py::none(), d, {R}), lse = out_or_new(op, py::none(), d, {R});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32) {
      if (sparse) ember::sparse_xent_forward(mptr<float>(loss), mptr<float>(lse), cptr<float>(x), cptr<int64_t>(labels), R, N);
      else ember::xent_forward(mptr<float>(loss), mptr<float>(lse), cptr<float>(x), cptr<float>(labels), R, N);
    } else {
      if (sparse) ember::sparse_xent_forward(mptr<double>(loss), mptr<double>(lse), cptr<double>(x), cptr<int64_t>(labels), R, N);
      else ember::xent_forward(mptr<double>(loss), mptr<double>(lse), cptr<double>(x), cptr<double>(labels), R, N);
    }
  }
  return py::make_tuple(loss, lse);
}

py::array xent_bwd_py(py::array dloss, py::array x, py::array labels, py::array lse, bool sparse) {
  const std::string op = sparse ? "sparse_softmax_cross_entropy_backward" : "softmax_cross_entropy_backward";
  check2c(op, "logits", x);
  DType d = float_dtype(op, "logits", x);
  const int64_t R = x.shape(0), N = x.shape(1);
  for (auto* p : {&dloss, &lse}) {
    same_dtype(op, p == &dloss ? "dloss" : "lse", *p, d);
    check_shape(op, p == &dloss ? "dloss" : "lse", *p, {R});
    check_contiguous(op, p == &dloss ? "dloss" : "lse", *p);
  }
  if (sparse) check_labels(op, labels, R, N);
  else {
    same_dtype(op, "labels", labels, d);
    check_shape(op, "labels", labels, {R, N});
    check_contiguous(op, "labels", labels);
  }
  py::array dx = out_or_new(op, py::none(), d, {R, N});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32) {
      if (sparse) ember::sparse_xent_backward(mptr<float>(dx), cptr<float>(dloss), cptr<float>(x), cptr<int64_t>(labels), cptr<float>(lse), R, N);
      else ember::xent_backward(mptr<float>(dx), cptr<float>(dloss), cptr<float>(x), cptr<float>(labels), cptr<float>(lse), R, N);
    } else {
      if (sparse) ember::sparse_xent_backward(mptr<double>(dx), cptr<double>(dloss), cptr<double>(x), cptr<int64_t>(labels), cptr<double>(lse), R, N);
      else ember::xent_backward(mptr<double>(dx), cptr<double>(dloss), cptr<double>(x), cptr<double>(labels), cptr<double>(lse), R, N);
    }
  }
  return dx;
}

// (end softmax)

// ---------------------------------------------------------------------------------
// attention
// ---------------------------------------------------------------------------------

// layout "bhtd": q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv), out (B, H, Tq, Dv);
// layout "bthd": q (B, Tq, H, D), ... out (B, Tq, H, Dv) (a projection's (B, T, H*D) output
// reshaped, no transpose copy). All C-contiguous. mask None or a bool array of shape
// (B, H, Tq, Tk) with any strides (a np.broadcast_to view passes as is).
bool attn_layout(const std::string& op, const std::string& layout) {
  if (layout == "bhtd") return false;
  if (layout == "bthd") return true;
  fail(op, "layout must be 'bhtd' or 'bthd'. Received: '" + layout + "'");
}

void attn_strides(int64_t (&st)[3], bool bthd, int64_t H, int64_t T, int64_t D) {
  if (bthd) { st[0] = T * H * D; st[1] = D; st[2] = H * D; }
  else { st[0] = H * T * D; st[1] = T * D; st[2] = D; }
}

std::vector<int64_t> attn_dims(bool bthd, int64_t B, int64_t H, int64_t T, int64_t D) {
  return bthd ? std::vector<int64_t>{B, T, H, D} : std::vector<int64_t>{B, H, T, D};
}

ember::AttnShape attn_shape(const std::string& op, const py::array& q, const py::array& k, const py::array& v,
                            const py::object& mask, bool causal, bool bthd, DType& d) {
  check_ndim(op, "query", q, 4);
  check_ndim(op, "key", k, 4);
  check_ndim(op, "value", v, 4);
  d = float_dtype(op, "query", q);
  same_dtype(op, "key", k, d);
  same_dtype(op, "value", v, d);
  for (auto* a : {&q, &k, &v}) check_contiguous(op, a == &q ? "query" : a == &k ? "key" : "value", *a);
  const int ih = bthd ? 2 : 1, it = bthd ? 1 : 2;
  ember::AttnShape s{};
  s.B = q.shape(0); s.H = q.shape(ih); s.Tq = q.shape(it); s.D = q.shape(3);
  s.Tk = k.shape(it); s.Dv = v.shape(3);
  if (k.shape(0) != s.B || k.shape(ih) != s.H || k.shape(3) != s.D || v.shape(0) != s.B || v.shape(ih) != s.H ||
      v.shape(it) != s.Tk)
    fail(op, std::string("expected query ") + (bthd ? "(B, Tq, H, D), key (B, Tk, H, D), value (B, Tk, H, Dv)"
                                                      : "(B, H, Tq, D), key (B, H, Tk, D), value (B, H, Tk, Dv)") +
                 ". Received: query.shape=" + shape_str(q) + ", key.shape=" + shape_str(k) +
                 ", value.shape=" + shape_str(v));
  attn_strides(s.qs, bthd, s.H, s.Tq, s.D);
  attn_strides(s.ks, bthd, s.H, s.Tk, s.D);
  attn_strides(s.vs, bthd, s.H, s.Tk, s.Dv);
  attn_strides(s.os, bthd, s.H, s.Tq, s.Dv);
  s.causal = causal;
  s.mask = nullptr;
  if (!mask.is_none()) {
    py::array m = py::reinterpret_borrow<py::array>(mask);
    if (!m.dtype().is(py::dtype::of<bool>()))
      throw py::type_error(op + ": 'attn_mask' must be a bool array. Received: dtype=" + std::string(py::str(m.dtype())));
    check_shape(op, "attn_mask", m, {s.B, s.H, s.Tq, s.Tk});
    for (int i = 0; i < 4; ++i) {
      if (m.strides(i) < 0) fail(op, "'attn_mask' must not have negative strides");
      s.ms[i] = m.strides(i);
    }
    s.mask = static_cast<const uint8_t*>(m.data());
  }
  return s;
}

py::tuple attention_fwd_py(py::array q, py::array k, py::array v, py::object mask, bool causal, double scale,
                           const std::string& layout) {
  const std::string op = "scaled_dot_product_attention";
  DType d;
  const bool bthd = attn_layout(op, layout);
  ember::AttnShape s = attn_shape(op, q, k, v, mask, causal, bthd, d);
  py::array out = out_or_new(op, py::none(), d, attn_dims(bthd, s.B, s.H, s.Tq, s.Dv));
  py::array lse = out_or_new(op, py::none(), d, {s.B, s.H, s.Tq});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::attention_forward(mptr<float>(out), mptr<float>(lse), cptr<float>(q), cptr<float>(k), cptr<float>(v), s, float(scale));
    else
      ember::attention_forward(mptr<double>(out), mptr<double>(lse), cptr<double>(q), cptr<double>(k), cptr<double>(v), s, scale);
  }
  return py::make_tuple(out, lse);
}

py::tuple attention_naive_py(py::array q, py::array k, py::array v, py::object mask, bool causal, double scale) {
  const std::string op = "attention_forward_naive";
  DType d;
  ember::AttnShape s = attn_shape(op, q, k, v, mask, causal, false, d);
  py::array out = out_or_new(op, py::none(), d, {s.B, s.H, s.Tq, s.Dv});
  py::array lse = out_or_new(op, py::none(), d, {s.B, s.H, s.Tq});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::attention_forward_naive(mptr<float>(out), mptr<float>(lse), cptr<float>(q), cptr<float>(k), cptr<float>(v), s, float(scale));
    else
      ember::attention_forward_naive(mptr<double>(out), mptr<double>(lse), cptr<double>(q), cptr<double>(k), cptr<double>(v), s, scale);
  }
  return py::make_tuple(out, lse);
}

py::tuple attention_bwd_py(py::array dout, py::array q, py::array k, py::array v, py::array out, py::array lse,
                           py::object mask, bool causal, double scale, const std::string& layout) {
  const std::string op = "scaled_dot_product_attention_backward";
  DType d;
  const bool bthd = attn_layout(op, layout);
  ember::AttnShape s = attn_shape(op, q, k, v, mask, causal, bthd, d);
  for (auto* a : {&dout, &out}) {
    const char* nm = a == &dout ? "grad_out" : "out";
    same_dtype(op, nm, *a, d);
    check_shape(op, nm, *a, attn_dims(bthd, s.B, s.H, s.Tq, s.Dv));
    check_contiguous(op, nm, *a);
  }
  same_dtype(op, "lse", lse, d);
  check_shape(op, "lse", lse, {s.B, s.H, s.Tq});
  check_contiguous(op, "lse", lse);
  py::array dq = out_or_new(op, py::none(), d, attn_dims(bthd, s.B, s.H, s.Tq, s.D));
  py::array dk = out_or_new(op, py::none(), d, attn_dims(bthd, s.B, s.H, s.Tk, s.D));
  py::array dv = out_or_new(op, py::none(), d, attn_dims(bthd, s.B, s.H, s.Tk, s.Dv));
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::attention_backward(mptr<float>(dq), mptr<float>(dk), mptr<float>(dv), cptr<float>(dout), cptr<float>(q),
                                cptr<float>(k), cptr<float>(v), cptr<float>(out), cptr<float>(lse), s, float(scale));
    else
      ember::attention_backward(mptr<double>(dq), mptr<double>(dk), mptr<double>(dv), cptr<double>(dout), cptr<double>(q),
                                cptr<double>(k), cptr<double>(v), cptr<double>(out), cptr<double>(lse), s, scale);
  }
  return py::make_tuple(dq, dk, dv);
}

// (end attention)

// ---------------------------------------------------------------------------------
// rnn
// ---------------------------------------------------------------------------------

// Validates the common recurrent operands: x (B, T, I), W (I, G*U), R (U, G*U), h0 (B, U),
// mask None or uint8/bool (B, T); all C-contiguous and of one dtype. Returns the shape.
ember::RnnShape rnn_shape(const std::string& op, const py::array& x, const py::array& W, const py::array& R,
                          const py::array& h0, const py::object& mask, int64_t gates, DType& d) {
  check_ndim(op, "x", x, 3);
  d = float_dtype(op, "x", x);
  ember::RnnShape s{};
  s.B = x.shape(0); s.T = x.shape(1); s.I = x.shape(2);
  check_ndim(op, "recurrent_kernel", R, 2);
  s.U = R.shape(0);
  check_shape(op, "kernel", W, {s.I, gates * s.U});
  check_shape(op, "recurrent_kernel", R, {s.U, gates * s.U});
  check_shape(op, "initial_state", h0, {s.B, s.U});
  const char* names[] = {"x", "kernel", "recurrent_kernel", "initial_state"};
  const py::array* arrs[] = {&x, &W, &R, &h0};
  for (int i = 0; i < 4; ++i) {
    same_dtype(op, names[i], *arrs[i], d);
    check_contiguous(op, names[i], *arrs[i]);
  }
  s.mask = nullptr;
  if (!mask.is_none()) {
    py::array m = py::reinterpret_borrow<py::array>(mask);
    if (!m.dtype().is(py::dtype::of<bool>()) && !m.dtype().is(py::dtype::of<uint8_t>()))
      throw py::type_error(op + ": 'mask' must be bool. Received: dtype=" + std::string(py::str(m.dtype())));
    check_shape(op, "mask", m, {s.B, s.T});
    check_contiguous(op, "mask", m);
    s.mask = static_cast<const uint8_t*>(m.data());
  }
  return s;
}

void check_like(const std::string& op, const char* name, const py::array& a, DType d, const std::vector<int64_t>& shape) {
  same_dtype(op, name, a, d);
  check_shape(op, name, a, shape);
  check_contiguous(op, name, a);
}


py::tuple lstm_fwd_py(py::array x, py::array W, py::array R, py::array bias, py::array h0, py::array c0, py::object mask) {
  const std::string op = "lstm";
  DType d;
  auto s = rnn_shape(op, x, W, R, h0, mask, 4, d);
  check_like(op, "bias", bias, d, {4 * s.U});
  check_like(op, "initial_cell_state", c0, d, {s.B, s.U});
  py::array y = out_or_new(op, py::none(), d, {s.B, s.T, s.U}), cs = out_or_new(op, py::none(), d, {s.B, s.T, s.U});
  py::array g = out_or_new(op, py::none(), d, {s.B, s.T, 4 * s.U});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::lstm_forward(mptr<float>(y), mptr<float>(cs), mptr<float>(g), cptr<float>(x), cptr<float>(W), cptr<float>(R),
                          cptr<float>(bias), cptr<float>(h0), cptr<float>(c0), s);
    else
      ember::lstm_forward(mptr<double>(y), mptr<double>(cs), mptr<double>(g), cptr<double>(x), cptr<double>(W), cptr<double>(R),
                          cptr<double>(bias), cptr<double>(h0), cptr<double>(c0), s);
  }
  return py::make_tuple(y, cs, g);
}

py::tuple lstm_bwd_py(py::array dy, py::array dhT, py::array dcT, py::array x, py::array W, py::array R, py::array h0,
                      py::array c0, py::array y, py::array cs, py::array g, py::object mask) {
  const std::string op = "lstm_backward";
  DType d;
  auto s = rnn_shape(op, x, W, R, h0, mask, 4, d);
  check_like(op, "grad_output", dy, d, {s.B, s.T, s.U});
  check_like(op, "grad_h", dhT, d, {s.B, s.U});
  check_like(op, "grad_c", dcT, d, {s.B, s.U});
  check_like(op, "initial_cell_state", c0, d, {s.B, s.U});
  check_like(op, "y", y, d, {s.B, s.T, s.U});
  check_like(op, "cell_states", cs, d, {s.B, s.T, s.U});
  check_like(op, "gates", g, d, {s.B, s.T, 4 * s.U});
  py::array dx = out_or_new(op, py::none(), d, {s.B, s.T, s.I}), dW = out_or_new(op, py::none(), d, {s.I, 4 * s.U});
  py::array dR = out_or_new(op, py::none(), d, {s.U, 4 * s.U}), db = out_or_new(op, py::none(), d, {4 * s.U});
  py::array dh0 = out_or_new(op, py::none(), d, {s.B, s.U}), dc0 = out_or_new(op, py::none(), d, {s.B, s.U});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::lstm_backward(mptr<float>(dx), mptr<float>(dW), mptr<float>(dR), mptr<float>(db), mptr<float>(dh0), mptr<float>(dc0),
                           cptr<float>(dy), cptr<float>(dhT), cptr<float>(dcT), cptr<float>(x), cptr<float>(W), cptr<float>(R),
                           cptr<float>(h0), cptr<float>(c0), cptr<float>(y), cptr<float>(cs), cptr<float>(g), s);
    else
      ember::lstm_backward(mptr<double>(dx), mptr<double>(dW), mptr<double>(dR), mptr<double>(db), mptr<double>(dh0), mptr<double>(dc0),
                           cptr<double>(dy), cptr<double>(dhT), cptr<double>(dcT), cptr<double>(x), cptr<double>(W), cptr<double>(R),
                           cptr<double>(h0), cptr<double>(c0), cptr<double>(y), cptr<double>(cs), cptr<double>(g), s);
  }
  return py::make_tuple(dx, dW, dR, db, dh0, dc0);
}

py::tuple gru_fwd_py(py::array x, py::array W, py::array R, py::array bias, py::array h0, py::object mask) {
  const std::string op = "gru";
  DType d;
  auto s = rnn_shape(op, x, W, R, h0, mask, 3, d);
  check_like(op, "bias", bias, d, {2, 3 * s.U});
  py::array y = out_or_new(op, py::none(), d, {s.B, s.T, s.U}), hr = out_or_new(op, py::none(), d, {s.B, s.T, s.U});
  py::array g = out_or_new(op, py::none(), d, {s.B, s.T, 3 * s.U});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::gru_forward(mptr<float>(y), mptr<float>(g), mptr<float>(hr), cptr<float>(x), cptr<float>(W), cptr<float>(R),
                         cptr<float>(bias), cptr<float>(h0), s);
    else
      ember::gru_forward(mptr<double>(y), mptr<double>(g), mptr<double>(hr), cptr<double>(x), cptr<double>(W), cptr<double>(R),
                         cptr<double>(bias), cptr<double>(h0), s);
  }
  return py::make_tuple(y, g, hr);
}

py::tuple gru_bwd_py(py::array dy, py::array dhT, py::array x, py::array W, py::array R, py::array h0, py::array y,
                     py::array g, py::array hr, py::object mask) {
  const std::string op = "gru_backward";
  DType d;
  auto s = rnn_shape(op, x, W, R, h0, mask, 3, d);
  check_like(op, "grad_output", dy, d, {s.B, s.T, s.U});
  check_like(op, "grad_h", dhT, d, {s.B, s.U});
  check_like(op, "y", y, d, {s.B, s.T, s.U});
  check_like(op, "gates", g, d, {s.B, s.T, 3 * s.U});
  check_like(op, "hrec", hr, d, {s.B, s.T, s.U});
  py::array dx = out_or_new(op, py::none(), d, {s.B, s.T, s.I}), dW = out_or_new(op, py::none(), d, {s.I, 3 * s.U});
  py::array dR = out_or_new(op, py::none(), d, {s.U, 3 * s.U}), db = out_or_new(op, py::none(), d, {2, 3 * s.U});
  py::array dh0 = out_or_new(op, py::none(), d, {s.B, s.U});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::gru_backward(mptr<float>(dx), mptr<float>(dW), mptr<float>(dR), mptr<float>(db), mptr<float>(dh0), cptr<float>(dy),
                          cptr<float>(dhT), cptr<float>(x), cptr<float>(W), cptr<float>(R), cptr<float>(h0), cptr<float>(y),
                          cptr<float>(g), cptr<float>(hr), s);
    else
      ember::gru_backward(mptr<double>(dx), mptr<double>(dW), mptr<double>(dR), mptr<double>(db), mptr<double>(dh0), cptr<double>(dy),
                          cptr<double>(dhT), cptr<double>(x), cptr<double>(W), cptr<double>(R), cptr<double>(h0), cptr<double>(y),
                          cptr<double>(g), cptr<double>(hr), s);
  }
  return py::make_tuple(dx, dW, dR, db, dh0);
}

py::array srnn_fwd_py(py::array x, py::array W, py::array R, py::array bias, py::array h0, py::object mask, bool relu) {
  const std::string op = "simple_rnn";
  DType d;
  auto s = rnn_shape(op, x, W, R, h0, mask, 1, d);
  check_like(op, "bias", bias, d, {s.U});
  py::array y = out_or_new(op, py::none(), d, {s.B, s.T, s.U});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::simple_rnn_forward(mptr<float>(y), cptr<float>(x), cptr<float>(W), cptr<float>(R), cptr<float>(bias), cptr<float>(h0), s, relu);
    else
      ember::simple_rnn_forward(mptr<double>(y), cptr<double>(x), cptr<double>(W), cptr<double>(R), cptr<double>(bias), cptr<double>(h0), s, relu);
  }
  return y;
}

py::tuple srnn_bwd_py(py::array dy, py::array dhT, py::array x, py::array W, py::array R, py::array h0, py::array y,
                      py::object mask, bool relu) {
  const std::string op = "simple_rnn_backward";
  DType d;
  auto s = rnn_shape(op, x, W, R, h0, mask, 1, d);
  check_like(op, "grad_output", dy, d, {s.B, s.T, s.U});
  check_like(op, "grad_h", dhT, d, {s.B, s.U});
  check_like(op, "y", y, d, {s.B, s.T, s.U});
  py::array dx = out_or_new(op, py::none(), d, {s.B, s.T, s.I}), dW = out_or_new(op, py::none(), d, {s.I, s.U});
  py::array dR = out_or_new(op, py::none(), d, {s.U, s.U}), db = out_or_new(op, py::none(), d, {s.U});
  py::array dh0 = out_or_new(op, py::none(), d, {s.B, s.U});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::simple_rnn_backward(mptr<float>(dx), mptr<float>(dW), mptr<float>(dR), mptr<float>(db), mptr<float>(dh0),
                                 cptr<float>(dy), cptr<float>(dhT), cptr<float>(x), cptr<float>(W), cptr<float>(R),
                                 cptr<float>(h0), cptr<float>(y), s, relu);
    else
      ember::simple_rnn_backward(mptr<double>(dx), mptr<double>(dW), mptr<double>(dR), mptr<double>(db), mptr<double>(dh0),
                                 cptr<double>(dy), cptr<double>(dhT), cptr<double>(x), cptr<double>(W), cptr<double>(R),
                                 cptr<double>(h0), cptr<double>(y), s, relu);
  }
  return py::make_tuple(dx, dW, dR, db, dh0);
}

// (end rnn)

// ---------------------------------------------------------------------------------
// layernorm
// ---------------------------------------------------------------------------------

// x (rows, n) C-contiguous; gamma / beta (n,) of x's dtype.
py::tuple layernorm_fwd_py(py::array x, py::array gamma, py::array beta, double eps) {
  const std::string op = "layer_norm";
  check_ndim(op, "x", x, 2);
  check_contiguous(op, "x", x);
  DType d = float_dtype(op, "x", x);
  const int64_t R = x.shape(0), N = x.shape(1);
  check_like(op, "gamma", gamma, d, {N});
  check_like(op, "beta", beta, d, {N});
  py::array y = out_or_new(op, py::none(), d, {R, N}), mu = out_or_new(op, py::none(), d, {R});
  py::array rs = out_or_new(op, py::none(), d, {R});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::layernorm_forward(mptr<float>(y), mptr<float>(mu), mptr<float>(rs), cptr<float>(x), cptr<float>(gamma),
                               cptr<float>(beta), R, N, float(eps));
    else
      ember::layernorm_forward(mptr<double>(y), mptr<double>(mu), mptr<double>(rs), cptr<double>(x), cptr<double>(gamma),
                               cptr<double>(beta), R, N, eps);
  }
  return py::make_tuple(y, mu, rs);
}

py::tuple layernorm_bwd_py(py::array dy, py::array x, py::array gamma, py::array mu, py::array rs) {
  const std::string op = "layer_norm_backward";
  check_ndim(op, "x", x, 2);
  check_contiguous(op, "x", x);
  DType d = float_dtype(op, "x", x);
  const int64_t R = x.shape(0), N = x.shape(1);
  check_like(op, "dy", dy, d, {R, N});
  check_like(op, "gamma", gamma, d, {N});
  check_like(op, "mean", mu, d, {R});
  check_like(op, "rstd", rs, d, {R});
  py::array dx = out_or_new(op, py::none(), d, {R, N}), dg = out_or_new(op, py::none(), d, {N});
  py::array db = out_or_new(op, py::none(), d, {N});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::layernorm_backward(mptr<float>(dx), mptr<float>(dg), mptr<float>(db), cptr<float>(dy), cptr<float>(x),
                                cptr<float>(gamma), cptr<float>(mu), cptr<float>(rs), R, N);
    else
      ember::layernorm_backward(mptr<double>(dx), mptr<double>(dg), mptr<double>(db), cptr<double>(dy), cptr<double>(x),
                                cptr<double>(gamma), cptr<double>(mu), cptr<double>(rs), R, N);
  }
  return py::make_tuple(dx, dg, db);
}

// (end layernorm)

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "ember's compiled kernels (private; use the ember package)";

#if defined(__GLIBC__)
  // A training step allocates and frees the same large activations every step. By default
  // glibc serves blocks >= 128 KiB-32 MiB with fresh mmap()s and trims the heap top on
  // free, so every step page-faults its activations in again (~2 us per 4 KiB page here).
  // Keep freed memory in the heap for reuse instead; the peak footprint is unchanged.
  // EMBER_KEEP_MALLOC=1 leaves glibc's settings alone.
  if (!std::getenv("EMBER_KEEP_MALLOC")) {
    mallopt(M_MMAP_THRESHOLD, 512 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  }
#endif

  m.def("set_num_threads", &ember::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &ember::get_num_threads);
  m.def("cpu_has_avx2_fma", &ember::cpu_has_avx2_fma);
  m.def("kernel_path", []() { return std::string(ember::use_avx2() ? "avx2" : "portable"); });
  m.def("set_kernel_path", [](const std::string& p) {
    if (p == "portable") ember::set_force_portable(true);
    else if (p == "avx2" || p == "auto") ember::set_force_portable(false);
    else throw py::value_error("set_kernel_path: expected 'portable', 'avx2' or 'auto'. Received: '" + p + "'");
  }, py::arg("path"));

  // gemm
  m.def("gemm", &gemm_py, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        py::arg("out") = py::none(),
        "C = alpha * op(a) @ op(b) + beta * out for 2-D float32/float64 arrays");
  m.def("gemm_batched", &gemm_batched_py, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("out") = py::none(),
        "C[i] = alpha * op(a[i]) @ op(b[i]) for 3-D arrays; a batch of 1 broadcasts");
  // (end gemm defs)

  // elementwise defs
  m.def("bias_act_forward", &bias_act_forward_py, py::arg("x"), py::arg("b"), py::arg("act"),
        py::arg("alpha") = 0.0, py::arg("out") = py::none(), py::arg("naive") = false,
        "y = act(x + b) for x (rows, cols), b (cols,) or None; act codes 0..5 = linear, relu, "
        "sigmoid, tanh, gelu, leaky_relu (alpha = slope)");
  m.def("bias_act_backward", &bias_act_backward_py, py::arg("dy"), py::arg("y"), py::arg("x"), py::arg("b"),
        py::arg("act"), py::arg("alpha") = 0.0, py::arg("need_db") = true, py::arg("naive") = false,
        "(dx, db) = (dy * act'(x + b), column sums of dx); y is the saved output, x is needed for gelu");
  m.def("sgd_update", &sgd_update_py, py::arg("param"), py::arg("grad"), py::arg("momentum_buf"),
        py::arg("lr"), py::arg("momentum"), py::arg("nesterov"), py::arg("weight_decay"),
        "in-place Keras SGD step (decoupled weight decay)");
  m.def("adam_update", &adam_update_py, py::arg("param"), py::arg("grad"), py::arg("m"), py::arg("v"),
        py::arg("vhat"), py::arg("lr"), py::arg("lr_t"), py::arg("beta_1"), py::arg("beta_2"),
        py::arg("epsilon"), py::arg("weight_decay"), "in-place Keras Adam / AdamW step");
  m.def("rmsprop_update", &rmsprop_update_py, py::arg("param"), py::arg("grad"), py::arg("v"),
        py::arg("momentum_buf"), py::arg("average_grad"), py::arg("lr"), py::arg("rho"), py::arg("momentum"),
        py::arg("epsilon"), py::arg("weight_decay"), "in-place Keras RMSprop step");
  // (end elementwise defs)

  // conv defs
  m.def("conv2d_forward", &conv2d_forward_py, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("strides"),
        py::arg("pads"), py::arg("dilation"), py::arg("groups"), py::arg("act") = 0, py::arg("out") = py::none(),
        "NHWC conv2d: x (N,H,W,C), w (KH,KW,C/G,OC), b (OC,) or None, pads (top,bottom,left,right); act 1 = relu");
  m.def("conv2d_backward", &conv2d_backward_py, py::arg("x"), py::arg("w"), py::arg("dy"), py::arg("y"),
        py::arg("strides"), py::arg("pads"), py::arg("dilation"), py::arg("groups"), py::arg("act"),
        py::arg("need_dx"), py::arg("need_dw"), py::arg("need_db"),
        "(dx, dw, db) of conv2d_forward (None where not needed); y: the forward output when act=1");
  m.def("conv2d_naive", &conv2d_naive_py, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("strides"),
        py::arg("pads"), py::arg("dilation"), py::arg("groups"), "the direct seven-loop conv2d (test oracle)");
  // (end conv defs)

  // pool defs
  m.def("max_pool2d_forward", &maxpool2d_forward_py, py::arg("x"), py::arg("pool"), py::arg("strides"), py::arg("pads"),
        "NHWC max pooling: (y, argmax int32 ih*W+iw)");
  m.def("max_pool2d_backward", &maxpool2d_backward_py, py::arg("dy"), py::arg("idx"), py::arg("x_shape"),
        py::arg("pool"), py::arg("strides"), py::arg("pads"));
  m.def("avg_pool2d_forward", &avgpool2d_forward_py, py::arg("x"), py::arg("pool"), py::arg("strides"), py::arg("pads"),
        py::arg("count_pad") = false);
  m.def("avg_pool2d_backward", &avgpool2d_backward_py, py::arg("dy"), py::arg("x_shape"), py::arg("pool"),
        py::arg("strides"), py::arg("pads"), py::arg("count_pad") = false);
  // (end pool defs)

  // batchnorm defs
  m.def("batch_norm_forward_train", &batchnorm_forward_train_py, py::arg("x"), py::arg("gamma"), py::arg("beta"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("eps"), py::arg("momentum"),
        "x (M, C): (y, mean, invstd); running stats updated in place");
  m.def("batch_norm_forward_infer", &batchnorm_forward_infer_py, py::arg("x"), py::arg("gamma"), py::arg("beta"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("eps"));
  m.def("batch_norm_backward_train", &batchnorm_backward_train_py, py::arg("dy"), py::arg("x"), py::arg("gamma"),
        py::arg("mean"), py::arg("invstd"), py::arg("need_dx") = true, "(dx or None, dgamma, dbeta)");
  // (end batchnorm defs)

  // softmax defs
  m.def("softmax_forward", &softmax_fwd_py, py::arg("x"), py::arg("log") = false,
        "softmax (or log-softmax) over the last axis of a contiguous 2-D array");
  m.def("softmax_backward", &softmax_bwd_py, py::arg("y"), py::arg("dy"), py::arg("log") = false,
        "gradient of softmax / log-softmax from its output y and upstream dy");
  m.def("xent_forward", &xent_fwd_py, py::arg("logits"), py::arg("labels"), py::arg("sparse") = false,
        "fused softmax cross-entropy: (per-row loss, per-row log-sum-exp)");
  m.def("xent_backward", &xent_bwd_py, py::arg("dloss"), py::arg("logits"), py::arg("labels"),
        py::arg("lse"), py::arg("sparse") = false, "gradient of the fused softmax cross-entropy");
  // (end softmax defs)

  // attention defs
  m.def("attention_forward", &attention_fwd_py, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("mask") = py::none(), py::arg("causal") = false, py::arg("scale") = 1.0,
        py::arg("layout") = "bhtd", "tiled scaled dot-product attention: (out, lse (B,H,Tq))");
  m.def("attention_forward_naive", &attention_naive_py, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("mask") = py::none(), py::arg("causal") = false, py::arg("scale") = 1.0,
        "reference (untiled) attention, the test oracle");
  m.def("attention_backward", &attention_bwd_py, py::arg("grad_out"), py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("out"), py::arg("lse"), py::arg("mask") = py::none(), py::arg("causal") = false,
        py::arg("scale") = 1.0, py::arg("layout") = "bhtd", "gradients (dq, dk, dv) of the tiled attention");
  // (end attention defs)

  // rnn defs
  m.def("lstm_forward", &lstm_fwd_py, py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"),
        py::arg("h0"), py::arg("c0"), py::arg("mask") = py::none(), "fused LSTM over a sequence: (y, cell_states, gates)");
  m.def("lstm_backward", &lstm_bwd_py, py::arg("dy"), py::arg("dh"), py::arg("dc"), py::arg("x"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("h0"), py::arg("c0"), py::arg("y"), py::arg("cell_states"), py::arg("gates"),
        py::arg("mask") = py::none(), "LSTM backprop through time: (dx, dkernel, drecurrent, dbias, dh0, dc0)");
  m.def("gru_forward", &gru_fwd_py, py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"),
        py::arg("h0"), py::arg("mask") = py::none(), "fused GRU (reset_after) over a sequence: (y, gates, hrec)");
  m.def("gru_backward", &gru_bwd_py, py::arg("dy"), py::arg("dh"), py::arg("x"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("h0"), py::arg("y"), py::arg("gates"), py::arg("hrec"),
        py::arg("mask") = py::none(), "GRU backprop through time: (dx, dkernel, drecurrent, dbias, dh0)");
  m.def("simple_rnn_forward", &srnn_fwd_py, py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"),
        py::arg("h0"), py::arg("mask") = py::none(), py::arg("relu") = false, "fused SimpleRNN over a sequence: y");
  m.def("simple_rnn_backward", &srnn_bwd_py, py::arg("dy"), py::arg("dh"), py::arg("x"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("h0"), py::arg("y"), py::arg("mask") = py::none(), py::arg("relu") = false,
        "SimpleRNN backprop through time: (dx, dkernel, drecurrent, dbias, dh0)");
  // (end rnn defs)

  // layernorm defs
  m.def("layernorm_forward", &layernorm_fwd_py, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("eps"),
        "layer normalization over the last axis of a 2-D array: (y, mean, rstd)");
  m.def("layernorm_backward", &layernorm_bwd_py, py::arg("dy"), py::arg("x"), py::arg("gamma"), py::arg("mean"),
        py::arg("rstd"), "layer normalization gradients: (dx, dgamma, dbeta)");
  // (end layernorm defs)
}
