// Test helpers: random Hugging Face-style models made by
// tools/make_random_model.py into the build tree, the reference forward of
// tools/reference_forward.py, and a small safetensors writer for corrupt files.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace sluice::engine::testing {

// Creates (once per build tree) build/test-models/<name> with the given
// make_random_model.py arguments, e.g. "--arch bert --hidden 64". Fails the
// test if the tool fails.
std::filesystem::path random_model(const std::string& name, const std::string& args);

struct ReferenceOutputs {
  std::vector<std::vector<double>> logits, pooled_head, first_token, mean;
};

// Runs tools/reference_forward.py over the sequences (padded batch, fp32).
ReferenceOutputs reference_forward(const std::filesystem::path& model,
                                   const std::vector<std::vector<int32_t>>& sequences);

// A fresh empty directory under build/test-scratch/<name>.
std::filesystem::path scratch_dir(const std::string& name);

// Copies a model directory (config.json, model.safetensors) to dst.
void copy_model(const std::filesystem::path& src, const std::filesystem::path& dst);

// Raw safetensors entry for writing test files.
struct RawTensor {
  std::string dtype = "F32";
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
// Writes a well-formed safetensors file (tensors back to back in name order).
void write_safetensors(const std::filesystem::path& path,
                       const std::map<std::string, RawTensor>& tensors);
// Reads every tensor of a safetensors file back as raw entries.
std::map<std::string, RawTensor> read_safetensors(const std::filesystem::path& path);
// Writes a file with exactly this header text and data bytes.
void write_raw_safetensors(const std::filesystem::path& path, const std::string& header,
                           const std::vector<uint8_t>& data);

std::string read_text(const std::filesystem::path& p);
void write_text(const std::filesystem::path& p, const std::string& text);

}  // namespace sluice::engine::testing
