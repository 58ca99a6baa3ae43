#include "src/kafka/output.h"

namespace sluice::kafka {

Output::Output(ProducerConfig config, metrics::Registry* registry, std::string pipeline,
               std::chrono::milliseconds transaction_timeout)
    : config_(std::move(config)),
      transaction_timeout_(transaction_timeout),
      probe_(registry, pipeline),
      transaction_probe_(registry, pipeline) {}

Output::~Output() { close(); }

Producer& Output::start() {
  if (Producer* p = producer()) return *p;
  std::lock_guard lock(mu_);
  if (!owned_) {
    auto producer = std::make_unique<Producer>(config_, &probe_);
    if (producer->transactional()) {
      auto transactions = std::make_unique<Transactions>(producer->handle(), transaction_probe_,
                                                         transaction_timeout_);
      transactions->start();
      transactions_ = std::move(transactions);
    }
    owned_ = std::move(producer);
    producer_.store(owned_.get(), std::memory_order_release);
  }
  return *owned_;
}

bool Output::flush(std::chrono::milliseconds timeout) {
  Producer* p = producer();
  return !p || p->flush(timeout);
}

void Output::close() {
  std::lock_guard lock(mu_);
  if (owned_) owned_->close();
}

}  // namespace sluice::kafka
