// The crash-loop breaker (src/kafka/crash_marks.h) end to end: `sluice broker`
// in one process, and sluice_crashable (the sluice program plus the test-only
// test_crash operator, tests/support/crash_operator.h) restarted like an
// orchestrator would, each time after it died. A record that really kills a
// stage must end on the dead-letter topic (poison_crash) while every other
// record comes out; kill -9 of a healthy run must dead-letter nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "src/core/dead_letter.h"
#include "tests/integration/kafka/kafka_test_util.h"
#include "tests/support/subprocess.h"

namespace sluice::kafka::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using sluice::testing::Subprocess;

const std::string kCrashable = std::string(SLUICE_BINARY_DIR) + "/sluice_crashable";
constexpr const char* kGroup = "crashloop";

class CrashLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sluice-crashloop-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    broker_ = std::make_unique<Subprocess>(
        std::vector<std::string>{sluice::testing::sluice_binary(), "broker", "--topic", "in:1",
                                 "--topic", "out:1", "--topic", "dlq:1"});
    bootstrap_ = broker_->first_line(10s).value_or("");
    ASSERT_NE(bootstrap_.find("127.0.0.1:"), std::string::npos) << broker_->stderr_text();
  }
  void TearDown() override {
    if (HasFailure()) std::printf("--- logs and marks in %s\n", dir_.c_str());
    broker_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // kafka_source → test_crash → kafka_sink, dead letters to `dlq`.
  void write_pipeline(const std::string& how) {
    std::ofstream(dir_ / "pipeline.yaml") << R"(name: crashloop
runtime:
  shutdown_timeout: 10s
metrics:
  listen: 127.0.0.1:0
kafka:
  bootstrap_servers: )" << bootstrap_ << R"(
  dead_letter_topic: dlq
  consumer_properties:
    session.timeout.ms: 6000
stages:
  - name: source
    type: kafka_source
    topics: [in]
    group: )" << kGroup << R"(
    commit_interval: 100ms
    high_watermark: 200
    low_watermark: 100
    crash_marks_dir: )" << (dir_ / "marks").string()
                                          << R"(
  - name: crash
    type: test_crash
    how: )" << how << R"(
  - name: sink
    type: kafka_sink
    topic: out
)";
  }

  std::unique_ptr<Subprocess> start() {
    ++starts_;
    return std::make_unique<Subprocess>(
        std::vector<std::string>{kCrashable, "run", (dir_ / "pipeline.yaml").string()});
  }

  // Waits until the group has committed all of `in` while `s` runs. A start
  // that dies meanwhile (the record killed it once more than the breaker
  // allows; a stack overflow logs nothing) fails at once, saying so, instead
  // of looking like a hang when the timeout expires.
  ::testing::AssertionResult committed_while_running(Subprocess& s, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (wait_until_committed(bootstrap_, kGroup, "in", 1s)) return ::testing::AssertionSuccess();
      if (!s.running()) {
        return ::testing::AssertionFailure()
               << "start " << starts_ << " died (exit status " << s.wait(0s).value_or(-1)
               << ") before everything was committed\n"
               << s.stderr_text();
      }
    }
    return ::testing::AssertionFailure()
           << "start " << starts_ << ": not everything committed in " << timeout.count() << " s\n"
           << s.stderr_text();
  }

  // Saves a run's log where a failing test points to.
  void keep_log(const Subprocess& s) {
    std::ofstream(dir_ / ("start-" + std::to_string(starts_) + ".log")) << s.stderr_text();
  }

  fs::path dir_;
  std::unique_ptr<Subprocess> broker_;
  std::string bootstrap_;
  int starts_ = 0;
};

struct Crash {
  const char* how;
  int signal;        // what the process dies of
  int deaths;        // before the start that dead-letters the record
  const char* kind;  // how the marks see the death
};

void PrintTo(const Crash& c, std::ostream* os) { *os << c.how; }  // names the ctest cases

class CrashLoop : public CrashLoopTest, public ::testing::WithParamInterface<Crash> {};

TEST_P(CrashLoop, RecordThatKillsAStageIsDeadLetteredAndEveryOtherRecordComesOut) {
  const Crash c = GetParam();
  write_pipeline(c.how);
  std::vector<std::string> good;
  std::vector<Message> input;
  for (int i = 0; i < 20; ++i) {
    if (i == 10) input.push_back(Message{"k", "poison: CRASH-ME", {{"trace", "t10"}}, -1, -1});
    good.push_back("good-" + std::to_string(i));
    input.push_back(Message{"k", good.back(), {}, -1, -1});
  }
  produce(bootstrap_, "in", input);

  for (int death = 1; death <= c.deaths; ++death) {
    auto s = start();
    const std::optional<int> status = s->wait(90s);
    keep_log(*s);
    ASSERT_EQ(status, 128 + c.signal) << "start " << death << " should die of the record\n"
                                      << s->stderr_text();
    if (death > 1) {
      EXPECT_NE(s->stderr_text().find(std::string("previous run ") + c.kind), std::string::npos)
          << s->stderr_text();
    }
  }
  auto last = start();
  const ::testing::AssertionResult done = committed_while_running(*last, 90s);
  last->signal(SIGTERM);
  const std::optional<int> status = last->wait(30s);
  keep_log(*last);
  ASSERT_TRUE(done);
  EXPECT_EQ(status, 0) << last->stderr_text();

  std::vector<Message> dlq = read_all(bootstrap_, "dlq");
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].value, "poison: CRASH-ME");
  EXPECT_EQ(dlq[0].key, std::optional<std::string>("k"));
  EXPECT_EQ(dlq[0].header("sluice.error"), core::dead_letter_code::kPoisonCrash);
  EXPECT_EQ(dlq[0].header("sluice.stage"), "source");
  EXPECT_EQ(dlq[0].header("sluice.source.topic"), "in");
  EXPECT_EQ(dlq[0].header("sluice.source.partition"), "0");
  EXPECT_EQ(dlq[0].header("sluice.source.offset"), "10");
  EXPECT_EQ(dlq[0].header("sluice.crash.count"), std::to_string(c.deaths));
  EXPECT_EQ(dlq[0].header("trace"), "t10");
  // At least once: every good record, perhaps more than once; never the poison.
  std::map<std::string, int> out = count_values(read_all(bootstrap_, "out"));
  for (const std::string& g : good) EXPECT_GE(out[g], 1) << g << " lost";
  EXPECT_EQ(out.count("poison: CRASH-ME"), 0u);
  EXPECT_EQ(out.size(), good.size());
  EXPECT_EQ(committed_offsets(bootstrap_, kGroup, "in"), (std::vector<int64_t>{21}));
}

// abort() and a segfault are crashes (a fatal-signal handler notes them):
// two deaths. A stack overflow leaves no stack to run a handler on, so it
// counts as a kill: two kills in a row make suspects, two alone make poison.
INSTANTIATE_TEST_SUITE_P(Deaths, CrashLoop,
                         ::testing::Values(Crash{"abort", SIGABRT, 2, "crashed"},
                                           Crash{"segfault", SIGSEGV, 2, "crashed"},
                                           Crash{"stack_overflow", SIGSEGV, 4, "was killed"}),
                         [](const auto& info) { return std::string(info.param.how); });

TEST_F(CrashLoopTest, KillNineOfAHealthyRunDeadLettersNothing) {
  write_pipeline("abort");  // no record carries the marker
  constexpr int kRecords = 20000;
  std::vector<std::string> values_in;
  for (int i = 0; i < kRecords; ++i) values_in.push_back("rec-" + std::to_string(i));
  produce(bootstrap_, "in", values(values_in));

  // Two kill -9 in a row, the second soon after the restart: what was in
  // flight at both becomes suspect and is replayed one record at a time.
  int64_t produced = 0;
  for (int kill = 0; kill < 2; ++kill) {
    auto s = start();
    ASSERT_TRUE(wait_for_records(bootstrap_, "out", produced + (kill == 0 ? 2000 : 50), 60s))
        << s->stderr_text();
    s->signal(SIGKILL);
    EXPECT_EQ(s->wait(10s), 128 + SIGKILL);
    keep_log(*s);
    if (kill == 1) {
      EXPECT_NE(s->stderr_text().find("previous run was killed with records in flight"),
                std::string::npos)
          << s->stderr_text();
    }
    produced = total_records(bootstrap_, "out");
  }
  auto last = start();
  const ::testing::AssertionResult done = committed_while_running(*last, 120s);
  last->signal(SIGTERM);
  const std::optional<int> status = last->wait(30s);
  keep_log(*last);
  ASSERT_TRUE(done);
  EXPECT_EQ(status, 0) << last->stderr_text();
  std::printf("[ kill -9 ] suspect mode after two kills: %s\n",
              last->stderr_text().find("suspect mode:") != std::string::npos ? "yes" : "no");

  EXPECT_EQ(read_all(bootstrap_, "dlq").size(), 0u);
  std::map<std::string, int> out = count_values(read_all(bootstrap_, "out"));
  for (const std::string& v : values_in) ASSERT_GE(out[v], 1) << v << " lost";
  EXPECT_EQ(out.size(), values_in.size());
  // A clean exit with nothing suspect left removes the marks file.
  EXPECT_TRUE(fs::is_empty(dir_ / "marks"));
}

}  // namespace
}  // namespace sluice::kafka::testing
