// InMemoryKeyedState: KeyedState in a hash map, at most `capacity` keys,
// the least recently used key evicted first. Nothing survives a restart.
//
// Memory: one node per key (the key's bytes, the value, two list links);
// the value bounds its own size. Inserting a new key allocates; finding,
// changing and evicting do not allocate once the store is full (an evicted
// node is reused for the newcomer).
#pragma once
#include <algorithm>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "src/state/keyed_state.h"

namespace sluice::state {

template <class Value>
class InMemoryKeyedState final : public KeyedState<Value> {
 public:
  explicit InMemoryKeyedState(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {
    index_.reserve(std::min<size_t>(capacity_, 1 << 16));
  }

  Value* find(std::string_view key) override {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    touch(it->second);
    return &it->second->value;
  }

  Value& find_or_insert(std::string_view key, bool* created = nullptr) override {
    auto it = index_.find(key);
    if (it != index_.end()) {
      touch(it->second);
      if (created) *created = false;
      return it->second->value;
    }
    if (created) *created = true;
    if (entries_.size() >= capacity_) {
      // Reuse the least recently used node for the newcomer.
      auto victim = std::prev(entries_.end());
      index_.erase(std::string_view(victim->key));
      ++evictions_;
      victim->key.assign(key);
      victim->value = Value{};
      entries_.splice(entries_.begin(), entries_, victim);
    } else {
      entries_.emplace_front(Entry{std::string(key), Value{}});
    }
    index_.emplace(std::string_view(entries_.front().key), entries_.begin());
    return entries_.front().value;
  }

  void changed(std::string_view, const Value&, const InputPosition&) override {}

  // The value under `key`, or nullptr, without counting as a use.
  const Value* peek(std::string_view key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &it->second->value;
  }
  // The key find_or_insert() of a new key would evict now (the least
  // recently used); empty when the store is empty. Valid until the next call
  // that may insert or erase.
  std::string_view least_recent() const {
    return entries_.empty() ? std::string_view() : std::string_view(entries_.back().key);
  }
  // Removes the key (not counted as an eviction); false when absent.
  bool erase(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    auto entry = it->second;
    index_.erase(it);
    entries_.erase(entry);
    return true;
  }

  size_t size() const override { return entries_.size(); }
  size_t capacity() const override { return capacity_; }
  uint64_t evictions() const override { return evictions_; }

 private:
  struct Entry {
    std::string key;
    Value value;
  };
  using List = std::list<Entry>;  // most recently used first

  void touch(typename List::iterator e) {
    if (e != entries_.begin()) entries_.splice(entries_.begin(), entries_, e);
  }

  size_t capacity_;
  uint64_t evictions_ = 0;
  List entries_;
  // Keys are views of the nodes' own strings (list nodes never move).
  std::unordered_map<std::string_view, typename List::iterator> index_;
};

}  // namespace sluice::state
