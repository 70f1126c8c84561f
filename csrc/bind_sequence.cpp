// bind_sequence.cpp — Python bindings for softmax / cross-entropy, attention, recurrent cells and layer norm.
#include "bind_common.h"
#include "attention.h"
#include "layernorm.h"
#include "rnn.h"
#include "softmax.h"

namespace ember_py {

namespace {

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
  if (auto given = opt_arg(op, "mask", mask)) {
    py::array m = *given;
    if (!m.dtype().is(py::dtype::of<bool>()))
      throw py::type_error(op + ": 'mask' must be a bool array. Received: dtype=" + std::string(py::str(m.dtype())));
    check_shape(op, "mask", m, {s.B, s.H, s.Tq, s.Tk});
    for (int i = 0; i < 4; ++i) {
      if (m.strides(i) < 0) fail(op, "'mask' must not have negative strides");
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
// mask None or uint8/bool (B, T), recurrent_mask None or (B, U) of x's dtype; all C-contiguous
// and of one dtype. Returns the shape.
ember::RnnShape rnn_shape(const std::string& op, const py::array& x, const py::array& W, const py::array& R,
                          const py::array& h0, const py::object& mask, const py::object& rmask, int64_t gates,
                          DType& d) {
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
  if (auto given = opt_arg(op, "mask", mask)) {
    py::array m = *given;
    if (!m.dtype().is(py::dtype::of<bool>()) && !m.dtype().is(py::dtype::of<uint8_t>()))
      throw py::type_error(op + ": 'mask' must be bool. Received: dtype=" + std::string(py::str(m.dtype())));
    check_shape(op, "mask", m, {s.B, s.T});
    check_contiguous(op, "mask", m);
    s.mask = static_cast<const uint8_t*>(m.data());
  }
  s.rmask = nullptr;
  if (auto given = opt_arg(op, "recurrent_mask", rmask)) {
    py::array rm = *given;
    same_dtype(op, "recurrent_mask", rm, d);
    check_shape(op, "recurrent_mask", rm, {s.B, s.U});
    check_contiguous(op, "recurrent_mask", rm);
    s.rmask = rm.data();
  }
  return s;
}

// The activation names of the fused kernels: `activation` (LSTM cell, GRU candidate, SimpleRNN)
// and `recurrent_activation` (the LSTM / GRU gates); see rnn.h.
void set_acts(const std::string& op, ember::RnnShape& s, const std::string& act, const std::string& ract) {
  using ember::RnnAct;
  if (act == "tanh") s.act = RnnAct::Tanh;
  else if (act == "relu") s.act = RnnAct::Relu;
  else if (act == "sigmoid") s.act = RnnAct::Sigmoid;
  else if (act == "linear") s.act = RnnAct::Linear;
  else
    throw py::value_error(op + ": unsupported activation '" + act +
                          "'. Supported: 'tanh', 'relu', 'sigmoid', 'linear'");
  if (ract == "sigmoid") s.ract = RnnAct::Sigmoid;
  else if (ract == "hard_sigmoid") s.ract = RnnAct::HardSigmoid;
  else if (ract == "tanh") s.ract = RnnAct::Tanh;
  else if (ract == "linear") s.ract = RnnAct::Linear;
  else
    throw py::value_error(op + ": unsupported recurrent_activation '" + ract +
                          "'. Supported: 'sigmoid', 'hard_sigmoid', 'tanh', 'linear'");
}

void check_like(const std::string& op, const char* name, const py::array& a, DType d, const std::vector<int64_t>& shape) {
  same_dtype(op, name, a, d);
  check_shape(op, name, a, shape);
  check_contiguous(op, name, a);
}


py::tuple lstm_fwd_py(py::array x, py::array W, py::array R, py::array bias, py::array h0, py::array c0, py::object mask,
                      py::object rmask, const std::string& act, const std::string& ract) {
  const std::string op = "lstm";
  DType d;
  auto s = rnn_shape(op, x, W, R, h0, mask, rmask, 4, d);
  set_acts(op, s, act, ract);
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
                      py::array c0, py::array y, py::array cs, py::array g, py::object mask,
                      py::object rmask, const std::string& act, const std::string& ract) {
  const std::string op = "lstm_backward";
  DType d;
  auto s = rnn_shape(op, x, W, R, h0, mask, rmask, 4, d);
  set_acts(op, s, act, ract);
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

py::tuple gru_fwd_py(py::array x, py::array W, py::array R, py::array bias, py::array h0, py::object mask,
                     py::object rmask, const std::string& act, const std::string& ract) {
  const std::string op = "gru";
  DType d;
  auto s = rnn_shape(op, x, W, R, h0, mask, rmask, 3, d);
  set_acts(op, s, act, ract);
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
                     py::array g, py::array hr, py::object mask, py::object rmask, const std::string& act,
                     const std::string& ract) {
  const std::string op = "gru_backward";
  DType d;
  auto s = rnn_shape(op, x, W, R, h0, mask, rmask, 3, d);
  set_acts(op, s, act, ract);
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

py::array srnn_fwd_py(py::array x, py::array W, py::array R, py::array bias, py::array h0, py::object mask,
                      py::object rmask, const std::string& act) {
  const std::string op = "simple_rnn";
  DType d;
  auto s = rnn_shape(op, x, W, R, h0, mask, rmask, 1, d);
  set_acts(op, s, act, "sigmoid");
  check_like(op, "bias", bias, d, {s.U});
  py::array y = out_or_new(op, py::none(), d, {s.B, s.T, s.U});
  {
    py::gil_scoped_release nogil;
    if (d == DType::F32)
      ember::simple_rnn_forward(mptr<float>(y), cptr<float>(x), cptr<float>(W), cptr<float>(R), cptr<float>(bias), cptr<float>(h0), s);
    else
      ember::simple_rnn_forward(mptr<double>(y), cptr<double>(x), cptr<double>(W), cptr<double>(R), cptr<double>(bias), cptr<double>(h0), s);
  }
  return y;
}

py::tuple srnn_bwd_py(py::array dy, py::array dhT, py::array x, py::array W, py::array R, py::array h0, py::array y,
                      py::object mask, py::object rmask, const std::string& act) {
  const std::string op = "simple_rnn_backward";
  DType d;
  auto s = rnn_shape(op, x, W, R, h0, mask, rmask, 1, d);
  set_acts(op, s, act, "sigmoid");
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
                                 cptr<float>(h0), cptr<float>(y), s);
    else
      ember::simple_rnn_backward(mptr<double>(dx), mptr<double>(dW), mptr<double>(dR), mptr<double>(db), mptr<double>(dh0),
                                 cptr<double>(dy), cptr<double>(dhT), cptr<double>(x), cptr<double>(W), cptr<double>(R),
                                 cptr<double>(h0), cptr<double>(y), s);
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

void bind_sequence(py::module_& m) {
  m.def("softmax_forward", &softmax_fwd_py, py::arg("x"), py::arg("log") = false,
        "softmax (or log-softmax) over the last axis of a contiguous 2-D array");
  m.def("softmax_backward", &softmax_bwd_py, py::arg("y"), py::arg("dy"), py::arg("log") = false,
        "gradient of softmax / log-softmax from its output y and upstream dy");
  m.def("xent_forward", &xent_fwd_py, py::arg("logits"), py::arg("labels"), py::arg("sparse") = false,
        "fused softmax cross-entropy: (per-row loss, per-row log-sum-exp)");
  m.def("xent_backward", &xent_bwd_py, py::arg("dloss"), py::arg("logits"), py::arg("labels"),
        py::arg("lse"), py::arg("sparse") = false, "gradient of the fused softmax cross-entropy");
  m.def("attention_forward", &attention_fwd_py, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("mask") = py::none(), py::arg("causal") = false, py::arg("scale") = 1.0,
        py::arg("layout") = "bhtd", "tiled scaled dot-product attention: (out, lse (B,H,Tq))");
  m.def("attention_forward_naive", &attention_naive_py, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("mask") = py::none(), py::arg("causal") = false, py::arg("scale") = 1.0,
        "reference (untiled) attention, the test oracle");
  m.def("attention_backward", &attention_bwd_py, py::arg("grad_out"), py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("out"), py::arg("lse"), py::arg("mask") = py::none(), py::arg("causal") = false,
        py::arg("scale") = 1.0, py::arg("layout") = "bhtd", "gradients (dq, dk, dv) of the tiled attention");
  m.def("lstm_forward", &lstm_fwd_py, py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"),
        py::arg("h0"), py::arg("c0"), py::arg("mask") = py::none(),
        py::arg("recurrent_mask") = py::none(), py::arg("activation") = "tanh",
        py::arg("recurrent_activation") = "sigmoid", "fused LSTM over a sequence: (y, cell_states, gates)");
  m.def("lstm_backward", &lstm_bwd_py, py::arg("dy"), py::arg("dh"), py::arg("dc"), py::arg("x"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("h0"), py::arg("c0"), py::arg("y"), py::arg("cell_states"), py::arg("gates"),
        py::arg("mask") = py::none(), py::arg("recurrent_mask") = py::none(), py::arg("activation") = "tanh",
        py::arg("recurrent_activation") = "sigmoid",
        "LSTM backprop through time: (dx, dkernel, drecurrent, dbias, dh0, dc0)");
  m.def("gru_forward", &gru_fwd_py, py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"),
        py::arg("h0"), py::arg("mask") = py::none(), py::arg("recurrent_mask") = py::none(),
        py::arg("activation") = "tanh", py::arg("recurrent_activation") = "sigmoid",
        "fused GRU (reset_after) over a sequence: (y, gates, hrec)");
  m.def("gru_backward", &gru_bwd_py, py::arg("dy"), py::arg("dh"), py::arg("x"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("h0"), py::arg("y"), py::arg("gates"), py::arg("hrec"),
        py::arg("mask") = py::none(), py::arg("recurrent_mask") = py::none(), py::arg("activation") = "tanh",
        py::arg("recurrent_activation") = "sigmoid", "GRU backprop through time: (dx, dkernel, drecurrent, dbias, dh0)");
  m.def("simple_rnn_forward", &srnn_fwd_py, py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"),
        py::arg("h0"), py::arg("mask") = py::none(), py::arg("recurrent_mask") = py::none(),
        py::arg("activation") = "tanh", "fused SimpleRNN over a sequence: y");
  m.def("simple_rnn_backward", &srnn_bwd_py, py::arg("dy"), py::arg("dh"), py::arg("x"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("h0"), py::arg("y"), py::arg("mask") = py::none(),
        py::arg("recurrent_mask") = py::none(), py::arg("activation") = "tanh",
        "SimpleRNN backprop through time: (dx, dkernel, drecurrent, dbias, dh0)");
  m.def("layernorm_forward", &layernorm_fwd_py, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("eps"),
        "layer normalization over the last axis of a 2-D array: (y, mean, rstd)");
  m.def("layernorm_backward", &layernorm_bwd_py, py::arg("dy"), py::arg("x"), py::arg("gamma"), py::arg("mean"),
        py::arg("rstd"), "layer normalization gradients: (dx, dgamma, dbeta)");
}

}  // namespace ember_py
