// gemm.cpp — packed, cache-blocked GEMM in the BLIS style (driver, portable kernels,
// dispatch, batched). AVX2/FMA micro-kernels: gemm_avx2.cpp; AVX-512: gemm_avx512.cpp;
// packing: gemm_pack.h.
//
// Loop nest (BLIS):
//   for jc in N step NC:                      B block: KC x NC (L3)
//     for pc in K step KC:                    K is split only by this fixed-size KC
//       pack op(B)[pc:pc+KC, jc:jc+NC]        each thread packs the panels it uses
//       for ic in M step MC:                  A block: MC x KC, packed per thread (L2)
//         pack op(A)[ic:ic+MC, pc:pc+KC]
//         for jr in NC step NR:               one B micro-panel (L1)
//           for ir in MC step MR:             micro-kernel: MR x NR tile of C
// alpha and beta are applied in the micro-kernel store; the first K block uses beta, later
// ones accumulate (beta = 1). Threads split the micro-panel rows (M) or columns (N), never
// K: each element's sum is the same sequence of FMAs whatever the thread count, so results
// are bit-identical for 1 and 2 threads.
//
// Tall-skinny weight gradients (M and N tiny, K huge: e.g. 9 x 86528 @ 86528 x 32) have no
// parallelism over M or N; they are split into K chunks of a FIXED length (independent of
// the thread count), each chunk's product computed into a workspace, and the partial sums
// added in chunk order — still deterministic.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>

#include "cpu.h"
#include "gemm_kernels.h"
#include "gemm_pack.h"
#include "gemv_impl.h"
#include "parallel.h"

namespace ember {

namespace gemm_detail {
namespace {

// ---- portable micro-kernels (baseline x86-64: SSE2 auto-vectorisation) -------------

// MR x NR accumulators in a local array the compiler keeps in xmm registers
// (float 4x8: 8 xmm accumulators + 2 for B + 1 broadcast).
template <typename T, int MR, int NR>
void ukr_portable(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta,
                  int64_t m, int64_t n) {
  T acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    for (int i = 0; i < MR; ++i) {
      const T ai = a[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
    }
    a += MR;
    b += NR;
  }
  if (m == MR && n == NR) {
    for (int i = 0; i < MR; ++i) {
      T* cr = c + i * ldc;
      if (beta == T(0))
        for (int j = 0; j < NR; ++j) cr[j] = alpha * acc[i][j];
      else
        for (int j = 0; j < NR; ++j) cr[j] = alpha * acc[i][j] + beta * cr[j];
    }
    return;
  }
  for (int64_t i = 0; i < m; ++i) {
    T* cr = c + i * ldc;
    if (beta == T(0))
      for (int64_t j = 0; j < n; ++j) cr[j] = alpha * acc[i][j];
    else
      for (int64_t j = 0; j < n; ++j) cr[j] = alpha * acc[i][j] + beta * cr[j];
  }
}

// Portable blocking: 4 x 8 float tile; KC x NR B micro-panel = 8 KiB (L1), MC x KC A block
// = 128 KiB (L2), B block 2 MiB (L3).
KernelSet<float> portable_float_kernels() {
  return {4, 8, 128, 256, 2048, &ukr_portable<float, 4, 8>, nullptr, nullptr,
          &pack_a_generic<float, 4>,
          &pack_b_generic<float, 8>};
}
KernelSet<double> portable_double_kernels() {
  return {4, 4, 128, 256, 1024, &ukr_portable<double, 4, 4>, nullptr, nullptr,
          &pack_a_generic<double, 4>,
          &pack_b_generic<double, 4>};
}

// The kernel set for a product with N columns. The AVX-512 tile is two vectors of 16 floats
// (8 doubles) wide. For N at most half a vector, the AVX2 tile fills its 8 (4) lanes as
// well and has the tuned narrow kernels; above that the AVX-512 one wins even half empty
// (one thread, 128x128 @ 128x10: 65 -> 101 GFLOP/s; 86528x32 @ 32x9: 72 -> 92). The choice
// depends on N only, never on the thread count (bit-identical results, see above).
template <typename T>
KernelSet<T> kernels_for(int64_t N);
template <>
KernelSet<float> kernels_for<float>(int64_t N) {
  if (use_avx512() && N > 8) return avx512_float_kernels();
  return use_avx2() ? avx2_float_kernels() : portable_float_kernels();
}
template <>
KernelSet<double> kernels_for<double>(int64_t N) {
  if (use_avx512() && N > 4) return avx512_double_kernels();
  return use_avx2() ? avx2_double_kernels() : portable_double_kernels();
}

// Matrix-vector kernels: the best instruction set the CPU has, except that a running sum
// over fewer columns than an AVX-512 vector has (axpy, n < 16 floats / 8 doubles) takes
// the AVX2 kernels, whose vectors it fills.
template <typename T0>
struct GemvScalar {
  using T = T0;
  using V = T0;
  static constexpr int L = 1;
  static V zero() { return T(0); }
  static V loadu(const T* p) { return *p; }
  static V set1(T x) { return x; }
  static V add(V a, V b) { return a + b; }
  static V fmadd(V a, V b, V c) { return a * b + c; }
  static T fma(T a, T b, T c) { return a * b + c; }
  static void lanes(T* p, V x) { *p = x; }
  static T hsum(V x) { return x; }
};
template <typename T>
GemvSet<T> gemv_for(bool narrow_axpy);
template <>
GemvSet<float> gemv_for<float>(bool narrow_axpy) {
  if (use_avx512() && !narrow_axpy) return avx512_float_gemv();
  if (use_avx2()) return avx2_float_gemv();
  return {&gemv_dot<GemvScalar<float>>, &gemv_axpy<GemvScalar<float>>};
}
template <>
GemvSet<double> gemv_for<double>(bool narrow_axpy) {
  if (use_avx512() && !narrow_axpy) return avx512_double_gemv();
  if (use_avx2()) return avx2_double_gemv();
  return {&gemv_dot<GemvScalar<double>>, &gemv_axpy<GemvScalar<double>>};
}

// ---- workspaces: 64-byte aligned, grown on demand, kept per thread ------------------

struct AlignedBuf {
  void* p = nullptr;
  size_t cap = 0;
  AlignedBuf() = default;
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  ~AlignedBuf() { std::free(p); }
  template <typename T>
  T* get(size_t n) {
    const size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
    if (bytes > cap) {
      std::free(p);
      p = nullptr;
      cap = 0;
      void* q = std::aligned_alloc(64, bytes);
      if (!q) throw std::bad_alloc();
      p = q;
      cap = bytes;
    }
    return static_cast<T*>(p);
  }
};

thread_local AlignedBuf tl_apack, tl_bpack, tl_work, tl_narrow;

// ---- thresholds ---------------------------------------------------------------------

// Below this many multiply-adds a product runs on one thread. Measured here (1 vs 2
// threads, median of 21 x 50 calls), AVX2 kernels: 64^3 5.4 vs 4.7-6.3 us (a wash, and a
// loss as soon as another process wants a core), 96^3 15.6 vs 10.3 us, 128 x 784 x 10 28
// vs 18 us. AVX-512 kernels, the same crossover: 48^3 1.8 vs 2.2 us, 64^3 3.0 vs 2.9,
// 80^3 5.4 vs 4.4, 96^3 8.3 vs 6.2, 128 x 784 x 32 28 vs 17.
constexpr double kMinParallelMacs = 80.0 * 80 * 80;
// K-chunked path for tiny M x N with huge K.
constexpr int64_t kChunkK = 2048;
constexpr int64_t kChunkMaxMN = 64 * 64;
// Read A in place (no packing) when N spans at most this many NR-wide panels.
constexpr int64_t kDirectMaxN = 2;

// Equal-sized K blocks of at most ks.kc.
template <typename T>
int64_t k_block(const KernelSet<T>& ks, int64_t K) {
  const int64_t nkb = (K + ks.kc - 1) / ks.kc;
  return (K + nkb - 1) / nkb;
}

// Read A in place (no packing) for a thread that computes `rows` rows of C: when N spans at
// most kDirectMaxN micro-panels (each A panel meets at most two B panels), or when A is not
// transposed and the thread's rows x KC slice of A stays in L2 while the thread's B panels
// sweep over it (then packing A only copies what the kernel could read in place; measured
// best-of-21 single thread: 128x5408x128 107 -> 109, 128x784x128 112 -> 115, 256^3
// 106 -> 111, 64 x 256x256x64 batched 99 -> 113 GFLOP/s). Direct and packed A give the same
// sums; only the narrow-tile kernel differs, and gemm_thread uses it only where the choice
// depends on N alone.
constexpr int64_t kDirectMaxABytes = 320 * 1024;
template <typename T>
bool use_direct_a(const KernelSet<T>& ks, bool tA, int64_t N, int64_t rows, int64_t kcb) {
  if (ks.kernel_sa == nullptr) return false;
  if (N <= kDirectMaxN * ks.nr) return true;
  return !tA && rows * kcb * int64_t(sizeof(T)) <= kDirectMaxABytes;
}

// op(A) = A^T with a short K block (a dense layer's weight gradient X^T dY over a batch of
// <= 128): the micro-kernel reads the MR contiguous values of each of the kc rows of A in
// place, inside the MC loop, instead of packing them (the MC x kc block stays in L1/L2 for
// all the B panels). Only when the kc rows, lda apart, spread over at least half of the 64
// L1 sets: with lda a multiple of 1024 floats they all land in one set (measured best-of-9,
// one thread: 1024^3 A^T 119 -> 68 GFLOP/s in place; 5408x128x128 121 -> 125, 784x128x128
// 119 -> 124; two threads 238 -> 245, 234 -> 245).
template <typename T>
bool use_inplace_ta(const KernelSet<T>& ks, bool tA, int64_t lda, int64_t kcb) {
  if (!tA || ks.kernel_sa == nullptr || kcb > 128) return false;
  uint64_t sets = 0;
  for (int64_t p = 0; p < kcb; ++p) sets |= uint64_t(1) << ((uint64_t(p * lda) * sizeof(T) >> 6) & 63);
  int n = 0;
  for (; sets; sets &= sets - 1) ++n;
  return n >= 32;
}

// The whole blocked product for thread `tid` of `nthr`. split_m: threads take disjoint
// runs of MR row panels; otherwise disjoint runs of NR column panels. Each thread packs,
// into its own buffers, every B panel and A block it uses: no barriers inside the region,
// and no core reads panels out of the other core's cache. (A shared B block, packed
// cooperatively, needs two barriers per K block; measured best-of-100 at 2 threads it
// was slower: 128x784x128 180 vs 205 GFLOP/s, 128x128x784^T 177 vs 230, and under load
// each barrier can wait a whole scheduler tick. Duplicated packing of B costs about
// 8 * nthr / M of the compute; the split choice in gemm_blocked weighs it.)
template <typename T>
void gemm_thread(const KernelSet<T>& ks, bool tA, bool tB, int64_t M, int64_t N, int64_t K,
                 T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C,
                 int64_t ldc, int tid, int nthr, bool split_m) {
  const int64_t MR = ks.mr, NR = ks.nr;
  T* bp = tl_bpack.get<T>(size_t(ks.kc) * ((std::min(ks.nc, N) + NR - 1) / NR * NR));
  T* ap = tl_apack.get<T>(size_t(ks.mc) * ks.kc);
  const int64_t pm = (M + MR - 1) / MR;
  const int64_t m0 = split_m ? std::min(M, pm * tid / nthr * MR) : 0;
  const int64_t m1 = split_m ? std::min(M, pm * (tid + 1) / nthr * MR) : M;
  // Equal-sized K and M blocks (a last block of 16 after three of 256 would pay the C
  // update for almost no work). Both depend only on the shape, not on the thread count.
  const int64_t kcb = k_block(ks, K);
  const bool direct_a = use_direct_a(ks, tA, N, m1 - m0, kcb);
  const bool inplace_ta = !direct_a && use_inplace_ta(ks, tA, lda, kcb);
  const int64_t nmb = std::max<int64_t>(1, (m1 - m0 + ks.mc - 1) / ks.mc);
  const int64_t mcb = ((m1 - m0 + nmb - 1) / nmb + MR - 1) / MR * MR;
  for (int64_t jc = 0; jc < N; jc += ks.nc) {
    const int64_t nc = std::min(ks.nc, N - jc);
    const int64_t pn = (nc + NR - 1) / NR;
    const int64_t j0 = split_m ? 0 : pn * tid / nthr, j1 = split_m ? pn : pn * (tid + 1) / nthr;
    for (int64_t pc = 0; pc < K; pc += kcb) {
      const int64_t kc = std::min(kcb, K - pc);
      const T beta_k = pc == 0 ? beta : T(1);
      if (j1 > j0) {
        ks.pack_b(tB, B, ldb, pc, kc, jc + j0 * NR, std::min(nc, j1 * NR) - j0 * NR,
                  bp + j0 * NR * kc);
        if (direct_a) {  // A read in place: one pass over the rows of this thread
          const int64_t rs = tA ? 1 : lda, cs = tA ? lda : 1;
          for (int64_t jr = j0; jr < j1; ++jr) {
            const int64_t n = std::min(NR, nc - jr * NR);
            const T* bpanel = bp + jr * NR * kc;
            // (Narrow tiles sum in another order: only where direct_a depends on N alone,
            // so that the same tile never goes both ways for different thread counts.)
            if (ks.kernel_narrow && !tA && NR == 16 && n > 8 && n <= 11 && N <= kDirectMaxN * NR) {
              T* bt = tl_narrow.get<T>(size_t(3) * kc);
              for (int64_t x = 0; x < n - 8; ++x)
                for (int64_t p = 0; p < kc; ++p) bt[x * kc + p] = bpanel[p * NR + 8 + x];
              for (int64_t i = m0; i < m1; i += MR)
                ks.kernel_narrow(kc, A + i * lda + pc, lda, bpanel, bt, C + i * ldc + jc + jr * NR,
                                 ldc, alpha, beta_k, std::min(MR, m1 - i), n);
              continue;
            }
            for (int64_t i = m0; i < m1; i += MR)
              ks.kernel_sa(kc, A + i * rs + pc * cs, rs, cs, bpanel, C + i * ldc + jc + jr * NR,
                           ldc, alpha, beta_k, std::min(MR, m1 - i), n);
          }
        }
        for (int64_t ic = m0; ic < m1 && !direct_a; ic += mcb) {
          const int64_t mc = std::min(mcb, m1 - ic);
          if (!inplace_ta) ks.pack_a(tA, A, lda, ic, mc, pc, kc, ap);
          for (int64_t jr = j0; jr < j1; ++jr) {
            const int64_t n = std::min(NR, nc - jr * NR);
            const T* bpanel = bp + jr * NR * kc;
            T* cc = C + ic * ldc + jc + jr * NR;
            if (inplace_ta)
              for (int64_t ir = 0; ir < mc; ir += MR)
                ks.kernel_sa(kc, A + pc * lda + ic + ir, 1, lda, bpanel, cc + ir * ldc, ldc, alpha,
                             beta_k, std::min(MR, mc - ir), n);
            else
              for (int64_t ir = 0; ir < mc; ir += MR)
                ks.kernel(kc, ap + ir * kc, bpanel, cc + ir * ldc, ldc, alpha, beta_k,
                          std::min(MR, mc - ir), n);
          }
        }
      }
    }
  }
}

// ---- oversubscription guard -----------------------------------------------------------
// When other processes keep the cores busy, an OpenMP team whose second thread is not
// running makes the first wait for a scheduler tick at every fork/join (measured here:
// 128 x 5408 x 128 at 2 threads fell to 22 GFLOP/s, 5x below one thread, while OpenBLAS
// degraded to one core's speed). So every parallel product is timed; one that took longer
// than a single thread would have (at a conservative rate) switches ember's GEMM to one
// thread for the next 50 ms, after which threads are tried again. Results do not depend
// on the thread count, so this changes timing only, never values.
// It takes two slow products in a row: a single one is usually the team waking up after
// idling (libgomp threads sleep after a short spin; waking them costs tens of us, more
// than a whole 128^3 product), not oversubscription. Tripping on that one call kept
// 96^3 .. 128^3 on one thread for 50 ms after every pause: measured here, 300 calls right
// after a pause, 2 threads, best of 5: 96^3 106 -> 184, 128^3 110 -> 212 GFLOP/s.
std::atomic<int64_t> g_serial_until_ns{0};
std::atomic<int> g_slow_in_row{0};

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <typename T>
void note_parallel_time(double macs, int64_t t0) {
  const double rate = use_avx2() ? (sizeof(T) == 4 ? 60e9 : 30e9) : (sizeof(T) == 4 ? 15e9 : 10e9);
  const int64_t t1 = now_ns(), dt = t1 - t0;
  if (dt > 100000 && double(dt) > 1e9 * 2.0 * macs / rate) {
    if (g_slow_in_row.fetch_add(1, std::memory_order_relaxed) >= 1) {
      g_slow_in_row.store(0, std::memory_order_relaxed);
      g_serial_until_ns.store(t1 + 50000000, std::memory_order_relaxed);
    }
  } else {
    g_slow_in_row.store(0, std::memory_order_relaxed);
  }
}

// Fraction of threads kept busy when `panels` units are dealt out in contiguous runs.
inline double balance(int64_t panels, int nthr) {
  const int64_t per = (panels + nthr - 1) / nthr;
  return double(panels) / double(per * nthr);
}

template <typename T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    T* cr = C + i * ldc;
    if (beta == T(0))
      std::fill(cr, cr + N, T(0));
    else
      for (int64_t j = 0; j < N; ++j) cr[j] *= beta;
  }
}

template <typename T>
void gemm_blocked(const KernelSet<T>& ks, bool tA, bool tB, int64_t M, int64_t N, int64_t K,
                  T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C,
                  int64_t ldc, int nthr) {
  if (nthr <= 1) {
    gemm_thread<T>(ks, tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 0, 1, true);
    return;
  }
  const int64_t pm = (M + ks.mr - 1) / ks.mr;
  const int64_t pn = (std::min(ks.nc, N) + ks.nr - 1) / ks.nr;
  // Split over M duplicates the packing of B (K x N) in every thread; split over N that of
  // A (M x K). Compare time per thread in flop units, one packed element costing about
  // kPackFlops flops, with the load balance of each split.
  const double f = 2.0 * double(M) * N * K / nthr, kPackFlops = 16.0;
  // A read in place (use_direct_a) costs no packing: then splitting N packs only 1/nthr of B
  // per thread and no A (128x5408x128 at 2 threads, best-of-21: 185 -> 204 GFLOP/s; was
  // split M, every thread packing all of B).
  const int64_t kcb = k_block(ks, K), mt = (pm + nthr - 1) / nthr * ks.mr;
  // A^T read in place (use_inplace_ta) still costs its scattered cache misses, counted as
  // kReadFlops per element a thread reads (a split over N reads all of A in every thread).
  const double kReadFlops = 4.0;
  const double ta_in = use_inplace_ta(ks, tA, lda, kcb) ? kReadFlops / kPackFlops : 1.0;
  const double pa_m = use_direct_a(ks, tA, N, mt, kcb) ? 0.0 : ta_in * double(M) * K / nthr;
  const double pa_n = use_direct_a(ks, tA, N, M, kcb) ? 0.0 : ta_in * double(M) * K;
  const double t_m = f / balance(pm, nthr) + kPackFlops * (double(K) * N + pa_m);
  const double t_n = f / balance(pn, nthr) + kPackFlops * (pa_n + double(K) * N / nthr);
  // A narrow C (each thread's share of a row under 256 bytes) splits over M whenever there
  // are rows enough: a split over N would have the threads write neighbouring parts of the
  // same cache lines of every row, and read all of A each (86528 x 9 @ 9 x 32 at 2 threads:
  // split N 59-103 GFLOP/s, below one thread).
  const bool narrow_n = double(N) / nthr * sizeof(T) < 256.0 && pm >= 4 * nthr;
  const bool split_m = narrow_n || t_m <= t_n;
#ifdef EMBER_OPENMP
  const int64_t t0 = now_ns();
#pragma omp parallel num_threads(nthr)
  {
    gemm_thread<T>(ks, tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, omp_get_thread_num(),
                   omp_get_num_threads(), split_m);
  }
  note_parallel_time<T>(double(M) * N * K, t0);
#else
  gemm_thread<T>(ks, tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 0, 1, true);
#endif
}

// Requested thread count for one product, or 1 when it is too small / already nested.
inline int threads_for(double macs) {
  int nt = get_num_threads();
#ifdef EMBER_OPENMP
  if (omp_in_parallel()) nt = 1;
#endif
  if (macs < kMinParallelMacs) nt = 1;
  if (nt > 1 && now_ns() < g_serial_until_ns.load(std::memory_order_relaxed)) nt = 1;
  return std::max(nt, 1);
}

// C = alpha op(A) op(B) + beta C when C is a single row (M == 1) or column (N == 1): a
// matrix-vector product. The vector operand is made contiguous (K values); the matrix is
// read in place, by rows (dot products) when its K direction is contiguous, else by
// columns (a running sum over the rows, K strided). Threads take disjoint runs of outputs.
// Memory-bound for large sizes, so it stays out of the oversubscription guard's timing.
template <typename T>
void gemv_impl(bool tA, bool tB, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
               int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int nthr) {
  const bool col = N == 1;  // C is M x 1: x = op(B)[:, 0]; else C is 1 x N: x = op(A)[0, :]
  const int64_t len = col ? M : N;
  const bool dot = col ? !tA : tB;
  const GemvSet<T> gs = gemv_for<T>(!dot && len * int64_t(sizeof(T)) < 64);
  const T* xs = col ? B : A;
  const int64_t xstride = col ? (tB ? 1 : ldb) : (tA ? lda : 1);
  const T* R = col ? A : B;  // the matrix: output i's K values at R[i*ldr + p] (dot) or R[p*ldr + i]
  const int64_t ldr = col ? lda : ldb;
  const T* x = xs;
  if (xstride != 1) {
    T* xb = tl_narrow.get<T>(size_t(K));
    for (int64_t p = 0; p < K; ++p) xb[p] = xs[p * xstride];
    x = xb;
  }
  T* out = tl_work.get<T>(size_t(len));
  auto run = [&](int64_t b, int64_t e) {
    if (e <= b) return;
    if (dot)
      gs.dot(e - b, K, R + b * ldr, ldr, x, out + b);
    else
      gs.axpy(K, e - b, R + b, ldr, x, out + b);
  };
#ifdef EMBER_OPENMP
  if (nthr > 1 && len >= 64) {
#pragma omp parallel num_threads(nthr)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t units = (len + 31) / 32;  // runs of 32 outputs: whole vectors for axpy
      run(std::min(len, units * t / nt * 32), std::min(len, units * (t + 1) / nt * 32));
    }
  } else
#endif
    run(0, len);
  const int64_t cs = col ? ldc : 1;
  for (int64_t i = 0; i < len; ++i) {
    T* c = C + i * cs;
    *c = beta == T(0) ? alpha * out[i] : alpha * out[i] + beta * *c;
  }
}

template <typename T>
void gemm_impl(bool tA, bool tB, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
               int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int nthr) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  if (M == 1 || N == 1) {
    gemv_impl<T>(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, nthr);
    return;
  }
  const KernelSet<T> ks = kernels_for<T>(N);
  if (M * N <= kChunkMaxMN && K >= 4 * kChunkK) {
    // K-chunked: partial products of fixed-length K chunks, summed in chunk order.
    const int64_t nch = (K + kChunkK - 1) / kChunkK, mn = M * N;
    T* work = tl_work.get<T>(size_t(nch) * mn);
    auto run = [&](int64_t c0, int64_t c1) {
      for (int64_t ch = c0; ch < c1; ++ch) {
        const int64_t p0 = ch * kChunkK, kk = std::min(kChunkK, K - p0);
        const T* a = tA ? A + p0 * lda : A + p0;
        const T* b = tB ? B + p0 : B + p0 * ldb;
        gemm_blocked<T>(ks, tA, tB, M, N, kk, T(1), a, lda, b, ldb, T(0), work + ch * mn, N, 1);
      }
    };
    if (nthr > 1) {
      const int64_t t0 = now_ns();
      parallel_for(nch, 2, run);
      note_parallel_time<T>(double(M) * N * K, t0);
    } else
      run(0, nch);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        T s = work[i * N + j];
        for (int64_t ch = 1; ch < nch; ++ch) s += work[ch * mn + i * N + j];
        T* c = C + i * ldc + j;
        *c = beta == T(0) ? alpha * s : alpha * s + beta * *c;
      }
    return;
  }
  gemm_blocked<T>(ks, tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, nthr);
}

template <typename T>
void gemm_batched_impl(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha,
                       const T* A, int64_t lda, int64_t sA, const T* B, int64_t ldb, int64_t sB,
                       T beta, T* C, int64_t ldc, int64_t sC) {
  if (batch <= 0) return;
  const double macs = double(M) * N * K;
  const int nt = threads_for(macs * batch);
  // Small matrices: one whole matrix per thread, computed serially (deterministic, no
  // synchronisation inside). Large ones, or too few to share out evenly: thread inside.
  const bool across = nt > 1 && batch >= nt && (macs < 256.0 * 256 * 256 || batch % nt == 0 ||
                                                 batch >= 4 * nt);
  if (across) {
    const int64_t t0 = now_ns();
    parallel_for(batch, 2, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        gemm_impl<T>(tA, tB, M, N, K, alpha, A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC,
                     ldc, 1);
    });
    note_parallel_time<T>(macs * batch, t0);
    return;
  }
  const int nt1 = threads_for(macs);
  for (int64_t b = 0; b < batch; ++b)
    gemm_impl<T>(tA, tB, M, N, K, alpha, A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC, ldc,
                 nt1);
}

}  // namespace
}  // namespace gemm_detail

GemmPlan gemm_plan(bool is_double, int64_t N) {
  if (is_double) {
    const auto ks = gemm_detail::kernels_for<double>(N);
    return {ks.mr, ks.nr, ks.mc, ks.kc, ks.nc};
  }
  const auto ks = gemm_detail::kernels_for<float>(N);
  return {ks.mr, ks.nr, ks.mc, ks.kc, ks.nc};
}

void sgemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_detail::gemm_impl<float>(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                                gemm_detail::threads_for(double(M) * N * K));
}
void dgemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
           int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_detail::gemm_impl<double>(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                                 gemm_detail::threads_for(double(M) * N * K));
}

void sgemm_batched(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t sA, const float* B, int64_t ldb,
                   int64_t sB, float beta, float* C, int64_t ldc, int64_t sC) {
  gemm_detail::gemm_batched_impl<float>(tA, tB, batch, M, N, K, alpha, A, lda, sA, B, ldb, sB,
                                        beta, C, ldc, sC);
}
void dgemm_batched(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, double alpha,
                   const double* A, int64_t lda, int64_t sA, const double* B, int64_t ldb,
                   int64_t sB, double beta, double* C, int64_t ldc, int64_t sC) {
  gemm_detail::gemm_batched_impl<double>(tA, tB, batch, M, N, K, alpha, A, lda, sA, B, ldb, sB,
                                         beta, C, ldc, sC);
}

}  // namespace ember
