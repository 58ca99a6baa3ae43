#include "operators/infer_probe.h"

#include "src/metrics/buckets.h"

namespace sluice::operators {

InferProbe::InferProbe(metrics::Registry& r, const std::string& pipeline, const std::string& stage)
    : registry_(&r), labels_{{"pipeline", pipeline}, {"stage", stage}} {
  compute_ = &r.histogram("sluice_inference_seconds", "Backend compute time per batch.",
                          metrics::latency_seconds_buckets(), labels_);
  batch_ = &r.histogram(
      "sluice_inference_batch_seconds",
      "Time from submitting a batch to its results (queueing behind other batches included).",
      metrics::latency_seconds_buckets(), labels_);
  records_ =
      &r.counter("sluice_inference_records_total", "Records run through the model.", labels_);
}

void InferProbe::on_model(const std::string& model, const engine::ModelIdentity& identity,
                          const std::string& architecture, const std::string& device,
                          const std::string& precision) {
  if (!registry_) return;
  metrics::Labels l = labels_;
  l.emplace_back("model", model);
  l.emplace_back("model_hash", identity.hash);
  // Label values may not be empty here: a card without a version says "none".
  l.emplace_back("model_version", identity.version.empty() ? "none" : identity.version);
  l.emplace_back("architecture", architecture);
  l.emplace_back("device", device);
  l.emplace_back("precision", precision);
  // One series for the stage, whichever worker reports: a worker that switches
  // to a reloaded model replaces it (the lambda holds nothing, so the series
  // may outlive the stage; the registry outlives every pipeline).
  std::lock_guard lock(info_->mu);
  if (info_->id != metrics::CallbackId{} && info_->labels == l) return;
  if (info_->id != metrics::CallbackId{}) registry_->remove_callback(info_->id);
  info_->id = registry_->gauge_callback(
      "sluice_model_info", "The model an infer stage runs (value 1).", l, [] { return 1.0; });
  info_->labels = std::move(l);
}

void InferProbe::on_batch(const core::Batch& b, size_t inferred, int64_t compute_ns) {
  if (!registry_) return;
  compute_->observe(static_cast<double>(compute_ns) * 1e-9);
  batch_->observe(static_cast<double>(b.infer_end_ns - b.infer_begin_ns) * 1e-9);
  records_->inc(static_cast<double>(inferred));
}

void InferProbe::enable_cache() {
  if (!registry_ || cache_hits_) return;
  metrics::Labels hit = labels_, miss = labels_;
  hit.emplace_back("result", "hit");
  miss.emplace_back("result", "miss");
  const char* help = "Result cache lookups, by result (hit ratio = hit / (hit + miss)).";
  cache_hits_ = &registry_->counter("sluice_result_cache_lookups_total", help, hit);
  cache_misses_ = &registry_->counter("sluice_result_cache_lookups_total", help, miss);
  cache_entries_ =
      &registry_->gauge("sluice_result_cache_entries", "Entries in the result cache.", labels_);
}

uint64_t InferProbe::cache_hits() const {
  return cache_hits_ ? static_cast<uint64_t>(cache_hits_->value()) : 0;
}

uint64_t InferProbe::cache_misses() const {
  return cache_misses_ ? static_cast<uint64_t>(cache_misses_->value()) : 0;
}

void InferProbe::on_cache(size_t hits, size_t misses, int64_t entries_delta) {
  // No lazy registration here: process() runs on every worker at once, and
  // writing the series pointers from it was a data race (workers > 1).
  if (!cache_hits_) return;
  cache_hits_->inc(static_cast<double>(hits));
  cache_misses_->inc(static_cast<double>(misses));
  if (entries_delta) cache_entries_->add(static_cast<double>(entries_delta));
}

void InferProbe::add_backend_gauges(const engine::Backend& backend, int worker,
                                    std::vector<metrics::CallbackId>& ids) {
  if (!registry_) return;
  const engine::Backend* be = &backend;
  auto add = [&](const char* kind, auto field) {
    metrics::Labels l = labels_;
    l.emplace_back("kind", kind);
    l.emplace_back("worker", std::to_string(worker));
    ids.push_back(registry_->gauge_callback(
        "sluice_backend_memory_bytes", "Memory held by the compute backend, by kind.", l,
        [be, field] { return static_cast<double>(be->memory_usage().*field); }));
  };
  add("weights", &engine::MemoryUsage::weights_bytes);
  add("workspace", &engine::MemoryUsage::workspace_bytes);
  if (backend.kind() == "cpu") return;
  add("device_total", &engine::MemoryUsage::device_total_bytes);
  add("device_free", &engine::MemoryUsage::device_free_bytes);
  // What dashboards chart: used = total - free, per device.
  metrics::Labels l = labels_;
  l.emplace_back("device", backend.device_name());
  l.emplace_back("worker", std::to_string(worker));
  ids.push_back(registry_->gauge_callback(
      "sluice_gpu_memory_used_bytes", "GPU memory in use on the infer stage's device.", l, [be] {
        const engine::MemoryUsage u = be->memory_usage();
        return static_cast<double>(u.device_total_bytes - u.device_free_bytes);
      }));
  ids.push_back(registry_->gauge_callback(
      "sluice_gpu_memory_total_bytes", "GPU memory size of the infer stage's device.", l,
      [be] { return static_cast<double>(be->memory_usage().device_total_bytes); }));
}

void InferProbe::remove_gauges(std::vector<metrics::CallbackId>& ids) {
  for (auto id : ids) registry_->remove_callback(id);
  ids.clear();
}

}  // namespace sluice::operators
