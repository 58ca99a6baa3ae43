#include "operators/recommend_score.h"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "operators/json_text.h"
#include "operators/recommend_state.h"
#include "src/core/emitter.h"
#include "src/core/log.h"
#include "src/engine/scorer_factory.h"
#include "src/metrics/buckets.h"

namespace sluice::operators {
namespace {

void append_number(std::string& out, double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_float(std::string& out, float v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

struct ScoreState : core::OperatorState {
  std::unique_ptr<engine::Scorer> scorer;
  std::vector<float> queries, top_scores;
  std::vector<int32_t> offsets, exclude, top_items;
  std::vector<uint32_t> rows;  // batch record index of each query row
};

}  // namespace

// ---- RecommendScoreProbe ----

RecommendScoreProbe::RecommendScoreProbe(metrics::Registry& r, const std::string& pipeline,
                                         const std::string& stage)
    : registry_(&r), labels_{{"pipeline", pipeline}, {"stage", stage}} {
  latency_ = &r.histogram("sluice_recommend_latency_seconds",
                          "Event read by the source to its recommendation emitted.",
                          metrics::latency_seconds_buckets(), labels_);
  rows_ = &r.histogram("sluice_recommend_batch_rows", "Events scored per batch (one GEMM).",
                       metrics::exponential_buckets(1, 2, 11), labels_);
  gemm_ = &r.histogram("sluice_recommend_gemm_seconds", "Scoring GEMM time per batch.",
                       metrics::latency_seconds_buckets(), labels_);
  topk_ = &r.histogram("sluice_recommend_topk_seconds",
                       "Seen-item masking and top-K selection time per batch.",
                       metrics::latency_seconds_buckets(), labels_);
  cold_ = &r.counter("sluice_recommend_cold_starts_total",
                     "Recommendations for users without history: the popularity list.", labels_);
  emitted_ =
      &r.counter("sluice_recommend_recommendations_total", "Recommendations emitted.", labels_);
}

void RecommendScoreProbe::on_scorer(const RecommenderModel& model, const engine::Scorer& scorer) {
  if (!registry_) return;
  metrics::Labels l = labels_;
  l.emplace_back("model", model.name());
  l.emplace_back("version", model.version());
  l.emplace_back("items", std::to_string(model.num_items()));
  l.emplace_back("dim", std::to_string(model.dim()));
  l.emplace_back("device", std::string(scorer.kind()));
  registry_->gauge("sluice_model_info", "The model a recommend_score stage serves (value 1).", l)
      .set(1);
}

void RecommendScoreProbe::on_batch(size_t rows, size_t cold, const engine::ScoreTimes& t) {
  if (!registry_) return;
  rows_->observe(static_cast<double>(rows));
  gemm_->observe(static_cast<double>(t.gemm_ns) * 1e-9);
  topk_->observe(static_cast<double>(t.topk_ns) * 1e-9);
  if (cold) cold_->inc(static_cast<double>(cold));
}

void RecommendScoreProbe::on_emit(int64_t latency_ns) {
  if (!registry_) return;
  latency_->observe(static_cast<double>(latency_ns) * 1e-9);
  emitted_->inc();
}

// ---- RecommendScore ----

RecommendScore::RecommendScore(std::shared_ptr<const RecommenderModel> model,
                               RecommendScoreOptions options, RecommendScoreProbe probe,
                               int workers)
    : model_(std::move(model)),
      options_(std::move(options)),
      probe_(std::move(probe)),
      workers_(std::max(1, workers)) {
  if (options_.k < 1) throw std::invalid_argument("k must be positive");
  options_.scorer.max_k = std::max(options_.scorer.max_k, options_.k);
  append_json_string(model_json_, model_->name());
}

RecommendScore::~RecommendScore() = default;

void RecommendScore::start() {
  const auto items = model_->scoring_items();
  scorers_.clear();
  for (int w = 0; w < workers_; ++w)
    scorers_.push_back(engine::make_scorer(items.data(), model_->num_items(), model_->scoring_dim(),
                                           options_.scorer));
}

std::unique_ptr<core::OperatorState> RecommendScore::make_state(const core::WorkerInfo& worker) {
  auto st = std::make_unique<ScoreState>();
  if (worker.index >= static_cast<int>(scorers_.size()) ||
      !scorers_[static_cast<size_t>(worker.index)])
    throw std::logic_error("recommend_score: no scorer for worker " + std::to_string(worker.index) +
                           " (start() builds one per worker)");
  st->scorer = std::move(scorers_[static_cast<size_t>(worker.index)]);
  core::log_info("recommend_score '", worker.stage, "' worker ", worker.index, ": model ",
                 model_->name(), " (", model_->num_items(), " items, d=", model_->dim(), ") on ",
                 st->scorer->device_name());
  probe_.on_scorer(*model_, *st->scorer);
  return st;
}

void RecommendScore::process(core::OperatorState* s, core::Item&& item, core::Emitter& out) const {
  auto* st = static_cast<ScoreState*>(s);
  auto& b = std::get<core::Batch>(item);
  const int64_t sd = model_->scoring_dim();
  const int64_t k = options_.k;
  st->rows.clear();
  st->offsets.assign(1, 0);
  st->exclude.clear();
  st->queries.clear();
  size_t cold = 0;
  for (size_t i = 0; i < b.records.size(); ++i) {
    const bool packed = b.cu_seqlens.size() == b.records.size() + 1;
    const std::span<const int32_t> tokens =
        packed
            ? std::span<const int32_t>(b.token_ids.data() + b.cu_seqlens[i],
                                       static_cast<size_t>(b.cu_seqlens[i + 1] - b.cu_seqlens[i]))
            : std::span<const int32_t>(b.records[i].tokens);
    const auto h = decode_history(tokens, *model_);
    if (!h) {
      out.dead_letter(std::move(b.records[i]), "invalid_state",
                      "the record carries no user state for this model (is recommend_state, with "
                      "the same model, the stage before micro_batch?)");
      continue;
    }
    st->rows.push_back(static_cast<uint32_t>(i));
    st->queries.resize(st->queries.size() + static_cast<size_t>(sd));
    model_->query_row(h->recent, std::span<float>(st->queries).last(static_cast<size_t>(sd)));
    st->exclude.insert(st->exclude.end(), h->seen.begin(), h->seen.end());
    st->offsets.push_back(static_cast<int32_t>(st->exclude.size()));
    if (h->recent.empty()) ++cold;
  }
  const auto rows = static_cast<int64_t>(st->rows.size());
  if (rows == 0) return;
  st->top_items.resize(static_cast<size_t>(rows * k));
  st->top_scores.resize(static_cast<size_t>(rows * k));
  const engine::ScoreTimes times = st->scorer->top_k({st->queries, rows, st->offsets, st->exclude},
                                                     k, {st->top_items, st->top_scores});
  probe_.on_batch(static_cast<size_t>(rows), cold, times);

  const int64_t now = core::now_ns();
  for (int64_t r = 0; r < rows; ++r) {
    core::Record& rec = b.records[st->rows[static_cast<size_t>(r)]];
    std::string v;
    v.reserve(96 + static_cast<size_t>(k) * 24);
    v += "{\"user\":";
    append_json_string(v, rec.id);
    v += ",\"items\":[";
    int64_t n = 0;
    for (; n < k && st->top_items[static_cast<size_t>(r * k + n)] >= 0; ++n) {
      if (n) v.push_back(',');
      v += model_->item_id_json(st->top_items[static_cast<size_t>(r * k + n)]);
    }
    v += "],\"scores\":[";
    for (int64_t j = 0; j < n; ++j) {
      if (j) v.push_back(',');
      append_float(v, st->top_scores[static_cast<size_t>(r * k + j)]);
    }
    v += "],\"model\":";
    v += model_json_;
    v += ",\"event_offset\":";
    append_number(v, static_cast<double>(rec.offset));
    const int64_t since = rec.ingest_ns > 0 ? rec.ingest_ns : b.oldest_ns;
    v += ",\"latency_ms\":";
    append_number(v, static_cast<double>((now - since) / 1000) / 1000);
    v.push_back('}');
    rec.set_value(std::move(v));
    rec.set_key(rec.id);
    rec.tokens.clear();
    probe_.on_emit(now - since);
    out.emit(std::move(rec));
  }
}

namespace {

// A recommend_score stage's keys: its operator's options and the model it
// names. The initializers are the keys' defaults.
struct RecommendScoreStage {
  std::optional<std::string> model;  // default: model.path
  RecommendScoreOptions options;
};

constexpr const char* kModelKey = "model";

const config::Options<RecommendScoreStage>& recommend_score_options() {
  static const config::Options<RecommendScoreStage> options = [] {
    using S = RecommendScoreStage;
    config::Options<S> o;
    o.add(kModelKey, &S::model,
          "Recommendation model directory (the same as recommend_state's; default: model.path)");
    o.add(
         "k", [](S & s) -> auto& { return s.options.k; }, "Items recommended per event")
        .range(1, 1000);
    o.add(
        "device", [](S & s) -> auto& { return s.options.scorer.device; },
        "auto (CUDA when a usable GPU is present, else CPU), cpu, cuda or cuda:N");
    o.add(
         "threads", [](S & s) -> auto& { return s.options.scorer.threads; },
         "CPU scorer threads; 0 = every core")
        .range(0, 1024);
    o.add(
         "memory_budget", [](S & s) -> auto& { return s.options.scorer.memory_budget_bytes; },
         "Most bytes the score matrix of one catalogue tile may take; larger catalogues are "
         "scored tile by tile")
        .bytes()
        .range(1 << 20, 1ull << 36);
    o.add(
         "max_batch_rows", [](S & s) -> auto& { return s.options.scorer.max_rows; },
         "Rows per GEMM (larger batches run in chunks)")
        .range(1, 4096);
    return o;
  }();
  return options;
}

}  // namespace

void register_recommend_score(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "recommend_score",
      .description = "Scores each batch of events as one GEMM (user vectors × item matrix, seen "
                     "items masked) and emits each user's top-K, on the GPU or the CPU",
      .is_source = false,
      .declare = [](config::Schema& s) { recommend_score_options().declare(s); },
      .make_source = nullptr,
      .make_operator = [](BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        RecommendScoreStage stage = recommend_score_options().read(ctx.options);
        RecommendScoreOptions& o = stage.options;
        o.scorer.max_k = o.k;
        if (!engine::is_scorer_device(o.scorer.device))
          throw std::invalid_argument("device: expected auto, cpu, cuda or cuda:N, got '" +
                                      o.scorer.device + "'");
        auto model =
            shared_recommender_model(ctx.services, model_directory(ctx, stage.model, kModelKey));
        RecommendScoreProbe probe;
        if (auto* m = ctx.services.metrics())
          probe = RecommendScoreProbe(*m, ctx.services.pipeline_name(), ctx.stage_name);
        return std::make_unique<RecommendScore>(std::move(model), std::move(o), std::move(probe),
                                                ctx.workers);
      },
  });
}

}  // namespace sluice::operators
