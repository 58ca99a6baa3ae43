// Recommendation events as they come off a topic: ids of every form are
// canonical text, and every hostile value is a dead-letter code, not a crash.
#include "operators/recommend_event.h"

#include <gtest/gtest.h>

#include "src/core/dead_letter.h"

namespace sluice::operators {
namespace {

namespace code = core::dead_letter_code;

struct Decoded {
  std::string code;  // "ok" or the dead-letter code
  std::string detail;
  RecommendEvent event;
};

Decoded decode(const std::string& value, size_t max_bytes = 1 << 16) {
  EventDecoder d(max_bytes);
  core::Record r = core::Record::owned(std::nullopt, value);
  Decoded out;
  auto err = d.decode(r, out.event);
  out.code = err ? err->code : "ok";
  out.detail = err ? err->detail : "";
  return out;
}

TEST(RecommendEvent, IdsAreStringsOrIntegersKeptAsWritten) {
  auto d = decode(R"({"user": 42, "item": "i7", "ts": 1465000000})");
  ASSERT_EQ(d.code, "ok") << d.detail;
  EXPECT_EQ(d.event.user, "42");
  EXPECT_EQ(d.event.item, "i7");
  EXPECT_EQ(d.event.ts, 1465000000.0);
  EXPECT_FALSE(d.event.rating.has_value());
  d = decode(R"({"user": "42", "item": 7, "ts": 1.5, "rating": 4.5, "type": "view"})");
  ASSERT_EQ(d.code, "ok") << d.detail;
  EXPECT_EQ(d.event.user, "42");  // the same user as the integer 42
  EXPECT_EQ(d.event.item, "7");
  EXPECT_EQ(*d.event.rating, 4.5);
  EXPECT_EQ(d.event.type, "view");
}

TEST(RecommendEvent, HugeUnicodeAndEscapedIdsAreFine) {
  auto d = decode(R"({"user": 123456789012345678901234567890123, "item": -5, "ts": 0})");
  ASSERT_EQ(d.code, "ok") << d.detail;
  EXPECT_EQ(d.event.user, "123456789012345678901234567890123");
  EXPECT_EQ(d.event.item, "-5");
  d = decode("{\"user\": \"\xf0\x9f\x91\xa9\u200d\", \"item\": \"\\u00fc\\n\\\"q\", \"ts\": 3}");
  ASSERT_EQ(d.code, "ok") << d.detail;
  EXPECT_EQ(d.event.user, "\xf0\x9f\x91\xa9\u200d");
  EXPECT_EQ(d.event.item, "\xc3\xbc\n\"q");
  d = decode(R"({"user": ")" + std::string(256, 'u') + R"(", "item": "x", "ts": 1})");
  EXPECT_EQ(d.code, "ok");
  d = decode(R"({"user": ")" + std::string(257, 'u') + R"(", "item": "x", "ts": 1})");
  EXPECT_EQ(d.code, code::kTooLarge);
  EXPECT_NE(d.detail.find("'user' is 257 bytes"), std::string::npos) << d.detail;
}

TEST(RecommendEvent, FirstOfDuplicateKeysCountsAndUnknownFieldsAreIgnored) {
  auto d = decode(R"({"ctx": {"a": [1, {"b": null}]}, "user": "a", "user": "b", "item": 1, "ts": 2,
                     "extra": [true, false]})");
  ASSERT_EQ(d.code, "ok") << d.detail;
  EXPECT_EQ(d.event.user, "a");
}

TEST(RecommendEvent, MissingOrMistypedFieldsAreMissingField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"item": 1, "ts": 1})", "field 'user' not found"},
      {R"({"user": 1, "ts": 1})", "field 'item' not found"},
      {R"({"user": 1, "item": 1})", "field 'ts' not found"},
      {R"({"user": true, "item": 1, "ts": 1})", "'user' is a boolean"},
      {R"({"user": null, "item": 1, "ts": 1})", "'user' is null"},
      {R"({"user": [1], "item": 1, "ts": 1})", "'user' is an array"},
      {R"({"user": {"id": 1}, "item": 1, "ts": 1})", "'user' is an object"},
      {R"({"user": 1.5, "item": 1, "ts": 1})", "'user' is a number with a fraction or exponent"},
      {R"({"user": 1, "item": 1e3, "ts": 1})", "'item' is a number with a fraction or exponent"},
      {R"({"user": "", "item": 1, "ts": 1})", "'user' is empty"},
      {R"({"user": 1, "item": 1, "ts": "yesterday"})", "'ts' is a string"},
      {R"({"user": 1, "item": 1, "ts": 1e400})", "'ts' is out of range"},
      {R"({"user": 1, "item": 1, "ts": 1, "rating": "5"})", "'rating' is a string"},
      {R"({"user": 1, "item": 1, "ts": 1, "type": 3})", "'type' is not a string"},
  };
  for (const auto& [value, detail] : cases) {
    const auto d = decode(value);
    EXPECT_EQ(d.code, code::kMissingField) << value;
    EXPECT_NE(d.detail.find(detail), std::string::npos) << value << " -> " << d.detail;
  }
}

TEST(RecommendEvent, MalformedOversizedAndHostileValuesAreDeadLetterCodes) {
  EXPECT_EQ(decode("").code, code::kEmpty);
  EXPECT_EQ(decode("not json").code, code::kInvalidJson);
  EXPECT_EQ(decode(R"([{"user": 1, "item": 1, "ts": 1}])").code, code::kInvalidJson);
  EXPECT_EQ(decode(R"("user")").code, code::kInvalidJson);
  EXPECT_EQ(decode(R"({"user": 1, "item": 1, "ts": 1)").code, code::kInvalidJson);
  EXPECT_EQ(decode(R"({"user": 1, "item": 1, "ts": 1, "x": [1, 2}})").code, code::kInvalidJson);
  EXPECT_EQ(decode(R"({"user": 1, "item": 1, "ts": 1} {})").code, code::kInvalidJson);
  EXPECT_EQ(decode("{\"user\": \"\xff\xfe\", \"item\": 1, \"ts\": 1}").code, code::kInvalidUtf8);
  const std::string deep = R"({"user": 1, "item": 1, "ts": 1, "x": )" + std::string(5000, '[') +
                           std::string(5000, ']') + "}";
  EXPECT_EQ(decode(deep).code, code::kTooDeep);
  EXPECT_EQ(
      decode(R"({"user": 1, "item": 1, "ts": 1, "pad": ")" + std::string(100, 'x') + "\"}", 64)
          .code,
      code::kTooLarge);
  static const char nul[] = "{\"user\": 1, \"item\": 1, \"ts\": 1, \"a\": \"\0\"}";
  EXPECT_EQ(decode(std::string(nul, sizeof nul - 1)).code, code::kInvalidJson);
}

}  // namespace
}  // namespace sluice::operators
