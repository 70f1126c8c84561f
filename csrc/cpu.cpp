#include "cpu.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ember {

namespace {

bool detect() {
#if defined(EMBER_X86) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool env_disabled() {
  const char* v = std::getenv("EMBER_DISABLE_AVX2");
  return v && *v && std::strcmp(v, "0") != 0;
}

std::atomic<bool> g_force_portable{env_disabled()};

}  // namespace

bool cpu_has_avx2_fma() {
  static const bool has = detect();
  return has;
}

bool use_avx2() { return cpu_has_avx2_fma() && !g_force_portable.load(std::memory_order_relaxed); }

void set_force_portable(bool on) { g_force_portable.store(on); }

}  // namespace ember
