// Broker faults in the middle of a stream (embedded 3-broker cluster): a
// broker down and up, failing Produce and Fetch requests, leader changes.
// The pipeline must keep going and lose nothing; duplicates are reported.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <thread>

#include "src/kafka/mock_cluster.h"
#include "tests/integration/kafka/kafka_test_util.h"

namespace sluice::kafka::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kRecords = 30000;
constexpr int kPartitions = 6;

std::vector<std::string> input_values() {
  std::vector<std::string> vs;
  for (int i = 0; i < kRecords; ++i) vs.push_back("fault-" + std::to_string(i));
  return vs;
}

// Streams kRecords through the pipeline and runs `fault` once part of them is
// out. Checks that every input record arrives and that the pipeline stays up.
void run_with_fault(const char* name, const std::function<void(MockCluster&)>& fault) {
  MockCluster cluster(3);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", kPartitions, 3);
  cluster.create_topic("out", kPartitions, 3);
  const std::vector<std::string> vs = input_values();
  produce(b, "in", values(vs));

  auto gate = std::make_unique<Gate>();
  gate->delay_us.store(100);  // ~3 s of streaming, so the fault lands mid-stream
  HarnessOptions o = options(b, "in", "out", "", "faults");
  o.middle = std::move(gate);
  Harness h(std::move(o));
  h.start();
  ASSERT_TRUE(wait_for_records(b, "out", kRecords / 5, 60s));
  fault(cluster);
  ASSERT_TRUE(wait_for_records(b, "out", kRecords, 120s)) << "stalled after the fault";
  EXPECT_TRUE(h.pipeline->running()) << h.pipeline->failure();
  // Let the last commits land, then stop.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (committed_offsets(b, "faults", "in") != end_offsets(b, "in") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(300ms);
  }
  ASSERT_EQ(h.stop(), 0) << h.pipeline->failure();
  EXPECT_EQ(committed_offsets(b, "faults", "in"), end_offsets(b, "in"));

  cluster.clear_request_errors(api_key::kProduce);
  cluster.clear_request_errors(api_key::kFetch);
  auto counts = count_values(read_all(b, "out"));
  int duplicates = 0;
  for (const std::string& v : vs) {
    auto it = counts.find(v);
    ASSERT_TRUE(it != counts.end()) << v << " lost";
    duplicates += it->second - 1;
  }
  EXPECT_EQ(counts.size(), vs.size());
  std::printf("[ %s ] %d of %d records delivered twice\n", name, duplicates, kRecords);
}

TEST(KafkaFaults, BrokerDownAndUpLosesNothing) {
  run_with_fault("broker down", [](MockCluster& c) {
    c.broker_down(2);
    std::this_thread::sleep_for(3s);
    c.broker_up(2);
  });
}

TEST(KafkaFaults, ProduceAndFetchRequestErrorsLoseNothing) {
  run_with_fault("request errors", [](MockCluster& c) {
    std::vector<rd_kafka_resp_err_t> errors;
    for (int i = 0; i < 5; ++i) {
      errors.push_back(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
      errors.push_back(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
      errors.push_back(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
      errors.push_back(RD_KAFKA_RESP_ERR__TRANSPORT);
    }
    c.push_request_errors(api_key::kProduce, errors);
    c.push_request_errors(api_key::kFetch,
                          {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR__TRANSPORT,
                           RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR__TRANSPORT,
                           RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION});
  });
}

// librdkafka does not retry an authorization refusal (it deems it permanent);
// a brief one (ACLs being rolled out) used to fail the pipeline in a second.
TEST(KafkaFaults, BriefAuthorizationRefusalIsRetried) {
  run_with_fault("authorization refused", [](MockCluster& c) {
    c.push_request_errors(api_key::kProduce, std::vector<rd_kafka_resp_err_t>(
                                                 20, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
  });
}

// A refusal that lasts fails the pipeline after refusal_timeout, saying why.
TEST(KafkaFaults, LastingRefusalFailsThePipelineNamingTopicAndError) {
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 2);
  cluster.create_topic("out", 2);
  produce(b, "in", values(input_values()));
  HarnessOptions o = options(b, "in", "out", "", "refused");
  o.refusal_timeout = 2s;
  Harness h(std::move(o));
  cluster.push_request_errors(
      api_key::kProduce,
      std::vector<rd_kafka_resp_err_t>(100000, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
  const auto t0 = std::chrono::steady_clock::now();
  h.start();
  ASSERT_TRUE(h.pipeline->wait_for(60s)) << "still running under a lasting refusal";
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_NE(h.pipeline->wait(), 0);
  const std::string why = h.pipeline->failure();
  EXPECT_NE(why.find("'out' refused"), std::string::npos) << why;
  EXPECT_NE(why.find("TOPIC_AUTHORIZATION_FAILED"), std::string::npos) << why;
  EXPECT_GE(took, 2s) << "failed before refusal_timeout: " << why;
  cluster.clear_request_errors(api_key::kProduce);
  for (int64_t c : committed_offsets(b, "refused", "in")) EXPECT_LT(c, 1);
}

TEST(KafkaFaults, LeaderChangesLoseNothing) {
  run_with_fault("leader change", [](MockCluster& c) {
    for (int round = 0; round < 2; ++round) {
      for (int p = 0; p < kPartitions; ++p) {
        c.set_partition_leader("in", p, (p + round) % 3 + 1);
        c.set_partition_leader("out", p, (p + round + 1) % 3 + 1);
      }
      std::this_thread::sleep_for(500ms);
    }
  });
}

}  // namespace
}  // namespace sluice::kafka::testing
