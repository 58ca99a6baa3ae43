// Helpers for the GPU tests: random Hugging Face-format models written from
// C++ (the GPU machine's python may lack numpy), a scratch directory that
// works wherever the binary runs, and error metrics for comparing device
// outputs with the CPU backend (‖got − ref‖ / ‖ref‖, worst element, NaNs).
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

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

// $SLUICE_GPU_TEST_DIR, else <temp>/sluice-gpu-tests: models and scratch
// files go here, so the tests also run from a copied build.
std::filesystem::path scratch_root();

// Writes config.json + model.safetensors (F32) into scratch_root()/name
// (rewritten when the spec changed) and returns the directory.
std::filesystem::path random_model(const std::string& name, const RandomModelSpec& spec);

// Random sequences of token ids in [1, vocab) with the given lengths (for
// RoBERTa ids avoid the pad id 1: positions would then not advance).
std::vector<std::vector<int32_t>> random_sequences(std::mt19937& g, const std::vector<int>& lengths, int vocab,
                                                   bool avoid_pad_one);

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
::testing::AssertionResult close(const std::vector<float>& got, const std::vector<float>& ref, double rel_tol,
                                 double abs_tol);

// A fresh seed per run (METHOD.md: draw fresh inputs for every check),
// printed so a failure can be replayed with SLUICE_GPU_TEST_SEED.
uint32_t test_seed();

}  // namespace sluice::gpu_testing
