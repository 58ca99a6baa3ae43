// Loading model directories: a good one, and each kind of bad one giving a
// ModelError that names the file and the tensor or key at fault.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "src/engine/model.h"
#include "src/engine/model_error.h"
#include "tests/support/model_fixtures.h"

namespace sluice::engine {
namespace {

namespace fs = std::filesystem;

const char* kTinyBert =
    "--arch bert --layers 2 --hidden 64 --heads 4 --intermediate 96 --vocab 120 --labels 3 "
    "--label-names neg,neu,pos";

// Loads dir and returns the ModelError's what(), or "loaded" if it loads.
std::string load_error(const fs::path& dir) {
  try {
    Model::load(dir);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "loaded";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "in: " << (haystack)

TEST(ModelLoad, LoadsBertWithFusedQkvAndLabels) {
  const fs::path dir = testing::random_model("tiny-bert", kTinyBert);
  Model m = Model::load(dir);
  const ModelConfig& c = m.config();
  EXPECT_EQ(c.architecture, Architecture::kBert);
  EXPECT_EQ(c.id2label, (std::vector<std::string>{"neg", "neu", "pos"}));
  EXPECT_EQ(m.name(), "tiny-bert");
  EXPECT_EQ(m.weights_dtype(), "F32");
  ASSERT_EQ(m.weights().layers.size(), 2u);
  const auto& qkv = m.weights().layers[0].qkv;
  EXPECT_EQ(qkv.weight.rows, 192);
  EXPECT_EQ(qkv.weight.cols, 64);
  EXPECT_EQ(qkv.bias.cols, 192);
  EXPECT_EQ(m.weights().head.out.weight.rows, 3);
  EXPECT_EQ(m.weights().head.pre_activation, Activation::kTanh);
  EXPECT_TRUE(m.tokenizer_path().empty());
  // embeddings 120·64 + 128·64 + 2·64 + 2·64, per layer 4·(64·64+64) + 2·(64·96) + 96 + 64 + 4·64,
  // pooler 64·64+64, classifier 3·64+3.
  const int64_t per_layer = 4 * (64 * 64 + 64) + 64 * 96 + 96 + 96 * 64 + 64 + 4 * 64;
  EXPECT_EQ(m.parameter_count(),
            120 * 64 + 128 * 64 + 2 * 64 + 2 * 64 + 2 * per_layer + 64 * 64 + 64 + 3 * 64 + 3);
}

TEST(ModelLoad, FindsTokenizerBesideTheWeights) {
  const fs::path src = testing::random_model("tiny-bert", kTinyBert);
  const fs::path dir = testing::scratch_dir("load-tokenizer");
  testing::copy_model(src, dir);
  testing::write_text(dir / "vocab.txt", "[PAD]\n");
  EXPECT_EQ(Model::load(dir).tokenizer_path(), dir / "vocab.txt");
  testing::write_text(dir / "tokenizer.json", "{}");
  EXPECT_EQ(Model::load(dir).tokenizer_path(), dir / "tokenizer.json");
}

TEST(ModelLoad, ReadsHalfAndBFloat16Weights) {
  for (const char* dt : {"F16", "BF16"}) {
    const fs::path dir = testing::random_model(std::string("tiny-bert-") + dt,
                                               std::string(kTinyBert) + " --dtype " + dt);
    Model m = Model::load(dir);
    EXPECT_EQ(m.weights_dtype(), dt);
  }
}

TEST(ModelLoad, MissingDirectory) {
  const fs::path dir = testing::scratch_dir("load-missing") / "no-such-model";
  EXPECT_EQ(load_error(dir), dir.string() + ": not a model directory (missing or not a directory)");
}

TEST(ModelLoad, MissingConfig) {
  const fs::path dir = testing::scratch_dir("load-no-config");
  testing::copy_model(testing::random_model("tiny-bert", kTinyBert), dir);
  fs::remove(dir / "config.json");
  EXPECT_EQ(load_error(dir), (dir / "config.json").string() + ": cannot open (missing?)");
}

TEST(ModelLoad, MissingSafetensors) {
  const fs::path dir = testing::scratch_dir("load-no-weights");
  testing::copy_model(testing::random_model("tiny-bert", kTinyBert), dir);
  fs::remove(dir / "model.safetensors");
  EXPECT_CONTAINS(load_error(dir), (dir / "model.safetensors").string() + ": missing");
}

TEST(ModelLoad, TruncatedSafetensors) {
  const fs::path dir = testing::scratch_dir("load-truncated");
  testing::copy_model(testing::random_model("tiny-bert", kTinyBert), dir);
  fs::resize_file(dir / "model.safetensors", fs::file_size(dir / "model.safetensors") / 2);
  const std::string e = load_error(dir);
  EXPECT_CONTAINS(e, (dir / "model.safetensors").string());
  EXPECT_CONTAINS(e, "truncated");
}

TEST(ModelLoad, WrongShapeNamesTheTensor) {
  const fs::path dir = testing::scratch_dir("load-wrong-shape");
  testing::copy_model(testing::random_model("tiny-bert", kTinyBert), dir);
  auto tensors = testing::read_safetensors(dir / "model.safetensors");
  tensors["bert.encoder.layer.1.attention.self.key.weight"].shape = {32, 128};
  testing::write_safetensors(dir / "model.safetensors", tensors);
  EXPECT_EQ(load_error(dir),
            (dir / "model.safetensors").string() +
                ": tensor 'bert.encoder.layer.1.attention.self.key.weight' has shape "
                "[32, 128], expected [64, 64]");
}

TEST(ModelLoad, MissingTensorIsNamed) {
  const fs::path dir = testing::scratch_dir("load-missing-tensor");
  testing::copy_model(testing::random_model("tiny-bert", kTinyBert), dir);
  auto tensors = testing::read_safetensors(dir / "model.safetensors");
  tensors.erase("bert.pooler.dense.bias");
  testing::write_safetensors(dir / "model.safetensors", tensors);
  EXPECT_EQ(load_error(dir),
            (dir / "model.safetensors").string() + ": missing tensor 'bert.pooler.dense.bias'");
}

TEST(ModelLoad, ClassifierRowsMustMatchNumLabels) {
  const fs::path dir = testing::scratch_dir("load-labels");
  testing::copy_model(testing::random_model("tiny-bert", kTinyBert), dir);
  std::string cfg = testing::read_text(dir / "config.json");
  cfg.replace(cfg.find("\"id2label\""), 10, "\"num_labels\": 4, \"x_id2label\"");
  testing::write_text(dir / "config.json", cfg);
  EXPECT_CONTAINS(load_error(dir),
                  "tensor 'classifier.weight' has shape [3, 64], expected [4, 64]");
}

TEST(ModelLoad, UnknownArchitecture) {
  const fs::path dir = testing::scratch_dir("load-arch");
  testing::copy_model(testing::random_model("tiny-bert", kTinyBert), dir);
  std::string cfg = testing::read_text(dir / "config.json");
  cfg.replace(cfg.find("BertForSequenceClassification"), 29, "BertForMaskedLM");
  testing::write_text(dir / "config.json", cfg);
  EXPECT_CONTAINS(load_error(dir),
                  (dir / "config.json").string() + ": unsupported architecture 'BertForMaskedLM'");
}

TEST(ModelLoad, LoadsDistilBertAndRobertaHeads) {
  Model d = Model::load(testing::random_model("tiny-distilbert",
                                              "--arch distilbert --layers 1 --hidden 32 --heads 2 "
                                              "--intermediate 64 --vocab 50 --labels 2"));
  EXPECT_EQ(d.weights().head.pre_activation, Activation::kRelu);
  EXPECT_TRUE(d.weights().token_type_row.empty());
  Model r = Model::load(testing::random_model(
      "tiny-roberta",
      "--arch roberta --layers 1 --hidden 32 --heads 2 --intermediate 64 --vocab 50 --labels 2"));
  EXPECT_EQ(r.weights().head.out.weight.rows, 2);
  EXPECT_TRUE(r.config().positions_from_padding_idx);
  EXPECT_EQ(r.config().max_sequence_length(), 128);
}

TEST(ModelLoad, ConfigLargerThanTheWeightsFailsOnTheFirstShapeBeforeAllocating) {
  // hidden_size 65536 used to allocate the whole [vocab, 65536] embedding
  // table (2 GB for bert-base) before comparing its shape.
  const fs::path dir = testing::scratch_dir("load-hidden");
  testing::copy_model(testing::random_model("tiny-bert", kTinyBert), dir);
  std::string cfg = testing::read_text(dir / "config.json");
  const size_t at = cfg.find("\"hidden_size\": 64");
  ASSERT_NE(at, std::string::npos) << cfg;
  cfg.replace(at, 17, "\"hidden_size\": 65536");
  testing::write_text(dir / "config.json", cfg);
  EXPECT_EQ(load_error(dir), (dir / "model.safetensors").string() +
                                 ": tensor 'bert.embeddings.word_embeddings.weight' has shape "
                                 "[120, 64], expected [120, 65536]");
}

TEST(ModelLoad, TypeVocabOverflowingTheWeightsIsRefused) {
  // (2^56 + 2) x 64 F32 elements need 2^64 + 512 bytes, which wrap to the 512
  // bytes of a real [2, 64] table. With a config that agreed, the model loaded
  // and the embedding kernel read past the table (ASan: heap-buffer-overflow).
  const fs::path dir = testing::scratch_dir("load-overflow");
  testing::copy_model(testing::random_model("tiny-bert", kTinyBert), dir);
  auto tensors = testing::read_safetensors(dir / "model.safetensors");
  tensors["bert.embeddings.token_type_embeddings.weight"].shape = {72057594037927938, 64};
  testing::write_safetensors(dir / "model.safetensors", tensors);
  std::string cfg = testing::read_text(dir / "config.json");
  const size_t at = cfg.find("\"type_vocab_size\": 2");
  ASSERT_NE(at, std::string::npos) << cfg;
  cfg.replace(at, 20, "\"type_vocab_size\": 72057594037927938");
  testing::write_text(dir / "config.json", cfg);
  EXPECT_EQ(load_error(dir), (dir / "config.json").string() +
                                 ": type_vocab_size: 72057594037927938 is outside 1..65536");
  cfg.replace(at, 36, "\"type_vocab_size\": 2");
  testing::write_text(dir / "config.json", cfg);
  EXPECT_CONTAINS(load_error(dir),
                  (dir / "model.safetensors").string() +
                      ": tensor 'bert.embeddings.token_type_embeddings.weight': "
                      "shape [72057594037927938, 64] of F32 needs more bytes than 64 "
                      "bits can count");
}

// The identity is the documented sha256sum recipe (model_identity.h), moves
// with any byte of weights, config or tokenizer, ignores other files, and
// takes the card's version from front matter or a table row.
TEST(ModelIdentity, HashIsTheSha256sumRecipeAndFollowsEveryModelFile) {
  const fs::path src = testing::random_model("tiny-bert", kTinyBert);
  const fs::path dir = testing::scratch_dir("identity");
  testing::copy_model(src, dir);
  testing::write_text(dir / "vocab.txt", "[PAD]\n[UNK]\n");
  const std::string cmd = "cd '" + dir.string() +
                          "' && sha256sum config.json model.safetensors vocab.txt | sha256sum | "
                          "cut -c1-16 > '" +
                          (dir.parent_path() / "identity.sum").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string expected = testing::read_text(dir.parent_path() / "identity.sum").substr(0, 16);
  const Model m = Model::load(dir);
  EXPECT_EQ(m.identity().hash, expected);
  EXPECT_EQ(m.identity().version, "");

  testing::write_text(dir / "notes.txt", "not part of the model");
  testing::write_text(dir / "README.md", "---\nlicense: mit\nversion: 2.1\n---\n# card\n");
  const ModelIdentity same = identify_model(dir);
  EXPECT_EQ(same.hash, expected);
  EXPECT_EQ(same.version, "2.1");

  testing::write_text(dir / "vocab.txt", "[PAD]\n[UNK]\nx\n");
  const std::string tokenizer_changed = identify_model(dir).hash;
  EXPECT_NE(tokenizer_changed, expected);
  std::string config = testing::read_text(dir / "config.json");
  testing::write_text(dir / "config.json", config + " ");
  EXPECT_NE(identify_model(dir).hash, tokenizer_changed);
}

TEST(ModelIdentity, CardVersionComesFromFrontMatterOrATableRow) {
  EXPECT_EQ(card_version("| | |\n|---|---|\n| version | 1.0 (2026-12-03) |\n"), "1.0 (2026-12-03)");
  EXPECT_EQ(card_version("---\nversion: \"0.3\"\n---\n"), "0.3");
  EXPECT_EQ(card_version("# model\nNo version here.\n"), "");
  EXPECT_EQ(card_version("This version: is prose, not a key\n"), "");
}

}  // namespace
}  // namespace sluice::engine
