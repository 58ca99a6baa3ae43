#include "tests/integration/kafka/kafka_test_util.h"

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "src/core/emitter.h"

namespace sluice::kafka::testing {
namespace {

using Clock = std::chrono::steady_clock;

struct Client {
  rd_kafka_t* rk = nullptr;
  ~Client() {
    if (rk) rd_kafka_destroy(rk);
  }
};

rd_kafka_conf_t* conf(const std::string& bootstrap,
                      std::initializer_list<std::pair<const char*, std::string>> kv) {
  rd_kafka_conf_t* c = rd_kafka_conf_new();
  char err[512];
  auto set = [&](const char* k, const std::string& v) {
    if (rd_kafka_conf_set(c, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      throw std::runtime_error(std::string("test client: ") + k + ": " + err);
    }
  };
  set("bootstrap.servers", bootstrap);
  set("log_level", "3");
  for (const auto& [k, v] : kv) set(k, v);
  return c;
}

rd_kafka_t* make(rd_kafka_type_t type, rd_kafka_conf_t* c) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, c, err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("test client: ") + err);
  return rk;
}

int partition_count(rd_kafka_t* rk, const std::string& topic) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, t, &md, 5000);
    rd_kafka_topic_destroy(t);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err == 0 &&
        md->topics[0].partition_cnt > 0) {
      int n = md->topics[0].partition_cnt;
      rd_kafka_metadata_destroy(md);
      return n;
    }
    if (md) rd_kafka_metadata_destroy(md);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("test client: no metadata for topic " + topic);
}

struct DeliveryCount {
  std::atomic<uint64_t> ok{0}, failed{0};
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* c = static_cast<DeliveryCount*>(opaque);
  (m->err ? c->failed : c->ok).fetch_add(1);
}

}  // namespace

std::string Message::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return "";
}

std::vector<Message> values(const std::vector<std::string>& vs) {
  std::vector<Message> out;
  out.reserve(vs.size());
  for (const auto& v : vs) out.push_back(Message{std::nullopt, v, {}, -1, -1});
  return out;
}

void produce(const std::string& bootstrap, const std::string& topic,
             const std::vector<Message>& messages, bool lz4) {
  DeliveryCount count;
  rd_kafka_conf_t* c = conf(bootstrap, {{"linger.ms", "5"},
                                        {"batch.num.messages", "10000"},
                                        {"queue.buffering.max.messages", "1000000"},
                                        {"compression.type", lz4 ? "lz4" : "none"},
                                        // Unkeyed records spread evenly (the embedded broker keeps
                                        // ~5 MiB per partition).
                                        {"sticky.partitioning.linger.ms", "0"}});
  rd_kafka_conf_set_dr_msg_cb(c, &on_delivery);
  rd_kafka_conf_set_opaque(c, &count);
  Client client{make(RD_KAFKA_PRODUCER, c)};
  for (const Message& m : messages) {
    rd_kafka_headers_t* hdrs = nullptr;
    if (!m.headers.empty()) {
      hdrs = rd_kafka_headers_new(m.headers.size());
      for (const auto& [k, v] : m.headers)
        rd_kafka_header_add(hdrs, k.data(), k.size(), v.data(), v.size());
    }
    const char* key = m.key ? m.key->data() : nullptr;
    const size_t key_len = m.key ? m.key->size() : 0;
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          client.rk, RD_KAFKA_V_TOPIC(topic.c_str()),
          RD_KAFKA_V_PARTITION(m.partition >= 0 ? m.partition : RD_KAFKA_PARTITION_UA),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
          RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        throw std::runtime_error("test produce: " + std::string(rd_kafka_err2str(err)));
      rd_kafka_poll(client.rk, 10);
    }
  }
  rd_kafka_flush(client.rk, 120000);
  if (count.ok.load() != messages.size()) {
    throw std::runtime_error("test produce: " + std::to_string(count.ok.load()) + " of " +
                             std::to_string(messages.size()) + " delivered (" +
                             std::to_string(count.failed.load()) + " failed)");
  }
}

std::vector<int64_t> end_offsets(const std::string& bootstrap, const std::string& topic) {
  Client client{make(RD_KAFKA_PRODUCER, conf(bootstrap, {}))};
  int n = partition_count(client.rk, topic);
  std::vector<int64_t> ends(n);
  for (int p = 0; p < n; ++p) {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(client.rk, topic.c_str(), p, &lo, &hi, 5000);
    if (err) throw std::runtime_error("test watermarks: " + std::string(rd_kafka_err2str(err)));
    if (lo != 0) {
      throw std::runtime_error(
          "test: " + topic + " [" + std::to_string(p) + "] starts at offset " + std::to_string(lo) +
          ": the embedded broker dropped data (it keeps ~5 MiB per partition)");
    }
    ends[p] = hi;
  }
  return ends;
}

int64_t total_records(const std::string& bootstrap, const std::string& topic) {
  int64_t n = 0;
  for (int64_t e : end_offsets(bootstrap, topic)) n += e;
  return n;
}

bool wait_for_records(const std::string& bootstrap, const std::string& topic, int64_t n,
                      std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (total_records(bootstrap, topic) >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::vector<Message> read_all(const std::string& bootstrap, const std::string& topic) {
  std::vector<int64_t> ends = end_offsets(bootstrap, topic);
  Client client{make(RD_KAFKA_CONSUMER, conf(bootstrap, {{"group.id", "sluice-test-reader"},
                                                         {"enable.auto.commit", "false"},
                                                         {"enable.partition.eof", "false"}}))};
  rd_kafka_poll_set_consumer(client.rk);
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(ends.size()));
  size_t remaining = 0;
  for (size_t p = 0; p < ends.size(); ++p) {
    if (ends[p] == 0) continue;
    rd_kafka_topic_partition_list_add(list, topic.c_str(), static_cast<int32_t>(p))->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    ++remaining;
  }
  std::vector<Message> out;
  if (remaining == 0) {
    rd_kafka_topic_partition_list_destroy(list);
    return out;
  }
  rd_kafka_assign(client.rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (remaining > 0) {
    if (Clock::now() > deadline)
      throw std::runtime_error("test read_all: timed out reading " + topic);
    rd_kafka_message_t* m = rd_kafka_consumer_poll(client.rk, 200);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset < ends[m->partition]) {
      Message msg;
      if (m->key) msg.key = std::string(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) msg.value.assign(static_cast<const char*>(m->payload), m->len);
      msg.partition = m->partition;
      msg.offset = m->offset;
      msg.timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* val;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == 0; ++i) {
          msg.headers.emplace_back(name,
                                   val ? std::string(static_cast<const char*>(val), size) : "");
        }
      }
      out.push_back(std::move(msg));
      if (m->offset + 1 == ends[m->partition]) --remaining;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(client.rk);
  return out;
}

bool wait_for_distinct(const std::string& bootstrap, const std::string& topic, size_t n,
                       std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (count_values(read_all(bootstrap, topic)).size() >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return false;
}

std::vector<int64_t> committed_offsets(const std::string& bootstrap, const std::string& group,
                                       const std::string& topic) {
  Client client{make(RD_KAFKA_CONSUMER,
                     conf(bootstrap, {{"group.id", group}, {"enable.auto.commit", "false"}}))};
  int n = partition_count(client.rk, topic);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(n);
  for (int p = 0; p < n; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  rd_kafka_resp_err_t err = rd_kafka_committed(client.rk, list, 10000);
  std::vector<int64_t> out(n, -1);
  for (int i = 0; i < list->cnt; ++i)
    out[list->elems[i].partition] = list->elems[i].offset < 0 ? -1 : list->elems[i].offset;
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_consumer_close(client.rk);
  if (err) throw std::runtime_error("test committed: " + std::string(rd_kafka_err2str(err)));
  return out;
}

bool wait_until_committed(const std::string& bootstrap, const std::string& group,
                          const std::string& topic, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<int64_t> ends = end_offsets(bootstrap, topic);
  while (std::chrono::steady_clock::now() < deadline) {
    if (committed_offsets(bootstrap, group, topic) == ends) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return false;
}

std::map<std::string, int> count_values(const std::vector<Message>& messages) {
  std::map<std::string, int> m;
  for (const auto& msg : messages) ++m[msg.value];
  return m;
}

void Gate::process(core::OperatorState*, core::Item&& item, core::Emitter& out) const {
  while (closed.load(std::memory_order_acquire))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (int d = delay_us.load(std::memory_order_relaxed))
    std::this_thread::sleep_for(std::chrono::microseconds(d));
  passed.fetch_add(1, std::memory_order_relaxed);
  out.emit(std::move(item));
}

Properties fast_group_properties() {
  return {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
}

HarnessOptions options(std::string bootstrap, std::string input, std::string output,
                       std::string dead_letters, std::string group) {
  HarnessOptions o;
  o.bootstrap = std::move(bootstrap);
  o.input = std::move(input);
  o.output = std::move(output);
  o.dead_letters = std::move(dead_letters);
  o.group = std::move(group);
  return o;
}

Harness::Harness(HarnessOptions o) {
  ProducerConfig pc{o.bootstrap, o.producer_properties};
  pc.refusal_timeout = o.refusal_timeout;
  pc.transactional_id = o.transactional_id;
  output = std::make_unique<Output>(std::move(pc), &registry, o.pipeline);
  if (!o.dead_letters.empty()) {
    dead_letters = std::make_unique<kafka::DeadLetterSink>(o.dead_letters, *output);
  }
  core::PipelineOptions po;
  po.name = o.pipeline;
  po.default_queue_capacity = o.queue_capacity;
  pipeline = std::make_unique<core::Pipeline>(po);

  operators::KafkaSourceOptions so;
  so.pipeline = o.pipeline;
  so.metrics = &registry;
  so.consumer.bootstrap_servers = o.bootstrap;
  so.consumer.group_id = o.group;
  so.consumer.assignment_strategy = o.assignment_strategy;
  if (const char* s = std::getenv("SLUICE_TEST_ASSIGNOR")) so.consumer.assignment_strategy = s;
  so.consumer.properties = fast_group_properties();
  for (const auto& [k, v] : o.consumer_properties) so.consumer.properties[k] = v;
  so.topics = {o.input};
  so.format = o.format;
  so.high_watermark = o.high_watermark;
  so.low_watermark = o.low_watermark;
  so.pause_after = o.pause_after;
  so.commit_interval = o.commit_interval;
  so.commit_records = o.commit_records;
  so.exactly_once = !o.transactional_id.empty();
  so.transaction_interval = o.transaction_interval;
  so.shed = o.shed;
  so.latency_objective = o.latency_objective;
  if (so.exactly_once) so.consumer.properties["isolation.level"] = "read_committed";
  const bool so_exactly_once = so.exactly_once;
  auto src = std::make_unique<operators::KafkaSource>(std::move(so));
  source = src.get();
  if (dead_letters || so_exactly_once) src->set_output(output.get());
  pipeline->set_source("source", std::move(src));
  if (o.middle) pipeline->add_stage("middle", std::move(o.middle));
  operators::KafkaSinkOptions sk;
  sk.topic = o.output;
  pipeline->add_stage("sink", std::make_unique<operators::KafkaSink>(std::move(sk), *output));
  if (dead_letters) pipeline->set_dead_letter_sink(dead_letters.get());
}

Harness::~Harness() { pipeline.reset(); }

int Harness::stop() {
  pipeline->request_stop();
  return pipeline->wait();
}

size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace sluice::kafka::testing
