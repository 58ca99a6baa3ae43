// A sequence-classification model loaded from a directory as Hugging Face
// writes it: config.json + model.safetensors (+ tokenizer.json or vocab.txt).
//
// load() reads the config, maps the safetensors file, checks that every tensor
// the architecture needs is present with the right shape, and converts the
// weights (F32, F16 or BF16 on disk) to fp32 host arrays in the common
// EncoderWeights layout (Q/K/V fused). Any problem is a ModelError naming the
// file and the tensor or key. A Model is immutable after load; backends copy
// (pack or upload) what they need, so it may be dropped once they are built.
#pragma once
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "src/engine/encoder_weights.h"
#include "src/engine/model_config.h"
#include "src/engine/model_identity.h"

namespace sluice::engine {

class Model {
 public:
  static Model load(const std::filesystem::path& dir);

  const ModelConfig& config() const { return config_; }
  const EncoderWeights& weights() const { return weights_; }
  const std::filesystem::path& directory() const { return dir_; }
  // The directory's base name: how results name the model.
  const std::string& name() const { return name_; }
  // tokenizer.json if present, else vocab.txt if present, else empty.
  const std::filesystem::path& tokenizer_path() const { return tokenizer_path_; }
  // On-disk dtype of the weights ("F32", "F16", "BF16"; the most common one).
  const std::string& weights_dtype() const { return weights_dtype_; }
  int64_t parameter_count() const { return parameters_; }
  // Content hash and card version (model_identity.h), computed at load.
  const ModelIdentity& identity() const { return identity_; }

 private:
  Model() = default;

  ModelConfig config_;
  EncoderWeights weights_;
  std::filesystem::path dir_;
  std::string name_;
  std::filesystem::path tokenizer_path_;
  std::string weights_dtype_;
  int64_t parameters_ = 0;
  ModelIdentity identity_;
  std::vector<std::unique_ptr<float[]>> storage_;  // owns every view in weights_
};

}  // namespace sluice::engine
