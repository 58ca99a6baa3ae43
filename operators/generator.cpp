#include "operators/generator.h"

#include <algorithm>
#include <thread>

#include "src/core/clock.h"
#include "src/core/emitter.h"

namespace sluice::operators {

core::Source::Poll Generator::poll(core::Emitter& out) {
  if (out.stopping()) return Poll::kEnd;
  if (options_.count > 0 && next_ >= options_.count) return Poll::kEnd;
  int64_t now = core::now_ns();
  if (start_ns_ == 0) start_ns_ = now;
  int64_t allowed = 256;
  if (options_.rate > 0) {
    // Emit only what the rate allows so far; sleep a little otherwise.
    auto due = static_cast<int64_t>((now - start_ns_) * 1e-9 * options_.rate) + 1;
    allowed = std::min<int64_t>(256, due - next_);
    if (allowed <= 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      return Poll::kIdle;
    }
  }
  if (options_.count > 0) allowed = std::min(allowed, options_.count - next_);
  const int64_t wall = core::wall_ms();
  for (int64_t k = 0; k < allowed; ++k, ++next_) {
    std::string value;
    if (!options_.text.empty()) {
      value = options_.text;
    } else {
      value = "record-" + std::to_string(next_);
      if (value.size() < options_.size) value.resize(options_.size, '.');
    }
    std::optional<std::string> key;
    if (options_.keys > 0) key = "key-" + std::to_string(next_ % options_.keys);
    core::Record r = core::Record::owned(std::move(key), std::move(value));
    r.set_text_view(r.value());
    r.partition = static_cast<int32_t>(next_ % options_.partitions);
    r.offset = next_ / options_.partitions;
    r.timestamp_ms = wall;
    r.ingest_ns = now;
    out.emit(std::move(r));
  }
  return Poll::kEmitted;
}

namespace {

// The stage's keys, bound to GeneratorOptions (its initializers are the defaults).
const config::Options<GeneratorOptions>& generator_options() {
  static const config::Options<GeneratorOptions> options = [] {
    using G = GeneratorOptions;
    config::Options<G> o;
    o.add("count", &G::count, "Records to emit; 0 = until stopped").range(0, {});
    o.add("rate", &G::rate, "Records per second; 0 = as fast as the pipeline takes them")
        .range(0, {});
    o.add("partitions", &G::partitions, "Partitions to spread records over (round-robin)")
        .range(1, 1 << 20);
    o.add("size", &G::size, "Value size in bytes (\"record-<n>\" padded)")
        .bytes()
        .range(1, 64 << 20);
    o.add("text", &G::text, "Fixed value for every record (overrides size)");
    o.add("keys", &G::keys, "Distinct record keys; 0 = records have no key").range(0, {});
    return o;
  }();
  return options;
}

}  // namespace

void register_generator(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "generator",
      .description = "Synthetic records (no Kafka): for tests, benchmarks and smoke runs",
      .is_source = true,
      .declare = [](config::Schema& s) { generator_options().declare(s); },
      .make_source = [](BuildContext& ctx) -> std::unique_ptr<core::Source> {
        GeneratorOptions o = generator_options().read(ctx.options);
        return std::make_unique<Generator>(std::move(o));
      },
  });
}

}  // namespace sluice::operators
