// Emitter: an operator's only way out — items to the next stage, bad records
// to the dead-letter sink. One Emitter per worker thread; not thread-safe.
#pragma once
#include <string_view>

#include "src/core/item.h"
#include "src/core/operator.h"

namespace sluice::core {

class Worker;  // pipeline internals

// Wakes a worker from another thread (e.g. a GPU completion callback); the
// worker then runs its operator's on_tick(). Cheap, thread-safe, copyable.
class Waker {
 public:
  Waker() = default;
  explicit Waker(Worker* w) : worker_(w) {}
  void wake() const;

 private:
  Worker* worker_ = nullptr;
};

class Emitter {
 public:
  explicit Emitter(Worker* worker) : worker_(worker) {}

  // Sends an item to the next stage. Records are routed to a worker of the
  // next stage by source partition (per-partition order is kept); batches
  // round-robin. Blocks while the destination queue is full (backpressure).
  // If the pipeline is aborting, the item is dropped (its Ack not completed).
  void emit(Item&& item);

  // Routes a record that cannot be processed to the dead-letter sink.
  void dead_letter(Record&& record, std::string_view code, std::string_view detail = {});

  // True when every worker of the next stage has an empty input and is waiting.
  bool downstream_idle() const;

  // Graceful stop requested: sources stop reading and return kEnd.
  bool stopping() const;
  // The pipeline is aborting (a failure, or a drain past its time): long waits
  // (a producer flush in finish()) give up.
  bool aborting() const;

  Waker waker() const { return Waker(worker_); }
  const WorkerInfo& worker() const;

 private:
  Worker* worker_;
};

}  // namespace sluice::core
