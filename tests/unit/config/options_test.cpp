// config::Options: a key written once — name, description, range, field —
// declares itself into a Schema with the struct's default, and reads a
// validated section back into the struct.
#include "src/config/options.h"

#include <gtest/gtest.h>

#include <sstream>

namespace sluice::config {
namespace {

enum class Mode { kFast, kSafe };

struct Inner {
  int threads = 0;
};

struct Opts {
  int64_t entries = 65536;
  int32_t small = 7;
  bool enabled = true;
  double ratio = 0.5;
  std::chrono::milliseconds delay{5};
  std::chrono::nanoseconds timeout = std::chrono::minutes(10);
  uint64_t budget = uint64_t{64} << 20;
  std::string label = "uncertain";
  std::string level = "info";
  Mode mode = Mode::kSafe;
  std::vector<std::string> devices;
  std::optional<std::string> model;
  std::map<std::string, std::string> properties;
  Inner inner;
  std::string topic;
  bool shed = false;
};

const Options<Opts>& options() {
  static const Options<Opts> o = [] {
    Options<Opts> o;
    o.add("entries", &Opts::entries, "Cache entries").range(0, 1 << 26);
    o.add("small", &Opts::small, "An int32_t without a range");
    o.add("enabled", &Opts::enabled, "On or off");
    o.add("ratio", &Opts::ratio, "A ratio").range(0, 1);
    o.add("delay", &Opts::delay, "A delay").range(0, 60);
    o.add("timeout", &Opts::timeout, "A timeout");
    o.add("budget", &Opts::budget, "A size").bytes();
    o.add("label", &Opts::label, "A label");
    o.add("level", &Opts::level, "A level").choices({"debug", "info"});
    o.add("mode", &Opts::mode, "A mode").choices({{"fast", Mode::kFast}, {"safe", Mode::kSafe}});
    o.add("devices", &Opts::devices, "Devices");
    o.add("model", &Opts::model, "A model directory");
    o.add("properties", &Opts::properties, "Properties");
    o.add(
         "threads", [](Opts & x) -> auto& { return x.inner.threads; }, "Nested")
        .range(0, 64);
    o.object("alert", "An alert").add("topic", &Opts::topic, "Alert topic");
    o.add("overload", &Opts::shed, "A bool named as a choice")
        .choices({{"pause", false}, {"shed", true}});
    return o;
  }();
  return o;
}

YAML::Node validated(const std::string& yaml, std::vector<Problem>& problems) {
  Schema s;
  options().declare(s);
  return validate(s, YAML::Load(yaml), problems);
}

Opts read(const std::string& yaml) {
  std::vector<Problem> problems;
  YAML::Node doc = validated(yaml, problems);
  EXPECT_TRUE(problems.empty()) << problems.front().path << ": " << problems.front().message;
  return options().read(Section(doc, "stages[0]"));
}

TEST(ConfigOptions, DefaultsComeFromTheStructInitializers) {
  Schema s;
  options().declare(s);
  auto def = [&](const char* key) { return s.find(key)->default_value.value_or("<none>"); };
  EXPECT_EQ(def("entries"), "65536");
  EXPECT_EQ(def("small"), "7");
  EXPECT_EQ(def("enabled"), "true");
  EXPECT_EQ(def("ratio"), "0.5");
  EXPECT_EQ(def("delay"), "5ms");
  EXPECT_EQ(def("timeout"), "10m");
  EXPECT_EQ(def("budget"), "64MiB");
  EXPECT_EQ(def("label"), "uncertain");
  EXPECT_EQ(def("level"), "info");
  EXPECT_EQ(def("mode"), "safe");
  EXPECT_EQ(def("devices"), "[]");
  EXPECT_EQ(def("model"), "<none>");       // an empty optional: no default
  EXPECT_EQ(def("properties"), "<none>");  // a map: given or absent
  EXPECT_EQ(def("threads"), "0");
  ASSERT_NE(s.find("alert"), nullptr);
  EXPECT_EQ(s.find("alert")->object->find("topic")->default_value, "");
  EXPECT_EQ(def("overload"), "pause");
}

TEST(ConfigOptions, EveryKeyWrittenOnceAppearsInTheSchemaWithItsType) {
  Schema s;
  options().declare(s);
  std::vector<std::string> names;
  for (const Key& k : s.keys()) names.push_back(k.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"entries", "small", "enabled", "ratio", "delay", "timeout",
                                      "budget", "label", "level", "mode", "devices", "model",
                                      "properties", "threads", "alert", "overload"}));
  EXPECT_EQ(s.find("entries")->type, Type::kInt);
  EXPECT_EQ(s.find("enabled")->type, Type::kBool);
  EXPECT_EQ(s.find("ratio")->type, Type::kFloat);
  EXPECT_EQ(s.find("delay")->type, Type::kDuration);
  EXPECT_EQ(s.find("budget")->type, Type::kBytes);
  EXPECT_EQ(s.find("level")->type, Type::kEnum);
  EXPECT_EQ(s.find("mode")->type, Type::kEnum);
  EXPECT_EQ(s.find("mode")->choices, (std::vector<std::string>{"fast", "safe"}));
  EXPECT_EQ(s.find("devices")->type, Type::kStringList);
  EXPECT_EQ(s.find("properties")->type, Type::kStringMap);
  EXPECT_EQ(s.find("alert")->type, Type::kObject);
  EXPECT_EQ(s.find("entries")->description, "Cache entries");
  EXPECT_EQ(s.find("entries")->max, double(1 << 26));
}

TEST(ConfigOptions, AnEmptySectionReadsBackTheStructDefaults) {
  const Opts o = read("{}");
  const Opts d{};
  EXPECT_EQ(o.entries, d.entries);
  EXPECT_EQ(o.delay, d.delay);
  EXPECT_EQ(o.timeout, d.timeout);
  EXPECT_EQ(o.budget, d.budget);
  EXPECT_EQ(o.mode, d.mode);
  EXPECT_EQ(o.label, d.label);
  EXPECT_DOUBLE_EQ(o.ratio, d.ratio);
  EXPECT_FALSE(o.model.has_value());
  EXPECT_FALSE(o.shed);
  EXPECT_TRUE(o.properties.empty());
}

TEST(ConfigOptions, GivenValuesFillTheBoundFields) {
  const Opts o = read(R"({entries: 12, small: -3, enabled: false, ratio: 0.25, delay: 2s,
      timeout: 250us, budget: 16KiB, label: x, level: debug, mode: fast, devices: [0, 1],
      model: /m, properties: {acks: all}, threads: 4, alert: {topic: alerts}, overload: shed})");
  EXPECT_EQ(o.entries, 12);
  EXPECT_EQ(o.small, -3);
  EXPECT_FALSE(o.enabled);
  EXPECT_DOUBLE_EQ(o.ratio, 0.25);
  EXPECT_EQ(o.delay, std::chrono::seconds(2));
  EXPECT_EQ(o.timeout, std::chrono::microseconds(250));
  EXPECT_EQ(o.budget, 16u * 1024);
  EXPECT_EQ(o.label, "x");
  EXPECT_EQ(o.level, "debug");
  EXPECT_EQ(o.mode, Mode::kFast);
  EXPECT_EQ(o.devices, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(o.model, "/m");
  EXPECT_EQ(o.properties, (std::map<std::string, std::string>{{"acks", "all"}}));
  EXPECT_EQ(o.inner.threads, 4);
  EXPECT_EQ(o.topic, "alerts");
  EXPECT_TRUE(o.shed);
}

TEST(ConfigOptions, OutOfRangeValueIsRefusedAtTheKeyPath) {
  std::vector<Problem> problems;
  validated("{entries: -1, ratio: 2, threads: 65, mode: slow}", problems);
  std::map<std::string, std::string> by_path;
  for (const auto& p : problems) by_path[p.path] = p.message;
  EXPECT_EQ(by_path.size(), 4u);
  EXPECT_TRUE(by_path.count("entries"));
  EXPECT_TRUE(by_path.count("ratio"));
  EXPECT_TRUE(by_path.count("threads"));
  EXPECT_NE(by_path["mode"].find("one of fast, safe"), std::string::npos) << by_path["mode"];
}

TEST(ConfigOptions, AValueTheFieldCannotHoldNamesTheKey) {
  try {
    read("{small: 3000000000}");
    FAIL() << "an int32_t took 3000000000";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "small: 3000000000 is out of range");
  }
}

TEST(ConfigOptions, DefaultTextsReadBackAsTheSameValue) {
  for (auto d :
       {std::chrono::nanoseconds(0), std::chrono::nanoseconds(std::chrono::hours(2)),
        std::chrono::nanoseconds(std::chrono::seconds(90)),
        std::chrono::nanoseconds(std::chrono::milliseconds(1500)), std::chrono::nanoseconds(7)})
    EXPECT_EQ(parse_duration_ns(render_duration(d)), d.count()) << render_duration(d);
  for (uint64_t b : {uint64_t{0}, uint64_t{100}, uint64_t{1} << 20, (uint64_t{3} << 30) + 1})
    EXPECT_EQ(parse_bytes(render_bytes(b)), b) << render_bytes(b);
  for (double v : {0.0, 0.5, 1e-3, 123.25}) EXPECT_EQ(parse_float(render_real(v)), v);
}

}  // namespace
}  // namespace sluice::config
