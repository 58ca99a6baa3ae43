// Operators and sources: the units of work a pipeline chains together.
//
// An operator transforms input items into output items and dead letters
// (DESIGN.md §3). It holds no threads and no queues: the Pipeline (stage
// runner) owns those and calls the operator from its worker threads. Mutable
// per-worker state lives in an explicit OperatorState made by make_state(),
// one per worker; the operator object itself must be immutable after start()
// (or internally thread-safe), because a parallel stage calls it from N
// workers at once, each with its own state. The compiler holds that:
// process, on_tick and finish are const, and what the workers share and
// change (metric probes, atomic counters, a thread-safe tracker) is declared
// `mutable` beside a comment saying why that is safe.
//
// Call sequence, per worker:  make_state → { process | on_tick }* → finish.
// Pipeline-wide: start() on every stage (sink first) before any worker runs;
// shutdown() on every stage (source first) after all workers have joined.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "src/core/clock.h"
#include "src/core/item.h"

namespace sluice::core {

class Emitter;

struct WorkerInfo {
  std::string_view stage;  // stage name from the pipeline definition
  int index = 0;           // 0 .. count-1
  int count = 1;           // workers of this stage
};

// Base of an operator's per-worker mutable state (DuckDB's OperatorState).
class OperatorState {
 public:
  virtual ~OperatorState() = default;
};

class Operator {
 public:
  virtual ~Operator() = default;

  virtual ItemKind input_kind() const = 0;
  // ItemKind::kNone for a sink: it emits nothing downstream.
  virtual ItemKind output_kind() const = 0;

  // Start-up work (load a model, connect a producer). Runs on the thread that
  // starts the pipeline; throwing aborts start-up with the exception's message.
  virtual void start() {}

  // One state per worker; nullptr if the operator needs none.
  virtual std::unique_ptr<OperatorState> make_state(const WorkerInfo& worker) { return nullptr; }

  // Handles one input item. Emits zero or more items and dead letters through
  // `out`. An exception fails the whole pipeline (it is a bug or a fatal
  // condition); an expected per-record problem is a dead letter instead.
  virtual void process(OperatorState* state, Item&& item, Emitter& out) const = 0;

  // When on_tick should run next even without input (e.g. a batch's max_delay);
  // TimePoint::max() for never.
  virtual TimePoint next_deadline(const OperatorState* state) const { return TimePoint::max(); }

  // Runs when the deadline passes, when the worker is woken through its
  // Waker, and (if wants_downstream_idle()) when the next stage goes idle.
  virtual void on_tick(OperatorState* state, Emitter& out) const {}

  // Ask to be ticked when the next stage has drained its input and waits.
  virtual bool wants_downstream_idle() const { return false; }

  // The input is exhausted (drain or end of stream): emit what is pending.
  virtual void finish(OperatorState* state, Emitter& out) const {}

  // Releases resources after every worker of the pipeline has stopped.
  virtual void shutdown() {}
};

// A source has no input; its own thread calls poll() until the end of input
// or until the pipeline asks it to stop (Emitter::stopping()).
class Source {
 public:
  enum class Poll { kEmitted, kIdle, kEnd };

  virtual ~Source() = default;
  virtual ItemKind output_kind() const { return ItemKind::kRecord; }
  virtual void start() {}
  // May block up to ~100 ms waiting for input; kIdle when nothing arrived,
  // kEnd when the input is exhausted for good.
  virtual Poll poll(Emitter& out) = 0;
  // Called once after the last poll(), before the source's output closes.
  virtual void finish(Emitter& out) {}
  // After the whole pipeline has drained (every worker joined): final commit, close.
  virtual void shutdown() {}
  // Readiness: why the source cannot take input now (e.g. no partition assignment
  // yet, brokers unreachable), or empty when it can. Called from any thread (the
  // readiness probe), at any time after construction: must be cheap and thread-safe.
  virtual std::string not_ready() const { return {}; }
};

}  // namespace sluice::core
