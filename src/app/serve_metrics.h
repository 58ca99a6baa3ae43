// The observability side of `sluice run`: the metric registry, the HTTP
// endpoint (/metrics, /healthz, /readyz) and one StageProbe per pipeline
// stage, wired from the pipeline file's `metrics:` section.
#pragma once
#include <memory>
#include <vector>

#include "src/config/section.h"
#include "src/core/pipeline.h"
#include "src/metrics/http_server.h"
#include "src/metrics/registry.h"
#include "src/metrics/stage_probe.h"

namespace sluice::app {

class MetricsService {
 public:
  // Registers build and process metrics. Throws std::invalid_argument for a
  // malformed metrics.listen.
  explicit MetricsService(const config::Section& root);
  ~MetricsService();

  metrics::Registry* registry() { return &registry_; }
  // Adds per-stage probes and health/readiness wiring for `pipeline`, which
  // must outlive this service's stop().
  void attach(core::Pipeline& pipeline);
  void start();  // binds the endpoint (if enabled); throws naming address:port on failure
  void stop();   // idempotent: removes probes, stops the server
  void set_ready(bool ready);
  uint16_t port() const;

 private:
  metrics::Registry registry_;
  bool enabled_ = true;
  metrics::HttpServerOptions http_options_;
  std::unique_ptr<metrics::HttpServer> server_;
  std::vector<metrics::StageProbe> probes_;
};

// Parses "host:port", "[v6]:port" or ":port"; throws std::invalid_argument
// naming metrics.listen on anything else.
metrics::HttpServerOptions parse_listen(const std::string& listen);

}  // namespace sluice::app
