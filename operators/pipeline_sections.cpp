#include "operators/pipeline_sections.h"

#include <memory>

#include "src/config/options.h"

namespace sluice::operators {

namespace {

constexpr const char* kRuntime = "runtime";
constexpr const char* kMetrics = "metrics";
constexpr const char* kModel = "model";

const config::Options<RuntimeSection>& runtime_options() {
  static const config::Options<RuntimeSection> options = [] {
    using R = RuntimeSection;
    config::Options<R> o;
    o.add("queue_capacity", &R::queue_capacity,
          "Default capacity of each stage input queue (items)")
        .range(2, 1 << 24);
    o.add("shutdown_timeout", &R::shutdown_timeout,
          "On SIGTERM/SIGINT: time allowed to drain in-flight work before aborting")
        .range(0, 3600);
    o.add("stall_timeout", &R::stall_timeout,
          "Liveness: /healthz fails (503, naming the stage) when a stage has made no progress "
          "this long while inside one call or with input waiting; waiting for room downstream "
          "does not count. Longer than any legitimate pause (a forward pass on a big batch; the "
          "producer's 5-minute message.timeout.ms during a Kafka outage); 0 disables")
        .range(0, 86400);
    o.add("log_level", &R::log_level, "Log verbosity").choices({"debug", "info", "warn", "error"});
    return o;
  }();
  return options;
}

const config::Options<MetricsSection>& metrics_options() {
  static const config::Options<MetricsSection> options = [] {
    using M = MetricsSection;
    config::Options<M> o;
    o.add("enabled", &M::enabled, "Serve /metrics, /healthz and /readyz");
    o.add("listen", &M::listen,
          "host:port of the HTTP endpoint (port 0 picks a free port; \":PORT\" is 127.0.0.1, "
          "every interface takes 0.0.0.0:PORT or [::]:PORT)");
    return o;
  }();
  return options;
}

const config::Options<ModelSection>& model_options() {
  static const config::Options<ModelSection> options = [] {
    config::Options<ModelSection> o;
    o.add("path", &ModelSection::path,
          "Model directory (config.json, model.safetensors, the tokenizer's files): the default "
          "of tokenize's `tokenizer`, infer's, classify's and the recommend stages' `model`, so "
          "that one declaration serves them all");
    return o;
  }();
  return options;
}

template <typename Opts>
void declare_section(config::Schema& root, const char* name, const config::Options<Opts>& options,
                     const char* description) {
  auto s = std::make_shared<config::Schema>();
  options.declare(*s);
  root.object(name, std::move(s), description);
}

}  // namespace

void declare_pipeline_sections(config::Schema& root) {
  declare_section(root, kRuntime, runtime_options(), "Threads, queues and shutdown");
  declare_section(root, kMetrics, metrics_options(), "Prometheus endpoint");
  declare_section(root, kModel, model_options(), "The pipeline's model");
}

RuntimeSection runtime_section(const config::Section& root) {
  return runtime_options().read(root.section(kRuntime));
}

MetricsSection metrics_section(const config::Section& root) {
  return metrics_options().read(root.section(kMetrics));
}

ModelSection model_section(const config::Section& root) {
  if (!root.has(kModel)) return {};
  return model_options().read(root.section(kModel));
}

}  // namespace sluice::operators
