// Stage runner: ordering through parallel stages, backpressure, drain on stop,
// failure propagation, kind checking, deadlines/ticks, dead letters.
#include "src/core/pipeline.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace sluice::core {
namespace {

using namespace std::chrono_literals;

#if defined(__SANITIZE_THREAD__)
constexpr int kRecords = 100'000;
#else
constexpr int kRecords = 1'000'000;
#endif

// Emits `n` records over `partitions` partitions; offset = per-partition sequence.
class CountingSource : public Source {
 public:
  CountingSource(int n, int partitions, bool stop_aware = false)
      : n_(n), partitions_(partitions), stop_aware_(stop_aware) {}
  Poll poll(Emitter& out) override {
    if (stop_aware_ && out.stopping()) return Poll::kEnd;
    if (i_ >= n_) return Poll::kEnd;
    for (int k = 0; k < 256 && i_ < n_; ++k, ++i_) {
      Record r = Record::owned(std::nullopt, std::to_string(i_));
      r.partition = i_ % partitions_;
      r.offset = i_ / partitions_;
      out.emit(std::move(r));
      emitted_.fetch_add(1, std::memory_order_relaxed);
    }
    return Poll::kEmitted;
  }
  std::atomic<int> emitted_{0};

 private:
  int n_, partitions_, i_ = 0;
  bool stop_aware_;
};

class Identity : public Operator {
 public:
  ItemKind input_kind() const override { return ItemKind::kRecord; }
  ItemKind output_kind() const override { return ItemKind::kRecord; }
  void process(OperatorState*, Item&& item, Emitter& out) const override {
    out.emit(std::move(item));
  }
};

// Checks per-partition order and counts what reaches the end.
class OrderCheckingSink : public Operator {
 public:
  ItemKind input_kind() const override { return ItemKind::kRecord; }
  ItemKind output_kind() const override { return ItemKind::kNone; }
  void process(OperatorState*, Item&& item, Emitter&) const override {
    auto& r = std::get<Record>(item);
    int64_t& next = next_[r.partition];
    if (r.offset != next) out_of_order_++;
    next = r.offset + 1;
    count_++;
    if (delay_) std::this_thread::sleep_for(delay_.value());
  }
  void finish(OperatorState*, Emitter&) const override { finished_++; }
  mutable std::map<int, int64_t> next_;
  mutable std::atomic<int> count_{0};
  mutable int out_of_order_ = 0;
  mutable std::atomic<int> finished_{0};
  std::optional<std::chrono::microseconds> delay_;
};

TEST(Pipeline, KeepsPerPartitionOrderThroughParallelStage) {
  Pipeline p({"order", 64});
  p.set_source("src", std::make_unique<CountingSource>(kRecords, 7));
  p.add_stage("fanout", std::make_unique<Identity>(), 4);
  p.add_stage("again", std::make_unique<Identity>(), 3);
  auto sink = std::make_unique<OrderCheckingSink>();
  auto* s = sink.get();
  p.add_stage("sink", std::move(sink));
  p.start();
  EXPECT_EQ(p.wait(), 0);
  EXPECT_EQ(s->count_.load(), kRecords);
  EXPECT_EQ(s->out_of_order_, 0);
  EXPECT_EQ(s->finished_.load(), 1);
  auto snap = p.snapshot(1);
  EXPECT_EQ(snap.name, "fanout");
  EXPECT_EQ(snap.workers, 4);
  EXPECT_EQ(snap.items_in, static_cast<uint64_t>(kRecords));
  EXPECT_EQ(snap.items_out, static_cast<uint64_t>(kRecords));
}

TEST(Pipeline, FullQueueBlocksUpstream) {
  Pipeline p({"bp", 8});
  auto src = std::make_unique<CountingSource>(10'000, 1);
  auto* source = src.get();
  p.set_source("src", std::move(src));
  p.add_stage("mid", std::make_unique<Identity>(), 1, 8);
  auto sink = std::make_unique<OrderCheckingSink>();
  sink->delay_ = 2ms;
  auto* s = sink.get();
  p.add_stage("sink", std::move(sink), 1, 8);
  p.start();
  std::this_thread::sleep_for(200ms);
  // The sink handles ~100 records in 200 ms; with two queues of 8 (+ the items
  // the workers hold in hand: a burst each), the source cannot run far ahead.
  int ahead = source->emitted_.load() - s->count_.load();
  EXPECT_LE(ahead, 8 + 8 + 2 * 64 + 256);
  EXPECT_LT(source->emitted_.load(), 10'000);
  p.abort("test done");
  EXPECT_EQ(p.wait(), 1);
}

class Thrower : public Operator {
 public:
  ItemKind input_kind() const override { return ItemKind::kRecord; }
  ItemKind output_kind() const override { return ItemKind::kRecord; }
  void process(OperatorState*, Item&& item, Emitter& out) const override {
    if (std::get<Record>(item).offset == 500) throw std::runtime_error("boom at 500");
    out.emit(std::move(item));
  }
};

TEST(Pipeline, ThrowingStageFailsPipelineWithItsName) {
  Pipeline p({"fail", 64});
  p.set_source("src", std::make_unique<CountingSource>(kRecords, 1));
  p.add_stage("exploder", std::make_unique<Thrower>(), 1);
  p.add_stage("sink", std::make_unique<OrderCheckingSink>());
  p.start();
  EXPECT_EQ(p.wait(), 1);
  EXPECT_TRUE(p.failed());
  EXPECT_NE(p.failure().find("exploder"), std::string::npos) << p.failure();
  EXPECT_NE(p.failure().find("boom at 500"), std::string::npos) << p.failure();
}

class BatchProducer : public Operator {
 public:
  ItemKind input_kind() const override { return ItemKind::kRecord; }
  ItemKind output_kind() const override { return ItemKind::kBatch; }
  void process(OperatorState*, Item&&, Emitter&) const override {}
};

TEST(Pipeline, RejectsMismatchedStageKindsAtStart) {
  Pipeline p({"kinds", 64});
  p.set_source("src", std::make_unique<CountingSource>(10, 1));
  p.add_stage("batcher", std::make_unique<BatchProducer>());
  p.add_stage("sink", std::make_unique<OrderCheckingSink>());
  try {
    p.start();
    FAIL() << "start() accepted a record sink after a batch producer";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(
        std::string(e.what()).find("stage 'sink' takes records but stage 'batcher' emits batches"),
        std::string::npos)
        << e.what();
  }
}

TEST(Pipeline, RejectsStageAfterSink) {
  Pipeline p({"sinkfirst", 64});
  p.set_source("src", std::make_unique<CountingSource>(10, 1));
  p.add_stage("sink", std::make_unique<OrderCheckingSink>());
  p.add_stage("after", std::make_unique<Identity>());
  EXPECT_THROW(p.start(), std::invalid_argument);
}

// An endless source: stop must drain everything emitted to the sink, exit 0.
TEST(Pipeline, RequestStopDrainsEverythingEmitted) {
  Pipeline p({"drain", 64});
  auto src = std::make_unique<CountingSource>(1 << 30, 3, /*stop_aware=*/true);
  auto* source = src.get();
  p.set_source("src", std::move(src));
  p.add_stage("mid", std::make_unique<Identity>(), 2);
  auto sink = std::make_unique<OrderCheckingSink>();
  auto* s = sink.get();
  p.add_stage("sink", std::move(sink));
  p.start();
  std::this_thread::sleep_for(100ms);
  p.request_stop();
  ASSERT_TRUE(p.wait_for(10s));
  EXPECT_EQ(p.wait(), 0);
  EXPECT_GT(source->emitted_.load(), 0);
  EXPECT_EQ(s->count_.load(), source->emitted_.load());
  EXPECT_EQ(s->out_of_order_, 0);
}

// Groups records by time: exercises next_deadline/on_tick and finish().
class TimedBatcher : public Operator {
 public:
  struct State : OperatorState {
    Batch pending;
    TimePoint deadline = TimePoint::max();
  };
  ItemKind input_kind() const override { return ItemKind::kRecord; }
  ItemKind output_kind() const override { return ItemKind::kBatch; }
  std::unique_ptr<OperatorState> make_state(const WorkerInfo&) override {
    return std::make_unique<State>();
  }
  void process(OperatorState* s, Item&& item, Emitter&) const override {
    auto* st = static_cast<State*>(s);
    if (st->pending.records.empty()) st->deadline = SteadyClock::now() + 20ms;
    st->pending.records.push_back(std::move(std::get<Record>(item)));
  }
  TimePoint next_deadline(const OperatorState* s) const override {
    return static_cast<const State*>(s)->deadline;
  }
  void on_tick(OperatorState* s, Emitter& out) const override {
    flush(static_cast<State*>(s), out);
  }
  void finish(OperatorState* s, Emitter& out) const override { flush(static_cast<State*>(s), out); }
  void flush(State* st, Emitter& out) const {
    if (st->pending.records.empty()) return;
    out.emit(std::move(st->pending));
    st->pending = Batch{};
    st->deadline = TimePoint::max();
  }
};

class BatchSink : public Operator {
 public:
  ItemKind input_kind() const override { return ItemKind::kBatch; }
  ItemKind output_kind() const override { return ItemKind::kNone; }
  void process(OperatorState*, Item&& item, Emitter&) const override {
    batches_++;
    records_ += static_cast<int>(std::get<Batch>(item).records.size());
  }
  mutable std::atomic<int> batches_{0}, records_{0};
};

// A source that trickles: 5 records, then a pause longer than the batch delay.
class TrickleSource : public Source {
 public:
  Poll poll(Emitter& out) override {
    if (round_ == 4) return Poll::kEnd;
    for (int i = 0; i < 5; ++i) out.emit(Record::owned(std::nullopt, "x"));
    ++round_;
    std::this_thread::sleep_for(60ms);
    return Poll::kEmitted;
  }
  int round_ = 0;
};

TEST(Pipeline, DeadlineTicksFlushPartialWork) {
  Pipeline p({"ticks", 64});
  p.set_source("src", std::make_unique<TrickleSource>());
  p.add_stage("batch", std::make_unique<TimedBatcher>());
  auto sink = std::make_unique<BatchSink>();
  auto* s = sink.get();
  p.add_stage("sink", std::move(sink));
  p.start();
  EXPECT_EQ(p.wait(), 0);
  EXPECT_EQ(s->records_.load(), 20);
  EXPECT_EQ(s->batches_.load(), 4);  // one per trickle, flushed by the 20 ms deadline
}

class CountingAckSink : public AckSink {
 public:
  void retain(uint64_t) override { retained++; }
  void complete(uint64_t) override { completed++; }
  std::atomic<int> retained{0}, completed{0};
};

class RejectOdd : public Operator {
 public:
  ItemKind input_kind() const override { return ItemKind::kRecord; }
  ItemKind output_kind() const override { return ItemKind::kRecord; }
  void process(OperatorState*, Item&& item, Emitter& out) const override {
    auto& r = std::get<Record>(item);
    if (r.offset % 2)
      out.dead_letter(std::move(r), dead_letter_code::kInvalidJson, "odd");
    else
      out.emit(std::move(item));
  }
};

class AckedSource : public Source {
 public:
  explicit AckedSource(AckSink* acks) : acks_(acks) {}
  Poll poll(Emitter& out) override {
    if (i_ == 100) return Poll::kEnd;
    Record r = Record::owned(std::nullopt, "v");
    r.partition = 0;
    r.offset = i_;
    r.ack = Ack(acks_, static_cast<uint64_t>(i_));
    ++i_;
    out.emit(std::move(r));
    return Poll::kEmitted;
  }
  AckSink* acks_;
  int i_ = 0;
};

class CollectingDeadLetters : public DeadLetterSink {
 public:
  void publish(DeadLetter&& d) override {
    std::lock_guard lock(mu);
    EXPECT_EQ(d.code, "invalid_json");
    EXPECT_EQ(d.stage, "reject");
    EXPECT_EQ(d.detail, "odd");
    offsets.push_back(d.record.offset);
    d.record.ack.complete();
  }
  std::mutex mu;
  std::vector<int64_t> offsets;
};

TEST(Pipeline, DeadLettersGoToSinkWithStageAndCode) {
  CountingAckSink acks;
  CollectingDeadLetters dlq;
  Pipeline p({"dlq", 64});
  p.set_dead_letter_sink(&dlq);
  p.set_source("src", std::make_unique<AckedSource>(&acks));
  p.add_stage("reject", std::make_unique<RejectOdd>());
  auto sink = std::make_unique<OrderCheckingSink>();
  auto* s = sink.get();
  p.add_stage("sink", std::move(sink));
  p.start();
  EXPECT_EQ(p.wait(), 0);
  EXPECT_EQ(s->count_.load(), 50);
  EXPECT_EQ(dlq.offsets.size(), 50u);
  EXPECT_EQ(acks.completed.load(), 50);  // only the dead letters were completed here
  EXPECT_EQ(p.snapshot(1).dead_letters, 50u);
}

TEST(Pipeline, WithoutDeadLetterSinkRecordsAreAcknowledged) {
  CountingAckSink acks;
  Pipeline p({"dlq-default", 64});
  p.set_source("src", std::make_unique<AckedSource>(&acks));
  p.add_stage("reject", std::make_unique<RejectOdd>());
  p.add_stage("sink", std::make_unique<OrderCheckingSink>());
  p.start();
  EXPECT_EQ(p.wait(), 0);
  EXPECT_EQ(acks.completed.load(), 50);
}

// Downstream-idle ticks: a batcher that flushes only when the next stage idles.
class IdleFlusher : public Operator {
 public:
  struct State : OperatorState {
    Batch pending;
  };
  ItemKind input_kind() const override { return ItemKind::kRecord; }
  ItemKind output_kind() const override { return ItemKind::kBatch; }
  bool wants_downstream_idle() const override { return true; }
  std::unique_ptr<OperatorState> make_state(const WorkerInfo&) override {
    return std::make_unique<State>();
  }
  void process(OperatorState* s, Item&& item, Emitter& out) const override {
    static_cast<State*>(s)->pending.records.push_back(std::move(std::get<Record>(item)));
    on_tick(s, out);
  }
  void on_tick(OperatorState* s, Emitter& out) const override {
    auto* st = static_cast<State*>(s);
    if (!st->pending.records.empty() && out.downstream_idle()) {
      out.emit(std::move(st->pending));
      st->pending = Batch{};
      ++idle_flushes;
    }
  }
  void finish(OperatorState* s, Emitter& out) const override {
    auto* st = static_cast<State*>(s);
    if (!st->pending.records.empty()) out.emit(std::move(st->pending));
  }
  mutable std::atomic<int> idle_flushes{0};
};

TEST(Pipeline, DownstreamIdleTicksUpstream) {
  Pipeline p({"idle", 64});
  p.set_source("src", std::make_unique<TrickleSource>());
  auto flusher = std::make_unique<IdleFlusher>();
  auto* f = flusher.get();
  p.add_stage("batch", std::move(flusher));
  auto sink = std::make_unique<BatchSink>();
  auto* s = sink.get();
  p.add_stage("sink", std::move(sink));
  p.start();
  EXPECT_EQ(p.wait(), 0);
  EXPECT_EQ(s->records_.load(), 20);
  EXPECT_GE(f->idle_flushes.load(), 4);  // every trickle went out without waiting for the end
}

// ---- liveness: stalled() ------------------------------------------------------

// Blocks in process() until released: a wedged stage (a hung model, a deadlock).
class Stuck : public Operator {
 public:
  ItemKind input_kind() const override { return ItemKind::kRecord; }
  ItemKind output_kind() const override { return ItemKind::kNone; }
  void process(OperatorState*, Item&&, Emitter&) const override {
    entered_ = true;
    while (!released_.load()) std::this_thread::sleep_for(1ms);
    count_++;
  }
  mutable std::atomic<bool> entered_{false}, released_{false};
  mutable std::atomic<int> count_{0};
};

// Polls stalled() (as a liveness probe would) until it reports something or `timeout` passes.
std::string wait_for_stall(const Pipeline& p, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string report;
  while (report.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    report = p.stalled();
  }
  return report;
}

TEST(Pipeline, StageStuckInsideACallIsStalledAndItsBlockedUpstreamIsNot) {
  PipelineOptions o{"stall", 8};
  o.stall_timeout = 200ms;
  Pipeline p(o);
  p.set_source("src", std::make_unique<CountingSource>(100'000, 1, /*stop_aware=*/true));
  p.add_stage("mid", std::make_unique<Identity>(), 1, 8);
  auto stuck = std::make_unique<Stuck>();
  auto* s = stuck.get();
  p.add_stage("stuck", std::move(stuck), 1, 8);
  p.start();
  // Queues fill up behind the stuck stage: "mid" and the source wait for room, which is
  // backpressure; only "stuck" is reported.
  const std::string report = wait_for_stall(p, 10s);
  EXPECT_TRUE(s->entered_.load());
  EXPECT_EQ(report.rfind("stage 'stuck' worker 0 stalled: inside one call, no progress for ", 0),
            0u)
      << report;
  EXPECT_NE(report.find("(stall_timeout 0.2 s)"), std::string::npos) << report;
  EXPECT_EQ(report.find("'mid'"), std::string::npos) << report;
  EXPECT_EQ(report.find("'src'"), std::string::npos) << report;
  // Released, it makes progress again (a second record done means the first call
  // returned): no longer stalled.
  s->released_ = true;
  while (s->count_.load() < 2) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(p.stalled(), "");
  p.request_stop();
  EXPECT_EQ(p.wait(), 0);
}

TEST(Pipeline, IdleOrSlowButMovingPipelineIsNeverStalled) {
  PipelineOptions o{"calm", 8};
  o.stall_timeout = 500ms;
  Pipeline p(o);
  p.set_source("src", std::make_unique<CountingSource>(40, 1));  // then nothing: idle
  auto sink = std::make_unique<OrderCheckingSink>();
  sink->delay_ = 10ms;  // slow, with input waiting, but each record well within the timeout
  auto* s = sink.get();
  p.add_stage("slow", std::move(sink), 1, 8);
  p.start();
  std::string reports;
  for (int i = 0; i < 100; ++i) {  // 2 s: 0.4 s of slow work, then idle
    std::this_thread::sleep_for(20ms);
    reports += p.stalled();
  }
  EXPECT_EQ(reports, "");
  EXPECT_EQ(s->count_.load(), 40);
  p.abort("test done");
  p.wait();
}

TEST(Pipeline, StallTimeoutZeroNeverReports) {
  Pipeline p({"off", 8});  // stall_timeout defaults to 0
  p.set_source("src", std::make_unique<CountingSource>(10, 1));
  auto stuck = std::make_unique<Stuck>();
  auto* s = stuck.get();
  p.add_stage("stuck", std::move(stuck));
  p.start();
  EXPECT_EQ(wait_for_stall(p, 300ms), "");
  s->released_ = true;
  EXPECT_EQ(p.wait(), 0);
}

}  // namespace
}  // namespace sluice::core
