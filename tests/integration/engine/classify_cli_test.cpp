// `sluice classify` as a user runs it: the real binary, text lines in, JSON
// lines out, checked against Hugging Face tokenizers + the PyTorch reference
// forward on the same model; lines the pipeline rejects become error lines in
// place; repeated texts come from the result cache; bad model directories
// exit 2 naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "src/engine/model_identity.h"
#include "tests/integration/engine/classify_fixtures.h"
#include "tests/support/subprocess.h"

namespace sluice::testing {
namespace {

namespace fs = std::filesystem;
namespace et = sluice::engine::testing;

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

// Two results for the same text: the same label, model and fields; scores
// and probabilities equal up to float rounding (batches of other sizes may
// sum in another order). latency_ms and id are the caller's business.
void expect_same_result(nlohmann::json got, nlohmann::json want, const std::string& where) {
  for (auto* j : {&got, &want}) j->erase("latency_ms");
  EXPECT_NEAR(got.at("score").get<double>(), want.at("score").get<double>(), 1e-6) << where;
  got.erase("score");
  want.erase("score");
  if (want.contains("probs")) {
    for (const auto& [label, p] : want.at("probs").items())
      EXPECT_NEAR(got.at("probs").at(label).get<double>(), p.get<double>(), 1e-6) << where;
    got.erase("probs");
    want.erase("probs");
  }
  EXPECT_EQ(got, want) << where;
}

TEST(SluiceClassify, RejectedLinesGetErrorLinesInPlaceAndTheirNeighboursTheirResults) {
  const fs::path model = model_with_tokenizer();
  const auto t = tweets(3);
  // An empty line, a line of blanks (no tokens) and invalid UTF-8 (tokenize's
  // default invalid_utf8: reject) between tweets; the last line has no newline.
  const std::string input =
      t[0] + "\n\n" + t[1] + "\n   \n\xff\xfe not utf-8\n" + t[2] + "\n\n" + t[0];
  auto r = run({sluice_binary(), "classify", "--model", model.string(), "--probs", "--precision",
                "fp32", "--max-batch-records", "2"},
               {}, input);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = parse_lines(r.out);
  ASSERT_EQ(lines.size(), 8u) << r.out;
  const std::map<size_t, std::pair<std::string, std::string>> errors = {
      {1, {"empty", "text is empty"}},
      {3, {"empty", "text has no tokens"}},
      {4, {"invalid_utf8", "text is not valid UTF-8 (invalid_utf8: reject)"}},
      {6, {"empty", "text is empty"}}};
  for (const auto& [i, e] : errors) {
    EXPECT_EQ(lines[i],
              (nlohmann::json{{"event_offset", i}, {"error", e.first}, {"detail", e.second}}))
        << "line " << i + 1;
  }
  // The good lines keep their line numbers and get exactly the results they
  // get without the rejected lines around them.
  auto clean = run(
      {sluice_binary(), "classify", "--model", model.string(), "--probs", "--precision", "fp32"},
      {}, join_lines({t[0], t[1], t[2], t[0]}));
  ASSERT_EQ(clean.code, 0) << clean.err;
  const auto want = parse_lines(clean.out);
  ASSERT_EQ(want.size(), 4u);
  const size_t good[] = {0, 2, 5, 7};
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(lines[good[k]].at("id"), good[k] + 1);
    nlohmann::json got = lines[good[k]];
    got["id"] = k + 1;
    expect_same_result(got, want[k], "line " + std::to_string(good[k] + 1));
  }
  EXPECT_NE(r.err.find("sluice classify: 8 lines: 4 results, 4 errors"), std::string::npos)
      << r.err;
}

// The stderr summary's result-cache counts (the infer stage's
// sluice_result_cache_lookups_total).
std::pair<int, int> cache_lookups(const std::string& err) {
  std::smatch m;
  if (!std::regex_search(err, m, std::regex("result cache (\\d+) hits, (\\d+) misses")))
    return {-1, -1};
  return {std::stoi(m[1]), std::stoi(m[2])};
}

TEST(SluiceClassify, RepeatedTextsAreAnsweredByTheResultCache) {
  const fs::path model = model_with_tokenizer();
  const auto t = tweets(2);
  std::vector<std::string> lines;
  for (int i = 0; i < 40; ++i) lines.push_back(t[i % 2]);
  // One record per batch: a repeat arriving after the first copy's batch
  // finished is a hit (the two first copies, and repeats submitted while they
  // still compute, are misses).
  auto r = run({sluice_binary(), "classify", "--model", model.string(), "--probs", "--precision",
                "fp32", "--max-batch-records", "1"},
               {}, join_lines(lines));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto [hits, misses] = cache_lookups(r.err);
  EXPECT_EQ(hits + misses, 40) << r.err;
  EXPECT_GE(hits, 1) << r.err;
  EXPECT_GE(misses, 2) << r.err;

  // The same answers as computing every line (cache off).
  auto off = run({sluice_binary(), "classify", "--model", model.string(), "--probs", "--precision",
                  "fp32", "--max-batch-records", "1", "--cache-entries", "0"},
                 {}, join_lines(lines));
  ASSERT_EQ(off.code, 0) << off.err;
  EXPECT_EQ(cache_lookups(off.err), std::make_pair(0, 0)) << off.err;
  const auto cached = parse_lines(r.out), computed = parse_lines(off.out);
  ASSERT_EQ(cached.size(), 40u);
  ASSERT_EQ(computed.size(), 40u);
  for (size_t i = 0; i < 40; ++i)
    expect_same_result(cached[i], computed[i], "line " + std::to_string(i + 1));
}

// The infer stage's check: a record whose logits come out non-finite is a
// dead letter, here an error line, and the other lines are classified.
TEST(SluiceClassify, NonFiniteLogitsAreErrorLines) {
  // A copy of the model whose embedding row for "the" (bert-base-uncased id
  // 1996) is NaN: every text with that word yields NaN logits.
  const fs::path dir = et::scratch_dir("cli-nan");
  et::copy_model(model_with_tokenizer(), dir);
  fs::copy_file(model_with_tokenizer() / "tokenizer.json", dir / "tokenizer.json",
                fs::copy_options::overwrite_existing);
  auto t = et::read_safetensors(dir / "model.safetensors");
  auto& emb = t["bert.embeddings.word_embeddings.weight"];
  ASSERT_EQ(emb.bytes.size(), size_t{30522} * 64 * 4);
  const float nan = std::nanf("");
  for (int c = 0; c < 64; ++c) std::memcpy(emb.bytes.data() + (1996 * 64 + c) * 4, &nan, 4);
  et::write_safetensors(dir / "model.safetensors", t);

  auto r = run({sluice_binary(), "classify", "--model", dir.string(), "--precision", "fp32"}, {},
               std::string("i like cats\nthe dog barks\nsunny day\nthe end"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = parse_lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  for (size_t i : {1, 3}) {
    EXPECT_EQ(lines[i], (nlohmann::json{{"event_offset", i},
                                        {"error", "non_finite_output"},
                                        {"detail", "the model produced a non-finite logit"}}));
  }
  for (size_t i : {0, 2}) {
    EXPECT_EQ(lines[i].at("id"), i + 1);
    EXPECT_TRUE(std::isfinite(lines[i].at("score").get<double>()));
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
  r = run({sluice_binary(), "classify", "--model", "x", "--cache-entries", "-1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--cache-entries needs a non-negative integer"), std::string::npos) << r.err;
  r = run(
      {sluice_binary(), "classify", "--model", model_with_tokenizer().string(), "--device", "tpu"},
      {}, std::string("x\n"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown device 'tpu'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sluice::testing
