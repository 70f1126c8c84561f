// cpu.h — run-time CPU feature detection and the kernel-path switch.
//
// The AVX2/FMA kernels live in *_avx2.cpp files compiled with -mavx2 -mfma, the AVX-512
// GEMM kernels in *_avx512.cpp (-mavx512f -mavx2 -mfma); everything else is baseline
// x86-64. A kernel calls use_avx2() / use_avx512() to pick its path. The path is capped by
// EMBER_DISABLE_AVX2=1 (portable), EMBER_DISABLE_AVX512=1 (AVX2 at most), or at run time by
// ember._C.set_kernel_path("portable" | "avx2" | "avx512" | "auto"); the tests use these to
// exercise every path on a machine that has them all.
#pragma once
#include "cache_sizes.h"  // cache_sizes(), gemm_blocking()

namespace ember {

bool cpu_has_avx2_fma();  // what the CPU can do
bool cpu_has_avx512();    // AVX-512F (with OS support for the zmm state) plus AVX2/FMA

enum KernelLevel { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };
// The best level the CPU supports, capped by the environment and set_kernel_level.
int kernel_level();
void set_kernel_level(int max_level);  // a cap; kAvx512 = "auto"

inline bool use_avx2() { return kernel_level() >= kAvx2; }      // what the kernels do now
inline bool use_avx512() { return kernel_level() >= kAvx512; }

}  // namespace ember
