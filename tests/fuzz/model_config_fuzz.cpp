// libFuzzer target over config.json: parse_model_config on the bytes, then
// Model::load of a directory holding them as config.json beside a tiny
// model.safetensors (written once at start-up) that has every tensor a BERT,
// DistilBERT or RoBERTa classifier of the seeds' sizes needs, so mutated
// configs reach the shape checks and the weight conversion. Any crash,
// undefined behaviour, allocation over -malloc_limit_mb (a config sizing
// memory the weights do not back), or an exception other than ModelError
// fails the run. Invariants of a config that parses: every dimension is
// positive, heads divide hidden, id2label has num_labels entries.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "src/engine/model.h"
#include "src/engine/model_config.h"
#include "src/engine/model_error.h"
#include "tests/fuzz/fuzz_assert.h"
#include "tests/fuzz/fuzz_scratch.h"

namespace {

using namespace sluice::engine;
namespace fs = std::filesystem;

// The seeds' sizes (tests/fuzz/model_config_fuzz_seeds.py).
constexpr int64_t kVocab = 16, kHidden = 8, kLayers = 1, kInter = 16, kPositions = 16, kTypes = 2,
                  kLabels = 2;

// All tensors of the three architectures at the sizes above, F32 zeros.
void write_tiny_weights(const fs::path& path) {
  std::map<std::string, std::vector<int64_t>> shapes;
  auto linear = [&](const std::string& base, int64_t out, int64_t in) {
    shapes[base + ".weight"] = {out, in};
    shapes[base + ".bias"] = {out};
  };
  auto norm = [&](const std::string& base) {
    shapes[base + ".weight"] = {kHidden};
    shapes[base + ".bias"] = {kHidden};
  };
  for (const std::string p : {"bert.", "roberta.", "distilbert."}) {
    shapes[p + "embeddings.word_embeddings.weight"] = {kVocab, kHidden};
    shapes[p + "embeddings.position_embeddings.weight"] = {kPositions, kHidden};
    shapes[p + "embeddings.token_type_embeddings.weight"] = {kTypes, kHidden};
    norm(p + "embeddings.LayerNorm");
  }
  for (int64_t i = 0; i < kLayers; ++i) {
    for (const std::string p : {"bert.", "roberta."}) {
      const std::string l = p + "encoder.layer." + std::to_string(i) + ".";
      for (const char* n : {"query", "key", "value"})
        linear(l + "attention.self." + n, kHidden, kHidden);
      linear(l + "attention.output.dense", kHidden, kHidden);
      norm(l + "attention.output.LayerNorm");
      linear(l + "intermediate.dense", kInter, kHidden);
      linear(l + "output.dense", kHidden, kInter);
      norm(l + "output.LayerNorm");
    }
    const std::string l = "distilbert.transformer.layer." + std::to_string(i) + ".";
    for (const char* n : {"q_lin", "k_lin", "v_lin", "out_lin"})
      linear(l + "attention." + n, kHidden, kHidden);
    norm(l + "sa_layer_norm");
    linear(l + "ffn.lin1", kInter, kHidden);
    linear(l + "ffn.lin2", kHidden, kInter);
    norm(l + "output_layer_norm");
  }
  linear("bert.pooler.dense", kHidden, kHidden);
  linear("pre_classifier", kHidden, kHidden);
  linear("classifier", kLabels, kHidden);
  linear("classifier.dense", kHidden, kHidden);
  linear("classifier.out_proj", kLabels, kHidden);

  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& [name, shape] : shapes) {
    uint64_t bytes = 4;
    for (int64_t d : shape) bytes *= static_cast<uint64_t>(d);
    header[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  const std::string text = header.dump();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << text << std::string(offset, '\0');
}

const fs::path& model_dir() {
  static const sluice::fuzz::ScratchDir dir("model-config-fuzz");
  static const bool written = (write_tiny_weights(dir.path() / "model.safetensors"), true);
  (void)written;
  return dir.path();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const ModelConfig c = parse_model_config(text, "config.json");
    FUZZ_ASSERT(c.vocab_size > 0 && c.hidden_size > 0 && c.num_layers > 0 && c.num_heads > 0);
    FUZZ_ASSERT(c.hidden_size % c.num_heads == 0 && c.intermediate_size > 0);
    FUZZ_ASSERT(c.max_sequence_length() > 0 && c.pad_token_id >= 0 &&
                c.pad_token_id < c.vocab_size);
    FUZZ_ASSERT(c.num_labels > 0 && static_cast<int64_t>(c.id2label.size()) == c.num_labels);
    FUZZ_ASSERT(c.layer_norm_eps > 0.f);
  } catch (const ModelError&) {
    return 0;  // Model::load would fail the same way
  }
  {
    std::ofstream out(model_dir() / "config.json", std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  try {
    const Model m = Model::load(model_dir());
    const ModelConfig& c = m.config();
    FUZZ_ASSERT(static_cast<int64_t>(m.weights().layers.size()) == c.num_layers);
    FUZZ_ASSERT(m.weights().word_embeddings.rows == c.vocab_size);
  } catch (const ModelError&) {
    // A config the tiny weights do not match.
  }
  return 0;
}
