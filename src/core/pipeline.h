// Pipeline: the stage runner. Owns the threads and the queues; runs a source
// and a chain of operators (DESIGN.md §1).
//
//   source ─q─► stage 1 (×N workers) ─q─► stage 2 ─q─► … ─► sink
//
// Between a stage with M workers and one with N there are M×N SPSC rings, so
// every queue has exactly one producer and one consumer; records are routed by
// source partition, which keeps per-partition order through parallel stages.
// A full ring blocks its producer (backpressure). Idle workers park.
//
// Lifecycle: add stages → start() → [request_stop()] → wait().
//   start():  checks that each stage's input kind matches its upstream's
//             output kind, calls Operator::start() sink first, then starts
//             one thread per worker.
//   request_stop(): graceful drain — the source stops reading, every stage
//             processes what it holds, finish() flushes partial state, and
//             each stage's output closes after its input has.
//   abort(reason):  stop now; in-flight items are dropped (never acked, so
//             never committed).
//   wait():   joins all threads, drops any item still queued or held in an
//             operator state (only after an abort), then calls shutdown()
//             source first; returns 0 if the pipeline drained cleanly, 1 if it
//             failed or aborted.
// A worker whose operator throws fails the pipeline: the error is logged with
// the stage name, the pipeline aborts, and wait() returns 1.
//
// Liveness (stalled()): a worker is stalled when it has made no progress
// (completed no call into its operator or source) for stall_timeout while it
// is inside a call, or while input waits for it. Waiting for room downstream
// is backpressure, not a stall (the stage downstream is the one to look at),
// and a worker with nothing to do is idle, not stalled. Progress is a
// per-call counter the worker bumps and stalled() samples, so the hot path
// pays a plain store per call and no clock read.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "src/core/dead_letter.h"
#include "src/core/emitter.h"
#include "src/core/operator.h"
#include "src/core/parker.h"
#include "src/core/spsc_ring.h"

namespace sluice::core {

struct PipelineOptions {
  std::string name = "pipeline";
  size_t default_queue_capacity = 1024;
  // No progress for this long makes a worker stalled (see stalled()); 0: never.
  std::chrono::nanoseconds stall_timeout{0};
};

// Per-worker counters. Single writer (the worker), relaxed atomics; read by metrics.
struct WorkerStats {
  std::atomic<uint64_t> items_in{0};
  std::atomic<uint64_t> items_out{0};
  std::atomic<uint64_t> dead_letters{0};
  std::atomic<uint64_t> busy_ns{0};
  std::atomic<uint64_t> errors{0};
};

// Read-only summary of one stage, summed over its workers (any thread).
struct StageSnapshot {
  std::string name;
  int workers = 1;
  uint64_t items_in = 0, items_out = 0, dead_letters = 0, errors = 0;
  double busy_seconds = 0;
  size_t queue_depth = 0;     // items waiting in this stage's input rings
  size_t queue_capacity = 0;  // total capacity of those rings
};

class Pipeline;
using ItemRing = SpscRing<Item>;

// One thread of a stage. Internal to the runner, declared here for Emitter/Waker.
class Worker {
 public:
  Worker(Pipeline* p, size_t stage, int index, int count);

 private:
  friend class Pipeline;
  friend class Emitter;
  friend class Waker;

  void run();
  void run_source();
  void run_operator();
  bool inputs_drained() const;
  bool any_input() const;
  void route(Item&& item);
  void push_blocking(ItemRing* ring, Item&& item);
  void close_outputs();
  void announce_idle();
  // Liveness bookkeeping (Pipeline::stalled): single writer, plain stores.
  void enter_call() { in_call_.store(true, std::memory_order_relaxed); }
  void leave_call() { in_call_.store(false, std::memory_order_relaxed); }
  void count_call() {
    calls_.store(calls_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  Pipeline* pipeline_;
  size_t stage_;
  WorkerInfo info_;
  std::unique_ptr<OperatorState> state_;
  std::vector<std::unique_ptr<ItemRing>> inputs_;  // one per upstream worker
  std::vector<ItemRing*> outputs_;                 // one per downstream worker
  std::vector<Worker*> upstream_;                  // workers that feed this one
  Parker parker_;
  std::atomic<bool> tick_requested_{false};
  std::atomic<bool> idle_{false};
  size_t rr_out_ = 0;
  WorkerStats stats_;
  std::atomic<uint64_t> calls_{0};         // completed calls into the operator/source
  std::atomic<bool> in_call_{false};       // inside one now
  std::atomic<bool> waiting_room_{false};  // parked in push_blocking (backpressure)
  std::thread thread_;
};

class Pipeline {
 public:
  explicit Pipeline(PipelineOptions options = {});
  ~Pipeline();  // aborts and joins if still running
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  void set_source(std::string name, std::unique_ptr<Source> source);
  // queue_capacity: capacity of each input ring of this stage (0 = default).
  void add_stage(std::string name, std::unique_ptr<Operator> op, int workers = 1,
                 size_t queue_capacity = 0);
  // Not owned; must outlive the pipeline. Without one, dead letters are logged
  // and their records acknowledged (nowhere durable to put them).
  void set_dead_letter_sink(DeadLetterSink* sink) { dead_letters_ = sink; }

  void start();
  void request_stop();
  void abort(const std::string& reason);
  // Waits until every worker has finished or the timeout passes; true if finished.
  bool wait_for(std::chrono::milliseconds timeout);
  int wait();

  bool running() const { return started_ && !finished_.load(); }
  bool failed() const { return failed_.load(); }
  std::string failure() const;
  const std::string& name() const { return options_.name; }
  size_t stage_count() const { return stages_.size(); }
  StageSnapshot snapshot(size_t stage) const;

  // Liveness: empty while no worker is stalled (see the top of this file), else
  // which stages are stalled and how, e.g. "stage 'infer' worker 0 stalled: inside
  // one call, no progress for 612.0 s (stall_timeout 600.0 s)". Compares with what
  // the previous call saw, so it is meant to be polled (a liveness probe); a
  // stall shows from the first call at least stall_timeout after it began. Any
  // thread; calls are serialized.
  std::string stalled() const;

  // Readiness: empty while the pipeline takes input, else why not: not started,
  // draining after request_stop(), finished, failed, or what the source says
  // (Source::not_ready). Any thread.
  std::string not_ready() const;

 private:
  friend class Worker;
  friend class Emitter;

  struct Stage {
    std::string name;
    std::unique_ptr<Source> source;  // stage 0 only
    std::unique_ptr<Operator> op;    // stages 1..n
    int workers = 1;
    size_t queue_capacity = 0;
    std::vector<std::unique_ptr<Worker>> worker_objs;
    ItemKind in = ItemKind::kNone, out = ItemKind::kNone;
  };

  void fail(const std::string& stage, int worker, const std::string& what);
  void worker_done();
  void default_dead_letter(DeadLetter&& letter);

  PipelineOptions options_;
  std::vector<Stage> stages_;
  DeadLetterSink* dead_letters_ = nullptr;
  std::atomic<bool> started_{false};  // atomic: read by the probes' thread
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> aborting_{false};
  std::atomic<bool> failed_{false};
  std::atomic<bool> finished_{false};
  std::atomic<int> live_workers_{0};
  bool joined_ = false;
  mutable std::mutex mu_;
  std::string failure_;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  // stalled()'s memory: per worker (stage order), the call count last seen and
  // since when it has not changed while the worker had something to do.
  struct Watch {
    uint64_t calls = 0;
    TimePoint since{};
  };
  mutable std::mutex watch_mu_;
  mutable std::vector<Watch> watch_;
};

}  // namespace sluice::core
