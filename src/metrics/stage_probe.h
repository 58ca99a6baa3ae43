// Per-stage metrics for the pipeline runtime, as scrape-time callbacks.
//
// src/core keeps each stage's statistics in plain atomics and must not depend on
// metrics, so the runtime hands this adapter a reader per statistic and the probe
// exposes them, labelled {pipeline, stage}:
//
//   sluice_stage_items_in_total         counter  items the stage took from its input
//   sluice_stage_items_out_total        counter  items it emitted downstream
//   sluice_stage_dead_letters_total     counter  items it routed to the dead-letter sink
//   sluice_stage_errors_total           counter  errors it hit (retried or not)
//   sluice_stage_busy_seconds_total     counter  seconds spent working (not parked)
//   sluice_stage_queue_depth            gauge    items waiting in its input queue
//   sluice_stage_queue_capacity         gauge    capacity of its input queue
//
// Busy fraction over time: rate(sluice_stage_busy_seconds_total[1m]) per thread.
#pragma once
#include <functional>
#include <string_view>
#include <vector>

#include "src/metrics/registry.h"

namespace sluice::metrics {

// Readers run on the HTTP thread at scrape time: they must be thread-safe, cheap and
// must not throw (a relaxed atomic load is ideal). An empty reader means the stage has
// no such statistic (a source has no input queue) and that metric is not registered.
// A parallel stage (tokenize ×N) reports the sum over its workers, or registers one
// probe per worker with an extra label such as {"worker", "3"}.
struct StageReaders {
  std::function<double()> items_in;
  std::function<double()> items_out;
  std::function<double()> dead_letters;
  std::function<double()> errors;
  std::function<double()> busy_seconds;
  std::function<double()> queue_depth;
  std::function<double()> queue_capacity;
};

// Registers the callbacks on construction and removes them on destruction, so the
// probe must be destroyed before whatever its readers point at (declare it after the
// stage's statistics). After the destructor returns no reader runs again.
// Construction throws std::invalid_argument (registry rules) and then registers nothing.
class StageProbe {
 public:
  StageProbe(Registry& registry, std::string_view pipeline, std::string_view stage,
             StageReaders readers, const Labels& extra_labels = {});
  ~StageProbe();
  StageProbe(const StageProbe&) = delete;
  StageProbe& operator=(const StageProbe&) = delete;
  StageProbe(StageProbe&& other) noexcept;
  StageProbe& operator=(StageProbe&&) = delete;

 private:
  void remove_all() noexcept;

  Registry* registry_;
  std::vector<CallbackId> ids_;
};

}  // namespace sluice::metrics
