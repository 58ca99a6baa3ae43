#include "operators/result_cache.h"

#include <algorithm>
#include <stdexcept>

namespace sluice::operators {
namespace {

constexpr uint64_t kPrime = 0x100000001b3ULL;

uint64_t mix(uint64_t h) {  // splitmix64 finaliser
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

}  // namespace

ResultCache::ResultCache(size_t capacity, size_t values_per_entry, std::string_view revision)
    : capacity_(capacity), values_per_entry_(values_per_entry), seed_(0xcbf29ce484222325ULL) {
  for (unsigned char c : revision) seed_ = (seed_ ^ c) * kPrime;
  map_.reserve(capacity);
}

uint64_t ResultCache::hash(std::span<const int32_t> ids) const {
  uint64_t h = seed_ ^ ids.size();
  size_t i = 0;
  for (; i + 2 <= ids.size(); i += 2) {
    const uint64_t pair =
        static_cast<uint32_t>(ids[i]) | (uint64_t{static_cast<uint32_t>(ids[i + 1])} << 32);
    h = mix(h ^ pair) * kPrime;
  }
  if (i < ids.size()) h = mix(h ^ static_cast<uint32_t>(ids[i])) * kPrime;
  return mix(h);
}

ResultCache::List::iterator ResultCache::lookup(uint64_t h, std::span<const int32_t> ids) {
  auto [begin, end] = map_.equal_range(h);
  for (auto it = begin; it != end; ++it) {
    const Entry& e = *it->second;
    if (e.ids.size() == ids.size() && std::equal(ids.begin(), ids.end(), e.ids.begin()))
      return it->second;
  }
  return lru_.end();
}

std::span<const float> ResultCache::find(std::span<const int32_t> ids) {
  if (!enabled()) return {};
  auto it = lookup(hash(ids), ids);
  if (it == lru_.end()) return {};
  lru_.splice(lru_.begin(), lru_, it);  // most recently used; iterators stay valid
  return it->values;
}

void ResultCache::insert(std::span<const int32_t> ids, std::span<const float> values) {
  if (!enabled()) return;
  if (values.size() != values_per_entry_)
    throw std::invalid_argument("result cache: wrong number of values");
  const uint64_t h = hash(ids);
  if (auto it = lookup(h, ids); it != lru_.end()) {
    std::copy(values.begin(), values.end(), it->values.begin());
    lru_.splice(lru_.begin(), lru_, it);
    return;
  }
  if (map_.size() >= capacity_) {
    // Reuse the least recently used entry's buffers for the new one.
    auto victim = std::prev(lru_.end());
    auto [b, e] = map_.equal_range(victim->hash);
    for (auto m = b; m != e; ++m)
      if (m->second == victim) {
        map_.erase(m);
        break;
      }
    victim->hash = h;
    victim->ids.assign(ids.begin(), ids.end());
    victim->values.assign(values.begin(), values.end());
    lru_.splice(lru_.begin(), lru_, victim);
  } else {
    lru_.push_front(Entry{h, {ids.begin(), ids.end()}, {values.begin(), values.end()}});
  }
  map_.emplace(h, lru_.begin());
}

}  // namespace sluice::operators
