// cache_sizes.h — the CPU's cache sizes and the GEMM blocking derived from them.
// Declarations only (defined in cpu.cpp, a baseline file): safe to include from the
// *_avx2 / *_avx512 files, which must not share inline code with the portable path.
#pragma once
#include <cstdint>

namespace ember {

// Bytes of L1 data, L2 and L3 cache as seen by core 0: sysconf, else sysfs, else 32 KiB /
// 512 KiB / 8 MiB. EMBER_CACHE_SIZES="32K,512K,32M" overrides them (read once), so one
// machine can run the blocking another CPU would get.
struct CacheSizes {
  int64_t l1d, l2, l3;
};
const CacheSizes& cache_sizes();

// BLIS-style blocking for an MR x NR micro-kernel on elements of `elem` bytes:
//   kc: the largest power of two (64..1024) whose B micro-panel plus A micro-panel,
//       (MR + NR) * kc * elem bytes, fit in 95 % of L1d (the B panel is reused by every A
//       panel of the block and must not be evicted);
//   mc: the packed A block, mc * kc * elem bytes, takes 28 % of L2 but at most a_cap bytes
//       (room for the B panels and C tiles streaming past), rounded to a multiple of MR;
//   nc: the packed B block, kc * nc * elem bytes, a quarter of L3 (shared by the cores), at
//       most nc_cap, a multiple of NR.
struct GemmBlocking {
  int64_t mc, kc, nc;
};
GemmBlocking gemm_blocking(const CacheSizes& c, int64_t mr, int64_t nr, int64_t elem, int64_t a_cap,
                           int64_t nc_cap);

}  // namespace ember
