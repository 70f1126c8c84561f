#include "parallel.h"

#include <thread>

namespace ember {

namespace {
int g_threads = 0;  // 0: not set by ember; defer to OpenMP's own default
}

void set_num_threads(int n) {
  g_threads = n > 0 ? n : 0;
#ifdef EMBER_OPENMP
  if (n > 0) omp_set_num_threads(n);
#endif
}

int get_num_threads() {
  if (g_threads > 0) return g_threads;
#ifdef EMBER_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace ember
