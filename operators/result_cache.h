// ResultCache: a bounded map from a record's token ids to the model outputs
// (logits, and embeddings when requested) computed for them, so that repeated
// texts — retweets, copy-pasted reviews, templated alerts — skip inference.
//
// Keys are the exact token id sequence (a 64-bit hash picks the bucket; the
// stored ids are compared, so a hash collision is never a wrong answer) seeded
// with the model's revision: outputs of one model are never served for
// another. Eviction is least-recently-used. Not thread-safe: each infer
// worker owns one (the state object), and touches it only from its thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice::operators {

class ResultCache {
 public:
  // `capacity` entries (0 disables the cache); each holds `values_per_entry`
  // floats (num_labels + embedding_dim). `revision` identifies the model.
  ResultCache(size_t capacity, size_t values_per_entry, std::string_view revision);

  bool enabled() const { return capacity_ > 0; }
  size_t size() const { return map_.size(); }
  size_t capacity() const { return capacity_; }

  // The cached outputs for `ids`, or an empty span. A hit becomes the most
  // recently used entry. The span stays valid until the next insert().
  std::span<const float> find(std::span<const int32_t> ids);

  // Remembers `values` (values_per_entry floats) for `ids`, evicting the least
  // recently used entry when full. Re-inserting a present key refreshes it.
  void insert(std::span<const int32_t> ids, std::span<const float> values);

  uint64_t hash(std::span<const int32_t> ids) const;

 private:
  struct Entry {
    uint64_t hash;
    std::vector<int32_t> ids;
    std::vector<float> values;
  };
  using List = std::list<Entry>;  // front = most recently used

  List::iterator lookup(uint64_t h, std::span<const int32_t> ids);

  size_t capacity_;
  size_t values_per_entry_;
  uint64_t seed_;
  List lru_;
  std::unordered_multimap<uint64_t, List::iterator> map_;
};

}  // namespace sluice::operators
