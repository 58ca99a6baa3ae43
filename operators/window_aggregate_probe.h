// Metrics of a window_aggregate stage (DESIGN.md §6).
//
// Stage counters, labelled {pipeline, stage}:
//   sluice_window_late_records_total      records that came after all their windows closed
//   sluice_window_closed_total            windows closed (one per key and window)
//   sluice_window_alerts_total            alert records emitted
//   sluice_window_overflow_records_total  records counted under the overflow key (max_keys)
//   sluice_window_open_keys               keys with at least one open window (gauge)
//
// Per-key gauges for the key's last closed window — only for keys in the
// configured allow-list and the top-K keys by record count of the latest
// round of closed windows, so the number of series stays bounded whatever
// the stream holds (a message-derived label is otherwise never allowed):
//   sluice_sentiment_records{pipeline,key,label}   records per label (neutral too)
//   sluice_sentiment_negative_ratio{pipeline,key}  negative records / records
//   sluice_sentiment_negative_ratio_opinionated{pipeline,key}
//                                                  negative / (negative + positive)
//   sluice_sentiment_mean_score{pipeline,key}      mean classifier score
//   sluice_sentiment_alerting{pipeline,key}        1 if the window raised the stage's
//                                                  alert (ClosedWindow::alert), else 0
// A key that leaves the top-K loses its series (they disappear from /metrics
// rather than going stale); allow-listed keys keep theirs.
//
// Threading: the stage's single worker calls everything; the gauges are read
// by the HTTP thread through registry callbacks over atomics.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "operators/window_aggregate_state.h"
#include "src/metrics/registry.h"

namespace sluice::operators {

class WindowProbe {
 public:
  struct KeyGauges {
    std::vector<std::string> allow;  // always exported
    size_t top_k = 0;                // plus the K busiest keys of the latest round
  };

  // `registry` may be null (unit tests): then nothing is exported.
  WindowProbe(metrics::Registry* registry, std::string pipeline, std::string stage, KeyGauges keys);
  ~WindowProbe();  // removes every callback it registered
  WindowProbe(const WindowProbe&) = delete;
  WindowProbe& operator=(const WindowProbe&) = delete;

  void on_late() {
    if (late_) late_->inc();
  }
  void on_alert() {
    if (alerts_) alerts_->inc();
  }
  void on_overflow(uint64_t n) {
    if (overflow_ && n) overflow_->inc(static_cast<double>(n));
  }
  void set_open_keys(size_t n) {
    if (open_keys_) open_keys_->set(static_cast<double>(n));
  }

  // One round of closed windows (same end time, any keys): counts them and
  // refreshes the per-key gauges.
  void on_round(std::span<const ClosedWindow> round);

  // Keys whose gauges are exported now, sorted (for tests and logs).
  std::vector<std::string> exported_keys() const;

 private:
  struct Value {
    std::atomic<double> v{0.0};
    metrics::CallbackId id{};
    bool registered = false;
  };
  struct KeySeries {
    Value negative_ratio, negative_ratio_opinionated, mean_score, alerting;
    std::map<std::string, std::unique_ptr<Value>> per_label;
  };

  void publish(const std::string& key, const ClosedWindow& w);
  void register_value(Value& value, const char* name, const char* help,
                      const metrics::Labels& labels);
  void drop(const std::string& key);

  metrics::Registry* registry_;
  std::string pipeline_, stage_;
  std::set<std::string, std::less<>> allow_;
  size_t top_k_;
  metrics::Counter* late_ = nullptr;
  metrics::Counter* closed_ = nullptr;
  metrics::Counter* alerts_ = nullptr;
  metrics::Counter* overflow_ = nullptr;
  metrics::Gauge* open_keys_ = nullptr;
  std::map<std::string, std::unique_ptr<KeySeries>, std::less<>> exported_;
  bool warned_ = false;
};

}  // namespace sluice::operators
