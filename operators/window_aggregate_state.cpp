#include "operators/window_aggregate_state.h"

#include <algorithm>
#include <cassert>
#include <stdexcept>

namespace sluice::operators {
namespace {

// Floor division (event times before 1970 are unusual but must not break windows).
int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// a + b clamped to the int64 range (stream time starts at INT64_MIN).
int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

}  // namespace

std::string_view trigger_name(WindowTrigger t) {
  switch (t) {
    case WindowTrigger::kEventTime:
      return "event_time";
    case WindowTrigger::kIdle:
      return "idle";
    case WindowTrigger::kEndOfInput:
      return "end_of_input";
  }
  return "?";
}

WindowAggregator::WindowAggregator(WindowConfig config) : config_(std::move(config)) {
  if (config_.size_ms <= 0) throw std::invalid_argument("size: must be at least 1ms");
  if (config_.advance_ms <= 0) throw std::invalid_argument("advance: must be at least 1ms");
  if (config_.advance_ms > config_.size_ms)
    throw std::invalid_argument("advance: must not exceed size (windows would leave gaps)");
  if (config_.allowed_lateness_ms < 0)
    throw std::invalid_argument("allowed_lateness: must not be negative");
  if (config_.max_keys == 0) throw std::invalid_argument("max_keys: must be at least 1");
  if (config_.overflow_key.empty()) throw std::invalid_argument("overflow_key: must not be empty");
  if (config_.positive_label == config_.negative_label)
    throw std::invalid_argument("positive_label: must differ from negative_label");
  negative_id_ = label_id(config_.negative_label);
  positive_id_ = label_id(config_.positive_label);
}

uint32_t WindowAggregator::label_id(std::string_view label) {
  for (uint32_t i = 0; i < labels_.size(); ++i)
    if (labels_[i] == label) return i;
  labels_.emplace_back(label);
  return static_cast<uint32_t>(labels_.size() - 1);
}

WindowAggregator::KeyEntry* WindowAggregator::key_entry(std::string_view key) {
  auto it = keys_.find(key);
  if (it != keys_.end()) return &*it;
  if (keys_.size() >= config_.max_keys) {
    ++overflowed_;
    it = keys_.find(std::string_view(config_.overflow_key));
    if (it != keys_.end()) return &*it;
    key = config_.overflow_key;  // may hold max_keys + 1 keys: the overflow one
  }
  return &*keys_.try_emplace(std::string(key)).first;
}

bool WindowAggregator::is_closed(int64_t start) const {
  // Closed (or never to be opened) once stream time reached end + lateness.
  return sat_add(sat_add(start, config_.size_ms), config_.allowed_lateness_ms) <= stream_time_;
}

void WindowAggregator::count_in(KeyEntry& entry, int64_t start, uint32_t label, double score) {
  std::deque<Acc>& ws = entry.second.windows;
  // Few windows per key (size/advance plus lateness): search from the newest.
  auto it = ws.end();
  while (it != ws.begin() && std::prev(it)->start > start) --it;
  Acc* acc;
  if (it != ws.begin() && std::prev(it)->start == start) {
    acc = &*std::prev(it);
  } else {
    acc = &*ws.insert(it, Acc{start, 0, 0.0, {}});
    schedule_[start + config_.size_ms].push_back(&entry);
    ++open_windows_;
  }
  acc->count += 1;
  acc->score_sum += score;
  if (acc->per_label.size() <= label) acc->per_label.resize(labels_.size(), 0);
  acc->per_label[label] += 1;
}

Admission WindowAggregator::add(std::string_view key, std::string_view label, double score,
                                int64_t event_ms, core::TimePoint now,
                                std::vector<ClosedWindow>& closed) {
  last_input_ = now;
  last_key_ = {};
  if (event_ms > stream_time_) stream_time_ = event_ms;
  stream_time_at_input_ = stream_time_;
  // Close first: the record's own open windows cannot be due (it would be
  // late), and closed windows free their keys for it.
  close_due(WindowTrigger::kEventTime, closed);

  Admission result;
  if (label.empty()) {
    result = Admission::kUnlabelled;
  } else if (key.empty() && config_.missing_key.empty()) {
    result = Admission::kUnkeyed;
  } else {
    if (key.empty()) key = config_.missing_key;
    // Newest window containing event_ms, then older ones while they still contain it.
    const int64_t last_start = floor_div(event_ms, config_.advance_ms) * config_.advance_ms;
    KeyEntry* entry = nullptr;
    uint32_t lid = 0;
    result = Admission::kLate;
    for (int64_t s = last_start; s > event_ms - config_.size_ms; s -= config_.advance_ms) {
      if (is_closed(s)) break;  // older windows close earlier: they are closed too
      if (!entry) {
        entry = key_entry(key);
        lid = label_id(label);
      }
      count_in(*entry, s, lid, score);
      result = Admission::kCounted;
    }
    if (entry) last_key_ = entry->first;
  }
  return result;
}

int64_t WindowAggregator::idle_stream_time(core::TimePoint now) const {
  if (schedule_.empty() || config_.idle_timeout.count() <= 0) return stream_time_;
  auto idle = now - last_input_;
  if (idle < config_.idle_timeout) return stream_time_;
  int64_t idle_ms = std::chrono::duration_cast<std::chrono::milliseconds>(idle).count();
  return std::max(stream_time_, sat_add(stream_time_at_input_, idle_ms));
}

void WindowAggregator::advance_to(int64_t stream_time, WindowTrigger trigger,
                                  std::vector<ClosedWindow>& closed) {
  stream_time_ = std::max(stream_time_, stream_time);
  close_due(trigger, closed);
}

void WindowAggregator::key_windows(std::string_view key, std::vector<ClosedWindow>& out) const {
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  for (const Acc& acc : it->second.windows) {
    ClosedWindow w;
    w.key = it->first;
    w.start_ms = acc.start;
    w.end_ms = acc.start + config_.size_ms;
    w.count = acc.count;
    w.score_sum = acc.score_sum;
    w.negative = negative_id_ < acc.per_label.size() ? acc.per_label[negative_id_] : 0;
    for (uint32_t id = 0; id < acc.per_label.size(); ++id)
      if (acc.per_label[id] > 0) w.labels.push_back({labels_[id], acc.per_label[id]});
    out.push_back(std::move(w));
  }
}

void WindowAggregator::restore_window(const ClosedWindow& w) {
  KeyEntry& entry = *keys_.try_emplace(w.key).first;
  std::deque<Acc>& ws = entry.second.windows;
  auto it = ws.begin();
  while (it != ws.end() && it->start < w.start_ms) ++it;
  if (it != ws.end() && it->start == w.start_ms) return;
  Acc acc{w.start_ms, w.count, w.score_sum, {}};
  for (const LabelCount& l : w.labels) {
    uint32_t id = label_id(l.label);
    if (acc.per_label.size() <= id) acc.per_label.resize(id + 1, 0);
    acc.per_label[id] += l.count;
  }
  ws.insert(it, std::move(acc));
  schedule_[w.start_ms + config_.size_ms].push_back(&entry);
  ++open_windows_;
}

void WindowAggregator::restore_stream_time(int64_t stream_time, core::TimePoint now) {
  stream_time_ = std::max(stream_time_, stream_time);
  stream_time_at_input_ = stream_time_;
  last_input_ = now;
}

void WindowAggregator::on_idle(core::TimePoint now, std::vector<ClosedWindow>& closed) {
  if (schedule_.empty() || config_.idle_timeout.count() <= 0 ||
      now - last_input_ < config_.idle_timeout)
    return;
  advance_to(idle_stream_time(now), WindowTrigger::kIdle, closed);
}

core::TimePoint WindowAggregator::next_deadline() const {
  if (schedule_.empty() || config_.idle_timeout.count() <= 0) return core::TimePoint::max();
  // Stream time reaches the next close at last_input + (due - stream time then).
  int64_t due = sat_add(schedule_.begin()->first, config_.allowed_lateness_ms);
  int64_t wait_ms = std::max<int64_t>(0, due - stream_time_at_input_);
  auto wait =
      std::max<std::chrono::nanoseconds>(config_.idle_timeout, std::chrono::milliseconds(wait_ms));
  // Round up to whole ms: on_idle() measures elapsed time in whole ms.
  return last_input_ + wait + std::chrono::microseconds(999);
}

void WindowAggregator::close_due(WindowTrigger trigger, std::vector<ClosedWindow>& closed) {
  while (!schedule_.empty() &&
         sat_add(schedule_.begin()->first, config_.allowed_lateness_ms) <= stream_time_) {
    auto node = schedule_.extract(schedule_.begin());
    close_round(node.key(), node.mapped(), trigger, closed);
  }
}

void WindowAggregator::close_all(std::vector<ClosedWindow>& closed) {
  while (!schedule_.empty()) {
    auto node = schedule_.extract(schedule_.begin());
    close_round(node.key(), node.mapped(), WindowTrigger::kEndOfInput, closed);
  }
}

void WindowAggregator::close_round(int64_t end, std::vector<KeyEntry*>& entries,
                                   WindowTrigger trigger, std::vector<ClosedWindow>& closed) {
  std::sort(entries.begin(), entries.end(),
            [](const KeyEntry* a, const KeyEntry* b) { return a->first < b->first; });
  // Label names sorted once per round; per_label is indexed by id.
  std::vector<uint32_t> by_name(labels_.size());
  for (uint32_t i = 0; i < by_name.size(); ++i) by_name[i] = i;
  std::sort(by_name.begin(), by_name.end(),
            [&](uint32_t a, uint32_t b) { return labels_[a] < labels_[b]; });

  for (KeyEntry* e : entries) {
    std::deque<Acc>& ws = e->second.windows;
    assert(!ws.empty() && ws.front().start + config_.size_ms == end);
    Acc& acc = ws.front();
    ClosedWindow w;
    w.key = e->first;
    w.start_ms = acc.start;
    w.end_ms = end;
    w.count = acc.count;
    w.score_sum = acc.score_sum;
    w.negative = negative_id_ < acc.per_label.size() ? acc.per_label[negative_id_] : 0;
    w.positive = positive_id_ < acc.per_label.size() ? acc.per_label[positive_id_] : 0;
    w.trigger = trigger;
    for (uint32_t id : by_name) {
      if (id < acc.per_label.size() && acc.per_label[id] > 0)
        w.labels.push_back({labels_[id], acc.per_label[id]});
    }
    closed.push_back(std::move(w));
    ws.pop_front();
    --open_windows_;
    if (ws.empty()) keys_.erase(keys_.find(e->first));  // its last schedule entry was this one
  }
}

}  // namespace sluice::operators
