#include "operators/window_aggregate_probe.h"

#include <algorithm>
#include <stdexcept>

#include "src/core/log.h"

namespace sluice::operators {

WindowProbe::WindowProbe(metrics::Registry* registry, std::string pipeline, std::string stage,
                         KeyGauges keys)
    : registry_(registry),
      pipeline_(std::move(pipeline)),
      stage_(std::move(stage)),
      allow_(keys.allow.begin(), keys.allow.end()),
      top_k_(keys.top_k) {
  if (!registry_) return;
  metrics::Labels l{{"pipeline", pipeline_}, {"stage", stage_}};
  late_ = &registry_->counter(
      "sluice_window_late_records_total",
      "Records that arrived after every window they belong to had closed (not counted).", l);
  closed_ = &registry_->counter("sluice_window_closed_total",
                                "Windows closed (one per key and window).", l);
  alerts_ = &registry_->counter("sluice_window_alerts_total",
                                "Alert records emitted by window rules.", l);
  overflow_ = &registry_->counter(
      "sluice_window_overflow_records_total",
      "Records counted under the overflow key because max_keys keys were open.", l);
  open_keys_ =
      &registry_->gauge("sluice_window_open_keys", "Keys with at least one open window.", l);
}

WindowProbe::~WindowProbe() {
  while (!exported_.empty()) drop(exported_.begin()->first);
}

void WindowProbe::on_round(std::span<const ClosedWindow> round) {
  if (closed_) closed_->inc(static_cast<double>(round.size()));
  if (!registry_ || (allow_.empty() && top_k_ == 0)) return;

  std::vector<const ClosedWindow*> top;
  if (top_k_ > 0) {
    for (const ClosedWindow& w : round)
      if (!allow_.contains(w.key)) top.push_back(&w);
    auto busier = [](const ClosedWindow* a, const ClosedWindow* b) {
      return a->count != b->count ? a->count > b->count : a->key < b->key;
    };
    size_t k = std::min(top_k_, top.size());
    std::partial_sort(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(k), top.end(), busier);
    top.resize(k);
  }
  // Keys that were top-K and are not any more lose their series.
  std::vector<std::string> gone;
  for (const auto& entry : exported_) {
    const std::string& key = entry.first;
    if (allow_.contains(key)) continue;
    bool still =
        std::any_of(top.begin(), top.end(), [&](const ClosedWindow* w) { return w->key == key; });
    if (!still) gone.push_back(key);
  }
  for (const auto& key : gone) drop(key);
  for (const ClosedWindow* w : top) publish(w->key, *w);
  for (const ClosedWindow& w : round)
    if (allow_.contains(w.key)) publish(w.key, w);
}

void WindowProbe::publish(const std::string& key, const ClosedWindow& w) {
  auto it = exported_.find(key);
  if (it == exported_.end()) {
    it = exported_.emplace(key, std::make_unique<KeySeries>()).first;
    KeySeries& s = *it->second;
    register_value(s.negative_ratio, "sluice_sentiment_negative_ratio",
                   "Share of records labelled negative in the key's last closed window.",
                   {{"pipeline", pipeline_}, {"key", key}});
    register_value(s.negative_ratio_opinionated, "sluice_sentiment_negative_ratio_opinionated",
                   "Share of negative records among the negative and positive ones in the key's "
                   "last closed window (0 when there are none).",
                   {{"pipeline", pipeline_}, {"key", key}});
    register_value(s.mean_score, "sluice_sentiment_mean_score",
                   "Mean classifier score in the key's last closed window.",
                   {{"pipeline", pipeline_}, {"key", key}});
    register_value(s.alerting, "sluice_sentiment_alerting",
                   "1 if the key's last closed window raised the window stage's alert, else 0.",
                   {{"pipeline", pipeline_}, {"key", key}});
  }
  KeySeries& s = *it->second;
  s.negative_ratio.v.store(w.negative_ratio(), std::memory_order_relaxed);
  s.negative_ratio_opinionated.v.store(w.negative_ratio_opinionated(), std::memory_order_relaxed);
  s.mean_score.v.store(w.mean_score(), std::memory_order_relaxed);
  s.alerting.v.store(w.alert ? 1.0 : 0.0, std::memory_order_relaxed);
  for (auto& [label, value] : s.per_label)
    value->v.store(0.0, std::memory_order_relaxed);  // absent this window
  for (const LabelCount& lc : w.labels) {
    auto& slot = s.per_label[lc.label];
    if (!slot) {
      slot = std::make_unique<Value>();
      register_value(*slot, "sluice_sentiment_records",
                     "Records per label in the key's last closed window.",
                     {{"pipeline", pipeline_}, {"key", key}, {"label", lc.label}});
    }
    slot->v.store(static_cast<double>(lc.count), std::memory_order_relaxed);
  }
}

void WindowProbe::register_value(Value& value, const char* name, const char* help,
                                 const metrics::Labels& labels) {
  std::atomic<double>* v = &value.v;
  try {
    value.id = registry_->gauge_callback(name, help, labels,
                                         [v] { return v->load(std::memory_order_relaxed); });
    value.registered = true;
  } catch (const std::invalid_argument& e) {
    // Another stage exports the same series, or the key is not a valid label
    // value (e.g. invalid UTF-8): the window still works, the gauge is skipped.
    if (!warned_) core::log_warn("window stage '", stage_, "': gauge not exported: ", e.what());
    warned_ = true;
  }
}

void WindowProbe::drop(const std::string& key) {
  auto it = exported_.find(key);
  if (it == exported_.end()) return;
  KeySeries& s = *it->second;
  auto remove = [this](Value& v) {
    if (v.registered) registry_->remove_callback(v.id);
  };
  remove(s.negative_ratio);
  remove(s.negative_ratio_opinionated);
  remove(s.mean_score);
  remove(s.alerting);
  for (auto& [label, value] : s.per_label) remove(*value);
  exported_.erase(it);
}

std::vector<std::string> WindowProbe::exported_keys() const {
  std::vector<std::string> out;
  for (const auto& [key, s] : exported_) out.push_back(key);
  return out;
}

}  // namespace sluice::operators
