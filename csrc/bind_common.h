// bind_common.h — what every binding file shares: the argument checks and the error
// messages. Only the bind_*.cpp files and bindings.cpp include it; they are the part of
// ember that knows Python (kernels take raw pointers and sizes and never see an object).
//
// Every binding validates its arguments (ndim, shapes, dtype, contiguity) and raises
// ValueError/TypeError naming the op and the shapes it received, then releases the GIL
// around the kernel.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember_py {

namespace py = pybind11;

// ---------------------------------------------------------------------------------
// Validation helpers (shared by every section)
// ---------------------------------------------------------------------------------

inline std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  if (a.ndim() == 1) s << ",";
  s << ")";
  return s.str();
}

[[noreturn]] inline void fail(const std::string& op, const std::string& msg) {
  throw py::value_error(op + ": " + msg);
}

enum class DType { F32, F64 };

inline DType float_dtype(const std::string& op, const char* name, const py::array& a) {
  if (a.dtype().is(py::dtype::of<float>())) return DType::F32;
  if (a.dtype().is(py::dtype::of<double>())) return DType::F64;
  throw py::type_error(op + ": '" + name + "' must be float32 or float64. Received: dtype=" +
                       std::string(py::str(a.dtype())) + ", shape=" + shape_str(a));
}

inline void same_dtype(const std::string& op, const char* name, const py::array& a, DType d) {
  if (float_dtype(op, name, a) != d)
    throw py::type_error(op + ": '" + name + "' has dtype " + std::string(py::str(a.dtype())) +
                         " but the other operands are " + (d == DType::F32 ? "float32" : "float64"));
}

inline void check_ndim(const std::string& op, const char* name, const py::array& a, int ndim) {
  if (a.ndim() != ndim)
    fail(op, std::string("'") + name + "' must be " + std::to_string(ndim) + "-D. Received: shape=" + shape_str(a));
}

inline void check_contiguous(const std::string& op, const char* name, const py::array& a) {
  if (!(a.flags() & py::array::c_style))
    fail(op, std::string("'") + name + "' must be C-contiguous. Received: shape=" + shape_str(a));
}

inline void check_writeable(const std::string& op, const char* name, const py::array& a) {
  if (!a.writeable()) fail(op, std::string("'") + name + "' must be writeable");
}

inline void check_shape(const std::string& op, const char* name, const py::array& a,
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
inline py::array out_or_new(const std::string& op, const py::object& out, DType d,
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


void bind_gemm(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_conv(py::module_& m);
void bind_sequence(py::module_& m);

}  // namespace ember_py
