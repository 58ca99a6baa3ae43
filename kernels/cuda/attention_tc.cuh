// The tensor-core attention kernel (see attention.cuh for the op): one
// block per (sequence, head, 64 queries), 16 query rows per warp. Q is loaded
// once (bias added) into WMMA fragments; K and V stream through shared memory
// in tiles of 64 keys (both tiles' global loads in flight together, as Q's); each warp
// computes S = Q·Kᵀ for its rows into shared memory, updates the online softmax
// (running max and sum per row, in registers), writes P as fp16/bf16, computes
// P·V on the tensor cores and folds it into its fp32 output rows, rescaled by
// exp(m_old - m_new). Rows and keys past the sequence are zero-filled on load
// and masked (-inf) before the softmax, so nothing outside the sequence can
// leak in.
//
// The softmax and the output update give each row of a warp's 16 to a lane
// pair (lanes 2r and 2r + 1; lane half h takes the columns 2j + h), so the 16
// rows run in parallel and a row's max and sum take one shuffle each. The
// first version walked the rows one at a time, each with two 5-step warp
// reductions; on an H200 the kernel then cost the same per (block, key tile)
// whatever the valid rows, 93 us per BERT-base layer at 8k tokens
// (kernels/cuda/NOTES.md).
//
// Kernel code only, included by attention_tc.cu and by the host emulation
// test (tests/gpu/emulated_kernels_test.cpp), which runs it on the CPU with
// emulated threads, barriers, shuffles and WMMA fragments.
#pragma once
#ifdef __CUDACC__
#include <mma.h>
#endif

#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {

namespace wmma = nvcuda::wmma;

template <class T, int DH>
struct TcLayout {
  static constexpr int kWarps = 4;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBQ = 16 * kWarps;  // queries per block
  static constexpr int kBK = 64;           // keys per tile
  static constexpr int kLdT =
      DH + 8;  // Q/K/V tile row stride (elements): 16-byte rows, banks shifted
  static constexpr int kLdS =
      kBK + 4;  // fp32 scratch row stride: S (kBK cols), then P·V (DH ≤ kBK cols)
  static constexpr int kLdP = kBK + 8;  // P row stride (elements)
  static constexpr int kLdO = DH + 4;   // fp32 output accumulator row stride
  static_assert(DH % 16 == 0 && DH <= kBK, "head_dim must be a multiple of 16, at most 64");

  static constexpr size_t align(size_t x) { return (x + 127) / 128 * 128; }
  static constexpr size_t kQBytes = align(size_t{kBQ} * kLdT * sizeof(T));
  static constexpr size_t kKVBytes = align(size_t{kBK} * kLdT * sizeof(T));
  static constexpr size_t kSBytes = align(size_t{kWarps} * 16 * kLdS * sizeof(float));
  static constexpr size_t kPBytes = align(size_t{kWarps} * 16 * kLdP * sizeof(T));
  static constexpr size_t kOBytes = align(size_t{kWarps} * 16 * kLdO * sizeof(float));
  static constexpr size_t kOffQ = 0;
  static constexpr size_t kOffK = kOffQ + kQBytes;
  static constexpr size_t kOffV = kOffK + kKVBytes;
  static constexpr size_t kOffS = kOffV + kKVBytes;
  static constexpr size_t kOffP = kOffS + kSBytes;
  static constexpr size_t kOffO = kOffP + kPBytes;
  static constexpr size_t kTotal = kOffO + kOBytes;
  // Blocks per SM the registers must leave room for: as many as shared memory
  // allows on sm_80/sm_90 (227 KB a block at most, 1 KB reserved per block), at
  // most 4: 3 at head_dim 64 (70 KB), 4 at 32 and 16. Left to itself nvcc 13 gave
  // head_dim 64 164-168 registers, which only just fit 3 blocks.
  static constexpr int kMinBlocks = static_cast<int>((227 * 1024) / (kTotal + 1024)) < 4
                                        ? static_cast<int>((227 * 1024) / (kTotal + 1024))
                                        : 4;
};

// Copies rows [0, ROWS) × cols [0, DH) of M matrices of one head (Q, or K and
// V of the same key range) into shared tiles (row stride ld_dst), adding the
// bias; rows ≥ valid_rows become zeros. Every global load of a thread is issued
// before the first conversion and store, so their latencies overlap (THREADS is
// the block size the kernel is launched with). 16-byte loads: the entry checked
// that rows and head offsets are 16-byte aligned.
template <class T, int DH, int ROWS, int THREADS, int M>
__device__ __forceinline__ void load_tiles(T* const (&dst)[M], int ld_dst,
                                           const T* __restrict__ qkv, int64_t ld, int64_t first_row,
                                           int valid_rows, const int (&col)[M],
                                           const float* const (&bias)[M]) {
  constexpr int kChunks = DH / 8;
  constexpr int kPer = (ROWS * kChunks + THREADS - 1) / THREADS;
  Vec8<T> v[M][kPer];
#pragma unroll
  for (int n = 0; n < kPer; ++n) {
    const int i = static_cast<int>(threadIdx.x) + n * THREADS;
    const int r = i / kChunks;
    const int c = (i % kChunks) * 8;
    if (i < ROWS * kChunks && r < valid_rows) {
#pragma unroll
      for (int m = 0; m < M; ++m) v[m][n] = load8(qkv + (first_row + r) * ld + col[m] + c);
    }
  }
#pragma unroll
  for (int n = 0; n < kPer; ++n) {
    const int i = static_cast<int>(threadIdx.x) + n * THREADS;
    if (i >= ROWS * kChunks) break;
    const int r = i / kChunks;
    const int c = (i % kChunks) * 8;
    if (r < valid_rows) {
#pragma unroll
      for (int m = 0; m < M; ++m) {
        if (bias[m]) {
#pragma unroll
          for (int k = 0; k < 8; ++k)
            v[m][n].v[k] = from_f32<T>(to_f32(v[m][n].v[k]) + bias[m][c + k]);
        }
      }
    } else {
#pragma unroll
      for (int m = 0; m < M; ++m)
#pragma unroll
        for (int k = 0; k < 8; ++k) v[m][n].v[k] = from_f32<T>(0.f);
    }
#pragma unroll
    for (int m = 0; m < M; ++m) store8(dst[m] + r * ld_dst + c, v[m][n]);
  }
}

template <class T, int DH>
__global__ void __launch_bounds__(TcLayout<T, DH>::kThreads, TcLayout<T, DH>::kMinBlocks)
    attention_tc_kernel(const T* __restrict__ qkv, int64_t ld, const float* __restrict__ bias,
                        const int32_t* __restrict__ cu, int heads, float scale, int first_only,
                        T* __restrict__ out, int64_t ld_out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // built for sm_80 and newer only (bf16 fragments)
#else
  using L = TcLayout<T, DH>;
  unsigned char* smem = dynamic_smem();
  T* Qs = reinterpret_cast<T*>(smem + L::kOffQ);
  T* Ks = reinterpret_cast<T*>(smem + L::kOffK);
  T* Vs = reinterpret_cast<T*>(smem + L::kOffV);

  const int s = blockIdx.x;
  const int h = blockIdx.y;
  const int q0 = blockIdx.z * L::kBQ;
  const int start = cu[s];
  const int len = cu[s + 1] - start;
  if (q0 >= len) return;  // uniform over the block, before any barrier
  const int d = heads * DH;
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  float* Sw = reinterpret_cast<float*>(smem + L::kOffS) + warp * 16 * L::kLdS;
  T* Pw = reinterpret_cast<T*>(smem + L::kOffP) + warp * 16 * L::kLdP;
  float* Ow = reinterpret_cast<float*>(smem + L::kOffO) + warp * 16 * L::kLdO;

  load_tiles<T, DH, L::kBQ, L::kThreads, 1>({Qs}, L::kLdT, qkv, ld, start + q0,
                                            min(L::kBQ, len - q0), {h * DH},
                                            {bias ? bias + h * DH : nullptr});
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> qf[DH / 16];
#pragma unroll
  for (int kk = 0; kk < DH / 16; ++kk)
    wmma::load_matrix_sync(qf[kk], Qs + warp * 16 * L::kLdT + kk * 16, L::kLdT);
  for (int i = lane; i < 16 * DH; i += 32) Ow[(i / DH) * L::kLdO + i % DH] = 0.f;

  // This lane's row of the warp's 16 and its half of the columns (2j + half).
  const int row = lane >> 1;
  const int half = lane & 1;
  float m_run = -INFINITY, l_run = 0.f;  // of row `row`, the same in both lanes of the pair

  for (int k0 = 0; k0 < len; k0 += L::kBK) {
    const int kvalid = min(L::kBK, len - k0);
    __syncthreads();  // every warp is done with the previous K/V tile (and with Qs on the first
                      // pass)
    load_tiles<T, DH, L::kBK, L::kThreads, 2>(
        {Ks, Vs}, L::kLdT, qkv, ld, start + k0, kvalid, {d + h * DH, 2 * d + h * DH},
        {bias ? bias + d + h * DH : nullptr, bias ? bias + 2 * d + h * DH : nullptr});
    __syncthreads();

    // S = Q · Kᵀ for this warp's 16 rows: K row-major [key][dim] is Kᵀ column-major.
#pragma unroll
    for (int n = 0; n < L::kBK / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int kk = 0; kk < DH / 16; ++kk) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> kf;
        wmma::load_matrix_sync(kf, Ks + n * 16 * L::kLdT + kk * 16, L::kLdT);
        wmma::mma_sync(acc, qf[kk], kf, acc);
      }
      wmma::store_matrix_sync(Sw + n * 16, acc, L::kLdS, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax of this lane's row over its half of the tile's keys; the pair
    // combines max and sum with one shuffle each.
    float sv[L::kBK / 2];
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < L::kBK / 2; ++j) {
      const int c = 2 * j + half;
      sv[j] = c < kvalid ? Sw[row * L::kLdS + c] * scale : -INFINITY;
      mx = fmaxf(mx, sv[j]);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float m_new = fmaxf(m_run, mx);  // finite: key k0 is valid (column 0)
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < L::kBK / 2; ++j) {
      const float p = __expf(sv[j] - m_new);  // 0 for masked keys
      sum += p;
      Pw[row * L::kLdP + 2 * j + half] = from_f32<T>(p);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    const float alpha = __expf(m_run - m_new);  // 0 on the first tile (m_run = -inf)
    l_run = l_run * alpha + sum;
    m_run = m_new;
    __syncwarp();

    // P · V into the scratch rows (S is consumed), then O = O·alpha + P·V.
#pragma unroll
    for (int n = 0; n < DH / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int kk = 0; kk < L::kBK / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> pf;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> vf;
        wmma::load_matrix_sync(pf, Pw + kk * 16, L::kLdP);
        wmma::load_matrix_sync(vf, Vs + kk * 16 * L::kLdT + n * 16, L::kLdT);
        wmma::mma_sync(acc, pf, vf, acc);
      }
      wmma::store_matrix_sync(Sw + n * 16, acc, L::kLdS, wmma::mem_row_major);
    }
    __syncwarp();
#pragma unroll
    for (int j = 0; j < DH / 2; ++j) {
      const int c = 2 * j + half;
      Ow[row * L::kLdO + c] = Ow[row * L::kLdO + c] * alpha + Sw[row * L::kLdS + c];
    }
    __syncwarp();
  }

  // Written row by row with the lanes across the columns (coalesced); each row's
  // 1 / sum comes from the first lane of its pair.
  const float inv_mine = 1.f / l_run;
#pragma unroll
  for (int r = 0; r < 16; ++r) {
    const float inv = __shfl_sync(0xffffffffu, inv_mine, 2 * r);
    const int q = q0 + warp * 16 + r;
    if (q < len && (!first_only || q == 0)) {
      const int64_t orow = first_only ? s : start + q;
      for (int c = lane; c < DH; c += 32)
        out[orow * ld_out + h * DH + c] = from_f32<T>(Ow[r * L::kLdO + c] * inv);
    }
  }
#endif
}

}  // namespace sluice::cuda
