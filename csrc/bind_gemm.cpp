// bind_gemm.cpp — Python bindings for GEMM: 2-D and strided-batched products.
#include "bind_common.h"
#include "cpu.h"
#include "gemm.h"

namespace ember_py {

namespace {

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
  const bool aligned = a.flags() & kAligned;
  const int64_t r = a.shape(0), c = a.shape(1);
  const int64_t s0 = a.strides(0), s1 = a.strides(1);
  if (aligned && (s1 == isz || c == 1) && s0 % isz == 0 && s0 / isz >= std::max<int64_t>(c, 1))
    return {a, a.data(), trans, s0 / isz};
  if (aligned && (s0 == isz || r == 1) && s1 % isz == 0 && s1 / isz >= std::max<int64_t>(r, 1))
    return {a, a.data(), !trans, s1 / isz};
  py::array copy = py::array::ensure(a, py::array::c_style | py::array::forcecast | kAligned);
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
  py::array c = out_or_new(op, out, d, {M, N}, {{"a", &a}, {"b", &b}});
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
  // NumPy broadcasting: a batch of 1 takes the other's size, 0 included (max() would make
  // (0, M, K) x (1, K, N) a batch of one and read past the empty operand).
  const int64_t batch = Ba == 1 ? Bb : Ba;
  const int64_t M = trans_a ? a.shape(2) : a.shape(1), K = trans_a ? a.shape(1) : a.shape(2);
  const int64_t Kb = trans_b ? b.shape(2) : b.shape(1), N = trans_b ? b.shape(1) : b.shape(2);
  if (K != Kb)
    fail(op, "inner dimensions differ. Received: a.shape=" + shape_str(a) + ", b.shape=" + shape_str(b));
  py::array c = out_or_new(op, out, d, {batch, M, N}, {{"a", &a}, {"b", &b}});
  auto prep = [&](py::array x, bool t, int64_t& ld, int64_t& bs, bool& tt) -> py::array {
    const int64_t isz = x.itemsize();
    const int64_t r = x.shape(1), cc = x.shape(2);
    const int64_t s0 = x.strides(0), s1 = x.strides(1), s2 = x.strides(2);
    bool ok0 = s0 % isz == 0 && (s0 >= 0) && (x.flags() & kAligned);
    if (ok0 && (s2 == isz || cc == 1) && s1 % isz == 0 && s1 / isz >= std::max<int64_t>(cc, 1)) {
      ld = s1 / isz; tt = t; bs = x.shape(0) == 1 ? 0 : s0 / isz; return x;
    }
    if (ok0 && (s1 == isz || r == 1) && s2 % isz == 0 && s2 / isz >= std::max<int64_t>(r, 1)) {
      ld = s2 / isz; tt = !t; bs = x.shape(0) == 1 ? 0 : s0 / isz; return x;
    }
    py::array y = py::array::ensure(x, py::array::c_style | py::array::forcecast | kAligned);
    if (!y) fail(op, "could not make an operand contiguous");
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

// The blocking in force (kernel path, tile, cache sizes): for bench output and tests.
py::dict gemm_blocking_py(const std::string& dtype, int64_t n) {
  if (dtype != "float32" && dtype != "float64")
    fail("gemm_blocking", "dtype must be 'float32' or 'float64'. Received: '" + dtype + "'");
  if (n < 1) fail("gemm_blocking", "n must be >= 1. Received: " + std::to_string(n));
  const ember::GemmPlan p = ember::gemm_plan(dtype == "float64", n);
  const ember::CacheSizes& c = ember::cache_sizes();
  py::dict d;
  d["mr"] = p.mr, d["nr"] = p.nr, d["mc"] = p.mc, d["kc"] = p.kc, d["nc"] = p.nc;
  d["l1d"] = c.l1d, d["l2"] = c.l2, d["l3"] = c.l3;
  return d;
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("gemm", &gemm_py, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        py::arg("out") = py::none(),
        "C = alpha * op(a) @ op(b) + beta * out for 2-D float32/float64 arrays");
  m.def("gemm_batched", &gemm_batched_py, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("out") = py::none(),
        "C[i] = alpha * op(a[i]) @ op(b[i]) for 3-D arrays; a batch of 1 broadcasts");
  m.def("gemm_blocking", &gemm_blocking_py, py::arg("dtype") = "float32", py::arg("n") = 1024,
        "dict(mr, nr, mc, kc, nc, l1d, l2, l3): the GEMM tile and cache blocking the current kernel "
        "path uses for a product with n columns, and the cache sizes it was derived from");
}

}  // namespace ember_py
