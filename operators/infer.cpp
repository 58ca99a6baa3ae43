#include "operators/infer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <mutex>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

#include "operators/result_cache.h"
#include "src/core/dead_letter.h"
#include "src/core/log.h"
#include "src/engine/backend_factory.h"
#include "src/engine/model_error.h"
#include "src/metrics/buckets.h"

namespace sluice::operators {

// ---- Infer ----

namespace {

struct Completed {
  engine::Ticket ticket;
  engine::BatchResult result;
};

// A batch on its way through the stage, in arrival order. `submitted`: the
// backend computes (some of) its records; otherwise the result cache answered
// every record and the batch only waits for its turn to be emitted.
struct InFlight {
  engine::Ticket ticket = 0;
  bool submitted = false;
  core::Batch batch;
  // With partial cache hits: the missing records' indices in batch.records,
  // their packed ids, and the outputs the backend writes for them (scattered
  // into batch.logits/embeddings on completion).
  bool partial = false;
  std::vector<uint32_t> miss;
  std::vector<int32_t> ids, cu;
  int32_t max_len = 0;
  std::vector<float> logits, embeddings;
};

}  // namespace

struct InferState : core::OperatorState {
  // The model version the backend runs (ServedModel, or null without a slot)
  // and its model; a batch of another version switches both (Infer::use).
  std::shared_ptr<const ServedModel> served;
  std::shared_ptr<const engine::Model> model;
  std::string stage;  // for logs
  int worker = 0;
  std::unique_ptr<engine::Backend> backend;
  std::deque<InFlight> in_flight;  // submit order
  core::Waker waker;
  bool have_waker = false;
  std::mutex mu;  // guards `completed` (written by the backend's thread)
  std::vector<Completed> completed;
  std::vector<Completed> drained;  // worker-side copy, reused
  std::vector<metrics::CallbackId> callbacks;
  metrics::Registry* registry = nullptr;
  std::unique_ptr<ResultCache> cache;  // null when off
  std::vector<float> scratch;          // one entry's values, for cache inserts
  int64_t cache_reported = 0;          // cache size last added to the entries gauge
  // The version replaced at the last switch, kept while batches made for it
  // may still come (tokenize workers switch one by one, and their queues
  // drain in any order): going back is then a swap, not a backend rebuild.
  // Dropped once nothing else holds it (no record, batch or stage).
  std::shared_ptr<const ServedModel> prev_served;
  std::shared_ptr<const engine::Model> prev_model;
  std::unique_ptr<engine::Backend> prev_backend;  // nothing in flight on it
  std::unique_ptr<ResultCache> prev_cache;

  ~InferState() override {
    for (auto id : callbacks) registry->remove_callback(id);
    // The backend's destructor finishes queued batches; their callbacks touch
    // this state, which is still alive here.
    backend.reset();
    prev_backend.reset();
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

namespace {

std::string format_ms(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f ms", static_cast<double>(ns) / 1e6);
  return buf;
}

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

// Copies the backend's outputs for the missing records into their rows.
void scatter_misses(InFlight& f) {
  core::Batch& b = f.batch;
  const size_t L = static_cast<size_t>(b.num_labels), E = static_cast<size_t>(b.embedding_dim);
  for (size_t k = 0; k < f.miss.size(); ++k) {
    std::copy_n(f.logits.begin() + k * L, L, b.logits.begin() + f.miss[k] * L);
    if (E) std::copy_n(f.embeddings.begin() + k * E, E, b.embeddings.begin() + f.miss[k] * E);
  }
}

// Caches the finite outputs of the records the backend computed.
void remember(InferState& st, const InFlight& f) {
  const core::Batch& b = f.batch;
  const size_t L = static_cast<size_t>(b.num_labels), E = static_cast<size_t>(b.embedding_dim);
  st.scratch.resize(L + E);
  for (const uint32_t i : f.miss) {  // with the cache on, every computed record is in `miss`
    std::copy_n(b.logits.begin() + i * L, L, st.scratch.begin());
    if (E) std::copy_n(b.embeddings.begin() + i * E, E, st.scratch.begin() + L);
    if (!std::all_of(st.scratch.begin(), st.scratch.end(),
                     [](float v) { return std::isfinite(v); }))
      continue;
    const std::span<const int32_t> ids(b.token_ids.data() + b.cu_seqlens[i],
                                       static_cast<size_t>(b.cu_seqlens[i + 1] - b.cu_seqlens[i]));
    st.cache->insert(ids, st.scratch);
  }
}

// What makes cached outputs valid: the model (its content hash: weights,
// config and tokenizer, so a reloaded model never meets the old one's
// outputs) and the numerics of the backend that computed them.
std::string cache_revision(const engine::Model& m, const engine::Backend& backend,
                           const InferOptions& o) {
  const auto& c = m.config();
  return m.identity().hash + "|" + c.architecture_class + "|" + std::to_string(c.hidden_size) +
         "x" + std::to_string(c.num_layers) + "|" + m.weights_dtype() + "|" +
         std::string(backend.kind()) + "|" +
         engine::precision_name(engine::effective_precision(o.backend.precision)) + "|" +
         o.backend.dtype + "|" + std::to_string(static_cast<int>(o.backend.pooling));
}

}  // namespace

std::shared_ptr<const engine::Model> shared_model(BuildContext& ctx, const std::string& dir) {
  try {
    return model_slot(ctx.services, dir).need_model();
  } catch (const engine::ModelError& e) {
    throw std::invalid_argument(e.what());  // a configuration error at the stage's path
  }
}

Infer::Infer(std::shared_ptr<const engine::Model> model, InferOptions options, InferProbe probe,
             BatchFeedback* feedback, ModelSlot* slot)
    : model_(std::move(model)),
      options_(std::move(options)),
      probe_(std::move(probe)),
      feedback_(feedback),
      slot_(slot) {
  if (options_.cache_entries > 0) probe_.enable_cache();
  if (slot_)
    preparer_ = slot_->add_preparer({[this](const ServedModel& next) { return prepare(next); },
                                     [this](const ServedModel& next) { discard(next); }});
}

Infer::~Infer() {
  if (slot_) slot_->remove_preparer(preparer_);
}

std::unique_ptr<engine::Backend> Infer::build_backend(const engine::Model& model) const {
  return options_.backend_factory ? options_.backend_factory(model, options_.backend)
                                  : engine::make_backend(model, options_.backend);
}

std::string Infer::prepare(const ServedModel& next) const {
  if (!next.model) return "";
  const int n = std::max(1, workers_.load(std::memory_order_acquire));
  std::vector<std::unique_ptr<engine::Backend>> built;
  try {
    for (int i = 0; i < n; ++i) built.push_back(build_backend(*next.model));
  } catch (const std::exception& e) {
    return (next.model->directory() / "model.safetensors").string() +
           ": its backend could not be built beside the serving model's: " + e.what();
  }
  std::lock_guard lock(prepared_mu_);
  // Versions older than the one served now are switched to only by a worker
  // that still holds their backend (a swap back): what was prepared for them
  // and not taken goes.
  const uint64_t serving = slot_->generation();
  std::erase_if(prepared_, [&](const Prepared& p) { return p.generation < serving; });
  prepared_.push_back({next.generation, std::move(built)});
  return "";
}

void Infer::discard(const ServedModel& next) const {
  std::lock_guard lock(prepared_mu_);
  std::erase_if(prepared_, [&](const Prepared& p) { return p.generation == next.generation; });
}

std::unique_ptr<engine::Backend> Infer::take_prepared(const ServedModel& served) const {
  std::lock_guard lock(prepared_mu_);
  for (auto it = prepared_.begin(); it != prepared_.end(); ++it) {
    if (it->generation != served.generation) continue;
    std::unique_ptr<engine::Backend> b = std::move(it->backends.back());
    it->backends.pop_back();
    if (it->backends.empty()) prepared_.erase(it);
    return b;
  }
  return nullptr;
}

std::unique_ptr<core::OperatorState> Infer::make_state(const core::WorkerInfo& worker) {
  auto st = std::make_unique<InferState>();
  workers_.fetch_add(1, std::memory_order_acq_rel);
  st->stage = worker.stage;
  st->worker = worker.index;
  std::shared_ptr<const ServedModel> served = slot_ ? slot_->current() : nullptr;
  use(*st, served, served ? served->model : model_);
  return st;
}

void Infer::use(InferState& st, std::shared_ptr<const ServedModel> served,
                std::shared_ptr<const engine::Model> model) const {
  // The gauges read the backend from the metrics thread: off before it goes.
  probe_.remove_gauges(st.callbacks);
  if (st.cache) probe_.on_cache(0, 0, -st.cache_reported);  // the entries gauge: active caches
  st.cache_reported = 0;
  const bool reloaded = st.backend != nullptr;
  const int64_t t0 = core::now_ns();
  bool built_here = false;
  if (st.prev_served && st.prev_served == served) {  // back to the version before
    std::swap(st.served, st.prev_served);
    std::swap(st.model, st.prev_model);
    std::swap(st.backend, st.prev_backend);
    std::swap(st.cache, st.prev_cache);
  } else {
    if (st.served) {  // its batches finished (Infer::switch_to)
      st.prev_served = std::move(st.served);
      st.prev_model = std::move(st.model);
      st.prev_backend = std::move(st.backend);
      st.prev_cache = std::move(st.cache);
    }
    std::unique_ptr<engine::Backend> prepared = served ? take_prepared(*served) : nullptr;
    // Without one (the version loaded at start, or more workers than were
    // counted when it was prepared), built here.
    built_here = !prepared;
    st.backend = prepared ? std::move(prepared) : build_backend(*model);
    st.served = std::move(served);
    st.model = std::move(model);
    if (options_.cache_entries > 0) {
      // A cache per model version: one model's results are never served for another.
      const auto& c = st.model->config();
      const size_t values = static_cast<size_t>(c.num_labels) +
                            (options_.embeddings ? static_cast<size_t>(c.hidden_size) : 0);
      st.cache = std::make_unique<ResultCache>(static_cast<size_t>(options_.cache_entries), values,
                                               cache_revision(*st.model, *st.backend, options_));
    }
  }
  const engine::Model& m = *st.model;
  core::log_info("infer '", st.stage, "' worker ", st.worker,
                 reloaded ? ": reloaded model " : ": model ", m.name(), " (",
                 m.config().architecture_class, ", ", m.weights_dtype(), ", model_hash ",
                 m.identity().hash, ") on ", st.backend->device_name(),
                 reloaded ? "; switched in " + format_ms(core::now_ns() - t0) +
                                (built_here ? " (its backend built at the switch)" : "")
                          : "");
  probe_.on_model(m.name(), m.identity(), m.config().architecture_class,
                  std::string(st.backend->kind()),
                  engine::precision_name(engine::effective_precision(options_.backend.precision)));
  st.registry = probe_.registry();  // for the state's destructor
  probe_.add_backend_gauges(*st.backend, st.worker, st.callbacks);
}

void Infer::switch_to(InferState& st, std::shared_ptr<const ServedModel> served,
                      core::Emitter& out) const {
  // A batch boundary: the batches in flight finish (and are emitted) on the
  // old backend first; then the new model's backend replaces it. The old
  // version is freed once no record, batch or stage holds it any more.
  for (on_tick(&st, out); !st.in_flight.empty(); on_tick(&st, out))
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  std::shared_ptr<const engine::Model> model = served->model;
  use(st, std::move(served), std::move(model));
}

void Infer::process(core::OperatorState* s, core::Item&& item, core::Emitter& out) const {
  auto* st = static_cast<InferState*>(s);
  if (!st->have_waker) {
    st->waker = out.waker();
    st->have_waker = true;
  }
  auto& batch = std::get<core::Batch>(item);
  if (slot_) {
    if (st->prev_served && st->prev_served.use_count() == 1) {
      // Only this worker holds the replaced version: no batch made for it can come.
      core::log_info("infer '", st->stage, "' worker ", st->worker, ": released model_hash ",
                     st->prev_served->identity.hash, " (no batch holds it any more)");
      st->prev_cache.reset();
      st->prev_backend.reset();
      st->prev_model.reset();
      st->prev_served.reset();
    }
    // The version the batch's records were tokenized for; without one (their
    // tokenizer is not this model's directory), the version served now.
    const ServedModel* want = served_for(batch.model.get(), slot_);
    if (want && !want->model) want = nullptr;  // stamped by a slot that has no model
    if (want ? want != st->served.get() : slot_->generation() != st->served->generation) {
      std::shared_ptr<const ServedModel> next =
          want ? std::static_pointer_cast<const ServedModel>(batch.model) : slot_->current();
      if (next != st->served) switch_to(*st, std::move(next), out);
    }
    batch.model = st->served;  // classify names results by the model that ran
  }
  const engine::ModelConfig& c = st->model->config();
  drop_unfit_records(batch, c, out);
  if (batch.records.empty()) return;
  const size_t L = static_cast<size_t>(c.num_labels);
  const size_t E = options_.embeddings ? static_cast<size_t>(c.hidden_size) : 0;
  batch.num_labels = static_cast<int32_t>(L);
  batch.logits.assign(batch.size() * L, 0.f);
  if (E) {
    batch.embedding_dim = static_cast<int32_t>(E);
    batch.embeddings.assign(batch.size() * E, 0.f);
  }
  batch.infer_begin_ns = core::now_ns();
  InFlight f;
  if (st->cache) {
    for (size_t i = 0; i < batch.size(); ++i) {
      const std::span<const int32_t> ids(
          batch.token_ids.data() + batch.cu_seqlens[i],
          static_cast<size_t>(batch.cu_seqlens[i + 1] - batch.cu_seqlens[i]));
      const std::span<const float> v = st->cache->find(ids);
      if (v.empty()) {
        f.miss.push_back(static_cast<uint32_t>(i));
        continue;
      }
      std::copy_n(v.begin(), L, batch.logits.begin() + i * L);
      if (E) std::copy_n(v.begin() + L, E, batch.embeddings.begin() + i * E);
    }
    const auto entries = static_cast<int64_t>(st->cache->size());
    probe_.on_cache(batch.size() - f.miss.size(), f.miss.size(), entries - st->cache_reported);
    st->cache_reported = entries;
    if (f.miss.empty()) {  // every record answered: no inference
      batch.infer_end_ns = core::now_ns();
      f.batch = std::move(batch);
      st->in_flight.push_back(std::move(f));
      on_tick(s, out);
      return;
    }
    f.partial = f.miss.size() < batch.size();
  }
  if (f.partial) {
    f.cu.push_back(0);
    for (uint32_t i : f.miss) {
      const int32_t b = batch.cu_seqlens[i], e = batch.cu_seqlens[i + 1];
      f.ids.insert(f.ids.end(), batch.token_ids.begin() + b, batch.token_ids.begin() + e);
      f.cu.push_back(static_cast<int32_t>(f.ids.size()));
      f.max_len = std::max(f.max_len, e - b);
    }
    f.logits.assign(f.miss.size() * L, 0.f);
    if (E) f.embeddings.assign(f.miss.size() * E, 0.f);
  }
  f.batch = std::move(batch);
  f.submitted = true;
  // The vectors keep their heap buffers when `f` moves into in_flight, so the
  // spans handed to the backend stay valid.
  const bool p = f.partial;
  core::Batch& b = f.batch;
  const engine::EncoderBatch eb{p ? f.ids : b.token_ids, p ? f.cu : b.cu_seqlens,
                                p ? f.max_len : b.max_seqlen};
  const engine::EncoderOutputs eo{p ? f.logits : b.logits, p ? f.embeddings : b.embeddings};
  f.ticket = st->backend->submit(eb, eo, {&InferState::on_done, st});
  st->in_flight.push_back(std::move(f));
  on_tick(s, out);  // emit whatever finished meanwhile
}

void Infer::on_tick(core::OperatorState* s, core::Emitter& out) const {
  auto* st = static_cast<InferState*>(s);
  {
    std::lock_guard lock(st->mu);
    st->drained.insert(st->drained.end(), std::make_move_iterator(st->completed.begin()),
                       std::make_move_iterator(st->completed.end()));
    st->completed.clear();
  }
  // Tickets complete in submit order, so results line up with in_flight's
  // submitted entries; batches the cache answered wait for their turn.
  size_t d = 0;
  while (!st->in_flight.empty()) {
    InFlight& f = st->in_flight.front();
    if (f.submitted) {
      if (d == st->drained.size()) break;
      const Completed& done = st->drained[d++];
      if (f.ticket != done.ticket)
        throw std::logic_error("infer: backend completed tickets out of order");
      if (!done.result.ok) throw std::runtime_error("inference failed: " + done.result.error);
      f.batch.infer_end_ns = core::now_ns();
      if (feedback_) feedback_->report(f.batch.infer_end_ns - f.batch.infer_begin_ns);
      probe_.on_batch(f.batch, f.partial ? f.miss.size() : f.batch.size(), done.result.compute_ns);
      if (f.partial) scatter_misses(f);
      if (st->cache) remember(*st, f);
    }
    core::Batch b = std::move(f.batch);
    st->in_flight.pop_front();
    drop_non_finite(b, out);
    if (!b.records.empty()) out.emit(std::move(b));
  }
  if (d != st->drained.size())
    throw std::logic_error("infer: backend completed a ticket that is not in flight");
  st->drained.clear();
}

void Infer::finish(core::OperatorState* s, core::Emitter& out) const {
  auto* st = static_cast<InferState*>(s);
  // Drain: completions still arrive by callback; look again every 200 µs.
  for (on_tick(s, out); !st->in_flight.empty(); on_tick(s, out))
    std::this_thread::sleep_for(std::chrono::microseconds(200));
}

namespace {

// An infer stage's keys: its operator's options, the model it names, and
// two keys read as written and checked after the read (devices: GPU indices;
// precision: auto resolves by the CPU). The initializers are the defaults.
struct InferStage {
  std::optional<std::string> model;  // default: model.path
  InferOptions options;
  std::vector<std::string> devices;
  std::string precision = "auto";
};

constexpr const char* kModelKey = "model";

const config::Options<InferStage>& infer_options() {
  static const config::Options<InferStage> options = [] {
    using S = InferStage;
    config::Options<S> o;
    o.add(kModelKey, &S::model,
          "Model directory: config.json + model.safetensors as Hugging Face writes them "
          "(default: model.path)");
    o.add(
        "device", [](S & s) -> auto& { return s.options.backend.device; },
        "Compute device: auto (CUDA when a usable GPU is present, else CPU), cpu, cuda (see "
        "devices) or cuda:N");
    o.add("devices", &S::devices,
          "device cuda: GPU indices to deal batches over round-robin, e.g. [0, 1]; empty = GPU 0");
    o.add(
         "dtype", [](S & s) -> auto& { return s.options.backend.dtype; },
         "CUDA: weights and activations (fp32 accumulation)")
        .choices({"fp16", "bf16"});
    o.add(
        "cuda_graphs", [](S & s) -> auto& { return s.options.backend.cuda_graphs; },
        "CUDA: replay captured graphs for repeated batch shapes");
    o.add(
         "threads", [](S & s) -> auto& { return s.options.backend.threads; },
         "CPU backend compute threads; 0 = the CPUs this process may use (affinity and cgroup "
         "quota)")
        .range(0, 1024);
    o.add("precision", &S::precision,
          "CPU GEMMs: auto (default: int8 where the CPU has VNNI or AMX, else fp32), fp32 "
          "(matches PyTorch), bf16 (AMX; logits move by ~1e-2) or int8 (dynamic quantization)")
        .choices({"auto", "fp32", "bf16", "int8"});
    o.add(
         "max_in_flight", [](S & s) -> auto& { return s.options.backend.max_in_flight; },
         "Batches submitted to the backend at once")
        .range(1, 64);
    o.add(
         "max_batch_tokens", [](S & s) -> auto& { return s.options.backend.max_batch_tokens; },
         "Workspace sizing hint: the largest batch expected, in tokens")
        .range(1, 1 << 22);
    o.add(
        "embeddings", [](S & s) -> auto& { return s.options.embeddings; },
        "Also return pooled embeddings");
    o.add(
         "cache_entries", [](S & s) -> auto& { return s.options.cache_entries; },
         "Result cache size per worker: repeated token sequences skip the model (0 = off)")
        .range(0, 1 << 26);
    o.add(
         "pooling", [](S & s) -> auto& { return s.options.backend.pooling; },
         "Pooled embedding: the classifier head's hidden vector, the first token's state, or "
         "the mean")
        .choices({{"head", engine::Pooling::kHead},
                  {"first_token", engine::Pooling::kFirstToken},
                  {"mean", engine::Pooling::kMean}});
    return o;
  }();
  return options;
}

}  // namespace

void register_infer(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "infer",
      .description = "Runs the encoder model over each batch on the CPU or CUDA backend",
      .is_source = false,
      .declare = [](config::Schema& s) { infer_options().declare(s); },
      .make_source = nullptr,
      .make_operator = [](BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        InferStage stage = infer_options().read(ctx.options);
        InferOptions& o = stage.options;
        {
          const std::string& d = o.backend.device;
          const bool ok = d == "auto" || d == "cpu" || d == "cuda" ||
                          (d.rfind("cuda:", 0) == 0 && d.size() > 5 && d.size() <= 9 &&
                           d.find_first_not_of("0123456789", 5) == std::string::npos);
          if (!ok)
            throw std::invalid_argument("device: expected auto, cpu, cuda or cuda:N, got '" + d +
                                        "'");
        }
        for (const std::string& g : stage.devices) {
          if (g.empty() || g.size() > 4 || g.find_first_not_of("0123456789") != std::string::npos)
            throw std::invalid_argument("devices: expected GPU indices, got '" + g + "'");
          o.backend.devices.push_back(std::stoi(g));
        }
        engine::parse_precision(stage.precision, &o.backend.precision);
        const std::string dir = model_directory(ctx, stage.model, kModelKey);
        const std::shared_ptr<const engine::Model> model = shared_model(ctx, dir);
        ModelSlot& slot = model_slot(ctx.services, dir);
        if (o.embeddings) {
          // Later stages read embedding_dim values per record: a reload keeps it.
          slot.add_check([](const ServedModel& next, const ServedModel& serving) -> std::string {
            const int64_t was = serving.model->config().hidden_size,
                          now = next.model->config().hidden_size;
            if (now == was) return "";
            return (next.model->directory() / "config.json").string() + ": hidden_size " +
                   std::to_string(now) + " differs from the serving model's " +
                   std::to_string(was) + " (the embeddings' size; restart to change it)";
          });
        }
        InferProbe probe;
        if (auto* m = ctx.services.metrics())
          probe = InferProbe(*m, ctx.services.pipeline_name(), ctx.stage_name);
        auto& feedback =
            ctx.services.shared<BatchFeedback>([] { return std::make_unique<BatchFeedback>(); });
        return std::make_unique<Infer>(std::move(model), std::move(o), std::move(probe), &feedback,
                                       &slot);
      },
  });
}

}  // namespace sluice::operators
