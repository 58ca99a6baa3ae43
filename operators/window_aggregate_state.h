// Event-time windows over classified records: the state machine behind the
// window_aggregate operator, kept free of queues and metrics so that its
// semantics can be tested exactly, record by record.
//
// Windows. Tumbling windows of `size` are hopping windows whose `advance`
// equals `size`. A record with event time t (ms) belongs to every window
// [s, s + size) with s a multiple of `advance` and s <= t < s + size.
//
// Event time and lateness. Stream time is the largest event time seen so far
// by this aggregator (over all its keys). The window_aggregate operator keeps
// one aggregator per input partition, so event time advances per partition
// (as Kafka Streams' stream time per task, and Flink's watermark: a window
// sees one partition, so the minimum over its partitions is that one's). A window
// [s, e) closes as soon as stream time reaches e + allowed_lateness; it is
// then reported once and forgotten. A record is counted in each of its
// windows that is still open; a record whose windows have all closed is
// "late": it is not counted anywhere.
//
// Idle streams. When no record arrives for `idle_timeout` (processing time),
// stream time advances with processing time from the last arrival, so the
// last windows close a little after they would have had the stream gone on
// (event time assumed to move at wall-clock speed). 0 disables this.
//
// Keys. A record's key is its `group` (decoded by the source); records
// without one go to `missing_key`, or are not aggregated when that is empty.
// At most `max_keys` keys hold open windows; records of further keys are
// counted under `overflow_key`, so memory stays bounded whatever the stream.
//
// Threading: single-threaded (one operator worker owns it).
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "src/core/clock.h"

namespace sluice::operators {

struct WindowConfig {
  int64_t size_ms = 60'000;
  int64_t advance_ms = 60'000;  // == size_ms: tumbling
  int64_t allowed_lateness_ms = 0;
  std::chrono::nanoseconds idle_timeout{0};  // 0: windows close on event time only
  std::string missing_key = "unknown";       // "" : records without a key are not aggregated
  std::string negative_label = "negative";
  // With negative_label, the polar labels: records with either are the
  // "opinionated" ones (a neutral or below-min_score label is neither).
  std::string positive_label = "positive";
  size_t max_keys = 10'000;
  std::string overflow_key = "__other__";
};

// Why a window closed.
enum class WindowTrigger { kEventTime, kIdle, kEndOfInput };
std::string_view trigger_name(WindowTrigger t);

struct LabelCount {
  std::string label;
  uint64_t count = 0;
};

// One closed window of one key (also an open window's contents, for state).
struct ClosedWindow {
  std::string key;
  int32_t partition = -1;  // input partition whose records it counts (set by the operator)
  int64_t start_ms = 0;
  int64_t end_ms = 0;  // exclusive
  uint64_t count = 0;
  uint64_t negative = 0;  // records labelled negative_label
  uint64_t positive = 0;  // records labelled positive_label
  double score_sum = 0;
  std::vector<LabelCount> labels;  // non-zero counts, sorted by label name
  WindowTrigger trigger = WindowTrigger::kEventTime;
  bool alert = false;  // set by the operator when its alert rule fired on this window

  double mean_score() const { return count ? score_sum / static_cast<double>(count) : 0.0; }
  // Records with a polar label (negative or positive).
  uint64_t opinionated() const { return negative + positive; }
  // Negative records over all records.
  double negative_ratio() const {
    return count ? static_cast<double>(negative) / static_cast<double>(count) : 0.0;
  }
  // Negative records over the opinionated ones (0 when there are none):
  // unlike negative_ratio, it does not fall when neutral chatter rises.
  double negative_ratio_opinionated() const {
    return opinionated() ? static_cast<double>(negative) / static_cast<double>(opinionated()) : 0.0;
  }
};

// What add() did with a record.
enum class Admission {
  kCounted,     // counted in at least one open window
  kLate,        // every window of the record had closed: not counted
  kUnkeyed,     // no key and no missing_key: not aggregated
  kUnlabelled,  // no label (not a classification result): not aggregated
};

class WindowAggregator {
 public:
  // Throws std::invalid_argument for sizes that make no sense (named in the message).
  explicit WindowAggregator(WindowConfig config);

  // Closes every window that the record's event time made due (appended to
  // `closed`, ordered by end time, then key), then counts the record. `now`
  // is the processing time of the arrival (for idle closing).
  Admission add(std::string_view key, std::string_view label, double score, int64_t event_ms,
                core::TimePoint now, std::vector<ClosedWindow>& closed);

  // Processing-time closing: if the stream has been idle for idle_timeout,
  // advances stream time with the time elapsed since the last arrival and
  // closes what became due (trigger kIdle). Cheap when nothing is due.
  void on_idle(core::TimePoint now, std::vector<ClosedWindow>& closed);
  // The stream time on_idle(now) would move to; stream_time_ms() when it
  // would not move (not idle long enough, nothing open, or idling disabled).
  int64_t idle_stream_time(core::TimePoint now) const;
  // Moves stream time forward to `stream_time` (never back) and closes what
  // became due with `trigger`.
  void advance_to(int64_t stream_time, WindowTrigger trigger, std::vector<ClosedWindow>& closed);

  // State (window_aggregate's changelog). The open windows of `key` as
  // ClosedWindow values (trigger unused), ascending start; appended to `out`.
  void key_windows(std::string_view key, std::vector<ClosedWindow>& out) const;
  // The key the last add() counted its record under (after missing_key and
  // overflow); empty when it counted nothing. Valid until the next call.
  std::string_view last_key() const { return last_key_; }
  // Restores one open window (as key_windows() gave it). Windows already due
  // stay open until the next add()/advance_to() closes them. A window of a
  // start already open for the key is ignored.
  void restore_window(const ClosedWindow& w);
  // Restores stream time (never back) and the idle reference (`now`).
  void restore_stream_time(int64_t stream_time, core::TimePoint now);

  // Closes every open window (trigger kEndOfInput), e.g. at shutdown.
  void close_all(std::vector<ClosedWindow>& closed);

  // When on_idle() would next close something; TimePoint::max() if never.
  core::TimePoint next_deadline() const;

  size_t open_keys() const { return keys_.size(); }
  size_t open_windows() const { return open_windows_; }
  // Records counted under overflow_key because max_keys keys were open.
  uint64_t overflowed() const { return overflowed_; }
  // INT64_MIN before the first record.
  int64_t stream_time_ms() const { return stream_time_; }
  const WindowConfig& config() const { return config_; }

 private:
  struct Acc {
    int64_t start = 0;
    uint64_t count = 0;
    double score_sum = 0;
    std::vector<uint64_t> per_label;  // indexed by label id
  };
  struct KeyState {
    std::deque<Acc> windows;  // open windows, ascending start
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using KeyMap = std::unordered_map<std::string, KeyState, Hash, std::equal_to<>>;
  using KeyEntry = KeyMap::value_type;

  uint32_t label_id(std::string_view label);
  KeyEntry* key_entry(std::string_view key);
  void count_in(KeyEntry& entry, int64_t start, uint32_t label, double score);
  void close_due(WindowTrigger trigger, std::vector<ClosedWindow>& closed);
  void close_round(int64_t end, std::vector<KeyEntry*>& entries, WindowTrigger trigger,
                   std::vector<ClosedWindow>& closed);
  bool is_closed(int64_t start) const;

  WindowConfig config_;
  KeyMap keys_;
  std::vector<std::string> labels_;  // label id → name (few: a model's id2label)
  uint32_t negative_id_ = 0;
  uint32_t positive_id_ = 0;
  // Window end → keys with an open window ending there. Each open window has
  // exactly one entry, so a key's entry pointer is valid while it is listed.
  std::map<int64_t, std::vector<KeyEntry*>> schedule_;
  size_t open_windows_ = 0;
  uint64_t overflowed_ = 0;
  std::string_view last_key_;
  int64_t stream_time_ = INT64_MIN;
  int64_t stream_time_at_input_ = INT64_MIN;  // stream time when the last record arrived
  core::TimePoint last_input_{};
};

}  // namespace sluice::operators
