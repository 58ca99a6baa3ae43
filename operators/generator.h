// generator: a built-in source of synthetic records, for exercising the
// runtime without Kafka (tests, benchmarks, smoke runs).
//
// Emits `count` records (0 = until stopped) at `rate` records/s (0 = as fast
// as downstream takes them), spread round-robin over `partitions`, with
// values of `size` bytes ("record-<n>" padded with '.') or a fixed `text`.
#pragma once
#include <cstdint>
#include <string>

#include "operators/operator_spec.h"
#include "src/core/operator.h"

namespace sluice::operators {

struct GeneratorOptions {
  int64_t count = 0;
  double rate = 0;
  int32_t partitions = 1;
  size_t size = 100;
  std::string text;  // when set, every value is this text
  int32_t keys = 0;  // distinct keys "key-<i % keys>"; 0 = no key
};

class Generator final : public core::Source {
 public:
  explicit Generator(GeneratorOptions options) : options_(std::move(options)) {}
  Poll poll(core::Emitter& out) override;

 private:
  GeneratorOptions options_;
  int64_t next_ = 0;
  int64_t start_ns_ = 0;
};

void register_generator(OperatorRegistry& registry);

}  // namespace sluice::operators
