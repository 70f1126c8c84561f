#include "cpu.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace ember {

namespace {

// __builtin_cpu_supports reports AVX/AVX-512 only when the OS saves their register state
// (libgcc checks XCR0), so a kernel that passes these checks can run.
bool detect_avx2() {
#if defined(EMBER_X86) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool detect_avx512() {
#if defined(EMBER_X86) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return detect_avx2() && __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

int env_cap() {
  if (env_set("EMBER_DISABLE_AVX2")) return kPortable;
  if (env_set("EMBER_DISABLE_AVX512")) return kAvx2;
  return kAvx512;
}

int hw_level() {
  static const int lvl = cpu_has_avx512() ? kAvx512 : cpu_has_avx2_fma() ? kAvx2 : kPortable;
  return lvl;
}

std::atomic<int> g_cap{env_cap()};

}  // namespace

bool cpu_has_avx2_fma() {
  static const bool has = detect_avx2();
  return has;
}

bool cpu_has_avx512() {
  static const bool has = detect_avx512();
  return has;
}

bool big_l1d() {
  static const bool big = [] {
#ifdef _SC_LEVEL1_DCACHE_SIZE
    return sysconf(_SC_LEVEL1_DCACHE_SIZE) >= 48 * 1024;
#else
    return false;
#endif
  }();
  return big;
}

int kernel_level() { return std::min(hw_level(), g_cap.load(std::memory_order_relaxed)); }

void set_kernel_level(int max_level) {
  g_cap.store(std::max<int>(kPortable, std::min<int>(kAvx512, max_level)));
}

}  // namespace ember
