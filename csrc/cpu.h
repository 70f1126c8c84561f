// cpu.h — run-time CPU feature detection and the kernel-path switch.
//
// The AVX2/FMA kernels live in *_avx2.cpp files compiled with -mavx2 -mfma; everything
// else is baseline x86-64. A kernel calls use_avx2() to pick its path. The environment
// variable EMBER_DISABLE_AVX2=1, or ember._C.set_kernel_path("portable"), forces the
// portable path (used by the tests to exercise it on AVX2 machines).
#pragma once

namespace ember {

bool cpu_has_avx2_fma();      // what the CPU can do
bool use_avx2();              // what the kernels should do now
void set_force_portable(bool on);

}  // namespace ember
