// counter: a sink that counts records (and checks per-partition order), for
// runs without Kafka. At the end it logs the count; with `expect` set, a
// different count fails the pipeline, which makes it a self-checking smoke test.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "operators/operator_spec.h"
#include "src/core/emitter.h"

namespace sluice::operators {

struct CounterOptions {
  int64_t expect = -1;  // -1: no expectation
  bool check_order = true;
};

class Counter final : public core::Operator {
 public:
  explicit Counter(CounterOptions o, std::string name) : options_(o), name_(std::move(name)) {}
  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kNone; }
  std::unique_ptr<core::OperatorState> make_state(const core::WorkerInfo&) override;
  void process(core::OperatorState* state, core::Item&& item, core::Emitter& out) const override;
  void finish(core::OperatorState* state, core::Emitter& out) const override;

  uint64_t count() const { return count_.load(); }
  uint64_t out_of_order() const { return out_of_order_.load(); }

 private:
  CounterOptions options_;
  std::string name_;
  // Shared by the workers, hence atomic; what the counter is for.
  mutable std::atomic<uint64_t> count_{0};
  mutable std::atomic<uint64_t> out_of_order_{0};
  mutable std::atomic<int> finished_workers_{0};
};

void register_counter(OperatorRegistry& registry);

}  // namespace sluice::operators
