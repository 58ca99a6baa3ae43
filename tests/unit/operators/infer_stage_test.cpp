// The inference stages: the micro-batch policy on its own, and
// micro_batch → infer → classify in a real core::Pipeline over a random
// model, checked record by record against the backend run directly.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "app/wiring/pipeline_factory.h"
#include "app/wiring/registry.h"
#include "operators/classify.h"
#include "operators/infer.h"
#include "operators/micro_batch.h"
#include "operators/result_cache.h"
#include "src/config/load.h"
#include "src/core/pipeline.h"
#include "src/engine/backend_factory.h"
#include "src/engine/model.h"
#include "src/metrics/registry.h"
#include "tests/support/collecting_sink.h"
#include "tests/support/model_fixtures.h"

namespace sluice::operators {
namespace {

using namespace std::chrono_literals;
using core::FlushReason;

core::Record tokenized(std::vector<int32_t> tokens, int64_t offset = 0) {
  core::Record r = core::Record::owned(std::string("k") + std::to_string(offset), "text");
  r.tokens = std::move(tokens);
  r.partition = 0;
  r.offset = offset;
  r.id = std::to_string(offset);
  return r;
}

// ---- the policy ----

TEST(MicroBatcher, ClosesAtMaxRecords) {
  MicroBatcher b({.max_batch_records = 3, .max_batch_tokens = 100});
  std::vector<core::Batch> ready;
  b.add(tokenized({1, 2}), 10, ready);
  b.add(tokenized({3}), 11, ready);
  EXPECT_TRUE(ready.empty());
  b.add(tokenized({4, 5, 6}), 12, ready);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].flush_reason, FlushReason::kMaxRecords);
  EXPECT_EQ(ready[0].token_ids, (std::vector<int32_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(ready[0].cu_seqlens, (std::vector<int32_t>{0, 2, 3, 6}));
  EXPECT_EQ(ready[0].max_seqlen, 3);
  EXPECT_EQ(ready[0].oldest_ns, 10);
  EXPECT_EQ(ready[0].flush_ns, 12);
  EXPECT_TRUE(b.empty());
}

// A hot reload: records tokenized for the new model never share a batch with
// records of the old one (infer runs a batch on one model, its tokens on one vocabulary).
TEST(MicroBatcher, ClosesTheBatchWhenTheRecordsModelChanges) {
  MicroBatcher b({.max_batch_records = 100, .max_batch_tokens = 100});
  const auto old_model = std::make_shared<const core::ModelTag>();
  const auto new_model = std::make_shared<const core::ModelTag>();
  std::vector<core::Batch> ready;
  for (int i = 0; i < 3; ++i) {
    core::Record r = tokenized({1, 2}, i);
    r.model = old_model;
    b.add(std::move(r), i, ready);
  }
  EXPECT_TRUE(ready.empty());
  core::Record r = tokenized({3}, 3);
  r.model = new_model;
  b.add(std::move(r), 3, ready);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].flush_reason, FlushReason::kModel);
  EXPECT_EQ(ready[0].size(), 3u);
  EXPECT_EQ(ready[0].model, old_model);
  for (const auto& rec : ready[0].records) EXPECT_EQ(rec.model, old_model);
  ASSERT_TRUE(b.flush(FlushReason::kDrain, 4, ready));
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(ready[1].size(), 1u);
  EXPECT_EQ(ready[1].model, new_model);
}

TEST(MicroBatcher, ClosesBeforeTheTokenBudgetWouldOverflow) {
  MicroBatcher b({.max_batch_records = 100, .max_batch_tokens = 10});
  std::vector<core::Batch> ready;
  b.add(tokenized({1, 1, 1, 1}), 1, ready);
  b.add(tokenized({2, 2, 2, 2}), 2, ready);
  b.add(tokenized({3, 3, 3, 3}), 3, ready);  // 12 > 10: the first two go
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].size(), 2u);
  EXPECT_EQ(ready[0].flush_reason, FlushReason::kMaxTokens);
  EXPECT_EQ(b.pending_records(), 1u);
  b.add(tokenized({4, 4, 4, 4, 4, 4}), 4, ready);  // exactly 10: closes
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(ready[1].total_tokens(), 10u);
  EXPECT_EQ(ready[1].oldest_ns, 3);
}

TEST(MicroBatcher, RecordLongerThanTheBudgetTravelsAlone) {
  MicroBatcher b({.max_batch_records = 100, .max_batch_tokens = 10});
  std::vector<core::Batch> ready;
  b.add(tokenized({1, 2, 3}), 1, ready);
  b.add(tokenized(std::vector<int32_t>(25, 7)), 2, ready);
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(ready[0].total_tokens(), 3u);
  EXPECT_EQ(ready[1].total_tokens(), 25u);
  EXPECT_EQ(ready[1].size(), 1u);
  EXPECT_TRUE(b.empty());
}

TEST(MicroBatcher, DeadlineIsTheOldestRecordPlusMaxDelay) {
  MicroBatcher b({.max_batch_records = 100, .max_batch_tokens = 100, .max_delay = 5ms});
  std::vector<core::Batch> ready;
  EXPECT_EQ(b.deadline_ns(), INT64_MAX);
  EXPECT_FALSE(b.flush(FlushReason::kMaxDelay, 0, ready));
  b.add(tokenized({1}), 1'000, ready);
  b.add(tokenized({2}), 2'000'000, ready);
  EXPECT_EQ(b.deadline_ns(), 1'000 + 5'000'000);
  EXPECT_TRUE(b.flush(FlushReason::kMaxDelay, 5'001'000, ready));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].size(), 2u);
  EXPECT_EQ(ready[0].flush_reason, FlushReason::kMaxDelay);
}

TEST(TokenBudget, GrowsAdditivelyUnderTheTargetAndHalvesOverIt) {
  TokenBudget fixed(1024, 0ns);
  fixed.on_batch_latency(1'000'000'000);
  EXPECT_EQ(fixed.value(), 1024);

  TokenBudget b(1024, 10ms);
  EXPECT_EQ(b.value(), 1024);
  b.on_batch_latency(20'000'000);
  EXPECT_EQ(b.value(), 512);
  b.on_batch_latency(20'000'000);
  EXPECT_EQ(b.value(), 256);
  b.on_batch_latency(5'000'000);
  EXPECT_EQ(b.value(), 256 + 64);
  for (int i = 0; i < 20; ++i) b.on_batch_latency(5'000'000);
  EXPECT_EQ(b.value(), 1024);  // capped at max_batch_tokens
  for (int i = 0; i < 20; ++i) b.on_batch_latency(50'000'000);
  EXPECT_EQ(b.value(), 32);  // floor: max / 32
}

TEST(Classifier, WritesTheResultJson) {
  engine::ModelConfig c;
  c.id2label = {"neg", "pos\"q"};
  c.problem_type = engine::ProblemType::kSingleLabel;
  ClassifyOptions o = ClassifyOptions::from_model(c, "m");
  o.probs = true;
  Classifier k(o);
  std::vector<float> logits = {0.f, std::log(3.f)};
  k.to_probabilities(logits, 1);
  EXPECT_NEAR(logits[1], 0.75f, 1e-6);
  const Classification d = k.decide(logits);
  EXPECT_EQ(d.top, 1);
  std::string json;
  k.write_json(json, "\"7\"", d, logits, 1.5);
  const auto j = nlohmann::json::parse(json);
  EXPECT_EQ(j["id"], "7");
  EXPECT_EQ(j["label"], "pos\"q");
  EXPECT_NEAR(j["score"].get<double>(), 0.75, 1e-6);
  EXPECT_NEAR(j["probs"]["neg"].get<double>(), 0.25, 1e-6);
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["latency_ms"], 1.5);

  o.min_score = 0.8;
  Classifier strict(o);
  EXPECT_EQ(strict.decide(logits).label, "uncertain");
}

TEST(Classifier, LabelNamesReplaceId2labelInIdOrder) {
  engine::ModelConfig c;
  c.id2label = {"LABEL_0", "LABEL_1", "LABEL_2"};
  ClassifyOptions o = ClassifyOptions::from_model(c, "m");
  o.rename_labels({"negative", "neutral", "positive"});
  Classifier k(o);
  std::vector<float> probs = {0.1f, 0.2f, 0.7f};
  EXPECT_EQ(k.decide(probs).label, "positive");
  EXPECT_THROW(o.rename_labels({"negative", "positive"}), std::invalid_argument);
  EXPECT_THROW(o.rename_labels({"negative", "", "positive"}), std::invalid_argument);
}

TEST(Classifier, MultiLabelUsesSigmoidAndListsLabelsOverThreshold) {
  engine::ModelConfig c;
  c.id2label = {"a", "b", "c"};
  c.problem_type = engine::ProblemType::kMultiLabel;
  Classifier k(ClassifyOptions::from_model(c, "m"));
  std::vector<float> logits = {2.f, -2.f, 0.5f};
  k.to_probabilities(logits, 1);
  EXPECT_NEAR(logits[0], 1 / (1 + std::exp(-2.0)), 1e-6);
  std::string json;
  k.write_json(json, "null", k.decide(logits), logits, 0);
  const auto j = nlohmann::json::parse(json);
  EXPECT_EQ(j["labels"], (std::vector<std::string>{"a", "c"}));
  EXPECT_TRUE(j["id"].is_null());
}

// ---- in a pipeline ----

// Emits the given records: all at once, or (lockstep) each only after the
// sink has seen every earlier one, ending only when the sink has seen all.
class ListSource : public core::Source {
 public:
  ListSource(std::vector<core::Record> records, std::atomic<int>* seen, bool lockstep)
      : records_(std::move(records)), seen_(seen), lockstep_(lockstep) {}
  Poll poll(core::Emitter& out) override {
    if (lockstep_ && seen_->load() < static_cast<int>(next_)) {
      std::this_thread::sleep_for(100us);
      return Poll::kIdle;
    }
    if (next_ >= records_.size()) return Poll::kEnd;
    out.emit(std::move(records_[next_++]));
    return Poll::kEmitted;
  }

 private:
  std::vector<core::Record> records_;
  size_t next_ = 0;
  std::atomic<int>* seen_;
  bool lockstep_;
};

class RecordSink : public core::Operator {
 public:
  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kNone; }
  void process(core::OperatorState*, core::Item&& item, core::Emitter&) const override {
    std::lock_guard lock(mu);
    records.push_back(std::move(std::get<core::Record>(item)));
    seen.fetch_add(1);
  }
  mutable std::mutex mu;
  mutable std::vector<core::Record> records;
  mutable std::atomic<int> seen{0};
};

class BatchSink : public core::Operator {
 public:
  core::ItemKind input_kind() const override { return core::ItemKind::kBatch; }
  core::ItemKind output_kind() const override { return core::ItemKind::kNone; }
  void process(core::OperatorState*, core::Item&& item, core::Emitter&) const override {
    auto& b = std::get<core::Batch>(item);
    std::lock_guard lock(mu);
    reasons.push_back(b.flush_reason);
    sizes.push_back(b.size());
    seen.fetch_add(static_cast<int>(b.size()));
  }
  mutable std::mutex mu;
  mutable std::vector<FlushReason> reasons;
  mutable std::vector<size_t> sizes;
  mutable std::atomic<int> seen{0};
};

TEST(MicroBatchStage, FlushesAtOnceWhenTheNextStageIsIdle) {
  std::vector<core::Record> recs;
  for (int i = 0; i < 20; ++i) recs.push_back(tokenized({1, 2, 3}, i));
  auto sink = std::make_unique<BatchSink>();
  BatchSink* s = sink.get();
  core::Pipeline p({"idle", 64});
  // Lockstep: a record is only emitted once the previous one reached the sink,
  // so the sink is idle whenever a record arrives; max_delay is far away.
  p.set_source("src", std::make_unique<ListSource>(std::move(recs), &s->seen, true));
  p.add_stage("batch", std::make_unique<MicroBatch>(MicroBatchPolicy{.max_delay = 60s},
                                                    MicroBatchProbe(), nullptr));
  p.add_stage("sink", std::move(sink));
  p.start();
  ASSERT_EQ(p.wait(), 0) << p.failure();
  ASSERT_EQ(s->reasons.size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(s->reasons[i], FlushReason::kIdle) << i;
    EXPECT_EQ(s->sizes[i], 1u);
  }
}

TEST(MicroBatchStage, WithoutIdleFlushWaitsForMaxDelay) {
  std::vector<core::Record> recs;
  for (int i = 0; i < 3; ++i) recs.push_back(tokenized({1, 2, 3}, i));
  auto sink = std::make_unique<BatchSink>();
  BatchSink* s = sink.get();
  core::Pipeline p({"delay", 64});
  p.set_source("src", std::make_unique<ListSource>(std::move(recs), &s->seen, true));
  p.add_stage("batch", std::make_unique<MicroBatch>(
                           MicroBatchPolicy{.max_delay = 2ms, .flush_when_idle = false},
                           MicroBatchProbe(), nullptr));
  p.add_stage("sink", std::move(sink));
  p.start();
  ASSERT_EQ(p.wait(), 0) << p.failure();
  ASSERT_EQ(s->reasons.size(), 3u);
  for (auto r : s->reasons) EXPECT_EQ(r, FlushReason::kMaxDelay);
}

class InferPipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = engine::testing::random_model(
        "operators-bert",
        "--arch bert --layers 2 --hidden 64 --heads 4 --intermediate 128 --vocab 300 --labels 3 "
        "--label-names negative,neutral,positive --max-positions 64 --seed 21");
    model_ = std::make_shared<const engine::Model>(engine::Model::load(dir_));
  }
  static inline std::filesystem::path dir_;
  static inline std::shared_ptr<const engine::Model> model_;
};

// The model's logits for `t` alone, straight through `backend`, as softmax
// probabilities (three labels).
std::vector<double> reference_probs(engine::Backend& backend, const std::vector<int32_t>& t) {
  std::vector<int32_t> cu = {0, static_cast<int32_t>(t.size())};
  std::vector<float> logits(3);
  EXPECT_TRUE(backend.run({t, cu, static_cast<int32_t>(t.size())}, {logits, {}}).ok);
  const float m = std::max({logits[0], logits[1], logits[2]});
  double z = 0;
  for (float v : logits) z += std::exp(v - m);
  std::vector<double> probs;
  for (float v : logits) probs.push_back(std::exp(v - m) / z);
  return probs;
}

TEST_F(InferPipelineTest, EveryRecordGetsItsOwnLogitsInOrderOrADeadLetter) {
  std::mt19937 g(5);
  std::uniform_int_distribution<int> len(1, 40), id(1, 299);
  std::vector<std::vector<int32_t>> tokens;
  std::vector<core::Record> recs;
  for (int i = 0; i < 300; ++i) {
    std::vector<int32_t> t(len(g));
    for (auto& x : t) x = id(g);
    if (i == 17) t[0] = 300;       // outside the vocabulary
    if (i == 45) t.assign(65, 5);  // longer than the position table
    tokens.push_back(t);
    recs.push_back(tokenized(t, i));
  }
  auto sink = std::make_unique<RecordSink>();
  RecordSink* s = sink.get();
  testing::CollectingDeadLetters dead;
  core::Pipeline p({"classify", 16});
  p.set_dead_letter_sink(&dead);
  p.set_source("src", std::make_unique<ListSource>(std::move(recs), &s->seen, false));
  BatchFeedback feedback;
  p.add_stage("batch", std::make_unique<MicroBatch>(
                           MicroBatchPolicy{
                               .max_batch_records = 16, .max_batch_tokens = 256, .max_delay = 1ms},
                           MicroBatchProbe(), &feedback));
  InferOptions io;
  io.backend.device = "cpu";
  io.backend.threads = 2;
  p.add_stage("infer", std::make_unique<Infer>(model_, io, InferProbe(), &feedback));
  ClassifyOptions co =
      ClassifyOptions::from_model(model_->config(), "operators-bert", model_->identity());
  co.probs = true;
  p.add_stage("classify", std::make_unique<Classify>(co));
  p.add_stage("sink", std::move(sink));
  p.start();
  ASSERT_EQ(p.wait(), 0) << p.failure();

  const std::vector<core::DeadLetter> letters = dead.take();
  ASSERT_EQ(letters.size(), 2u);
  std::set<int64_t> dead_offsets;
  for (const auto& l : letters) {
    EXPECT_EQ(l.code, "model_input");
    dead_offsets.insert(l.record.offset);
  }
  EXPECT_EQ(dead_offsets, (std::set<int64_t>{17, 45}));
  EXPECT_GT(feedback.batches.load(), 0u);

  ASSERT_EQ(s->records.size(), 298u);
  auto backend = engine::make_backend(*model_, {.device = "cpu", .threads = 1});
  int64_t prev = -1;
  for (const core::Record& r : s->records) {
    EXPECT_GT(r.offset, prev) << "out of order";
    prev = r.offset;
    EXPECT_EQ(r.key(), "k" + std::to_string(r.offset));
    // The same record alone, straight through the backend.
    const std::vector<double> probs = reference_probs(*backend, tokens[r.offset]);
    const auto j = nlohmann::json::parse(r.value());
    EXPECT_EQ(j["id"], std::to_string(r.offset));
    EXPECT_EQ(j["model"], "operators-bert");
    EXPECT_EQ(j["model_hash"], model_->identity().hash);  // the model that computed it
    const char* names[] = {"negative", "neutral", "positive"};
    const int top = static_cast<int>(std::max_element(probs.begin(), probs.end()) - probs.begin());
    EXPECT_EQ(j["label"], names[top]);
    EXPECT_EQ(r.label, names[top]);
    for (int k = 0; k < 3; ++k)
      EXPECT_NEAR(j["probs"][names[k]].get<double>(), probs[k], 1e-5) << r.offset;
    EXPECT_NEAR(r.score, probs[top], 1e-5);
    EXPECT_GE(j["latency_ms"].get<double>(), 0.0);
  }
}

class NonFiniteTest : public InferPipelineTest,
                      public ::testing::WithParamInterface<engine::Precision> {};

// In fp32 and in int8 (what `precision: auto` picks on a CPU with VNNI or
// AMX): int8 has no NaN, and the quantization must not launder one into
// finite logits.
TEST_P(NonFiniteTest, NonFiniteLogitsBecomeDeadLetters) {
  // A copy of the model whose embedding row for token 7 is NaN: every record
  // containing token 7 yields NaN logits, the others are untouched.
  const auto dir = engine::testing::scratch_dir(std::string("operators-nan-") +
                                                engine::precision_name(GetParam()));
  engine::testing::copy_model(dir_, dir);
  auto t = engine::testing::read_safetensors(dir / "model.safetensors");
  auto& emb = t["bert.embeddings.word_embeddings.weight"];
  const float nan = std::nanf("");
  for (int c = 0; c < 64; ++c) std::memcpy(emb.bytes.data() + (7 * 64 + c) * 4, &nan, 4);
  engine::testing::write_safetensors(dir / "model.safetensors", t);
  auto model = std::make_shared<const engine::Model>(engine::Model::load(dir));

  std::vector<core::Record> recs;
  for (int i = 0; i < 40; ++i)
    recs.push_back(
        tokenized(i % 4 == 1 ? std::vector<int32_t>{3, 7, 9} : std::vector<int32_t>{3, 8, 9}, i));
  auto sink = std::make_unique<RecordSink>();
  RecordSink* s = sink.get();
  testing::CollectingDeadLetters dead;
  core::Pipeline p({"nan", 16});
  p.set_dead_letter_sink(&dead);
  p.set_source("src", std::make_unique<ListSource>(std::move(recs), &s->seen, false));
  p.add_stage("batch", std::make_unique<MicroBatch>(MicroBatchPolicy{.max_batch_records = 8},
                                                    MicroBatchProbe(), nullptr));
  InferOptions io;
  io.backend.device = "cpu";
  io.backend.threads = 1;
  io.backend.precision = GetParam();
  p.add_stage("infer", std::make_unique<Infer>(model, io, InferProbe(), nullptr));
  p.add_stage("classify",
              std::make_unique<Classify>(ClassifyOptions::from_model(model->config(), "nan")));
  p.add_stage("sink", std::move(sink));
  p.start();
  ASSERT_EQ(p.wait(), 0) << p.failure();
  const std::vector<core::DeadLetter> letters = dead.take();
  ASSERT_EQ(letters.size(), 10u);
  for (const auto& l : letters) {
    EXPECT_EQ(l.code, core::dead_letter_code::kNonFiniteOutput);
    EXPECT_EQ(l.record.offset % 4, 1);
  }
  ASSERT_EQ(s->records.size(), 30u);
  for (const auto& r : s->records) EXPECT_TRUE(std::isfinite(r.score));
}

INSTANTIATE_TEST_SUITE_P(Precisions, NonFiniteTest,
                         ::testing::Values(engine::Precision::kF32, engine::Precision::kInt8),
                         [](const auto& info) {
                           return std::string(engine::precision_name(info.param));
                         });

// ---- hot reload: the new version's backends are built before the switch ----

// Emits `before` records stamped with the version served at the time (as
// tokenize stamps them), then waits for `go`, then the rest, stamped likewise.
class GatedSource : public core::Source {
 public:
  GatedSource(std::vector<std::vector<int32_t>> tokens, size_t before, ModelSlot* slot,
              std::atomic<bool>* go)
      : tokens_(std::move(tokens)), before_(before), slot_(slot), go_(go) {}
  Poll poll(core::Emitter& out) override {
    if (next_ >= tokens_.size()) return Poll::kEnd;
    if (next_ >= before_ && !go_->load()) {
      std::this_thread::sleep_for(100us);
      return Poll::kIdle;
    }
    core::Record r = tokenized(tokens_[next_], static_cast<int64_t>(next_));
    r.model = slot_->current();
    ++next_;
    out.emit(std::move(r));
    return Poll::kEmitted;
  }

 private:
  std::vector<std::vector<int32_t>> tokens_;
  size_t before_, next_ = 0;
  ModelSlot* slot_;
  std::atomic<bool>* go_;
};

// Each record's logits and the content hash of the model version that ran it.
class LogitsSink : public core::Operator {
 public:
  explicit LogitsSink(const ModelSlot* slot) : slot_(slot) {}
  core::ItemKind input_kind() const override { return core::ItemKind::kBatch; }
  core::ItemKind output_kind() const override { return core::ItemKind::kNone; }
  void process(core::OperatorState*, core::Item&& item, core::Emitter&) const override {
    auto& b = std::get<core::Batch>(item);
    const ServedModel* v = served_for(b.model.get(), slot_);
    std::lock_guard lock(mu);
    for (size_t i = 0; i < b.size(); ++i) {
      hash[b.records[i].offset] = v ? v->identity.hash : "";
      logits[b.records[i].offset].assign(b.logits.begin() + static_cast<long>(i * 3),
                                         b.logits.begin() + static_cast<long>(i * 3 + 3));
    }
    seen.fetch_add(static_cast<int>(b.size()));
  }
  const ModelSlot* slot_;
  mutable std::mutex mu;
  mutable std::map<int64_t, std::string> hash;
  mutable std::map<int64_t, std::vector<float>> logits;
  mutable std::atomic<int> seen{0};
};

// Which thread built a backend for which model (the infer stage's seam).
struct BackendBuilds {
  std::mutex mu;
  std::vector<std::pair<std::thread::id, std::string>> calls;  // thread, model_hash
  std::string refuse;  // a model_hash whose backend "does not fit"
  size_t count() {
    std::lock_guard lock(mu);
    return calls.size();
  }
};

class InferReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = engine::testing::scratch_dir(
        std::string("infer-reload-") +
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    const char* shape =
        "--arch bert --layers 2 --hidden 64 --heads 4 --intermediate 128 --vocab 300 --labels 3 "
        "--max-positions 64 ";
    a_ = engine::testing::random_model("infer-reload-a", std::string(shape) + "--seed 31");
    b_ = engine::testing::random_model("infer-reload-b", std::string(shape) + "--seed 32");
    std::filesystem::create_directory_symlink(a_, dir_ / "live");
  }
  void point_live_at(const std::filesystem::path& target) {
    std::filesystem::remove(dir_ / "live.next");
    std::filesystem::create_directory_symlink(target, dir_ / "live.next");
    std::filesystem::rename(dir_ / "live.next", dir_ / "live");
  }
  // Runs 40 records, the first 20 on the version loaded at start; then
  // reloads (this thread plays the reloader's part) and runs the other 20.
  ModelSlot::Outcome run(BackendBuilds& builds, LogitsSink*& sink_out, size_t* builds_at_reload) {
    slot_ = std::make_unique<ModelSlot>(dir_ / "live");
    const auto model = slot_->need_model();
    std::vector<std::vector<int32_t>> tokens;
    for (int i = 0; i < 40; ++i) tokens.push_back({3, 5 + i, 7, 11 + 2 * i});
    tokens_ = tokens;
    std::atomic<bool> go{false};
    auto sink = std::make_unique<LogitsSink>(slot_.get());
    LogitsSink* s = sink.get();
    sink_out = s;
    p_ = std::make_unique<core::Pipeline>(core::PipelineOptions{"reload", 16});
    p_->set_source("src", std::make_unique<GatedSource>(tokens, 20, slot_.get(), &go));
    p_->add_stage("batch", std::make_unique<MicroBatch>(MicroBatchPolicy{.max_batch_records = 4},
                                                        MicroBatchProbe(), nullptr));
    InferOptions io;
    io.backend.device = "cpu";
    io.backend.threads = 1;
    io.backend_factory = [&builds](const engine::Model& m, const engine::BackendOptions& o) {
      {
        std::lock_guard lock(builds.mu);
        builds.calls.emplace_back(std::this_thread::get_id(), m.identity().hash);
      }
      if (m.identity().hash == builds.refuse)
        throw std::runtime_error("out of device memory (the test's refusal)");
      return engine::make_backend(m, o);
    };
    p_->add_stage("infer", std::make_unique<Infer>(model, io, InferProbe(), nullptr, slot_.get()),
                  2);
    p_->add_stage("sink", std::move(sink));
    p_->start();
    while (s->seen.load() < 20) std::this_thread::sleep_for(1ms);
    point_live_at(b_);
    const ModelSlot::Outcome o = slot_->reload();
    *builds_at_reload = builds.count();
    go = true;
    EXPECT_EQ(p_->wait(), 0) << p_->failure();
    return o;
  }
  std::vector<float> reference(const std::filesystem::path& dir, const std::vector<int32_t>& t) {
    const engine::Model m = engine::Model::load(dir);
    auto backend = engine::make_backend(m, {.device = "cpu", .threads = 1});
    std::vector<int32_t> cu = {0, static_cast<int32_t>(t.size())};
    std::vector<float> logits(3);
    EXPECT_TRUE(backend->run({t, cu, static_cast<int32_t>(t.size())}, {logits, {}}).ok);
    return logits;
  }

  std::filesystem::path dir_, a_, b_;
  std::unique_ptr<ModelSlot> slot_;  // outlives the pipeline (as Services do)
  std::unique_ptr<core::Pipeline> p_;
  std::vector<std::vector<int32_t>> tokens_;
};

TEST_F(InferReloadTest, TheNewVersionsBackendsAreBuiltBeforeTheSwitchNotByTheWorkers) {
  BackendBuilds builds;
  LogitsSink* s = nullptr;
  size_t at_reload = 0;
  const ModelSlot::Outcome o = run(builds, s, &at_reload);
  ASSERT_EQ(o.result, ModelSlot::Result::kSwitched) << o.message;
  const std::string hash_a = engine::identify_model(a_).hash,
                    hash_b = engine::identify_model(b_).hash;
  // Two workers built theirs for the first version at start; the reload built
  // one per worker for the second before it was published, on the reloader's
  // thread; the switch itself built nothing.
  ASSERT_EQ(builds.calls.size(), 4u);
  EXPECT_EQ(at_reload, 4u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(builds.calls[i].second, hash_a);
    EXPECT_NE(builds.calls[i].first, std::this_thread::get_id());
  }
  for (int i = 2; i < 4; ++i) {
    EXPECT_EQ(builds.calls[i].second, hash_b);
    EXPECT_EQ(builds.calls[i].first, std::this_thread::get_id());
  }
  ASSERT_EQ(s->hash.size(), 40u);
  for (int64_t i = 0; i < 40; ++i) {
    const bool before = i < 20;
    EXPECT_EQ(s->hash[i], before ? hash_a : hash_b) << i;
    const std::vector<float> want = reference(before ? a_ : b_, tokens_[i]);
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(s->logits[i][k], want[k], 1e-5) << i;
  }
}

TEST_F(InferReloadTest, AVersionWhoseBackendCannotBeBuiltIsRefusedAndTheOldOneKeepsServing) {
  BackendBuilds builds;
  builds.refuse = engine::identify_model(b_).hash;
  LogitsSink* s = nullptr;
  size_t at_reload = 0;
  const ModelSlot::Outcome o = run(builds, s, &at_reload);
  EXPECT_EQ(o.result, ModelSlot::Result::kRefused);
  EXPECT_NE(o.message.find("model.safetensors: its backend could not be built"), std::string::npos)
      << o.message;
  EXPECT_NE(o.message.find("out of device memory"), std::string::npos) << o.message;
  EXPECT_EQ(slot_->generation(), 1u);
  EXPECT_EQ(at_reload, 3u);  // the two workers' at start, the refused one
  EXPECT_EQ(builds.count(), 3u);
  const std::string hash_a = engine::identify_model(a_).hash;
  ASSERT_EQ(s->hash.size(), 40u);
  for (int64_t i = 0; i < 40; ++i) {
    EXPECT_EQ(s->hash[i], hash_a) << i;
    const std::vector<float> want = reference(a_, tokens_[i]);
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(s->logits[i][k], want[k], 1e-5) << i;
  }
}

}  // namespace
}  // namespace sluice::operators

// ---- result cache ----

namespace sluice::operators {
namespace {

TEST(ResultCache, AnswersOnlyTheExactIdSequenceAndEvictsTheLeastRecentlyUsed) {
  ResultCache c(2, 2, "model-a");
  const std::vector<int32_t> a = {101, 7, 8, 102}, b = {101, 7, 9, 102}, d = {101, 102};
  EXPECT_TRUE(c.find(a).empty());
  c.insert(a, std::vector<float>{1.f, 2.f});
  c.insert(b, std::vector<float>{3.f, 4.f});
  ASSERT_EQ(c.find(a).size(), 2u);
  EXPECT_EQ(c.find(a)[1], 2.f);
  EXPECT_TRUE(c.find(std::vector<int32_t>{101, 7, 8}).empty()) << "a prefix is another key";
  c.insert(d, std::vector<float>{5.f, 6.f});  // full: evicts b (a was used more recently)
  EXPECT_TRUE(c.find(b).empty());
  EXPECT_EQ(c.find(a)[0], 1.f);
  EXPECT_EQ(c.find(d)[0], 5.f);
  EXPECT_EQ(c.size(), 2u);
  c.insert(d, std::vector<float>{7.f, 8.f});  // refresh in place
  EXPECT_EQ(c.find(d)[1], 8.f);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_THROW(c.insert(a, std::vector<float>{1.f}), std::invalid_argument);
}

TEST(ResultCache, RevisionSeedsTheKeyAndZeroCapacityIsOff) {
  ResultCache one(4, 1, "model-a"), other(4, 1, "model-b"), off(0, 1, "model-a");
  const std::vector<int32_t> ids = {1, 2, 3, 4, 5};
  EXPECT_NE(one.hash(ids), other.hash(ids));
  EXPECT_NE(one.hash(ids), one.hash(std::vector<int32_t>{1, 2, 3, 4}));
  EXPECT_FALSE(off.enabled());
  off.insert(ids, std::vector<float>{1.f});
  EXPECT_TRUE(off.find(ids).empty());
}

TEST(ResultCache, ManyKeysStayExact) {
  ResultCache c(5000, 1, "m");
  std::mt19937 g(3);
  std::uniform_int_distribution<int> len(1, 12), id(0, 50);
  std::vector<std::vector<int32_t>> keys;
  for (int i = 0; i < 5000; ++i) {
    std::vector<int32_t> k(len(g));
    for (auto& x : k) x = id(g);
    keys.push_back(k);
    c.insert(k, std::vector<float>{static_cast<float>(i)});
  }
  // Duplicate sequences were refreshed with the later index.
  std::map<std::vector<int32_t>, int> last;
  for (int i = 0; i < 5000; ++i) last[keys[i]] = i;
  for (const auto& [k, i] : last) {
    auto v = c.find(k);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0], static_cast<float>(i));
  }
}

}  // namespace
}  // namespace sluice::operators

namespace sluice::operators {
namespace {

// Repeated texts come out with the logits the model gives them, in order,
// while the model runs once per distinct text.
TEST_F(InferPipelineTest, RepeatsAreAnsweredFromTheCacheWithTheModelsLogits) {
  std::mt19937 g(9);
  std::uniform_int_distribution<int> len(1, 30), id(1, 299), pick(0, 24);
  std::vector<std::vector<int32_t>> distinct(25);
  for (auto& t : distinct) {
    t.resize(len(g));
    for (auto& x : t) x = id(g);
  }
  std::vector<std::vector<int32_t>> tokens;
  std::vector<core::Record> recs;
  for (int i = 0; i < 400; ++i) {
    tokens.push_back(distinct[pick(g)]);
    recs.push_back(tokenized(tokens.back(), i));
  }
  metrics::Registry reg;
  auto sink = std::make_unique<RecordSink>();
  RecordSink* s = sink.get();
  core::Pipeline p({"cache", 16});
  p.set_source("src", std::make_unique<ListSource>(std::move(recs), &s->seen, false));
  BatchFeedback feedback;
  p.add_stage("batch", std::make_unique<MicroBatch>(
                           MicroBatchPolicy{
                               .max_batch_records = 8, .max_batch_tokens = 256, .max_delay = 1ms},
                           MicroBatchProbe(), &feedback));
  InferOptions io;
  io.backend.device = "cpu";
  io.backend.threads = 1;
  io.cache_entries = 1000;
  p.add_stage("infer",
              std::make_unique<Infer>(model_, io, InferProbe(reg, "cache", "infer"), &feedback));
  ClassifyOptions co =
      ClassifyOptions::from_model(model_->config(), "operators-bert", model_->identity());
  co.probs = true;
  p.add_stage("classify", std::make_unique<Classify>(co));
  p.add_stage("sink", std::move(sink));
  p.start();
  ASSERT_EQ(p.wait(), 0) << p.failure();

  ASSERT_EQ(s->records.size(), 400u);
  const std::string text = reg.render();
  auto value = [&](const std::string& series) {
    const size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) {
      ADD_FAILURE() << series << " not in\n" << text;
      return -1.0;
    }
    return std::stod(text.substr(at + series.size() + 2));
  };
  const std::string l = "{pipeline=\"cache\",stage=\"infer\"";
  const std::string c = "sluice_result_cache_lookups_total{pipeline=\"cache\",result=";
  const double hits = value(c + "\"hit\",stage=\"infer\"}");
  const double misses = value(c + "\"miss\",stage=\"infer\"}");
  EXPECT_EQ(hits + misses, 400.0);
  // A text repeated inside one batch misses twice; across batches it hits.
  EXPECT_GE(hits, 300.0);
  EXPECT_EQ(value("sluice_inference_records_total" + l + "}"), misses);
  EXPECT_EQ(value("sluice_result_cache_entries" + l + "}"), 25.0);

  auto backend = engine::make_backend(*model_, {.device = "cpu", .threads = 1});
  int64_t prev = -1;
  for (const core::Record& r : s->records) {
    EXPECT_GT(r.offset, prev) << "out of order";
    prev = r.offset;
    const std::vector<double> probs = reference_probs(*backend, tokens[r.offset]);
    const auto j = nlohmann::json::parse(r.value());
    const char* names[] = {"negative", "neutral", "positive"};
    for (int k = 0; k < 3; ++k)
      EXPECT_NEAR(j["probs"][names[k]].get<double>(), probs[k], 1e-5) << r.offset;
  }
}

// The classify stage's `labels` key: one name per model output, or a
// configuration error at that key.
TEST_F(InferPipelineTest, ClassifyStageLabelsMustNameEveryOutput) {
  auto build = [](const std::string& labels) {
    const std::string model = "'" + dir_.string() + "'";
    const std::string doc =
        "name: cfg\nstages:\n  - {name: src, type: generator, count: 1}\n"
        "  - {name: tok, type: tokenize, tokenizer: '" SLUICE_FIXTURES
        "/tokenizer/sst2-bpe'}\n"
        "  - {name: batch, type: micro_batch}\n"
        "  - {name: infer, type: infer, model: " +
        model +
        ", device: cpu}\n"
        "  - {name: classify, type: classify, model: " +
        model + labels +
        "}\n"
        "  - {name: count, type: counter}\n";
    auto loaded = config::load_string(doc, *app::builtin_pipeline_schema());
    app::build_pipeline(loaded, app::builtin_registry(), nullptr);
  };
  EXPECT_NO_THROW(build(", labels: [NEG, NEU, POS]"));
  try {
    build(", labels: [NEG, POS]");
    FAIL() << "expected a ConfigError";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "stages[4].labels: the model has 3 outputs, 2 label names given"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sluice::operators
