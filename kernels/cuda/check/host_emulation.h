// Runs CUDA kernel code on the CPU, for tests on machines without a GPU:
// every thread of a block is a fiber on the calling thread; __syncthreads,
// __syncwarp and warp shuffles switch fibers until every live thread of the
// block or warp has arrived; WMMA fragments are plain arrays and the
// collective loads/stores check the alignment and stride rules the hardware
// enforces. Blocks run one after another. Slow and only for small shapes,
// but it executes the kernels' real index arithmetic, masking and
// synchronisation, so wrong indexing shows up before anyone has a GPU.
// Dynamic shared memory starts as garbage (0xCD bytes), so reading what no
// thread wrote shows up too; a barrier reached by only part of a block or
// warp aborts as a deadlock.
//
// 16-byte accesses (load8/store8) must be 16-byte aligned, as on the GPU.
//
// Include this before a kernel header (…_tc.cuh, …_simple.cuh,
// …_kernels.cuh), from a host compiler only, single-threaded. Kernels take
// dynamic shared memory from dynamic_smem().
#pragma once
#ifdef __CUDACC__
#error "host_emulation.h is for host compilers"
#endif
// Turns on the emulation's checks in device_common.cuh.
#define SLUICE_CUDA_HOST_EMULATION 1
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace sluice::cuda::emu {

[[noreturn]] inline void fault(const char* what) {
  std::fprintf(stderr, "host emulation: %s\n", what);
  std::abort();
}

// One block at a time: its threads are fibers (ucontext) on the calling
// thread, switched at barriers, so a barrier costs a context switch, not an
// OS wake-up, and the order of execution is deterministic.
struct Fiber {
  enum class State { kReady, kAtWarpBarrier, kAtBlockBarrier, kDone };
  ucontext_t context{};
  std::unique_ptr<char[]> stack;
  State state = State::kReady;
};

struct Scheduler {
  static constexpr std::size_t kStackBytes = 256 * 1024;
  ucontext_t main{};
  std::vector<Fiber> fibers;
  unsigned current = 0;
  const std::function<void()>* body = nullptr;
  std::vector<float> exchange;  // one slot per thread, for shuffles
  unsigned char* smem = nullptr;
};
inline Scheduler* scheduler = nullptr;

inline void wait_at(Fiber::State s) {
  Fiber& f = scheduler->fibers[scheduler->current];
  f.state = s;
  asm volatile("" ::: "memory");  // a barrier orders memory, for the compiler too
  swapcontext(&f.context, &scheduler->main);
  asm volatile("" ::: "memory");
}

inline unsigned current_thread() { return scheduler->current; }

inline void check_aligned16(const void* p, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0) fault(what);
}

}  // namespace sluice::cuda::emu

// Launch attributes mean nothing on the CPU. (Static __shared__ arrays are
// not emulated: as function statics the optimiser may keep them in registers
// across a barrier. Kernels under emulation use dynamic_smem().)
#define __launch_bounds__(...)

// CUDA built-ins of the running (emulated) thread.
inline uint3 threadIdx;
inline uint3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

inline void __syncthreads() {
  sluice::cuda::emu::wait_at(sluice::cuda::emu::Fiber::State::kAtBlockBarrier);
}
inline void __syncwarp(unsigned = 0xffffffffu) {
  sluice::cuda::emu::wait_at(sluice::cuda::emu::Fiber::State::kAtWarpBarrier);
}
namespace sluice::cuda::emu {
// One warp shuffle: this thread offers v and reads what lane `src` of its warp offered.
inline float warp_exchange(float v, unsigned src) {
  const unsigned tid = scheduler->current, warp_base = tid / 32 * 32;
  scheduler->exchange[tid] = v;
  __syncwarp();
  const float r = scheduler->exchange[warp_base + (src & 31u)];
  __syncwarp();
  return r;
}
}  // namespace sluice::cuda::emu
inline float __shfl_xor_sync(unsigned, float v, int lane_mask) {
  const unsigned lane = sluice::cuda::emu::scheduler->current % 32;
  return sluice::cuda::emu::warp_exchange(v, lane ^ static_cast<unsigned>(lane_mask));
}
inline float __shfl_sync(unsigned, float v, int src_lane) {
  return sluice::cuda::emu::warp_exchange(v, static_cast<unsigned>(src_lane));
}
inline float __expf(float x) { return std::exp(x); }
// cuda_runtime.h's templated form (nvcc only): a kernel passed by name.
template <class F>
cudaError_t cudaFuncSetAttribute(F* func, cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(func), attr, value);
}
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

namespace sluice::cuda {
inline unsigned char* dynamic_smem() { return emu::scheduler->smem; }
}  // namespace sluice::cuda

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static constexpr int kRows = std::is_same_v<Use, matrix_b> ? K : M;
  static constexpr int kCols = std::is_same_v<Use, matrix_a> ? K : N;
  T x[kRows * kCols];
};

inline float emu_to_float(__half v) { return __half2float(v); }
inline float emu_to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
inline float emu_to_float(float v) { return v; }

template <class T>
void check_access(const T* p, unsigned ldm, const char* what) {
  // The hardware rules: 256-bit aligned pointer, ldm a multiple of 16 bytes.
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0) sluice::cuda::emu::fault(what);
  if ((ldm * sizeof(T)) % 16 != 0) sluice::cuda::emu::fault(what);
}

template <class Use, int M, int N, int K, class T, class L>
void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const T* p, unsigned ldm) {
  check_access(p, ldm,
               "load_matrix_sync: pointer not 32-byte aligned or ldm not a multiple of 16 bytes");
  // Collective ops: one copy (lane 0's) does the work; stores write it.
  if (sluice::cuda::emu::current_thread() % 32 != 0) return;
  using F = fragment<Use, M, N, K, T, L>;
  for (int i = 0; i < F::kRows; ++i)
    for (int j = 0; j < F::kCols; ++j)
      f.x[i * F::kCols + j] = std::is_same_v<L, row_major> ? p[i * ldm + j] : p[j * ldm + i];
}

template <int M, int N, int K>
void fill_fragment(fragment<accumulator, M, N, K, float>& f, float v) {
  for (auto& e : f.x) e = v;
}

template <int M, int N, int K, class Ta, class La, class Tb, class Lb>
void mma_sync(fragment<accumulator, M, N, K, float>& d,
              const fragment<matrix_a, M, N, K, Ta, La>& a,
              const fragment<matrix_b, M, N, K, Tb, Lb>& b,
              const fragment<accumulator, M, N, K, float>& c) {
  if (sluice::cuda::emu::current_thread() % 32 != 0) return;
  float out[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float acc = c.x[i * N + j];
      for (int k = 0; k < K; ++k)
        acc += emu_to_float(a.x[i * K + k]) * emu_to_float(b.x[k * N + j]);
      out[i * N + j] = acc;
    }
  for (int i = 0; i < M * N; ++i) d.x[i] = out[i];
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm,
                       layout_t layout) {
  check_access(p, ldm,
               "store_matrix_sync: pointer not 32-byte aligned or ldm not a multiple of 16 bytes");
  if (sluice::cuda::emu::current_thread() % 32 != 0) return;
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float& dst = layout == mem_row_major ? p[i * ldm + j] : p[j * ldm + i];
      dst = f.x[i * N + j];
    }
}

}  // namespace nvcuda::wmma

namespace sluice::cuda::emu {

inline void fiber_entry() {
  (*scheduler->body)();
  scheduler->fibers[scheduler->current].state = Fiber::State::kDone;
  // returning resumes uc_link: the scheduler
}

#pragma GCC diagnostic push
// getcontext() "returns twice" for GCC's analysis; here it only prepares
// fibers, which start in fiber_entry, so no local of launch() is clobbered.
#pragma GCC diagnostic ignored "-Wclobbered"
// Runs body() as every thread of every block of the grid (blocks in turn).
// A barrier that not every live thread of its warp/block reaches is reported
// as a deadlock (divergent barrier), which is a bug on the GPU too.
inline void launch(dim3 grid, dim3 block, std::size_t smem_bytes,
                   const std::function<void()>& body) {
  const unsigned threads = block.x * block.y * block.z;
  if (threads % 32 != 0 || block.y != 1 || block.z != 1)
    fault("launch: 1-D blocks of whole warps only");
  Scheduler s;
  s.body = &body;
  s.exchange.assign(threads, 0.f);
  s.fibers.resize(threads);
  for (auto& f : s.fibers) f.stack = std::make_unique<char[]>(Scheduler::kStackBytes);
  auto* smem = static_cast<unsigned char*>(::operator new[](smem_bytes + 1, std::align_val_t{128}));
  s.smem = smem;
  scheduler = &s;
  using State = Fiber::State;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        std::fill(smem, smem + smem_bytes + 1, static_cast<unsigned char>(0xCD));
        for (auto& f : s.fibers) {
          getcontext(&f.context);
          f.context.uc_stack.ss_sp = f.stack.get();
          f.context.uc_stack.ss_size = Scheduler::kStackBytes;
          f.context.uc_link = &s.main;
          makecontext(&f.context, fiber_entry, 0);
          f.state = State::kReady;
        }
        blockIdx = make_uint3(x, y, z);
        blockDim = block;
        gridDim = grid;
        for (;;) {
          bool progressed = false;
          for (unsigned t = 0; t < threads; ++t) {
            if (s.fibers[t].state != State::kReady) continue;
            s.current = t;
            threadIdx = make_uint3(t, 0, 0);
            swapcontext(&s.main, &s.fibers[t].context);
            progressed = true;
          }
          bool all_done = true, all_at_block = true, any_alive = false;
          for (unsigned w = 0; w < threads / 32; ++w) {
            bool warp_alive = false, warp_at_warp = true;
            for (unsigned t = w * 32; t < w * 32 + 32; ++t) {
              const State st = s.fibers[t].state;
              if (st == State::kDone) continue;
              warp_alive = any_alive = true;
              all_done = false;
              if (st != State::kAtWarpBarrier) warp_at_warp = false;
              if (st != State::kAtBlockBarrier) all_at_block = false;
            }
            if (warp_alive && warp_at_warp) {
              for (unsigned t = w * 32; t < w * 32 + 32; ++t)
                if (s.fibers[t].state == State::kAtWarpBarrier) s.fibers[t].state = State::kReady;
              progressed = true;
            }
          }
          if (all_done) break;
          if (any_alive && all_at_block) {
            for (auto& f : s.fibers)
              if (f.state == State::kAtBlockBarrier) f.state = State::kReady;
            progressed = true;
          }
          if (!progressed)
            fault(
                "deadlock: threads wait at different barriers (divergent "
                "__syncthreads/__syncwarp)");
        }
      }
  scheduler = nullptr;
  ::operator delete[](smem, std::align_val_t{128});
}

#pragma GCC diagnostic pop

// Stream capture (CUDA graphs), for the runtime stand-ins
// (emulated_runtime.cpp): while a stream is capturing, work enqueued on it —
// kernel launches (SLUICE_LAUNCH), async copies and memsets, cuBLAS calls —
// is recorded as closures instead of run; replaying the graph runs them in
// order, reading the buffers' contents at replay time, as on the GPU. Kernel
// arguments are captured by value at launch, as a graph's kernel nodes do.
struct Capture {
  cudaStream_t stream = nullptr;
  std::vector<std::function<void()>> work;
};
inline thread_local Capture* capturing = nullptr;  // this thread's capture, if any

// Runs `work` now (streams are synchronous here), or records it when
// `stream` is the capturing one.
inline void run_on(cudaStream_t stream, std::function<void()> work) {
  if (capturing && capturing->stream == stream) {
    capturing->work.push_back(std::move(work));
    return;
  }
  work();
}

// SLUICE_LAUNCH's expansion: a kernel launch on `stream`.
inline void launch_on(cudaStream_t stream, dim3 grid, dim3 block, std::size_t smem_bytes,
                      std::function<void()> body) {
  run_on(stream, [grid, block, smem_bytes, body = std::move(body)] {
    launch(grid, block, smem_bytes, body);
  });
}

}  // namespace sluice::cuda::emu
