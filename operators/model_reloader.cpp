#include "operators/model_reloader.h"

#include <map>
#include <utility>

#include "src/core/log.h"

namespace sluice::operators {

ModelReloader::ModelReloader(std::vector<ModelSlot*> slots, std::string pipeline,
                             metrics::Registry* metrics, std::chrono::milliseconds poll_interval)
    : slots_(std::move(slots)), pipeline_(std::move(pipeline)), poll_interval_(poll_interval) {
  if (!metrics) return;
  auto counter = [&](const char* result) {
    return &metrics->counter("sluice_model_reloads_total",
                             "Model reloads attempted (SIGHUP or a changed model directory), by "
                             "result: ok (now serving it), refused (the old model keeps serving), "
                             "unchanged (same content hash).",
                             {{"pipeline", pipeline_}, {"result", result}});
  };
  ok_ = counter("ok");
  refused_ = counter("refused");
  unchanged_ = counter("unchanged");
}

ModelReloader::~ModelReloader() { stop(); }

std::string ModelReloader::describe() const {
  std::string s;
  for (const ModelSlot* slot : slots_) s += (s.empty() ? "" : ", ") + slot->directory().string();
  return s;
}

void ModelReloader::start() {
  if (slots_.empty() || thread_.joinable()) return;
  core::log_info("model reload: SIGHUP, or a change of ", describe(), " (looked at every ",
                 poll_interval_.count(), " ms)");
  thread_ = std::thread([this] { run(); });
}

void ModelReloader::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ModelReloader::request_reload() {
  {
    std::lock_guard lock(mu_);
    requested_ = true;
  }
  cv_.notify_all();
}

ModelSlot::Result ModelReloader::reload(ModelSlot& slot, const char* why) {
  const ModelSlot::Outcome o = slot.reload();
  switch (o.result) {
    case ModelSlot::Result::kSwitched:
      core::log_info("model reload (", why, ") of ", slot.directory().string(), ": switching, ",
                     o.message, "; batches in flight finish on the old model");
      if (ok_) ok_->inc();
      break;
    case ModelSlot::Result::kUnchanged:
      core::log_info("model reload (", why, ") of ", slot.directory().string(), ": unchanged, ",
                     o.message);
      if (unchanged_) unchanged_->inc();
      break;
    case ModelSlot::Result::kRefused:
      core::log_error("model reload (", why, ") of ", slot.directory().string(),
                      " refused: ", o.message, "; the serving model stays (model_hash ",
                      slot.current()->identity.hash, ")");
      if (refused_) refused_->inc();
      break;
  }
  return o.result;
}

void ModelReloader::run() {
  // Per slot: the fingerprint seen at the last poll, to load a change only
  // once it has stood still for one poll.
  std::map<ModelSlot*, std::string> seen;
  for (ModelSlot* slot : slots_) seen[slot] = slot->loaded_fingerprint();
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, poll_interval_, [this] { return stop_ || requested_; });
    if (stop_) return;
    const bool requested = std::exchange(requested_, false);
    lock.unlock();
    for (ModelSlot* slot : slots_) {
      if (requested) {
        reload(*slot, "SIGHUP");
        seen[slot] = slot->loaded_fingerprint();
        continue;
      }
      std::string now = slot->fingerprint();
      const bool settled = now == seen[slot];
      seen[slot] = std::move(now);
      if (settled && seen[slot] != slot->loaded_fingerprint()) {
        reload(*slot, "directory changed");
        seen[slot] = slot->loaded_fingerprint();
      }
    }
    lock.lock();
  }
}

}  // namespace sluice::operators
