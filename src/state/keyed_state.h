// Keyed state: per-key values an operator keeps between records (DESIGN.md
// §2, "State"), e.g. each user's recent items.
//
// This is the small interface operators program against. InMemoryKeyedState
// is the only implementation so far: bounded, least recently used keys
// evicted first, lost on restart. The durable store of issue 13 backs the
// same interface with a compacted changelog topic: it restores the values of
// a partition before the partition is processed and writes each value that
// changed() reports, with the input position that changed it, so that a
// re-delivered record changes nothing.
//
// State is partitioned like the input: one store per operator worker, and a
// key's records always reach the same worker (records are routed by input
// partition, and producers key events by user). Single-threaded: only the
// owning worker calls a store.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice::state {

// Where in the input a change came from (for a changelog's exactly-once
// bookkeeping; unused in memory).
struct InputPosition {
  int32_t partition = -1;
  int64_t offset = -1;
};

template <class Value>
class KeyedState {
 public:
  virtual ~KeyedState() = default;

  // The value under `key`, or nullptr. Counts as a use (eviction order).
  // The pointer is valid until the next call that may insert.
  virtual Value* find(std::string_view key) = 0;

  // The value under `key`, default-constructed when absent (*created is then
  // true). Inserting into a full store first evicts the least recently used
  // key: its value is gone, as if the key had never been seen. The reference
  // is valid until the next call that may insert.
  virtual Value& find_or_insert(std::string_view key, bool* created = nullptr) = 0;

  // The caller changed the value under `key` (after find_or_insert) while
  // applying the record at `at`. A durable store logs it; memory has nothing to do.
  virtual void changed(std::string_view key, const Value& value, const InputPosition& at) = 0;

  virtual size_t size() const = 0;
  virtual size_t capacity() const = 0;  // most keys held at once
  virtual uint64_t evictions() const = 0;
};

}  // namespace sluice::state
