// `sluice classify` as a user runs it: the real binary, text lines in, JSON
// lines out, checked against Hugging Face tokenizers + the PyTorch reference
// forward on the same model; bad model directories exit 2 naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "src/engine/model_identity.h"
#include "tests/support/model_fixtures.h"
#include "tests/support/subprocess.h"

namespace sluice::testing {
namespace {

namespace fs = std::filesystem;
namespace et = sluice::engine::testing;

fs::path shared_data() { return fs::path(SLUICE_SHARED_DATA); }

// A random BERT classifier over the bert-base-uncased vocabulary, with its tokenizer.json.
fs::path model_with_tokenizer() {
  const fs::path dir = et::random_model(
      "cli-bert",
      "--arch bert --layers 2 --hidden 64 --heads 4 --intermediate 128 --vocab 30522 "
      "--max-positions 128 --labels 3 --label-names negative,neutral,positive --seed 31");
  fs::copy_file(shared_data() / "bert-base-uncased" / "tokenizer.json", dir / "tokenizer.json",
                fs::copy_options::overwrite_existing);
  return dir;
}

std::vector<std::string> tweets(size_t n) {
  std::ifstream in(shared_data() / "tweeteval-sentiment" / "test_text.txt");
  std::vector<std::string> out;
  for (std::string line; out.size() < n && std::getline(in, line);) out.push_back(line);
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

std::vector<nlohmann::json> parse_lines(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
  return v;
}

TEST(SluiceClassify, OneResultPerLineInInputOrder) {
  const fs::path model = model_with_tokenizer();
  const auto lines = tweets(300);
  auto r = run({sluice_binary(), "classify", "--model", model.string(), "--threads", "2",
                "--max-batch-records", "16"},
               {}, join_lines(lines));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto results = parse_lines(r.out);
  ASSERT_EQ(results.size(), lines.size());
  const std::string hash = engine::identify_model(model).hash;
  ASSERT_EQ(hash.size(), 16u);
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i]["id"], i + 1);
    EXPECT_EQ(results[i]["model_hash"], hash);
    EXPECT_TRUE(results[i]["label"] == "negative" || results[i]["label"] == "neutral" ||
                results[i]["label"] == "positive");
    EXPECT_EQ(results[i]["model"], "cli-bert");
    EXPECT_FALSE(results[i].contains("probs"));
  }
}

TEST(SluiceClassify, ProbabilitiesMatchHuggingFaceTokensThroughThePyTorchReference) {
  const fs::path model = model_with_tokenizer();
  const auto lines = tweets(12);
  // fp32: the exact mode (the default, auto, may pick int8; see int8_test.cpp).
  auto r = run(
      {sluice_binary(), "classify", "--model", model.string(), "--probs", "--precision", "fp32"},
      {}, join_lines(lines));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto results = parse_lines(r.out);
  ASSERT_EQ(results.size(), lines.size());

  // Token ids from Hugging Face's own tokenizer (npm tokenizers), then logits
  // from tools/reference_forward.py.
  const fs::path scratch = et::scratch_dir("cli-reference");
  et::write_text(scratch / "lines.json", nlohmann::json(lines).dump());
  const std::string script =
      "import { createRequire } from 'node:module'; import { readFileSync } from 'node:fs';"
      "const require = createRequire('" +
      std::string(SLUICE_SOURCE_DIR) +
      "/tools/package.json');"
      "const { Tokenizer } = require('tokenizers');"
      "const tok = Tokenizer.fromFile('" +
      (model / "tokenizer.json").string() +
      "'); tok.setTruncation(128);"
      "const lines = JSON.parse(readFileSync('" +
      (scratch / "lines.json").string() +
      "', 'utf8'));"
      "const out = []; for (const l of lines) out.push((await tok.encode(l)).getIds());"
      "console.log(JSON.stringify({sequences: out}));";
  auto ids = run({"node", "--input-type=module", "-e", script});
  ASSERT_EQ(ids.code, 0) << ids.err;
  auto seqs = nlohmann::json::parse(ids.out)["sequences"].get<std::vector<std::vector<int32_t>>>();
  const auto ref = et::reference_forward(model, seqs);
  const char* names[] = {"negative", "neutral", "positive"};
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& lg = ref.logits[i];
    const double m = std::max({lg[0], lg[1], lg[2]});
    double z = 0;
    for (double v : lg) z += std::exp(v - m);
    for (int k = 0; k < 3; ++k)
      EXPECT_NEAR(results[i]["probs"][names[k]].get<double>(), std::exp(lg[k] - m) / z, 1e-4)
          << "line " << i + 1;
  }
}

TEST(SluiceClassify, BadModelDirectoriesExitTwoNamingTheFile) {
  const fs::path good = model_with_tokenizer();
  auto expect_exit_2 = [](const fs::path& dir, const std::string& needle) {
    auto r =
        run({sluice_binary(), "classify", "--model", dir.string()}, {}, std::string("hello\n"));
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  };
  expect_exit_2(et::scratch_dir("cli-missing") / "nope", "not a model directory");

  const fs::path truncated = et::scratch_dir("cli-truncated");
  et::copy_model(good, truncated);
  fs::resize_file(truncated / "model.safetensors", 1000);
  expect_exit_2(truncated, (truncated / "model.safetensors").string());

  const fs::path arch = et::scratch_dir("cli-arch");
  et::copy_model(good, arch);
  std::string cfg = et::read_text(arch / "config.json");
  cfg.replace(cfg.find("BertForSequenceClassification"), 29, "T5ForConditionalGeneration");
  et::write_text(arch / "config.json", cfg);
  expect_exit_2(arch, "unsupported architecture 'T5ForConditionalGeneration'");

  const fs::path shape = et::scratch_dir("cli-shape");
  et::copy_model(good, shape);
  auto t = et::read_safetensors(shape / "model.safetensors");
  t["classifier.weight"].shape = {64, 3};
  et::write_safetensors(shape / "model.safetensors", t);
  expect_exit_2(shape, "tensor 'classifier.weight' has shape [64, 3], expected [3, 64]");

  const fs::path no_tok = et::scratch_dir("cli-no-tokenizer");
  et::copy_model(good, no_tok);  // config + weights only
  expect_exit_2(no_tok, "no tokenizer.json or vocab.txt");
}

TEST(SluiceClassify, LabelsNameTheOutputsInIdOrder) {
  const fs::path model = model_with_tokenizer();  // id2label: negative, neutral, positive
  auto r = run({sluice_binary(), "classify", "--model", model.string(), "--probs", "--labels",
                "NEG,NEU,POS"},
               {}, join_lines(tweets(20)));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto renamed = parse_lines(r.out);
  r = run({sluice_binary(), "classify", "--model", model.string(), "--probs"}, {},
          join_lines(tweets(20)));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto plain = parse_lines(r.out);
  ASSERT_EQ(renamed.size(), plain.size());
  const std::map<std::string, std::string> name = {
      {"negative", "NEG"}, {"neutral", "NEU"}, {"positive", "POS"}};
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(renamed[i]["label"], name.at(plain[i]["label"]));
    for (const auto& [from, to] : name) EXPECT_EQ(renamed[i]["probs"][to], plain[i]["probs"][from]);
  }

  r = run({sluice_binary(), "classify", "--model", model.string(), "--labels", "a,b"}, {},
          std::string("x\n"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--labels: the model has 3 outputs, 2 label names given"), std::string::npos)
      << r.err;
}

TEST(SluiceClassify, BadUsageExitsTwo) {
  auto r = run({sluice_binary(), "classify"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--model DIR is required"), std::string::npos) << r.err;
  r = run({sluice_binary(), "classify", "--model", "x", "--threads", "-3"});
  EXPECT_EQ(r.code, 2);
  r = run(
      {sluice_binary(), "classify", "--model", model_with_tokenizer().string(), "--device", "tpu"},
      {}, std::string("x\n"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown device 'tpu'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sluice::testing
