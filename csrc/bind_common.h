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
#include <iterator>
#include <optional>
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

// numpy's NPY_ARRAY_ALIGNED: the data pointer and strides are multiples of the item size.
constexpr int kAligned = 0x0100;

// The kernels read every array as T* with computed offsets: it must be C-contiguous, and
// aligned (an np.frombuffer view at an odd offset is not; the compiler's vector loops assume
// a float* is 4-byte aligned and may fault on one that is not).
inline void check_contiguous(const std::string& op, const char* name, const py::array& a) {
  if (!(a.flags() & py::array::c_style))
    fail(op, std::string("'") + name + "' must be C-contiguous. Received: shape=" + shape_str(a));
  if (!(a.flags() & kAligned))
    fail(op, std::string("'") + name + "' must be aligned to its item size. Received: an unaligned view");
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

inline std::string type_name(const py::handle& o) {
  return py::str(py::type::of(o).attr("__name__"));
}

// An array argument that travels as py::object (optional ones; None allowed only when
// `optional`): anything but a numpy.ndarray is a TypeError naming the op and the argument.
// reinterpret_borrow<py::array> on another object (an int, a NumPy scalar) would read
// garbage as an array header.
inline py::array as_array(const std::string& op, const char* name, const py::object& o) {
  if (!py::isinstance<py::array>(o))
    throw py::type_error(op + ": '" + name + "' must be an array (numpy.ndarray). Received: " + type_name(o));
  return py::reinterpret_borrow<py::array>(o);
}

inline std::optional<py::array> opt_arg(const std::string& op, const char* name, const py::object& o) {
  if (o.is_none()) return std::nullopt;
  if (!py::isinstance<py::array>(o))
    throw py::type_error(op + ": '" + name + "' must be an array (numpy.ndarray) or None. Received: " + type_name(o));
  return py::reinterpret_borrow<py::array>(o);
}

// The byte range [lo, hi) an array's elements span (empty for a size-0 array).
inline std::pair<uintptr_t, uintptr_t> byte_extent(const py::array& a) {
  if (a.size() == 0) return {0, 0};
  intptr_t lo = 0, hi = 0;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    const intptr_t span = intptr_t(a.strides(i)) * intptr_t(a.shape(i) - 1);
    (span < 0 ? lo : hi) += span;
  }
  const uintptr_t base = reinterpret_cast<uintptr_t>(a.data());
  return {base + lo, base + hi + uintptr_t(a.itemsize())};
}

// Like np.may_share_memory: true when the byte ranges of a and b intersect.
inline bool overlaps(const py::array& a, const py::array& b) {
  const auto ra = byte_extent(a), rb = byte_extent(b);
  return ra.first < ra.second && rb.first < rb.second && ra.first < rb.second && rb.first < ra.second;
}

using Named = std::pair<const char*, const py::array*>;

// A buffer the kernel writes must not share memory with another operand: the kernels read
// inputs while writing outputs (and write each state buffer as its own), so an overlap
// gives wrong numbers. Every pair among `written`, and each written one against `read`.
inline void check_no_overlap(const std::string& op, const std::vector<Named>& written,
                             const std::vector<Named>& read = {}) {
  for (auto w = written.begin(); w != written.end(); ++w) {
    for (auto o = std::next(w); o != written.end(); ++o)
      if (overlaps(*w->second, *o->second))
        fail(op, std::string("'") + w->first + "' and '" + o->first +
                     "' share memory; pass separate arrays. Received: overlapping buffers");
    for (const Named& r : read)
      if (overlaps(*w->second, *r.second))
        fail(op, std::string("'") + w->first + "' shares memory with the input '" + r.first +
                     "'; pass a separate array. Received: overlapping buffers");
  }
}

template <typename T>
const T* cptr(const py::array& a) { return static_cast<const T*>(a.data()); }
template <typename T>
T* mptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }

// A C-contiguous array of `shape` and dtype `d`: `out` when given (checked, and sharing no
// memory with the operands in `read`), else new.
inline py::array out_or_new(const std::string& op, const py::object& out, DType d,
                     const std::vector<int64_t>& shape, const std::vector<Named>& read = {}) {
  if (auto given = opt_arg(op, "out", out)) {
    py::array o = *given;
    same_dtype(op, "out", o, d);
    check_shape(op, "out", o, shape);
    check_contiguous(op, "out", o);
    check_writeable(op, "out", o);
    check_no_overlap(op, {{"out", &o}}, read);
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
