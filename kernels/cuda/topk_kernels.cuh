// The recommend scorer's kernels (see topk.cuh for the ops): exclusion
// masking, a per-chunk exact top-k, and the merge of chunk candidates into
// each row's running top-k. Kernel code only, included by topk.cu (the
// launchers) and by the host emulation test.
//
// Order everywhere: score descending, ties by the lower item; only scores
// above −∞ qualify (NaN never does). A top-k is k rounds of a block-wide
// argmax, each over the entries strictly after the previous pick in that
// order: exact, deterministic, and cheap next to the GEMM for the k of a
// recommender (≤ a few hundred) and chunks of a few thousand items.
#pragma once
#include <climits>

#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {

constexpr int kTopkThreads = 256;
constexpr int kTopkChunk = 4096;  // items per block of topk_chunk_kernel
constexpr int kMaskThreads = 128;
// Dynamic shared memory of the top-k kernels: the reduction's pairs plus
// the round's pick.
inline constexpr size_t kTopkSmemBytes = kTopkThreads * (sizeof(float) + sizeof(int)) + 16;

// a comes before b in the top-k order.
__device__ __forceinline__ bool topk_before(float as, int ai, float bs, int bi) {
  return as > bs || (as == bs && ai < bi);
}

// Entry (s, i) may still be picked after (ps, pi): it comes after it in the order.
__device__ __forceinline__ bool topk_after(float s, int i, float ps, int pi) {
  return s < ps || (s == ps && i > pi);
}

// The block's best (s, i): every thread gets it. Contains __syncthreads.
__device__ __forceinline__ void topk_block_best(float& s, int& i, unsigned char* smem) {
  float* rs = reinterpret_cast<float*>(smem);
  int* ri = reinterpret_cast<int*>(smem + kTopkThreads * sizeof(float));
  const int t = threadIdx.x;
  __syncthreads();  // the previous round may still read the slots
  rs[t] = s;
  ri[t] = i;
  __syncthreads();
  for (int stride = kTopkThreads / 2; stride > 0; stride >>= 1) {
    if (t < stride && topk_before(rs[t + stride], ri[t + stride], rs[t], ri[t])) {
      rs[t] = rs[t + stride];
      ri[t] = ri[t + stride];
    }
    __syncthreads();
  }
  s = rs[0];
  i = ri[0];
}

// Grid: rows. Sets scores[r][item - begin] = −∞ for the row's excluded items
// inside [begin, begin + size).
static __global__ void topk_mask_kernel(float* __restrict__ scores, int64_t ld,
                                        const int32_t* __restrict__ ex_offsets,
                                        const int32_t* __restrict__ ex_items, int begin, int size) {
  const int r = blockIdx.x;
  float* row = scores + static_cast<int64_t>(r) * ld;
  for (int j = ex_offsets[r] + threadIdx.x; j < ex_offsets[r + 1]; j += blockDim.x) {
    const int item = ex_items[j] - begin;
    if (item >= 0 && item < size) row[item] = -INFINITY;
  }
}

// Grid: (rows, chunks of kTopkChunk items). Block (r, c) writes the top k of
// scores[r][c·kTopkChunk, …) (items base + column) to
// cand_s/cand_i[r · cand_ld + c·k, … + k), padding with (−∞, −1).
static __global__ void topk_chunk_kernel(const float* __restrict__ scores, int64_t ld, int size,
                                         int base, int k, float* __restrict__ cand_s,
                                         int* __restrict__ cand_i, int64_t cand_ld) {
  unsigned char* smem = dynamic_smem();
  const int r = blockIdx.x, c = blockIdx.y;
  const int begin = c * kTopkChunk;
  const int end = min(size, begin + kTopkChunk);
  const float* row = scores + static_cast<int64_t>(r) * ld;
  float* out_s = cand_s + static_cast<int64_t>(r) * cand_ld + static_cast<int64_t>(c) * k;
  int* out_i = cand_i + static_cast<int64_t>(r) * cand_ld + static_cast<int64_t>(c) * k;
  float ps = INFINITY;
  int pi = -1;  // nothing picked yet: every entry comes after (+∞, −1)
  for (int round = 0; round < k; ++round) {
    float bs = -INFINITY;
    int bi = INT_MAX;
    for (int j = begin + threadIdx.x; j < end; j += blockDim.x) {
      const float s = row[j];
      const int item = base + j;
      if (s > -INFINITY && topk_after(s, item, ps, pi) && topk_before(s, item, bs, bi)) {
        bs = s;
        bi = item;
      }
    }
    topk_block_best(bs, bi, smem);
    if (threadIdx.x == 0) {
      out_s[round] = bs;
      out_i[round] = bs > -INFINITY ? bi : -1;
    }
    ps = bs;
    pi = bi;
  }
}

// Grid: rows. Merges row r's chunk candidates cand[r · cand_ld, + n_cand)
// and, unless `first`, its running top-k run[r · k, + k) into the running
// top-k.
static __global__ void topk_merge_kernel(const float* __restrict__ cand_s,
                                         const int* __restrict__ cand_i, int64_t cand_ld,
                                         int n_cand, float* __restrict__ run_s,
                                         int* __restrict__ run_i, int k, int first) {
  unsigned char* smem = dynamic_smem();
  // After the reduction slots: the k picks, written back once every round
  // has read the running entries.
  float* pick_s = reinterpret_cast<float*>(smem + kTopkSmemBytes);
  int* pick_i = reinterpret_cast<int*>(smem + kTopkSmemBytes + k * sizeof(float));
  const int r = blockIdx.x;
  const float* cs = cand_s + static_cast<int64_t>(r) * cand_ld;
  const int* ci = cand_i + static_cast<int64_t>(r) * cand_ld;
  float* rs = run_s + static_cast<int64_t>(r) * k;
  int* ri = run_i + static_cast<int64_t>(r) * k;
  const int n_run = first ? 0 : k;
  float ps = INFINITY;
  int pi = -1;
  for (int round = 0; round < k; ++round) {
    float bs = -INFINITY;
    int bi = INT_MAX;
    for (int j = threadIdx.x; j < n_run + n_cand; j += blockDim.x) {
      const float s = j < n_run ? rs[j] : cs[j - n_run];
      const int item = j < n_run ? ri[j] : ci[j - n_run];
      if (s > -INFINITY && topk_after(s, item, ps, pi) && topk_before(s, item, bs, bi)) {
        bs = s;
        bi = item;
      }
    }
    topk_block_best(bs, bi, smem);
    if (threadIdx.x == 0) {
      pick_s[round] = bs;
      pick_i[round] = bs > -INFINITY ? bi : -1;
    }
    ps = bs;
    pi = bi;
  }
  __syncthreads();
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    rs[j] = pick_s[j];
    ri[j] = pick_i[j];
  }
}

}  // namespace sluice::cuda
