// config.json parsing for the three architectures: the fields the engine
// uses, their defaults, and errors that name the key.
#include "src/engine/model_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "src/engine/model_error.h"

namespace sluice::engine {
namespace {

constexpr const char* kBert = R"({
  "architectures": ["BertForSequenceClassification"], "model_type": "bert",
  "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
  "intermediate_size": 1536, "hidden_act": "gelu", "max_position_embeddings": 512,
  "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0,
  "id2label": {"0": "negative", "1": "neutral", "2": "positive"},
  "label2id": {"negative": 0, "neutral": 1, "positive": 2}
})";

std::string error_of(const std::string& json) {
  try {
    parse_model_config(json, "config.json");
  } catch (const ModelError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ModelConfig, ReadsBertFieldsAndLabels) {
  ModelConfig c = parse_model_config(kBert, "config.json");
  EXPECT_EQ(c.architecture, Architecture::kBert);
  EXPECT_EQ(c.hidden_size, 384);
  EXPECT_EQ(c.num_layers, 6);
  EXPECT_EQ(c.num_heads, 12);
  EXPECT_EQ(c.head_dim(), 32);
  EXPECT_EQ(c.intermediate_size, 1536);
  EXPECT_EQ(c.hidden_act, Activation::kGeluErf);
  EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-12f);
  EXPECT_EQ(c.num_labels, 3);
  EXPECT_EQ(c.id2label, (std::vector<std::string>{"negative", "neutral", "positive"}));
  EXPECT_EQ(c.problem_type, ProblemType::kSingleLabel);
  EXPECT_FALSE(c.positions_from_padding_idx);
  EXPECT_EQ(c.max_sequence_length(), 512);
}

TEST(ModelConfig, ReadsDistilBertNamesAndFixedEps) {
  ModelConfig c = parse_model_config(R"({
    "architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
    "vocab_size": 100, "dim": 64, "n_layers": 2, "n_heads": 4, "hidden_dim": 256,
    "activation": "gelu", "max_position_embeddings": 128, "pad_token_id": 0,
    "problem_type": "multi_label_classification", "id2label": {"0": "a", "1": "b"}})",
                                     "config.json");
  EXPECT_EQ(c.architecture, Architecture::kDistilBert);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 256);
  EXPECT_EQ(c.type_vocab_size, 0);
  EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-12f);
  EXPECT_EQ(c.problem_type, ProblemType::kMultiLabel);
}

TEST(ModelConfig, RobertaPositionsStartAfterPaddingIdx) {
  ModelConfig c = parse_model_config(R"({
    "architectures": ["XLMRobertaForSequenceClassification"], "model_type": "xlm-roberta",
    "vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
    "intermediate_size": 64, "hidden_act": "gelu_new", "max_position_embeddings": 514,
    "type_vocab_size": 1, "layer_norm_eps": 1e-5, "pad_token_id": 1, "num_labels": 1})",
                                     "config.json");
  EXPECT_EQ(c.architecture, Architecture::kRoberta);
  EXPECT_TRUE(c.positions_from_padding_idx);
  EXPECT_EQ(c.max_sequence_length(), 512);
  EXPECT_EQ(c.hidden_act, Activation::kGeluTanh);
  EXPECT_EQ(c.num_labels, 1);
  EXPECT_EQ(c.id2label, (std::vector<std::string>{"LABEL_0"}));
  EXPECT_EQ(c.problem_type, ProblemType::kRegression);
}

TEST(ModelConfig, ErrorsNameTheKey) {
  std::string no_vocab = kBert;
  no_vocab.replace(no_vocab.find("\"vocab_size\""), 12, "\"vocab_sizeX\"");
  EXPECT_NE(error_of(no_vocab).find("missing key 'vocab_size'"), std::string::npos)
      << error_of(no_vocab);

  std::string bad_act = kBert;
  bad_act.replace(bad_act.find("\"gelu\""), 6, "\"silu\"");
  EXPECT_NE(error_of(bad_act).find("unsupported hidden_act 'silu'"), std::string::npos);

  std::string bad_heads = kBert;
  bad_heads.replace(bad_heads.find("\"num_attention_heads\": 12"), 25,
                    "\"num_attention_heads\": 7");
  EXPECT_NE(error_of(bad_heads).find("not a multiple"), std::string::npos);
}

TEST(ModelConfig, RejectsUnknownArchitecture) {
  std::string gpt = kBert;
  gpt.replace(gpt.find("BertForSequenceClassification"), 29, "GPT2LMHeadModel");
  const std::string e = error_of(gpt);
  EXPECT_NE(e.find("config.json: unsupported architecture 'GPT2LMHeadModel'"), std::string::npos)
      << e;
}

TEST(ModelConfig, RejectsInvalidJsonAndLabelMismatch) {
  EXPECT_NE(error_of("{not json").find("not valid JSON"), std::string::npos);
  std::string mismatch = kBert;
  mismatch.insert(mismatch.rfind('}'), ", \"num_labels\": 2");
  EXPECT_NE(error_of(mismatch).find("id2label has 3 labels but num_labels is 2"),
            std::string::npos);
}

// kBert with `key` set to the JSON text `value` (id2label dropped when the key is num_labels).
std::string bert_with(const std::string& key, const std::string& value) {
  nlohmann::json j = nlohmann::json::parse(kBert);
  if (key == "num_labels") j.erase("id2label");
  j[key] = nlohmann::json::parse(value);
  return j.dump();
}

TEST(ModelConfig, RefusesSizesNoEncoderHasBeforeAllocatingForThem) {
  // num_labels sizes the label table before any weight is read: 10^12 used
  // to allocate until std::bad_alloc (exit 1, no file named).
  EXPECT_EQ(error_of(bert_with("num_labels", "1000000000000")),
            "config.json: num_labels: 1000000000000 is outside 1..1048576");
  EXPECT_EQ(error_of(bert_with("hidden_size", "1099511627776")),
            "config.json: hidden_size: 1099511627776 is outside 1..65536");
  EXPECT_EQ(error_of(bert_with("num_hidden_layers", "100000")),
            "config.json: num_hidden_layers: 100000 is outside 1..1024");
  EXPECT_EQ(error_of(bert_with("vocab_size", "18446744073709551615")),
            "config.json: vocab_size: 18446744073709551615 is outside 1..16777216");
  EXPECT_EQ(error_of(bert_with("intermediate_size", "0")),
            "config.json: intermediate_size: 0 is outside 1..262144");
  EXPECT_EQ(error_of(bert_with("max_position_embeddings", "-5")),
            "config.json: max_position_embeddings: -5 is outside 1..1048576");
  EXPECT_EQ(error_of(bert_with("type_vocab_size", "4294967296")),
            "config.json: type_vocab_size: 4294967296 is outside 1..65536");
}

TEST(ModelConfig, RefusesNonIntegersAndHugeFloats) {
  EXPECT_EQ(error_of(bert_with("num_labels", "1e12")),
            "config.json: num_labels: must be an integer, got 1000000000000.0");
  EXPECT_EQ(error_of(bert_with("hidden_size", "\"768\"")),
            "config.json: hidden_size: must be an integer, got a string");
  EXPECT_NE(error_of(R"({"vocab_size": 1e400})").find("config.json: not valid JSON"),
            std::string::npos);
}

TEST(ModelConfig, RefusesPadTokenOutsideTheVocabulary) {
  // Truncated to 32 bits it used to pass, then fed RoBERTa positions and
  // empty records an id no table has.
  EXPECT_EQ(error_of(bert_with("pad_token_id", "4294967296")),
            "config.json: pad_token_id: 4294967296 is outside 0..30521");
  EXPECT_EQ(error_of(bert_with("pad_token_id", "-1")),
            "config.json: pad_token_id: -1 is outside 0..30521");
}

TEST(ModelConfig, RefusesLayerNormEpsOutsideFloatRange) {
  // 1e300 converted to float is undefined (UBSan) and became inf in Release.
  EXPECT_EQ(error_of(bert_with("layer_norm_eps", "1e300")),
            "config.json: layer_norm_eps: must be in (0, 1]");
  EXPECT_EQ(error_of(bert_with("layer_norm_eps", "-1e-5")),
            "config.json: layer_norm_eps: must be in (0, 1]");
}

TEST(ModelConfig, RefusesNestingDeeperThanAnyConfig) {
  std::string deep = kBert;
  deep.insert(deep.rfind('}'), ", \"x\": " + std::string(100'000, '[') + std::string(100'000, ']'));
  EXPECT_EQ(error_of(deep), "config.json: x: nests deeper than 64 levels");
}

}  // namespace
}  // namespace sluice::engine
