// CUDA C++ on the CPU: the host header that lets g++ compile ember's .cu kernel files for the
// emulator (ember.backend.cuda.emu). build.py force-includes it first and defines
// EMBER_CUDA_EMULATION, then generates one extern "C" launch wrapper per __global__ kernel.
//
// Semantics (what a CUDA block guarantees, nothing more):
//  * blocks run one after another; a block's threads run as cooperative fibers on the calling
//    OS thread, in threadIdx order, each until it returns or reaches __syncthreads();
//  * __syncthreads() is a barrier over the block: every thread of the block must reach it (a
//    thread that returned while others wait is reported as an error, as CUDA leaves it
//    undefined);
//  * static __shared__ variables are function-local statics (valid because blocks are
//    sequential); dynamic shared memory (EMBER_DYNAMIC_SHARED) is a per-launch buffer filled
//    with 0xFF bytes (NaN for floats) so a read before a write shows up;
//  * a kernel that never syncs costs one plain function call per thread: one fiber runs the
//    threads in a loop and a new fiber starts only when a thread waits at a barrier.
// Fibers, not std::threads: on a two-core machine a 256-thread block with OS threads costs a
// context switch per thread per barrier; a fiber switch is a few nanoseconds.
// __expf/__logf come from glibc (same names, full precision).
// Not covered: warp intrinsics, atomics, cooperative groups, half types (ember's kernels use none).
#pragma once
#ifndef EMBER_CUDA_EMULATION
#define EMBER_CUDA_EMULATION 1
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>
#if !defined(__x86_64__) || defined(EMBER_EMU_UCONTEXT)
#include <ucontext.h>
#define EMBER_EMU_USE_UCONTEXT 1
#endif

// ---- CUDA keywords -------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__ static
#define __shared__ static
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)

struct uint3 { unsigned int x, y, z; };
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

// One launch runs at a time per loaded module (a mutex in the launcher), and all of a launch's
// fibers run on one OS thread, so these can be plain globals.
static uint3 threadIdx;
static uint3 blockIdx;
static dim3 blockDim;
static dim3 gridDim;
static constexpr int warpSize = 32;

// ---- device intrinsics and math ------------------------------------------------------------
static inline float __int_as_float(int v) { float f; memcpy(&f, &v, 4); return f; }
static inline int __float_as_int(float f) { int v; memcpy(&v, &f, 4); return v; }
static inline unsigned int __float_as_uint(float f) { unsigned int v; memcpy(&v, &f, 4); return v; }
static inline float __uint_as_float(unsigned int v) { float f; memcpy(&f, &v, 4); return f; }
static inline double __longlong_as_double(long long v) { double d; memcpy(&d, &v, 8); return d; }
static inline long long __double_as_longlong(double d) { long long v; memcpy(&v, &d, 8); return v; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float __fdividef(float a, float b) { return a / b; }
static inline float fdividef(float a, float b) { return a / b; }
static inline void __threadfence() {}
static inline void __threadfence_block() {}
[[noreturn]] static inline void __trap() { __builtin_trap(); }
// CUDA's integer/float min and max overloads (device code has them without any header).
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
static inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
static inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }

namespace ember_emu {

// ---- fibers ----------------------------------------------------------------------------------
constexpr size_t kStackBytes = 256 * 1024;  // kernels keep small locals; a guard page catches overflow
constexpr size_t kGuardBytes = 4096;

struct Fiber {
  void* sp = nullptr;          // saved stack pointer (x86-64 switch)
  char* stack = nullptr;       // mapping, guard page first
  unsigned int tid = 0;        // linear thread index in the block it runs now
  unsigned int stagger = 0;    // bytes left unused at the stack top (see new_fiber)
  bool waiting = false;        // stopped at __syncthreads
#ifdef EMBER_EMU_USE_UCONTEXT
  ucontext_t ctx;
#endif
};

struct Launch {
  void (*body)(void*) = nullptr;  // runs the kernel once for the current threadIdx/blockIdx
  void* ctx = nullptr;
  unsigned int nthreads = 0, next_tid = 0, alive = 0;
  std::vector<Fiber*> waiting;
  std::vector<Fiber*> round;  // the fibers being released from a barrier
};

static Launch* g_launch = nullptr;
static Fiber* g_current = nullptr;
static std::vector<Fiber*> g_free;   // idle fibers (their runner loop parked), reused across launches
static std::vector<Fiber*> g_fresh;  // fibers whose stack must be (re)initialised before use
static unsigned char* g_dynamic_shared = nullptr;

static inline void set_thread_idx(unsigned int tid) {
  threadIdx.x = tid % blockDim.x;
  threadIdx.y = (tid / blockDim.x) % blockDim.y;
  threadIdx.z = tid / (blockDim.x * blockDim.y);
}

static inline void* dynamic_shared() { return g_dynamic_shared; }

static void runner(Fiber* f);

#ifndef EMBER_EMU_USE_UCONTEXT
// ember_emu_switch(&save_sp, new_sp): push the callee-saved registers, store rsp, load the
// other stack, pop its registers and return into it (System V x86-64: rbx, rbp, r12-r15 are
// callee-saved; MXCSR/x87 control words are never changed by kernels, so not saved).
extern "C" void ember_emu_switch(void** save_sp, void* new_sp);
extern "C" void ember_emu_trampoline();
asm(R"(
  .text
  .p2align 4
  .hidden ember_emu_switch
  .type ember_emu_switch,@function
ember_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ember_emu_switch,.-ember_emu_switch
  .p2align 4
  .hidden ember_emu_trampoline
  .type ember_emu_trampoline,@function
ember_emu_trampoline:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size ember_emu_trampoline,.-ember_emu_trampoline
)");
static void* g_sched_sp = nullptr;

static void fiber_init(Fiber* f) {
  // A fresh stack laid out as if ember_emu_switch had saved it: six registers, then the
  // trampoline as return address; r12 = fiber, r13 = entry. After `ret` rsp is 16-aligned,
  // as the trampoline's call needs.
  uintptr_t top = reinterpret_cast<uintptr_t>(f->stack + kGuardBytes + kStackBytes - f->stagger) &
                  ~uintptr_t(15);
  void** sp = reinterpret_cast<void**>(top - 8 - 7 * 8);
  sp[0] = nullptr;                                            // r15
  sp[1] = nullptr;                                            // r14
  sp[2] = reinterpret_cast<void*>(&runner);                   // r13
  sp[3] = f;                                                  // r12
  sp[4] = nullptr;                                            // rbx
  sp[5] = nullptr;                                            // rbp
  sp[6] = reinterpret_cast<void*>(&ember_emu_trampoline);     // return address
  f->sp = sp;
}
static inline void resume(Fiber* f) { g_current = f; ember_emu_switch(&g_sched_sp, f->sp); }
static inline void yield_to_scheduler(Fiber* f) { ember_emu_switch(&f->sp, g_sched_sp); }
#else
static ucontext_t g_sched_ctx;
static void ucontext_entry(unsigned int hi, unsigned int lo) {
  runner(reinterpret_cast<Fiber*>((uintptr_t(hi) << 32) | uintptr_t(lo)));
}
static void fiber_init(Fiber* f) {
  getcontext(&f->ctx);
  f->ctx.uc_stack.ss_sp = f->stack + kGuardBytes;
  f->ctx.uc_stack.ss_size = kStackBytes - f->stagger;
  f->ctx.uc_link = nullptr;
  uintptr_t p = reinterpret_cast<uintptr_t>(f);
  makecontext(&f->ctx, reinterpret_cast<void (*)()>(&ucontext_entry), 2,
              static_cast<unsigned int>(p >> 32), static_cast<unsigned int>(p & 0xffffffffu));
}
static inline void resume(Fiber* f) { g_current = f; swapcontext(&g_sched_ctx, &f->ctx); }
static inline void yield_to_scheduler(Fiber* f) { swapcontext(&f->ctx, &g_sched_ctx); }
#endif

static Fiber* new_fiber() {
  void* mem = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) throw std::bad_alloc();
  mprotect(mem, kGuardBytes, PROT_NONE);  // the stack grows down into this page: a clean fault
  Fiber* f = new Fiber();
  f->stack = static_cast<char*>(mem);
  // Stacks are 256 KiB apart, so their hot top lines would all map to the same L1 sets:
  // shift each fiber's top by a different multiple of 64 bytes within a page.
  static unsigned int count = 0;
  f->stagger = (count++ % 61) * 64;
  return f;
}

static Fiber* get_fiber() {
  if (!g_free.empty()) { Fiber* f = g_free.back(); g_free.pop_back(); return f; }
  Fiber* f;
  if (!g_fresh.empty()) { f = g_fresh.back(); g_fresh.pop_back(); }
  else f = new_fiber();
  fiber_init(f);
  return f;
}

// A fiber's life: start the block's next unstarted thread, run it to its end, repeat; when
// none is left, park (return to the scheduler) until reused.
static void runner(Fiber* f) {
  for (;;) {
    Launch* L = g_launch;
    while (L->next_tid < L->nthreads) {
      f->tid = L->next_tid++;
      ++L->alive;
      set_thread_idx(f->tid);
      L->body(L->ctx);
      --L->alive;
    }
    yield_to_scheduler(f);
  }
}

static inline void syncthreads() {
  Fiber* f = g_current;
  f->waiting = true;
  g_launch->waiting.push_back(f);
  yield_to_scheduler(f);
  // resumed by the scheduler after every thread of the block arrived
}

// Runs one block; returns an error message, empty on success.
static std::string run_block(Launch& L) {
  L.next_tid = 0;
  L.alive = 0;
  L.waiting.clear();
  while (L.next_tid < L.nthreads) {
    Fiber* f = get_fiber();
    f->waiting = false;
    resume(f);
    if (!f->waiting) g_free.push_back(f);  // parked runner: reusable as is
  }
  while (!L.waiting.empty()) {
    if (L.waiting.size() != L.nthreads) {
      std::string msg = "__syncthreads() reached by " + std::to_string(L.waiting.size()) + " of " +
                        std::to_string(L.nthreads) + " threads of block (" +
                        std::to_string(blockIdx.x) + ", " + std::to_string(blockIdx.y) + ", " +
                        std::to_string(blockIdx.z) +
                        ") while the others returned (undefined behaviour in CUDA: every thread "
                        "of a block must reach each __syncthreads)";
      for (Fiber* w : L.waiting) g_fresh.push_back(w);  // abandoned mid-kernel: re-init before reuse
      L.waiting.clear();
      return msg;
    }
    L.round.swap(L.waiting);
    L.waiting.clear();
    auto by_tid = [](Fiber* a, Fiber* b) { return a->tid < b->tid; };
    if (!std::is_sorted(L.round.begin(), L.round.end(), by_tid))
      std::sort(L.round.begin(), L.round.end(), by_tid);
    for (Fiber* f : L.round) {
      f->waiting = false;
      set_thread_idx(f->tid);
      resume(f);
      if (!f->waiting) g_free.push_back(f);
    }
  }
  return std::string();
}

struct Config {
  unsigned int grid[3];
  unsigned int block[3];
  unsigned long long shared_bytes;
};

static std::mutex g_launch_mutex;

template <class Body>
static void invoke_body(void* p) { (*static_cast<Body*>(p))(); }

// Launches `body` over the grid; writes a message into err and returns non-zero on failure.
template <class Body>
static int launch(const Config& cfg, Body&& body, char* err, int errlen) {
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  try {
    std::vector<unsigned char> dyn(cfg.shared_bytes ? cfg.shared_bytes : 1, 0xFF);
    g_dynamic_shared = dyn.data();
    gridDim = dim3(cfg.grid[0], cfg.grid[1], cfg.grid[2]);
    blockDim = dim3(cfg.block[0], cfg.block[1], cfg.block[2]);
    Launch L;
    using B = typename std::remove_reference<Body>::type;
    L.body = &invoke_body<B>;
    L.ctx = &body;
    L.nthreads = cfg.block[0] * cfg.block[1] * cfg.block[2];
    g_launch = &L;
    std::string msg;
    for (unsigned int z = 0; z < cfg.grid[2] && msg.empty(); ++z)
      for (unsigned int y = 0; y < cfg.grid[1] && msg.empty(); ++y)
        for (unsigned int x = 0; x < cfg.grid[0] && msg.empty(); ++x) {
          blockIdx.x = x; blockIdx.y = y; blockIdx.z = z;
          msg = run_block(L);
        }
    g_launch = nullptr;
    g_dynamic_shared = nullptr;
    if (!msg.empty()) {
      snprintf(err, static_cast<size_t>(errlen), "%s", msg.c_str());
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    snprintf(err, static_cast<size_t>(errlen), "emulator failure: %s", e.what());
    return 2;
  }
}

}  // namespace ember_emu

static inline void __syncthreads() { ember_emu::syncthreads(); }
