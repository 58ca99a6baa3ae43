#include "src/state/changelog.h"

#include <librdkafka/rdkafka.h>

#include <memory>
#include <thread>

#include "src/core/clock.h"
#include "src/core/log.h"
#include "src/kafka/error.h"
#include "src/kafka/partition_list.h"

namespace sluice::state {

std::string changelog_topic(const std::string& group, const std::string& stage) {
  return group + "-" + stage + "-changelog";
}

KafkaChangelog::KafkaChangelog(std::string topic, std::string bootstrap,
                               kafka::Properties properties, kafka::Output& output)
    : topic_(std::move(topic)),
      topic_id_(core::intern_topic(topic_)),
      bootstrap_(std::move(bootstrap)),
      properties_(std::move(properties)),
      output_(output) {}

KafkaChangelog::~KafkaChangelog() {
  if (reader_) {
    rd_kafka_consumer_close(reader_);
    rd_kafka_destroy(reader_);
  }
}

rd_kafka_t* KafkaChangelog::reader() {
  if (reader_) return reader_;
  kafka::Conf conf;
  conf.set("bootstrap.servers", bootstrap_);
  // The group consumer's properties (security, timeouts) without what makes
  // a group member: this consumer is assigned partitions and joins nothing.
  for (const auto& [k, v] : properties_) {
    if (k == "group.id" || k == "group.instance.id" || k == "partition.assignment.strategy" ||
        k == "isolation.level" || k == "enable.partition.eof")
      continue;
    conf.set(k, v);
  }
  // librdkafka's assign() wants a group id, though this consumer never joins
  // the group nor commits to it.
  conf.set("group.id", topic_ + "-restore")
      .set("client.id", "sluice-state-restore")
      .set("enable.auto.commit", "false")
      .set("enable.partition.eof", "true")
      .set("isolation.level", "read_committed")
      .set("auto.offset.reset", "earliest");
  reader_ = kafka::new_client(RD_KAFKA_CONSUMER, std::move(conf), "state restore consumer");
  return reader_;
}

void KafkaChangelog::ensure_topic(int partitions, std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = reader();
  const rd_kafka_metadata_t* md = nullptr;
  // All topics: asking for this one by name would make a broker that
  // auto-creates topics create it with its default partition count.
  kafka::check(rd_kafka_metadata(rk, 1, nullptr, &md, static_cast<int>(timeout.count())),
               "state changelog: metadata");
  std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)> hold(
      md, rd_kafka_metadata_destroy);
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (topic_ != md->topics[i].topic) continue;
    if (md->topics[i].partition_cnt < partitions)
      throw kafka::KafkaError("state changelog '" + topic_ + "' has " +
                              std::to_string(md->topics[i].partition_cnt) +
                              " partitions, fewer than the input's " + std::to_string(partitions) +
                              ": add partitions to it (or delete it to have it re-created)");
    return;
  }
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic_.c_str(), partitions, -1, err, sizeof err);
  if (!nt) throw kafka::KafkaError("state changelog '" + topic_ + "': " + err);
  rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(opts, static_cast<int>(timeout.count()), err,
                                            sizeof err);
  rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, static_cast<int>(timeout.count()) + 1000);
  std::string failure;
  if (!ev) {
    failure = "no answer to CreateTopics";
  } else if (rd_kafka_event_error(ev)) {
    failure = rd_kafka_event_error_string(ev);
  } else if (const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev)) {
    size_t n = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; ++i) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        failure = kafka::error_name(e);
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_queue_destroy(q);
  if (!failure.empty()) {
    // A broker without the CreateTopics API (the embedded broker) may still
    // create topics when a producer asks for their metadata
    // (auto.create.topics.enable), with its default partition count.
    const int got = auto_create(timeout);
    if (got >= partitions) {
      core::log_warn("state: changelog topic ", topic_, " auto-created by the broker (", got,
                     " partitions; CreateTopics failed: ", failure,
                     "): it is compacted only if the broker's default cleanup.policy is compact");
      return;
    }
    throw kafka::KafkaError(
        "state changelog '" + topic_ + "' is missing and could not be created (" + failure +
        (got > 0 ? "; auto-created with only " + std::to_string(got) + " partitions"
                 : std::string()) +
        "): create it with " + std::to_string(partitions) +
        " partitions and cleanup.policy=compact");
  }
  core::log_info("state: created changelog topic ", topic_, " (", partitions,
                 " partitions, cleanup.policy=compact)");
}

int KafkaChangelog::auto_create(std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = output_.start().handle();
  const auto deadline = core::SteadyClock::now() + timeout;
  while (core::SteadyClock::now() < deadline) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic_.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
    rd_kafka_topic_destroy(rkt);
    int n = 0;
    if (!err && md->topic_cnt == 1 && !md->topics[0].err) n = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    if (n > 0) return n;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return 0;
}

PartitionSnapshot KafkaChangelog::restore(int32_t partition, std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = reader();
  const auto begin = core::SteadyClock::now();
  const auto deadline = begin + timeout;
  PartitionSnapshot snap;
  kafka::PartitionList list;
  list.add(topic_, partition, RD_KAFKA_OFFSET_BEGINNING);
  kafka::check(rd_kafka_assign(rk, list.get()), "state restore: assign");
  bool done = false;
  while (!done) {
    if (core::SteadyClock::now() >= deadline) {
      rd_kafka_assign(rk, nullptr);
      throw kafka::KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT,
                              "state restore of " + topic_ + "/" + std::to_string(partition) +
                                  " did not finish within " + std::to_string(timeout.count()) +
                                  " ms");
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> hold(
        m, rd_kafka_message_destroy);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      done = m->partition == partition;
      continue;
    }
    if (m->err) {
      // Transient errors (a broker restarting) are retried by the client;
      // an unknown topic or partition will not heal by waiting.
      if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
          m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
          m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
        rd_kafka_assign(rk, nullptr);
        throw kafka::KafkaError(m->err, "state restore of " + topic_ + "/" +
                                            std::to_string(partition) + ": " +
                                            kafka::error_name(m->err));
      }
      core::log_warn("state restore of ", topic_, "/", partition, ": ", kafka::error_name(m->err));
      continue;
    }
    std::string_view key(static_cast<const char*>(m->key), m->key ? m->key_len : 0);
    std::optional<std::string_view> value;
    if (m->payload) value.emplace(static_cast<const char*>(m->payload), m->len);
    snap.fold(key, value);
  }
  rd_kafka_assign(rk, nullptr);
  snap.seconds = std::chrono::duration<double>(core::SteadyClock::now() - begin).count();
  return snap;
}

void KafkaChangelog::write(int32_t partition, std::string_view key,
                           std::optional<std::string_view> value, core::Ack ack) {
  if (!producer_) producer_ = &output_.start();
  kafka::OutMessage m;
  m.topic = topic_id_;
  m.key = key;
  m.partition = partition;
  if (value) {
    m.value = *value;
  } else {
    m.tombstone = true;
  }
  m.delivery.ack = std::move(ack);
  m.delivery.topic = topic_id_;
  rd_kafka_resp_err_t err = producer_->send(m);
  // A state entry the producer refuses (over message.max.bytes) cannot be
  // dropped like a bad record: the state would silently diverge from its
  // changelog. Stop; the records stay uncommitted.
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw kafka::KafkaError(
        err, "state changelog '" + topic_ + "': write refused: " + kafka::error_name(err));
}

bool KafkaChangelog::flush(std::chrono::milliseconds timeout) {
  // Under exactly_once the producer's flush is what puts the entries in the
  // open transaction; the transaction's commit is the source's.
  return output_.flush(timeout);
}

}  // namespace sluice::state
