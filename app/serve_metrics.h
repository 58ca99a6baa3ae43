// The observability side of `sluice run`: the metric registry, the HTTP
// endpoint (/metrics, /healthz, /readyz) and one StageProbe per pipeline
// stage, wired from the pipeline file's `metrics:` section.
//
// Probes (Kubernetes: liveness /healthz, readiness /readyz), each body saying why:
//   before attach()  /healthz 200 "ok: starting"; /readyz 503 "starting: building the
//                    pipeline (loading the model)": the endpoint serves while a big
//                    model loads, so a liveness probe does not restart the pod for it.
//   after attach()   /healthz 503 while Pipeline::stalled() names a stalled stage
//                    (runtime.stall_timeout), else 200 "ok"; /readyz 200 "ready" only
//                    while Pipeline::not_ready() is empty: started, not draining, and
//                    the source ready (Kafka: assignment received, brokers reachable).
#pragma once
#include <atomic>
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
  // Binds the endpoint (if enabled) and serves from now on, before the pipeline
  // exists. Throws naming address:port on failure.
  void start();
  // Adds per-stage probes; /healthz and /readyz follow `pipeline` from now on.
  // `pipeline` must outlive this service's stop().
  void attach(core::Pipeline& pipeline);
  void stop();  // idempotent: stops the server, then removes the probes
  uint16_t port() const;

 private:
  metrics::Registry registry_;
  bool enabled_ = true;
  metrics::HttpServerOptions http_options_;
  std::unique_ptr<metrics::HttpServer> server_;
  std::atomic<core::Pipeline*> pipeline_{nullptr};  // read by the server's thread
  std::vector<metrics::StageProbe> probes_;
};

// Parses "host:port", "[v6]:port" or ":port"; throws std::invalid_argument
// naming metrics.listen on anything else.
metrics::HttpServerOptions parse_listen(const std::string& listen);

}  // namespace sluice::app
