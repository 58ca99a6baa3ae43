// config.json parsing for the three architectures: the fields the engine
// uses, their defaults, and errors that name the key.
#include "src/engine/model_config.h"

#include <gtest/gtest.h>

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
  EXPECT_NE(error_of(no_vocab).find("missing key 'vocab_size'"), std::string::npos) << error_of(no_vocab);

  std::string bad_act = kBert;
  bad_act.replace(bad_act.find("\"gelu\""), 6, "\"silu\"");
  EXPECT_NE(error_of(bad_act).find("unsupported hidden_act 'silu'"), std::string::npos);

  std::string bad_heads = kBert;
  bad_heads.replace(bad_heads.find("\"num_attention_heads\": 12"), 25, "\"num_attention_heads\": 7");
  EXPECT_NE(error_of(bad_heads).find("not a multiple"), std::string::npos);
}

TEST(ModelConfig, RejectsUnknownArchitecture) {
  std::string gpt = kBert;
  gpt.replace(gpt.find("BertForSequenceClassification"), 29, "GPT2LMHeadModel");
  const std::string e = error_of(gpt);
  EXPECT_NE(e.find("config.json: unsupported architecture 'GPT2LMHeadModel'"), std::string::npos) << e;
}

TEST(ModelConfig, RejectsInvalidJsonAndLabelMismatch) {
  EXPECT_NE(error_of("{not json").find("not valid JSON"), std::string::npos);
  std::string mismatch = kBert;
  mismatch.insert(mismatch.rfind('}'), ", \"num_labels\": 2");
  EXPECT_NE(error_of(mismatch).find("id2label has 3 labels but num_labels is 2"), std::string::npos);
}

}  // namespace
}  // namespace sluice::engine
