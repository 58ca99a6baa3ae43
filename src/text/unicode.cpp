// Unicode tables (generated) and the UTF-8 / normalization primitives over them.
#include "src/text/unicode.h"

#include <algorithm>
#include <iterator>

namespace sluice::text::unicode {
namespace {

struct UcdDecomposition {
  char32_t cp;
  uint32_t offset;  // into the matching pool
  uint32_t length;
};

struct UcdComposition {
  uint64_t pair;  // first << 21 | second
  char32_t composite;
};

}  // namespace

namespace detail {
#include "unicode_tables.inc"
}  // namespace detail

namespace {

using detail::kUcdCanonical;
using detail::kUcdCanonicalPool;
using detail::kUcdCompat;
using detail::kUcdCompatPool;
using detail::kUcdCompositions;
using detail::kUcdLowerMulti;
using detail::kUcdLowerMultiPool;

// Hangul syllables decompose and compose arithmetically (Unicode ch. 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr char32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

template <size_t N>
const UcdDecomposition* find(const UcdDecomposition (&table)[N], char32_t cp) {
  const auto* it = std::lower_bound(std::begin(table), std::end(table), cp,
                                    [](const UcdDecomposition& d, char32_t c) { return d.cp < c; });
  return (it != std::end(table) && it->cp == cp) ? it : nullptr;
}

}  // namespace

int decompose(char32_t cp, bool compat, char32_t* out) {
  if (cp - kSBase < kSCount) {
    const char32_t s = cp - kSBase;
    out[0] = kLBase + s / kNCount;
    out[1] = kVBase + (s % kNCount) / kTCount;
    if (s % kTCount == 0) return 2;
    out[2] = kTBase + s % kTCount;
    return 3;
  }
  const uint16_t f = flags(cp);
  if (!(f & (compat ? kCompatDecomp : kCanonDecomp))) {
    out[0] = cp;
    return 1;
  }
  const UcdDecomposition* d = compat ? find(kUcdCompat, cp) : find(kUcdCanonical, cp);
  const char32_t* pool = compat ? kUcdCompatPool : kUcdCanonicalPool;
  std::copy_n(pool + d->offset, d->length, out);
  return static_cast<int>(d->length);
}

char32_t compose(char32_t a, char32_t b) {
  if (a - kLBase < kLCount && b - kVBase < kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a - kSBase < kSCount && (a - kSBase) % kTCount == 0 && b - kTBase - 1 < kTCount - 1) {
    return a + (b - kTBase);
  }
  const uint64_t key = (static_cast<uint64_t>(a) << 21) | b;
  const auto* it = std::lower_bound(std::begin(kUcdCompositions), std::end(kUcdCompositions), key,
                                    [](const UcdComposition& c, uint64_t k) { return c.pair < k; });
  return (it != std::end(kUcdCompositions) && it->pair == key) ? it->composite : 0;
}

int to_lower(char32_t cp, char32_t* out) {
  const UcdRecord& r = record(cp);
  if (r.flags & kLowerMulti) {
    const UcdDecomposition* d = find(kUcdLowerMulti, cp);
    std::copy_n(kUcdLowerMultiPool + d->offset, d->length, out);
    return static_cast<int>(d->length);
  }
  out[0] = static_cast<char32_t>(static_cast<int32_t>(cp) + r.lower_delta);
  return 1;
}

namespace {

// Length of the valid sequence at s[i] (1..4), or 0 with `bad` set to the
// length of the maximal invalid subpart to replace by one U+FFFD.
inline size_t sequence_length(const unsigned char* s, size_t n, size_t& bad) {
  const unsigned b0 = s[0];
  if (b0 < 0x80) return 1;
  size_t need;
  unsigned lo = 0x80, hi = 0xBF;  // range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    bad = 1;
    return 0;
  }
  for (size_t k = 1; k <= need; ++k) {
    const unsigned lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xBF;
    if (k >= n || s[k] < lo_k || s[k] > hi_k) {
      bad = k;
      return 0;
    }
  }
  return need + 1;
}

}  // namespace

size_t valid_utf8_prefix(std::string_view sv) {
  const auto* s = reinterpret_cast<const unsigned char*>(sv.data());
  const size_t n = sv.size();
  size_t i = 0;
  while (i < n) {
    // Eight ASCII bytes at a time: the common case for message text.
    while (i + 8 <= n) {
      uint64_t w;
      __builtin_memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    size_t bad = 0;
    const size_t len = sequence_length(s + i, n - i, bad);
    if (len == 0) return i;
    i += len;
  }
  return n;
}

void append_replacing_invalid(std::string_view sv, std::string& out) {
  const auto* s = reinterpret_cast<const unsigned char*>(sv.data());
  const size_t n = sv.size();
  size_t i = 0;
  while (i < n) {
    const size_t valid = valid_utf8_prefix(sv.substr(i));
    out.append(sv.data() + i, valid);
    i += valid;
    if (i >= n) break;
    size_t bad = 0;
    sequence_length(s + i, n - i, bad);
    append_utf8(kReplacementChar, out);
    i += bad;
  }
}

}  // namespace sluice::text::unicode
