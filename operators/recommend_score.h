// recommend_score: turns each batch of events (from micro_batch, each record
// carrying its user's state after the event: recommend_state.h) into one
// recommendation per event. The batch is scored as one GEMM, queries ×
// the model's item matrix (RecommenderModel::scoring_items), on the
// Scorer the device option picks (src/engine/scorer.h: cuBLAS + a CUDA
// top-K kernel on the GPU, the CPU backend's oneDNN GEMM + SIMD top-K
// otherwise), with each user's seen items masked to −∞ before the top-K.
// A cold user (no known item yet) gets the popularity list.
//
// Each record leaves keyed by its user with the value
//
//   {"user":"42","items":["318","296",…],"scores":[9.12,8.97,…],
//    "model":"recommend-ml-small","event_offset":1234,"latency_ms":1.873}
//
// (ids as JSON strings; event_offset is the input record's offset;
// latency from when the source read the event). A record whose state does
// not decode (a mis-wired pipeline) is a dead letter (invalid_state).
//
// Metrics, labelled {pipeline, stage}:
//   sluice_recommend_latency_seconds      histogram  event read → recommendation emitted
//   sluice_recommend_batch_rows           histogram  events scored per batch
//   sluice_recommend_gemm_seconds         histogram  GEMM time per batch
//   sluice_recommend_topk_seconds         histogram  masking + top-K time per batch
//   sluice_recommend_cold_starts_total    counter    events answered with the popularity list
//   sluice_recommend_recommendations_total counter   recommendations emitted
//   sluice_model_info                     gauge      1 {model, version, items, dim, device}
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "operators/operator_spec.h"
#include "operators/recommend_model.h"
#include "src/engine/scorer.h"
#include "src/metrics/registry.h"

namespace sluice::operators {

struct RecommendScoreOptions {
  int64_t k = 10;
  engine::ScorerOptions scorer;
};

class RecommendScoreProbe {
 public:
  RecommendScoreProbe() = default;  // no metrics
  RecommendScoreProbe(metrics::Registry& registry, const std::string& pipeline,
                      const std::string& stage);
  void on_scorer(const RecommenderModel& model, const engine::Scorer& scorer);
  void on_batch(size_t rows, size_t cold, const engine::ScoreTimes& t);
  void on_emit(int64_t latency_ns);

 private:
  metrics::Registry* registry_ = nullptr;
  metrics::Labels labels_;
  metrics::Histogram* latency_ = nullptr;
  metrics::Histogram* rows_ = nullptr;
  metrics::Histogram* gemm_ = nullptr;
  metrics::Histogram* topk_ = nullptr;
  metrics::Counter* cold_ = nullptr;
  metrics::Counter* emitted_ = nullptr;
};

class RecommendScore final : public core::Operator {
 public:
  // `workers`: how many workers the stage runs (one scorer each).
  RecommendScore(std::shared_ptr<const RecommenderModel> model, RecommendScoreOptions options,
                 RecommendScoreProbe probe, int workers = 1);
  ~RecommendScore() override;

  core::ItemKind input_kind() const override { return core::ItemKind::kBatch; }
  core::ItemKind output_kind() const override { return core::ItemKind::kRecord; }
  // Builds every worker's scorer (the item matrix packed or uploaded), so a
  // device that cannot be used fails start-up, as a configuration error.
  void start() override;
  std::unique_ptr<core::OperatorState> make_state(const core::WorkerInfo& worker) override;
  void process(core::OperatorState* state, core::Item&& item, core::Emitter& out) const override;

 private:
  std::shared_ptr<const RecommenderModel> model_;
  RecommendScoreOptions options_;
  // Recording a metric is thread-safe (lock-free values): workers share it.
  mutable RecommendScoreProbe probe_;
  int workers_;
  std::string model_json_;
  std::vector<std::unique_ptr<engine::Scorer>> scorers_;  // built by start(), one per worker
};

void register_recommend_score(OperatorRegistry& registry);

}  // namespace sluice::operators
