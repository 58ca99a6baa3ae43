// ModelReloader: reloads a running pipeline's model directories (its
// ModelSlots, model_slot.h) on request (SIGHUP) and when a directory changes.
//
// Change detection polls, once a second, a fingerprint of each directory:
// stat() of the directory itself (followed through a symlink) and of each
// file that makes up the model's identity (config.json, model.safetensors,
// the tokenizer files): device, inode, size and modification time. An atomic
// swap (a symlink renamed over the one the pipeline names, or a directory
// renamed into place) changes the directory's inode; a file rewritten in place
// changes its size or mtime. Polling is used rather than inotify because
// inotify does not follow a directory renamed or a symlink retargeted under a
// watched path, and a stat() per file per second costs nothing. A change is
// loaded once the fingerprint has stayed the same for one poll (a copy in
// progress is not loaded half-way), and a fingerprint already tried is not
// tried again: a refused model is reported once, not every second.
//
// Each attempt is logged (the switch, or the refusal naming the file and
// why) and counted in sluice_model_reloads_total{pipeline, result=ok|refused|
// unchanged}. Loading runs on the reloader's own thread, never on a stage's.
#pragma once
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "operators/model_slot.h"
#include "src/metrics/registry.h"

namespace sluice::operators {

class ModelReloader {
 public:
  // `metrics` may be null. `slots` must outlive the reloader.
  ModelReloader(std::vector<ModelSlot*> slots, std::string pipeline, metrics::Registry* metrics,
                std::chrono::milliseconds poll_interval = std::chrono::seconds(1));
  ~ModelReloader();  // stop()s
  ModelReloader(const ModelReloader&) = delete;
  ModelReloader& operator=(const ModelReloader&) = delete;

  bool empty() const { return slots_.empty(); }
  // The directories, for logs ("a, b").
  std::string describe() const;

  void start();
  void stop();  // waits for a load in progress
  // Reloads every directory now (SIGHUP), changed or not. Thread-safe, async.
  void request_reload();

  // One reload of one slot, logged and counted (the thread's work; public for tests).
  ModelSlot::Result reload(ModelSlot& slot, const char* why);

 private:
  void run();

  std::vector<ModelSlot*> slots_;
  std::string pipeline_;
  std::chrono::milliseconds poll_interval_;
  metrics::Counter* ok_ = nullptr;
  metrics::Counter* refused_ = nullptr;
  metrics::Counter* unchanged_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool requested_ = false;
  std::thread thread_;
};

}  // namespace sluice::operators
