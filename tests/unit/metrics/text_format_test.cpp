#include "src/metrics/text_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace sluice::metrics {
namespace {

std::string value(double v) {
  std::string s;
  append_value(s, v);
  return s;
}

TEST(MetricsTextFormat, FormatsValuesAsShortestRoundTrip) {
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
  EXPECT_EQ(value(1e15), "1e+15");
  EXPECT_EQ(value(1.5e300), "1.5e+300");
  EXPECT_EQ(value(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(value(1e21), "1e+21");
  EXPECT_EQ(value(0.1 + 0.2), "0.30000000000000004");
}

TEST(MetricsTextFormat, FormatsSpecialFloatsAsPrometheusExpects) {
  EXPECT_EQ(value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(value(-std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(MetricsTextFormat, EscapesLabelValuesBackslashQuoteNewline) {
  std::string out;
  append_escaped_label_value(out, "a\\b\"c\nd'e\tf");
  EXPECT_EQ(out, "a\\\\b\\\"c\\nd'e\tf");
}

TEST(MetricsTextFormat, EscapesHelpBackslashNewlineButNotQuotes) {
  std::string out;
  append_escaped_help(out, "say \"hi\"\\\nbye");
  EXPECT_EQ(out, "say \"hi\"\\\\\\nbye");
}

TEST(MetricsTextFormat, ValidatesMetricNames) {
  for (const char* ok : {"a", "_a", ":a", "sluice_records_total", "a:b_c9", "A"}) {
    EXPECT_TRUE(is_valid_metric_name(ok)) << ok;
  }
  for (const char* bad : {"", "9a", "a-b", "a b", "a.b", "é", "a\n"}) {
    EXPECT_FALSE(is_valid_metric_name(bad)) << bad;
  }
}

TEST(MetricsTextFormat, ValidatesLabelNames) {
  for (const char* ok : {"a", "_a", "pipeline", "a_9", "_"}) {
    EXPECT_TRUE(is_valid_label_name(ok)) << ok;
  }
  for (const char* bad : {"", "__name__", "__a", "9a", "a:b", "a-b", "a b"}) {
    EXPECT_FALSE(is_valid_label_name(bad)) << bad;
  }
}

TEST(MetricsTextFormat, ValidatesUtf8) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("h\xC3\xA9llo"));              // é
  EXPECT_TRUE(is_valid_utf8("\xE6\x97\xA5\xE6\x9C\xAC"));  // 日本
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));          // U+1F600
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));          // U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xFF"));
  EXPECT_FALSE(is_valid_utf8("\x80"));              // lone continuation byte
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(is_valid_utf8("\xE6\x97"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\xC3("));             // bad continuation
}

}  // namespace
}  // namespace sluice::metrics
