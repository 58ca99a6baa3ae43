// infer: runs the encoder over each batch on a compute Backend (CPU, CUDA),
// without blocking its thread per batch: a batch is submitted, and its
// completion (a backend callback) wakes the worker, which emits finished
// batches in order from on_tick(). Up to max_in_flight batches overlap (the
// next one is formed and queued while the current one computes); submit()
// blocks beyond that, which is the backpressure towards micro_batch.
//
// A record the model cannot take (empty, longer than its position table, an
// id outside its vocabulary) and a record whose logits come out non-finite go
// to the dead letters; the rest continue with logits (and, with
// `embeddings: true`, pooled embeddings) filled in. A backend fault fails the
// pipeline: its records are not acknowledged, so they are consumed again.
//
// The model is loaded when the pipeline is built (a bad model directory is a
// configuration error naming the file); each worker builds its own backend
// from it (workers: 1 is the usual choice). The model directory is a
// ModelSlot (model_slot.h): after a hot reload, a worker runs each batch on
// the model version its records were tokenized for. The new version's
// backends, one per worker, are built before it is served, on the
// reloader's thread, beside the serving ones (a version whose backend cannot
// be built, such as a GPU without room for both, is refused and the old one
// keeps serving). At the first batch of the new version a worker lets the
// batches in flight finish on the old backend, then takes its prepared
// backend and a new result cache (keyed by the model's content hash), and
// sluice_model_info names the new model: the switch computes nothing. The replaced version's
// backend is kept until nothing else holds that version (batches of it may
// still come from a tokenize worker that has not switched yet: running them
// is then a swap back, not a rebuild).
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "operators/infer_probe.h"
#include "operators/micro_batch.h"
#include "operators/model_slot.h"
#include "operators/operator_spec.h"
#include "src/engine/backend.h"
#include "src/engine/model.h"
#include "src/metrics/registry.h"

namespace sluice::operators {

struct InferOptions {
  engine::BackendOptions backend;
  bool embeddings = false;  // also fill Batch::embeddings (pooled, backend.pooling)
  // Result cache entries per worker (0 = off): repeated token sequences are
  // answered from the outputs computed the first time (result_cache.h).
  int64_t cache_entries = 65536;  // the pipeline key's default (written here only)
  // Builds a worker's backend; null = engine::make_backend (a test's seam).
  std::function<std::unique_ptr<engine::Backend>(const engine::Model&,
                                                 const engine::BackendOptions&)>
      backend_factory;
};

// The model in directory `dir`, loaded once per pipeline and shared by the
// stages that name it (infer, classify): its config and identity are read
// with the weights, not again. A ModelError becomes std::invalid_argument
// (a configuration error at the stage's path).
std::shared_ptr<const engine::Model> shared_model(BuildContext& ctx, const std::string& dir);

struct InferState;

class Infer final : public core::Operator {
 public:
  // `slot`, when given, is `model`'s directory: batches may then carry
  // (and workers switch to) its reloaded versions. Null: `model` only.
  Infer(std::shared_ptr<const engine::Model> model, InferOptions options, InferProbe probe,
        BatchFeedback* feedback, ModelSlot* slot = nullptr);
  ~Infer() override;

  core::ItemKind input_kind() const override { return core::ItemKind::kBatch; }
  core::ItemKind output_kind() const override { return core::ItemKind::kBatch; }
  std::unique_ptr<core::OperatorState> make_state(const core::WorkerInfo& worker) override;
  void process(core::OperatorState* state, core::Item&& item, core::Emitter& out) const override;
  void on_tick(core::OperatorState* state, core::Emitter& out) const override;
  void finish(core::OperatorState* state, core::Emitter& out) const override;

  // The model loaded when the pipeline was built.
  const engine::Model& model() const { return *model_; }

 private:
  // Builds the worker's backend (and cache, gauges) for `model`.
  void use(InferState& st, std::shared_ptr<const ServedModel> served,
           std::shared_ptr<const engine::Model> model) const;
  // Finishes the batches in flight, then use()s `served`.
  void switch_to(InferState& st, std::shared_ptr<const ServedModel> served,
                 core::Emitter& out) const;
  std::unique_ptr<engine::Backend> build_backend(const engine::Model& model) const;
  // The slot's preparer (reloader thread): builds a backend per worker for `next`.
  std::string prepare(const ServedModel& next) const;
  void discard(const ServedModel& next) const;
  // A backend prepared for `served`, or null when none is left.
  std::unique_ptr<engine::Backend> take_prepared(const ServedModel& served) const;

  std::shared_ptr<const engine::Model> model_;  // shared with the pipeline's Services
  InferOptions options_;
  // Recording a metric is thread-safe (lock-free values): workers share it.
  mutable InferProbe probe_;
  BatchFeedback* feedback_;
  ModelSlot* slot_;  // null: no reload
  int preparer_ = -1;
  std::atomic<int> workers_{0};  // states made: backends to prepare per version
  struct Prepared {
    uint64_t generation;  // of the slot's version (a refused one is discarded)
    std::vector<std::unique_ptr<engine::Backend>> backends;
  };
  mutable std::mutex prepared_mu_;
  mutable std::vector<Prepared> prepared_;
};

void register_infer(OperatorRegistry& registry);

}  // namespace sluice::operators
