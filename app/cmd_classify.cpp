// `sluice classify --model DIR [--probs] ...`: the classification pipeline
// without Kafka. One input line is one text; one JSON line per input line
// comes out, in input order: the line's result, as the pipeline's classify
// stage writes it ("id" is the line's 1-based number),
//
//   {"id":3,"label":"positive","score":0.93,"model":"…","model_hash":"…",
//    "model_version":"…","latency_ms":2.1}
//
// or, for a line the pipeline rejects, what it would send to the dead-letter
// topic: {"event_offset":N,"error":CODE,"detail":"…"}, where event_offset is
// the line's 0-based index (line number - 1) and CODE is "empty" (an empty
// line, or one with no tokens), "invalid_utf8" (tokenize's invalid_utf8:
// reject), "model_input" or "non_finite_output". The stages are the
// pipeline's own operators run by the same stage runner (app/stdio_pipeline.h):
// tokenize → micro_batch → infer (its result cache included: a repeated text
// is not run again) → classify. At the end a summary goes to stderr:
//
//   sluice classify: 12284 lines: 12284 results, 0 errors; result cache 31 hits, 12253 misses
//
// Exit codes: 0 done, 1 runtime failure, 2 bad usage or a bad model /
// tokenizer directory (the message names the file and why).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/options.h"
#include "app/stdio_pipeline.h"
#include "operators/classify.h"
#include "operators/infer.h"
#include "operators/micro_batch.h"
#include "operators/tokenize.h"
#include "src/engine/backend_factory.h"
#include "src/engine/model.h"
#include "src/engine/model_error.h"
#include "src/metrics/registry.h"
#include "src/text/tokenizer.h"

namespace sluice::app {
namespace {

constexpr const char* kUsage =
    "usage: sluice classify --model DIR [--probs] [--device auto|cpu|cuda] [--threads N]\n"
    "                       [--precision auto|fp32|bf16|int8] [--max-batch-records N] "
    "[--max-batch-tokens "
    "N]\n"
    "                       [--max-delay-ms MS] [--min-score X] [--tokenizer PATH]\n"
    "                       [--labels NAME,NAME,...] [--cache-entries N]\n"
    "  reads one text per line on stdin, writes one JSON result (or error) per line on\n"
    "  stdout, in order; --labels names the model's outputs in id order instead of\n"
    "  config.json's id2label; --cache-entries sizes the result cache (0: off)\n";

// Longer lines keep their first 64 MiB (thousands of times what a model
// reads: the tokenizer truncates to max_length), so memory stays bounded.
constexpr size_t kMaxLineBytes = size_t{1} << 26;

struct Args {
  std::string model, tokenizer;
  std::vector<std::string> labels;  // empty: config.json's id2label
  bool probs = false;
  double min_score = 0;
  engine::BackendOptions backend;
  operators::MicroBatchPolicy policy;
  int64_t cache_entries = operators::InferOptions{}.cache_entries;
};

bool parse_args(int argc, char** argv, Args* a, std::string* error) {
  a->backend.device = "auto";
  a->backend.precision = engine::Precision::kAuto;  // the infer stage's default too
  for (int i = 1; i < argc; ++i) {
    const std::string_view f = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    int64_t n = 0;
    if (f == "--probs") {
      a->probs = true;
    } else if (f == "--labels") {
      const char* v = value();
      if (!v) return *error = "--labels needs a comma-separated list of names", false;
      a->labels.clear();
      std::string_view rest = v;
      for (size_t comma; (comma = rest.find(',')) != std::string_view::npos;
           rest.remove_prefix(comma + 1))
        a->labels.emplace_back(rest.substr(0, comma));
      a->labels.emplace_back(rest);
    } else if (f == "--model" || f == "--tokenizer" || f == "--device" || f == "--precision") {
      const char* v = value();
      if (!v) return *error = std::string(f) + " needs a value", false;
      if (f == "--model") a->model = v;
      if (f == "--tokenizer") a->tokenizer = v;
      if (f == "--device") a->backend.device = v;
      if (f == "--precision") {
        if (!engine::parse_precision(v, &a->backend.precision))
          return *error = "--precision must be auto, fp32, bf16 or int8", false;
      }
    } else if (f == "--threads" || f == "--max-batch-records" || f == "--max-batch-tokens" ||
               f == "--max-delay-ms" || f == "--cache-entries") {
      const char* v = value();
      const bool zero_ok = f == "--threads" || f == "--max-delay-ms" || f == "--cache-entries";
      if (!v || !parse_int(v, &n) || n < (zero_ok ? 0 : 1))
        return *error = std::string(f) + " needs a " + (zero_ok ? "non-negative" : "positive") +
                        " integer",
               false;
      if (f == "--cache-entries") a->cache_entries = std::min<int64_t>(n, 1 << 26);
      if (f == "--threads") a->backend.threads = static_cast<int>(n);
      if (f == "--max-batch-records") a->policy.max_batch_records = n;
      if (f == "--max-batch-tokens") a->policy.max_batch_tokens = n;
      if (f == "--max-delay-ms") a->policy.max_delay = std::chrono::milliseconds(n);
    } else if (f == "--min-score") {
      const char* v = value();
      char* end = nullptr;
      if (v) a->min_score = std::strtod(v, &end);
      if (!v || *end != '\0' || a->min_score < 0 || a->min_score > 1)
        return *error = "--min-score needs a number in [0, 1]", false;
    } else {
      return *error = "unknown argument '" + std::string(f) + "'", false;
    }
  }
  if (a->model.empty()) return *error = "--model DIR is required", false;
  a->backend.max_batch_tokens = a->policy.max_batch_tokens;
  a->backend.max_batch_records = a->policy.max_batch_records;
  return true;
}

int run(const Args& args) {
  auto model = std::make_shared<const engine::Model>(engine::Model::load(args.model));
  const std::filesystem::path tok_path =
      args.tokenizer.empty() ? model->tokenizer_path() : std::filesystem::path(args.tokenizer);
  if (tok_path.empty())
    throw engine::ModelError(
        args.model, "no tokenizer.json or vocab.txt in the model directory (or pass --tokenizer)");
  std::unique_ptr<text::Tokenizer> tokenizer = text::Tokenizer::load(tok_path);
  const engine::ModelConfig& config = model->config();
  // An unknown or unusable --device is bad usage (exit 2), found before the
  // infer stage's worker builds the backend.
  const std::vector<int> gpus = engine::select_devices(args.backend);
  std::cerr << "sluice classify: " << model->name() << " (" << config.architecture_class << ", "
            << config.num_labels << " labels) on "
            << (gpus.empty() ? std::string("cpu") : "cuda:" + std::to_string(gpus.front())) << '\n';

  operators::ClassifyOptions copt =
      operators::ClassifyOptions::from_model(config, model->name(), model->identity());
  copt.probs = args.probs;
  copt.min_score = args.min_score;
  copt.id_is_json = true;  // the line number
  if (!args.labels.empty()) {
    try {
      copt.rename_labels(args.labels);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("--labels: ") + e.what());
    }
  }

  operators::TokenizeOptions topt;
  topt.tokenizer = tok_path.string();
  // No longer than the model's position table: a longer text is truncated,
  // not refused by the infer stage.
  topt.max_length = static_cast<int32_t>(
      std::min<int64_t>(tokenizer->model_max_length(), config.max_sequence_length()));

  operators::InferOptions iopt;
  iopt.backend = args.backend;
  iopt.cache_entries = args.cache_entries;

  metrics::Registry registry;  // not served: read for the summary
  operators::InferProbe probe(registry, "classify", "infer");
  probe.enable_cache();  // this copy reads the counters the stage's copy updates

  StdioPipeline p({.name = "classify", .max_line_bytes = kMaxLineBytes, .number_lines = true});
  p.add_stage("tokenize",
              std::make_unique<operators::Tokenize>(std::move(topt), "classify", "tokenize",
                                                    &registry, std::move(tokenizer)));
  p.add_stage("batch", std::make_unique<operators::MicroBatch>(
                           args.policy, operators::MicroBatchProbe(), nullptr));
  p.add_stage("infer", std::make_unique<operators::Infer>(model, std::move(iopt), probe, nullptr));
  p.add_stage("classify", std::make_unique<operators::Classify>(std::move(copt)));
  const int code = p.run("classify");
  std::cerr << "sluice classify: " << p.results() + p.errors() << " lines: " << p.results()
            << " results, " << p.errors() << " errors; result cache " << probe.cache_hits()
            << " hits, " << probe.cache_misses() << " misses\n";
  return code;
}

}  // namespace

int cmd_classify(int argc, char** argv) {
  Args args;
  std::string error;
  if (!parse_args(argc, argv, &args, &error)) {
    std::cerr << "sluice classify: " << error << '\n' << kUsage;
    return 2;
  }
  return run_command("classify", [&] { return run(args); });
}

}  // namespace sluice::app
