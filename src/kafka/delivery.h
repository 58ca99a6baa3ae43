// What a produced message carries until its delivery report: the input
// record's Ack (completed only when the broker acknowledged the message) and
// what the metrics need. Deliveries live in a fixed lock-free pool so that
// producing allocates nothing of ours per record.
#pragma once
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "src/core/ack.h"
#include "src/core/topics.h"

namespace sluice::kafka {

enum class DeliveryKind : uint8_t { kResult, kDeadLetter };

struct Delivery {
  core::Ack ack;
  int64_t source_timestamp_ms = -1;  // Kafka timestamp of the input record, -1 if none
  core::TopicId topic = core::kNoTopic;
  DeliveryKind kind = DeliveryKind::kResult;
};

// Fixed-capacity pool of Delivery slots. acquire() and release() may be
// called from any threads concurrently: a Treiber stack of slot indices whose
// head carries a version tag against ABA.
class DeliveryPool {
 public:
  explicit DeliveryPool(size_t capacity)
      : capacity_(capacity),
        slots_(new Delivery[capacity]),
        next_(new std::atomic<uint32_t>[capacity]) {
    assert(capacity > 0 && capacity < kNil);
    for (size_t i = 0; i < capacity; ++i) next_[i].store(i + 1 < capacity ? uint32_t(i + 1) : kNil);
    head_.store(pack(0, 0));
  }
  DeliveryPool(const DeliveryPool&) = delete;
  DeliveryPool& operator=(const DeliveryPool&) = delete;

  // A free slot, or null when all are in use.
  Delivery* acquire() {
    uint64_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      uint32_t idx = index_of(h);
      if (idx == kNil) return nullptr;
      uint32_t next = next_[idx].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, pack(next, tag_of(h) + 1), std::memory_order_acquire,
                                      std::memory_order_acquire)) {
        in_use_.fetch_add(1, std::memory_order_relaxed);
        return &slots_[idx];
      }
    }
  }

  // Returns a slot (its Ack must have been completed or abandoned).
  void release(Delivery* d) {
    const uint32_t idx = static_cast<uint32_t>(d - slots_.get());
    assert(idx < capacity_);
    *d = Delivery{};
    uint64_t h = head_.load(std::memory_order_relaxed);
    for (;;) {
      next_[idx].store(index_of(h), std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, pack(idx, tag_of(h) + 1), std::memory_order_release,
                                      std::memory_order_relaxed)) {
        in_use_.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
    }
  }

  size_t capacity() const { return capacity_; }
  size_t in_use() const { return in_use_.load(std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kNil = 0xffffffffu;
  static uint64_t pack(uint32_t idx, uint32_t tag) { return (uint64_t{tag} << 32) | idx; }
  static uint32_t index_of(uint64_t h) { return static_cast<uint32_t>(h); }
  static uint32_t tag_of(uint64_t h) { return static_cast<uint32_t>(h >> 32); }

  const size_t capacity_;
  std::unique_ptr<Delivery[]> slots_;
  std::unique_ptr<std::atomic<uint32_t>[]> next_;
  std::atomic<uint64_t> head_;
  std::atomic<size_t> in_use_{0};
};

}  // namespace sluice::kafka
