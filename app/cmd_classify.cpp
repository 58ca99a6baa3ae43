// `sluice classify --model DIR [--probs] ...`: classifies text without Kafka.
// One input line is one text; one JSON result per line comes out, in input
// order. Lines are tokenized with the model's own tokenizer and batched with
// the micro_batch policy (token budget, max delay, at once when the model is
// idle), so the CLI runs the same engine path as a pipeline.
//
// Exit codes: 0 done, 1 runtime failure, 2 bad usage or a bad model /
// tokenizer directory (the message names the file and why).
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "app/commands.h"
#include "operators/classify.h"
#include "operators/micro_batch.h"
#include "src/core/clock.h"
#include "src/engine/backend_factory.h"
#include "src/engine/model.h"
#include "src/engine/model_error.h"
#include "src/text/tokenizer.h"

namespace sluice::app {
namespace {

constexpr const char* kUsage =
    "usage: sluice classify --model DIR [--probs] [--device auto|cpu|cuda] [--threads N]\n"
    "                       [--precision auto|fp32|bf16|int8] [--max-batch-records N] "
    "[--max-batch-tokens "
    "N]\n"
    "                       [--max-delay-ms MS] [--min-score X] [--tokenizer PATH]\n"
    "                       [--labels NAME,NAME,...]\n"
    "  reads one text per line on stdin, writes one JSON result per line on stdout;\n"
    "  --labels names the model's outputs in id order instead of config.json's id2label\n";

struct Args {
  std::string model, tokenizer;
  std::vector<std::string> labels;  // empty: config.json's id2label
  bool probs = false;
  double min_score = 0;
  engine::BackendOptions backend;
  operators::MicroBatchPolicy policy;
};

bool parse_int(const char* s, int64_t* out) {
  const char* end = s + std::strlen(s);
  auto [p, ec] = std::from_chars(s, end, *out);
  return ec == std::errc() && p == end;
}

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
               f == "--max-delay-ms") {
      const char* v = value();
      if (!v || !parse_int(v, &n) || n < (f == "--threads" || f == "--max-delay-ms" ? 0 : 1))
        return *error = std::string(f) + " needs a " +
                        (f == "--threads" ? "non-negative" : "positive") + " integer",
               false;
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

// Completions from the backend's thread: results are queued under a mutex
// and an eventfd wakes the main loop's poll().
struct Completions {
  int event_fd = -1;
  std::mutex mu;
  std::vector<std::pair<engine::Ticket, engine::BatchResult>> done;  // under mu
  static void on_done(void* ctx, engine::Ticket t, const engine::BatchResult& r) {
    auto* c = static_cast<Completions*>(ctx);
    {
      std::lock_guard lock(c->mu);
      c->done.emplace_back(t, r);
    }
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(c->event_fd, &one, sizeof one);
  }
};

struct Pending {
  engine::Ticket ticket;
  core::Batch batch;
};

int run(const Args& args) {
  const engine::Model model = engine::Model::load(args.model);
  const std::filesystem::path tok_path =
      args.tokenizer.empty() ? model.tokenizer_path() : std::filesystem::path(args.tokenizer);
  if (tok_path.empty())
    throw engine::ModelError(
        args.model, "no tokenizer.json or vocab.txt in the model directory (or pass --tokenizer)");
  const auto tokenizer = text::Tokenizer::load(tok_path);
  auto backend = engine::make_backend(model, args.backend);
  const engine::ModelConfig& config = model.config();
  std::cerr << "sluice classify: " << model.name() << " (" << config.architecture_class << ", "
            << config.num_labels << " labels) on " << backend->device_name() << '\n';

  operators::ClassifyOptions copt =
      operators::ClassifyOptions::from_model(config, model.name(), model.identity());
  copt.probs = args.probs;
  copt.min_score = args.min_score;
  if (!args.labels.empty()) {
    try {
      copt.rename_labels(args.labels);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("--labels: ") + e.what());
    }
  }
  const operators::Classifier classifier(copt);
  operators::MicroBatcher batcher(args.policy);

  text::Tokenizer::Workspace ws;
  text::EncodeOptions enc;
  enc.max_length = static_cast<int32_t>(
      std::min<int64_t>(tokenizer->model_max_length(), config.max_sequence_length()));
  std::vector<int32_t> ids(static_cast<size_t>(enc.max_length));

  Completions completions;
  completions.event_fd = ::eventfd(0, EFD_CLOEXEC);
  if (completions.event_fd < 0) throw std::runtime_error("eventfd failed");
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{completions.event_fd};
  std::deque<Pending> in_flight;
  std::vector<core::Batch> ready;
  std::vector<std::pair<engine::Ticket, engine::BatchResult>> done;
  std::string out;
  int64_t line_no = 0;

  auto submit_ready = [&] {
    for (auto& b : ready) {
      b.num_labels = static_cast<int32_t>(config.num_labels);
      b.logits.assign(b.size() * config.num_labels, 0.f);
      const engine::Ticket t =
          backend->submit({b.token_ids, b.cu_seqlens, b.max_seqlen}, {b.logits, {}},
                          {&Completions::on_done, &completions});
      in_flight.push_back({t, std::move(b)});
    }
    ready.clear();
  };
  // Prints finished batches in order; results of a batch are in input order.
  auto print_done = [&] {
    {
      std::lock_guard lock(completions.mu);
      done.swap(completions.done);
    }
    for (auto& [t, r] : done) {
      if (in_flight.empty() || in_flight.front().ticket != t)
        throw std::logic_error("batches completed out of order");
      if (!r.ok) throw std::runtime_error("inference failed: " + r.error);
      core::Batch& b = in_flight.front().batch;
      classifier.to_probabilities(b.logits, static_cast<int64_t>(b.size()));
      const int64_t now = core::now_ns();
      out.clear();
      for (size_t i = 0; i < b.size(); ++i) {
        const std::span<const float> probs(b.logits.data() + i * config.num_labels,
                                           config.num_labels);
        classifier.write_json(out, b.records[i].id, classifier.decide(probs), probs,
                              static_cast<double>(now - b.records[i].ingest_ns) * 1e-6);
        out.push_back('\n');
      }
      std::cout << out;
      in_flight.pop_front();
    }
    if (!done.empty()) std::cout.flush();
    done.clear();
  };
  auto add_line = [&](std::string_view text) {
    const text::EncodeResult res = tokenizer->encode(text, ids, ws, enc);
    core::Record r;
    r.id = std::to_string(++line_no);  // already JSON: the line number
    const int64_t now = core::now_ns();
    r.ingest_ns = now;
    r.tokens.assign(ids.begin(), ids.begin() + res.length);
    if (r.tokens.empty()) r.tokens.push_back(config.pad_token_id);  // no special tokens configured
    batcher.add(std::move(r), now, ready);
  };

  // One thread: poll() waits for input, a completion or the batch deadline.
  std::vector<char> buf(1 << 16);
  std::string partial;
  bool eof = false;
  while (!eof || !in_flight.empty() || !batcher.empty()) {
    int timeout_ms = -1;
    if (!batcher.empty()) {
      const int64_t left = batcher.deadline_ns() - core::now_ns();
      timeout_ms = static_cast<int>(std::clamp<int64_t>((left + 999'999) / 1'000'000, 0, 60'000));
    }
    pollfd fds[2] = {{completions.event_fd, POLLIN, 0},
                     {STDIN_FILENO, static_cast<short>(eof ? 0 : POLLIN), 0}};
    if (::poll(fds, eof ? 1 : 2, timeout_ms) < 0 && errno != EINTR)
      throw std::runtime_error("poll failed");
    if (fds[0].revents & POLLIN) {
      uint64_t n;
      [[maybe_unused]] ssize_t r = ::read(completions.event_fd, &n, sizeof n);
    }
    if (!eof && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
      if (n < 0 && errno != EINTR && errno != EAGAIN)
        throw std::runtime_error("reading stdin failed");
      if (n == 0) {
        eof = true;
        if (!partial.empty()) add_line(partial);  // last line without a newline
        partial.clear();
      } else if (n > 0) {
        std::string_view chunk(buf.data(), static_cast<size_t>(n));
        for (size_t nl; (nl = chunk.find('\n')) != std::string_view::npos;
             chunk.remove_prefix(nl + 1)) {
          if (partial.empty()) {
            add_line(chunk.substr(0, nl));
          } else {
            partial.append(chunk.substr(0, nl));
            add_line(partial);
            partial.clear();
          }
        }
        partial.append(chunk);
      }
    }
    submit_ready();
    print_done();
    const int64_t now = core::now_ns();
    if (!batcher.empty()) {
      if (eof) {
        batcher.flush(core::FlushReason::kDrain, now, ready);
      } else if (in_flight.empty() && args.policy.flush_when_idle) {
        batcher.flush(core::FlushReason::kIdle, now, ready);
      } else if (now >= batcher.deadline_ns()) {
        batcher.flush(core::FlushReason::kMaxDelay, now, ready);
      }
      submit_ready();
    }
  }
  return 0;
}

}  // namespace

int cmd_classify(int argc, char** argv) {
  Args args;
  std::string error;
  if (!parse_args(argc, argv, &args, &error)) {
    std::cerr << "sluice classify: " << error << '\n' << kUsage;
    return 2;
  }
  try {
    return run(args);
  } catch (const engine::ModelError& e) {
    std::cerr << "sluice classify: " << e.what() << '\n';
    return 2;
  } catch (const text::TokenizerError& e) {
    std::cerr << "sluice classify: " << e.what() << '\n';
    return 2;
  } catch (const std::invalid_argument& e) {  // e.g. an unknown --device
    std::cerr << "sluice classify: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "sluice classify: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace sluice::app
