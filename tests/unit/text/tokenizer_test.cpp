// The public Tokenizer API: truncation, special tokens, the invalid-UTF-8
// policies, empty input, concurrency, workspace reuse, and load errors that
// name the file and the problem. Uses the committed byte-level BPE fixture
// (and bert-base-uncased from the shared data when present).
#include "src/text/tokenizer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/support/text_test_util.h"

namespace sluice::text {
namespace {

using namespace sluice::text::testing;

std::vector<int32_t> encode(const Tokenizer& tok, std::string_view text, EncodeOptions o = {},
                            EncodeResult* result = nullptr) {
  Tokenizer::Workspace ws;
  std::vector<int32_t> out(
      static_cast<size_t>(o.max_length ? o.max_length : tok.model_max_length()));
  const EncodeResult r = tok.encode(text, out, ws, o);
  if (result) *result = r;
  out.resize(static_cast<size_t>(r.length));
  return out;
}

class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { bpe_ = Tokenizer::load(kBpeDir).release(); }
  static void TearDownTestSuite() { delete bpe_; }
  static const Tokenizer& bpe() { return *bpe_; }

 private:
  static Tokenizer* bpe_;
};
Tokenizer* TokenizerTest::bpe_ = nullptr;

TEST_F(TokenizerTest, ReportsVocabularyAndSpecialIds) {
  EXPECT_EQ(bpe().vocab_size(), 8192);
  EXPECT_EQ(bpe().cls_id(), 0);
  EXPECT_EQ(bpe().pad_id(), 1);
  EXPECT_EQ(bpe().sep_id(), 2);
  EXPECT_EQ(bpe().unk_id(), 3);
  EXPECT_EQ(bpe().mask_id(), 8191);
  EXPECT_EQ(bpe().special_tokens_count(), 2);
  EXPECT_EQ(bpe().model_max_length(), 512);
  EXPECT_EQ(bpe().token_to_id("<mask>"), 8191);
  EXPECT_EQ(bpe().token_to_id("no-such-token"), std::nullopt);
}

TEST_F(TokenizerTest, BertReportsItsSpecialIds) {
  if (!fs::exists(kBertDir)) GTEST_SKIP() << "no " << kBertDir;
  const auto bert = Tokenizer::load(kBertDir);
  EXPECT_EQ(bert->vocab_size(), 30522);
  EXPECT_EQ(bert->pad_id(), 0);
  EXPECT_EQ(bert->unk_id(), 100);
  EXPECT_EQ(bert->cls_id(), 101);
  EXPECT_EQ(bert->sep_id(), 102);
  EXPECT_EQ(bert->mask_id(), 103);
  EXPECT_EQ(bert->model_max_length(), 512);  // tokenizer_config's 1e30 means "none"
  EXPECT_EQ(encode(*bert, "Hello, World!"),
            (std::vector<int32_t>{101, 7592, 1010, 2088, 999, 102}));
}

TEST_F(TokenizerTest, TruncatesToMaxLengthKeepingTheSpecialTokens) {
  const std::string text = "the film is a charming and often affecting journey , but it drags .";
  EncodeResult full_r, cut_r;
  const auto full = encode(bpe(), text, {.max_length = 512}, &full_r);
  const auto cut = encode(bpe(), text, {.max_length = 8}, &cut_r);
  ASSERT_GT(full.size(), 8u);
  EXPECT_FALSE(full_r.truncated);
  EXPECT_TRUE(cut_r.truncated);
  ASSERT_EQ(cut.size(), 8u);
  EXPECT_EQ(cut.front(), 0);
  EXPECT_EQ(cut.back(), 2);
  EXPECT_TRUE(std::equal(cut.begin(), cut.end() - 1, full.begin()));  // the first 6 content ids
  EncodeResult exact_r;
  encode(bpe(), text, {.max_length = static_cast<int32_t>(full.size())}, &exact_r);
  EXPECT_FALSE(exact_r.truncated);
}

TEST_F(TokenizerTest, WithoutSpecialTokensTheWholeBudgetIsContent) {
  const auto plain = encode(bpe(), "a charming journey", {.add_special_tokens = false});
  const auto with = encode(bpe(), "a charming journey");
  ASSERT_EQ(with.size(), plain.size() + 2);
  EXPECT_TRUE(std::equal(plain.begin(), plain.end(), with.begin() + 1));
  EXPECT_EQ(encode(bpe(), "a charming journey", {.max_length = 2, .add_special_tokens = false}),
            std::vector<int32_t>(plain.begin(), plain.begin() + 2));
}

TEST_F(TokenizerTest, ReplacesInvalidUtf8WithTheReplacementCharacter) {
  EncodeResult r;
  const auto got = encode(bpe(), "ok \xFF\xC3 done", {}, &r);
  EXPECT_EQ(r.status, EncodeStatus::kOk);
  EXPECT_EQ(got, encode(bpe(), "ok \xEF\xBF\xBD\xEF\xBF\xBD done"));
}

TEST_F(TokenizerTest, RejectsInvalidUtf8WhenThePolicyIsReject) {
  EncodeResult r;
  const auto got = encode(bpe(), "ok \xFF done", {.invalid_utf8 = InvalidUtf8::kReject}, &r);
  EXPECT_EQ(r.status, EncodeStatus::kInvalidUtf8);
  EXPECT_EQ(r.length, 0);
  EXPECT_TRUE(got.empty());
  encode(bpe(), "valid \xC3\xA9", {.invalid_utf8 = InvalidUtf8::kReject}, &r);
  EXPECT_EQ(r.status, EncodeStatus::kOk);
}

TEST_F(TokenizerTest, EmptyTextIsReportedEmptyWithItsSpecialTokens) {
  EncodeResult r;
  EXPECT_EQ(encode(bpe(), "", {}, &r), (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(r.status, EncodeStatus::kEmpty);
  encode(bpe(), " ", {}, &r);  // byte-level BPE has a token for the space
  EXPECT_EQ(r.status, EncodeStatus::kOk);
}

TEST_F(TokenizerTest, BertTextOfOnlyDroppedCharactersIsEmpty) {
  if (!fs::exists(kBertDir)) GTEST_SKIP() << "no " << kBertDir;
  const auto bert = Tokenizer::load(kBertDir);
  EncodeResult r;
  EXPECT_EQ(encode(*bert, " \t\xE2\x80\x8B\n", {}, &r), (std::vector<int32_t>{101, 102}));
  EXPECT_EQ(r.status, EncodeStatus::kEmpty);
}

TEST_F(TokenizerTest, ConcurrentEncodesEqualSequentialOnes) {
  std::vector<std::string> texts;
  for (const auto& c : read_edge_cases()) texts.push_back(c.text);
  std::vector<std::vector<int32_t>> expected;
  for (const auto& t : texts) expected.push_back(encode(bpe(), t, {.max_length = 4096}));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      Tokenizer::Workspace ws;  // one per thread, reused across calls
      std::vector<int32_t> out(4096);
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t k =
              (i * 7 + static_cast<size_t>(w) * 13 + static_cast<size_t>(round)) % texts.size();
          const auto r = bpe().encode(texts[k], out, ws, {.max_length = 4096});
          if (!std::equal(out.begin(), out.begin() + r.length, expected[k].begin(),
                          expected[k].end())) {
            ++mismatches[static_cast<size_t>(w)];
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST_F(TokenizerTest, OneWorkspaceServesSeveralTokenizers) {
  const auto legacy = Tokenizer::load(kBpeLegacyDir);
  Tokenizer::Workspace ws;
  std::vector<int32_t> a(512), b(512);
  for (const char* text : {"a charming journey", "another charming film", "a charming journey"}) {
    const auto ra = bpe().encode(text, a, ws);
    const auto rb = legacy->encode(text, b, ws);
    EXPECT_EQ(std::vector<int32_t>(a.begin(), a.begin() + ra.length),
              std::vector<int32_t>(b.begin(), b.begin() + rb.length));
    EXPECT_EQ(std::vector<int32_t>(a.begin(), a.begin() + ra.length), encode(bpe(), text));
  }
}

// ---- load errors ----------------------------------------------------------

class TokenizerLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sluice_text_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    base_ = nlohmann::json::parse(read_file(kBpeDir / "tokenizer.json"));
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Loads base_ (edited by the test) and returns the error message.
  std::string load_error() {
    const fs::path file = dir_ / "tokenizer.json";
    std::ofstream(file) << base_.dump();
    try {
      Tokenizer::load(file);
    } catch (const TokenizerError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(file.string()), std::string::npos) << "does not name the file: " << msg;
      return msg;
    }
    ADD_FAILURE() << "loaded without error";
    return "";
  }

  // Writes `text` as tokenizer.json and returns the load error.
  std::string load_error_of(const std::string& text) {
    std::ofstream(dir_ / "tokenizer.json") << text;
    try {
      Tokenizer::load(dir_);
    } catch (const TokenizerError& e) {
      return e.what();
    }
    return "loaded";
  }

  // base_ with `key` set to `depth` nested Sequences (written as text: a
  // JSON library's own dump would recurse as deep).
  std::string nested(const char* key, const char* list, const std::string& leaf, int depth) {
    nlohmann::json j = base_;
    j[key] = "@NESTED@";
    std::string text = j.dump();
    std::string value;
    for (int i = 0; i < depth; ++i) value += R"({"type":"Sequence",")" + std::string(list) + "\":[";
    value += leaf;
    for (int i = 0; i < depth; ++i) value += "]}";
    text.replace(text.find("\"@NESTED@\""), 10, value);
    return text;
  }

  fs::path dir_;
  nlohmann::json base_;
};

TEST_F(TokenizerLoadTest, DeeplyNestedSequencesAreRefusedNamingTheField) {
  // 100,000 nested Sequence normalizers crashed the recursive loader (stack overflow).
  const std::string file = (dir_ / "tokenizer.json").string();
  EXPECT_EQ(load_error_of(nested("normalizer", "normalizers", R"({"type":"Lowercase"})", 100'000)),
            file + ": normalizer: nests deeper than 64 levels");
  EXPECT_EQ(
      load_error_of(nested("pre_tokenizer", "pretokenizers", R"({"type":"Whitespace"})", 100'000)),
      file + ": pre_tokenizer: nests deeper than 64 levels");
  // Real depths still load.
  EXPECT_EQ(load_error_of(nested("normalizer", "normalizers", R"({"type":"Lowercase"})", 20)),
            "loaded");
}

TEST_F(TokenizerLoadTest, SequencesLongerThanAnyRealOneAreRefused) {
  // Each step runs on every record: 100,000 Lowercase steps loaded, then
  // made every encode 100,000 passes over the text.
  base_["normalizer"] = {
      {"type", "Sequence"},
      {"normalizers", std::vector<nlohmann::json>(100'000, nlohmann::json{{"type", "Lowercase"}})}};
  EXPECT_NE(load_error().find(
                "normalizer.normalizers: 100000 steps, more than the 64 a Sequence may have"),
            std::string::npos)
      << load_error();
}

TEST_F(TokenizerLoadTest, AFifoIsRefusedWithoutWaitingForAWriter) {
  const fs::path fifo = dir_ / "tokenizer.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Should load() block on the FIFO, this writer releases it (and the test
  // then fails on the message) instead of hanging the test run.
  std::atomic<bool> done{false};
  std::thread writer([&] {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done && std::chrono::steady_clock::now() < give_up) {
      const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // only once a reader waits
      if (fd >= 0) {
        ::close(fd);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  try {
    Tokenizer::load(dir_);
    ADD_FAILURE() << "loaded a FIFO";
  } catch (const TokenizerError& e) {
    EXPECT_EQ(std::string(e.what()), fifo.string() + ": not a regular file (a FIFO)");
  }
  done = true;
  writer.join();
}

TEST_F(TokenizerLoadTest, PostProcessorIdsMustBe32BitIds) {
  // A negative or truncated id went straight into every encoding.
  base_["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single",
       {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"pair", nlohmann::json::array()},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {-1}}, {"tokens", {"<s>"}}}}}}};
  EXPECT_NE(load_error().find("post_processor.special_tokens.<s>.ids[0]: expected a non-negative "
                              "32-bit id"),
            std::string::npos);
  base_["post_processor"] = {
      {"type", "RobertaProcessing"}, {"sep", {"</s>", 4294967298LL}}, {"cls", {"<s>", 0}}};
  EXPECT_NE(load_error().find("post_processor.sep[1]: expected a non-negative 32-bit id"),
            std::string::npos);
}

TEST_F(TokenizerLoadTest, TokensLongerThanAnyRealOneAreRefusedNamingTheEntry) {
  // One 20,000-character token took 0.5-2 GB to load (WordPiece failure pops).
  const std::string a40(40, 'a');
  base_["model"]["vocab"][std::string(20'000, 'a')] = 9000;
  EXPECT_NE(load_error().find("model.vocab[\"" + a40 +
                              "\u2026\"]: 20000 bytes, more than the 4096 a token may have"),
            std::string::npos)
      << load_error();
  base_ = nlohmann::json::parse(read_file(kBpeDir / "tokenizer.json"));
  base_["added_tokens"].push_back({{"id", 9000}, {"content", std::string(5000, 'b')}});
  EXPECT_NE(load_error().find(".content: 5000 bytes, more than the 4096"), std::string::npos)
      << load_error();

  std::ofstream(dir_ / "vocab.txt") << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n"
                                    << std::string(20'000, 'a') << "\n";
  try {
    Tokenizer::load(dir_ / "vocab.txt");
    ADD_FAILURE() << "loaded a 20,000-byte token";
  } catch (const TokenizerError& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir_ / "vocab.txt").string() +
                  ": line 5: 20000 bytes, more than the 4096 a token may have");
  }
}

TEST_F(TokenizerLoadTest, VocabularyIdWithNoRoomForVocabSizeIsRefused) {
  // vocab_size = largest id + 1 overflowed int32.
  base_["model"]["vocab"]["zz_last"] = 2147483647;
  EXPECT_NE(load_error().find("an id of 2147483647 leaves no vocab_size"), std::string::npos);
}

TEST_F(TokenizerLoadTest, LegacyVocabJsonIdsMustBeNonNegative) {
  fs::copy(kBpeLegacyDir, dir_, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  auto vocab = nlohmann::json::parse(read_file(kBpeLegacyDir / "vocab.json"));
  vocab["zz_negative"] = -5;
  std::ofstream(dir_ / "vocab.json") << vocab.dump();
  try {
    Tokenizer::load(dir_);
    ADD_FAILURE() << "loaded a negative id";
  } catch (const TokenizerError& e) {
    EXPECT_EQ(std::string(e.what()), (dir_ / "vocab.json").string() +
                                         ": [\"zz_negative\"]: expected a non-negative 32-bit id");
  }
}

TEST_F(TokenizerLoadTest, UnsupportedNormalizerIsNamed) {
  base_["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", "a"}}}, {"content", "b"}};
  EXPECT_NE(load_error().find("normalizer.type: normalizer 'Replace' is not supported"),
            std::string::npos);
}

TEST_F(TokenizerLoadTest, UnsupportedModelIsNamed) {
  base_["model"]["type"] = "Unigram";
  EXPECT_NE(load_error().find("model 'Unigram' is not supported"), std::string::npos);
}

TEST_F(TokenizerLoadTest, UnsupportedPreTokenizerInsideASequenceIsNamed) {
  base_["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers", {{{"type", "WhitespaceSplit"}}, {{"type", "Digits"}}}}};
  EXPECT_NE(load_error().find("pre_tokenizer.pretokenizers[1].type: pre-tokenizer 'Digits'"),
            std::string::npos);
}

TEST_F(TokenizerLoadTest, PreTokenizerAfterByteLevelIsRefused) {
  base_["pre_tokenizer"] = {{"type", "Sequence"},
                            {"pretokenizers", {{{"type", "ByteLevel"}}, {{"type", "Whitespace"}}}}};
  EXPECT_NE(load_error().find("ByteLevel must be last"), std::string::npos);
}

TEST_F(TokenizerLoadTest, BpeDropoutIsRefused) {
  base_["model"]["dropout"] = 0.1;
  EXPECT_NE(load_error().find("model.dropout"), std::string::npos);
}

TEST_F(TokenizerLoadTest, LeftTruncationIsRefused) {
  base_["truncation"] = {
      {"max_length", 128}, {"strategy", "LongestFirst"}, {"stride", 0}, {"direction", "Left"}};
  EXPECT_NE(load_error().find("truncation.direction"), std::string::npos);
}

TEST_F(TokenizerLoadTest, MergeWithUnknownTokenIsNamed) {
  base_["model"]["merges"].push_back({"zz_not_a_token", "e"});
  EXPECT_NE(load_error().find("'zz_not_a_token' is not in the vocabulary"), std::string::npos);
}

TEST_F(TokenizerLoadTest, MalformedJsonIsReported) {
  const fs::path file = dir_ / "tokenizer.json";
  std::ofstream(file) << "{\"model\": ";
  EXPECT_THROW(
      {
        try {
          Tokenizer::load(dir_);
        } catch (const TokenizerError& e) {
          EXPECT_NE(std::string(e.what()).find("invalid JSON"), std::string::npos) << e.what();
          throw;
        }
      },
      TokenizerError);
}

TEST_F(TokenizerLoadTest, MissingPathIsReported) {
  EXPECT_THROW(Tokenizer::load(dir_ / "nothing-here"), TokenizerError);
  EXPECT_THROW(Tokenizer::load(dir_), TokenizerError);  // an empty directory
}

TEST_F(TokenizerLoadTest, TruncationInTokenizerJsonSetsModelMaxLength) {
  base_["truncation"] = {
      {"max_length", 128}, {"strategy", "LongestFirst"}, {"stride", 0}, {"direction", "Right"}};
  std::ofstream(dir_ / "tokenizer.json") << base_.dump();
  EXPECT_EQ(Tokenizer::load(dir_)->model_max_length(), 128);
}

TEST_F(TokenizerLoadTest, TruncationLongerThanAnyEncodeBufferIsRefused) {
  // Every worker's id buffer is max_length long: 2e9 was 8 GB each.
  base_["truncation"] = {{"max_length", 2000000000}, {"direction", "Right"}};
  EXPECT_NE(load_error().find("truncation.max_length: expected a positive integer up to 1048576"),
            std::string::npos)
      << load_error();
}

TEST_F(TokenizerLoadTest, ImpossibleMaxPositionsInConfigJsonArePassedOver) {
  // Truncated to 32 bits, 2^32 + 5 positions used to become model_max_length 5.
  std::ofstream(dir_ / "tokenizer.json") << base_.dump();
  std::ofstream(dir_ / "config.json") << R"({"max_position_embeddings": 4294967301})";
  EXPECT_EQ(Tokenizer::load(dir_)->model_max_length(), 512);
  std::ofstream(dir_ / "config.json")
      << R"({"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 2147483647})";
  EXPECT_EQ(Tokenizer::load(dir_)->model_max_length(), 512);
}

TEST_F(TokenizerLoadTest, WrongJsonTypesBesideTheVocabularyNameTheFileAndField) {
  // These escaped as nlohmann::json::type_error: `sluice tokenize` aborted.
  std::ofstream(dir_ / "vocab.txt") << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n";
  std::ofstream(dir_ / "tokenizer_config.json")
      << R"({"added_tokens_decoder": {"5": {"content": 5}}})";
  try {
    Tokenizer::load(dir_);
    ADD_FAILURE() << "loaded";
  } catch (const TokenizerError& e) {
    EXPECT_EQ(std::string(e.what()), (dir_ / "tokenizer_config.json").string() +
                                         ": added_tokens_decoder.5.content: expected a string");
  }
  fs::remove(dir_ / "vocab.txt");
  fs::copy(kBpeLegacyDir, dir_, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  std::ofstream(dir_ / "tokenizer_config.json") << R"({"tokenizer_class": 5})";
  EXPECT_EQ(Tokenizer::load(dir_)->special_tokens_count(), 2);  // a RoBERTa tokenizer, as absent
  std::ofstream(dir_ / "tokenizer_config.json") << R"([1, 2])";
  EXPECT_EQ(Tokenizer::load(dir_)->special_tokens_count(), 2);
}

TEST_F(TokenizerLoadTest, ModelMaxLengthComesFromTheModelConfigs) {
  std::ofstream(dir_ / "tokenizer.json") << base_.dump();
  std::ofstream(dir_ / "config.json")
      << R"({"model_type": "roberta", "max_position_embeddings": 514,
                                            "pad_token_id": 1})";
  EXPECT_EQ(Tokenizer::load(dir_)->model_max_length(), 512);
  std::ofstream(dir_ / "tokenizer_config.json") << R"({"model_max_length": 256})";
  EXPECT_EQ(Tokenizer::load(dir_)->model_max_length(), 256);
}

}  // namespace
}  // namespace sluice::text
