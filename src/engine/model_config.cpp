#include "src/engine/model_config.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "src/core/input_file.h"
#include "src/engine/model_error.h"

namespace sluice::engine {
namespace {

using nlohmann::json;

// Bounds on what config.json may say, far above every supported checkpoint
// (BERT-large: hidden 1024, 24 layers, 16 heads, intermediate 4096, 512
// positions; XLM-R: 250,002 tokens). They keep a hostile file from sizing
// allocations before the weights' headers are compared; the weights then
// decide (Model::load checks every shape before it allocates).
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxHidden = int64_t{1} << 16;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 4096;
constexpr int64_t kMaxIntermediate = int64_t{1} << 18;
constexpr int64_t kMaxPositions = int64_t{1} << 20;  // as tokenizers' model_max_length
constexpr int64_t kMaxTypeVocab = int64_t{1} << 16;
constexpr int64_t kMaxLabels = int64_t{1} << 20;
constexpr uint64_t kMaxConfigBytes = uint64_t{16} << 20;
constexpr size_t kMaxConfigDepth = 64;

struct Reader {
  const json& j;
  const std::string& file;

  [[noreturn]] void fail(const char* key, const std::string& why) const {
    throw ModelError(file, std::string(key) + ": " + why);
  }
  const json* find(const char* key) const {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  }
  // An integer in [lo, hi]; `fallback` when absent (nullopt: required).
  int64_t integer(const char* key, int64_t lo, int64_t hi,
                  std::optional<int64_t> fallback = std::nullopt) const {
    const json* v = find(key);
    if (!v) {
      if (!fallback) throw ModelError(file, std::string("missing key '") + key + "'");
      return *fallback;
    }
    if (!v->is_number_integer())
      fail(key, "must be an integer, got " +
                    (v->is_number() ? v->dump() : std::string("a ") + v->type_name()));
    const bool above = v->is_number_unsigned() ? v->get<uint64_t>() > static_cast<uint64_t>(hi)
                                               : v->get<int64_t>() > hi;
    if (above || v->get<int64_t>() < lo)
      fail(key, v->dump() + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
    return v->get<int64_t>();
  }
  double number_or(const char* key, double fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_number()) fail(key, "must be a number");
    return v->get<double>();
  }
  std::string string_or(const char* key, std::string fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_string()) fail(key, "must be a string");
    return v->get<std::string>();
  }
};

Activation parse_activation(const std::string& act, const char* key, const std::string& file) {
  if (act == "gelu") return Activation::kGeluErf;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast")
    return Activation::kGeluTanh;
  if (act == "relu") return Activation::kRelu;
  throw ModelError(file, std::string("unsupported ") + key + " '" + act +
                             "' (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)");
}

struct KnownArchitecture {
  const char* class_name;
  Architecture arch;
};
constexpr KnownArchitecture kArchitectures[] = {
    {"BertForSequenceClassification", Architecture::kBert},
    {"DistilBertForSequenceClassification", Architecture::kDistilBert},
    {"RobertaForSequenceClassification", Architecture::kRoberta},
    {"XLMRobertaForSequenceClassification", Architecture::kRoberta},
};

}  // namespace

const char* architecture_name(Architecture a) {
  switch (a) {
    case Architecture::kBert:
      return "bert";
    case Architecture::kDistilBert:
      return "distilbert";
    case Architecture::kRoberta:
      return "roberta";
  }
  return "?";
}

const char* problem_type_name(ProblemType p) {
  switch (p) {
    case ProblemType::kSingleLabel:
      return "single_label_classification";
    case ProblemType::kMultiLabel:
      return "multi_label_classification";
    case ProblemType::kRegression:
      return "regression";
  }
  return "?";
}

ModelConfig parse_model_config(std::string_view text, const std::string& file) {
  if (const auto key = core::json_depth_exceeded(text, kMaxConfigDepth))
    throw ModelError(file, (key->empty() ? "" : *key + ": ") + "nests deeper than " +
                               std::to_string(kMaxConfigDepth) + " levels");
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw ModelError(file, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw ModelError(file, "not a JSON object");
  Reader r{j, file};
  ModelConfig c;
  c.model_type = r.string_or("model_type", "");

  // The class comes from "architectures"; configs written without it fall
  // back to the sequence classifier of their model_type.
  if (const json* archs = r.find("architectures")) {
    if (!archs->is_array() || archs->empty() || !(*archs)[0].is_string())
      throw ModelError(file, "'architectures' must be a non-empty list of class names");
    c.architecture_class = (*archs)[0].get<std::string>();
  } else if (c.model_type == "bert") {
    c.architecture_class = "BertForSequenceClassification";
  } else if (c.model_type == "distilbert") {
    c.architecture_class = "DistilBertForSequenceClassification";
  } else if (c.model_type == "roberta") {
    c.architecture_class = "RobertaForSequenceClassification";
  } else if (c.model_type == "xlm-roberta") {
    c.architecture_class = "XLMRobertaForSequenceClassification";
  } else {
    throw ModelError(file, "no 'architectures' and unknown model_type '" + c.model_type + "'");
  }
  bool found = false;
  for (const auto& k : kArchitectures) {
    if (c.architecture_class == k.class_name) {
      c.architecture = k.arch;
      found = true;
    }
  }
  if (!found)
    throw ModelError(file,
                     "unsupported architecture '" + c.architecture_class +
                         "' (supported: BertForSequenceClassification, "
                         "DistilBertForSequenceClassification, RobertaForSequenceClassification, "
                         "XLMRobertaForSequenceClassification)");

  c.vocab_size = r.integer("vocab_size", 1, kMaxVocab);
  c.max_position_embeddings = r.integer("max_position_embeddings", 1, kMaxPositions);
  const bool distil = c.architecture == Architecture::kDistilBert;
  c.hidden_size = r.integer(distil ? "dim" : "hidden_size", 1, kMaxHidden);
  c.num_layers = r.integer(distil ? "n_layers" : "num_hidden_layers", 1, kMaxLayers);
  c.num_heads = r.integer(distil ? "n_heads" : "num_attention_heads", 1, kMaxHeads);
  c.intermediate_size = r.integer(distil ? "hidden_dim" : "intermediate_size", 1, kMaxIntermediate);
  const int64_t default_pad = c.architecture == Architecture::kRoberta ? 1 : 0;
  c.pad_token_id =
      static_cast<int32_t>(r.integer("pad_token_id", 0, c.vocab_size - 1, default_pad));
  if (distil) {
    c.hidden_act = parse_activation(r.string_or("activation", "gelu"), "activation", file);
    c.layer_norm_eps = 1e-12f;  // fixed in DistilBERT's modelling code
    c.type_vocab_size = 0;
  } else {
    c.hidden_act = parse_activation(r.string_or("hidden_act", "gelu"), "hidden_act", file);
    // Checked as a double: converting one outside float's range is undefined.
    const double eps = r.number_or("layer_norm_eps", 1e-12);
    if (!(eps > 0 && eps <= 1)) r.fail("layer_norm_eps", "must be in (0, 1]");
    c.layer_norm_eps = static_cast<float>(eps);
    c.type_vocab_size = r.integer("type_vocab_size", 1, kMaxTypeVocab, 2);
    const std::string pos_type = r.string_or("position_embedding_type", "absolute");
    if (pos_type != "absolute")
      throw ModelError(file,
                       "unsupported position_embedding_type '" + pos_type + "' (only absolute)");
    c.positions_from_padding_idx = c.architecture == Architecture::kRoberta;
  }
  if (c.hidden_size % c.num_heads != 0)
    throw ModelError(file, "hidden size " + std::to_string(c.hidden_size) +
                               " is not a multiple of the number of heads " +
                               std::to_string(c.num_heads));
  if (!(c.layer_norm_eps > 0.f)) r.fail("layer_norm_eps", "must be positive");
  if (c.max_sequence_length() <= 0)
    throw ModelError(file, "max_position_embeddings leaves no room after the padding offset");

  // Labels: id2label (keys "0".."n-1") decides num_labels unless num_labels says otherwise.
  std::vector<std::string> labels;
  if (const json* m = r.find("id2label")) {
    if (!m->is_object()) r.fail("id2label", "must be an object");
    if (m->size() > static_cast<size_t>(kMaxLabels))
      r.fail("id2label", "has " + std::to_string(m->size()) + " labels, more than " +
                             std::to_string(kMaxLabels));
    labels.resize(m->size());
    for (auto it = m->begin(); it != m->end(); ++it) {
      size_t idx = 0;
      try {
        size_t used = 0;
        idx = std::stoul(it.key(), &used);
        if (used != it.key().size()) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        throw ModelError(file, "id2label key '" + it.key() + "' is not an index");
      }
      if (idx >= labels.size() || !it.value().is_string())
        throw ModelError(
            file, "id2label must map 0..n-1 to label strings (bad entry '" + it.key() + "')");
      labels[idx] = it.value().get<std::string>();
    }
  }
  c.num_labels = r.integer("num_labels", 1, kMaxLabels,
                           labels.empty() ? 2 : static_cast<int64_t>(labels.size()));
  if (!labels.empty() && static_cast<int64_t>(labels.size()) != c.num_labels)
    throw ModelError(file, "id2label has " + std::to_string(labels.size()) +
                               " labels but num_labels is " + std::to_string(c.num_labels));
  if (labels.empty())
    for (int64_t i = 0; i < c.num_labels; ++i) labels.push_back("LABEL_" + std::to_string(i));
  c.id2label = std::move(labels);

  const std::string pt = r.string_or("problem_type", "");
  if (pt.empty()) {
    c.problem_type = c.num_labels == 1 ? ProblemType::kRegression : ProblemType::kSingleLabel;
  } else if (pt == "single_label_classification") {
    c.problem_type = ProblemType::kSingleLabel;
  } else if (pt == "multi_label_classification") {
    c.problem_type = ProblemType::kMultiLabel;
  } else if (pt == "regression") {
    c.problem_type = ProblemType::kRegression;
  } else {
    throw ModelError(file, "unknown problem_type '" + pt + "'");
  }
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& path) {
  std::string text;
  try {
    text = core::read_file(path, kMaxConfigBytes);
  } catch (const core::FileError& e) {
    throw ModelError(e.file(), e.reason());
  }
  return parse_model_config(text, path.string());
}

void position_ids(const ModelConfig& config, const int32_t* token_ids, const int32_t* cu_seqlens,
                  int64_t records, int32_t* out) {
  const int32_t* cu = cu_seqlens;
  if (!config.positions_from_padding_idx) {
    for (int64_t s = 0; s < records; ++s)
      for (int32_t t = cu[s]; t < cu[s + 1]; ++t) out[t] = t - cu[s];
    return;
  }
  const int32_t pad = config.pad_token_id;
  for (int64_t s = 0; s < records; ++s) {
    int32_t seen = 0;
    for (int32_t t = cu[s]; t < cu[s + 1]; ++t) out[t] = token_ids[t] == pad ? pad : pad + ++seen;
  }
}

}  // namespace sluice::engine
