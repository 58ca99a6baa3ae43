// Token-for-token comparison with Hugging Face `tokenizers` 0.23.2: the golden
// ids come from tools/tokenizer_goldens.mjs (the real library, via npm). Edge
// cases are committed; SST-2 and TweetEval texts are read from the shared data
// folder and the tests skip, saying so, when it is absent.
#include <gtest/gtest.h>

#include "src/text/tokenizer.h"
#include "tests/support/text_test_util.h"

namespace sluice::text {
namespace {

using namespace sluice::text::testing;

constexpr int32_t kNoTruncation = 8192;  // longer than every input's encoding

struct Input {
  std::vector<std::string> texts;
  std::vector<std::string> names;  // for failure messages
};

Input edge_input() {
  Input in;
  for (auto& c : read_edge_cases()) {
    in.texts.push_back(std::move(c.text));
    in.names.push_back(std::move(c.name));
  }
  return in;
}

Input shared_input(const std::string& which) {
  Input in;
  if (which == "sst2-dev") {
    in.texts = read_sst2(kSharedData / "sst2" / "dev.tsv");
  } else {
    in.texts = read_lines(kSharedData / "tweeteval-sentiment" / "test_text.txt");
    in.texts.resize(std::min<size_t>(in.texts.size(), 2000));
  }
  for (size_t i = 0; i < in.texts.size(); ++i)
    in.names.push_back(which + " line " + std::to_string(i + 1));
  return in;
}

bool shared_data_present() {
  return fs::exists(kSharedData / "sst2" / "dev.tsv") &&
         fs::exists(kSharedData / "tweeteval-sentiment" / "test_text.txt");
}

// Encodes every input and compares with the golden file; reports the first
// differences with the case name, the text and both id lists.
void expect_golden(const fs::path& tokenizer, const Input& in, const std::string& golden,
                   EncodeOptions options = {}) {
  const auto tok = Tokenizer::load(tokenizer);
  const auto expected = read_ids(kGoldens / (golden + ".ids"));
  ASSERT_EQ(expected.size(), in.texts.size())
      << golden << ".ids does not match the input (regenerate with tools/tokenizer_goldens.mjs)";
  if (options.max_length == 0) options.max_length = kNoTruncation;
  std::vector<int32_t> out(static_cast<size_t>(options.max_length));
  Tokenizer::Workspace ws;
  int mismatches = 0;
  for (size_t i = 0; i < in.texts.size(); ++i) {
    const EncodeResult r = tok->encode(in.texts[i], out, ws, options);
    const std::vector<int32_t> got(out.begin(), out.begin() + r.length);
    if (got != expected[i] && ++mismatches <= 5) {
      ADD_FAILURE() << golden << ": " << in.names[i] << "\n  text: " << in.texts[i]
                    << "\n  hf:     " << ids_to_json(expected[i])
                    << "\n  sluice: " << ids_to_json(got);
    }
  }
  EXPECT_EQ(mismatches, 0) << golden << ": " << mismatches << " of " << in.texts.size()
                           << " texts differ";
}

TEST(TokenizerGoldens, BertMatchesHuggingFaceOnEdgeCases) {
  if (!fs::exists(kBertDir)) GTEST_SKIP() << "no " << kBertDir << " (shared data absent)";
  expect_golden(kBertDir, edge_input(), "bert.edge");
}

TEST(TokenizerGoldens, BertMatchesHuggingFaceOnEdgeCasesTruncatedTo16) {
  if (!fs::exists(kBertDir)) GTEST_SKIP() << "no " << kBertDir << " (shared data absent)";
  expect_golden(kBertDir, edge_input(), "bert.edge.trunc16", {.max_length = 16});
}

TEST(TokenizerGoldens, BertMatchesHuggingFaceOnEdgeCasesWithoutSpecialTokens) {
  if (!fs::exists(kBertDir)) GTEST_SKIP() << "no " << kBertDir << " (shared data absent)";
  expect_golden(kBertDir, edge_input(), "bert.edge.nospecial", {.add_special_tokens = false});
}

TEST(TokenizerGoldens, BertMatchesHuggingFaceOnSst2Dev) {
  if (!shared_data_present()) GTEST_SKIP() << "no SST-2 / TweetEval under " << kSharedData;
  expect_golden(kBertDir, shared_input("sst2-dev"), "bert.sst2-dev");
}

TEST(TokenizerGoldens, BertMatchesHuggingFaceOnTweetEval) {
  if (!shared_data_present()) GTEST_SKIP() << "no SST-2 / TweetEval under " << kSharedData;
  expect_golden(kBertDir, shared_input("tweeteval-2000"), "bert.tweeteval-2000");
}

// vocab.txt + tokenizer_config.json must build the same tokenizer as tokenizer.json.
TEST(TokenizerGoldens, BertFromVocabTxtMatchesHuggingFace) {
  if (!shared_data_present()) GTEST_SKIP() << "no shared data under " << kSharedData;
  expect_golden(kBertDir / "vocab.txt", edge_input(), "bert.edge");
  expect_golden(kBertDir / "vocab.txt", shared_input("tweeteval-2000"), "bert.tweeteval-2000");
}

TEST(TokenizerGoldens, ByteLevelBpeMatchesHuggingFaceOnEdgeCases) {
  expect_golden(kBpeDir, edge_input(), "bpe.edge");
}

TEST(TokenizerGoldens, ByteLevelBpeMatchesHuggingFaceOnEdgeCasesTruncatedTo16) {
  expect_golden(kBpeDir, edge_input(), "bpe.edge.trunc16", {.max_length = 16});
}

TEST(TokenizerGoldens, ByteLevelBpeMatchesHuggingFaceOnEdgeCasesWithoutSpecialTokens) {
  expect_golden(kBpeDir, edge_input(), "bpe.edge.nospecial", {.add_special_tokens = false});
}

TEST(TokenizerGoldens, ByteLevelBpeMatchesHuggingFaceOnSst2Dev) {
  if (!shared_data_present()) GTEST_SKIP() << "no SST-2 / TweetEval under " << kSharedData;
  expect_golden(kBpeDir, shared_input("sst2-dev"), "bpe.sst2-dev");
}

TEST(TokenizerGoldens, ByteLevelBpeMatchesHuggingFaceOnTweetEval) {
  if (!shared_data_present()) GTEST_SKIP() << "no SST-2 / TweetEval under " << kSharedData;
  expect_golden(kBpeDir, shared_input("tweeteval-2000"), "bpe.tweeteval-2000");
}

// vocab.json + merges.txt (RoBERTa's older files) must match tokenizer.json.
TEST(TokenizerGoldens, ByteLevelBpeFromVocabJsonAndMergesMatchesHuggingFace) {
  expect_golden(kBpeLegacyDir, edge_input(), "bpe.edge");
  if (!shared_data_present()) GTEST_SKIP() << "edge cases checked; no shared data for the rest";
  expect_golden(kBpeLegacyDir / "vocab.json", shared_input("tweeteval-2000"), "bpe.tweeteval-2000");
}

// tests/fixtures/tokenizer/variants.json: the configurable components
// (cased and no-clean BERT normalizers, NFD / NFC / NFKC / NFKD / Lowercase /
// StripAccents sequences, Whitespace / WhitespaceSplit / Sequence
// pre-tokenizers, ByteLevel with a prefix space, BertProcessing and templates,
// added tokens with single_word / lstrip / rstrip / normalized).
TEST(TokenizerGoldens, TokenizerVariantsMatchHuggingFaceOnEdgeCases) {
  const auto variants = nlohmann::json::parse(read_file(kFixtures / "variants.json"));
  const fs::path dir = fs::temp_directory_path() / "sluice_text_variants";
  fs::create_directories(dir);
  const Input edge = edge_input();
  int checked = 0;
  for (const auto& [name, v] : variants.items()) {
    if (name.starts_with("_")) continue;
    const fs::path base =
        v["base"] == "bert" ? kBertDir / "tokenizer.json" : kBpeDir / "tokenizer.json";
    if (!fs::exists(base)) continue;  // bert-based variants need the shared data
    auto json = nlohmann::json::parse(read_file(base));
    for (const auto& [key, value] : v["patch"].items()) json[key] = value;
    const fs::path file = dir / (name + ".json");
    std::ofstream(file) << json.dump();
    SCOPED_TRACE("variant " + name);
    expect_golden(file, edge, name + ".edge");
    ++checked;
  }
  fs::remove_all(dir);
  EXPECT_GE(checked, 2) << "no variant checked";
}

}  // namespace
}  // namespace sluice::text
