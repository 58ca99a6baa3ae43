#include "src/core/topics.h"

#include <array>
#include <atomic>
#include <cassert>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace sluice::core {
namespace {

// Names are stored in a deque (stable addresses); readers index a fixed array of
// pointers published with release semantics, so topic_name() needs no lock.
constexpr size_t kMaxTopics = 1 << 16;

struct Table {
  std::mutex mu;
  std::deque<std::string> names;
  std::unordered_map<std::string_view, TopicId> ids;
  std::array<std::atomic<const std::string*>, kMaxTopics> by_id{};
};

Table& table() {
  static Table* t = new Table();  // never destroyed: names outlive every record
  return *t;
}

}  // namespace

TopicId intern_topic(std::string_view name) {
  Table& t = table();
  std::lock_guard lock(t.mu);
  if (auto it = t.ids.find(name); it != t.ids.end()) return it->second;
  if (t.names.size() >= kMaxTopics) throw std::runtime_error("too many distinct topic names");
  const std::string& stored = t.names.emplace_back(name);
  auto id = static_cast<TopicId>(t.names.size() - 1);
  t.ids.emplace(stored, id);
  t.by_id[static_cast<size_t>(id)].store(&stored, std::memory_order_release);
  return id;
}

std::string_view topic_name(TopicId id) {
  if (id < 0 || static_cast<size_t>(id) >= kMaxTopics) return {};
  const std::string* s = table().by_id[static_cast<size_t>(id)].load(std::memory_order_acquire);
  return s ? std::string_view(*s) : std::string_view();
}

}  // namespace sluice::core
