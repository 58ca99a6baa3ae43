// Pipeline configuration: validation errors with key paths, defaults,
// environment substitution (and secrecy), --set overrides, wiring checks.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "app/wiring/pipeline_factory.h"
#include "app/wiring/registry.h"
#include "operators/generator.h"
#include "operators/kafka_services.h"
#include "operators/kafka_sink.h"
#include "operators/micro_batch.h"
#include "operators/pipeline_sections.h"
#include "src/config/limits.h"
#include "src/config/load.h"

namespace sluice::config {
namespace {

std::vector<Problem> problems_of(const std::string& yaml,
                                 const std::vector<std::string>& overrides = {}) {
  try {
    load_string(yaml, *app::builtin_pipeline_schema(), overrides);
  } catch (const ConfigError& e) {
    return e.problems();
  }
  return {};
}

bool has(const std::vector<Problem>& ps, const std::string& path, const std::string& fragment) {
  for (const auto& p : ps)
    if (p.path == path && p.message.find(fragment) != std::string::npos) return true;
  return false;
}

std::string dump(const std::vector<Problem>& ps) {
  std::string s;
  for (const auto& p : ps) s += p.path + ": " + p.message + "\n";
  return s;
}

const char* kGood = R"(
name: t
stages:
  - {name: src, type: generator, count: 10}
  - {name: sink, type: counter}
)";

TEST(Config, ValidFileGetsDefaults) {
  Loaded l = load_string(kGood, *app::builtin_pipeline_schema());
  Section root = l.root();
  EXPECT_EQ(root.string("name"), "t");
  EXPECT_EQ(root.section("runtime").integer("queue_capacity"), 1024);
  EXPECT_EQ(root.section("runtime").duration("shutdown_timeout"), std::chrono::seconds(30));
  EXPECT_EQ(root.section("metrics").string("listen"), "127.0.0.1:9464");
  auto stages = root.list("stages");
  ASSERT_EQ(stages.size(), 2u);
  EXPECT_EQ(stages[0].integer("count"), 10);
  EXPECT_EQ(stages[0].integer("partitions"), 1);
  EXPECT_EQ(stages[0].bytes("size"), 100u);
  EXPECT_EQ(stages[1].integer("workers"), 1);
  EXPECT_EQ(stages[1].path(), "stages[1]");
}

TEST(Config, ReportsEveryProblemWithItsKeyPath) {
  auto ps = problems_of(R"(
runtime: {queue_capacity: lots, shutdown_timeot: 5s}
stages:
  - {name: src, type: generator, count: -5, rate: fast, size: 3 parsecs}
  - {name: mid, type: identiti}
  - {type: counter, check_order: maybe}
)");
  EXPECT_TRUE(has(ps, "runtime.queue_capacity", "expected an integer, got 'lots'")) << dump(ps);
  EXPECT_TRUE(has(ps, "runtime.shutdown_timeot", "unknown key (did you mean 'shutdown_timeout'?)"))
      << dump(ps);
  EXPECT_TRUE(has(ps, "stages[0].count", "must be at least 0")) << dump(ps);
  EXPECT_TRUE(has(ps, "stages[0].rate", "expected a number")) << dump(ps);
  EXPECT_TRUE(has(ps, "stages[0].size", "expected a size")) << dump(ps);
  EXPECT_TRUE(
      has(ps, "stages[1].type", "unknown type 'identiti' (known: generator, identity, counter"))
      << dump(ps);
  EXPECT_TRUE(has(ps, "stages[2].name", "missing required key")) << dump(ps);
  EXPECT_TRUE(has(ps, "stages[2].check_order", "expected true or false")) << dump(ps);
  EXPECT_EQ(ps.size(), 8u) << dump(ps);
}

TEST(Config, MissingStagesIsReported) {
  auto ps = problems_of("name: x\n");
  EXPECT_TRUE(has(ps, "stages", "missing required key")) << dump(ps);
}

TEST(Config, SubstitutesEnvironmentWithDefaults) {
  setenv("SLUICE_TEST_COUNT", "42", 1);
  unsetenv("SLUICE_TEST_UNSET");
  Loaded l = load_string(R"(
name: ${SLUICE_TEST_UNSET:-fallback}-${SLUICE_TEST_COUNT}
stages:
  - {name: src, type: generator, count: "${SLUICE_TEST_COUNT}", text: "$${literal}"}
  - {name: sink, type: counter}
)",
                         *app::builtin_pipeline_schema());
  EXPECT_EQ(l.root().string("name"), "fallback-42");
  EXPECT_EQ(l.root().list("stages")[0].integer("count"), 42);
  EXPECT_EQ(l.root().list("stages")[0].string("text"), "${literal}");
}

TEST(Config, UnsetVariableIsAProblemAtItsKey) {
  unsetenv("SLUICE_TEST_UNSET");
  auto ps = problems_of(R"(
stages:
  - {name: src, type: generator, count: "${SLUICE_TEST_UNSET}"}
  - {name: sink, type: counter}
)");
  ASSERT_EQ(ps.size(), 1u) << dump(ps);
  EXPECT_TRUE(has(ps, "stages[0].count", "environment variable SLUICE_TEST_UNSET is not set"))
      << dump(ps);
}

TEST(Config, ValuesFromTheEnvironmentAreNeverEchoed) {
  setenv("SLUICE_TEST_SECRET", "hunter2", 1);
  auto ps = problems_of(R"(
stages:
  - {name: src, type: generator, count: "${SLUICE_TEST_SECRET}"}
  - {name: sink, type: counter}
)");
  ASSERT_EQ(ps.size(), 1u) << dump(ps);
  EXPECT_EQ(ps[0].path, "stages[0].count");
  EXPECT_EQ(dump(ps).find("hunter2"), std::string::npos) << dump(ps);
}

TEST(Config, SetOverridesByIndexAndByStageName) {
  Loaded l = load_string(
      kGood, *app::builtin_pipeline_schema(),
      {"stages.src.count=7", "stages.1.workers=3", "runtime.queue_capacity=64", "name=over"});
  EXPECT_EQ(l.root().list("stages")[0].integer("count"), 7);
  EXPECT_EQ(l.root().list("stages")[1].integer("workers"), 3);
  EXPECT_EQ(l.root().section("runtime").integer("queue_capacity"), 64);
  EXPECT_EQ(l.root().string("name"), "over");
}

TEST(Config, BadOverrideIsReported) {
  auto ps = problems_of(kGood, {"stages.nosuch.workers=3", "noequals"});
  EXPECT_TRUE(has(ps, "stages.nosuch", "no list element named 'nosuch'")) << dump(ps);
  EXPECT_TRUE(has(ps, "--set noequals", "expected key.path=value")) << dump(ps);
}

TEST(Config, SetIndexBeyondAnyListIsAProblemNamingTheKey) {
  auto ps = problems_of(kGood, {"stages.99999999999999999999999.count=1", "stages.2.count=1"});
  EXPECT_TRUE(has(ps, "stages.99999999999999999999999", "--set: index out of range (list has 2)"))
      << dump(ps);
  EXPECT_TRUE(has(ps, "stages.2", "--set: index out of range (list has 2)")) << dump(ps);
}

TEST(Config, SetRejectsMalformedPaths) {
  std::string deep = "description";
  for (int i = 0; i < kMaxDepth; ++i) deep += ".a";
  auto ps = problems_of(kGood, {"runtime..queue_capacity=4", "runtime.=4", deep + "=1"});
  EXPECT_TRUE(has(ps, "--set runtime..queue_capacity", "empty key in the path")) << dump(ps);
  EXPECT_TRUE(has(ps, "--set runtime.", "empty key in the path")) << dump(ps);
  EXPECT_TRUE(has(ps, "--set description...", "path deeper than 100 levels")) << dump(ps);
  EXPECT_EQ(ps.size(), 3u) << dump(ps);
}

TEST(Config, SetAddressesDottedLibrdkafkaPropertyNamesAsOneKey) {
  Loaded l = load_string(
      kGood, *app::builtin_pipeline_schema(),
      {"kafka.properties.security.protocol=SSL", "kafka.consumer_properties.fetch.wait.max.ms=10",
       "kafka.producer_properties.linger.ms=5"});
  Section kafka = l.root().section("kafka");
  EXPECT_EQ(kafka.string_map("properties"),
            (std::map<std::string, std::string>{{"security.protocol", "SSL"}}));
  EXPECT_EQ(kafka.string_map("consumer_properties"),
            (std::map<std::string, std::string>{{"fetch.wait.max.ms", "10"}}));
  EXPECT_EQ(kafka.string_map("producer_properties"),
            (std::map<std::string, std::string>{{"linger.ms", "5"}}));
}

TEST(Config, KeysThatAreNotNamesAreProblemsWithTheirLine) {
  auto ps = problems_of(std::string(kGood) +
                        "kafka:\n  properties:\n    [a, b]: 1\n    {x: y}: 2\n    ok: [1]\n");
  EXPECT_TRUE(has(ps, "kafka.properties", "a key must be a name, got a list (line 8)")) << dump(ps);
  EXPECT_TRUE(has(ps, "kafka.properties", "a key must be a name, got a mapping (line 9)"))
      << dump(ps);
  EXPECT_EQ(ps.size(), 2u) << dump(ps);
  ps = problems_of(std::string(kGood) + "kafka:\n  properties:\n    ok: [1]\n");
  EXPECT_TRUE(has(ps, "kafka.properties.ok", "expected a scalar value, got a list")) << dump(ps);
}

TEST(Config, DuplicateKeysNameBothLines) {
  auto ps = problems_of(R"(
runtime:
  queue_capacity: 5
  log_level: info
  queue_capacity: 7
stages:
  - {name: src, type: generator, count: 1, count: 2}
  - {name: sink, type: counter}
)");
  EXPECT_TRUE(has(ps, "runtime.queue_capacity", "key given twice (lines 3 and 5)")) << dump(ps);
  EXPECT_TRUE(has(ps, "stages[0].count", "key given twice (lines 7 and 7)")) << dump(ps);
  EXPECT_EQ(ps.size(), 2u) << dump(ps);
}

// "Billion laughs", as one flow mapping: 9 levels of 9 aliases is 9^9 nodes
// once expanded.
std::string alias_bomb(int levels) {
  std::string s = "{l0: &l0 [x, x, x, x, x, x, x, x, x]";
  for (int i = 1; i < levels; ++i) {
    std::string prev = "*l" + std::to_string(i - 1);
    s += ", l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int j = 0; j < 9; ++j) s += (j ? ", " : "") + prev;
    s += "]";
  }
  return s + "}";
}

TEST(Config, AliasBombIsRejectedBeforeItIsExpanded) {
  auto ps = problems_of(alias_bomb(9));
  ASSERT_EQ(ps.size(), 1u) << dump(ps);
  EXPECT_TRUE(
      has(ps, "(top level)", "more than 100000 YAML nodes once aliases (*name) are expanded"))
      << dump(ps);
  // The same as a --set value.
  ps = problems_of(kGood, {"description=" + alias_bomb(9)});
  ASSERT_EQ(ps.size(), 1u) << dump(ps);
  EXPECT_TRUE(has(ps, "description", "--set: more than 100000 YAML nodes")) << dump(ps);
}

TEST(Config, DeepNestingIsRejected) {
  // yaml-cpp's own guard (DeepRecursion) stops its parser, no stack overflow.
  auto ps = problems_of(std::string(100000, '[') + std::string(100000, ']'));
  ASSERT_EQ(ps.size(), 1u) << dump(ps);
  EXPECT_NE(ps[0].message.find("invalid YAML: nested too deeply"), std::string::npos) << dump(ps);
  // Below yaml-cpp's limit, above ours.
  std::string deep =
      "description: " + std::string(kMaxDepth + 1, '[') + std::string(kMaxDepth + 1, ']') + "\n";
  ps = problems_of(deep + kGood);
  ASSERT_EQ(ps.size(), 1u) << dump(ps);
  EXPECT_EQ(ps[0].message, "nested deeper than 100 levels") << dump(ps);
  EXPECT_EQ(ps[0].path.rfind("description[0][0]", 0), 0u) << dump(ps);
}

TEST(Config, FileLargerThanTheLimitIsRejectedUnread) {
  std::string big = std::string(kGood) + "# " + std::string(kMaxFileBytes, 'x') + "\n";
  auto ps = problems_of(big);
  ASSERT_EQ(ps.size(), 1u) << dump(ps);
  EXPECT_TRUE(has(ps, "(file)", "larger than 256 KiB")) << dump(ps);
  std::string path = testing::TempDir() + "/sluice-config-big.yaml";
  std::ofstream(path) << big;
  try {
    load_file(path, *app::builtin_pipeline_schema());
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(has(e.problems(), "(file)", "larger than 256 KiB")) << e.what();
  }
  std::filesystem::remove(path);
}

TEST(Config, ValuesFromTheEnvironmentAreNeverEchoedThroughRangesAliasesOrTypes) {
  setenv("SLUICE_TEST_SECRET", "hunter2", 1);
  setenv("SLUICE_TEST_ZERO", "0", 1);
  auto ps = problems_of(R"(
description: &d "${SLUICE_TEST_SECRET}"
stages:
  - {name: src, type: generator, count: *d, partitions: "${SLUICE_TEST_ZERO}"}
  - {name: sink, type: "${SLUICE_TEST_SECRET}"}
)");
  EXPECT_TRUE(has(ps, "stages[0].count", "expected an integer, got (value from the environment"))
      << dump(ps);
  EXPECT_TRUE(
      has(ps, "stages[0].partitions", "must be at least 1, got (value from the environment"))
      << dump(ps);
  EXPECT_TRUE(has(ps, "stages[1].type", "unknown type (value from the environment")) << dump(ps);
  EXPECT_EQ(ps.size(), 3u) << dump(ps);
  EXPECT_EQ(dump(ps).find("hunter2"), std::string::npos) << dump(ps);
}

TEST(Config, ValuesFromTheEnvironmentAreMarkedForTheirUsers) {
  setenv("SLUICE_TEST_SECRET", "hunter2", 1);
  Loaded l = load_string(
      std::string(kGood) + "kafka:\n  properties:\n    security.protocol: ${SLUICE_TEST_SECRET}\n",
      *app::builtin_pipeline_schema());
  Section kafka = l.root().section("kafka");
  EXPECT_TRUE(kafka.from_environment("properties.security.protocol"));
  EXPECT_FALSE(kafka.from_environment("bootstrap_servers"));
  EXPECT_EQ(l.redact("Invalid value \"hunter2\""), "Invalid value \"${SLUICE_TEST_SECRET}\"");
}

TEST(Config, InvalidYamlNamesLine) {
  auto ps = problems_of("stages: [\n  - {name: a\n");
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_NE(ps[0].path.find("line"), std::string::npos) << dump(ps);
  EXPECT_NE(ps[0].message.find("invalid YAML"), std::string::npos) << dump(ps);
}

TEST(Config, ParsesDurationsAndSizes) {
  EXPECT_EQ(parse_duration_ns("250us"), 250'000);
  EXPECT_EQ(parse_duration_ns("5ms"), 5'000'000);
  EXPECT_EQ(parse_duration_ns("1.5s"), 1'500'000'000);
  EXPECT_EQ(parse_duration_ns("2m"), 120'000'000'000);
  EXPECT_EQ(parse_duration_ns("0"), 0);
  EXPECT_FALSE(parse_duration_ns("5"));
  EXPECT_FALSE(parse_duration_ns("fast"));
  EXPECT_EQ(parse_bytes("64KiB"), 65536u);
  EXPECT_EQ(parse_bytes("16MB"), 16'000'000u);
  EXPECT_EQ(parse_bytes("1024"), 1024u);
  EXPECT_FALSE(parse_bytes("12 parsecs"));
  // Too large to represent: rejected, not wrapped to a negative number.
  EXPECT_FALSE(parse_duration_ns("99999999999999999999h"));
  EXPECT_FALSE(parse_bytes("99999999999999999999GiB"));
}

TEST(Config, EverySpellingValidationAcceptsReadsBack) {
  Loaded l = load_string(
      std::string(kGood) + "metrics: {enabled: YES}\nruntime: {queue_capacity: \"64 \"}\n",
      *app::builtin_pipeline_schema());
  EXPECT_TRUE(l.root().section("metrics").boolean("enabled"));
  EXPECT_EQ(l.root().section("runtime").integer("queue_capacity"), 64);
}

std::vector<Problem> build_problems(const std::string& yaml) {
  try {
    Loaded l = load_string(yaml, *app::builtin_pipeline_schema());
    app::build_pipeline(l, app::builtin_registry(), nullptr);
  } catch (const ConfigError& e) {
    return e.problems();
  }
  return {};
}

TEST(Config, WiringChecksNameTheStage) {
  EXPECT_TRUE(has(build_problems(R"(
stages:
  - {name: a, type: identity}
  - {name: b, type: counter}
)"),
                  "stages[0].type", "the first stage must be a source"));
  EXPECT_TRUE(has(build_problems(R"(
stages:
  - {name: a, type: generator}
  - {name: b, type: generator}
)"),
                  "stages[1].type", "is a source and can only be the first stage"));
  EXPECT_TRUE(has(build_problems(R"(
stages:
  - {name: a, type: generator}
  - {name: b, type: identity}
)"),
                  "stages[1]", "the last stage must be a sink"));
  EXPECT_TRUE(has(build_problems(R"(
stages:
  - {name: a, type: generator}
  - {name: b, type: counter}
  - {name: c, type: counter}
)"),
                  "stages[2].type", "stage 'b' is a sink: nothing can follow it"));
  EXPECT_TRUE(has(build_problems(R"(
stages:
  - {name: a, type: generator}
  - {name: a, type: counter}
)"),
                  "stages[1].name", "duplicate stage name 'a'"));
}

}  // namespace
}  // namespace sluice::config

namespace sluice::config {
namespace {

// One model declaration (model.path) serves tokenize, infer and classify;
// a stage's own key still wins; neither is a problem at the stage's path.
TEST(Config, OneModelDeclarationServesTokenizeInferAndClassify) {
  const std::string model = std::string(SLUICE_SOURCE_DIR) + "/models/sentiment-tweet-small";
  const std::string chain = R"(
stages:
  - {name: src, type: generator, count: 1}
  - {name: tok, type: tokenize}
  - {name: batch, type: micro_batch}
  - {name: infer, type: infer, device: cpu}
  - {name: label, type: classify}
  - {name: sink, type: counter}
)";
  EXPECT_TRUE(build_problems("model: {path: " + model + "}\n" + chain).empty());
  const auto missing = build_problems(chain);
  EXPECT_TRUE(
      has(missing, "stages[1]", "tokenizer: required here, or give the pipeline's model.path"));
  // A stage's own key is used when model.path is absent.
  const auto own = build_problems(R"(
stages:
  - {name: src, type: generator, count: 1}
  - {name: tok, type: tokenize, tokenizer: )" +
                                  model + R"(}
  - {name: sink, type: counter}
)");
  EXPECT_TRUE(own.empty());
}

// The defaults a pipeline file gets are the operators' options structs'
// initializers (each key bound once, config::Options), for stages and sections.
TEST(Config, DefaultsAreTheOptionsStructsInitializers) {
  Loaded l = load_string(R"(
stages:
  - {name: src, type: generator}
  - {name: batch, type: micro_batch}
  - {name: sink, type: kafka_sink, topic: out}
)",
                         *app::builtin_pipeline_schema());
  const Section root = l.root();
  const auto stages = root.list("stages");
  const operators::GeneratorOptions g;
  EXPECT_EQ(stages[0].bytes("size"), g.size);
  EXPECT_EQ(stages[0].integer("partitions"), g.partitions);
  const operators::MicroBatchPolicy mb;
  EXPECT_EQ(stages[1].integer("max_batch_records"), mb.max_batch_records);
  EXPECT_EQ(stages[1].duration("max_delay"), mb.max_delay);
  const operators::KafkaSinkOptions sink;
  EXPECT_EQ(stages[2].duration("flush_timeout"), sink.flush_timeout);
  const operators::KafkaSection kafka;
  EXPECT_EQ(root.section("kafka").string("bootstrap_servers"), kafka.bootstrap_servers);
  EXPECT_EQ(root.section("kafka").duration("refusal_timeout"), kafka.refusal_timeout);
  const operators::RuntimeSection runtime;
  EXPECT_EQ(root.section("runtime").duration("stall_timeout"), runtime.stall_timeout);
  EXPECT_EQ(root.section("runtime").integer("queue_capacity"), runtime.queue_capacity);
}

}  // namespace
}  // namespace sluice::config
