#include "src/core/offset_tracker.h"

#include <cassert>
#include <stdexcept>
#include <string>

namespace sluice::core {
namespace {

size_t round_up_pow2(size_t n) {
  size_t cap = 2;
  while (cap < n) cap <<= 1;
  return cap;
}

}  // namespace

OffsetTracker::OffsetTracker(size_t partition_capacity, size_t max_partitions)
    : capacity_(round_up_pow2(partition_capacity)),
      mask_(capacity_ - 1),
      max_partitions_(max_partitions),
      rings_(new std::atomic<Ring*>[max_partitions]) {
  if (max_partitions == 0 || max_partitions > kMaxPartitions) {
    throw std::invalid_argument("offset tracker: max_partitions must be 1.." +
                                std::to_string(kMaxPartitions));
  }
  if (capacity_ > kCountMask) {
    throw std::invalid_argument("offset tracker: partition capacity too large");
  }
  for (size_t i = 0; i < max_partitions_; ++i) rings_[i].store(nullptr, std::memory_order_relaxed);
}

OffsetTracker::~OffsetTracker() {
  for (size_t i = 0; i < max_partitions_; ++i) delete rings_[i].load(std::memory_order_relaxed);
}

OffsetTracker::Slot OffsetTracker::open() {
  Slot slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    if (slots_used_ == max_partitions_) {
      throw std::length_error("offset tracker: more than " + std::to_string(max_partitions_) +
                              " partitions assigned at once");
    }
    slot = static_cast<Slot>(slots_used_++);
    rings_[slot].store(new Ring(capacity_), std::memory_order_release);
  }
  Ring* r = rings_[slot].load(std::memory_order_relaxed);
  assert(!r->open);
  r->open = true;
  r->head = r->tail;  // sequences continue: older tokens can never match again
  r->last_offset = -1;
  return slot;
}

void OffsetTracker::close(Slot slot) {
  Ring* r = rings_[slot].load(std::memory_order_relaxed);
  assert(r && r->open);
  total_ -= r->tail - r->head;
  set_total(total_);
  r->head = r->tail;
  r->open = false;
  free_slots_.push_back(slot);
}

bool OffsetTracker::full(Slot slot) const {
  const Ring* r = rings_[slot].load(std::memory_order_relaxed);
  return r->tail - r->head >= capacity_;
}

uint64_t OffsetTracker::track(Slot slot, int64_t offset) {
  Ring* r = rings_[slot].load(std::memory_order_relaxed);
  assert(r->open);
  assert(r->tail - r->head < capacity_ && "track() on a full partition");
  assert(offset > r->last_offset && "offsets must increase within a partition");
  const uint64_t seq = r->tail;
  Entry& e = r->entries[seq & mask_];
  e.offset = offset;
  // Release: an ack handed to another thread (through the pipeline's queues)
  // sees this tag when it arrives.
  e.word.store((tag_of(seq) << kCountBits) | 1, std::memory_order_release);
  r->tail = seq + 1;
  r->last_offset = offset;
  set_total(++total_);
  return (static_cast<uint64_t>(slot) << kSeqBits) | (seq & kSeqMask);
}

int64_t OffsetTracker::committable(Slot slot) {
  Ring* r = rings_[slot].load(std::memory_order_relaxed);
  assert(r->open);
  const uint64_t before = r->head;
  while (r->head < r->tail) {
    const Entry& e = r->entries[r->head & mask_];
    if ((e.word.load(std::memory_order_acquire) & kCountMask) != 0) break;
    ++r->head;
  }
  if (r->head != before) {
    total_ -= r->head - before;
    set_total(total_);
  }
  if (r->head < r->tail) return r->entries[r->head & mask_].offset;
  return r->last_offset < 0 ? -1 : r->last_offset + 1;
}

size_t OffsetTracker::in_flight(Slot slot) const {
  const Ring* r = rings_[slot].load(std::memory_order_relaxed);
  return r->tail - r->head;
}

OffsetTracker::Entry* OffsetTracker::entry_for(uint64_t token) const {
  const size_t slot = token >> kSeqBits;
  assert(slot < max_partitions_);
  Ring* r = rings_[slot].load(std::memory_order_acquire);
  assert(r && "ack for a slot that was never opened");
  return &r->entries[(token & kSeqMask) & mask_];
}

void OffsetTracker::retain(uint64_t token) {
  Entry* e = entry_for(token);
  const uint64_t tag = tag_of(token & kSeqMask);
  uint64_t w = e->word.load(std::memory_order_relaxed);
  for (;;) {
    if ((w >> kCountBits) != tag) return;  // its partition was revoked
    // The caller holds an uncompleted Ack, so the count cannot be zero.
    assert((w & kCountMask) != 0 && "retain() on a completed record");
    assert((w & kCountMask) != kCountMask && "too many outputs for one record");
    if (e->word.compare_exchange_weak(w, w + 1, std::memory_order_relaxed,
                                      std::memory_order_relaxed))
      return;
  }
}

void OffsetTracker::complete(uint64_t token) {
  Entry* e = entry_for(token);
  const uint64_t tag = tag_of(token & kSeqMask);
  uint64_t w = e->word.load(std::memory_order_relaxed);
  for (;;) {
    if ((w >> kCountBits) != tag) return;  // its partition was revoked
    assert((w & kCountMask) != 0 && "Ack completed more times than it was shared");
    if (e->word.compare_exchange_weak(w, w - 1, std::memory_order_release,
                                      std::memory_order_relaxed))
      return;
  }
}

}  // namespace sluice::core
