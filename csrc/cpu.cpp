#include "cpu.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
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

namespace {

// "32K", "512k", "1M", "33554432" -> bytes; 0 when malformed.
int64_t parse_size(const char* s, const char** end) {
  char* e = nullptr;
  const long long v = std::strtoll(s, &e, 10);
  if (e == s || v <= 0) return 0;
  int64_t mult = 1;
  if (*e == 'K' || *e == 'k') mult = 1024, ++e;
  else if (*e == 'M' || *e == 'm') mult = 1024 * 1024, ++e;
  *end = e;
  return int64_t(v) * mult;
}

// sysfs: /sys/devices/system/cpu/cpu0/cache/index<i>/{level,type,size} (some containers
// return 0 from sysconf but still mount sysfs).
int64_t sysfs_cache(int level) {  // data or unified caches only
  for (int i = 0; i < 8; ++i) {
    char path[96];
    std::snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/", i);
    std::string base(path);
    std::ifstream lv(base + "level"), ty(base + "type"), sz(base + "size");
    int l = 0;
    std::string type, size;
    if (!(lv >> l) || !(ty >> type) || !(sz >> size)) continue;
    if (l != level || type == "Instruction") continue;
    const char* end = nullptr;
    const int64_t b = parse_size(size.c_str(), &end);
    if (b > 0) return b;
  }
  return 0;
}

int64_t sysconf_cache(int name) {
  const long v = sysconf(name);
  return v > 0 ? int64_t(v) : 0;
}

CacheSizes detect_cache_sizes() {
  // Unknown sizes fall back to a common client core: 32 KiB L1d, 512 KiB L2, 8 MiB L3.
  CacheSizes c{32 * 1024, 512 * 1024, 8 * 1024 * 1024};
  int64_t l1 = 0, l2 = 0, l3 = 0;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) && defined(_SC_LEVEL3_CACHE_SIZE)
  l1 = sysconf_cache(_SC_LEVEL1_DCACHE_SIZE);
  l2 = sysconf_cache(_SC_LEVEL2_CACHE_SIZE);
  l3 = sysconf_cache(_SC_LEVEL3_CACHE_SIZE);
#endif
  if (l1 <= 0) l1 = sysfs_cache(1);
  if (l2 <= 0) l2 = sysfs_cache(2);
  if (l3 <= 0) l3 = sysfs_cache(3);
  if (l1 > 0) c.l1d = l1;
  if (l2 > 0) c.l2 = l2;
  if (l3 > 0) c.l3 = l3;
  // EMBER_CACHE_SIZES="L1d,L2,L3" (e.g. "32K,512K,32M") overrides detection, so one machine
  // can run the blocking another CPU would get.
  if (const char* env = std::getenv("EMBER_CACHE_SIZES")) {
    int64_t v[3] = {0, 0, 0};
    const char* p = env;
    int n = 0;
    for (; n < 3; ++n) {
      const char* end = nullptr;
      v[n] = parse_size(p, &end);
      if (v[n] <= 0) break;
      p = end;
      if (*p != ',') { ++n; break; }
      ++p;
    }
    if (n == 3 && v[0] > 0 && v[1] > 0 && v[2] > 0) c = CacheSizes{v[0], v[1], v[2]};
  }
  return c;
}

}  // namespace

const CacheSizes& cache_sizes() {
  static const CacheSizes c = detect_cache_sizes();
  return c;
}

GemmBlocking gemm_blocking(const CacheSizes& c, int64_t mr, int64_t nr, int64_t elem, int64_t a_cap,
                           int64_t nc_cap) {
  int64_t kc = 64;
  while (kc < 1024 && (mr + nr) * (2 * kc) * elem * 100 <= 95 * c.l1d) kc *= 2;
  const int64_t a_bytes = std::min(c.l2 * 28 / 100, a_cap);
  const int64_t mc = std::max<int64_t>(1, (a_bytes / (kc * elem) + mr / 2) / mr) * mr;
  const int64_t nc = std::max<int64_t>(1, std::min(nc_cap, c.l3 / 4 / (kc * elem)) / nr) * nr;
  return {mc, kc, nc};
}

int kernel_level() { return std::min(hw_level(), g_cap.load(std::memory_order_relaxed)); }

void set_kernel_level(int max_level) {
  g_cap.store(std::max<int>(kPortable, std::min<int>(kAvx512, max_level)));
}

}  // namespace ember
