#include "src/metrics/stage_probe.h"

#include <string>
#include <utility>

namespace sluice::metrics {

StageProbe::StageProbe(Registry& registry, std::string_view pipeline, std::string_view stage,
                       StageReaders readers, const Labels& extra_labels)
    : registry_(&registry) {
  Labels labels{{"pipeline", std::string(pipeline)}, {"stage", std::string(stage)}};
  labels.insert(labels.end(), extra_labels.begin(), extra_labels.end());

  struct Entry {
    bool counter;
    const char* name;
    const char* help;
    std::function<double()>* reader;
  };
  const Entry entries[] = {
      {true, "sluice_stage_items_in_total", "Items the stage took from its input.",
       &readers.items_in},
      {true, "sluice_stage_items_out_total", "Items the stage emitted downstream.",
       &readers.items_out},
      {true, "sluice_stage_dead_letters_total", "Items the stage routed to dead letters.",
       &readers.dead_letters},
      {true, "sluice_stage_errors_total", "Errors the stage hit.", &readers.errors},
      {true, "sluice_stage_busy_seconds_total", "Seconds the stage spent working (not parked).",
       &readers.busy_seconds},
      {false, "sluice_stage_queue_depth", "Items waiting in the stage's input queue.",
       &readers.queue_depth},
      {false, "sluice_stage_queue_capacity", "Capacity of the stage's input queue in items.",
       &readers.queue_capacity},
  };
  try {
    for (const auto& e : entries) {
      if (!*e.reader) continue;
      ids_.push_back(e.counter
                         ? registry.counter_callback(e.name, e.help, labels, std::move(*e.reader))
                         : registry.gauge_callback(e.name, e.help, labels, std::move(*e.reader)));
    }
  } catch (...) {
    remove_all();
    throw;
  }
}

StageProbe::StageProbe(StageProbe&& other) noexcept
    : registry_(other.registry_), ids_(std::move(other.ids_)) {
  other.ids_.clear();
}

StageProbe::~StageProbe() { remove_all(); }

void StageProbe::remove_all() noexcept {
  for (const auto id : ids_) registry_->remove_callback(id);
  ids_.clear();
}

}  // namespace sluice::metrics
