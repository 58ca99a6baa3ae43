// exactly_once's transaction state machine and its error paths, on the
// embedded broker with injected errors: commits every interval, an abortable
// error aborts and rewinds to the last committed offsets, retriable errors are
// retried, a fenced producer fails the pipeline, a revocation commits the open
// transaction and a lost assignment aborts it.
//
// The embedded broker (librdkafka 2.0.2's mock cluster) writes no commit or
// abort markers, does not filter read_committed, drops the offsets sent in a
// transaction and does not fence. So these tests read aborted outputs too
// (and count them exactly), and a partition that changes hands is read again
// from its start. They verify the state machine, not exactly-once delivery:
// that needs a real broker (README, "Exactly-once").
#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "src/kafka/mock_cluster.h"
#include "tests/integration/kafka/kafka_test_util.h"

namespace sluice::kafka::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kRecords = 30000;
constexpr int16_t kAddOffsetsToTxn = 25;
constexpr int16_t kEndTxn = 26;

std::vector<std::string> load(const std::string& bootstrap) {
  std::vector<std::string> vs;
  for (int i = 0; i < kRecords; ++i) vs.push_back("txn-" + std::to_string(i));
  produce(bootstrap, "in", values(vs));
  return vs;
}

HarnessOptions transactional(const std::string& bootstrap, const std::string& group) {
  HarnessOptions o = options(bootstrap, "in", "out", "", group);
  o.transactional_id = "sluice-test-" + group;
  o.transaction_interval = 200ms;
  auto gate = std::make_unique<Gate>();
  gate->delay_us.store(100);  // ~3 s of streaming: faults land mid-stream
  o.middle = std::move(gate);
  return o;
}

const TransactionProbe& transactions(const Harness& h) { return h.output->transactions()->probe(); }

// Waits until committed transactions carried `n` input records.
bool wait_committed_records(const Harness& h, uint64_t n, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (h.output->transactions() && transactions(h).committed_records() >= n) return true;
    if (!h.pipeline->running()) return false;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// Output copies per input value; every input must be there.
std::map<std::string, int> outputs(const std::string& bootstrap,
                                   const std::vector<std::string>& inputs) {
  auto counts = count_values(read_all(bootstrap, "out"));
  for (const std::string& v : inputs) EXPECT_TRUE(counts.count(v)) << v << " lost";
  EXPECT_EQ(counts.size(), inputs.size());
  return counts;
}

int64_t total(const std::map<std::string, int>& counts) {
  int64_t n = 0;
  for (const auto& [v, c] : counts) n += c;
  return n;
}

struct Broker {
  MockCluster cluster{1};
  std::string b = cluster.bootstrap_servers();
  Broker() {
    cluster.create_topic("in", 4);
    cluster.create_topic("out", 4);
  }
};

TEST(KafkaTransactions, CommitOutputsWithTheirInputOffsetsEveryInterval) {
  Broker k;
  const auto vs = load(k.b);
  Harness h(transactional(k.b, "txn"));
  h.start();
  ASSERT_TRUE(wait_committed_records(h, kRecords, 60s)) << h.pipeline->failure();
  ASSERT_EQ(h.stop(), 0) << h.pipeline->failure();
  const TransactionProbe& t = transactions(h);
  std::printf("[ transactions ] %llu committed, %llu records\n",
              static_cast<unsigned long long>(t.committed()),
              static_cast<unsigned long long>(t.committed_records()));
  EXPECT_EQ(t.committed_records(), static_cast<uint64_t>(kRecords));
  EXPECT_GE(t.committed(), 3u);  // ~3 s of streaming, a commit every 200 ms
  EXPECT_EQ(t.aborted(), 0u);
  EXPECT_EQ(total(outputs(k.b, vs)), kRecords);
}

// An abortable error (the group refuses the offsets) aborts the transaction;
// every partition rewinds to the offsets of the last committed transaction, so
// exactly the aborted transaction's records are processed again, and each
// input offset is carried by exactly one committed transaction.
TEST(KafkaTransactions, AbortableErrorAbortsAndRewindsToTheLastCommittedOffsets) {
  Broker k;
  const auto vs = load(k.b);
  Harness h(transactional(k.b, "txn"));
  h.start();
  ASSERT_TRUE(wait_for_records(k.b, "out", kRecords / 5, 60s));
  k.cluster.push_request_errors(kAddOffsetsToTxn, {RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED});
  ASSERT_TRUE(wait_committed_records(h, kRecords, 60s)) << h.pipeline->failure();
  ASSERT_EQ(h.stop(), 0) << h.pipeline->failure();
  const TransactionProbe& t = transactions(h);
  std::printf("[ transactions ] %llu committed, %llu aborted (%llu records read again)\n",
              static_cast<unsigned long long>(t.committed()),
              static_cast<unsigned long long>(t.aborted()),
              static_cast<unsigned long long>(t.aborted_records()));
  EXPECT_EQ(t.aborted(), 1u);
  EXPECT_GT(t.aborted_records(), 0u);
  // Each input offset in exactly one committed transaction: a rewind short of
  // the last committed offsets would carry records twice, one past them
  // would never carry some.
  EXPECT_EQ(t.committed_records(), static_cast<uint64_t>(kRecords));
  // The embedded broker keeps the aborted outputs that reached it readable
  // (the abort purges those still queued in the producer): each input comes
  // out once, plus at most once more if it was in the aborted transaction.
  const auto counts = outputs(k.b, vs);
  EXPECT_LE(total(counts), kRecords + static_cast<int64_t>(t.aborted_records()));
  for (const auto& [v, c] : counts) EXPECT_LE(c, 2) << v;
}

TEST(KafkaTransactions, RetriableEndTxnErrorsAreRetriedWithoutAbort) {
  Broker k;
  const auto vs = load(k.b);
  Harness h(transactional(k.b, "txn"));
  h.start();
  ASSERT_TRUE(wait_for_records(k.b, "out", kRecords / 5, 60s));
  k.cluster.push_request_errors(
      kEndTxn, {RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS});
  ASSERT_TRUE(wait_committed_records(h, kRecords, 60s)) << h.pipeline->failure();
  ASSERT_EQ(h.stop(), 0) << h.pipeline->failure();
  EXPECT_EQ(transactions(h).aborted(), 0u);
  EXPECT_EQ(total(outputs(k.b, vs)), kRecords);
}

// Fenced (another producer took this transactional.id): fatal, the pipeline
// fails so that the process exits non-zero and is restarted.
TEST(KafkaTransactions, FencedProducerFailsThePipeline) {
  Broker k;
  load(k.b);
  Harness h(transactional(k.b, "txn"));
  h.start();
  ASSERT_TRUE(wait_for_records(k.b, "out", kRecords / 5, 60s));
  k.cluster.push_request_errors(kEndTxn, {RD_KAFKA_RESP_ERR_PRODUCER_FENCED});
  ASSERT_TRUE(h.pipeline->wait_for(60s)) << "still running after being fenced";
  EXPECT_NE(h.pipeline->wait(), 0);
  EXPECT_NE(h.pipeline->failure().find("FENCED"), std::string::npos) << h.pipeline->failure();
}

// A member joining takes partitions away: the open transaction is committed
// with them (in the revocation) rather than aborted.
TEST(KafkaTransactions, RevocationCommitsTheOpenTransaction) {
  Broker k;
  const auto vs = load(k.b);
  Harness a(transactional(k.b, "txn"));
  a.start();
  ASSERT_TRUE(wait_for_records(k.b, "out", kRecords / 5, 60s));
  HarnessOptions second = transactional(k.b, "txn");
  second.transactional_id += "-2";
  Harness b(std::move(second));
  b.start();
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (a.source->probe().partitions_revoked() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  ASSERT_GT(a.source->probe().partitions_revoked(), 0u) << "no partition moved";
  ASSERT_TRUE(wait_for_distinct(k.b, "out", kRecords, 90s));
  ASSERT_EQ(a.stop(), 0) << a.pipeline->failure();
  ASSERT_EQ(b.stop(), 0) << b.pipeline->failure();
  EXPECT_EQ(transactions(a).aborted(), 0u);
  EXPECT_EQ(transactions(b).aborted(), 0u);
  outputs(k.b, vs);  // nothing lost (the new owner reads from the start: see the top)
}

// A lost assignment allows no offsets for those partitions: the open
// transaction is aborted.
TEST(KafkaTransactions, LostAssignmentAbortsTheOpenTransaction) {
  Broker k;
  const auto vs = load(k.b);
  Harness h(transactional(k.b, "txn"));
  h.start();
  ASSERT_TRUE(wait_for_records(k.b, "out", kRecords / 5, 60s));
  k.cluster.push_request_errors(api_key::kHeartbeat, {RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION});
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (transactions(h).aborted() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  EXPECT_GT(h.source->probe().partitions_lost(), 0u);
  EXPECT_EQ(transactions(h).aborted(), 1u);
  ASSERT_TRUE(wait_for_distinct(k.b, "out", kRecords, 90s));
  ASSERT_EQ(h.stop(), 0) << h.pipeline->failure();
  outputs(k.b, vs);
}

}  // namespace
}  // namespace sluice::kafka::testing
