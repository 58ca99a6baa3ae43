#include "operators/kafka_sink.h"

#include <algorithm>

#include "operators/kafka_services.h"
#include "src/core/clock.h"
#include "src/core/emitter.h"
#include "src/kafka/error.h"

namespace sluice::operators {
namespace {

struct SinkState final : core::OperatorState {
  // Last topic named by a header, so the name is not interned per record.
  std::string header_topic;
  core::TopicId header_topic_id = core::kNoTopic;
};

}  // namespace

KafkaSink::KafkaSink(KafkaSinkOptions options, kafka::Output& output)
    : options_(std::move(options)),
      output_(output),
      default_topic_(options_.topic.empty() ? core::kNoTopic : core::intern_topic(options_.topic)) {
}

void KafkaSink::start() { producer_ = &output_.start(); }

std::unique_ptr<core::OperatorState> KafkaSink::make_state(const core::WorkerInfo&) {
  return std::make_unique<SinkState>();
}

void KafkaSink::throw_if_failed() const {
  if (producer_->failed()) throw kafka::KafkaError("kafka sink: " + producer_->failure());
}

void KafkaSink::process(core::OperatorState* state, core::Item&& item, core::Emitter& out) const {
  throw_if_failed();
  auto& st = *static_cast<SinkState*>(state);
  core::Record& r = std::get<core::Record>(item);
  kafka::OutMessage m;
  m.topic = r.dest_topic;
  if (m.topic == core::kNoTopic && !options_.topic_header.empty()) {
    for (const core::Header& h : r.headers) {
      if (h.key != options_.topic_header || h.value.empty()) continue;
      if (h.value != st.header_topic) {
        st.header_topic = h.value;
        st.header_topic_id = core::intern_topic(h.value);
      }
      m.topic = st.header_topic_id;
      break;
    }
  }
  if (m.topic == core::kNoTopic) m.topic = default_topic_;
  if (m.topic == core::kNoTopic) {
    out.dead_letter(std::move(r), "no_topic",
                    "the record names no output topic and the sink has no default topic");
    return;
  }
  if (options_.keep_key && r.has_key()) m.key = r.key();
  m.value = r.value();
  if (options_.keep_headers) {
    for (const core::Header& h : r.headers) m.headers.add(h.key, h.value);
  }
  m.delivery.ack = std::move(r.ack);
  m.delivery.source_timestamp_ms = r.timestamp_ms;
  m.delivery.topic = m.topic;
  m.delivery.kind = kafka::DeliveryKind::kResult;
  rd_kafka_resp_err_t err = producer_->send(m);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    r.ack = std::move(m.delivery.ack);
    out.dead_letter(std::move(r),
                    err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? "too_large" : "produce_rejected",
                    "kafka producer rejected the record: " + kafka::error_name(err));
  }
}

core::TimePoint KafkaSink::next_deadline(const core::OperatorState*) const {
  if (producer_->failed()) return core::SteadyClock::now();
  if (producer_->outstanding() > 0)
    return core::SteadyClock::now() + std::chrono::milliseconds(100);
  return core::TimePoint::max();
}

void KafkaSink::on_tick(core::OperatorState*, core::Emitter&) const { throw_if_failed(); }

void KafkaSink::finish(core::OperatorState*, core::Emitter& out) const {
  throw_if_failed();
  // In slices, so that an abort (a drain past runtime.shutdown_timeout, e.g.
  // during a broker outage) is not held up to flush_timeout.
  const auto deadline = core::SteadyClock::now() + options_.flush_timeout;
  bool flushed = producer_->flush(std::chrono::milliseconds(0));
  while (!flushed && !out.aborting() && core::SteadyClock::now() < deadline) {
    const auto slice = std::min<core::SteadyClock::duration>(std::chrono::milliseconds(100),
                                                             deadline - core::SteadyClock::now());
    flushed = producer_->flush(std::chrono::duration_cast<std::chrono::milliseconds>(slice));
  }
  if (!flushed) {
    throw_if_failed();
    throw kafka::KafkaError("kafka sink: " + std::to_string(producer_->outstanding()) +
                            " records not delivered within flush_timeout (" +
                            std::to_string(options_.flush_timeout.count()) +
                            " ms); they stay uncommitted");
  }
  throw_if_failed();
}

void KafkaSink::shutdown() { output_.close(); }

namespace {

// The stage's keys, bound to KafkaSinkOptions (its initializers are the
// defaults). The `kafka:` section is kafka_services.cpp's.
const config::Options<KafkaSinkOptions>& kafka_sink_options() {
  static const config::Options<KafkaSinkOptions> options = [] {
    using K = KafkaSinkOptions;
    config::Options<K> o;
    o.add("topic", &K::topic, "Output topic (unless a record names its own)").req();
    o.add("topic_header", &K::topic_header,
          "Header whose value, when present, names a record's output topic");
    o.add("keep_key", &K::keep_key, "Produce records with their input key");
    o.add("keep_headers", &K::keep_headers, "Carry the input headers to the output");
    o.add("flush_timeout", &K::flush_timeout,
          "At the end of input: time allowed for outstanding deliveries")
        .range(0, 3600);
    return o;
  }();
  return options;
}

}  // namespace

void register_kafka_sink(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "kafka_sink",
      .description = "Produces records to Kafka (idempotent producer); delivery makes their "
                     "offsets committable",
      .is_source = false,
      .declare = [](config::Schema& s) { kafka_sink_options().declare(s); },
      .make_source = nullptr,
      .make_operator = [](BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        KafkaSinkOptions o = kafka_sink_options().read(ctx.options);
        if (o.topic.empty()) throw std::invalid_argument("topic: must not be empty");
        return std::make_unique<KafkaSink>(std::move(o), kafka_output(ctx.services));
      },
  });
}

}  // namespace sluice::operators
