#include "kernels/cuda/round_robin_backend.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "src/engine/ticket_ring.h"

namespace sluice::cuda {
namespace {

using engine::BatchResult;
using engine::CompletionCallback;
using engine::Ticket;

class RoundRobinBackend final : public engine::Backend {
 public:
  RoundRobinBackend(std::vector<std::unique_ptr<engine::Backend>> inner, int max_in_flight)
      : inner_(std::move(inner)),
        ring_("round-robin backend", static_cast<size_t>(std::max(1, max_in_flight))),
        entries_(ring_.slots()) {
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
    const Ticket t = ring_.claim(on_done);
    Entry& e = entries_[ring_.slot(t)];
    e.ticket = t;
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
      ring_.complete(t, std::move(r));
    }
    return t;
  }

  bool poll(Ticket t) override { return ring_.poll(t); }

  BatchResult wait(Ticket t) override { return ring_.wait(t); }

 private:
  // What an inner backend's callback needs to find our ticket.
  struct Entry {
    RoundRobinBackend* owner = nullptr;
    Ticket ticket = 0;
  };

  // Devices finish in any order; the ring delivers in ticket order.
  static void on_inner_done(void* ctx, Ticket, const BatchResult& r) {
    auto* e = static_cast<Entry*>(ctx);
    e->owner->ring_.complete(e->ticket, r);
  }

  std::vector<std::unique_ptr<engine::Backend>> inner_;
  engine::TicketRing ring_;
  std::vector<Entry> entries_;  // by ring_.slot(ticket)
};

}  // namespace

std::unique_ptr<engine::Backend> make_round_robin_backend(
    std::vector<std::unique_ptr<engine::Backend>> backends, int max_in_flight) {
  return std::make_unique<RoundRobinBackend>(std::move(backends), max_in_flight);
}

}  // namespace sluice::cuda
