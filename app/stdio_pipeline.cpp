#include "app/stdio_pipeline.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "operators/json_text.h"
#include "src/core/clock.h"
#include "src/core/dead_letter.h"
#include "src/core/emitter.h"
#include "src/engine/model_error.h"
#include "src/text/tokenizer.h"

namespace sluice::app {

// Output lines in input order: results (the sink's worker) and error lines
// (dead letters, from any stage's worker) are held until every earlier line
// is written; only a line that must wait is copied. Thread-safe.
class OrderedOutput {
 public:
  void put(int64_t offset, std::string_view line, bool error) {
    std::lock_guard lock(mu_);
    ++(error ? errors_ : results_);
    if (offset == next_) {
      write(line);
      ++next_;
      for (auto it = held_.begin(); it != held_.end() && it->first == next_; it = held_.erase(it)) {
        write(it->second);
        ++next_;
      }
    } else {
      held_.emplace(offset, std::string(line));
    }
  }
  void flush() {
    std::lock_guard lock(mu_);
    std::fflush(stdout);
    unflushed_ = 0;
  }
  int64_t results() {
    std::lock_guard lock(mu_);
    return results_;
  }
  int64_t errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }

 private:
  void write(std::string_view line) {
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
  int64_t results_ = 0, errors_ = 0;
  std::map<int64_t, std::string> held_;
};

namespace {

// One record per stdin line; the line's index is its offset.
class StdinSource final : public core::Source {
 public:
  StdinSource(size_t max_bytes, bool number_lines)
      : max_bytes_(max_bytes), number_lines_(number_lines), buf_(1 << 16) {}

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
    r.set_text_view(r.value());  // a raw text record, as kafka_source's format raw makes
    r.partition = 0;
    r.offset = offset_++;
    if (number_lines_) r.id = std::to_string(offset_);
    r.ingest_ns = core::now_ns();
    out.emit(std::move(r));
  }

  size_t max_bytes_;
  bool number_lines_;
  std::vector<char> buf_;
  size_t pos_ = 0, len_ = 0;
  std::string line_;
  bool eof_ = false, pending_ = false;
  int64_t offset_ = 0;
};

// Writes each result (its record's value) at its offset.
class StdoutSink final : public core::Operator {
 public:
  explicit StdoutSink(OrderedOutput& out) : out_(out) {}
  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kNone; }
  void process(core::OperatorState*, core::Item&& item, core::Emitter&) const override {
    auto& r = std::get<core::Record>(item);
    out_.put(r.offset, r.value(), false);
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

// Dead letters become error lines in place of the record's result.
class ErrorLines final : public core::DeadLetterSink {
 public:
  explicit ErrorLines(OrderedOutput& out) : out_(out) {}
  void publish(core::DeadLetter&& d) override {
    std::string line = "{\"event_offset\":" + std::to_string(d.record.offset) + ",\"error\":";
    operators::append_json_string(line, d.code);
    line += ",\"detail\":";
    operators::append_json_string(line, d.detail);
    line.push_back('}');
    out_.put(d.record.offset, line, true);
  }

 private:
  OrderedOutput& out_;
};

}  // namespace

StdioPipeline::StdioPipeline(StdioOptions options)
    : options_(std::move(options)),
      output_(std::make_unique<OrderedOutput>()),
      error_lines_(std::make_unique<ErrorLines>(*output_)),
      pipeline_({options_.name, 1024}) {
  pipeline_.set_dead_letter_sink(error_lines_.get());
  pipeline_.set_source(
      "stdin", std::make_unique<StdinSource>(options_.max_line_bytes, options_.number_lines));
}

StdioPipeline::~StdioPipeline() = default;

void StdioPipeline::add_stage(std::string name, std::unique_ptr<core::Operator> op) {
  pipeline_.add_stage(std::move(name), std::move(op));
}

int StdioPipeline::run(std::string_view command) {
  pipeline_.add_stage("stdout", std::make_unique<StdoutSink>(*output_));
  pipeline_.start();
  const int code = pipeline_.wait();
  output_->flush();
  if (code != 0) std::cerr << "sluice " << command << ": " << pipeline_.failure() << '\n';
  return code == 0 ? 0 : 1;
}

int64_t StdioPipeline::results() const { return output_->results(); }
int64_t StdioPipeline::errors() const { return output_->errors(); }

int run_command(std::string_view command, const std::function<int()>& body) {
  auto fail = [&](const std::exception& e, int code) {
    std::cerr << "sluice " << command << ": " << e.what() << '\n';
    return code;
  };
  try {
    return body();
  } catch (const engine::ModelError& e) {
    return fail(e, 2);
  } catch (const text::TokenizerError& e) {
    return fail(e, 2);
  } catch (const std::invalid_argument& e) {
    return fail(e, 2);
  } catch (const std::exception& e) {
    return fail(e, 1);
  }
}

}  // namespace sluice::app
