#include "app/serve_metrics.h"

#include <stdexcept>

#include "kernels/cuda/device_query.h"
#include "operators/pipeline_sections.h"
#include "src/core/log.h"
#include "src/metrics/build_info.h"
#include "src/metrics/process_collector.h"

namespace sluice::app {

metrics::HttpServerOptions parse_listen(const std::string& listen) {
  metrics::HttpServerOptions o;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    throw std::invalid_argument("metrics.listen: expected host:port, got '" + listen + "'");
  std::string host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  // ":PORT" is loopback: serving every interface takes an explicit
  // 0.0.0.0:PORT or [::]:PORT.
  if (host.empty()) host = "127.0.0.1";
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
    throw std::invalid_argument("metrics.listen: port must be 0..65535, got '" + port + "'");
  }
  o.address = host;
  o.port = static_cast<uint16_t>(p);
  return o;
}

MetricsService::MetricsService(const config::Section& root) {
  const operators::MetricsSection m = operators::metrics_section(root);
  enabled_ = m.enabled;
  http_options_ = parse_listen(m.listen);
  metrics::register_build_info(registry_, SLUICE_VERSION, cuda::describe(cuda::query_devices()));
  metrics::register_process_metrics(registry_);
}

MetricsService::~MetricsService() { stop(); }

void MetricsService::attach(core::Pipeline& pipeline) {
  for (size_t i = 0; i < pipeline.stage_count(); ++i) {
    core::Pipeline* p = &pipeline;
    metrics::StageReaders r;
    r.items_in = [p, i] { return static_cast<double>(p->snapshot(i).items_in); };
    r.items_out = [p, i] { return static_cast<double>(p->snapshot(i).items_out); };
    r.dead_letters = [p, i] { return static_cast<double>(p->snapshot(i).dead_letters); };
    r.errors = [p, i] { return static_cast<double>(p->snapshot(i).errors); };
    r.busy_seconds = [p, i] { return p->snapshot(i).busy_seconds; };
    if (i > 0) {
      r.queue_depth = [p, i] { return static_cast<double>(p->snapshot(i).queue_depth); };
      r.queue_capacity = [p, i] { return static_cast<double>(p->snapshot(i).queue_capacity); };
    }
    probes_.emplace_back(registry_, pipeline.name(), pipeline.snapshot(i).name, std::move(r));
  }
  pipeline_.store(&pipeline);
}

void MetricsService::start() {
  if (!enabled_) return;
  server_ = std::make_unique<metrics::HttpServer>(registry_, http_options_);
  server_->set_health_check([this]() -> metrics::ProbeResult {
    const core::Pipeline* p = pipeline_.load();
    if (!p) return {true, "ok: starting"};
    std::string stalled = p->stalled();
    if (stalled.empty()) return {true, "ok"};
    return {false, std::move(stalled)};
  });
  server_->set_readiness_check([this]() -> metrics::ProbeResult {
    const core::Pipeline* p = pipeline_.load();
    if (!p) return {false, "starting: building the pipeline (loading the model)"};
    std::string why = p->not_ready();
    if (why.empty()) return {true, "ready"};
    return {false, std::move(why)};
  });
  server_->start();
  core::log_info("metrics: http://", http_options_.address, ":", server_->port(), "/metrics");
}

void MetricsService::stop() {
  if (server_) server_->stop();  // first: its checks read the pipeline
  pipeline_.store(nullptr);
  probes_.clear();
}

uint16_t MetricsService::port() const { return server_ ? server_->port() : 0; }

}  // namespace sluice::app
