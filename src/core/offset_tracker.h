// OffsetTracker: which consumed offsets are safe to commit (DESIGN.md §2).
//
// The source tracks every record it reads, per partition, in consumption
// order; each record gets a token (its Ack). Records complete out of order
// (parallel stages, batching, delivery reports arriving in any order); a
// partition's committable offset is the lowest offset not yet done, or the
// last tracked offset + 1 when everything is done. So a commit never skips a
// record whose outputs are not durable, and a crash re-delivers from there
// (at-least-once).
//
// Per partition, in-flight records live in a fixed ring (capacity set at
// construction, from the source's high watermark): memory is bounded, and
// full() tells the source to pause that partition. A record stays in flight
// until every record before it in its partition is done.
//
// Revocation: close() drops a partition's in-flight records without committing
// them. Sequences per slot keep increasing across close/open, and each ring
// entry is tagged with the sequence that owns it, so an ack that arrives after
// its partition was revoked (or re-assigned) finds a different tag and is
// ignored: the slot's sequence doubles as the assignment generation.
//
// Threading: open/close/track/committable/in_flight(slot) belong to one thread
// (the source's; or any thread once that one has stopped). retain/complete may
// be called from any thread, concurrently; complete is one CAS on the entry,
// no lock. in_flight() may be read from any thread.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "src/core/ack.h"

namespace sluice::core {

class OffsetTracker final : public AckSink {
 public:
  using Slot = uint32_t;  // one tracked partition
  static constexpr size_t kMaxPartitions = 1u << 16;

  // partition_capacity: most records one partition may have in flight
  // (rounded up to a power of two). max_partitions: most partitions open at
  // once, at most kMaxPartitions.
  explicit OffsetTracker(size_t partition_capacity, size_t max_partitions = 4096);
  ~OffsetTracker() override;
  OffsetTracker(const OffsetTracker&) = delete;
  OffsetTracker& operator=(const OffsetTracker&) = delete;

  // ---- owner thread ---------------------------------------------------------
  // Starts tracking a newly assigned partition. Throws std::length_error when
  // max_partitions are open.
  Slot open();
  // Stops tracking: in-flight records are dropped, never committed; acks that
  // still arrive for them are ignored. The slot may be returned by open() again.
  void close(Slot slot);

  // True when the partition cannot take another record (pause it).
  bool full(Slot slot) const;
  // A record just consumed at `offset` (offsets increase within a partition).
  // Returns its token with one pending output. Precondition: !full(slot).
  uint64_t track(Slot slot, int64_t offset);
  // Releases the done prefix and returns the offset to commit: the lowest
  // offset not yet done, or the last tracked offset + 1 when all are done;
  // -1 when nothing was tracked since open().
  int64_t committable(Slot slot);
  // Records of this partition still tracked (done ones included while a
  // record before them is not), as of the last committable() call.
  size_t in_flight(Slot slot) const;

  // ---- any thread -----------------------------------------------------------
  // Sum of in_flight(slot) over open slots, as of their last committable().
  size_t in_flight() const { return in_flight_total_.load(std::memory_order_relaxed); }
  size_t partition_capacity() const { return capacity_; }

  void retain(uint64_t token) override;
  void complete(uint64_t token) override;

 private:
  // Token: slot in the top 16 bits, the slot's sequence in the low 48.
  static constexpr int kSeqBits = 48;
  static constexpr uint64_t kSeqMask = (uint64_t{1} << kSeqBits) - 1;
  // Entry word: sequence tag in the top 40 bits, pending outputs in the low 24.
  static constexpr int kCountBits = 24;
  static constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;
  static constexpr uint64_t kTagMask = (uint64_t{1} << (64 - kCountBits)) - 1;

  struct Entry {
    std::atomic<uint64_t> word{0};
    int64_t offset = -1;  // owner thread only
  };
  struct Ring {
    explicit Ring(size_t capacity) : entries(new Entry[capacity]) {}
    std::unique_ptr<Entry[]> entries;
    uint64_t head = 0;         // oldest sequence still in flight (owner thread)
    uint64_t tail = 0;         // next sequence to assign (owner thread)
    int64_t last_offset = -1;  // offset of sequence tail-1, -1 if none since open()
    bool open = false;
  };

  static uint64_t tag_of(uint64_t seq) { return seq & kTagMask; }
  Entry* entry_for(uint64_t token) const;
  void set_total(size_t v) { in_flight_total_.store(v, std::memory_order_relaxed); }

  const size_t capacity_;
  const uint64_t mask_;
  const size_t max_partitions_;
  // Rings are created on first use and live as long as the tracker, so a late
  // ack never touches freed memory.
  std::unique_ptr<std::atomic<Ring*>[]> rings_;
  std::vector<Slot> free_slots_;  // owner thread
  size_t slots_used_ = 0;         // owner thread
  size_t total_ = 0;              // owner thread copy of in_flight_total_
  std::atomic<size_t> in_flight_total_{0};
};

}  // namespace sluice::core
