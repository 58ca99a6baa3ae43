// Kafka → Kafka passthrough against the in-process embedded broker: exact
// delivery, poison records, graceful stop and restart, rebalancing, and a
// failed delivery. Input is loaded and output read with a plain librdkafka
// client (tests/integration/kafka/kafka_test_util.h).
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <thread>

#include "src/core/dead_letter.h"
#include "src/kafka/mock_cluster.h"
#include "tests/integration/kafka/kafka_test_util.h"

namespace sluice::kafka::testing {
namespace {

using namespace std::chrono_literals;
namespace code = core::dead_letter_code;

std::string record_value(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "rec-%07d-", i);
  std::string v(buf);
  v.resize(60, 'x');
  return v;
}

TEST(KafkaPassthrough, DeliversEveryRecordExactlyOnceWithKeysAndHeaders) {
  constexpr int kRecords = 200000;
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 8);
  cluster.create_topic("out", 8);
  std::vector<Message> input;
  input.reserve(kRecords);
  for (int i = 0; i < kRecords; ++i) {
    Message m{std::nullopt, record_value(i), {}, -1, -1};
    if (i % 4 == 0) m.key = std::to_string(i % 97).insert(0, 1, 'k');
    if (i % 10 == 0) m.headers = {{"trace", std::to_string(i).insert(0, 1, 't')}};
    input.push_back(std::move(m));
  }
  produce(b, "in", input);

  auto h_opts = options(b, "in", "out", "", "passthrough");
  Harness h(std::move(h_opts));
  h.start();
  ASSERT_TRUE(wait_for_records(b, "out", kRecords, 120s));
  ASSERT_EQ(h.stop(), 0) << h.pipeline->failure();

  std::vector<Message> output = read_all(b, "out");
  ASSERT_EQ(output.size(), static_cast<size_t>(kRecords));
  EXPECT_EQ(count_values(output), count_values(input));
  std::map<std::string, const Message*> by_value;
  for (const Message& m : output) by_value[m.value] = &m;
  for (int i = 0; i < kRecords; i += 1) {
    const Message& out = *by_value.at(input[i].value);
    ASSERT_EQ(out.key, input[i].key) << input[i].value;
    ASSERT_EQ(out.headers, input[i].headers) << input[i].value;
  }
  const std::vector<int64_t> ends = end_offsets(b, "in");
  EXPECT_EQ(committed_offsets(b, "passthrough", "in"), ends);
  EXPECT_EQ(h.source->probe().consumed_total(), static_cast<uint64_t>(kRecords));
  int partitions_seen = 0;
  h.source->probe().for_each_partition([&](const SourceProbe::Partition& p) {
    ++partitions_seen;
    EXPECT_EQ(p.committed(), ends[p.partition()])
        << "sluice_committed_offset of partition " << p.partition();
    EXPECT_EQ(p.consumed(), static_cast<uint64_t>(ends[p.partition()]))
        << "partition " << p.partition();
  });
  EXPECT_EQ(partitions_seen, 8);
  EXPECT_EQ(h.output->probe().produced(core::intern_topic("out")), static_cast<uint64_t>(kRecords));
  EXPECT_EQ(h.output->probe().latency_count(), static_cast<uint64_t>(kRecords));
}

TEST(KafkaPassthrough, KeepsPerKeyOrder) {
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 4);
  cluster.create_topic("out", 3);
  std::vector<Message> input;
  for (int i = 0; i < 20000; ++i)
    input.push_back(Message{std::to_string(i % 13).insert(0, "key"), record_value(i), {}, -1, -1});
  produce(b, "in", input);
  auto h_opts = options(b, "in", "out", "", "order");
  Harness h(std::move(h_opts));
  h.start();
  ASSERT_TRUE(wait_for_records(b, "out", 20000, 60s));
  ASSERT_EQ(h.stop(), 0);
  std::map<std::string, std::string> last;  // key → last value seen, in output partition order
  std::vector<Message> output = read_all(b, "out");
  ASSERT_EQ(output.size(), 20000u);
  for (const Message& m : output) {
    std::string& prev = last[*m.key];
    ASSERT_LT(prev, m.value) << "key " << *m.key << " out of order";
    prev = m.value;
  }
}

TEST(KafkaPassthrough, SubscribesToTopicsByRegex) {
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("orders-eu", 2);
  cluster.create_topic("orders-us", 2);
  cluster.create_topic("other", 1);
  cluster.create_topic("out", 2);
  produce(b, "orders-eu", values({"eu-1", "eu-2"}));
  produce(b, "orders-us", values({"us-1"}));
  produce(b, "other", values({"not-mine"}));
  Harness h(options(b, "^orders-.*", "out", "", "regex"));
  h.start();
  ASSERT_TRUE(wait_for_records(b, "out", 3, 60s));
  ASSERT_EQ(h.stop(), 0);
  std::map<std::string, int> expected{{"eu-1", 1}, {"eu-2", 1}, {"us-1", 1}};
  EXPECT_EQ(count_values(read_all(b, "out")), expected);
}

TEST(KafkaPassthrough, PoisonRecordsGoToTheDeadLetterTopicWithTheirErrorCode) {
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 1);
  cluster.create_topic("out", 1);
  cluster.create_topic("dlq", 1);
  struct Case {
    std::string value;
    const char* expect;  // nullptr: valid
  };
  const std::string binary("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe", 18);
  const std::vector<Case> cases = {
      {R"({"text":"first good one"})", nullptr},
      {R"({"text": "unterminated)", code::kInvalidJson},
      {R"({"text":"good two"})", nullptr},
      {R"({"body":"no text field"})", code::kMissingField},
      {"", code::kEmpty},
      {std::string(300, 'x').insert(0, R"({"text":")").append(R"("})"), code::kTooLarge},
      {R"({"text":"good three"})", nullptr},
      {"{\"text\":\"caf\xe9\"}", code::kInvalidUtf8},
      {binary, code::kInvalidUtf8},
      {R"({"text":"good four"} trailing)", code::kInvalidJson},
      {R"({"text":"good five"})", nullptr},
  };
  std::vector<Message> input;
  for (const Case& c : cases)
    input.push_back(Message{"k", c.value, {{"origin", "poison-test"}}, -1, -1});
  produce(b, "in", input);

  InputFormatOptions format;
  format.format = InputFormat::kJson;
  format.max_record_bytes = 200;
  auto h_opts = options(b, "in", "out", "dlq", "poison");
  h_opts.format = format;
  Harness h(std::move(h_opts));
  h.start();
  ASSERT_TRUE(wait_until_committed(b, "poison", "in", 60s));
  ASSERT_EQ(h.stop(), 0);

  std::vector<Message> out = read_all(b, "out"), dlq = read_all(b, "dlq");
  std::vector<std::string> good, bad;
  for (const Message& m : out) good.push_back(m.value);
  EXPECT_EQ(good, (std::vector<std::string>{cases[0].value, cases[2].value, cases[6].value,
                                            cases[10].value}));
  size_t j = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    if (!cases[i].expect) continue;
    ASSERT_LT(j, dlq.size()) << "missing dead letter for case " << i;
    const Message& d = dlq[j++];
    EXPECT_EQ(d.value, cases[i].value) << "case " << i;
    EXPECT_EQ(d.key, std::optional<std::string>("k"));
    EXPECT_EQ(d.header("sluice.error"), cases[i].expect) << "case " << i;
    EXPECT_FALSE(d.header("sluice.error.detail").empty());
    EXPECT_EQ(d.header("sluice.stage"), "source");
    EXPECT_EQ(d.header("sluice.source.topic"), "in");
    EXPECT_EQ(d.header("sluice.source.partition"), "0");
    EXPECT_EQ(d.header("sluice.source.offset"), std::to_string(i));
    EXPECT_EQ(d.header("origin"), "poison-test");
  }
  EXPECT_EQ(j, dlq.size());
  EXPECT_EQ(committed_offsets(b, "poison", "in"),
            (std::vector<int64_t>{static_cast<int64_t>(cases.size())}));
  EXPECT_EQ(h.output->probe().dead_lettered("source", code::kInvalidUtf8), 2u);
  EXPECT_EQ(h.output->probe().dead_lettered("source", code::kInvalidJson), 2u);
  EXPECT_EQ(h.output->probe().dead_lettered("source", code::kTooLarge), 1u);
}

// Hostile JSON: a record nested 70,000 arrays deep (140 KB, under
// max_record_bytes) used to overflow the decoder's stack, so the process died
// on it at every restart and nothing behind it ever came out.
TEST(KafkaPassthrough, TooDeepJsonIsDeadLetteredAndTheRecordsBehindItFlow) {
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 1);
  cluster.create_topic("out", 1);
  cluster.create_topic("dlq", 1);
  std::string deep_objects;
  for (int i = 0; i < 50000; ++i) deep_objects += R"({"a":)";
  deep_objects += "1" + std::string(50000, '}');
  const std::vector<std::string> poison = {
      R"({"text":"deep arrays","x":)" + std::string(70000, '[') + std::string(70000, ']') + "}",
      R"({"text":"deep objects","x":)" + deep_objects + "}",
  };
  std::vector<std::string> input = poison;
  std::vector<std::string> good;
  for (int i = 0; i < 10; ++i) {
    // Numbers outside double range do not spoil a record whose text is fine.
    good.push_back(R"({"text":"good )" + std::to_string(i) + R"(","n":1e400,"big":)" +
                   std::string(40, '9') + "}");
    input.push_back(good.back());
  }
  produce(b, "in", values(input));

  InputFormatOptions format;
  format.format = InputFormat::kJson;
  auto h_opts = options(b, "in", "out", "dlq", "deep");
  h_opts.format = format;
  Harness h(std::move(h_opts));
  h.start();
  ASSERT_TRUE(wait_until_committed(b, "deep", "in", 60s));
  ASSERT_EQ(h.stop(), 0) << h.pipeline->failure();

  std::vector<std::string> out;
  for (const Message& m : read_all(b, "out")) out.push_back(m.value);
  EXPECT_EQ(out, good);
  std::vector<Message> dlq = read_all(b, "dlq");
  ASSERT_EQ(dlq.size(), poison.size());
  for (size_t i = 0; i < poison.size(); ++i) {
    EXPECT_EQ(dlq[i].value, poison[i]);
    EXPECT_EQ(dlq[i].header("sluice.error"), code::kTooDeep);
    EXPECT_EQ(dlq[i].header("sluice.error.detail"),
              "JSON nested deeper than 1023 objects and arrays");
    EXPECT_EQ(dlq[i].header("sluice.source.offset"), std::to_string(i));
  }
  EXPECT_EQ(committed_offsets(b, "deep", "in"),
            (std::vector<int64_t>{static_cast<int64_t>(input.size())}));
  EXPECT_EQ(h.output->probe().dead_lettered("source", code::kTooDeep), 2u);
}

TEST(KafkaPassthrough, GracefulStopCommitsWhatItDeliveredAndRestartDoesNotRedeliver) {
  constexpr int kRecords = 60000;
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 4);
  cluster.create_topic("out", 4);
  std::vector<std::string> vs;
  for (int i = 0; i < kRecords; ++i) vs.push_back(record_value(i));
  produce(b, "in", values(vs));

  {
    auto gate = std::make_unique<Gate>();
    gate->delay_us.store(40);  // slow enough to stop it mid-stream
    auto first_opts = options(b, "in", "out", "", "g");
    first_opts.middle = std::move(gate);
    Harness first(std::move(first_opts));
    first.start();
    ASSERT_TRUE(wait_for_records(b, "out", 5000, 60s));
    ASSERT_EQ(first.stop(), 0) << first.pipeline->failure();
  }
  int64_t delivered = total_records(b, "out");
  std::vector<int64_t> committed = committed_offsets(b, "g", "in");
  int64_t committed_total = 0;
  for (int64_t c : committed) committed_total += std::max<int64_t>(c, 0);
  ASSERT_LT(delivered, kRecords) << "stopped too late to test a restart";
  // Drained: everything consumed was delivered, and exactly that is committed.
  EXPECT_EQ(committed_total, delivered);

  auto second_opts = options(b, "in", "out", "", "g");
  Harness second(std::move(second_opts));
  second.start();
  ASSERT_TRUE(wait_until_committed(b, "g", "in", 60s));
  ASSERT_EQ(second.stop(), 0);
  std::vector<Message> out = read_all(b, "out");
  EXPECT_EQ(out.size(), static_cast<size_t>(kRecords));  // no duplicates
  EXPECT_EQ(count_values(out), count_values(values(vs)));
}

TEST(KafkaPassthrough, FailedDeliveryStopsThePipelineAndLeavesTheRecordUncommitted) {
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 1);
  cluster.create_topic("out", 1);
  std::vector<std::string> vs;
  for (int i = 0; i < 1000; ++i) vs.push_back(record_value(i));
  produce(b, "in", values(vs));
  // Every produce request is refused with a non-retriable error, for longer
  // than kafka.refusal_timeout (a brief refusal is retried: faults_test).
  cluster.push_request_errors(
      api_key::kProduce,
      std::vector<rd_kafka_resp_err_t>(100000, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
  {
    auto h_opts = options(b, "in", "out", "", "fail");
    h_opts.refusal_timeout = 2s;
    Harness h(std::move(h_opts));
    h.start();
    ASSERT_TRUE(h.pipeline->wait_for(60s)) << "the pipeline did not stop";
    EXPECT_EQ(h.pipeline->wait(), 1);
    EXPECT_NE(h.pipeline->failure().find("TOPIC_AUTHORIZATION_FAILED"), std::string::npos)
        << h.pipeline->failure();
  }
  std::vector<int64_t> committed = committed_offsets(b, "fail", "in");
  EXPECT_LT(committed[0], 1000) << "undelivered records were committed";

  // Once the broker accepts again, a restart delivers everything.
  cluster.clear_request_errors(api_key::kProduce);
  auto again_opts = options(b, "in", "out", "", "fail");
  Harness again(std::move(again_opts));
  again.start();
  ASSERT_TRUE(wait_until_committed(b, "fail", "in", 60s));
  ASSERT_EQ(again.stop(), 0);
  auto counts = count_values(read_all(b, "out"));
  for (const std::string& v : vs) ASSERT_TRUE(counts.count(v)) << v << " lost";
}

}  // namespace
}  // namespace sluice::kafka::testing
