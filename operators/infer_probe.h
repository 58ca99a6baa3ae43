// InferProbe: the infer stage's metrics (operators/infer.h), on their own so
// that their thread-safety is tested without a model (label tsan).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "src/core/batch.h"
#include "src/engine/backend.h"
#include "src/engine/model_identity.h"
#include "src/metrics/registry.h"

namespace sluice::operators {

// Metrics of the infer stage, labelled {pipeline, stage}:
//   sluice_inference_seconds        histogram  backend compute time per batch
//   sluice_inference_batch_seconds  histogram  submit to results, per batch (queueing included)
//   sluice_inference_records_total  counter    records inferred
//   sluice_model_info               gauge      1, labelled with model, model_hash,
//                                              model_version, architecture, device, precision
//   sluice_backend_memory_bytes     gauge      {kind=weights|workspace|device_total|
//                                              device_free, worker}
//   sluice_gpu_memory_used_bytes    gauge      {device, worker}: device memory in use
//                                              (CUDA only)
//   sluice_gpu_memory_total_bytes   gauge      {device, worker}: device memory size
//                                              (CUDA only)
//   sluice_result_cache_lookups_total counter  {result=hit|miss}, with the cache on
//   sluice_result_cache_entries     gauge      entries held (all workers), with the cache on
class InferProbe {
 public:
  InferProbe() = default;
  InferProbe(metrics::Registry& registry, const std::string& pipeline, const std::string& stage);
  // The model a worker runs: sluice_model_info{model, model_hash, model_version,
  // architecture, device, precision}; model_version "none" when the card has none.
  // One series per stage: a worker switching to a reloaded model replaces the
  // old model's series, so only the model being served is shown. Thread-safe.
  void on_model(const std::string& model, const engine::ModelIdentity& identity,
                const std::string& architecture, const std::string& device,
                const std::string& precision);
  // `inferred`: records the backend computed (the rest came from the cache).
  void on_batch(const core::Batch& batch, size_t inferred, int64_t compute_ns);
  // Registers the result-cache series. Before the workers start (the
  // constructor of a stage with the cache on): on_cache then only updates
  // them, from any worker.
  void enable_cache();
  // One batch's lookups; `entries_delta`: the change in this worker's cache
  // size since its last report (the gauge is the sum over the workers).
  void on_cache(size_t hits, size_t misses, int64_t entries_delta);
  // Lookups counted so far by every copy of this probe (0 before enable_cache()).
  uint64_t cache_hits() const;
  uint64_t cache_misses() const;
  // One worker's backend gauges (sluice_backend_memory_bytes; on a GPU also
  // sluice_gpu_memory_used_bytes and _total_bytes), read from `backend` at
  // scrape time. Appends their ids to `ids`; remove_gauges(ids) before the
  // backend goes. Nothing without a registry.
  void add_backend_gauges(const engine::Backend& backend, int worker,
                          std::vector<metrics::CallbackId>& ids);
  void remove_gauges(std::vector<metrics::CallbackId>& ids);
  metrics::Registry* registry() const { return registry_; }
  const metrics::Labels& labels() const { return labels_; }

 private:
  metrics::Registry* registry_ = nullptr;
  metrics::Labels labels_;
  metrics::Histogram* compute_ = nullptr;
  metrics::Histogram* batch_ = nullptr;
  metrics::Counter* records_ = nullptr;
  metrics::Counter* cache_hits_ = nullptr;
  metrics::Counter* cache_misses_ = nullptr;
  metrics::Gauge* cache_entries_ = nullptr;
  // sluice_model_info's one series; shared by copies of the probe.
  struct Info {
    std::mutex mu;
    metrics::Labels labels;
    metrics::CallbackId id{};
  };
  std::shared_ptr<Info> info_ = std::make_shared<Info>();
};

}  // namespace sluice::operators
