// `sluice run` and `sluice validate` as a user runs them: the real binary in a
// child process, exit codes, drain on SIGTERM, the metrics endpoint checked by
// promtool.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/subprocess.h"

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;

std::string pipeline(const std::string& name) {
  return std::string(SLUICE_SOURCE_DIR) + "/pipelines/" + name;
}

TEST(SluiceRun, GeneratorPipelineCountsEveryRecordAndExitsZero) {
  auto r =
      run({sluice_binary(), "run", pipeline("generator.yaml"), "--set", "metrics.enabled=false"},
          {{"SLUICE_GENERATOR_COUNT", "200000"}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("counter 'count': 200000 records, 0 out of order"), std::string::npos)
      << r.err;
}

TEST(SluiceRun, FailedExpectationExitsOneNamingTheStage) {
  auto r = run({sluice_binary(), "run", pipeline("generator.yaml"), "--set",
                "metrics.enabled=false", "--set", "stages.count.expect=5"},
               {{"SLUICE_GENERATOR_COUNT", "1000"}});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("stage 'count' worker 0 failed: expected 5 records, counted 1000"),
            std::string::npos)
      << r.err;
}

TEST(SluiceRun, BadConfigExitsTwoWithKeyPaths) {
  auto r = run({sluice_binary(), "run", pipeline("generator.yaml"), "--set",
                "stages.passthrough.workers=zero", "--set", "runtime.bogus=1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("stages[1].workers: expected an integer, got 'zero'"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("runtime.bogus: unknown key"), std::string::npos) << r.err;
}

TEST(SluiceValidate, AcceptsShippedPipelinesAndRejectsBadOnes) {
  auto ok = run({sluice_binary(), "validate", pipeline("generator.yaml")});
  EXPECT_EQ(ok.code, 0) << ok.err;
  std::string bad = "/tmp/sluice-validate-bad.yaml";
  std::ofstream(bad)
      << "stages:\n  - {name: s, type: generator, rate: fast}\n  - {name: c, type: nosuch}\n";
  auto r = run({sluice_binary(), "validate", bad});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("stages[0].rate: expected a number, got 'fast'"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("stages[1].type: unknown type 'nosuch'"), std::string::npos) << r.err;
  // The sentiment pipeline with the shipped model; then bad infer options.
  const std::map<std::string, std::string> env = {
      {"SLUICE_MODEL", std::string(SLUICE_SOURCE_DIR) + "/models/sentiment-tweet-small"}};
  auto sentiment = run({sluice_binary(), "validate", pipeline("sentiment.yaml")}, env);
  EXPECT_EQ(sentiment.code, 0) << sentiment.err;
  auto range = run({sluice_binary(), "validate", pipeline("sentiment.yaml"), "--set",
                    "stages.infer.cache_entries=-1"},
                   env);
  EXPECT_EQ(range.code, 2);
  EXPECT_NE(range.err.find("stages[3].cache_entries: "), std::string::npos) << range.err;
  auto gpu = run(
      {sluice_binary(), "validate", pipeline("sentiment.yaml"), "--set", "stages.infer.device=gpu"},
      env);
  EXPECT_EQ(gpu.code, 2);
  EXPECT_NE(gpu.err.find("stages[3]: device: expected auto, cpu, cuda or cuda:N, got 'gpu'"),
            std::string::npos)
      << gpu.err;
  auto missing = run({sluice_binary(), "validate", "/nonexistent.yaml"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("cannot open"), std::string::npos) << missing.err;
}

std::string write_file(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// Every hostile input ends in exit 2 naming the file, the key and why, from
// `validate` and `run` alike.
TEST(SluiceValidate, HostileInputsExitTwoNamingFileAndKey) {
  const std::string stages =
      "stages:\n  - {name: s, type: generator}\n  - {name: c, type: counter}\n";
  std::string bomb = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    bomb += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int j = 0; j < 9; ++j) bomb += (j ? ", *l" : "*l") + std::to_string(i - 1);
    bomb += "]\n";
  }
  struct Case {
    std::string file, text, set, expected;
  };
  const std::vector<Case> cases = {
      {"index.yaml", stages, "stages.99999999999999999999999.count=1",
       "stages.99999999999999999999999: --set: index out of range (list has 2)"},
      {"list-key.yaml", stages + "kafka:\n  properties:\n    [a, b]: 1\n", "",
       "kafka.properties: a key must be a name, got a list (line 6)"},
      {"bomb.yaml", bomb, "",
       "(top level): more than 100000 YAML nodes once aliases (*name) are expanded"},
      {"deep.yaml", std::string(100000, '[') + std::string(100000, ']'), "",
       "invalid YAML: nested too deeply"},
      {"dup.yaml", stages + "name: a\nname: b\n", "", "name: key given twice (lines 4 and 5)"},
  };
  for (const auto& c : cases) {
    std::string path = write_file("sluice-hostile-" + c.file, c.text);
    for (const char* cmd : {"validate", "run"}) {
      std::vector<std::string> argv = {sluice_binary(), cmd, path, "--set",
                                       "metrics.enabled=false"};
      if (!c.set.empty()) argv.insert(argv.end(), {"--set", c.set});
      auto r = run(argv);
      EXPECT_EQ(r.code, 2) << cmd << " " << c.file << ": " << r.err;
      EXPECT_NE(r.err.find(path + ": 1 problem"), std::string::npos)
          << cmd << " " << c.file << ": " << r.err;
      EXPECT_NE(r.err.find(c.expected), std::string::npos) << cmd << " " << c.file << ": " << r.err;
    }
  }
}

// A secret-looking value in a property not named like a secret: librdkafka
// rejects it, quoting it; neither command shows it, both exit 2 at its key.
TEST(SluiceValidate, ReportsWhatLibrdkafkaRejectsWithoutEchoingTheEnvironment) {
  std::string path = write_file("sluice-kafka-env.yaml", R"(
kafka:
  bootstrap_servers: 127.0.0.1:1
  properties:
    security.protocol: ${SLUICE_TEST_SECRET}
stages:
  - {name: source, type: kafka_source, topics: in, group: g}
  - {name: sink, type: kafka_sink, topic: out}
)");
  const std::map<std::string, std::string> env = {{"SLUICE_TEST_SECRET", "s3cr3t-hunter2"}};
  for (const char* cmd : {"validate", "run"}) {
    auto r = run({sluice_binary(), cmd, path, "--set", "metrics.enabled=false"}, env);
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.err;
    EXPECT_NE(
        r.err.find(
            "kafka.properties.security.protocol: librdkafka: Invalid value <from environment> for "
            "configuration property \"security.protocol\""),
        std::string::npos)
        << cmd << ": " << r.err;
    EXPECT_EQ((r.out + r.err).find("s3cr3t"), std::string::npos) << cmd << ": " << r.out << r.err;
  }
  // The same property from --set, by its dotted librdkafka name.
  auto r = run({sluice_binary(), "validate", pipeline("passthrough.yaml"), "--set",
                "kafka.properties.security.protocol=${SLUICE_TEST_SECRET}"},
               env);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(
                "kafka.properties.security.protocol: librdkafka: Invalid value <from environment>"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("s3cr3t"), std::string::npos) << r.err;
}

TEST(SluiceRun, MetricsListenWithoutAHostIsLoopback) {
  auto r = run({sluice_binary(), "run", pipeline("generator.yaml"), "--set", "metrics.listen=:0"},
               {{"SLUICE_GENERATOR_COUNT", "1000"}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("metrics: http://127.0.0.1:"), std::string::npos) << r.err;
}

TEST(SluiceCli, HelpExplainsTheSetSyntax) {
  for (const char* cmd : {"run", "validate"}) {
    auto r = run({sluice_binary(), cmd, "--help"});
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.err;
    EXPECT_NE(r.out.find("kafka.properties.security.protocol=SSL"), std::string::npos)
        << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("stages.tokenize.workers=4"), std::string::npos) << cmd << ": " << r.out;
  }
}

TEST(SluiceRun, SigtermDrainsAndExitsZeroWhileMetricsPassPromtool) {
  int port = free_port();
  Subprocess p({sluice_binary(), "run", pipeline("generator.yaml"), "--set",
                "metrics.listen=127.0.0.1:" + std::to_string(port), "--set",
                "stages.count.expect=-1", "--set", "stages.source.rate=50000"},
               {{"SLUICE_GENERATOR_COUNT", "0"}});
  std::pair<int, std::string> metrics{0, ""};
  for (int i = 0; i < 200 && metrics.first != 200; ++i) {
    std::this_thread::sleep_for(25ms);
    metrics = http_get("127.0.0.1", port, "/metrics");
  }
  ASSERT_EQ(metrics.first, 200) << p.stderr_text();
  std::this_thread::sleep_for(300ms);
  metrics = http_get("127.0.0.1", port, "/metrics");
  EXPECT_NE(
      metrics.second.find("sluice_stage_items_in_total{pipeline=\"generator\",stage=\"count\"}"),
      std::string::npos);
  EXPECT_NE(metrics.second.find("sluice_build_info{"), std::string::npos);
  EXPECT_EQ(http_get("127.0.0.1", port, "/readyz").first, 200);
  EXPECT_EQ(http_get("127.0.0.1", port, "/nope").first, 404);

  auto promtool = run({"promtool", "check", "metrics"}, {}, metrics.second);
  if (promtool.code == 127) {
    ADD_FAILURE() << "promtool not installed (Debian package prometheus)";
  } else {
    EXPECT_EQ(promtool.code, 0) << promtool.out << promtool.err;
  }

  p.signal(SIGTERM);
  auto code = p.wait(15s);
  ASSERT_TRUE(code.has_value()) << "did not exit after SIGTERM";
  EXPECT_EQ(*code, 0) << p.stderr_text();
  EXPECT_NE(p.stderr_text().find("received SIGTERM: draining"), std::string::npos);
  EXPECT_NE(p.stderr_text().find("0 out of order"), std::string::npos) << p.stderr_text();
}

// SIGHUP (a terminal closing, `kill -HUP` meant as "reload") used to kill the process at
// once (exit 129): no drain, no commit. It reloads the model now; a pipeline without one
// says so and runs on, and SIGTERM still drains.
TEST(SluiceRun, SighupWithoutAModelIsLoggedAndTheRunGoesOn) {
  int port = free_port();
  Subprocess p({sluice_binary(), "run", pipeline("generator.yaml"), "--set",
                "metrics.listen=127.0.0.1:" + std::to_string(port), "--set",
                "stages.count.expect=-1", "--set", "stages.source.rate=50000"},
               {{"SLUICE_GENERATOR_COUNT", "0"}});
  int ready = 0;
  for (int i = 0; i < 400 && ready != 200; ++i) {
    std::this_thread::sleep_for(25ms);
    ready = http_get("127.0.0.1", port, "/readyz").first;
  }
  ASSERT_EQ(ready, 200) << p.stderr_text();
  p.signal(SIGHUP);
  const std::string logged =
      "received SIGHUP: no reloadable model directory in the pipeline, nothing to reload";
  for (int i = 0; i < 300 && p.stderr_text().find(logged) == std::string::npos; ++i)
    std::this_thread::sleep_for(50ms);
  ASSERT_NE(p.stderr_text().find(logged), std::string::npos) << p.stderr_text();
  ASSERT_TRUE(p.running()) << p.stderr_text();
  EXPECT_EQ(http_get("127.0.0.1", port, "/readyz").first, 200) << "not draining";
  p.signal(SIGTERM);
  auto code = p.wait(15s);
  ASSERT_TRUE(code.has_value()) << "did not exit after SIGTERM";
  EXPECT_EQ(*code, 0) << p.stderr_text();
  EXPECT_NE(p.stderr_text().find("received SIGTERM: draining"), std::string::npos);
  EXPECT_NE(p.stderr_text().find("0 out of order"), std::string::npos) << p.stderr_text();
}

// Every connection to the metrics endpoint, Kafka and the model files share the soft
// limit on open files, often 1024: `sluice run` raises it to the hard limit at start-up.
TEST(SluiceRun, RaisesTheOpenFilesSoftLimitToTheHardLimit) {
  int port = free_port();
  const std::string run = "ulimit -Sn 256 && exec " + sluice_binary() + " run " +
                          pipeline("generator.yaml") +
                          " --set metrics.listen=127.0.0.1:" + std::to_string(port) +
                          " --set stages.count.expect=-1 --set stages.source.rate=1000";
  Subprocess p({"sh", "-c", run}, {{"SLUICE_GENERATOR_COUNT", "0"}});
  int status = 0;
  for (int i = 0; i < 400 && status != 200; ++i) {
    std::this_thread::sleep_for(25ms);
    status = http_get("127.0.0.1", port, "/healthz").first;
  }
  ASSERT_EQ(status, 200) << p.stderr_text();
  std::ifstream limits("/proc/" + std::to_string(p.pid()) + "/limits");
  std::string line, soft, hard;
  while (std::getline(limits, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(std::string("Max open files").size()));
    fields >> soft >> hard;
  }
  EXPECT_FALSE(soft.empty());
  EXPECT_EQ(soft, hard);
  EXPECT_NE(soft, "256");
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(15s).value_or(-1), 0) << p.stderr_text();
}

TEST(SluiceCli, VersionAndUnknownCommand) {
  auto v = run({sluice_binary(), "--version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out.rfind("sluice ", 0), 0u) << v.out;
  EXPECT_NE(v.out.find("cuda:"), std::string::npos) << v.out;
  auto u = run({sluice_binary(), "frobnicate"});
  EXPECT_EQ(u.code, 2);
  EXPECT_NE(u.err.find("unknown command 'frobnicate'"), std::string::npos);
}

}  // namespace
}  // namespace sluice::testing
