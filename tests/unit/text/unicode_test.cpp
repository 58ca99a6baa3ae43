// Unicode layer: UTF-8 repair, normalization primitives, and the per-version
// character classes Hugging Face tokenizers uses.
#include "src/text/unicode.h"

#include <gtest/gtest.h>

#include "src/text/normalizer.h"

namespace sluice::text::unicode {
namespace {

std::string repaired(std::string_view s) {
  std::string out;
  append_replacing_invalid(s, out);
  return out;
}

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8, ValidTextIsValidToTheEnd) {
  const std::string s = "plain ascii, caf\xC3\xA9, \xE4\xB8\xAD, \xF0\x9F\x99\x82";
  EXPECT_EQ(valid_utf8_prefix(s), s.size());
  EXPECT_EQ(repaired(s), s);
}

TEST(Utf8, EachMaximalInvalidSubpartBecomesOneReplacementChar) {
  EXPECT_EQ(repaired("a\xFF"
                     "b"),
            "a" + kFffd + "b");                                // never a lead byte
  EXPECT_EQ(repaired("a\xE2\x82"), "a" + kFffd);               // truncated 3-byte sequence
  EXPECT_EQ(repaired("\xF0\x9F\x98x"), kFffd + "x");           // truncated 4-byte sequence
  EXPECT_EQ(repaired("\xC0\xAF"), kFffd + kFffd);              // overlong lead, lone continuation
  EXPECT_EQ(repaired("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // UTF-16 surrogate
  EXPECT_EQ(repaired("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // above U+10FFFF
  EXPECT_EQ(repaired("\xE0\x80\x80"), kFffd + kFffd + kFffd);              // overlong 3-byte
  EXPECT_EQ(valid_utf8_prefix("abcdefghij\x80"), 10u);
}

TEST(Utf8, DecodeAndEncodeRoundTripEveryScalarValue) {
  for (char32_t cp = 0; cp <= kMaxCodePoint; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string s;
    append_utf8(cp, s);
    ASSERT_EQ(valid_utf8_prefix(s), s.size()) << std::hex << static_cast<uint32_t>(cp);
    const char* p = s.data();
    ASSERT_EQ(static_cast<uint32_t>(decode(p)), static_cast<uint32_t>(cp));
    ASSERT_EQ(p, s.data() + s.size());
  }
}

TEST(UnicodeTables, CanonicalAndCompatibilityDecompositions) {
  char32_t d[kMaxDecomposition];
  ASSERT_EQ(decompose(U'\u00E9', false, d), 2);  // é = e + U+0301
  EXPECT_EQ(d[0], U'e');
  EXPECT_EQ(d[1], U'\u0301');
  ASSERT_EQ(decompose(U'\uD55C', false, d), 3);  // 한 = ᄒ ᅡ ᆫ (arithmetic)
  EXPECT_EQ(d[0], U'\u1112');
  EXPECT_EQ(d[1], U'\u1161');
  EXPECT_EQ(d[2], U'\u11AB');
  EXPECT_EQ(decompose(U'\uFB01', false, d), 1);  // ﬁ: compatibility only
  EXPECT_EQ(decompose(U'\uFB01', true, d), 2);
  EXPECT_EQ(decompose(U'\uFDFA', true, d), 18);  // the longest one
  EXPECT_EQ(compose(U'e', U'\u0301'), U'\u00E9');
  EXPECT_EQ(compose(U'\u1112', U'\u1161'), U'\uD558');
  EXPECT_EQ(compose(U'\uD558', U'\u11AB'), U'\uD55C');
  EXPECT_EQ(compose(U'\u0915', U'\u093C'), 0u);  // क़ is excluded from composition
}

TEST(UnicodeTables, LowercaseIsRustsCharToLowercase) {
  char32_t out[3];
  ASSERT_EQ(to_lower(U'A', out), 1);
  EXPECT_EQ(out[0], U'a');
  ASSERT_EQ(to_lower(U'\u03A3', out), 1);  // Σ -> σ, never the final form
  EXPECT_EQ(out[0], U'\u03C3');
  ASSERT_EQ(to_lower(U'\u0130', out), 2);  // İ -> i + combining dot above
  EXPECT_EQ(out[0], U'i');
  EXPECT_EQ(out[1], U'\u0307');
  ASSERT_EQ(to_lower(U'\u212A', out), 1);  // Kelvin sign -> k
  EXPECT_EQ(out[0], U'k');
}

// HF's BERT classes come from Unicode 8.0 tables: characters assigned later
// keep their "not punctuation / not a mark / not control" status.
TEST(UnicodeTables, BertClassesFollowUnicode8) {
  EXPECT_TRUE(has(U'\u00A7', kBertPunct));     // §
  EXPECT_TRUE(has(U'$', kBertPunct));          // ASCII symbols count
  EXPECT_FALSE(has(U'\u20AC', kBertPunct));    // € is a symbol
  EXPECT_FALSE(has(U'\u2E43', kBertPunct));    // punctuation since Unicode 10
  EXPECT_TRUE(has(U'\uFE0F', kMn8));           // variation selector 16
  EXPECT_FALSE(has(U'\u0D3B', kMn8));          // a mark since Unicode 10
  EXPECT_TRUE(has(U'\u200D', kBertControl));   // ZWJ is Cf
  EXPECT_TRUE(has(U'\uE123', kBertControl));   // private use, whole range
  EXPECT_FALSE(has(U'\u0378', kBertControl));  // unassigned is not "other" there
  EXPECT_TRUE(has(U'\u3000', kWhiteSpace));
  EXPECT_FALSE(has(U'\u200B', kWhiteSpace));
  EXPECT_TRUE(has(U'\u4E2D', kChinese));
  EXPECT_FALSE(has(U'\U0002B820', kChinese));  // HF's ranges skip 2B820..2B91F
}

std::string normalize(const sluice::text::detail::Normalizer& n, std::string_view s) {
  sluice::text::detail::NormScratch scratch;
  std::string out;
  n.normalize(s, out, scratch);
  return out;
}

TEST(Normalizers, BertUncasedCleansSplitsChineseStripsAndLowercases) {
  const auto bert = sluice::text::detail::make_bert_normalizer(true, true, true, true);
  EXPECT_EQ(normalize(*bert, "Caf\xC3\xA9\tOK\x01!"), "cafe ok!");
  EXPECT_EQ(normalize(*bert,
                      "a\xE4\xB8\xAD"
                      "b"),
            "a \xE4\xB8\xAD b");                               // 中 spaced out
  EXPECT_EQ(normalize(*bert, "\xC4\xB0stanbul"), "istanbul");  // strip before lowercase
  EXPECT_EQ(normalize(*bert,
                      "a\xE2\x80\x8B"
                      "b\xEF\xBF\xBD"),
            "ab");                                  // ZWSP, U+FFFD dropped
  EXPECT_EQ(normalize(*bert, "x\xC2\x85y"), "xy");  // U+0085: control wins
}

TEST(Normalizers, UnicodeFormsComposeAndDecompose) {
  const auto nfc =
      sluice::text::detail::make_unicode_normalizer(sluice::text::detail::UnicodeForm::kNfc);
  const auto nfd =
      sluice::text::detail::make_unicode_normalizer(sluice::text::detail::UnicodeForm::kNfd);
  const auto nfkc =
      sluice::text::detail::make_unicode_normalizer(sluice::text::detail::UnicodeForm::kNfkc);
  EXPECT_EQ(normalize(*nfc, "e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(normalize(*nfd, "\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(normalize(*nfc, "a\xCC\x87\xCC\xA3"),
            "\xE1\xBA\xA1\xCC\x87");  // reordered, then ạ composed
  EXPECT_EQ(normalize(*nfkc,
                      "\xEF\xAC\x81"
                      "x\xEF\xBC\xA1"),
            "fixA");  // ﬁ, fullwidth A
}

}  // namespace
}  // namespace sluice::text::unicode
