#include "kernels/cpu/cpu_backend.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/cpu/encoder_forward.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/parallel.h"
#include "src/core/cpus.h"
#include "src/engine/ticket_ring.h"

namespace sluice::cpu {
namespace {

using engine::BatchResult;
using engine::EncoderBatch;
using engine::EncoderOutputs;
using engine::Ticket;

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown CPU";
}

GemmPrecision gemm_precision(engine::Precision p) {
  switch (p) {
    case engine::Precision::kBF16:
      return GemmPrecision::kBF16;
    case engine::Precision::kInt8:
      return GemmPrecision::kInt8;
    case engine::Precision::kAuto:  // see engine::effective_precision
      return int8_vnni() ? GemmPrecision::kInt8 : GemmPrecision::kF32;
    case engine::Precision::kF32:
      break;
  }
  return GemmPrecision::kF32;
}

class CpuBackend final : public engine::Backend {
 public:
  CpuBackend(const engine::ModelConfig& config, const engine::EncoderWeights& weights,
             const engine::BackendOptions& options)
      : config_(config),
        threads_(options.threads > 0 ? options.threads : core::available_cpus()),
        precision_(options.precision == engine::Precision::kAuto
                       ? (int8_vnni() ? engine::Precision::kInt8 : engine::Precision::kF32)
                       : options.precision),
        forward_(config, weights, options.pooling, gemm_precision(options.precision)),
        ring_("cpu backend", static_cast<size_t>(std::max(1, options.max_in_flight))),
        jobs_(ring_.slots()) {
    forward_.reserve(options.max_batch_tokens, options.max_batch_records);
    weight_bytes_ = forward_.weight_bytes();
    workspace_bytes_ = forward_.workspace_bytes();
    worker_ = std::thread([this] { work(); });
  }

  ~CpuBackend() override {
    ring_.stop();  // the worker finishes what was submitted, then returns
    worker_.join();
  }

  std::string_view kind() const override { return "cpu"; }

  std::string device_name() const override {
    return cpu_model_name() + " (" + isa_name(active_isa()) + " kernels, " +
           gemm_library_description() + ", " + engine::precision_name(precision_) + ", " +
           std::to_string(threads_) + " threads)";
  }

  const engine::ModelConfig& config() const override { return config_; }

  engine::MemoryUsage memory_usage() const override {
    return {weight_bytes_, workspace_bytes_.load(std::memory_order_relaxed), 0, 0};
  }

  Ticket submit(const EncoderBatch& batch, const EncoderOutputs& out,
                engine::CompletionCallback on_done) override {
    if (std::string why = engine::check_batch(batch, out, config_); !why.empty())
      throw std::invalid_argument("cpu backend: bad batch: " + why);
    const Ticket t = ring_.claim(on_done);
    jobs_[ring_.slot(t)] = Job{batch, out};
    ring_.publish(t);
    return t;
  }

  bool poll(Ticket t) override { return ring_.poll(t); }

  BatchResult wait(Ticket t) override { return ring_.wait(t); }

 private:
  // A submitted batch, in the slot of its ticket.
  struct Job {
    EncoderBatch batch;
    EncoderOutputs out;
  };

  void work() {
    set_thread_count(threads_);
    int current_threads = threads_;
    for (Ticket t = 1; ring_.wait_published(t); ++t) {
      const Job& job = jobs_[ring_.slot(t)];
      BatchResult r;
      const auto t0 = std::chrono::steady_clock::now();
      // A tiny batch runs on this thread alone: waking the team for each of
      // the forward's parallel regions costs more than the work it splits.
      const int64_t h = config_.hidden_size;
      const int want = static_cast<int64_t>(job.batch.token_ids.size()) * h * h < kSingleThreadWork
                           ? 1
                           : threads_;
      if (want != current_threads) set_thread_count(current_threads = want);
      try {
        forward_.run(job.batch, job.out);
        workspace_bytes_.store(forward_.workspace_bytes(), std::memory_order_relaxed);
      } catch (const std::exception& e) {
        r.ok = false;
        r.error = e.what();
      }
      r.compute_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::steady_clock::now() - t0)
                         .count();
      ring_.complete(t, std::move(r));
    }
  }

  const engine::ModelConfig config_;
  const int threads_;
  // Below this tokens x hidden^2 a batch runs single-threaded. Measured on
  // 2 cores (encoder_bench, batch 1): hidden 256 at 16 and 32 tokens is 2.0x
  // and 1.45x faster on one thread, at 64 tokens even; hidden 384 at 16
  // tokens (2.4M) and hidden 768 at 16 tokens are faster on two.
  static constexpr int64_t kSingleThreadWork = 2'200'000;
  const engine::Precision precision_;
  EncoderForward forward_;  // used by the worker thread only, after construction
  std::size_t weight_bytes_ = 0;
  std::atomic<std::size_t> workspace_bytes_{0};

  engine::TicketRing ring_;
  std::vector<Job> jobs_;  // by ring_.slot(ticket)
  std::thread worker_;
};

}  // namespace

std::unique_ptr<engine::Backend> make_cpu_backend(const engine::ModelConfig& config,
                                                  const engine::EncoderWeights& weights,
                                                  const engine::BackendOptions& options) {
  return std::make_unique<CpuBackend>(config, weights, options);
}

}  // namespace sluice::cpu
