// bind_elementwise.cpp — Python bindings for fused bias + activation and the optimizer update steps.
#include "bind_common.h"
#include "elementwise.h"

namespace ember_py {

namespace {

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

// Optional operands travel as py::object (None -> absent), checked by opt_arg; a
// default-constructed py::array is an empty array, not a null handle, so it cannot stand
// for "absent".
template <typename T>
const T* opt_cptr(const std::optional<py::array>& a) {
  return a ? cptr<T>(*a) : nullptr;
}
template <typename T>
T* opt_mptr(std::optional<py::array>& a) {
  return a ? mptr<T>(*a) : nullptr;
}

// x (rows, cols), b (cols,) or None -> y = act(x + b); `out` may be x itself (in place).
py::array bias_act_forward_py(py::array x, py::object b, int act, double alpha, py::object out, bool naive) {
  const std::string op = std::string("bias_act_forward[") + act_name(act) + "]";
  check_act(op, act);
  check_ndim(op, "x", x, 2);
  check_contiguous(op, "x", x);
  DType d = float_dtype(op, "x", x);
  const int64_t rows = x.shape(0), cols = x.shape(1);
  std::optional<py::array> bb = opt_arg(op, "b", b);
  if (bb) {
    same_dtype(op, "b", *bb, d);
    check_shape(op, "b", *bb, {cols});
    check_contiguous(op, "b", *bb);
  }
  py::array y = out_or_new(op, out, d, {rows, cols});
  if (!out.is_none()) {
    // out == x (same start, same shape, both contiguous) is the supported in-place form.
    if (y.data() != x.data()) check_no_overlap(op, {{"out", &y}}, {{"x", &x}});
    if (bb) check_no_overlap(op, {{"out", &y}}, {{"b", &*bb}});
  }
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32) {
      auto f = naive ? &ember::bias_act_forward_naive<float> : &ember::bias_act_forward<float>;
      f(mptr<float>(y), cptr<float>(x), opt_cptr<float>(bb), rows, cols, act, alpha);
    } else {
      auto f = naive ? &ember::bias_act_forward_naive<double> : &ember::bias_act_forward<double>;
      f(mptr<double>(y), cptr<double>(x), opt_cptr<double>(bb), rows, cols, act, alpha);
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
    std::optional<py::array> a = opt_arg(op, name, o);
    if (!a) {
      if (required) fail(op, std::string("'") + name + "' is required for this activation");
      return a;
    }
    same_dtype(op, name, *a, d);
    check_shape(op, name, *a, shape);
    check_contiguous(op, name, *a);
    return a;
  };
  const bool gelu = act == ember::kGelu;
  std::optional<py::array> ya = take(y, "y", {rows, cols}, !gelu && act != ember::kLinear);
  std::optional<py::array> xa = take(x, "x", {rows, cols}, gelu);
  std::optional<py::array> ba = take(b, "b", {cols}, false);
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
      f(mptr<float>(dx), need_db ? mptr<float>(dba) : nullptr, cptr<float>(dy), opt_cptr<float>(ya),
        opt_cptr<float>(xa), opt_cptr<float>(ba), rows, cols, act, alpha);
    } else {
      auto f = naive ? &ember::bias_act_backward_naive<double> : &ember::bias_act_backward<double>;
      f(mptr<double>(dx), need_db ? mptr<double>(dba) : nullptr, cptr<double>(dy), opt_cptr<double>(ya),
        opt_cptr<double>(xa), opt_cptr<double>(ba), rows, cols, act, alpha);
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

std::optional<py::array> slot(const std::string& op, const char* name, const py::object& o, const py::array& p,
                              DType d, bool required) {
  std::optional<py::array> a = opt_arg(op, name, o);
  if (!a) {
    if (required) fail(op, std::string("state '") + name + "' is required");
    return a;
  }
  same_dtype(op, name, *a, d);
  check_contiguous(op, name, *a);
  check_writeable(op, name, *a);
  if (a->size() != p.size())
    fail(op, std::string("state '") + name + "' has shape " + shape_str(*a) + " but 'param' has shape " + shape_str(p));
  return a;
}

// The update writes the parameter and every state buffer and reads the gradient: each
// written buffer must be its own memory (adam_update(m=v, v=v) would mix two moments).
void check_state_overlap(const std::string& op, py::array& p, const py::array& g,
                         std::initializer_list<std::pair<const char*, std::optional<py::array>*>> states) {
  std::vector<Named> written{{"param", &p}};
  for (auto& st : states)
    if (*st.second) written.push_back({st.first, &**st.second});
  check_no_overlap(op, written, {{"grad", &g}});
}

// Runs f(T{}) with T the update's dtype (float or double).
template <typename F> void by_dtype(DType d, F&& f) {
  if (d == DType::F32) f(float());
  else f(double());
}

void sgd_update_py(py::array p, py::array g, py::object m, double lr, double momentum, bool nesterov, double wd) {
  const std::string op = "sgd_update";
  UpdateArgs u = check_update(op, p, g);
  auto ma = slot(op, "momentum", m, p, u.d, false);
  check_state_overlap(op, p, g, {{"momentum", &ma}});
  by_dtype(u.d, [&](auto tag) {
    using T = decltype(tag);
    T* mp = opt_mptr<T>(ma);
    py::gil_scoped_release nogil;
    ember::sgd_update<T>(mptr<T>(p), mp, cptr<T>(g), u.n, lr, momentum, nesterov, wd);
  });
}

void adam_update_py(py::array p, py::array g, py::object m, py::object v, py::object vhat, double lr, double lr_t,
                    double beta1, double beta2, double eps, double wd) {
  const std::string op = "adam_update";
  UpdateArgs u = check_update(op, p, g);
  auto ma = slot(op, "m", m, p, u.d, true), va = slot(op, "v", v, p, u.d, true);
  auto ha = slot(op, "vhat", vhat, p, u.d, false);
  check_state_overlap(op, p, g, {{"m", &ma}, {"v", &va}, {"vhat", &ha}});
  by_dtype(u.d, [&](auto tag) {
    using T = decltype(tag);
    T *mp = opt_mptr<T>(ma), *vp = opt_mptr<T>(va), *hp = opt_mptr<T>(ha);
    py::gil_scoped_release nogil;
    ember::adam_update<T>(mptr<T>(p), mp, vp, hp, cptr<T>(g), u.n, lr, lr_t, beta1, beta2, eps, wd);
  });
}

void rmsprop_update_py(py::array p, py::array g, py::object v, py::object mom, py::object avg, double lr,
                       double rho, double momentum, double eps, double wd) {
  const std::string op = "rmsprop_update";
  UpdateArgs u = check_update(op, p, g);
  auto va = slot(op, "v", v, p, u.d, true), ma = slot(op, "momentum", mom, p, u.d, false);
  auto aa = slot(op, "average_grad", avg, p, u.d, false);
  check_state_overlap(op, p, g, {{"v", &va}, {"momentum", &ma}, {"average_grad", &aa}});
  by_dtype(u.d, [&](auto tag) {
    using T = decltype(tag);
    T *vp = opt_mptr<T>(va), *mp = opt_mptr<T>(ma), *ap = opt_mptr<T>(aa);
    py::gil_scoped_release nogil;
    ember::rmsprop_update<T>(mptr<T>(p), vp, mp, ap, cptr<T>(g), u.n, lr, rho, momentum, eps, wd);
  });
}

// (end elementwise)

}  // namespace

void bind_elementwise(py::module_& m) {
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
}

}  // namespace ember_py
