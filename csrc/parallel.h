// parallel.h — the one place that knows OpenMP.
//
// Thread count: ember.set_num_threads(n) wins; otherwise OMP_NUM_THREADS (read by the
// OpenMP runtime itself); otherwise the number of cores. Kernels never split a
// reduction across threads in a thread-count-dependent way: each output element is
// computed by exactly one thread in a fixed order, so results are bit-identical for
// any thread count.
#pragma once
#include <cstdint>
#ifdef EMBER_OPENMP
#include <omp.h>
#endif

namespace ember {

// n <= 0: back to the default; n is capped at max_threads() (the bindings refuse more).
void set_num_threads(int n);
int get_num_threads();
// The most threads ember runs: max(1024, logical CPUs), within OMP_THREAD_LIMIT.
int max_threads();

// Run f(begin, end) over [0, n) split into contiguous chunks, one per thread.
// Runs serially when n is below `min_parallel` (not worth waking threads) or when
// already inside a parallel region.
template <typename F>
inline void parallel_for(int64_t n, int64_t min_parallel, F&& f) {
  if (n <= 0) return;
#ifdef EMBER_OPENMP
  int nt = get_num_threads();
  if (nt > 1 && n >= min_parallel && !omp_in_parallel()) {
    int64_t chunks = n < nt ? n : nt;
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
      f(b, e);
    }
    return;
  }
#endif
  f(int64_t(0), n);
}

}  // namespace ember
