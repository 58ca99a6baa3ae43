// sluice scaled out: three `sluice run pipelines/passthrough.yaml` processes
// in one consumer group on the embedded broker (`sluice broker`), input
// arriving at a steady rate. One member is killed with kill -9 and a new one
// joins later. Nothing may be lost; duplicates are counted exactly and must
// stay within what was uncommitted at the kill plus what was in flight when
// partitions moved; the time until the dead member's partitions make
// progress again (failover) is measured and printed.
//
// The embedded broker is librdkafka's mock cluster: it notices a dead member
// within session.timeout.ms, like Apache Kafka, but then waits
// session.timeout.ms - 1 s for the survivors to rejoin where Apache Kafka
// proceeds as soon as they have. Failover seconds measured here are
// therefore about 5 s longer than on a real broker (README, "Scaling out").
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "tests/integration/kafka/kafka_test_util.h"
#include "tests/support/subprocess.h"

namespace sluice::kafka::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using sluice::testing::Subprocess;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 12;
constexpr const char* kGroup = "scaled";

// Produces distinct values ("g-<n>") at a steady rate on its own thread.
class PacedProducer {
 public:
  PacedProducer(const std::string& bootstrap, int per_second) {
    rd_kafka_conf_t* c = rd_kafka_conf_new();
    char err[512];
    for (const auto& [k, v] : std::initializer_list<std::pair<const char*, std::string>>{
             {"bootstrap.servers", bootstrap},
             {"linger.ms", "5"},
             {"sticky.partitioning.linger.ms", "0"},
             {"log_level", "3"}}) {
      if (rd_kafka_conf_set(c, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
        throw std::runtime_error(err);
    }
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk_) throw std::runtime_error(err);
    thread_ = std::thread([this, per_second] {
      const auto start = Clock::now();
      while (!stop_.load()) {
        const auto due = static_cast<int64_t>(
            std::chrono::duration<double>(Clock::now() - start).count() * per_second);
        while (sent_ < due) {
          const std::string v = "g-" + std::to_string(sent_);
          if (rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC("in"),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_VALUE(const_cast<char*>(v.data()), v.size()),
                                RD_KAFKA_V_END) != RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
          ++sent_;
        }
        rd_kafka_poll(rk_, 10);
      }
    });
  }
  ~PacedProducer() {
    stop();
    rd_kafka_destroy(rk_);
  }
  // Stops producing and waits until every record is in the topic; returns how many.
  int64_t stop() {
    if (!stop_.exchange(true)) {
      thread_.join();
      if (rd_kafka_flush(rk_, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw std::runtime_error("paced producer: records not delivered");
    }
    return sent_;
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  int64_t sent_ = 0;
};

// A counter's sum over its series, from a member's /metrics.
double metric_sum(int port, const std::string& name) {
  auto [status, body] = sluice::testing::http_get("127.0.0.1", port, "/metrics");
  double sum = 0;
  size_t at = 0;
  while ((at = body.find("\n" + name, at)) != std::string::npos) {
    at += 1;
    const size_t end = body.find('\n', at);
    const std::string line = body.substr(at, end - at);
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next == '{' || next == ' ') sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

int64_t sum_of(const std::vector<int64_t>& v) {
  int64_t n = 0;
  for (int64_t x : v) n += std::max<int64_t>(x, 0);
  return n;
}

class SluiceGroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-group-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    broker_ = std::make_unique<Subprocess>(std::vector<std::string>{
        sluice::testing::sluice_binary(), "broker", "--topic", "in:" + std::to_string(kPartitions),
        "--topic", "out:" + std::to_string(kPartitions), "--topic", "dlq:1"});
    bootstrap_ = broker_->first_line(10s).value_or("");
    ASSERT_NE(bootstrap_.find("127.0.0.1:"), std::string::npos) << broker_->stderr_text();
  }
  void TearDown() override {
    if (HasFailure()) {
      for (auto& [name, m] : members_)
        std::printf("--- member %s\n%s\n", name.c_str(), m.process->stderr_text().c_str());
    }
    members_.clear();
    broker_.reset();
    fs::remove_all(dir_);
  }

  struct Member {
    std::unique_ptr<Subprocess> process;
    int port = 0;
  };

  // A member with static membership (SLUICE_INSTANCE_ID), as a StatefulSet pod.
  Member& start(const std::string& name) {
    Member& m = members_[name];
    m.port = sluice::testing::free_port();
    m.process = std::make_unique<Subprocess>(
        std::vector<std::string>{sluice::testing::sluice_binary(), "run",
                                 std::string(SLUICE_SOURCE_DIR) + "/pipelines/passthrough.yaml"},
        std::map<std::string, std::string>{
            {"SLUICE_BOOTSTRAP", bootstrap_},
            {"SLUICE_INPUT_TOPIC", "in"},
            {"SLUICE_OUTPUT_TOPIC", "out"},
            {"SLUICE_DLQ_TOPIC", "dlq"},
            {"SLUICE_GROUP", kGroup},
            {"SLUICE_INSTANCE_ID", name},
            {"SLUICE_METRICS_LISTEN", "127.0.0.1:" + std::to_string(m.port)},
            {"SLUICE_COMMIT_INTERVAL", "250ms"},
            {"SLUICE_SHUTDOWN_TIMEOUT", "20s"},
            {"SLUICE_CRASH_MARKS_DIR", (dir_ / "marks").string()}});
    return m;
  }

  // Waits until every partition's committed offset has passed `from`;
  // returns when, or nullopt after `timeout`.
  std::optional<Clock::time_point> all_progress_past(const std::vector<int64_t>& from,
                                                     std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      const auto now = Clock::now();
      const std::vector<int64_t> c = committed_offsets(bootstrap_, kGroup, "in");
      bool all = true;
      for (size_t p = 0; p < c.size(); ++p) all = all && c[p] > from[p];
      if (all) return now;
      std::this_thread::sleep_for(200ms);
    }
    return std::nullopt;
  }

  fs::path dir_;
  std::unique_ptr<Subprocess> broker_;
  std::string bootstrap_;
  std::map<std::string, Member> members_;
};

TEST_F(SluiceGroupTest, MemberKilledAndMemberJoiningLoseNothingAndRereadLittle) {
  PacedProducer input(bootstrap_, 8000);
  start("a");
  start("b");
  start("c");
  // Settled: every partition committed by someone, and moving.
  std::vector<int64_t> none(kPartitions, -1);
  ASSERT_TRUE(all_progress_past(none, 60s)) << "the group never settled";
  std::this_thread::sleep_for(8s);  // the mock's later join rounds are over
  ASSERT_TRUE(all_progress_past(committed_offsets(bootstrap_, kGroup, "in"), 30s));

  // kill -9 c. What c can re-deliver is at most what was uncommitted then.
  members_["c"].process->signal(SIGKILL);
  const auto killed = Clock::now();
  ASSERT_EQ(members_["c"].process->wait(10s), 128 + SIGKILL);
  const std::vector<int64_t> at_kill = committed_offsets(bootstrap_, kGroup, "in");
  const int64_t uncommitted_at_kill = sum_of(end_offsets(bootstrap_, "in")) - sum_of(at_kill);
  const auto moved = all_progress_past(at_kill, 60s);
  ASSERT_TRUE(moved) << "the dead member's partitions never moved";
  const double failover_s = std::chrono::duration<double>(*moved - killed).count();

  // d joins: partitions move again, incrementally.
  start("d");
  std::this_thread::sleep_for(12s);
  const int64_t produced = input.stop();
  ASSERT_TRUE(wait_until_committed(bootstrap_, kGroup, "in", 120s));

  // What a revocation left for the next owner: the records in flight, and
  // those its final commit did not cover. That commit succeeds on Apache
  // Kafka; the embedded broker refuses it with REBALANCE_IN_PROGRESS when a
  // later join round has begun (seen once on a fresh machine: 7,547
  // duplicates against 3,376 uncommitted at the kill and 0 in flight).
  double in_flight_at_moves = 0, uncommitted_at_moves = 0;
  for (const char* name : {"a", "b", "d"}) {
    in_flight_at_moves +=
        metric_sum(members_[name].port, "sluice_source_rebalance_in_flight_records_total");
    uncommitted_at_moves +=
        metric_sum(members_[name].port, "sluice_source_rebalance_uncommitted_records_total");
  }
  for (const char* name : {"a", "b", "d"}) members_[name].process->signal(SIGTERM);
  for (const char* name : {"a", "b", "d"}) EXPECT_EQ(members_[name].process->wait(30s), 0) << name;

  auto counts = count_values(read_all(bootstrap_, "out"));
  int64_t duplicates = 0;
  for (int64_t i = 0; i < produced; ++i) {
    auto it = counts.find("g-" + std::to_string(i));
    ASSERT_TRUE(it != counts.end()) << "g-" << i << " lost";
    duplicates += it->second - 1;
  }
  EXPECT_EQ(static_cast<int64_t>(counts.size()), produced);
  std::printf(
      "[ group ] %lld records, 3 members, c killed, d joined: failover %.1f s (embedded broker), "
      "%lld delivered twice (uncommitted at the kill: %lld; in flight when partitions moved: "
      "%.0f, uncommitted then: %.0f)\n",
      static_cast<long long>(produced), failover_s, static_cast<long long>(duplicates),
      static_cast<long long>(uncommitted_at_kill), in_flight_at_moves, uncommitted_at_moves);
  EXPECT_LE(duplicates, uncommitted_at_kill + static_cast<int64_t>(in_flight_at_moves) +
                            static_cast<int64_t>(uncommitted_at_moves));
  // The failover time is a measurement (printed above; README and
  // bench/kafka for the figures), not a pass mark on a shared machine: about
  // session.timeout.ms (6 s) + the mock's join wait (5 s) + a commit. What is
  // asserted is that the group did not wait out librdkafka's default session
  // timeout (45 s; the 47 s stall this test was written against).
  EXPECT_LT(failover_s, 45.0)
      << "the dead member was only noticed after librdkafka's default session timeout";
}

}  // namespace
}  // namespace sluice::kafka::testing
