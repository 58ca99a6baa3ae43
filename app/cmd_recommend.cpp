// `sluice recommend --model DIR [--k 10] < events.jsonl`: the recommendation
// pipeline without Kafka. Each input line is one event (recommend_event.h);
// each output line is that user's top-K after the event, in input order:
//
//   {"user":"42","items":[...],"scores":[...],"model":"…","event_offset":7,"latency_ms":0.9}
//
// or, for an event that cannot be used, {"event_offset":7,"error":CODE,
// "detail":"…"} (what the pipeline sends to the dead-letter topic).
// event_offset is the line's index (0-based). The stages are the pipeline's
// own operators run by the same stage runner: recommend_state →
// micro_batch → recommend_score, between a stdin source and a stdout sink
// (app/stdio_pipeline.h, shared with `sluice classify`).
// Users' state is in memory only (no Kafka, no changelog): it lives as long
// as the command, bounded by max_users (least recently used evicted).
//
// Exit codes: 0 done, 1 runtime failure, 2 bad usage or a bad model
// directory (the message names the file and the field).
#include <iostream>
#include <string>

#include "app/commands.h"
#include "app/options.h"
#include "app/stdio_pipeline.h"
#include "operators/micro_batch.h"
#include "operators/recommend_score.h"
#include "operators/recommend_state.h"
#include "src/engine/scorer_factory.h"

namespace sluice::app {
namespace {

constexpr const char* kUsage =
    "usage: sluice recommend --model DIR [--k N] [--device auto|cpu|cuda] [--threads N]\n"
    "                        [--max-batch-records N] [--max-delay-ms MS] [--max-users N]\n"
    "                        [--max-seen N] [--max-record-bytes N]\n"
    "  reads one JSON event per line on stdin ({\"user\",\"item\",\"ts\"}), writes one JSON\n"
    "  recommendation per line on stdout, in order\n";

struct Args {
  std::string model;
  operators::RecommendStateOptions state;
  operators::RecommendScoreOptions score;
  operators::MicroBatchPolicy batch;
};

bool parse_args(int argc, char** argv, Args* a, std::string* error) {
  a->batch.max_batch_records = 256;
  a->batch.max_batch_tokens = 1 << 22;  // records carry state, not tokens: batch by records
  a->batch.max_delay = std::chrono::milliseconds(2);
  a->state.max_record_bytes = 1 << 16;
  for (int i = 1; i < argc; ++i) {
    const std::string_view f = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (f != "--model" && f != "--device" && f != "--k" && f != "--threads" &&
        f != "--max-batch-records" && f != "--max-delay-ms" && f != "--max-users" &&
        f != "--max-seen" && f != "--max-record-bytes")
      return *error = "unknown argument '" + std::string(f) + "'", false;
    if (!v) return *error = std::string(f) + " needs a value", false;
    ++i;
    if (f == "--model") {
      a->model = v;
      continue;
    }
    if (f == "--device") {
      if (!engine::is_scorer_device(v))
        return *error =
                   "--device: expected auto, cpu, cuda or cuda:N, got '" + std::string(v) + "'",
               false;
      a->score.scorer.device = v;
      continue;
    }
    int64_t n = 0;
    const int64_t lo = f == "--threads" || f == "--max-delay-ms" || f == "--max-seen" ? 0 : 1;
    if (!parse_int(v, &n) || n < lo)
      return *error = std::string(f) + " needs an integer of at least " + std::to_string(lo), false;
    if (f == "--k") {
      if (n > 1000) return *error = "--k must be at most 1000", false;
      a->score.k = n;
    } else if (f == "--threads") {
      a->score.scorer.threads = static_cast<int>(std::min<int64_t>(n, 1024));
    } else if (f == "--max-batch-records") {
      a->batch.max_batch_records = std::min<int64_t>(n, 65536);
    } else if (f == "--max-delay-ms") {
      a->batch.max_delay = std::chrono::milliseconds(std::min<int64_t>(n, 60'000));
    } else if (f == "--max-users") {
      a->state.max_users = n;
    } else if (f == "--max-seen") {
      if (n > operators::RecommenderModel::kMaxSeen)
        return *error =
                   "--max-seen is at most " + std::to_string(operators::RecommenderModel::kMaxSeen),
               false;
      a->state.max_seen = static_cast<int32_t>(n);
    } else if (f == "--max-record-bytes") {
      a->state.max_record_bytes = static_cast<size_t>(std::min<int64_t>(n, 1 << 26));
    }
  }
  if (a->model.empty()) return *error = "--model DIR is required", false;
  a->score.scorer.max_k = a->score.k;
  a->score.scorer.max_rows = std::min<int64_t>(a->batch.max_batch_records, 4096);
  return true;
}

int run(const Args& args) {
  // An unknown or unusable --device is bad usage (exit 2), found before the
  // score stage's worker builds the scorer.
  engine::select_scorer_device(args.score.scorer.device);
  auto model = std::make_shared<const operators::RecommenderModel>(
      operators::RecommenderModel::load(args.model));
  std::cerr << "sluice recommend: " << model->name()
            << (model->version().empty() ? "" : " " + model->version()) << " ("
            << model->num_items() << " items, d=" << model->dim() << ", history "
            << model->history_length() << ")\n";
  StdioPipeline p({.name = "recommend", .max_line_bytes = args.state.max_record_bytes});
  p.add_stage("state", std::make_unique<operators::RecommendState>(
                           model, args.state, operators::RecommendStateProbe()));
  p.add_stage("batch", std::make_unique<operators::MicroBatch>(
                           args.batch, operators::MicroBatchProbe(), nullptr));
  p.add_stage("score", std::make_unique<operators::RecommendScore>(
                           model, args.score, operators::RecommendScoreProbe()));
  return p.run("recommend");
}

}  // namespace

int cmd_recommend(int argc, char** argv) {
  Args args;
  std::string error;
  if (!parse_args(argc, argv, &args, &error)) {
    std::cerr << "sluice recommend: " << error << '\n' << kUsage;
    return 2;
  }
  return run_command("recommend", [&] { return run(args); });
}

}  // namespace sluice::app
