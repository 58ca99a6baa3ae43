#include "operators/micro_batch.h"

#include <algorithm>
#include <limits>

#include "src/core/dead_letter.h"
#include "src/metrics/buckets.h"

namespace sluice::operators {

// ---- TokenBudget ----

TokenBudget::TokenBudget(int64_t max_tokens, std::chrono::nanoseconds target)
    : max_(std::max<int64_t>(1, max_tokens)),
      min_(std::max<int64_t>(1, max_ / 32)),
      step_(std::max<int64_t>(1, max_ / 16)),
      target_ns_(target.count()),
      value_(max_) {}

void TokenBudget::on_batch_latency(int64_t latency_ns) {
  if (target_ns_ <= 0) return;
  value_ = latency_ns > target_ns_ ? std::max(min_, value_ / 2) : std::min(max_, value_ + step_);
}

// ---- MicroBatcher ----

MicroBatcher::MicroBatcher(const MicroBatchPolicy& policy)
    : policy_(policy), budget_(policy.max_batch_tokens, policy.target_latency) {
  start_batch();
}

void MicroBatcher::start_batch() {
  pending_ = core::Batch{};
  pending_.records.reserve(static_cast<size_t>(policy_.max_batch_records));
  pending_.token_ids.reserve(static_cast<size_t>(budget_.value()));
  pending_.cu_seqlens.reserve(static_cast<size_t>(policy_.max_batch_records) + 1);
  pending_.cu_seqlens.push_back(0);
}

void MicroBatcher::close(core::FlushReason reason, int64_t now_ns,
                         std::vector<core::Batch>& ready) {
  pending_.flush_reason = reason;
  pending_.flush_ns = now_ns;
  ready.push_back(std::move(pending_));
  start_batch();
}

void MicroBatcher::add(core::Record&& record, int64_t now_ns, std::vector<core::Batch>& ready) {
  const auto n = static_cast<int64_t>(record.tokens.size());
  const int64_t budget = budget_.value();
  // One model per batch: a record tokenized for a reloaded model starts a new one.
  if (!empty() && record.model != pending_.model) close(core::FlushReason::kModel, now_ns, ready);
  if (!empty() && static_cast<int64_t>(pending_.total_tokens()) + n > budget)
    close(core::FlushReason::kMaxTokens, now_ns, ready);
  if (empty()) {
    pending_.oldest_ns = now_ns;
    pending_.model = record.model;
  }
  pending_.token_ids.insert(pending_.token_ids.end(), record.tokens.begin(), record.tokens.end());
  pending_.cu_seqlens.push_back(static_cast<int32_t>(pending_.token_ids.size()));
  pending_.max_seqlen = std::max(pending_.max_seqlen, static_cast<int32_t>(n));
  pending_.records.push_back(std::move(record));
  if (static_cast<int64_t>(pending_.records.size()) >= policy_.max_batch_records) {
    close(core::FlushReason::kMaxRecords, now_ns, ready);
  } else if (static_cast<int64_t>(pending_.total_tokens()) >= budget) {
    close(core::FlushReason::kMaxTokens, now_ns, ready);
  }
}

bool MicroBatcher::flush(core::FlushReason reason, int64_t now_ns,
                         std::vector<core::Batch>& ready) {
  if (empty()) return false;
  close(reason, now_ns, ready);
  return true;
}

int64_t MicroBatcher::deadline_ns() const {
  if (empty()) return std::numeric_limits<int64_t>::max();
  return pending_.oldest_ns + policy_.max_delay.count();
}

// ---- MicroBatchProbe ----

MicroBatchProbe::MicroBatchProbe(metrics::Registry& r, const std::string& pipeline,
                                 const std::string& stage) {
  const metrics::Labels labels = {{"pipeline", pipeline}, {"stage", stage}};
  const auto record_buckets = metrics::exponential_buckets(1, 2, 11);  // 1 … 1024
  const auto token_buckets = metrics::exponential_buckets(16, 2, 11);  // 16 … 16384
  records_ = &r.histogram("sluice_batch_records", "Records per batch formed by the micro-batcher.",
                          record_buckets, labels);
  tokens_ = &r.histogram("sluice_batch_tokens", "Tokens per batch (packed: no padding).",
                         token_buckets, labels);
  wait_ = &r.histogram("sluice_batch_wait_seconds",
                       "Time the oldest record of a batch waited in the batcher.",
                       metrics::latency_seconds_buckets(), labels);
  budget_ = &r.gauge("sluice_batch_token_budget",
                     "Current token budget per batch (adapts with target_latency).", labels);
  for (auto reason :
       {core::FlushReason::kMaxRecords, core::FlushReason::kMaxTokens, core::FlushReason::kMaxDelay,
        core::FlushReason::kIdle, core::FlushReason::kDrain, core::FlushReason::kModel}) {
    metrics::Labels l = labels;
    l.emplace_back("reason", std::string(core::flush_reason_name(reason)));
    reasons_[static_cast<int>(reason)] = &r.counter(
        "sluice_batch_flushes_total", "Batches closed by the micro-batcher, by reason.", l);
  }
}

void MicroBatchProbe::on_flush(const core::Batch& b) {
  if (!records_) return;
  records_->observe(static_cast<double>(b.size()));
  tokens_->observe(static_cast<double>(b.total_tokens()));
  wait_->observe(static_cast<double>(b.flush_ns - b.oldest_ns) * 1e-9);
  reasons_[static_cast<int>(b.flush_reason)]->inc();
}

void MicroBatchProbe::on_budget(int64_t tokens) {
  if (budget_) budget_->set(static_cast<double>(tokens));
}

// ---- MicroBatch operator ----

namespace {

struct MicroBatchState : core::OperatorState {
  explicit MicroBatchState(const MicroBatchPolicy& p) : batcher(p) {}
  MicroBatcher batcher;
  std::vector<core::Batch> ready;
  uint64_t feedback_seen = 0;
};

core::TimePoint to_time_point(int64_t ns) {
  return core::TimePoint(
      std::chrono::duration_cast<core::SteadyClock::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace

MicroBatch::MicroBatch(MicroBatchPolicy policy, MicroBatchProbe probe, BatchFeedback* feedback)
    : policy_(policy), probe_(probe), feedback_(feedback) {
  probe_.on_budget(policy_.max_batch_tokens);
}

std::unique_ptr<core::OperatorState> MicroBatch::make_state(const core::WorkerInfo&) {
  return std::make_unique<MicroBatchState>(policy_);
}

void MicroBatch::emit_ready(core::OperatorState* s, core::Emitter& out) const {
  auto* st = static_cast<MicroBatchState*>(s);
  for (auto& b : st->ready) {
    probe_.on_flush(b);
    out.emit(std::move(b));
  }
  st->ready.clear();
}

void MicroBatch::process(core::OperatorState* s, core::Item&& item, core::Emitter& out) const {
  auto* st = static_cast<MicroBatchState*>(s);
  auto& record = std::get<core::Record>(item);
  if (record.tokens.empty()) {
    out.dead_letter(std::move(record), core::dead_letter_code::kEmpty,
                    "record has no tokens to batch");
    return;
  }
  if (feedback_ && policy_.target_latency.count() > 0) {
    const uint64_t seen = feedback_->batches.load(std::memory_order_acquire);
    if (seen != st->feedback_seen) {
      st->feedback_seen = seen;
      st->batcher.on_batch_latency(feedback_->last_latency_ns.load(std::memory_order_relaxed));
      probe_.on_budget(st->batcher.token_budget());
    }
  }
  const int64_t now = core::now_ns();
  st->batcher.add(std::move(record), now, st->ready);
  // Nothing to wait for when infer has nothing to do: go now.
  if (policy_.flush_when_idle && !st->batcher.empty() && out.downstream_idle())
    st->batcher.flush(core::FlushReason::kIdle, now, st->ready);
  emit_ready(s, out);
}

core::TimePoint MicroBatch::next_deadline(const core::OperatorState* s) const {
  const auto* st = static_cast<const MicroBatchState*>(s);
  return st->batcher.empty() ? core::TimePoint::max() : to_time_point(st->batcher.deadline_ns());
}

void MicroBatch::on_tick(core::OperatorState* s, core::Emitter& out) const {
  auto* st = static_cast<MicroBatchState*>(s);
  if (st->batcher.empty()) return;
  const int64_t now = core::now_ns();
  if (now >= st->batcher.deadline_ns()) {
    st->batcher.flush(core::FlushReason::kMaxDelay, now, st->ready);
  } else if (policy_.flush_when_idle && out.downstream_idle()) {
    st->batcher.flush(core::FlushReason::kIdle, now, st->ready);
  }
  emit_ready(s, out);
}

void MicroBatch::finish(core::OperatorState* s, core::Emitter& out) const {
  auto* st = static_cast<MicroBatchState*>(s);
  st->batcher.flush(core::FlushReason::kDrain, core::now_ns(), st->ready);
  emit_ready(s, out);
}

namespace {

// The stage's keys, bound to MicroBatchPolicy (its initializers are the defaults).
const config::Options<MicroBatchPolicy>& micro_batch_options() {
  static const config::Options<MicroBatchPolicy> options = [] {
    using P = MicroBatchPolicy;
    config::Options<P> o;
    o.add("max_batch_records", &P::max_batch_records, "Close a batch at this many records")
        .range(1, 65536);
    o.add("max_batch_tokens", &P::max_batch_tokens,
          "Close a batch at this many tokens (the ceiling of the adaptive budget)")
        .range(1, 1 << 22);
    o.add("max_delay", &P::max_delay, "Close a batch when its oldest record has waited this long")
        .range(0, 60);
    o.add("flush_when_idle", &P::flush_when_idle,
          "Close the batch at once when the infer stage is idle");
    o.add("target_latency", &P::target_latency,
          "Adapt the token budget (AIMD) to keep batch latency under this; 0s = fixed budget")
        .range(0, 60);
    return o;
  }();
  return options;
}

}  // namespace

void register_micro_batch(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "micro_batch",
      .description = "Packs tokenized records into padding-free batches (token budget, max delay, "
                     "eager when infer is idle)",
      .is_source = false,
      .declare = [](config::Schema& s) { micro_batch_options().declare(s); },
      .make_source = nullptr,
      .make_operator = [](BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        const MicroBatchPolicy p = micro_batch_options().read(ctx.options);
        MicroBatchProbe probe;
        if (auto* m = ctx.services.metrics())
          probe = MicroBatchProbe(*m, ctx.services.pipeline_name(), ctx.stage_name);
        auto& feedback =
            ctx.services.shared<BatchFeedback>([] { return std::make_unique<BatchFeedback>(); });
        return std::make_unique<MicroBatch>(p, probe, &feedback);
      },
  });
}

}  // namespace sluice::operators
