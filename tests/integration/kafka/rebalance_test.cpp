// Group rebalances in the middle of a stream (embedded broker, incremental
// cooperative rebalancing by default): members joining and leaving, injected
// heartbeat and commit errors, a lost assignment. Every record is delivered
// at least once, and a rebalance re-reads at most what was handed on and not
// committed when partitions moved (counted by the source; duplicates are
// counted exactly: every input value is distinct).
#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

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

std::vector<std::string> load(const std::string& bootstrap, int n) {
  std::vector<std::string> vs;
  for (int i = 0; i < n; ++i) vs.push_back(record_value(i));
  produce(bootstrap, "in", values(vs));
  return vs;
}

HarnessOptions member(const std::string& bootstrap, int delay_us, Gate** gate_out = nullptr) {
  HarnessOptions o = options(bootstrap, "in", "out", "", "shared");
  auto gate = std::make_unique<Gate>();
  gate->delay_us.store(delay_us);
  if (gate_out) *gate_out = gate.get();
  o.middle = std::move(gate);
  o.high_watermark = 2000;
  o.low_watermark = 1000;
  o.commit_records = 1000;
  return o;
}

// Every input in the output; returns how many outputs are extra copies.
int64_t duplicates(const std::string& bootstrap, const std::vector<std::string>& inputs) {
  auto counts = count_values(read_all(bootstrap, "out"));
  int64_t extra = 0;
  for (const std::string& v : inputs) {
    auto it = counts.find(v);
    EXPECT_TRUE(it != counts.end()) << v << " lost";
    if (it != counts.end()) extra += it->second - 1;
  }
  EXPECT_EQ(counts.size(), inputs.size());
  return extra;
}

struct Rebalances {
  uint64_t revoked = 0, lost = 0, in_flight = 0, uncommitted = 0;
  void add(const Harness& h) {
    revoked += h.source->probe().partitions_revoked();
    lost += h.source->probe().partitions_lost();
    in_flight += h.source->probe().rebalance_in_flight();
    uncommitted += h.source->probe().rebalance_uncommitted();
  }
};

void report(const char* name, int64_t dup, int records, const Rebalances& r) {
  std::printf(
      "[ %s ] %lld of %d records delivered twice; partitions revoked %llu, lost %llu; records in "
      "flight when they moved %llu, uncommitted %llu\n",
      name, static_cast<long long>(dup), records, static_cast<unsigned long long>(r.revoked),
      static_cast<unsigned long long>(r.lost), static_cast<unsigned long long>(r.in_flight),
      static_cast<unsigned long long>(r.uncommitted));
}

TEST(KafkaRebalance, InstanceJoiningAndLeavingRereadsOnlyWhatWasInFlight) {
  constexpr int kRecords = 100000;
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 8);
  cluster.create_topic("out", 8);
  const auto vs = load(b, kRecords);

  Gate* a_gate = nullptr;
  auto a = std::make_unique<Harness>(member(b, 20, &a_gate));
  a->start();
  ASSERT_TRUE(wait_for_records(b, "out", 10000, 60s));
  // a leaves only once the join has completed (second reads its share).
  // While the embedded broker holds a cooperative rebalance open (two 5 s
  // join waits, about 10 s) it refuses every commit with
  // REBALANCE_IN_PROGRESS; Apache Kafka accepts commits of the current
  // generation then. A leave inside that window left a's whole backlog since
  // the join uncommitted (41,057 of 100,000 re-read in one CI run): a mock
  // artefact, not the behaviour under test. a is slowed meanwhile (at most
  // about 3,000 records/s) so the join completes long before the input ends.
  a_gate->delay_us.store(300);
  Harness second(member(b, 20));
  second.start();  // the group rebalances: a gives up some of its partitions
  const auto joined_by = std::chrono::steady_clock::now() + 60s;
  while (second.source->probe().consumed_total() == 0 &&
         std::chrono::steady_clock::now() < joined_by)
    std::this_thread::sleep_for(20ms);
  ASSERT_GT(second.source->probe().consumed_total(), 0u) << "the joining member got nothing";
  a_gate->delay_us.store(20);
  const int64_t seen = total_records(b, "out");
  std::printf("[ join and leave ] joined after %lld outputs\n", static_cast<long long>(seen));
  ASSERT_TRUE(wait_for_records(b, "out", seen + 10000, 60s));
  ASSERT_EQ(a->stop(), 0);  // revocation: second takes over everything
  Rebalances r;
  r.add(*a);
  a.reset();
  ASSERT_TRUE(wait_until_committed(b, "shared", "in", 120s));
  ASSERT_EQ(second.stop(), 0);
  r.add(second);

  const int64_t dup = duplicates(b, vs);
  report("join and leave", dup, kRecords, r);
  EXPECT_GT(r.revoked, 0u);
  EXPECT_EQ(r.lost, 0u) << "a commit raced a rejoin and librdkafka dropped the assignment";
  // A revocation commits synchronously, so what the next owner reads again
  // is what was in flight. `uncommitted` counts what a revocation's commit
  // left behind, which is 0 when the commit succeeds; the embedded broker
  // sometimes refuses it (ILLEGAL_GENERATION, answered after its 5 s join
  // wait, when the joining member's next round has begun: Apache Kafka
  // accepts a commit of the current generation while the group prepares a
  // rebalance), and then those records are read again too: seen once in 3
  // runs on a fresh machine.
  EXPECT_LE(static_cast<uint64_t>(dup), r.in_flight + r.uncommitted);
  EXPECT_LT(dup, kRecords / 5) << "a rebalance re-read a large share of the run";
}

// Injected heartbeat errors make every member rejoin while records stream
// and commits are due: no commit may go out with a changing generation (the
// broker refuses it and librdkafka 2.0.2 then drops the whole assignment,
// which re-read 43-85 % of a run).
TEST(KafkaRebalance, HeartbeatErrorsRereadOnlyWhatWasInFlight) {
  constexpr int kRecords = 100000;
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 8);
  cluster.create_topic("out", 8);
  const auto vs = load(b, kRecords);

  Harness a(member(b, 40)), c(member(b, 40));
  a.start();
  c.start();
  ASSERT_TRUE(wait_for_records(b, "out", 15000, 60s));
  for (int round = 0; round < 2; ++round) {
    cluster.push_request_errors(api_key::kHeartbeat, {RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS});
    ASSERT_TRUE(wait_for_records(b, "out", total_records(b, "out") + 15000, 60s));
  }
  ASSERT_TRUE(wait_until_committed(b, "shared", "in", 120s));
  ASSERT_EQ(a.stop(), 0);
  ASSERT_EQ(c.stop(), 0);
  Rebalances r;
  r.add(a);
  r.add(c);

  const int64_t dup = duplicates(b, vs);
  report("heartbeat errors", dup, kRecords, r);
  EXPECT_EQ(r.lost, 0u) << "a commit raced a rejoin and librdkafka dropped the assignment";
  EXPECT_LE(static_cast<uint64_t>(dup), r.in_flight);
}

// A lost assignment (here: the group answers a heartbeat with
// ILLEGAL_GENERATION) allows no commit. When the partitions come back to the
// same member, it resumes after what it had delivered, not at the stale
// committed offset: only records in flight at the loss are read again.
TEST(KafkaRebalance, LostAssignmentRereadsOnlyWhatWasInFlight) {
  constexpr int kRecords = 60000;
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 4);
  cluster.create_topic("out", 4);
  const auto vs = load(b, kRecords);

  HarnessOptions o = member(b, 40);
  o.commit_interval = 3600s;  // nothing committed before the loss
  o.commit_records = 0;
  Harness h(std::move(o));
  h.start();
  ASSERT_TRUE(wait_for_records(b, "out", 20000, 60s));
  cluster.push_request_errors(api_key::kHeartbeat, {RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION});
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (h.source->probe().partitions_lost() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_GT(h.source->probe().partitions_lost(), 0u) << "the injected error lost nothing";
  ASSERT_TRUE(wait_for_distinct(b, "out", kRecords, 120s));
  ASSERT_EQ(h.stop(), 0);
  Rebalances r;
  r.add(h);

  const int64_t dup = duplicates(b, vs);
  report("lost assignment", dup, kRecords, r);
  // In flight at the loss: at most high_watermark plus one read burst.
  EXPECT_LE(dup, 2000 + 256);
}

// A commit refused during a rebalance used to hold every commit for 10 s;
// the refusal is retried with the next commit instead.
TEST(KafkaRebalance, RefusedCommitsDoNotHoldLaterCommits) {
  constexpr int kRecords = 60000;
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 4);
  cluster.create_topic("out", 4);
  const auto vs = load(b, kRecords);

  Harness h(member(b, 100));  // ~6 s of streaming
  h.start();
  ASSERT_TRUE(wait_for_records(b, "out", 5000, 60s));
  // Two refusals of the kind a rebalance gives. Not COORDINATOR_NOT_AVAILABLE:
  // librdkafka 2.0.2 then drops its coordinator and, on a loaded machine,
  // sometimes found it again only after the 6 s session timeout, so the
  // member lost its partitions and re-read what was in flight (a fresh-machine
  // run: 1,105 records twice), which is not what this test is about.
  cluster.push_request_errors(api_key::kOffsetCommit, {RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
                                                       RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS});
  std::this_thread::sleep_for(1s);  // both refusals used up (commits every 200 ms)
  const int64_t out_then = total_records(b, "out");
  // Within a few commit intervals the group's committed offsets pass what
  // was out when the refusals had been used up.
  auto committed_total = [&] {
    int64_t n = 0;
    for (int64_t c : committed_offsets(b, "shared", "in")) n += std::max<int64_t>(c, 0);
    return n;
  };
  const auto deadline = std::chrono::steady_clock::now() + 4s;
  while (committed_total() < out_then && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  EXPECT_GE(committed_total(), out_then) << "commits held after a refused commit";
  ASSERT_TRUE(wait_until_committed(b, "shared", "in", 120s));
  ASSERT_EQ(h.stop(), 0);
  EXPECT_EQ(duplicates(b, vs), 0);
}

}  // namespace
}  // namespace sluice::kafka::testing
