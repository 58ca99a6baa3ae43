// Two instances in one consumer group, one joining and one leaving in the
// middle of a stream (incremental cooperative rebalancing by default): every
// record is delivered at least once; duplicates are reported.
#include <gtest/gtest.h>

#include <cstdio>

#include "src/kafka/mock_cluster.h"
#include "tests/integration/kafka/kafka_test_util.h"

namespace sluice::kafka::testing {
namespace {

using namespace std::chrono_literals;

std::string record_value(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "rec-%07d-", i);
  return buf;
}

TEST(KafkaRebalance, InstanceJoiningAndLeavingLosesNothing) {
  constexpr int kRecords = 100000;
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 8);
  cluster.create_topic("out", 8);
  std::vector<std::string> vs;
  for (int i = 0; i < kRecords; ++i) vs.push_back(record_value(i));
  produce(b, "in", values(vs));

  auto slow = [] {
    auto g = std::make_unique<Gate>();
    g->delay_us.store(20);
    return g;
  };
  auto a_opts = options(b, "in", "out", "", "shared");
  a_opts.middle = slow();
  auto a = std::make_unique<Harness>(std::move(a_opts));
  a->start();
  ASSERT_TRUE(wait_for_records(b, "out", 10000, 60s));
  auto second_opts = options(b, "in", "out", "", "shared");
  second_opts.middle = slow();
  Harness second(std::move(second_opts));
  second.start();  // the group rebalances: a gives up some of its partitions
  ASSERT_TRUE(wait_for_records(b, "out", 50000, 60s));
  ASSERT_EQ(a->stop(), 0);  // revocation: second takes over everything
  a.reset();
  ASSERT_TRUE(wait_until_committed(b, "shared", "in", 120s));
  ASSERT_EQ(second.stop(), 0);

  auto counts = count_values(read_all(b, "out"));
  int duplicates = 0;
  for (const std::string& v : vs) {
    auto it = counts.find(v);
    ASSERT_TRUE(it != counts.end()) << v << " lost";
    duplicates += it->second - 1;
  }
  std::printf("[ rebalance ] %d of %d records delivered twice\n", duplicates, kRecords);
}

}  // namespace
}  // namespace sluice::kafka::testing
