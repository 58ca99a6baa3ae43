// What tests put at the end of a core::Pipeline to see what came out:
//
//   CollectingSink: the last stage; hands each record to `keep` under one
//     lock (a stage's workers call process() concurrently), so `keep` may
//     write to the test's own containers without locking.
//   CollectingDeadLetters: the pipeline's dead-letter sink; keeps every
//     letter until take().
//
// Read what they collected after Pipeline::wait(), or under lock() while the
// pipeline runs.
#pragma once

#include <functional>
#include <mutex>
#include <utility>
#include <variant>
#include <vector>

#include "src/core/dead_letter.h"
#include "src/core/operator.h"

namespace sluice::testing {

class CollectingSink final : public core::Operator {
 public:
  using Keep = std::function<void(core::Record&)>;
  explicit CollectingSink(Keep keep) : keep_(std::move(keep)) {}

  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kNone; }
  void process(core::OperatorState*, core::Item&& item, core::Emitter&) const override {
    auto& r = std::get<core::Record>(item);
    std::lock_guard lock(mu_);
    keep_(r);
  }
  // Holds `keep` off while the caller reads what it wrote.
  std::unique_lock<std::mutex> lock() const { return std::unique_lock(mu_); }

 private:
  Keep keep_;
  mutable std::mutex mu_;
};

class CollectingDeadLetters final : public core::DeadLetterSink {
 public:
  void publish(core::DeadLetter&& letter) override {
    std::lock_guard lock(mu_);
    letters_.push_back(std::move(letter));
  }
  // The letters published so far, in the order they came (moved out).
  std::vector<core::DeadLetter> take() {
    std::lock_guard lock(mu_);
    return std::exchange(letters_, {});
  }

 private:
  mutable std::mutex mu_;
  std::vector<core::DeadLetter> letters_;
};

}  // namespace sluice::testing
