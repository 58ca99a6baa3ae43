// The LayerNorm kernels: embedding gather + sum + LayerNorm and bias +
// residual + LayerNorm, each in three forms: one warp per row with the row in
// registers (widths that are a multiple of 8, up to 1024: every encoder's
// hidden size in practice), one block per row with the row in registers
// (eight columns per thread; multiples of 8 up to 8192), and a general one,
// a block per row with the row in shared memory. All use 16-byte accesses
// except the general form.
// Kernel code only, included by embedding_layernorm.cu and add_layernorm.cu
// (the launchers) and by the host emulation test.
#pragma once
#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {

// Shared memory of a LayerNorm row kernel: 32 floats of reduction scratch,
// then the row in fp32.
inline size_t layernorm_smem_bytes(int64_t cols) {
  return (32 + static_cast<size_t>(cols)) * sizeof(float);
}

// out[c] = (row[c] - mean) / sqrt(var + eps) * gamma[c] + beta[c] with the
// biased two-pass variance of torch.nn.LayerNorm. Thread i wrote row[c] for
// c = i, i + blockDim.x, ... and reads back only those, so no barrier is
// needed before this call; `sum` is the block-wide sum of the row.
template <class T>
__device__ __forceinline__ void layernorm_finish(const float* row, float sum, int cols,
                                                 const float* gamma, const float* beta, float eps,
                                                 T* out, float* scratch) {
  const float mean = sum / static_cast<float>(cols);
  float sq = 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const float d = row[c] - mean;
    sq += d * d;
  }
  const float var = block_sum(sq, scratch) / static_cast<float>(cols);
  const float rstd = 1.f / sqrtf(var + eps);
  for (int c = threadIdx.x; c < cols; c += blockDim.x)
    out[c] = from_f32<T>((row[c] - mean) * rstd * gamma[c] + beta[c]);
}

inline unsigned layernorm_threads(int64_t cols) { return cols >= 1024 ? 256u : 128u; }

// The 16-byte path: a row of `cols` (a multiple of 8, at most 8192) held in
// registers, eight values per thread, one thread per eight columns.
inline bool layernorm_vec8_applies(int64_t cols) { return cols % 8 == 0 && cols <= 8192; }
inline unsigned layernorm_vec8_threads(int64_t cols) {
  return static_cast<unsigned>((cols / 8 + 31) / 32 * 32);
}
inline constexpr size_t kLayernormVec8SmemBytes = 32 * sizeof(float);  // reduction scratch
inline bool aligned16(const void* p, int64_t ld) {
  return p == nullptr || (reinterpret_cast<uintptr_t>(p) % 16 == 0 && ld % 8 == 0);
}

// LayerNorm of the row whose eight values at columns [c, c + 8) this thread
// holds in v (inactive threads hold zeros and pass active = false); writes
// them to out[c..c+8) with one 16-byte store. Every thread must call it.
template <class T>
__device__ __forceinline__ void layernorm_finish_vec8(float (&v)[8], bool active, int c, int cols,
                                                      const float* gamma, const float* beta,
                                                      float eps, T* out, float* scratch) {
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < 8; ++i) sum += v[i];
  const float mean = block_sum(sum, scratch) / static_cast<float>(cols);
  float sq = 0.f;
  if (active) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float d = v[i] - mean;
      sq += d * d;
    }
  }
  const float rstd = 1.f / sqrtf(block_sum(sq, scratch) / static_cast<float>(cols) + eps);
  if (!active) return;
  Vec8<T> o;
#pragma unroll
  for (int i = 0; i < 8; ++i)
    o.v[i] = from_f32<T>((v[i] - mean) * rstd * gamma[c + i] + beta[c + i]);
  store8(out + c, o);
}

// The warp-per-row path: rows of `cols` (a multiple of 8, at most
// 32 * 8 * kLayernormWarpMaxGroups = 1024: every encoder hidden size up to
// BERT-large's) each held by one warp, G groups of eight columns per lane,
// kLayernormWarpRows rows per block. Its reductions are warp shuffles only: no
// shared memory and no block barrier, which is what the block-per-row forms
// spend most of their time on at hidden 768 (a 96-thread block per row, two
// block-wide sums: 2.6x the bandwidth floor measured on an H200,
// kernels/cuda/NOTES.md).
inline constexpr int kLayernormWarpMaxGroups = 4;
inline constexpr int kLayernormWarpRows = 4;  // warps (rows) per block
inline bool layernorm_warp_applies(int64_t cols) {
  return cols % 8 == 0 && cols <= 256 * kLayernormWarpMaxGroups;
}
inline int layernorm_warp_groups(int64_t cols) { return static_cast<int>((cols + 255) / 256); }
inline unsigned layernorm_warp_blocks(int64_t rows) {
  return static_cast<unsigned>((rows + kLayernormWarpRows - 1) / kLayernormWarpRows);
}
// This warp's row: kLayernormWarpRows rows a block, one a warp.
__device__ __forceinline__ int64_t layernorm_warp_row_index() {
  return static_cast<int64_t>(blockIdx.x) * kLayernormWarpRows + (threadIdx.x >> 5);
}

// LayerNorm of one row by one warp (the warp-per-row path): load(c, v) puts
// the row's eight values at columns [c, c + 8) into v, for each of this
// lane's groups c = (g * 32 + lane) * 8 < cols (the others hold zeros); the
// result goes to out with 16-byte stores. Every lane of the warp must call
// it. A lane writes only the columns it loaded, so out may alias the inputs.
template <class T, int G, class Load>
__device__ __forceinline__ void layernorm_warp_row(int cols, Load&& load, const float* gamma,
                                                   const float* beta, float eps, T* out) {
  const int lane = threadIdx.x & 31;
  float v[G][8];
#pragma unroll
  for (int g = 0; g < G; ++g) {
#pragma unroll
    for (int i = 0; i < 8; ++i) v[g][i] = 0.f;
    const int c = (g * 32 + lane) * 8;
    if (c < cols) load(c, v[g]);
  }
  float sum = 0.f;
#pragma unroll
  for (int g = 0; g < G; ++g)
#pragma unroll
    for (int i = 0; i < 8; ++i) sum += v[g][i];
  const float mean = warp_sum(sum) / static_cast<float>(cols);
  float sq = 0.f;
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if ((g * 32 + lane) * 8 >= cols) continue;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float d = v[g][i] - mean;
      sq += d * d;
    }
  }
  const float rstd = 1.f / sqrtf(warp_sum(sq) / static_cast<float>(cols) + eps);
#pragma unroll
  for (int g = 0; g < G; ++g) {
    const int c = (g * 32 + lane) * 8;
    if (c >= cols) continue;
    Vec8<T> o;
#pragma unroll
    for (int i = 0; i < 8; ++i)
      o.v[i] = from_f32<T>((v[g][i] - mean) * rstd * gamma[c + i] + beta[c + i]);
    store8(out + c, o);
  }
}

// The eight values at columns [c, c + 8) of an embedding row: word + position
// (+ the token-type row when given), 16-byte loads.
template <class T>
__device__ __forceinline__ void load_embedding8(const T* w, const T* p, const float* type_row,
                                                int c, float (&v)[8]) {
  const Vec8<T> we = load8(w + c);
  const Vec8<T> pe = load8(p + c);
#pragma unroll
  for (int i = 0; i < 8; ++i)
    v[i] = to_f32(we.v[i]) + to_f32(pe.v[i]) + (type_row ? type_row[c + i] : 0.f);
}

// The eight values at columns [c, c + 8) of row r of x + bias + residual (bias
// and residual may be null), 16-byte loads.
template <class T>
__device__ __forceinline__ void load_bias_residual8(const T* x, int64_t ld_x, const float* bias,
                                                    const T* residual, int64_t ld_res, int64_t r,
                                                    int c, float (&v)[8]) {
  const Vec8<T> xe = load8(x + r * ld_x + c);
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = to_f32(xe.v[i]) + (bias ? bias[c + i] : 0.f);
  if (residual) {
    const Vec8<T> re = load8(residual + r * ld_res + c);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] += to_f32(re.v[i]);
  }
}

// One block per token.
template <class T>
__global__ void embedding_layernorm_kernel(
    const int32_t* __restrict__ ids, const int32_t* __restrict__ pos, const T* __restrict__ word,
    const T* __restrict__ position, const float* __restrict__ type_row,
    const float* __restrict__ gamma, const float* __restrict__ beta, float eps, int hidden,
    T* __restrict__ out) {
  float* smem = reinterpret_cast<float*>(dynamic_smem());
  float* scratch = smem;
  float* row = smem + 32;
  const int64_t t = blockIdx.x;
  const T* w = word + static_cast<int64_t>(ids[t]) * hidden;
  const T* p = position + static_cast<int64_t>(pos[t]) * hidden;
  float sum = 0.f;
  for (int c = threadIdx.x; c < hidden; c += blockDim.x) {
    float v = to_f32(w[c]) + to_f32(p[c]);
    if (type_row) v += type_row[c];
    row[c] = v;
    sum += v;
  }
  sum = block_sum(sum, scratch);
  layernorm_finish(row, sum, hidden, gamma, beta, eps, out + t * hidden, scratch);
}

// One block per token, eight columns per thread in registers, 16-byte loads.
template <class T>
__global__ void embedding_layernorm_vec8_kernel(
    const int32_t* __restrict__ ids, const int32_t* __restrict__ pos, const T* __restrict__ word,
    const T* __restrict__ position, const float* __restrict__ type_row,
    const float* __restrict__ gamma, const float* __restrict__ beta, float eps, int hidden,
    T* __restrict__ out) {
  float* scratch = reinterpret_cast<float*>(dynamic_smem());  // 32 floats
  const int64_t t = blockIdx.x;
  const int c = threadIdx.x * 8;
  const bool active = c < hidden;
  float v[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = 0.f;
  if (active)
    load_embedding8(word + static_cast<int64_t>(ids[t]) * hidden,
                    position + static_cast<int64_t>(pos[t]) * hidden, type_row, c, v);
  layernorm_finish_vec8(v, active, c, hidden, gamma, beta, eps, out + t * hidden, scratch);
}

// One warp per token (layernorm_warp_applies), kLayernormWarpRows per block.
template <class T, int G>
__global__ void embedding_layernorm_warp_kernel(
    const int32_t* __restrict__ ids, const int32_t* __restrict__ pos, const T* __restrict__ word,
    const T* __restrict__ position, const float* __restrict__ type_row,
    const float* __restrict__ gamma, const float* __restrict__ beta, float eps, int hidden,
    int64_t tokens, T* __restrict__ out) {
  const int64_t t = layernorm_warp_row_index();
  if (t >= tokens) return;  // the whole warp: no shuffle waits for it
  const T* w = word + static_cast<int64_t>(ids[t]) * hidden;
  const T* p = position + static_cast<int64_t>(pos[t]) * hidden;
  layernorm_warp_row<T, G>(
      hidden, [&](int c, float(&v)[8]) { load_embedding8(w, p, type_row, c, v); }, gamma, beta, eps,
      out + t * hidden);
}

// One block per row. No __restrict__ on x/residual/out: out may alias them.
template <class T>
__global__ void add_layernorm_kernel(const T* x, int64_t ld_x, const float* __restrict__ bias,
                                     const T* residual, int64_t ld_res,
                                     const float* __restrict__ gamma,
                                     const float* __restrict__ beta, float eps, int cols, T* out,
                                     int64_t ld_out) {
  float* smem = reinterpret_cast<float*>(dynamic_smem());
  float* scratch = smem;
  float* row = smem + 32;
  const int64_t r = blockIdx.x;
  const T* xr = x + r * ld_x;
  const T* rr = residual ? residual + r * ld_res : nullptr;
  float sum = 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = to_f32(xr[c]);
    if (bias) v += bias[c];
    if (rr) v += to_f32(rr[c]);
    row[c] = v;
    sum += v;
  }
  // block_sum's barriers also order every read of x/residual above before
  // any write of out below, which is what makes aliasing safe.
  sum = block_sum(sum, scratch);
  layernorm_finish(row, sum, cols, gamma, beta, eps, out + r * ld_out, scratch);
}

// One block per row, eight columns per thread in registers, 16-byte accesses.
template <class T>
__global__ void add_layernorm_vec8_kernel(const T* x, int64_t ld_x, const float* __restrict__ bias,
                                          const T* residual, int64_t ld_res,
                                          const float* __restrict__ gamma,
                                          const float* __restrict__ beta, float eps, int cols,
                                          T* out, int64_t ld_out) {
  float* scratch = reinterpret_cast<float*>(dynamic_smem());  // 32 floats
  const int64_t r = blockIdx.x;
  const int c = threadIdx.x * 8;
  const bool active = c < cols;
  float v[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = 0.f;
  if (active) load_bias_residual8(x, ld_x, bias, residual, ld_res, r, c, v);
  // The barriers in layernorm_finish_vec8 order these reads before the
  // write of the same row (out may alias x or residual).
  layernorm_finish_vec8(v, active, c, cols, gamma, beta, eps, out + r * ld_out, scratch);
}

// One warp per row (layernorm_warp_applies), kLayernormWarpRows per block.
// No __restrict__ on x/residual/out: out may alias them (each lane writes
// only the columns it read).
template <class T, int G>
__global__ void add_layernorm_warp_kernel(const T* x, int64_t ld_x, const float* __restrict__ bias,
                                          const T* residual, int64_t ld_res,
                                          const float* __restrict__ gamma,
                                          const float* __restrict__ beta, float eps, int cols,
                                          int64_t rows, T* out, int64_t ld_out) {
  const int64_t r = layernorm_warp_row_index();
  if (r >= rows) return;  // the whole warp: no shuffle waits for it
  layernorm_warp_row<T, G>(
      cols,
      [&](int c, float(&v)[8]) { load_bias_residual8(x, ld_x, bias, residual, ld_res, r, c, v); },
      gamma, beta, eps, out + r * ld_out);
}

// Calls f(std::integral_constant<int, G>{}) for the warp path's G of `cols`
// (layernorm_warp_applies(cols) must hold).
template <class F>
void with_layernorm_warp_groups(int64_t cols, F&& f) {
  dispatch_value<1, 2, 3, kLayernormWarpMaxGroups>(layernorm_warp_groups(cols), f);
}

}  // namespace sluice::cuda
