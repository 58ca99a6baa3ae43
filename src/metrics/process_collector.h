// Standard process metrics (the names Prometheus' own clients use, so existing
// dashboards work): process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_start_time_seconds, process_open_fds,
// process_max_fds. Linux only: values come from /proc/self at scrape time.
#pragma once
#include <optional>

#include "src/metrics/registry.h"

namespace sluice::metrics {

// What /proc says about this process right now.
struct ProcessStats {
  double cpu_seconds = 0;  // user + system
  double resident_memory_bytes = 0;
  double virtual_memory_bytes = 0;
  double start_time_seconds = 0;  // Unix time
};
// Reads /proc/self/stat and /proc/stat; std::nullopt if they cannot be read or parsed.
std::optional<ProcessStats> read_process_stats();

// Registers the metrics above as scrape-time callbacks that capture nothing, so they
// stay valid for the registry's lifetime. A read failure at scrape time renders NaN.
// Throws std::runtime_error if /proc cannot be read now, std::invalid_argument if the
// metrics are already registered.
void register_process_metrics(Registry& registry);

}  // namespace sluice::metrics
