#include "src/kafka/dead_letter_sink.h"

#include <stdexcept>

#include "src/kafka/error.h"

namespace sluice::kafka {
namespace {

Headers headers_for(const core::DeadLetter& l) {
  Headers h;
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

DeadLetterSink::DeadLetterSink(std::string topic, Output& output)
    : topic_name_(std::move(topic)), output_(output) {
  if (topic_name_.empty()) throw std::invalid_argument("dead letters: a topic is required");
  topic_ = core::intern_topic(topic_name_);
}

void DeadLetterSink::publish(core::DeadLetter&& letter) {
  output_.probe().on_dead_lettered(letter.stage, letter.code);
  Producer* producer = output_.producer();
  if (!producer) producer = &output_.start();
  core::Record& r = letter.record;
  OutMessage m;
  m.topic = topic_;
  if (r.has_key()) m.key = r.key();
  m.value = r.value();
  m.headers = headers_for(letter);
  m.delivery.ack = std::move(r.ack);
  m.delivery.source_timestamp_ms = r.timestamp_ms;
  m.delivery.topic = topic_;
  m.delivery.kind = DeliveryKind::kDeadLetter;
  rd_kafka_resp_err_t err = producer->send(m);
  if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
    m.value = {};
    m.headers = headers_for(letter);
    m.headers.add("sluice.value.omitted", "value too large for the dead-letter topic");
    err = producer->send(m);
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError(err,
                     "dead letters: cannot produce to '" + topic_name_ + "': " + error_name(err));
  }
}

}  // namespace sluice::kafka
