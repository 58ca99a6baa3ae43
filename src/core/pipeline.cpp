#include "src/core/pipeline.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "src/core/log.h"

namespace sluice::core {
namespace {

constexpr size_t kBurst = 64;   // items popped per ring visit
constexpr int kIdleSpins = 64;  // spins before parking when idle

// Stable shard of a record: by (topic, partition) so one partition always
// goes to the same worker and keeps its order.
inline size_t shard_of(const Record& r, size_t n, size_t* rr) {
  if (r.partition < 0) return (*rr)++ % n;
  uint64_t h = (static_cast<uint64_t>(static_cast<uint32_t>(r.source_topic)) << 32) |
               static_cast<uint32_t>(r.partition);
  h *= 0x9E3779B97F4A7C15ull;
  return (h >> 32) % n;
}

}  // namespace

// ---- Waker / Emitter ---------------------------------------------------------

void Waker::wake() const {
  if (!worker_) return;
  worker_->tick_requested_.store(true, std::memory_order_release);
  worker_->parker_.unpark();
}

void Emitter::emit(Item&& item) { worker_->route(std::move(item)); }

void Emitter::dead_letter(Record&& record, std::string_view code, std::string_view detail) {
  worker_->stats_.dead_letters.fetch_add(1, std::memory_order_relaxed);
  DeadLetter letter{std::move(record), std::string(code), std::string(detail),
                    std::string(worker_->info_.stage)};
  Pipeline* p = worker_->pipeline_;
  if (p->dead_letters_) {
    p->dead_letters_->publish(std::move(letter));
  } else {
    p->default_dead_letter(std::move(letter));
  }
}

bool Emitter::downstream_idle() const {
  const auto& stages = worker_->pipeline_->stages_;
  size_t next = worker_->stage_ + 1;
  if (next >= stages.size()) return true;
  for (const auto& w : stages[next].worker_objs) {
    if (!w->idle_.load(std::memory_order_acquire) || w->any_input()) return false;
  }
  return true;
}

bool Emitter::stopping() const {
  return worker_->pipeline_->stop_requested_.load(std::memory_order_acquire) ||
         worker_->pipeline_->aborting_.load(std::memory_order_acquire);
}

bool Emitter::aborting() const {
  return worker_->pipeline_->aborting_.load(std::memory_order_acquire);
}

const WorkerInfo& Emitter::worker() const { return worker_->info_; }

// ---- Worker ------------------------------------------------------------------

Worker::Worker(Pipeline* p, size_t stage, int index, int count) : pipeline_(p), stage_(stage) {
  info_.index = index;
  info_.count = count;
}

void Worker::route(Item&& item) {
  if (outputs_.empty()) {
    throw std::logic_error("stage '" + std::string(info_.stage) +
                           "' is the last stage and cannot emit");
  }
  size_t n = outputs_.size();
  size_t j = 0;
  if (n > 1) {
    if (auto* r = std::get_if<Record>(&item)) {
      j = shard_of(*r, n, &rr_out_);
    } else {
      j = rr_out_++ % n;
    }
  }
  stats_.items_out.fetch_add(1, std::memory_order_relaxed);
  ItemRing* ring = outputs_[j];
  // Wake the consumer at once: an emit followed by a long operation (a source
  // waiting for input, a forward pass) must not hold the item back. The cost
  // is a fence per item, and a syscall only when the consumer sleeps.
  if (ring->try_push(std::move(item))) {
    ring->notify_consumer();
    return;
  }
  push_blocking(ring, std::move(item));
}

// The destination is full: wait for room.
void Worker::push_blocking(ItemRing* ring, Item&& item) {
  struct Waiting {  // backpressure, not a stall (Pipeline::stalled)
    std::atomic<bool>& flag;
    ~Waiting() { flag.store(false, std::memory_order_relaxed); }
  } waiting{waiting_room_};
  for (int spin = 0;; ++spin) {
    if (pipeline_->aborting_.load(std::memory_order_acquire) || ring->cancelled())
      return;  // dropped
    if (ring->try_push(std::move(item))) {
      ring->notify_consumer();
      return;
    }
    if (spin < kIdleSpins) {
      cpu_relax();
      continue;
    }
    waiting_room_.store(true, std::memory_order_relaxed);
    uint32_t ticket = parker_.prepare();
    if (ring->has_room() || pipeline_->aborting_.load(std::memory_order_acquire)) {
      parker_.cancel();
      continue;
    }
    parker_.park(ticket);
  }
}

void Worker::close_outputs() {
  for (ItemRing* r : outputs_) r->close();
}

bool Worker::any_input() const {
  for (const auto& r : inputs_)
    if (!r->empty_approx()) return true;
  return false;
}

bool Worker::inputs_drained() const {
  for (const auto& r : inputs_)
    if (!r->closed() || !r->empty_approx()) return false;
  return true;
}

void Worker::announce_idle() {
  for (Worker* up : upstream_) {
    up->tick_requested_.store(true, std::memory_order_release);
    up->parker_.unpark();
  }
}

void Worker::run() {
  try {
    if (stage_ == 0) {
      run_source();
    } else {
      run_operator();
    }
  } catch (const std::exception& e) {
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
    pipeline_->fail(std::string(info_.stage), info_.index, e.what());
  } catch (...) {
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
    pipeline_->fail(std::string(info_.stage), info_.index, "unknown exception");
  }
  if (pipeline_->aborting_.load()) {
    for (ItemRing* r : outputs_) r->cancel();
  }
  pipeline_->worker_done();
}

void Worker::run_source() {
  Source* src = pipeline_->stages_[stage_].source.get();
  Emitter out(this);
  while (!pipeline_->aborting_.load(std::memory_order_acquire) &&
         !pipeline_->stop_requested_.load(std::memory_order_acquire)) {
    int64_t t0 = now_ns();
    enter_call();
    Source::Poll r = src->poll(out);
    leave_call();
    count_call();
    if (r == Source::Poll::kEmitted)
      stats_.busy_ns.fetch_add(now_ns() - t0, std::memory_order_relaxed);
    if (r == Source::Poll::kEnd) break;
  }
  if (!pipeline_->aborting_.load()) {
    enter_call();
    src->finish(out);
    leave_call();
    count_call();
  }
  close_outputs();
}

void Worker::run_operator() {
  Operator* op = pipeline_->stages_[stage_].op.get();
  state_ = op->make_state(info_);
  OperatorState* st = state_.get();
  Emitter out(this);
  std::vector<Item> buf(kBurst);
  size_t rr = 0;
  int idle_spins = 0;
  const size_t n_in = inputs_.size();

  while (!pipeline_->aborting_.load(std::memory_order_acquire)) {
    size_t got = 0;
    ItemRing* from = nullptr;
    for (size_t k = 0; k < n_in; ++k) {
      ItemRing* r = inputs_[(rr + k) % n_in].get();
      got = r->try_pop_bulk(buf.data(), kBurst);
      if (got) {
        from = r;
        rr = (rr + k + 1) % n_in;
        break;
      }
    }
    if (got) {
      idle_.store(false, std::memory_order_relaxed);
      idle_spins = 0;
      from->notify_producer();
      int64_t t0 = now_ns();
      stats_.items_in.fetch_add(got, std::memory_order_relaxed);
      enter_call();
      for (size_t i = 0; i < got; ++i) {
        op->process(st, std::move(buf[i]), out);
        count_call();
      }
      leave_call();
      stats_.busy_ns.fetch_add(now_ns() - t0, std::memory_order_relaxed);
      continue;
    }

    // No input right now.
    TimePoint deadline = op->next_deadline(st);
    if (tick_requested_.exchange(false, std::memory_order_acq_rel) ||
        SteadyClock::now() >= deadline) {
      int64_t t0 = now_ns();
      enter_call();
      op->on_tick(st, out);
      leave_call();
      count_call();
      stats_.busy_ns.fetch_add(now_ns() - t0, std::memory_order_relaxed);
      continue;
    }
    if (inputs_drained()) {
      enter_call();
      op->finish(st, out);
      leave_call();
      count_call();
      break;
    }
    if (idle_spins < kIdleSpins) {
      ++idle_spins;
      cpu_relax();
      continue;
    }
    if (!idle_.load(std::memory_order_relaxed)) {
      idle_.store(true, std::memory_order_release);
      announce_idle();
    }
    uint32_t ticket = parker_.prepare();
    if (any_input() || tick_requested_.load(std::memory_order_acquire) || inputs_drained() ||
        pipeline_->aborting_.load(std::memory_order_acquire)) {
      parker_.cancel();
      continue;
    }
    parker_.park(ticket, deadline);
  }
  close_outputs();
}

// ---- Pipeline ----------------------------------------------------------------

Pipeline::Pipeline(PipelineOptions options) : options_(std::move(options)) {}

Pipeline::~Pipeline() {
  if (started_ && !joined_) {
    abort("pipeline destroyed while running");
    wait();
  }
}

void Pipeline::set_source(std::string name, std::unique_ptr<Source> source) {
  if (started_) throw std::logic_error("pipeline already started");
  if (!stages_.empty() && stages_[0].source)
    throw std::logic_error("pipeline already has a source");
  Stage s;
  s.name = std::move(name);
  s.out = source->output_kind();
  s.source = std::move(source);
  stages_.insert(stages_.begin(), std::move(s));
}

void Pipeline::add_stage(std::string name, std::unique_ptr<Operator> op, int workers,
                         size_t queue_capacity) {
  if (started_) throw std::logic_error("pipeline already started");
  if (workers < 1) throw std::invalid_argument("stage '" + name + "': workers must be at least 1");
  Stage s;
  s.name = std::move(name);
  s.in = op->input_kind();
  s.out = op->output_kind();
  s.op = std::move(op);
  s.workers = workers;
  s.queue_capacity = queue_capacity ? queue_capacity : options_.default_queue_capacity;
  stages_.push_back(std::move(s));
}

void Pipeline::start() {
  if (started_) throw std::logic_error("pipeline already started");
  if (stages_.empty() || !stages_[0].source) {
    throw std::invalid_argument("pipeline '" + options_.name + "' has no source stage");
  }
  if (stages_.size() < 2)
    throw std::invalid_argument("pipeline '" + options_.name + "' has no stage after its source");
  for (size_t i = 1; i < stages_.size(); ++i) {
    const Stage& up = stages_[i - 1];
    const Stage& s = stages_[i];
    if (up.out == ItemKind::kNone) {
      throw std::invalid_argument("stage '" + up.name + "' emits nothing, so stage '" + s.name +
                                  "' cannot follow it (a sink must be last)");
    }
    if (up.out != s.in) {
      throw std::invalid_argument("stage '" + s.name + "' takes " +
                                  std::string(item_kind_name(s.in)) + " but stage '" + up.name +
                                  "' emits " + std::string(item_kind_name(up.out)));
    }
  }

  // Workers and rings: rings[i→j] owned by consumer j as inputs_[i].
  for (size_t si = 0; si < stages_.size(); ++si) {
    Stage& s = stages_[si];
    for (int w = 0; w < s.workers; ++w) {
      auto wk = std::make_unique<Worker>(this, si, w, s.workers);
      wk->info_.stage = s.name;
      s.worker_objs.push_back(std::move(wk));
    }
  }
  for (size_t si = 1; si < stages_.size(); ++si) {
    Stage& up = stages_[si - 1];
    Stage& s = stages_[si];
    for (auto& consumer : s.worker_objs) {
      for (auto& producer : up.worker_objs) {
        auto ring = std::make_unique<ItemRing>(s.queue_capacity);
        ring->set_consumer_parker(&consumer->parker_);
        ring->set_producer_parker(&producer->parker_);
        producer->outputs_.push_back(ring.get());
        consumer->inputs_.push_back(std::move(ring));
      }
    }
  }
  // A stage whose operator wants to know when its downstream goes idle is
  // registered as an upstream to be ticked by every worker of the next stage.
  for (size_t si = 1; si + 1 < stages_.size(); ++si) {
    if (!stages_[si].op->wants_downstream_idle()) continue;
    for (auto& down : stages_[si + 1].worker_objs)
      for (auto& me : stages_[si].worker_objs) down->upstream_.push_back(me.get());
  }

  // Start-up work, sink first, so every stage is ready before data flows.
  for (size_t i = stages_.size(); i-- > 0;) {
    Stage& s = stages_[i];
    try {
      if (s.source) {
        s.source->start();
      } else {
        s.op->start();
      }
    } catch (const std::exception& e) {
      throw std::runtime_error("stage '" + s.name + "' failed to start: " + e.what());
    }
  }

  size_t total = 0;
  for (auto& s : stages_) total += s.worker_objs.size();
  {
    std::lock_guard lock(watch_mu_);
    watch_.assign(total, Watch{0, SteadyClock::now()});
  }
  started_ = true;  // after the watches: stalled() may run from now on
  live_workers_.store(static_cast<int>(total));
  for (auto& s : stages_)
    for (auto& w : s.worker_objs) w->thread_ = std::thread([wp = w.get()] { wp->run(); });
  log_info("pipeline '", options_.name, "' started: ", stages_.size(), " stages, ", total,
           " threads");
}

void Pipeline::request_stop() {
  if (!stop_requested_.exchange(true))
    log_info("pipeline '", options_.name, "': stop requested, draining");
  if (!stages_.empty())
    for (auto& w : stages_[0].worker_objs) w->parker_.unpark();
}

void Pipeline::abort(const std::string& reason) {
  if (aborting_.exchange(true)) return;
  {
    std::lock_guard lock(mu_);
    if (failure_.empty()) failure_ = reason;
  }
  failed_.store(true);
  log_error("pipeline '", options_.name, "' aborting: ", reason);
  for (auto& s : stages_)
    for (auto& w : s.worker_objs) {
      for (auto& r : w->inputs_) r->cancel();
      w->parker_.unpark();
    }
}

void Pipeline::fail(const std::string& stage, int worker, const std::string& what) {
  std::string msg = "stage '" + stage + "' worker " + std::to_string(worker) + " failed: " + what;
  log_error(msg);
  abort(msg);
}

void Pipeline::worker_done() {
  if (live_workers_.fetch_sub(1) == 1) {
    std::lock_guard lock(done_mu_);
    finished_.store(true);
    done_cv_.notify_all();
  }
}

bool Pipeline::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(done_mu_);
  return done_cv_.wait_for(lock, timeout, [&] { return finished_.load(); });
}

int Pipeline::wait() {
  if (!started_ || joined_) return failed_ ? 1 : 0;
  for (auto& s : stages_)
    for (auto& w : s.worker_objs)
      if (w->thread_.joinable()) w->thread_.join();
  joined_ = true;
  // No item outlives the run: what an aborted run left in the rings or in
  // operator states is dropped here (its Ack never completed, so never
  // committed) before shutdown(), because records may borrow memory from a
  // client that shutdown() closes (a Kafka consumer cannot be destroyed while
  // any of its messages is alive).
  for (auto& s : stages_)
    for (auto& w : s.worker_objs) {
      w->state_.reset();
      for (auto& r : w->inputs_) {
        Item dropped;
        while (r->try_pop(dropped)) {
        }
      }
    }
  // Stop order: the reverse of start order — source first (final commit), sink last.
  for (auto& s : stages_) {
    try {
      if (s.source) {
        s.source->shutdown();
      } else {
        s.op->shutdown();
      }
    } catch (const std::exception& e) {
      log_error("stage '", s.name, "' failed to shut down: ", e.what());
      failed_.store(true);
    }
  }
  log_info("pipeline '", options_.name, "' stopped", failed_ ? " (failed)" : "");
  return failed_ ? 1 : 0;
}

std::string Pipeline::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

StageSnapshot Pipeline::snapshot(size_t stage) const {
  const Stage& s = stages_.at(stage);
  StageSnapshot snap;
  snap.name = s.name;
  snap.workers = s.workers;
  for (const auto& w : s.worker_objs) {
    snap.items_in += w->stats_.items_in.load(std::memory_order_relaxed);
    snap.items_out += w->stats_.items_out.load(std::memory_order_relaxed);
    snap.dead_letters += w->stats_.dead_letters.load(std::memory_order_relaxed);
    snap.errors += w->stats_.errors.load(std::memory_order_relaxed);
    snap.busy_seconds += w->stats_.busy_ns.load(std::memory_order_relaxed) * 1e-9;
    for (const auto& r : w->inputs_) {
      snap.queue_depth += r->size_approx();
      snap.queue_capacity += r->capacity();
    }
  }
  return snap;
}

std::string Pipeline::stalled() const {
  if (!started_ || options_.stall_timeout.count() <= 0) return {};
  auto seconds = [](SteadyClock::duration d) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f s", std::chrono::duration<double>(d).count());
    return std::string(text);
  };
  std::lock_guard lock(watch_mu_);
  const TimePoint now = SteadyClock::now();
  std::string report;
  size_t k = 0;
  for (const Stage& s : stages_) {
    for (const auto& w : s.worker_objs) {
      Watch& watch = watch_[k++];
      const uint64_t calls = w->calls_.load(std::memory_order_relaxed);
      const bool busy = w->in_call_.load(std::memory_order_relaxed);
      size_t waiting_items = 0;
      for (const auto& r : w->inputs_) waiting_items += r->size_approx();
      // Progress, backpressure or nothing to do: the clock starts again.
      if (calls != watch.calls || w->waiting_room_.load(std::memory_order_relaxed) ||
          (!busy && waiting_items == 0)) {
        watch.calls = calls;
        watch.since = now;
        continue;
      }
      if (now - watch.since < options_.stall_timeout) continue;
      if (!report.empty()) report += "; ";
      report += "stage '" + s.name + "' worker " + std::to_string(w->info_.index) + " stalled: " +
                (busy ? std::string("inside one call")
                      : std::to_string(waiting_items) + " items waiting, none taken") +
                ", no progress for " + seconds(now - watch.since) + " (stall_timeout " +
                seconds(options_.stall_timeout) + ")";
    }
  }
  return report;
}

std::string Pipeline::not_ready() const {
  if (!started_.load()) return "starting: the pipeline has not started yet";
  if (aborting_.load()) return "failed: " + failure();
  if (finished_.load()) return "stopped: the pipeline has finished";
  if (stop_requested_.load()) return "stopping: draining in-flight records";
  const Stage& source = stages_.front();
  const std::string why = source.source->not_ready();
  return why.empty() ? why : "source '" + source.name + "': " + why;
}

void Pipeline::default_dead_letter(DeadLetter&& letter) {
  static LogLimiter limiter;
  uint64_t suppressed = 0;
  if (limiter.allow(&suppressed)) {
    log_warn("dead letter from stage '", letter.stage, "': ", letter.code,
             letter.detail.empty() ? "" : ": ", letter.detail,
             " (no dead-letter topic configured; record acknowledged and dropped",
             suppressed ? ", " + std::to_string(suppressed) + " more suppressed" : std::string(),
             ")");
  }
  letter.record.ack.complete();
}

}  // namespace sluice::core
