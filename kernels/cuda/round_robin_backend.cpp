#include "kernels/cuda/round_robin_backend.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>

namespace sluice::cuda {
namespace {

using engine::BatchResult;
using engine::CompletionCallback;
using engine::Ticket;

class RoundRobinBackend final : public engine::Backend {
 public:
  RoundRobinBackend(std::vector<std::unique_ptr<engine::Backend>> inner, int max_in_flight)
      : inner_(std::move(inner)), entries_(static_cast<size_t>(std::max(1, max_in_flight))) {
    if (inner_.empty()) throw std::invalid_argument("round-robin backend: no backends");
    for (auto& e : entries_) e.owner = this;
  }

  ~RoundRobinBackend() override {
    // Inner backends finish their queued batches and call back into this
    // object while they shut down: destroy them while our state still lives.
    inner_.clear();
  }

  std::string_view kind() const override { return inner_.front()->kind(); }

  std::string device_name() const override {
    std::string s = std::to_string(inner_.size()) + " devices, round-robin: ";
    for (size_t i = 0; i < inner_.size(); ++i) s += (i ? " + " : "") + inner_[i]->device_name();
    return s;
  }

  const engine::ModelConfig& config() const override { return inner_.front()->config(); }

  engine::MemoryUsage memory_usage() const override {
    engine::MemoryUsage total;
    for (const auto& b : inner_) {
      const engine::MemoryUsage m = b->memory_usage();
      total.weights_bytes += m.weights_bytes;
      total.workspace_bytes += m.workspace_bytes;
      total.device_total_bytes += m.device_total_bytes;
      total.device_free_bytes += m.device_free_bytes;
    }
    return total;
  }

  Ticket submit(const engine::EncoderBatch& batch, const engine::EncoderOutputs& out,
                CompletionCallback on_done) override {
    // Validate before a ticket exists: a refused batch must not leave a hole
    // in the ticket sequence that later tickets would wait behind.
    if (std::string why = engine::check_batch(batch, out, config()); !why.empty())
      throw std::invalid_argument("round-robin backend: bad batch: " + why);
    std::unique_lock lock(mu_);
    const Ticket t = next_ticket_++;
    Entry& e = entry(t);
    free_cv_.wait(lock, [&] { return e.state == State::kFree; });
    e.ticket = t;
    e.state = State::kRunning;
    e.on_done = on_done;
    e.result = {};
    lock.unlock();
    engine::Backend& b = *inner_[(t - 1) % inner_.size()];
    try {
      b.submit(batch, out, CompletionCallback{&RoundRobinBackend::on_inner_done, &e});
    } catch (const std::exception& ex) {
      // The batch passed check_batch, so this is a device fault: report it
      // through the ticket like any other backend fault.
      BatchResult r;
      r.ok = false;
      r.error = std::string("round-robin backend: submit to device ") +
                std::to_string((t - 1) % inner_.size()) + " failed: " + ex.what();
      complete(e, std::move(r));
    }
    return t;
  }

  bool poll(Ticket t) override { return t <= completed_.load(std::memory_order_acquire); }

  BatchResult wait(Ticket t) override {
    std::unique_lock lock(mu_);
    Entry& e = entry(t);
    if (e.ticket != t || e.state == State::kFree || e.on_done)
      throw std::logic_error("round-robin backend: wait() on a ticket that is not outstanding or has a callback");
    done_cv_.wait(lock, [&] { return e.state == State::kDone; });
    BatchResult r = std::move(e.result);
    e.state = State::kFree;
    lock.unlock();
    free_cv_.notify_all();
    return r;
  }

 private:
  enum class State { kFree, kRunning, kReady, kDone };
  struct Entry {
    RoundRobinBackend* owner = nullptr;
    Ticket ticket = 0;
    State state = State::kFree;
    CompletionCallback on_done;
    BatchResult result;
  };

  Entry& entry(Ticket t) { return entries_[t % entries_.size()]; }

  static void on_inner_done(void* ctx, Ticket, const BatchResult& r) {
    auto* e = static_cast<Entry*>(ctx);
    e->owner->complete(*e, r);
  }

  // Marks `e` ready, then retires every ticket that is now next in order.
  // deliver_mu_ makes one thread at a time deliver, so callbacks run in
  // ticket order even when two devices finish together.
  void complete(Entry& e, BatchResult r) {
    std::lock_guard deliver(deliver_mu_);
    {
      std::lock_guard lock(mu_);
      e.result = std::move(r);
      e.state = State::kReady;
    }
    for (;;) {
      CompletionCallback cb;
      BatchResult result;
      Ticket t = 0;
      {
        std::lock_guard lock(mu_);
        t = completed_.load(std::memory_order_relaxed) + 1;
        Entry& head = entry(t);
        if (head.ticket != t || head.state != State::kReady) break;
        completed_.store(t, std::memory_order_release);
        if (head.on_done) {
          cb = head.on_done;
          result = std::move(head.result);
          head.state = State::kFree;
          free_cv_.notify_all();
        } else {
          head.state = State::kDone;
          done_cv_.notify_all();
        }
      }
      if (cb) cb.fn(cb.ctx, t, result);
    }
  }

  std::vector<std::unique_ptr<engine::Backend>> inner_;
  std::mutex mu_, deliver_mu_;
  std::condition_variable free_cv_, done_cv_;
  std::vector<Entry> entries_;
  Ticket next_ticket_ = 1;
  std::atomic<Ticket> completed_{0};
};

}  // namespace

std::unique_ptr<engine::Backend> make_round_robin_backend(std::vector<std::unique_ptr<engine::Backend>> backends,
                                                          int max_in_flight) {
  return std::make_unique<RoundRobinBackend>(std::move(backends), max_in_flight);
}

}  // namespace sluice::cuda
