// A fully-connected layer y = act(x·Wᵀ + b) on the CPU, through oneDNN's
// matmul with the weights packed once into its preferred blocked layout.
//
// Why oneDNN (measured on this project's shapes, Sapphire Rapids): with
// pre-packed weights it reached 130–145 GFLOP/s per core in fp32 where
// OpenBLAS sgemm reached 50–110 (and 200–270 vs 80–90 GFLOP/s at M = 16 on two
// threads), and only oneDNN reaches AMX for the opt-in bf16 mode (1.2–2.3
// TFLOP/s per core).
//
// Rows (M = packed tokens) vary every batch, so rows are run in chunks of
// kChunkRows through primitives made for fixed row counts (the chunk, tails
// rounded up to 16 rows, and 1, 2, 4 or 8 rows for the smallest calls): a
// bounded set, made on first use, all sharing one packed copy of the
// weights. Padded tail rows go through small staging buffers, never past the
// caller's arrays.
//
// int8 (opt-in, GemmPrecision::kInt8): dynamic quantization. Weights are
// quantized once, at construction, to int8 with one scale per output column
// (max |w| / qmax); each call quantizes its input rows to int8 with one scale
// per row (max |x| / 127, quantize_rows_s8), oneDNN multiplies s8 × s8 into
// s32 and scales each column by its weight scale (output scales), and one
// fused pass multiplies each row by its input scale, adds the bias and applies
// the activation (oneDNN 2.6's brgemm matmul takes neither per-row scales nor
// runtime output scales, so that part is ours). Inputs are signed (symmetric,
// no zero point): on VNNI without AMX oneDNN shifts them to u8 for vpdpbusd
// and subtracts the compensation it precomputed with the packed weights; AMX
// multiplies s8 × s8 directly. CPUs without VNNI (AVX512_CORE, AVX2) multiply
// through vpmaddubsw, whose 16-bit pair sums can saturate with 8-bit weights,
// so there weights get 7 bits (qmax 63, as oneDNN advises); qmax is 127 with
// VNNI or AMX.
//
// Threading: run() uses the calling thread's OpenMP team (parallel.h). One
// Linear must not run on two threads at once (staging and scratchpad are
// its own); distinct Linears may.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "src/engine/activation.h"

namespace sluice::cpu {

enum class GemmPrecision : uint8_t {
  kF32,   // fp32 weights and activations, fp32 accumulation (default; matches PyTorch to ~1e-6)
  kBF16,  // opt-in: weights and GEMM inputs rounded to bfloat16, fp32 accumulation and
          // output (AMX / AVX512-BF16); logits move by ~1e-2
  kInt8,  // opt-in: dynamic int8 quantization (see above); runs on every x86-64 CPU
          // oneDNN supports, fast with VNNI or AMX
};

// Whether this CPU runs bf16 GEMMs natively (AMX or AVX512-BF16).
bool bf16_supported();
// Whether oneDNN runs int8 GEMMs here with VNNI or AMX (fast, 8-bit weights);
// without, kInt8 still works, with 7-bit weights, through slower kernels.
bool int8_vnni();

class Linear {
 public:
  static constexpr int64_t kChunkRows = 256;

  Linear();
  // weight: [out_features, in_features] row-major (PyTorch layout); bias:
  // [out_features] or null. Both are copied; the caller may free them after.
  // fused_act runs inside the GEMM (oneDNN post-op) when not kIdentity.
  Linear(const float* weight, const float* bias, int64_t out_features, int64_t in_features,
         engine::Activation fused_act = engine::Activation::kIdentity,
         GemmPrecision precision = GemmPrecision::kF32);
  Linear(Linear&&) noexcept;
  Linear& operator=(Linear&&) noexcept;
  ~Linear();

  // y[r] = act(x[r]·Wᵀ + b) for r in [0, rows). Blocks until done.
  // rows_allocated >= rows says x and y may be read and written up to that
  // many rows (contents past `rows` are don't-care): then a tail rounded up
  // to 16 rows runs in place instead of through staging copies.
  // deferred_row_scale (kInt8, no bias, no activation only; else ignored):
  // when given (room for `rows` floats), y[r] is left unscaled by row r's
  // input scale, which goes to deferred_row_scale[r] for the caller to apply
  // (add_layernorm's x_row_scale), saving a pass over y. Returns whether it did.
  bool run(const float* x, int64_t ld_x, int64_t rows, float* y, int64_t ld_y,
           int64_t rows_allocated = 0, float* deferred_row_scale = nullptr);

  // Rows a buffer needs so that run() never stages a tail: rows rounded up to 16.
  static int64_t padded_rows(int64_t rows) { return (rows + 15) / 16 * 16; }

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  // Bytes held: packed weights, bias, scratchpad and staging.
  std::size_t bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t in_ = 0;
  int64_t out_ = 0;
};

// "oneDNN 2.6.3 (avx512_core_amx)": version and the widest ISA it dispatches to.
const char* gemm_library_description();

}  // namespace sluice::cpu
