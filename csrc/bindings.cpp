// bindings.cpp — the module: process-wide settings and the family bindings (bind_*.cpp).
//
// The bind_*.cpp files and this one are the only place that knows Python; they are split
// by kernel family to keep each file small (see bind_common.h for the shared checks).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdlib>
#include <string>
#include <vector>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "bind_common.h"
#include "cpu.h"
#include "parallel.h"

namespace py = pybind11;

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

  m.def("set_num_threads", [](int64_t n) {
    if (n < 0 || n > ember::max_threads())
      throw py::value_error("set_num_threads: n must be between 1 and " + std::to_string(ember::max_threads()) +
                            " (0 restores the default). Received: " + std::to_string(n));
    ember::set_num_threads(int(n));
  }, py::arg("n"), "threads for ember's kernels; 0 = the OpenMP default (OMP_NUM_THREADS or the cores)");
  m.def("max_threads", &ember::max_threads, "the most threads set_num_threads accepts");
  m.def("get_num_threads", &ember::get_num_threads);
  m.def("cpu_has_avx2_fma", &ember::cpu_has_avx2_fma);
  m.def("cpu_has_avx512", &ember::cpu_has_avx512);
  // The paths this CPU can run, slowest first; kernel_path() is the one in use now.
  m.def("kernel_paths", []() {
    std::vector<std::string> p{"portable"};
    if (ember::cpu_has_avx2_fma()) p.push_back("avx2");
    if (ember::cpu_has_avx512()) p.push_back("avx512");
    return p;
  });
  m.def("kernel_path", []() {
    const int l = ember::kernel_level();
    return std::string(l >= ember::kAvx512 ? "avx512" : l >= ember::kAvx2 ? "avx2" : "portable");
  });
  // A cap, not a demand: "avx512" on a CPU without it runs the best path the CPU has.
  // Only the GEMM has AVX-512 kernels; the other kernels run their AVX2 path under it.
  m.def("set_kernel_path", [](const std::string& p) {
    if (p == "portable") ember::set_kernel_level(ember::kPortable);
    else if (p == "avx2") ember::set_kernel_level(ember::kAvx2);
    else if (p == "avx512" || p == "auto") ember::set_kernel_level(ember::kAvx512);
    else throw py::value_error("set_kernel_path: expected 'portable', 'avx2', 'avx512' or 'auto'. Received: '" + p + "'");
  }, py::arg("path"));

  ember_py::bind_gemm(m);
  ember_py::bind_elementwise(m);
  ember_py::bind_conv(m);
  ember_py::bind_sequence(m);
}
