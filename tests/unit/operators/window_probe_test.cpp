// WindowProbe: stage counters, and per-key sentiment gauges bounded to an
// allow-list plus the top-K keys of the latest round.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "operators/window_aggregate_probe.h"

namespace sluice::operators {
namespace {

// Every sample of an exposition: "name{labels}" → value.
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return out;
}

// Sample names (with labels) of one family.
std::vector<std::string> series_of(const std::map<std::string, double>& s,
                                   const std::string& family) {
  std::vector<std::string> out;
  for (const auto& [name, v] : s)
    if (name.rfind(family + "{", 0) == 0) out.push_back(name);
  return out;
}

ClosedWindow window(std::string key, uint64_t negative, uint64_t positive, double score_sum,
                    int64_t end = 60'000) {
  ClosedWindow w;
  w.key = std::move(key);
  w.start_ms = end - 60'000;
  w.end_ms = end;
  w.count = negative + positive;
  w.negative = negative;
  w.positive = positive;
  w.score_sum = score_sum;
  if (negative) w.labels.push_back({"negative", negative});
  if (positive) w.labels.push_back({"positive", positive});
  return w;
}

TEST(WindowProbe, ExportsAllowListedKeysWithLastClosedWindowValues) {
  metrics::Registry reg;
  WindowProbe probe(&reg, "sent", "windows", {{"acme"}, 0});
  std::vector<ClosedWindow> round{window("acme", 1, 3, 3.0), window("beta", 4, 0, 2.0)};
  probe.on_round(round);
  auto s = samples(reg.render());
  EXPECT_EQ(s["sluice_sentiment_records{key=\"acme\",label=\"negative\",pipeline=\"sent\"}"], 1);
  EXPECT_EQ(s["sluice_sentiment_records{key=\"acme\",label=\"positive\",pipeline=\"sent\"}"], 3);
  EXPECT_DOUBLE_EQ(s["sluice_sentiment_negative_ratio{key=\"acme\",pipeline=\"sent\"}"], 0.25);
  EXPECT_DOUBLE_EQ(s["sluice_sentiment_mean_score{key=\"acme\",pipeline=\"sent\"}"], 0.75);
  EXPECT_EQ(series_of(s, "sluice_sentiment_negative_ratio").size(),
            1u);  // beta is not allow-listed
  EXPECT_EQ(s["sluice_window_closed_total{pipeline=\"sent\",stage=\"windows\"}"], 2);

  // Next window: acme had no positive record; the label's gauge drops to 0.
  std::vector<ClosedWindow> next{window("acme", 2, 0, 1.0, 120'000)};
  probe.on_round(next);
  s = samples(reg.render());
  EXPECT_EQ(s["sluice_sentiment_records{key=\"acme\",label=\"negative\",pipeline=\"sent\"}"], 2);
  EXPECT_EQ(s["sluice_sentiment_records{key=\"acme\",label=\"positive\",pipeline=\"sent\"}"], 0);
  EXPECT_DOUBLE_EQ(s["sluice_sentiment_negative_ratio{key=\"acme\",pipeline=\"sent\"}"], 1.0);

  // A round without acme leaves its last values in place.
  std::vector<ClosedWindow> other{window("beta", 1, 1, 1.0, 180'000)};
  probe.on_round(other);
  s = samples(reg.render());
  EXPECT_DOUBLE_EQ(s["sluice_sentiment_negative_ratio{key=\"acme\",pipeline=\"sent\"}"], 1.0);
  EXPECT_EQ(s["sluice_window_closed_total{pipeline=\"sent\",stage=\"windows\"}"], 4);
}

TEST(WindowProbe, ExportsOpinionatedRatioAndWhetherTheKeysLastWindowAlerted) {
  metrics::Registry reg;
  WindowProbe probe(&reg, "sent", "windows", {{"acme", "beta"}, 0});
  ClosedWindow acme = window("acme", 1, 1, 2.0);
  acme.labels.insert(acme.labels.begin() + 1, {"neutral", 2});
  acme.count += 2;
  acme.alert = true;
  std::vector<ClosedWindow> round{acme, window("beta", 0, 3, 3.0)};
  probe.on_round(round);
  auto s = samples(reg.render());
  EXPECT_EQ(s["sluice_sentiment_records{key=\"acme\",label=\"neutral\",pipeline=\"sent\"}"], 2);
  EXPECT_DOUBLE_EQ(s["sluice_sentiment_negative_ratio{key=\"acme\",pipeline=\"sent\"}"], 0.25);
  EXPECT_DOUBLE_EQ(s["sluice_sentiment_negative_ratio_opinionated{key=\"acme\",pipeline=\"sent\"}"],
                   0.5);
  EXPECT_EQ(s["sluice_sentiment_alerting{key=\"acme\",pipeline=\"sent\"}"], 1);
  EXPECT_EQ(s["sluice_sentiment_alerting{key=\"beta\",pipeline=\"sent\"}"], 0);

  std::vector<ClosedWindow> next{window("acme", 0, 4, 4.0, 120'000)};  // calm again
  probe.on_round(next);
  s = samples(reg.render());
  EXPECT_EQ(s["sluice_sentiment_alerting{key=\"acme\",pipeline=\"sent\"}"], 0);
  EXPECT_EQ(s["sluice_sentiment_records{key=\"acme\",label=\"neutral\",pipeline=\"sent\"}"], 0);
}

TEST(WindowProbe, TopKFollowsTheBusiestKeysAndDropsTheOthersSeries) {
  metrics::Registry reg;
  WindowProbe probe(&reg, "p", "w", {{}, 2});
  std::vector<ClosedWindow> r1{window("a", 1, 1, 1), window("b", 5, 5, 5), window("c", 3, 0, 1),
                               window("d", 0, 3, 1)};
  probe.on_round(r1);
  EXPECT_EQ(probe.exported_keys(), (std::vector<std::string>{"b", "c"}));  // ties broken by key
  auto s = samples(reg.render());
  EXPECT_EQ(series_of(s, "sluice_sentiment_mean_score").size(), 2u);
  EXPECT_EQ(s.count("sluice_sentiment_records{key=\"c\",label=\"negative\",pipeline=\"p\"}"), 1u);

  std::vector<ClosedWindow> r2{window("a", 9, 9, 1, 120'000), window("b", 1, 0, 1, 120'000),
                               window("d", 2, 2, 1, 120'000)};
  probe.on_round(r2);
  EXPECT_EQ(probe.exported_keys(), (std::vector<std::string>{"a", "d"}));
  s = samples(reg.render());
  EXPECT_EQ(
      series_of(s, "sluice_sentiment_negative_ratio"),
      (std::vector<std::string>{"sluice_sentiment_negative_ratio{key=\"a\",pipeline=\"p\"}",
                                "sluice_sentiment_negative_ratio{key=\"d\",pipeline=\"p\"}"}));
  EXPECT_EQ(series_of(s, "sluice_sentiment_records").size(), 4u);  // a and d, two labels each
}

TEST(WindowProbe, AllowListAndTopKTogetherStayBounded) {
  metrics::Registry reg;
  WindowProbe probe(&reg, "p", "w", {{"quiet"}, 1});
  std::vector<ClosedWindow> round;
  for (int i = 0; i < 100; ++i)
    round.push_back(window("k" + std::to_string(i), 1, static_cast<uint64_t>(i), 1));
  round.push_back(window("quiet", 1, 0, 1));
  probe.on_round(round);
  EXPECT_EQ(probe.exported_keys(), (std::vector<std::string>{"k99", "quiet"}));
  auto s = samples(reg.render());
  EXPECT_EQ(series_of(s, "sluice_sentiment_mean_score").size(), 2u);
}

TEST(WindowProbe, DestructionRemovesEverySeries) {
  metrics::Registry reg;
  {
    WindowProbe probe(&reg, "p", "w", {{"a"}, 3});
    std::vector<ClosedWindow> round{window("a", 1, 1, 1), window("b", 1, 1, 1)};
    probe.on_round(round);
    EXPECT_EQ(series_of(samples(reg.render()), "sluice_sentiment_records").size(), 4u);
  }
  auto s = samples(reg.render());
  EXPECT_TRUE(series_of(s, "sluice_sentiment_records").empty());
  EXPECT_TRUE(series_of(s, "sluice_sentiment_mean_score").empty());
  EXPECT_TRUE(series_of(s, "sluice_sentiment_negative_ratio_opinionated").empty());
  EXPECT_TRUE(series_of(s, "sluice_sentiment_alerting").empty());
}

TEST(WindowProbe, CountsLateAlertsOverflowAndOpenKeys) {
  metrics::Registry reg;
  WindowProbe probe(&reg, "p", "w", {});
  probe.on_late();
  probe.on_late();
  probe.on_alert();
  probe.on_overflow(5);
  probe.set_open_keys(7);
  auto s = samples(reg.render());
  EXPECT_EQ(s["sluice_window_late_records_total{pipeline=\"p\",stage=\"w\"}"], 2);
  EXPECT_EQ(s["sluice_window_alerts_total{pipeline=\"p\",stage=\"w\"}"], 1);
  EXPECT_EQ(s["sluice_window_overflow_records_total{pipeline=\"p\",stage=\"w\"}"], 5);
  EXPECT_EQ(s["sluice_window_open_keys{pipeline=\"p\",stage=\"w\"}"], 7);
}

TEST(WindowProbe, WithoutRegistryEveryCallIsHarmless) {
  WindowProbe probe(nullptr, "p", "w", {{"a"}, 2});
  std::vector<ClosedWindow> round{window("a", 1, 1, 1)};
  probe.on_round(round);
  probe.on_late();
  probe.set_open_keys(1);
  EXPECT_TRUE(probe.exported_keys().empty());
}

}  // namespace
}  // namespace sluice::operators
