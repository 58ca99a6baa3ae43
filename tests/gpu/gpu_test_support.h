// Helpers for the GPU tests: random Hugging Face-format models written from
// C++ (the GPU machine's python may lack numpy), a scratch directory that
// works wherever the binary runs, and error metrics for comparing device
// outputs with the CPU backend (‖got − ref‖ / ‖ref‖, worst element, NaNs).
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "src/engine/backend.h"

namespace sluice::gpu_testing {

// Like tools/make_random_model.py: weights scaled so activations stay O(1)
// through the layers and logits differ clearly between inputs.
struct RandomModelSpec {
  std::string arch = "bert";  // bert, distilbert, roberta
  int layers = 2;
  int hidden = 64;
  int heads = 4;
  int intermediate = 128;
  int vocab = 300;
  int max_positions = 128;  // longest sequence (RoBERTa adds pad + 1 rows)
  int labels = 3;
  std::string act = "gelu";
  uint32_t seed = 1;
};

// The whole-model test models, shared by tests/gpu/cuda_backend_test.cpp and
// the emulated encoder and backend tests (kernels/cuda/check; same names and
// specs, so the model files are shared): head_dim 16, 32 and 64 take the
// tensor-core attention kernel, 24 the simple one.
struct ModelCase {
  std::string name;
  RandomModelSpec spec;
};
void PrintTo(const ModelCase& m, std::ostream* os);
const std::vector<ModelCase>& model_cases();
// The case of that name (std::out_of_range when there is none).
const ModelCase& model_case(const std::string& name);

// Whole-model tolerance (logits and pooled vectors, relative L2 and max abs
// error against the fp32 CPU backend) for dtype "fp16" or "bf16": every
// activation is rounded to 16 bits after every op, through all layers.
// Calibrated by emulating those roundings in numpy
// (tools/emulate_cuda_rounding.py); set with headroom over it.
struct Tol {
  double rel, abs;
};
Tol model_tol(const std::string& dtype);

// $SLUICE_GPU_TEST_DIR, else <temp>/sluice-gpu-tests: models and scratch
// files go here, so the tests also run from a copied build.
std::filesystem::path scratch_root();

// Writes config.json + model.safetensors (F32) into scratch_root()/name
// (rewritten when the spec changed) and returns the directory.
std::filesystem::path random_model(const std::string& name, const RandomModelSpec& spec);

// Random sequences of token ids in [1, vocab) with the given lengths (for
// RoBERTa ids avoid the pad id 1: positions would then not advance).
std::vector<std::vector<int32_t>> random_sequences(std::mt19937& g, const std::vector<int>& lengths,
                                                   int vocab, bool avoid_pad_one);

struct Packed {
  std::vector<int32_t> ids, cu{0};
  int32_t max_len = 0;
};
Packed pack(const std::vector<std::vector<int32_t>>& seqs);

std::vector<float> random_normal(std::mt19937& g, size_t n, float stddev = 1.f);

struct ErrorStats {
  double rel_l2 = 0;   // ‖got − ref‖₂ / ‖ref‖₂
  double max_abs = 0;  // max |got − ref|
  size_t worst = 0;    // index of max_abs
  size_t nans = 0;     // non-finite values in got
  double ref_max = 0;  // max |ref|
};
ErrorStats error_stats(const std::vector<float>& got, const std::vector<float>& ref);

// Passes when sizes match, no value is non-finite, rel_l2 ≤ rel_tol and
// max_abs ≤ abs_tol; otherwise says by how much and where.
::testing::AssertionResult close(const std::vector<float>& got, const std::vector<float>& ref,
                                 double rel_tol, double abs_tol);

using Seqs = std::vector<std::vector<int32_t>>;

// `batches` random batches of 1..max_records sequences of 1..max_len tokens
// (ids as random_sequences draws them).
std::vector<Seqs> random_batches(std::mt19937& g, int batches, int max_records, int max_len,
                                 int vocab, bool avoid_pad_one);

// Logits (and pooled vectors when `pooled`) of one synchronous run of `seqs`,
// NaN-filled beforehand so unwritten outputs show; a failed run is a test
// failure.
struct Out {
  std::vector<float> logits, pooled;
};
Out run_batch(engine::Backend& b, const Seqs& seqs, bool pooled = true);

// Backend contract checks shared by cuda_backend_test and the emulated
// backend test (gtest failures inside).
//
// Submits every batch at once (as many in flight as the backend allows),
// then: callbacks arrive in submit order, each ok and timed, each ticket
// polls as done, and each batch's logits are within (rel_tol, abs_tol) of
// reference(batch), asked for after all callbacks arrived.
void expect_callbacks_in_submit_order(
    engine::Backend& backend, const std::vector<Seqs>& batches,
    const std::function<std::vector<float>(const Seqs&)>& reference, double rel_tol,
    double abs_tol);
// Tickets of `a` then `b`: wait retires a ticket (a second wait throws
// std::logic_error), poll sees an earlier ticket done once a later one is,
// and a resubmitted batch gives the same logits.
void expect_wait_retires_ticket_and_poll_sees_completion(engine::Backend& backend, const Seqs& a,
                                                         const Seqs& b);
// Malformed batches (cu_seqlens not ending at the token count, max_seqlen
// too small, an id past the vocabulary, logits too short) throw
// std::invalid_argument and leave the backend working. For a model whose
// vocabulary has more than 7 ids.
void expect_refuses_malformed_batches(engine::Backend& backend);
// Each record of `recs` gives the same logits and pooled vector alone as
// inserted among `others` (within the tolerance: another row count may pick
// another GEMM kernel; a leak between packed sequences would be far outside).
void expect_record_same_alone_or_mixed(engine::Backend& backend, const Seqs& recs,
                                       const Seqs& others, const Tol& tol);

// A fresh seed per run (METHOD.md: draw fresh inputs for every check),
// printed so a failure can be replayed with SLUICE_GPU_TEST_SEED.
uint32_t test_seed();

}  // namespace sluice::gpu_testing
