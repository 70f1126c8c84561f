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
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu.h"
#include "elementwise.h"
#include "gemm.h"
#include "parallel.h"

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

// (end conv)

// ---------------------------------------------------------------------------------
// pool
// ---------------------------------------------------------------------------------

// (end pool)

// ---------------------------------------------------------------------------------
// batchnorm
// ---------------------------------------------------------------------------------

// (end batchnorm)

// ---------------------------------------------------------------------------------
// softmax
// ---------------------------------------------------------------------------------

// (end softmax)

// ---------------------------------------------------------------------------------
// attention
// ---------------------------------------------------------------------------------

// (end attention)

// ---------------------------------------------------------------------------------
// rnn
// ---------------------------------------------------------------------------------

// (end rnn)

// ---------------------------------------------------------------------------------
// layernorm
// ---------------------------------------------------------------------------------

// (end layernorm)

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "ember's compiled kernels (private; use the ember package)";

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
  // (end conv defs)

  // pool defs
  // (end pool defs)

  // batchnorm defs
  // (end batchnorm defs)

  // softmax defs
  // (end softmax defs)

  // attention defs
  // (end attention defs)

  // rnn defs
  // (end rnn defs)

  // layernorm defs
  // (end layernorm defs)
}
