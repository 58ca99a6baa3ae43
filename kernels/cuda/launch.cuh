// SLUICE_LAUNCH(kernel, grid, block, smem, stream, args...): the op
// launchers' kernel launch. Under nvcc it is exactly
// kernel<<<grid, block, smem, stream>>>(args...); under the host emulation
// (check/host_emulation.h, included first) it runs the kernel synchronously
// on the CPU through emu::launch (or records it, arguments by value, while
// `stream` is capturing a CUDA graph), so the launchers' real grid, block and
// shared-memory choices and argument order execute without a GPU. A kernel
// named with template arguments goes in parentheses: (k<T, 16>).
#pragma once

#ifdef SLUICE_CUDA_HOST_EMULATION
#define SLUICE_LAUNCH(kernel, grid, block, smem, stream, ...) \
  ::sluice::cuda::emu::launch_on((stream), (grid), (block), (smem), [=] { kernel(__VA_ARGS__); })
#else
#define SLUICE_LAUNCH(kernel, grid, block, smem, stream, ...) \
  kernel<<<grid, block, smem, stream>>>(__VA_ARGS__)
#endif
