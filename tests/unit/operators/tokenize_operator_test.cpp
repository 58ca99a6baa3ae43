// The tokenize operator inside the real stage runner: ids equal the
// tokenizer's, per-partition order survives parallel workers, truncation is
// flagged and counted, empty text and (policy reject) invalid UTF-8 become
// dead letters with their codes, and start-up problems name the stage.
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "app/wiring/registry.h"
#include "operators/tokenize.h"
#include "src/core/pipeline.h"
#include "tests/support/collecting_sink.h"
#include "tests/support/text_test_util.h"

namespace sluice::operators {
namespace {

using namespace sluice::text::testing;

// Emits the texts round-robin over `partitions`; offset = per-partition sequence.
class TextSource : public core::Source {
 public:
  TextSource(std::vector<std::string> texts, int partitions)
      : texts_(std::move(texts)), partitions_(partitions) {}
  Poll poll(core::Emitter& out) override {
    if (next_ >= texts_.size()) return Poll::kEnd;
    core::Record r = core::Record::owned(std::nullopt, texts_[next_]);
    // Owned text: a view into a short (SSO) owned value would dangle once the
    // record is moved (core::Record keeps a raw view; reported to core).
    r.set_text(texts_[next_]);
    r.partition = static_cast<int32_t>(next_ % static_cast<size_t>(partitions_));
    r.offset = static_cast<int64_t>(next_ / static_cast<size_t>(partitions_));
    r.id = std::to_string(next_);
    ++next_;
    out.emit(std::move(r));
    return Poll::kEmitted;
  }

 private:
  std::vector<std::string> texts_;
  int partitions_;
  size_t next_ = 0;
};

struct Arrival {
  std::vector<int32_t> tokens;
  bool truncated;
};

// The value of one sample in the registry's exposition, e.g.
// sluice_tokenize_truncated_total{pipeline="p",stage="tok"}.
double sample(const metrics::Registry& registry, const std::string& series) {
  const std::string text = registry.render();
  const size_t at = text.find(series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 1));
}

struct PipelineRun {
  std::map<size_t, Arrival> arrived;
  std::map<size_t, std::string> letters;
  int out_of_order = 0;
};

PipelineRun run_pipeline(const std::vector<std::string>& texts, TokenizeOptions options,
                         metrics::Registry& registry, int workers = 3) {
  core::Pipeline p({"p", 64});
  testing::CollectingDeadLetters dead;
  p.set_dead_letter_sink(&dead);
  p.set_source("src", std::make_unique<TextSource>(texts, 5));
  p.add_stage("tok", std::make_unique<Tokenize>(std::move(options), "p", "tok", &registry),
              workers);
  PipelineRun run;
  std::map<int32_t, int64_t> next_offset;
  p.add_stage("sink", std::make_unique<testing::CollectingSink>([&](core::Record& r) {
                int64_t& expected = next_offset[r.partition];
                if (r.offset < expected) ++run.out_of_order;
                expected = r.offset + 1;
                run.arrived[std::stoul(r.id)] = Arrival{r.tokens, r.truncated};
              }));
  p.start();
  EXPECT_EQ(p.wait(), 0);
  for (core::DeadLetter& l : dead.take()) run.letters[std::stoul(l.record.id)] = l.code;
  return run;
}

std::vector<std::string> sample_texts() {
  std::vector<std::string> texts;
  for (const auto& c : read_edge_cases()) texts.push_back(c.text);
  for (int i = 0; i < 300; ++i)
    texts.push_back("review number " + std::to_string(i) + " was great fun");
  return texts;
}

TEST(TokenizeOperator, EmitsTheTokenizersIdsInPartitionOrderAndDeadLettersEmptyText) {
  const auto texts = sample_texts();
  metrics::Registry registry;
  const PipelineRun run =
      run_pipeline(texts, {.tokenizer = kBpeDir.string(), .max_length = 32}, registry);

  const auto tok = text::Tokenizer::load(kBpeDir);
  text::Tokenizer::Workspace ws;
  std::vector<int32_t> ids(32);
  size_t truncated = 0, empty = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto r = tok->encode(texts[i], ids, ws, {.max_length = 32});
    if (r.status == text::EncodeStatus::kEmpty) {
      ++empty;
      ASSERT_EQ(run.letters.count(i), 1u) << "text " << i << " should be a dead letter";
      EXPECT_EQ(run.letters.at(i), "empty");
      continue;
    }
    ASSERT_EQ(run.arrived.count(i), 1u) << "text " << i << " did not arrive";
    EXPECT_EQ(run.arrived.at(i).tokens, std::vector<int32_t>(ids.begin(), ids.begin() + r.length));
    EXPECT_EQ(run.arrived.at(i).truncated, r.truncated);
    truncated += r.truncated;
  }
  EXPECT_EQ(run.out_of_order, 0);
  EXPECT_EQ(empty, 1u);  // the edge cases hold one empty text
  ASSERT_GT(truncated, 0u);
  EXPECT_EQ(run.arrived.size() + run.letters.size(), texts.size());
  EXPECT_EQ(sample(registry, R"(sluice_tokenize_records_total{pipeline="p",stage="tok"})"),
            static_cast<double>(run.arrived.size()));
  EXPECT_EQ(sample(registry, R"(sluice_tokenize_truncated_total{pipeline="p",stage="tok"})"),
            static_cast<double>(truncated));
  EXPECT_EQ(sample(registry,
                   R"(sluice_tokenize_rejected_total{pipeline="p",reason="empty",stage="tok"})"),
            1.0);
}

TEST(TokenizeOperator, InvalidUtf8IsReplacedOrDeadLetteredPerPolicy) {
  const std::vector<std::string> texts = {"fine text", "broken \xFF text", "more fine text"};
  metrics::Registry replace_metrics, reject_metrics;
  const PipelineRun replaced = run_pipeline(
      texts, {.tokenizer = kBpeDir.string(), .invalid_utf8 = text::InvalidUtf8::kReplace},
      replace_metrics, 2);
  EXPECT_EQ(replaced.arrived.size(), 3u);
  EXPECT_TRUE(replaced.letters.empty());

  const PipelineRun rejected = run_pipeline(
      texts, {.tokenizer = kBpeDir.string(), .invalid_utf8 = text::InvalidUtf8::kReject},
      reject_metrics, 2);
  EXPECT_EQ(rejected.arrived.size(), 2u);
  ASSERT_EQ(rejected.letters.size(), 1u);
  EXPECT_EQ(rejected.letters.at(1), "invalid_utf8");
  EXPECT_EQ(
      sample(reject_metrics,
             R"(sluice_tokenize_rejected_total{pipeline="p",reason="invalid_utf8",stage="tok"})"),
      1.0);
}

TEST(TokenizeOperator, StartFailsNamingTheStageAndTheFile) {
  Tokenize missing({.tokenizer = "/nonexistent/tokenizer"}, "p", "tok", nullptr);
  try {
    missing.start();
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("stage 'tok'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("/nonexistent/tokenizer"), std::string::npos) << msg;
  }
  Tokenize tiny({.tokenizer = kBpeDir.string(), .max_length = 2}, "p", "tok", nullptr);
  EXPECT_THROW(tiny.start(), std::runtime_error);
}

TEST(TokenizeOperator, IsRegisteredForPipelineFiles) {
  const OperatorSpec* spec = app::builtin_registry().find("tokenize");
  ASSERT_NE(spec, nullptr);
  EXPECT_FALSE(spec->is_source);
  EXPECT_TRUE(spec->make_operator);
}

}  // namespace
}  // namespace sluice::operators
