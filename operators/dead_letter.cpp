#include "operators/dead_letter.h"

#include <stdexcept>

#include "src/kafka/error.h"

namespace sluice::operators {
namespace {

kafka::Headers headers_for(const core::DeadLetter& l) {
  kafka::Headers h;
  for (const core::Header& orig : l.record.headers) h.add(orig.key, orig.value);
  h.add("sluice.error", l.code);
  if (!l.detail.empty()) h.add("sluice.error.detail", l.detail);
  h.add("sluice.stage", l.stage);
  if (l.record.source_topic != core::kNoTopic) {
    h.add("sluice.source.topic", core::topic_name(l.record.source_topic));
    h.add("sluice.source.partition", std::to_string(l.record.partition));
    h.add("sluice.source.offset", std::to_string(l.record.offset));
  }
  return h;
}

}  // namespace

KafkaDeadLetterSink::KafkaDeadLetterSink(DeadLetterOptions options, std::shared_ptr<kafka::Producer> producer,
                                         kafka::ProducerProbe* probe)
    : options_(std::move(options)), producer_(std::move(producer)), probe_(probe) {
  if (options_.topic.empty()) throw std::invalid_argument("dead letters: a topic is required");
  if (!producer_) throw std::invalid_argument("dead letters: no producer");
  topic_ = core::intern_topic(options_.topic);
}

void KafkaDeadLetterSink::publish(core::DeadLetter&& letter) {
  if (probe_) probe_->on_dead_lettered(letter.stage, letter.code);
  core::Record& r = letter.record;
  kafka::OutMessage m;
  m.topic = topic_;
  if (r.has_key()) m.key = r.key();
  m.value = r.value();
  m.headers = headers_for(letter);
  m.delivery.ack = std::move(r.ack);
  m.delivery.source_timestamp_ms = r.timestamp_ms;
  m.delivery.topic = topic_;
  m.delivery.kind = kafka::DeliveryKind::kDeadLetter;
  rd_kafka_resp_err_t err = producer_->send(m);
  if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
    m.value = {};
    m.headers = headers_for(letter);
    m.headers.add("sluice.value.omitted", "value too large for the dead-letter topic");
    err = producer_->send(m);
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw kafka::KafkaError(err, "dead letters: cannot produce to '" + options_.topic + "': " + kafka::error_name(err));
  }
}

}  // namespace sluice::operators
