// libFuzzer target over the pipeline file: YAML text plus --set arguments,
// through the path `sluice validate` takes (built with clang -fsanitize=
// fuzzer,address,undefined by tests/fuzz/CMakeLists.txt; run for a bounded
// time by run_fuzz.sh). Any crash, out-of-bounds access, undefined behaviour,
// hang, out-of-memory or broken invariant (abort) fails the run.
//
// Input: the YAML text up to the first NUL byte; each further NUL-separated
// piece is one --set KEY=VALUE (at most 8).
//
// Path: config::load_string (size bound, parse, shape and alias-budget check,
// --set, ${ENV} substitution, validation), then, for a valid document, the
// librdkafka configurations consumer_conf and producer_conf build from its
// kafka: section, as the operators do when a pipeline is built.
//
// The schema is a representative copy of the real registry's
// (app/wiring/registry.cpp): the registry pulls in every operator, the engine
// and the tokenizers, which this target does not build. It has every key type
// and the shapes the real one has (nested objects, a discriminated stage
// list, librdkafka property maps).
//
// Invariants checked on every input:
//   - only ConfigError (the exit-2 path) or success, never another exception;
//   - a value from the environment (SLUICE_FUZZ_SECRET) never appears in a
//     problem or in a librdkafka rejection, unless the input wrote it itself;
//   - a loaded document is read back through Section without a logic_error.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/config/load.h"
#include "src/kafka/consumer.h"
#include "src/kafka/producer.h"
#include "tests/fuzz/fuzz_assert.h"

namespace {

using namespace sluice;

// Unlikely to be synthesised by mutation; seeds write ${SLUICE_FUZZ_SECRET}.
constexpr std::string_view kSecret = "q9Zx7VwK2mP4tR8s";

std::shared_ptr<const config::Schema> stage_schema(const std::string& type) {
  auto s = std::make_shared<config::Schema>();
  s->string("name", "stage name").req();
  s->string("type", "operator type").req();
  s->integer("workers", "workers").def("1").range(1, 256);
  s->integer("queue_capacity", "queue capacity").range(2, 1 << 24);
  if (type == "generator") {
    s->integer("count", "records").def("0").range(0, {});
    s->real("rate", "records per second").def("0").range(0, {});
    s->integer("partitions", "partitions").def("1").range(1, 1 << 20);
    s->bytes("size", "value size").def("100").range(1, 64 << 20);
    s->string("text", "text").def("");
  } else if (type == "counter") {
    s->integer("expect", "expected records").def("-1");
    s->boolean("check_order", "check order").def("true");
  } else if (type == "kafka_source") {
    s->strings("topics", "topics").req();
    s->string("group", "group").req();
    s->choice("format", {"raw", "json"}, "format").def("raw");
    s->string("text_field", "text field").def("text");
    s->string("group_field", "group field").def("");
    s->bytes("max_record_bytes", "max record").def("1MiB").range(1, 1 << 30);
    s->duration("commit_interval", "commit interval").def("1s").range(0.001, 3600);
    s->choice("auto_offset_reset", {"earliest", "latest"}, "reset").def("earliest");
  } else if (type == "kafka_sink") {
    s->string("topic", "topic").req();
    s->boolean("keep_key", "keep key").def("true");
    s->duration("flush_timeout", "flush timeout").def("30s").range(0, 3600);
  } else if (type == "window_aggregate") {
    s->choice("window", {"tumbling", "hopping"}, "window").def("tumbling");
    s->duration("size", "size").def("1m").range(0.001, {});
    s->duration("allowed_lateness", "lateness").def("0");
    s->duration("idle_timeout", "idle").def("0");
    s->string("aggregates_topic", "topic").def("");
    s->strings("gauge_keys", "gauges");
    s->integer("top_k", "top k").def("0").range(0, 1000);
    auto alert = std::make_shared<config::Schema>();
    alert->string("topic", "topic").def("");
    alert->real("negative_ratio_threshold", "threshold").def("0.5").range(0, 1);
    alert->integer("min_count", "min count").def("1").range(0, {});
    s->object("alert", alert, "alert");
  } else if (type == "tokenize" || type == "infer" || type == "classify" || type == "micro_batch") {
    s->string("tokenizer", "tokenizer dir").def("");
    s->string("model", "model dir").def("");
    s->integer("max_length", "max tokens").def("128").range(1, 8192);
    s->integer("max_batch_records", "records").def("64").range(1, 1 << 16);
    s->integer("max_batch_tokens", "tokens").def("4096").range(1, 1 << 24);
    s->duration("max_delay", "delay").def("5ms");
    s->string("device", "device").def("auto");
    s->integer("threads", "threads").def("0").range(0, 1024);
    s->add("options", config::Type::kAny, "free-form");
  } else {
    return nullptr;
  }
  return s;
}

std::shared_ptr<const config::Schema> pipeline_schema() {
  static const std::shared_ptr<const config::Schema> root = [] {
    auto root = std::make_shared<config::Schema>("pipeline");
    root->string("name", "name").def("pipeline");
    root->string("description", "text").def("");
    auto runtime = std::make_shared<config::Schema>();
    runtime->integer("queue_capacity", "capacity").def("1024").range(2, 1 << 24);
    runtime->duration("shutdown_timeout", "drain").def("30s").range(0, 3600);
    runtime->choice("log_level", {"debug", "info", "warn", "error"}, "verbosity").def("info");
    root->object("runtime", runtime, "runtime");
    auto metrics = std::make_shared<config::Schema>();
    metrics->boolean("enabled", "serve").def("true");
    metrics->string("listen", "host:port").def("127.0.0.1:9464");
    root->object("metrics", metrics, "metrics");
    auto kafka = std::make_shared<config::Schema>();
    kafka->string("bootstrap_servers", "servers").def("localhost:9092");
    kafka->string_map("properties", "librdkafka properties");
    kafka->string_map("consumer_properties", "consumer properties");
    kafka->string_map("producer_properties", "producer properties");
    kafka->string("dead_letter_topic", "dlq").def("");
    root->object("kafka", kafka, "kafka");
    root->object_list(
            "stages", "type",
            [](std::string_view type, std::string* known) {
              *known =
                  "generator, counter, kafka_source, kafka_sink, window_aggregate, tokenize, ...";
              return stage_schema(std::string(type));
            },
            "stages")
        .req();
    return root;
  }();
  return root;
}

bool shows_secret(std::string_view text) { return text.find(kSecret) != std::string_view::npos; }

// The operators' kafka_client_properties (operators/kafka_services.cpp), here
// without the operator library: merged maps, with where each came from.
kafka::Properties client_properties(const config::Section& kafka, const std::string& specific,
                                    kafka::PropertySources* sources) {
  kafka::Properties p;
  for (const std::string& map : {std::string("properties"), specific}) {
    for (auto& [k, v] : kafka.string_map(map)) {
      p[k] = v;
      (*sources)[k] = {kafka.path_of(map + "." + k), kafka.from_environment(map + "." + k)};
    }
  }
  (*sources)["bootstrap.servers"] = {kafka.path_of("bootstrap_servers"),
                                     kafka.from_environment("bootstrap_servers")};
  return p;
}

void build_kafka_confs(const config::Loaded& loaded, bool input_has_secret) {
  config::Section kafka = loaded.root().section("kafka");
  auto rejected = [&](const kafka::PropertyError& e) {
    FUZZ_ASSERT(input_has_secret || !shows_secret(e.what()));
  };
  try {
    kafka::ConsumerConfig cc;
    cc.bootstrap_servers = kafka.string("bootstrap_servers");
    cc.group_id = "g";
    cc.properties = client_properties(kafka, "consumer_properties", &cc.sources);
    kafka::consumer_conf(cc);
  } catch (const kafka::PropertyError& e) {
    rejected(e);
  }
  try {
    kafka::ProducerConfig pc;
    pc.bootstrap_servers = kafka.string("bootstrap_servers");
    pc.properties = client_properties(kafka, "producer_properties", &pc.sources);
    kafka::producer_conf(pc);
  } catch (const kafka::PropertyError& e) {
    rejected(e);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("SLUICE_FUZZ_SECRET", std::string(kSecret).c_str(), 1);
  setenv("SLUICE_FUZZ_COUNT", "42", 1);
  unsetenv("SLUICE_FUZZ_UNSET");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string yaml(in.substr(0, nul));
  std::vector<std::string> overrides;
  while (nul != std::string_view::npos && overrides.size() < 8) {
    size_t next = in.find('\0', nul + 1);
    overrides.emplace_back(
        in.substr(nul + 1, next == std::string_view::npos ? next : next - nul - 1));
    nul = next;
  }
  const bool input_has_secret = shows_secret(in);
  try {
    config::Loaded loaded = config::load_string(yaml, *pipeline_schema(), overrides, "fuzz.yaml");
    config::Section root = loaded.root();
    (void)root.string("name");
    (void)root.section("runtime").duration("shutdown_timeout");
    (void)root.section("runtime").integer("queue_capacity");
    (void)root.section("metrics").boolean("enabled");
    for (const config::Section& st : root.list("stages")) (void)st.integer("workers");
    build_kafka_confs(loaded, input_has_secret);
  } catch (const config::ConfigError& e) {
    FUZZ_ASSERT(input_has_secret || !shows_secret(e.what()));
  }
  return 0;
}
