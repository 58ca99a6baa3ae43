#include "src/kafka/input_format.h"

#include <gtest/gtest.h>

#include <string>

#include "src/core/dead_letter.h"

namespace sluice::kafka {
namespace {

namespace code = core::dead_letter_code;

core::Record record(std::string value) {
  return core::Record::owned(std::nullopt, std::move(value));
}

bool points_into(std::string_view inner, std::string_view outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

InputFormatOptions json_options() {
  InputFormatOptions o;
  o.format = InputFormat::kJson;
  return o;
}

std::string code_of(InputDecoder& d, std::string value) {
  core::Record r = record(std::move(value));
  auto err = d.decode(r);
  return err ? err->code : "ok";
}

TEST(InputFormatRaw, TextIsTheWholeValueWithoutCopying) {
  InputDecoder d({});
  core::Record r = record("hello world");
  ASSERT_FALSE(d.decode(r));
  EXPECT_EQ(r.text(), "hello world");
  EXPECT_TRUE(points_into(r.text(), r.value()));
}

TEST(InputFormatRaw, RejectsEmptyTooLargeAndInvalidUtf8) {
  InputFormatOptions o;
  o.max_record_bytes = 8;
  InputDecoder d(o);
  EXPECT_EQ(code_of(d, ""), code::kEmpty);
  EXPECT_EQ(code_of(d, "123456789"), code::kTooLarge);
  EXPECT_EQ(code_of(d, "12345678"), "ok");
  EXPECT_EQ(code_of(d, "ab\xff"), code::kInvalidUtf8);
  core::Record r = record("123456789");
  EXPECT_EQ(d.decode(r)->detail, "value is 9 bytes, max_record_bytes is 8");
}

TEST(InputFormatRaw, ReplacePolicySubstitutesInvalidBytes) {
  InputFormatOptions o;
  o.invalid_utf8 = Utf8Policy::kReplace;
  InputDecoder d(o);
  core::Record r = record("ok\xff!");
  ASSERT_FALSE(d.decode(r));
  EXPECT_EQ(r.text(), "ok\xEF\xBF\xBD!");
}

TEST(InputFormatJson, ExtractsTextWithoutCopyingWhenUnescaped) {
  InputDecoder d(json_options());
  core::Record r = record(R"({"id": 1, "text": "great phone"} )");
  ASSERT_FALSE(d.decode(r));
  EXPECT_EQ(r.text(), "great phone");
  EXPECT_TRUE(points_into(r.text(), r.value()));
}

TEST(InputFormatJson, UnescapesTextWithEscapes) {
  InputDecoder d(json_options());
  core::Record r = record(R"({"text": "say \"hi\" caf\u00e9\n"})");
  ASSERT_FALSE(d.decode(r));
  EXPECT_EQ(r.text(), "say \"hi\" caf\xC3\xA9\n");
  EXPECT_FALSE(points_into(r.text(), r.value()));
}

TEST(InputFormatJson, ReadsNestedPathsAndIdKeyGroupFields) {
  InputFormatOptions o = json_options();
  o.text_field = "review.body";
  o.id_field = "id";
  o.key_field = "user.name";
  o.group_field = "brand";
  InputDecoder d(o);
  core::Record r = record(
      R"({"brand":"acme","id":12345,"user":{"name":"ann","age":3},"review":{"title":"t","body":"works well"},"tags":[1,{"body":"x"}]})");
  ASSERT_FALSE(d.decode(r));
  EXPECT_EQ(r.text(), "works well");
  EXPECT_EQ(r.id, "12345");
  EXPECT_TRUE(r.has_key());
  EXPECT_EQ(r.key(), "ann");
  EXPECT_EQ(r.group, "acme");
}

TEST(InputFormatJson, StringIdKeepsItsUnescapedValueAndFirstDuplicateWins) {
  InputFormatOptions o = json_options();
  o.id_field = "id";
  InputDecoder d(o);
  core::Record r = record(R"({"id":"a\/b","text":"first","text":"second"})");
  ASSERT_FALSE(d.decode(r));
  EXPECT_EQ(r.id, "a/b");
  EXPECT_EQ(r.text(), "first");
}

TEST(InputFormatJson, MalformedDocumentsAreInvalidJson) {
  InputDecoder d(json_options());
  EXPECT_EQ(code_of(d, R"({"text": "abc")"), code::kInvalidJson);
  EXPECT_EQ(code_of(d, R"({"text": "abc)"), code::kInvalidJson);
  EXPECT_EQ(code_of(d, "not json"), code::kInvalidJson);
  EXPECT_EQ(code_of(d, "nulll"), code::kInvalidJson);
  EXPECT_EQ(code_of(d, "123abc"), code::kInvalidJson);
  EXPECT_EQ(code_of(d, "[1, 2"), code::kInvalidJson);
  EXPECT_EQ(code_of(d, R"({"text": "a",})"), code::kInvalidJson);
  EXPECT_EQ(code_of(d, R"({"text": "a"} {"text": "b"})"), code::kInvalidJson);
  EXPECT_EQ(code_of(d, R"({"text": "a", "n": 01})"), code::kInvalidJson);
  // Malformed after the wanted field: the whole document is validated.
  EXPECT_EQ(code_of(d, R"({"text": "a", "z": [1, 2,]})"), code::kInvalidJson);
  EXPECT_EQ(code_of(d, std::string("{\"text\": \"a\x01\"}")), code::kInvalidJson);
}

TEST(InputFormatJson, AbsentOrNonStringTextIsMissingField) {
  InputDecoder d(json_options());
  EXPECT_EQ(code_of(d, R"({"body": "abc"})"), code::kMissingField);
  EXPECT_EQ(code_of(d, R"({"text": 5})"), code::kMissingField);
  EXPECT_EQ(code_of(d, R"({"text": null})"), code::kMissingField);
  EXPECT_EQ(code_of(d, R"({"text": {"a": "b"}})"), code::kMissingField);
  EXPECT_EQ(code_of(d, R"(["text"])"), code::kMissingField);
  EXPECT_EQ(code_of(d, R"("just a string")"), code::kMissingField);
  EXPECT_EQ(code_of(d, "42"), code::kMissingField);
  core::Record r = record(R"({"body": "abc"})");
  EXPECT_EQ(d.decode(r)->detail, "field 'text' not found");
}

TEST(InputFormatJson, EmptyValueOrEmptyTextIsEmpty) {
  InputDecoder d(json_options());
  EXPECT_EQ(code_of(d, ""), code::kEmpty);
  EXPECT_EQ(code_of(d, R"({"text": ""})"), code::kEmpty);
}

TEST(InputFormatJson, InvalidUtf8AndBinaryGarbage) {
  InputDecoder d(json_options());
  EXPECT_EQ(code_of(d, "{\"text\": \"caf\xe9\"}"), code::kInvalidUtf8);
  EXPECT_EQ(code_of(d, std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16)), code::kInvalidUtf8);
  // Bytes that are valid UTF-8 but not JSON.
  EXPECT_EQ(code_of(d, std::string("\0\x01\x02\x03", 4)), code::kInvalidJson);
}

TEST(InputFormatJson, ReplacePolicyCopiesTheRepairedText) {
  InputFormatOptions o = json_options();
  o.invalid_utf8 = Utf8Policy::kReplace;
  InputDecoder d(o);
  core::Record r = record("{\"text\": \"caf\xe9!\"}");
  ASSERT_FALSE(d.decode(r));
  EXPECT_EQ(r.text(), "caf\xEF\xBF\xBD!");
}

// 70,000 nested arrays (140 KB) or 50,000 nested objects used to overflow
// the stack of a recursive walk. The limit is simdjson's DOM limit (1023
// nested containers): whatever sluice accepts, a simdjson DOM reader of the
// same value accepts too.
TEST(InputFormatJson, DeeplyNestedJsonIsDeadLetteredNotACrash) {
  InputDecoder d(json_options());
  auto nested_arrays = [](size_t n) { return std::string(n, '[') + std::string(n, ']'); };
  auto nested_objects = [](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += R"({"a":)";
    s += "1";
    s += std::string(n, '}');
    return s;
  };
  EXPECT_EQ(code_of(d, R"({"text":"ok","deep":)" + nested_arrays(70000) + "}"), code::kTooDeep);
  EXPECT_EQ(code_of(d, nested_arrays(70000)), code::kTooDeep);
  EXPECT_EQ(code_of(d, R"({"text":"ok","deep":)" + nested_objects(50000) + "}"), code::kTooDeep);
  EXPECT_EQ(code_of(d, nested_objects(50000)), code::kTooDeep);
  // Unbalanced: simdjson's structural pass sees it is malformed before any walk.
  EXPECT_EQ(code_of(d, std::string(70000, '[')), code::kInvalidJson);
  core::Record r = record(nested_arrays(2000));
  EXPECT_EQ(d.decode(r)->detail, "JSON nested deeper than 1023 objects and arrays");

  // The root object is level 1: 1023 levels in all are fine, 1024 are not.
  const std::string ok = R"({"text":"ok","deep":)" + nested_arrays(1022) + "}";
  EXPECT_EQ(code_of(d, ok), "ok");
  EXPECT_EQ(code_of(d, R"({"text":"ok","deep":)" + nested_arrays(1023) + "}"), code::kTooDeep);
  EXPECT_EQ(code_of(d, R"({"deep":)" + nested_objects(1022) + R"(,"text":"after"})"), "ok");
  EXPECT_EQ(code_of(d, R"({"deep":)" + nested_objects(1023) + R"(,"text":"after"})"),
            code::kTooDeep);
  // The decoder is reusable after a rejection.
  core::Record good = record(R"({"text":"still works"})");
  ASSERT_FALSE(d.decode(good));
  EXPECT_EQ(good.text(), "still works");
}

TEST(InputFormatJson, NumbersOutsideDoubleRangeAnywhereKeepTheRecord) {
  InputFormatOptions o = json_options();
  o.id_field = "id";
  InputDecoder d(o);
  core::Record r =
      record(R"({"id":1e400,"n":-1e999,"big":123456789012345678901234567890,"tiny":1e-400,)"
             R"("a":[1E+400,{"x":-98765432109876543210987654321.5e30}],"text":"fine"})");
  ASSERT_FALSE(d.decode(r));
  EXPECT_EQ(r.text(), "fine");
  EXPECT_EQ(r.id, "1e400");
  // Still validated: what is not a JSON number stays invalid JSON.
  for (const char* bad : {"01", "-01", "1.", ".5", "-", "1e", "1e+", "+1", "1.5x", "0x10",
                          "-Infinity", "1.e5", "1ee5", "--1"}) {
    EXPECT_EQ(code_of(d, std::string(R"({"text":"fine","n":)") + bad + "}"), code::kInvalidJson)
        << bad;
  }
  for (const char* good : {"0", "-0", "0.5", "-0.0e-0", "10E10", "1e+999999999999999999999"}) {
    EXPECT_EQ(code_of(d, std::string(R"({"text":"fine","n":)") + good + "}"), "ok") << good;
  }
}

// An id, key or group must be a string, number or boolean: a container has
// no canonical text (whitespace, key order), so a record carrying one is
// dead-lettered with the reason instead of being given the id "{".
TEST(InputFormatJson, ObjectOrArrayIdKeyOrGroupIsMissingFieldNotABrace) {
  InputFormatOptions o = json_options();
  o.id_field = "id";
  o.key_field = "key";
  o.group_field = "group";
  InputDecoder d(o);
  core::Record r = record(R"({"id":{"a":1},"text":"fine"})");
  auto err = d.decode(r);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, std::string(code::kMissingField));
  EXPECT_EQ(err->detail, "field 'id' is an object, not a string, number or boolean");
  r = record(R"({"key":[1,2],"text":"fine"})");
  err = d.decode(r);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->detail, "field 'key' is an array, not a string, number or boolean");
  EXPECT_EQ(code_of(d, R"({"group":{},"text":"fine"})"), code::kMissingField);
  // Scalars are kept as written (strings unescaped); null counts as absent.
  r = record(R"({"id":true,"key":-1.5e3,"group":null,"text":"fine"})");
  ASSERT_FALSE(d.decode(r));
  EXPECT_EQ(r.id, "true");
  EXPECT_EQ(r.key(), "-1.5e3");
  EXPECT_EQ(r.group, "");
}

TEST(InputFormatJson, RejectsUnusableFieldPaths) {
  InputFormatOptions o = json_options();
  o.text_field = "a..b";
  EXPECT_THROW(InputDecoder{o}, std::invalid_argument);
  o.text_field = "x.";
  EXPECT_THROW(InputDecoder{o}, std::invalid_argument);
}

// text_field "" (recommend_state's events): the object is validated exactly
// as with a text field, nothing is required of its fields.
TEST(InputFormatJson, EmptyTextFieldValidatesTheObjectOnly) {
  InputFormatOptions o = json_options();
  o.text_field = "";
  o.id_field = "user";
  InputDecoder d(o);
  core::Record r = record(R"({"user": 42, "item": "i7", "ts": 1, "ctx": {"a": [1, 2]}})");
  EXPECT_FALSE(d.decode(r).has_value());
  EXPECT_EQ(r.id, "42");
  EXPECT_EQ(r.text(), "");
  EXPECT_EQ(code_of(d, R"({"no": "fields we know"})"), "ok");
  EXPECT_EQ(code_of(d, R"([1, 2])"), code::kInvalidJson);  // not an object
  EXPECT_EQ(code_of(d, R"("text")"), code::kInvalidJson);
  EXPECT_EQ(code_of(d, R"({"user": 1,})"), code::kInvalidJson);
  EXPECT_EQ(code_of(d, R"({"user": 1} trailing)"), code::kInvalidJson);
  EXPECT_EQ(code_of(d, std::string(2000, '[') + std::string(2000, ']')), code::kTooDeep);
  EXPECT_EQ(code_of(d, R"({"user": {"nested": 1}})"), code::kMissingField);  // an object id
  EXPECT_EQ(code_of(d, ""), code::kEmpty);
}

TEST(ReplaceInvalidUtf8, SubstitutesMaximalSubparts) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(replace_invalid_utf8("plain"), "plain");
  EXPECT_EQ(replace_invalid_utf8("\xC3\xA9"), "\xC3\xA9");
  EXPECT_EQ(replace_invalid_utf8("\xC3("), r + "(");
  EXPECT_EQ(replace_invalid_utf8("\xE2\x82"), r);              // truncated 3-byte sequence
  EXPECT_EQ(replace_invalid_utf8("\xC0\xAF"), r + r);          // overlong
  EXPECT_EQ(replace_invalid_utf8("\xED\xA0\x80"), r + r + r);  // surrogate
  EXPECT_EQ(replace_invalid_utf8("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(replace_invalid_utf8("\xF4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
}

}  // namespace
}  // namespace sluice::kafka
