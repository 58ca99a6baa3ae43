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
// micro_batch → recommend_score, between a stdin source and a stdout sink.
// Users' state is in memory only (no Kafka, no changelog): it lives as long
// as the command, bounded by max_users (least recently used evicted).
//
// Exit codes: 0 done, 1 runtime failure, 2 bad usage or a bad model
// directory (the message names the file and the field).
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <string>

#include "app/commands.h"
#include "operators/json_text.h"
#include "operators/micro_batch.h"
#include "operators/recommend_score.h"
#include "operators/recommend_state.h"
#include "src/core/clock.h"
#include "src/core/emitter.h"
#include "src/core/log.h"
#include "src/core/pipeline.h"
#include "src/engine/model_error.h"
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

bool parse_int(const char* s, int64_t* out) {
  const char* end = s + std::strlen(s);
  auto [p, ec] = std::from_chars(s, end, *out);
  return ec == std::errc() && p == end;
}

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

// Output lines in input order: results (the sink's worker) and error lines
// (dead letters, from any stage's worker) are held until every earlier line
// is written. Thread-safe.
class OrderedOutput {
 public:
  void put(int64_t offset, std::string line) {
    std::lock_guard lock(mu_);
    if (offset == next_) {
      write(line);
      ++next_;
      for (auto it = held_.begin(); it != held_.end() && it->first == next_; it = held_.erase(it)) {
        write(it->second);
        ++next_;
      }
    } else {
      held_.emplace(offset, std::move(line));
    }
  }
  void flush() {
    std::lock_guard lock(mu_);
    std::fflush(stdout);
    unflushed_ = 0;
  }
  bool unflushed() {
    std::lock_guard lock(mu_);
    return unflushed_ > 0;
  }

 private:
  void write(const std::string& line) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    unflushed_ += line.size() + 1;
    if (unflushed_ >= (1 << 16)) {
      std::fflush(stdout);
      unflushed_ = 0;
    }
  }
  std::mutex mu_;
  int64_t next_ = 0;
  size_t unflushed_ = 0;
  std::map<int64_t, std::string> held_;
};

// One record per stdin line; the line's index is its offset. A line longer
// than max_bytes keeps its first max_bytes + 1 bytes (enough for the
// decoder's too_large), so memory stays bounded whatever the input.
class StdinSource final : public core::Source {
 public:
  explicit StdinSource(size_t max_bytes) : max_bytes_(max_bytes), buf_(1 << 16) {}

  Poll poll(core::Emitter& out) override {
    for (;;) {
      while (pos_ < len_) {
        const char* begin = buf_.data() + pos_;
        const char* nl = static_cast<const char*>(std::memchr(begin, '\n', len_ - pos_));
        const size_t n = nl ? static_cast<size_t>(nl - begin) : len_ - pos_;
        if (line_.size() <= max_bytes_)
          line_.append(begin, std::min(n, max_bytes_ + 1 - line_.size()));
        pos_ += n + (nl ? 1 : 0);
        if (nl) {
          emit(out);
          return Poll::kEmitted;
        }
      }
      if (eof_) {
        if (!pending_) return Poll::kEnd;
        emit(out);  // a last line without a newline
        return Poll::kEmitted;
      }
      const ssize_t n = ::read(STDIN_FILENO, buf_.data(), buf_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error(std::string("reading stdin: ") + std::strerror(errno));
      if (n == 0) {
        eof_ = true;
        pending_ = !line_.empty();
        continue;
      }
      pending_ = true;
      pos_ = 0;
      len_ = static_cast<size_t>(n);
    }
  }

 private:
  void emit(core::Emitter& out) {
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    core::Record r = core::Record::owned(std::nullopt, std::move(line_));
    line_.clear();
    pending_ = false;
    r.partition = 0;
    r.offset = offset_++;
    r.ingest_ns = core::now_ns();
    out.emit(std::move(r));
  }

  size_t max_bytes_;
  std::vector<char> buf_;
  size_t pos_ = 0, len_ = 0;
  std::string line_;
  bool eof_ = false, pending_ = false;
  int64_t offset_ = 0;
};

// Writes each recommendation (its record's value) at its offset.
class StdoutSink final : public core::Operator {
 public:
  explicit StdoutSink(OrderedOutput& out) : out_(out) {}
  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kNone; }
  void process(core::OperatorState*, core::Item&& item, core::Emitter&) const override {
    auto& r = std::get<core::Record>(item);
    out_.put(r.offset, std::string(r.value()));
    last_ = core::SteadyClock::now();
  }
  // Lines reach a reader within ~5 ms of being written, not only per 64 KiB.
  core::TimePoint next_deadline(const core::OperatorState*) const override {
    return last_ == core::TimePoint{} ? core::TimePoint::max()
                                      : last_ + std::chrono::milliseconds(5);
  }
  void on_tick(core::OperatorState*, core::Emitter&) const override {
    out_.flush();
    last_ = {};
  }
  void finish(core::OperatorState*, core::Emitter&) const override { out_.flush(); }

 private:
  OrderedOutput& out_;
  mutable core::TimePoint last_{};  // one worker (the stage is declared with 1)
};

// Dead letters become error lines in place of the event's result.
class ErrorLines final : public core::DeadLetterSink {
 public:
  explicit ErrorLines(OrderedOutput& out) : out_(out) {}
  void publish(core::DeadLetter&& d) override {
    std::string line = "{\"event_offset\":" + std::to_string(d.record.offset) + ",\"error\":";
    operators::append_json_string(line, d.code);
    line += ",\"detail\":";
    operators::append_json_string(line, d.detail);
    line.push_back('}');
    out_.put(d.record.offset, std::move(line));
  }

 private:
  OrderedOutput& out_;
};

int run(const Args& args) {
  auto model = std::make_shared<const operators::RecommenderModel>(
      operators::RecommenderModel::load(args.model));
  std::cerr << "sluice recommend: " << model->name()
            << (model->version().empty() ? "" : " " + model->version()) << " ("
            << model->num_items() << " items, d=" << model->dim() << ", history "
            << model->history_length() << ")\n";
  OrderedOutput output;
  ErrorLines errors(output);
  core::Pipeline p({"recommend", 1024});
  p.set_dead_letter_sink(&errors);
  p.set_source("stdin", std::make_unique<StdinSource>(args.state.max_record_bytes));
  p.add_stage("state", std::make_unique<operators::RecommendState>(
                           model, args.state, operators::RecommendStateProbe()));
  p.add_stage("batch", std::make_unique<operators::MicroBatch>(
                           args.batch, operators::MicroBatchProbe(), nullptr));
  p.add_stage("score", std::make_unique<operators::RecommendScore>(
                           model, args.score, operators::RecommendScoreProbe()));
  p.add_stage("stdout", std::make_unique<StdoutSink>(output));
  p.start();
  const int code = p.wait();
  output.flush();
  if (code != 0) std::cerr << "sluice recommend: " << p.failure() << '\n';
  return code == 0 ? 0 : 1;
}

}  // namespace

int cmd_recommend(int argc, char** argv) {
  Args args;
  std::string error;
  if (!parse_args(argc, argv, &args, &error)) {
    std::cerr << "sluice recommend: " << error << '\n' << kUsage;
    return 2;
  }
  try {
    return run(args);
  } catch (const engine::ModelError& e) {
    std::cerr << "sluice recommend: " << e.what() << '\n';
    return 2;
  } catch (const std::invalid_argument& e) {  // e.g. an unknown --device
    std::cerr << "sluice recommend: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "sluice recommend: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace sluice::app
