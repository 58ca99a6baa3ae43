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

void register_generator(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "generator",
      .description = "Synthetic records (no Kafka): for tests, benchmarks and smoke runs",
      .is_source = true,
      .declare =
          [](config::Schema& s) {
            s.integer("count", "Records to emit; 0 = until stopped").def("0").range(0, {});
            s.real("rate", "Records per second; 0 = as fast as the pipeline takes them")
                .def("0")
                .range(0, {});
            s.integer("partitions", "Partitions to spread records over (round-robin)")
                .def("1")
                .range(1, 1 << 20);
            s.bytes("size", "Value size in bytes (\"record-<n>\" padded)")
                .def("100")
                .range(1, 64 << 20);
            s.string("text", "Fixed value for every record (overrides size)").def("");
            s.integer("keys", "Distinct record keys; 0 = records have no key")
                .def("0")
                .range(0, {});
          },
      .make_source = [](BuildContext& ctx) -> std::unique_ptr<core::Source> {
        GeneratorOptions o;
        o.count = ctx.options.integer("count");
        o.rate = ctx.options.real("rate");
        o.partitions = static_cast<int32_t>(ctx.options.integer("partitions"));
        o.size = ctx.options.bytes("size");
        o.text = ctx.options.string("text");
        o.keys = static_cast<int32_t>(ctx.options.integer("keys"));
        return std::make_unique<Generator>(std::move(o));
      },
  });
}

}  // namespace sluice::operators
