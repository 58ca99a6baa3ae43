// What a model's config.json says, normalised across the supported Hugging
// Face architectures: BERT (and MiniLM, which is BERT), DistilBERT, RoBERTa and
// XLM-RoBERTa sequence classifiers. Plain data, shared by every backend.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "src/engine/activation.h"

namespace sluice::engine {

enum class Architecture : uint8_t { kBert, kDistilBert, kRoberta };

enum class ProblemType : uint8_t {
  kSingleLabel,  // softmax over labels (HF default when num_labels > 1)
  kMultiLabel,   // independent sigmoid per label
  kRegression,   // num_labels == 1: the raw logit
};

const char* architecture_name(Architecture a);
const char* problem_type_name(ProblemType p);

struct ModelConfig {
  Architecture architecture = Architecture::kBert;
  std::string architecture_class;  // as written, e.g. "BertForSequenceClassification"
  std::string model_type;          // "bert", "distilbert", "roberta", "xlm-roberta"

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;
  int64_t type_vocab_size = 0;  // 0 for DistilBERT (no token types)
  int32_t pad_token_id = 0;
  float layer_norm_eps = 1e-12f;
  Activation hidden_act = Activation::kGeluErf;

  // RoBERTa numbers positions from pad_token_id + 1 (HF's
  // create_position_ids_from_input_ids); BERT and DistilBERT from 0.
  bool positions_from_padding_idx = false;

  int64_t num_labels = 0;
  std::vector<std::string> id2label;  // size num_labels; "LABEL_i" where the config has none
  ProblemType problem_type = ProblemType::kSingleLabel;

  int64_t head_dim() const { return hidden_size / num_heads; }
  // The longest sequence the position table allows.
  int64_t max_sequence_length() const {
    return positions_from_padding_idx ? max_position_embeddings - pad_token_id - 1
                                      : max_position_embeddings;
  }
};

// The position ids of a packed batch (`records` sequences, token_ids
// [cu_seqlens[s], cu_seqlens[s + 1]) each) into out[0, cu_seqlens[records]),
// for every backend: BERT/DistilBERT from 0 per sequence; RoBERTa
// (positions_from_padding_idx, HF create_position_ids_from_input_ids) from
// pad_token_id + 1 over non-pad tokens, pad tokens at pad_token_id.
void position_ids(const ModelConfig& config, const int32_t* token_ids, const int32_t* cu_seqlens,
                  int64_t records, int32_t* out);

// Parses config.json text. `file` names the source in errors (ModelError).
ModelConfig parse_model_config(std::string_view json_text, const std::string& file);
// Reads and parses a config.json file.
ModelConfig load_model_config(const std::filesystem::path& path);

}  // namespace sluice::engine
