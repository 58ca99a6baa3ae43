// Completion handles: how an input record learns that its outputs are durable.
//
// Every input record carries an Ack. When every output it caused (a result
// record or a dead letter) has been acknowledged by the broker, the Ack is
// completed, and the record's offset becomes committable (DESIGN.md §2). An
// operator that turns one input into several outputs calls share() once per
// extra output. An Ack destroyed without complete() leaves its record
// uncommitted: after a restart the record is consumed again (at-least-once).
#pragma once
#include <cstdint>
#include <utility>

namespace sluice::core {

// Implemented by whoever tracks completion (the Kafka source's OffsetTracker).
// Both calls may come from any thread, concurrently.
class AckSink {
 public:
  virtual ~AckSink() = default;
  // One more output must complete before `token` is done.
  virtual void retain(uint64_t token) = 0;
  // One output of `token` is durable.
  virtual void complete(uint64_t token) = 0;
};

class Ack {
 public:
  Ack() = default;
  Ack(AckSink* sink, uint64_t token) : sink_(sink), token_(token) {}
  Ack(const Ack&) = delete;
  Ack& operator=(const Ack&) = delete;
  Ack(Ack&& o) noexcept : sink_(std::exchange(o.sink_, nullptr)), token_(o.token_) {}
  Ack& operator=(Ack&& o) noexcept {
    sink_ = std::exchange(o.sink_, nullptr);
    token_ = o.token_;
    return *this;
  }
  ~Ack() = default;  // deliberately no completion: see the header comment

  // Marks this output durable. Call at most once; the Ack is empty afterwards.
  void complete() {
    if (sink_) std::exchange(sink_, nullptr)->complete(token_);
  }
  // A second handle on the same input record for an additional output.
  Ack share() {
    if (!sink_) return {};
    sink_->retain(token_);
    return Ack(sink_, token_);
  }
  bool empty() const { return sink_ == nullptr; }
  uint64_t token() const { return token_; }

 private:
  AckSink* sink_ = nullptr;
  uint64_t token_ = 0;
};

}  // namespace sluice::core
