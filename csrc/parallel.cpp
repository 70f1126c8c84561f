#include "parallel.h"

#include <algorithm>
#include <thread>

namespace ember {

namespace {
int g_threads = 0;  // 0: not set by ember; defer to OpenMP's own default
}

int max_threads() {
  // libgomp starts a team with one alloca'd record per thread on the caller's stack and
  // gives up on the whole process when it cannot create them: 100000 threads overflowed
  // an 8 MiB stack (segfault), 2^31 - 1 made it exit. More threads than logical CPUs
  // only time-slice the same static chunks, so the bound is the larger of 1024 and the
  // logical CPUs, and never above the OpenMP thread limit (OMP_THREAD_LIMIT).
  static const int cap = [] {
    int c = std::max(1024, int(std::thread::hardware_concurrency()));
#ifdef EMBER_OPENMP
    c = std::min(c, omp_get_thread_limit());
#endif
    return std::max(c, 1);
  }();
  return cap;
}

void set_num_threads(int n) {
  n = std::min(n, max_threads());
  g_threads = n > 0 ? n : 0;
#ifdef EMBER_OPENMP
  if (n > 0) omp_set_num_threads(n);
#endif
}

int get_num_threads() {
  if (g_threads > 0) return g_threads;
#ifdef EMBER_OPENMP
  return std::min(omp_get_max_threads(), max_threads());  // OMP_NUM_THREADS may be anything
#else
  return 1;
#endif
}

}  // namespace ember
