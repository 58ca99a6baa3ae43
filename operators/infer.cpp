#include "operators/infer.h"

#include <cmath>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "src/core/dead_letter.h"
#include "src/core/log.h"
#include "src/engine/backend_factory.h"
#include "src/engine/model_error.h"
#include "src/metrics/buckets.h"

namespace sluice::operators {

// ---- InferProbe ----

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

void InferProbe::on_model(const engine::Model& model, const engine::Backend& backend,
                          const engine::BackendOptions& o) {
  if (!registry_) return;
  metrics::Labels l = labels_;
  l.emplace_back("model", model.name());
  l.emplace_back("architecture", model.config().architecture_class);
  l.emplace_back("device", std::string(backend.kind()));
  l.emplace_back("precision", o.precision == engine::Precision::kBF16 ? "bf16" : "fp32");
  registry_->gauge("sluice_model_info", "The model an infer stage runs (value 1).", l).set(1);
}

void InferProbe::on_batch(const core::Batch& b, int64_t compute_ns) {
  if (!registry_) return;
  compute_->observe(static_cast<double>(compute_ns) * 1e-9);
  batch_->observe(static_cast<double>(b.infer_end_ns - b.infer_begin_ns) * 1e-9);
  records_->inc(static_cast<double>(b.size()));
}

// ---- Infer ----

namespace {

struct Completed {
  engine::Ticket ticket;
  engine::BatchResult result;
};

struct InFlight {
  engine::Ticket ticket;
  core::Batch batch;
};

struct InferState : core::OperatorState {
  std::unique_ptr<engine::Backend> backend;
  std::deque<InFlight> in_flight;  // submit order
  core::Waker waker;
  bool have_waker = false;
  std::mutex mu;  // guards `completed` (written by the backend's thread)
  std::vector<Completed> completed;
  std::vector<Completed> drained;  // worker-side copy, reused
  std::vector<metrics::CallbackId> callbacks;
  metrics::Registry* registry = nullptr;

  ~InferState() override {
    for (auto id : callbacks) registry->remove_callback(id);
    // The backend's destructor finishes queued batches; their callbacks touch
    // this state, which is still alive here.
    backend.reset();
  }

  static void on_done(void* ctx, engine::Ticket t, const engine::BatchResult& r) {
    auto* st = static_cast<InferState*>(ctx);
    {
      std::lock_guard lock(st->mu);
      st->completed.push_back({t, r});
    }
    if (st->have_waker) st->waker.wake();
  }
};

// Moves records the model cannot take to the dead letters and repacks the batch.
void drop_unfit_records(core::Batch& b, const engine::ModelConfig& config, core::Emitter& out) {
  std::vector<size_t> bad;
  std::vector<const char*> why;
  for (size_t i = 0; i < b.records.size(); ++i) {
    const auto begin = b.token_ids.begin() + b.cu_seqlens[i],
               end = b.token_ids.begin() + b.cu_seqlens[i + 1];
    if (const char* reason =
            engine::check_record_tokens({&*begin, static_cast<size_t>(end - begin)}, config)) {
      bad.push_back(i);
      why.push_back(reason);
    }
  }
  if (bad.empty()) return;
  core::Batch kept;
  kept.cu_seqlens.push_back(0);
  size_t next_bad = 0;
  for (size_t i = 0; i < b.records.size(); ++i) {
    if (next_bad < bad.size() && bad[next_bad] == i) {
      out.dead_letter(std::move(b.records[i]), "model_input", why[next_bad]);
      ++next_bad;
      continue;
    }
    kept.token_ids.insert(kept.token_ids.end(), b.token_ids.begin() + b.cu_seqlens[i],
                          b.token_ids.begin() + b.cu_seqlens[i + 1]);
    kept.cu_seqlens.push_back(static_cast<int32_t>(kept.token_ids.size()));
    kept.max_seqlen = std::max(kept.max_seqlen, b.cu_seqlens[i + 1] - b.cu_seqlens[i]);
    kept.records.push_back(std::move(b.records[i]));
  }
  kept.flush_reason = b.flush_reason;
  kept.oldest_ns = b.oldest_ns;
  kept.flush_ns = b.flush_ns;
  b = std::move(kept);
}

// Dead-letters records with a non-finite logit; compacts logits/embeddings.
void drop_non_finite(core::Batch& b, core::Emitter& out) {
  const size_t L = static_cast<size_t>(b.num_labels), E = static_cast<size_t>(b.embedding_dim);
  size_t w = 0;
  for (size_t i = 0; i < b.records.size(); ++i) {
    bool finite = true;
    for (size_t j = 0; j < L; ++j) finite = finite && std::isfinite(b.logits[i * L + j]);
    if (!finite) {
      out.dead_letter(std::move(b.records[i]), core::dead_letter_code::kNonFiniteOutput,
                      "the model produced a non-finite logit");
      continue;
    }
    if (w != i) {
      b.records[w] = std::move(b.records[i]);
      std::copy_n(b.logits.begin() + i * L, L, b.logits.begin() + w * L);
      if (E) std::copy_n(b.embeddings.begin() + i * E, E, b.embeddings.begin() + w * E);
    }
    ++w;
  }
  if (w == b.records.size()) return;
  b.records.resize(w);
  b.logits.resize(w * L);
  if (E) b.embeddings.resize(w * E);
  // The packed ids no longer line up with the records; nothing downstream reads them.
  b.token_ids.clear();
  b.cu_seqlens.clear();
}

}  // namespace

Infer::Infer(std::shared_ptr<const engine::Model> model, InferOptions options, InferProbe probe,
             BatchFeedback* feedback)
    : model_(std::move(model)),
      options_(std::move(options)),
      probe_(std::move(probe)),
      feedback_(feedback) {}

Infer::~Infer() = default;

std::unique_ptr<core::OperatorState> Infer::make_state(const core::WorkerInfo& worker) {
  auto st = std::make_unique<InferState>();
  st->backend = engine::make_backend(*model_, options_.backend);
  core::log_info("infer '", worker.stage, "' worker ", worker.index, ": model ", model_->name(),
                 " (", model_->config().architecture_class, ", ", model_->weights_dtype(), ") on ",
                 st->backend->device_name());
  probe_.on_model(*model_, *st->backend, options_.backend);
  if (auto* reg = probe_.registry()) {
    st->registry = reg;
    engine::Backend* be = st->backend.get();
    auto add = [&](const char* kind, auto field) {
      metrics::Labels l = probe_.labels();
      l.emplace_back("kind", kind);
      l.emplace_back("worker", std::to_string(worker.index));
      st->callbacks.push_back(reg->gauge_callback(
          "sluice_backend_memory_bytes", "Memory held by the compute backend, by kind.", l,
          [be, field] { return static_cast<double>(be->memory_usage().*field); }));
    };
    add("weights", &engine::MemoryUsage::weights_bytes);
    add("workspace", &engine::MemoryUsage::workspace_bytes);
    if (st->backend->kind() != "cpu") {
      add("device_total", &engine::MemoryUsage::device_total_bytes);
      add("device_free", &engine::MemoryUsage::device_free_bytes);
    }
  }
  return st;
}

void Infer::process(core::OperatorState* s, core::Item&& item, core::Emitter& out) {
  auto* st = static_cast<InferState*>(s);
  if (!st->have_waker) {
    st->waker = out.waker();
    st->have_waker = true;
  }
  auto& batch = std::get<core::Batch>(item);
  const engine::ModelConfig& c = model_->config();
  drop_unfit_records(batch, c, out);
  if (batch.records.empty()) return;
  batch.num_labels = static_cast<int32_t>(c.num_labels);
  batch.logits.assign(batch.size() * c.num_labels, 0.f);
  if (options_.embeddings) {
    batch.embedding_dim = static_cast<int32_t>(c.hidden_size);
    batch.embeddings.assign(batch.size() * c.hidden_size, 0.f);
  }
  batch.infer_begin_ns = core::now_ns();
  // The batch's vectors keep their heap buffers when the batch moves into
  // in_flight, so the spans handed to the backend stay valid.
  const engine::EncoderBatch eb{batch.token_ids, batch.cu_seqlens, batch.max_seqlen};
  const engine::EncoderOutputs eo{batch.logits, batch.embeddings};
  const engine::Ticket t = st->backend->submit(eb, eo, {&InferState::on_done, st});
  st->in_flight.push_back({t, std::move(batch)});
  on_tick(s, out);  // emit whatever finished meanwhile
}

void Infer::on_tick(core::OperatorState* s, core::Emitter& out) {
  auto* st = static_cast<InferState*>(s);
  {
    std::lock_guard lock(st->mu);
    st->drained.insert(st->drained.end(), std::make_move_iterator(st->completed.begin()),
                       std::make_move_iterator(st->completed.end()));
    st->completed.clear();
  }
  // Tickets complete in submit order, so results line up with in_flight's front.
  size_t i = 0;
  for (; i < st->drained.size(); ++i) {
    const Completed& done = st->drained[i];
    if (st->in_flight.empty() || st->in_flight.front().ticket != done.ticket)
      throw std::logic_error("infer: backend completed tickets out of order");
    if (!done.result.ok) throw std::runtime_error("inference failed: " + done.result.error);
    core::Batch b = std::move(st->in_flight.front().batch);
    st->in_flight.pop_front();
    b.infer_end_ns = core::now_ns();
    if (feedback_) feedback_->report(b.infer_end_ns - b.infer_begin_ns);
    probe_.on_batch(b, done.result.compute_ns);
    drop_non_finite(b, out);
    if (!b.records.empty()) out.emit(std::move(b));
  }
  st->drained.clear();
}

void Infer::finish(core::OperatorState* s, core::Emitter& out) {
  auto* st = static_cast<InferState*>(s);
  // Drain: completions still arrive by callback; look again every 200 µs.
  for (on_tick(s, out); !st->in_flight.empty(); on_tick(s, out))
    std::this_thread::sleep_for(std::chrono::microseconds(200));
}

void register_infer(Registry& registry) {
  registry.add(OperatorSpec{
      .type = "infer",
      .description = "Runs the encoder model over each batch on the CPU or CUDA backend",
      .is_source = false,
      .declare =
          [](config::Schema& s) {
            s.string("model",
                     "Model directory: config.json + model.safetensors as Hugging Face writes them")
                .req();
            s.choice("device", {"auto", "cpu", "cuda"},
                     "Compute device; auto = CUDA when usable, else CPU")
                .def("auto");
            s.integer("threads", "CPU backend compute threads; 0 = every core")
                .def("0")
                .range(0, 1024);
            s.choice("precision", {"fp32", "bf16"},
                     "fp32 (default, matches PyTorch) or bf16 GEMMs (AMX; logits move by ~1e-2)")
                .def("fp32");
            s.integer("max_in_flight", "Batches submitted to the backend at once")
                .def("2")
                .range(1, 64);
            s.integer("max_batch_tokens",
                      "Workspace sizing hint: the largest batch expected, in tokens")
                .def("4096")
                .range(1, 1 << 22);
            s.boolean("embeddings", "Also return pooled embeddings").def("false");
            s.choice("pooling", {"head", "first_token", "mean"},
                     "Pooled embedding: the classifier head's hidden vector, the first token's "
                     "state, or the mean")
                .def("head");
          },
      .make_source = nullptr,
      .make_operator = [](BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        InferOptions o;
        o.backend.device = ctx.options.string("device");
        o.backend.threads = static_cast<int>(ctx.options.integer("threads"));
        o.backend.precision = ctx.options.string("precision") == "bf16" ? engine::Precision::kBF16
                                                                        : engine::Precision::kF32;
        o.backend.max_in_flight = static_cast<int>(ctx.options.integer("max_in_flight"));
        o.backend.max_batch_tokens = ctx.options.integer("max_batch_tokens");
        const std::string pooling = ctx.options.string("pooling");
        o.backend.pooling = pooling == "mean"          ? engine::Pooling::kMean
                            : pooling == "first_token" ? engine::Pooling::kFirstToken
                                                       : engine::Pooling::kHead;
        o.embeddings = ctx.options.boolean("embeddings");
        const std::string dir = ctx.options.string("model");
        std::shared_ptr<const engine::Model> model;
        try {
          // One load per directory per pipeline, shared with classify.
          model =
              ctx.services.shared<std::shared_ptr<const engine::Model>>("engine.model:" + dir, [&] {
                return std::make_unique<std::shared_ptr<const engine::Model>>(
                    std::make_shared<const engine::Model>(engine::Model::load(dir)));
              });
        } catch (const engine::ModelError& e) {
          throw std::invalid_argument(e.what());  // a configuration error at this stage's path
        }
        InferProbe probe;
        if (auto* m = ctx.services.metrics())
          probe = InferProbe(*m, ctx.services.pipeline_name(), ctx.stage_name);
        auto& feedback = ctx.services.shared<BatchFeedback>(
            BatchFeedback::kKey, [] { return std::make_unique<BatchFeedback>(); });
        return std::make_unique<Infer>(std::move(model), std::move(o), std::move(probe), &feedback);
      },
  });
}

}  // namespace sluice::operators
