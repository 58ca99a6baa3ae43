// SpscRing: bounded single-producer/single-consumer lock-free queue.
//
// Power-of-two capacity; head and tail on separate cache lines; each side keeps
// a cached copy of the other side's index and re-reads the shared one only when
// the cache says full/empty, so in steady state neither side touches the other's
// cache line. Items are move-only-friendly (constructed in place, moved out).
//
// Threading: exactly one producer thread calls the push side, exactly one
// consumer thread calls the pop side; size_approx/closed may be called from any
// thread. The blocking push()/pop() spin briefly, then park on a Parker (no CPU
// used while idle). Parkers may be shared with other rings (a stage worker that
// consumes several rings parks on one Parker for all of them): see
// set_consumer_parker / set_producer_parker. When blocking calls are used, every
// push must be followed by notify_consumer() and every pop by notify_producer()
// (the blocking calls and the bulk helpers here do it).
#pragma once
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "src/core/parker.h"

namespace sluice::core {

inline constexpr size_t kCacheLine = 64;

template <typename T>
class SpscRing {
 public:
  // Capacity is rounded up to a power of two (at least 2).
  explicit SpscRing(size_t min_capacity) {
    size_t cap = 2;
    while (cap < min_capacity) cap <<= 1;
    mask_ = cap - 1;
    slots_ = static_cast<Slot*>(::operator new(sizeof(Slot) * cap, kSlotsAlign));
    consumer_parker_ = &own_consumer_parker_;
    producer_parker_ = &own_producer_parker_;
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;
  ~SpscRing() {
    const size_t tail = prod_.tail.load(std::memory_order_acquire);
    for (size_t i = cons_.head.load(std::memory_order_relaxed); i != tail; ++i)
      reinterpret_cast<T*>(&slots_[i & mask_])->~T();
    ::operator delete(slots_, kSlotsAlign);
  }

  size_t capacity() const { return mask_ + 1; }

  // ---- producer side -------------------------------------------------------
  bool try_push(T&& v) { return try_emplace(std::move(v)); }
  bool try_push(const T& v) { return try_emplace(v); }

  template <typename... Args>
  bool try_emplace(Args&&... args) {
    const size_t tail = prod_.tail.load(std::memory_order_relaxed);
    if (tail - prod_.head_cache > mask_) {
      prod_.head_cache = cons_.head.load(std::memory_order_acquire);
      if (tail - prod_.head_cache > mask_) return false;
    }
    new (&slots_[tail & mask_]) T(std::forward<Args>(args)...);
    prod_.tail.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Moves up to n items from `items`; returns how many were taken (a prefix).
  size_t try_push_bulk(T* items, size_t n) {
    const size_t tail = prod_.tail.load(std::memory_order_relaxed);
    size_t free = capacity() - (tail - prod_.head_cache);
    if (free < n) {
      prod_.head_cache = cons_.head.load(std::memory_order_acquire);
      free = capacity() - (tail - prod_.head_cache);
    }
    const size_t k = n < free ? n : free;
    for (size_t i = 0; i < k; ++i) new (&slots_[(tail + i) & mask_]) T(std::move(items[i]));
    if (k) prod_.tail.store(tail + k, std::memory_order_release);
    return k;
  }

  // Blocking push: spins, then parks until there is room. Returns false (and
  // leaves v untouched) if the ring was closed by the consumer.
  bool push(T&& v) {
    for (int spin = 0;; ++spin) {
      if (cancelled()) return false;
      if (try_push(std::move(v))) {
        notify_consumer();
        return true;
      }
      if (spin < kSpins) {
        cpu_relax();
        continue;
      }
      uint32_t ticket = producer_parker_->prepare();
      if (has_room() || cancelled()) {
        producer_parker_->cancel();
        continue;
      }
      producer_parker_->park(ticket);
    }
  }

  // Producer: no more items will come. The consumer drains what is left.
  void close() {
    closed_.store(true, std::memory_order_release);
    consumer_parker_->unpark();
  }

  // ---- consumer side -------------------------------------------------------
  bool try_pop(T& out) {
    const size_t head = cons_.head.load(std::memory_order_relaxed);
    if (head == cons_.tail_cache) {
      cons_.tail_cache = prod_.tail.load(std::memory_order_acquire);
      if (head == cons_.tail_cache) return false;
    }
    T* slot = reinterpret_cast<T*>(&slots_[head & mask_]);
    out = std::move(*slot);
    slot->~T();
    cons_.head.store(head + 1, std::memory_order_release);
    return true;
  }

  // Moves up to max items into out[0..k); returns k.
  size_t try_pop_bulk(T* out, size_t max) {
    const size_t head = cons_.head.load(std::memory_order_relaxed);
    size_t avail = cons_.tail_cache - head;
    if (avail < max) {
      cons_.tail_cache = prod_.tail.load(std::memory_order_acquire);
      avail = cons_.tail_cache - head;
    }
    const size_t k = avail < max ? avail : max;
    for (size_t i = 0; i < k; ++i) {
      T* slot = reinterpret_cast<T*>(&slots_[(head + i) & mask_]);
      out[i] = std::move(*slot);
      slot->~T();
    }
    if (k) cons_.head.store(head + k, std::memory_order_release);
    return k;
  }

  // Blocking pop: spins, then parks until an item arrives. Returns false when
  // the ring is closed (by the producer) and empty, or cancelled.
  bool pop(T& out) {
    for (int spin = 0;; ++spin) {
      if (try_pop(out)) {
        notify_producer();
        return true;
      }
      if (closed_.load(std::memory_order_acquire) || cancelled()) {
        if (try_pop(out)) {  // items pushed before close() are still delivered
          notify_producer();
          return true;
        }
        return false;
      }
      if (spin < kSpins) {
        cpu_relax();
        continue;
      }
      uint32_t ticket = consumer_parker_->prepare();
      if (!empty_approx() || closed_.load(std::memory_order_acquire) || cancelled()) {
        consumer_parker_->cancel();
        continue;
      }
      consumer_parker_->park(ticket);
    }
  }

  // Either side: abandon the ring; blocked push()/pop() return false.
  void cancel() {
    cancelled_.store(true, std::memory_order_release);
    consumer_parker_->unpark();
    producer_parker_->unpark();
  }

  // ---- wake-ups (for callers that use the try_* calls) -----------------------
  void notify_consumer() { consumer_parker_->unpark(); }
  void notify_producer() { producer_parker_->unpark(); }

  // Use external parkers (e.g. one per stage worker shared by all its rings).
  // Call before any thread uses the ring.
  void set_consumer_parker(Parker* p) { consumer_parker_ = p ? p : &own_consumer_parker_; }
  void set_producer_parker(Parker* p) { producer_parker_ = p ? p : &own_producer_parker_; }

  // ---- any thread ----------------------------------------------------------
  size_t size_approx() const {
    const size_t tail = prod_.tail.load(std::memory_order_acquire);
    const size_t head = cons_.head.load(std::memory_order_acquire);
    return tail >= head ? tail - head : 0;
  }
  bool empty_approx() const { return size_approx() == 0; }
  bool has_room() const { return size_approx() < capacity(); }
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  static constexpr int kSpins = 256;
  // The slot array starts on a cache line, so an item of a line's size (or a
  // divisor of it) never straddles two lines: one coherence transfer per
  // line of items, not two.
  static constexpr std::align_val_t kSlotsAlign{alignof(T) > kCacheLine ? alignof(T) : kCacheLine};
  struct alignas(T) Slot {
    unsigned char bytes[sizeof(T)];
  };
  // Consumer-owned line: its index and its cached copy of the producer's.
  struct alignas(kCacheLine) ConsumerSide {
    std::atomic<size_t> head{0};
    size_t tail_cache = 0;
  };
  // Producer-owned line.
  struct alignas(kCacheLine) ProducerSide {
    std::atomic<size_t> tail{0};
    size_t head_cache = 0;
  };

  ConsumerSide cons_;
  ProducerSide prod_;
  alignas(kCacheLine) Slot* slots_ = nullptr;
  size_t mask_ = 0;
  Parker* consumer_parker_ = nullptr;
  Parker* producer_parker_ = nullptr;
  std::atomic<bool> closed_{false};
  std::atomic<bool> cancelled_{false};
  alignas(kCacheLine) Parker own_consumer_parker_;
  alignas(kCacheLine) Parker own_producer_parker_;
};

}  // namespace sluice::core
