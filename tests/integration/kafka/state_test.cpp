// Keyed state on real sluice processes (issue 13 §1, §4): a pipeline with
// windows (sluice_crashable: kafka_source → test_label → window_aggregate →
// kafka_sink) on the embedded broker, killed with kill -9 at random points
// several times and restarted, then left to finish with a second member
// joining the group (partitions revoked from one, restored by the other). The per-window counts
// summed over the aggregates topic must equal the number of input records
// exactly, and a window emitted more than once (closed before a crash whose
// acknowledgement the state had not yet recorded) must carry the same count
// every time: consumers deduplicate by (key, window_start, partition).
//
// The embedded broker (librdkafka 2.0.2's mock cluster) does not compact and
// does not support CreateTopics: the changelog topic is made up front, and a
// restore reads every entry ever written.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <tuple>

#include "tests/integration/kafka/kafka_test_util.h"
#include "tests/support/subprocess.h"

namespace {

using namespace std::chrono_literals;
using namespace sluice::kafka::testing;
using sluice::testing::Subprocess;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 4;
constexpr int kRecords = 40'000;
constexpr int kKeys = 12;
const std::string kGroup = "state-test";
const std::string kCrashable = std::string(SLUICE_BINARY_DIR) + "/sluice_crashable";

// 150 µs per record: a run takes several seconds, so kills land mid-stream.
constexpr const char* kPipeline = R"(name: state-test
metrics:
  listen: ${SLUICE_METRICS_LISTEN}
kafka:
  bootstrap_servers: ${SLUICE_BOOTSTRAP}
  dead_letter_topic: dlq
  # Static membership: a restart takes its partitions straight back.
  instance_id: ${SLUICE_INSTANCE_ID}
  consumer_properties:
    fetch.wait.max.ms: 10
stages:
  - name: source
    type: kafka_source
    topics: in
    group: state-test
    format: json
    text_field: text
    id_field: id
    group_field: k
    commit_interval: 300ms
    crash_loop_breaker: false
  - name: label
    type: test_label
    delay: 150us
  - name: windows
    type: window_aggregate
    window: tumbling
    size: 200ms
    allowed_lateness: 0s
    idle_timeout: 2s
    aggregates_topic: aggregates
  - name: sink
    type: kafka_sink
    topic: out
)";

using WindowId = std::tuple<std::string, int64_t, int32_t>;

struct Aggregates {
  std::map<WindowId, int64_t> windows;  // deduplicated
  int64_t emitted = 0;                  // aggregate records, duplicates included
  int64_t conflicting = 0;              // duplicates with another count
  int64_t sum() const {
    int64_t n = 0;
    for (const auto& [id, count] : windows) n += count;
    return n;
  }
};

Aggregates read_aggregates(const std::string& bootstrap) {
  Aggregates a;
  for (const Message& m : read_all(bootstrap, "aggregates")) {
    auto j = nlohmann::json::parse(m.value);
    WindowId id{j["key"].get<std::string>(), j["window_start"].get<int64_t>(),
                j["partition"].get<int32_t>()};
    const int64_t count = j["count"].get<int64_t>();
    auto [it, fresh] = a.windows.emplace(id, count);
    if (!fresh && it->second != count) ++a.conflicting;
    ++a.emitted;
  }
  return a;
}

class StateProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-state-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "pipeline.yaml") << kPipeline;
    const std::string parts = ":" + std::to_string(kPartitions);
    broker_ = std::make_unique<Subprocess>(std::vector<std::string>{
        sluice::testing::sluice_binary(), "broker", "--topic", "in" + parts, "--topic",
        "out" + parts, "--topic", "aggregates" + parts, "--topic", "dlq:1", "--topic",
        kGroup + "-windows-changelog" + parts});
    bootstrap_ = broker_->first_line(10s).value_or("");
    ASSERT_NE(bootstrap_.find("127.0.0.1:"), std::string::npos) << broker_->stderr_text();
  }
  void TearDown() override {
    if (HasFailure() && process_) std::printf("--- sluice\n%s\n", log_.c_str());
    process_.reset();
    second_.reset();
    broker_.reset();
    fs::remove_all(dir_);
  }

  std::unique_ptr<Subprocess> member(const std::string& instance) {
    return std::make_unique<Subprocess>(
        std::vector<std::string>{kCrashable, "run", (dir_ / "pipeline.yaml").string()},
        std::map<std::string, std::string>{
            {"SLUICE_BOOTSTRAP", bootstrap_},
            {"SLUICE_INSTANCE_ID", instance},
            {"SLUICE_METRICS_LISTEN",
             "127.0.0.1:" + std::to_string(sluice::testing::free_port())}});
  }
  void start() { process_ = member("state-test-a"); }
  void keep_log() {
    if (process_) log_ += process_->stderr_text();
    if (second_) log_ += "--- second member\n" + second_->stderr_text();
  }

  fs::path dir_;
  std::unique_ptr<Subprocess> broker_;
  std::unique_ptr<Subprocess> process_;
  std::unique_ptr<Subprocess> second_;
  std::string bootstrap_;
  std::string log_;
};

TEST_F(StateProcessTest, WindowCountsSumToTheInputExactlyOverKillNineRestarts) {
  std::vector<Message> in;
  in.reserve(kRecords);
  for (int i = 0; i < kRecords; ++i) {
    Message m;
    m.key = "id-" + std::to_string(i);
    m.value = R"({"id":"id-)" + std::to_string(i) + R"(","k":"key)" + std::to_string(i % kKeys) +
              R"(","text":"t"})";
    in.push_back(std::move(m));
  }
  // Loaded in 10 bursts 250 ms apart, so that event time (the records'
  // Kafka timestamps) spans a dozen 200 ms windows; the pipeline then works
  // through a backlog, its event time far behind the clock.
  const size_t burst = in.size() / 10;
  for (size_t b = 0; b < 10; ++b) {
    produce(bootstrap_, "in",
            std::vector<Message>(in.begin() + b * burst,
                                 b == 9 ? in.end() : in.begin() + (b + 1) * burst));
    std::this_thread::sleep_for(250ms);
  }

  std::mt19937 rng(static_cast<unsigned>(getpid()));
  std::uniform_int_distribution<int> after_ms(100, 1500);
  int kills = 0;
  for (int round = 0; round < 4; ++round) {
    // Killed at a random point once it works: after its state is restored
    // and results flow again.
    const int64_t before = total_records(bootstrap_, "out");
    start();
    const auto until = Clock::now() + 60s;
    while (Clock::now() < until && total_records(bootstrap_, "out") <= before + 500)
      std::this_thread::sleep_for(50ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(after_ms(rng)));
    if (!process_->running()) break;
    process_->signal(SIGKILL);
    ASSERT_EQ(process_->wait(10s), 128 + SIGKILL);
    keep_log();
    ++kills;
  }
  ASSERT_GE(kills, 3) << "the run ended before it could be killed three times";

  // Then let it finish: every window closes (the last ones when the input
  // has been idle for idle_timeout). Nothing is late: event time is
  // monotonic within each partition. A second member joins: the first
  // gives up partitions (their state dropped), the second restores them.
  start();
  second_ = member("state-test-b");
  Aggregates a;
  const auto deadline = Clock::now() + 180s;
  while (Clock::now() < deadline) {
    a = read_aggregates(bootstrap_);
    if (a.sum() >= kRecords) break;
    std::this_thread::sleep_for(500ms);
  }
  std::this_thread::sleep_for(3s);  // anything emitted late would show now
  a = read_aggregates(bootstrap_);
  process_->signal(SIGTERM);
  second_->signal(SIGTERM);
  EXPECT_EQ(process_->wait(30s), 0);
  EXPECT_EQ(second_->wait(30s), 0);
  keep_log();

  std::printf(
      "[ state ] %d records, %d kill -9, then a second member: %zu windows, %lld aggregate records "
      "(%lld re-emitted "
      "after a crash, same counts)\n",
      kRecords, kills, a.windows.size(), static_cast<long long>(a.emitted),
      static_cast<long long>(a.emitted - static_cast<int64_t>(a.windows.size())));
  EXPECT_EQ(a.conflicting, 0) << "a window was emitted twice with different counts";
  EXPECT_EQ(a.sum(), kRecords);
  EXPECT_GT(a.windows.size(), static_cast<size_t>(kKeys * kPartitions));  // several windows each
  // Every input record has its result as well (at-least-once).
  EXPECT_GE(count_values(read_all(bootstrap_, "out")).size(), static_cast<size_t>(kRecords));
}

}  // namespace
