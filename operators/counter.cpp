#include "operators/counter.h"

#include <stdexcept>

#include "src/core/log.h"

namespace sluice::operators {
namespace {

struct CounterState : core::OperatorState {
  uint64_t count = 0;
  std::unordered_map<uint64_t, int64_t> last_offset;  // (topic, partition) → last offset seen
};

}  // namespace

std::unique_ptr<core::OperatorState> Counter::make_state(const core::WorkerInfo&) {
  return std::make_unique<CounterState>();
}

void Counter::process(core::OperatorState* s, core::Item&& item, core::Emitter&) const {
  auto* st = static_cast<CounterState*>(s);
  auto& r = std::get<core::Record>(item);
  ++st->count;
  if (options_.check_order && r.partition >= 0 && r.offset >= 0) {
    uint64_t k = (static_cast<uint64_t>(static_cast<uint32_t>(r.source_topic)) << 32) |
                 static_cast<uint32_t>(r.partition);
    auto [it, fresh] = st->last_offset.try_emplace(k, r.offset);
    if (!fresh) {
      if (r.offset <= it->second) out_of_order_.fetch_add(1, std::memory_order_relaxed);
      it->second = r.offset;
    }
  }
  r.ack.complete();  // nothing downstream: the record is done
}

void Counter::finish(core::OperatorState* s, core::Emitter& out) const {
  auto* st = static_cast<CounterState*>(s);
  count_.fetch_add(st->count);
  if (finished_workers_.fetch_add(1) + 1 < out.worker().count) return;  // last worker reports
  uint64_t total = count_.load();
  core::log_info("counter '", name_, "': ", total, " records, ", out_of_order_.load(),
                 " out of order");
  if (out_of_order_.load() > 0) {
    throw std::runtime_error(std::to_string(out_of_order_.load()) +
                             " records arrived out of partition order");
  }
  if (options_.expect >= 0 && total != static_cast<uint64_t>(options_.expect)) {
    throw std::runtime_error("expected " + std::to_string(options_.expect) + " records, counted " +
                             std::to_string(total));
  }
}

namespace {

// The stage's keys, bound to CounterOptions (its initializers are the defaults).
const config::Options<CounterOptions>& counter_options() {
  static const config::Options<CounterOptions> options = [] {
    config::Options<CounterOptions> o;
    o.add("expect", &CounterOptions::expect,
          "Fail the pipeline at the end unless exactly this many records arrived; -1 = any")
        .range(-1, {});
    o.add("check_order", &CounterOptions::check_order,
          "Fail if a partition's offsets arrive out of order");
    return o;
  }();
  return options;
}

}  // namespace

void register_counter(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "counter",
      .description = "Sink that counts records and checks per-partition order",
      .is_source = false,
      .declare = [](config::Schema& s) { counter_options().declare(s); },
      .make_source = nullptr,
      .make_operator = [](BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        const CounterOptions o = counter_options().read(ctx.options);
        return std::make_unique<Counter>(o, ctx.stage_name);
      },
  });
}

}  // namespace sluice::operators
