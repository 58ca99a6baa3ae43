// Unicode facts the tokenizers need, at the versions Hugging Face `tokenizers`
// uses (see gen_unicode_tables.py for why there are three), and UTF-8 helpers.
// Tables are generated at build time from Debian's Unicode Character Database;
// nothing here allocates, everything is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::text::unicode {

// Per-code-point flags; the generator writes the same bit values.
enum Flag : uint16_t {
  kBertControl = 1 << 0,    // Cc | Cf | Co as of Unicode 8.0 (BertNormalizer clean_text)
  kWhiteSpace = 1 << 1,     // White_Space (Rust char::is_whitespace, regex \s)
  kBertPunct = 1 << 2,      // ASCII punctuation or P* as of 8.0 (BertPreTokenizer)
  kMn8 = 1 << 3,            // Mn as of 8.0 (BertNormalizer strip_accents)
  kMark9 = 1 << 4,          // M* as of 9.0 (StripAccents normalizer)
  kWord = 1 << 5,           // regex \w
  kLetter = 1 << 6,         // \p{L}
  kNumber = 1 << 7,         // \p{N}
  kChinese = 1 << 8,        // BertNormalizer's CJK ranges
  kCanonDecomp = 1 << 9,    // has a canonical decomposition (9.0)
  kCompatDecomp = 1 << 10,  // has a compatibility decomposition (9.0)
  kLowerMulti = 1 << 11,    // lowercases to more than one code point
  kAssigned9 = 1 << 12,     // assigned by Unicode 9.0
};

struct UcdRecord {
  uint16_t flags;
  uint8_t ccc;  // canonical combining class (9.0)
  int32_t lower_delta;
};

namespace detail {
constexpr int kUcdBlockShift = 8;
extern const uint16_t kUcdStage1[];
extern const uint16_t kUcdStage2[];
extern const UcdRecord kUcdRecords[];
}  // namespace detail

constexpr char32_t kReplacementChar = 0xFFFD;
constexpr char32_t kMaxCodePoint = 0x10FFFF;
// Longest full decomposition of one code point (U+FDFA, compatibility: 18).
constexpr int kMaxDecomposition = 18;

inline const UcdRecord& record(char32_t cp) {
  using namespace detail;
  const uint32_t block = kUcdStage1[cp >> kUcdBlockShift];
  return kUcdRecords[kUcdStage2[(block << kUcdBlockShift) | (cp & ((1u << kUcdBlockShift) - 1))]];
}
inline uint16_t flags(char32_t cp) { return record(cp).flags; }
inline bool has(char32_t cp, uint16_t flag) { return (flags(cp) & flag) != 0; }
inline uint8_t combining_class(char32_t cp) { return record(cp).ccc; }

// Full (recursive) canonical or compatibility decomposition of `cp` into `out`
// (room for kMaxDecomposition); returns the count (1 and cp itself when none).
int decompose(char32_t cp, bool compat, char32_t* out);
// The primary composite of a + b, or 0 when there is none (NFC/NFKC).
char32_t compose(char32_t a, char32_t b);
// Rust's char::to_lowercase: writes 1..3 code points to out, returns the count.
int to_lower(char32_t cp, char32_t* out);

// ---- UTF-8 -------------------------------------------------------------

// Length of the longest valid UTF-8 prefix of s (== s.size() when valid).
size_t valid_utf8_prefix(std::string_view s);
// Appends s to out with every maximal invalid subsequence replaced by U+FFFD
// (Unicode's "maximal subpart" practice, as WHATWG TextDecoder and Python's
// errors="replace" do).
void append_replacing_invalid(std::string_view s, std::string& out);

// Decodes the code point at p (which must be valid UTF-8) and advances p.
inline char32_t decode(const char*& p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  const unsigned b0 = u[0];
  if (b0 < 0x80) {
    p += 1;
    return b0;
  }
  if (b0 < 0xE0) {
    p += 2;
    return ((b0 & 0x1F) << 6) | (u[1] & 0x3F);
  }
  if (b0 < 0xF0) {
    p += 3;
    return ((b0 & 0x0F) << 12) | ((u[1] & 0x3F) << 6) | (u[2] & 0x3F);
  }
  p += 4;
  return ((b0 & 0x07) << 18) | ((u[1] & 0x3F) << 12) | ((u[2] & 0x3F) << 6) | (u[3] & 0x3F);
}

// Appends the UTF-8 encoding of cp (a scalar value) to out.
inline void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    const char b[2] = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    out.append(b, 2);
  } else if (cp < 0x10000) {
    const char b[3] = {static_cast<char>(0xE0 | (cp >> 12)),
                       static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                       static_cast<char>(0x80 | (cp & 0x3F))};
    out.append(b, 3);
  } else {
    const char b[4] = {
        static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
        static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
    out.append(b, 4);
  }
}

// Number of code points in valid UTF-8.
inline size_t count_chars(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace sluice::text::unicode
