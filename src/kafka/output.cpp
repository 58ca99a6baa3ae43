#include "src/kafka/output.h"

namespace sluice::kafka {

Output::Output(ProducerConfig config, metrics::Registry* registry, std::string pipeline)
    : config_(std::move(config)), probe_(registry, std::move(pipeline)) {}

Output::~Output() { close(); }

Producer& Output::start() {
  if (Producer* p = producer()) return *p;
  std::lock_guard lock(mu_);
  if (!owned_) {
    owned_ = std::make_unique<Producer>(config_, &probe_);
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
