// What the exposition looks like to Prometheus: numbers, escapes and the names the
// registry accepts. The text is prometheus::TextSerializer's (prometheus-cpp 1.0.1);
// these tests pin its format, so an upgrade that changes it shows up here.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "src/metrics/registry.h"

namespace sluice::metrics {
namespace {

// The sample line of a one-gauge registry, without the name.
std::string value(double v) {
  Registry r;
  r.gauge("g", "G.").set(v);
  const std::string body = r.render();
  const auto line = body.rfind("\ng ");
  EXPECT_NE(line, std::string::npos) << body;
  return body.substr(line + 3, body.size() - line - 4);
}

TEST(MetricsExposition, WritesValuesWithSixteenSignificantDigits) {
  EXPECT_EQ(value(0), "0");
  EXPECT_EQ(value(1), "1");
  EXPECT_EQ(value(-1.5), "-1.5");
  EXPECT_EQ(value(0.1), "0.1");
  EXPECT_EQ(value(1e-05), "1e-05");
  EXPECT_EQ(value(0.00025), "0.00025");
  EXPECT_EQ(value(123456789), "123456789");
  EXPECT_EQ(value(200000), "200000");
  EXPECT_EQ(value(-1e6), "-1000000");
  EXPECT_EQ(value(999999999999999), "999999999999999");
  EXPECT_EQ(value(1e15), "1000000000000000");
  EXPECT_EQ(value(1.5e300), "1.5e+300");
  EXPECT_EQ(value(9007199254740992.0), "9007199254740992");  // counts are exact up to 2^53
  EXPECT_EQ(value(1e21), "1e+21");
  EXPECT_EQ(value(0.1 + 0.2), "0.3");  // 0.30000000000000004 to 16 digits
}

TEST(MetricsExposition, WritesSpecialFloatsAsPrometheusReadsThem) {
  EXPECT_EQ(value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(value(-std::numeric_limits<double>::infinity()), "-Inf");
  // Prometheus parses NaN case-insensitively (Go's strconv.ParseFloat).
  EXPECT_EQ(value(std::numeric_limits<double>::quiet_NaN()), "Nan");
  EXPECT_EQ(value(-std::numeric_limits<double>::quiet_NaN()), "Nan");
}

TEST(MetricsExposition, EscapesLabelValuesBackslashQuoteNewline) {
  Registry r;
  r.gauge("g", "G.", {{"v", "a\\b\"c\nd'e\tf"}}).set(1);
  EXPECT_EQ(r.render(), "# HELP g G.\n# TYPE g gauge\ng{v=\"a\\\\b\\\"c\\nd'e\tf\"} 1\n");
}

TEST(MetricsExposition, EscapesHelpBackslashNewlineButNotQuotes) {
  Registry r;
  r.gauge("g", "say \"hi\"\\\nbye").set(1);
  EXPECT_EQ(r.render(), "# HELP g say \"hi\"\\\\\\nbye\n# TYPE g gauge\ng 1\n");
}

TEST(MetricsExposition, AcceptsOnlyPrometheusMetricNames) {
  for (const char* ok : {"a", "_a", ":a", "sluice_records_total", "a:b_c9", "A"}) {
    Registry r;
    EXPECT_NO_THROW(r.gauge(ok, "H.")) << ok;
  }
  for (const char* bad : {"", "9a", "a-b", "a b", "a.b", "é", "a\n"}) {
    Registry r;
    EXPECT_THROW(r.gauge(bad, "H."), std::invalid_argument) << bad;
  }
}

TEST(MetricsExposition, AcceptsOnlyPrometheusLabelNames) {
  for (const char* ok : {"a", "_a", "pipeline", "a_9", "_"}) {
    Registry r;
    EXPECT_NO_THROW(r.gauge("g", "G.", {{ok, "x"}})) << ok;
  }
  for (const char* bad : {"", "__name__", "__a", "9a", "a:b", "a-b", "a b"}) {
    Registry r;
    EXPECT_THROW(r.gauge("g", "G.", {{bad, "x"}}), std::invalid_argument) << bad;
  }
}

TEST(MetricsExposition, AcceptsOnlyValidUtf8InHelpAndLabelValues) {
  for (const char* ok : {"plain", "h\xC3\xA9llo", "\xE6\x97\xA5\xE6\x9C\xAC", "\xF0\x9F\x98\x80",
                         "\xF4\x8F\xBF\xBF"}) {
    Registry r;
    EXPECT_NO_THROW(r.gauge("g", ok, {{"v", ok}})) << ok;
  }
  for (const char* bad : {"\xFF", "\x80", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80",
                          "\xF4\x90\x80\x80", "\xE6\x97", "\xC3("}) {
    Registry r;
    EXPECT_THROW(r.gauge("g", bad), std::invalid_argument) << bad;
    EXPECT_THROW(r.gauge("h", "H.", {{"v", bad}}), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace sluice::metrics
