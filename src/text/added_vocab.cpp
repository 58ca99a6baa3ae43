// Added-token matching: a byte trie walked from each position whose byte can
// start a token (a 256-entry filter skips the rest), longest match wins.
#include "src/text/added_vocab.h"

#include "src/text/unicode.h"

namespace sluice::text::detail {
namespace {

namespace uc = sluice::text::unicode;

// The code point ending just before `pos` (valid UTF-8), and its start.
char32_t char_before(std::string_view t, size_t pos, size_t& start) {
  start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(t[start]) & 0xC0) == 0x80) --start;
  const char* p = t.data() + start;
  return uc::decode(p);
}

char32_t char_at(std::string_view t, size_t pos, size_t& len) {
  const char* p = t.data() + pos;
  const char* q = p;
  const char32_t cp = uc::decode(q);
  len = static_cast<size_t>(q - p);
  return cp;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens,
                                     const std::vector<std::string>& patterns) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& pat = patterns[i];
    if (pat.empty()) continue;
    int32_t n = 0;
    for (const char ch : pat) {
      const auto c = static_cast<uint8_t>(ch);
      int32_t next = -1;
      for (const auto& [b, k] : nodes_[n].kids) {
        if (b == c) next = k;
      }
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_[n].kids.emplace_back(c, next);
        nodes_.emplace_back();
      }
      n = next;
    }
    if (nodes_[n].token >= 0) continue;  // same pattern twice: the first stays
    nodes_[n].token = static_cast<int32_t>(ids_.size());
    ids_.push_back(tokens[i].id);
    flags_.push_back(static_cast<uint8_t>((tokens[i].single_word ? kSingleWord : 0) |
                                          (tokens[i].lstrip ? kLstrip : 0) |
                                          (tokens[i].rstrip ? kRstrip : 0)));
    first_byte_[static_cast<uint8_t>(pat[0])] = true;
  }
}

bool AddedTokenMatcher::find(std::string_view text, size_t from, Match& m) const {
  for (size_t i = from; i < text.size(); ++i) {
    if (!first_byte_[static_cast<uint8_t>(text[i])]) continue;
    int32_t n = 0;
    int32_t best = -1;
    size_t best_end = 0;
    for (size_t j = i; j < text.size(); ++j) {
      const auto c = static_cast<uint8_t>(text[j]);
      int32_t next = -1;
      for (const auto& [b, k] : nodes_[n].kids) {
        if (b == c) {
          next = k;
          break;
        }
      }
      if (next < 0) break;
      n = next;
      if (nodes_[n].token >= 0) {
        best = nodes_[n].token;
        best_end = j + 1;
      }
    }
    if (best >= 0) {
      m = Match{i, best_end, ids_[best], flags_[best]};
      return true;
    }
  }
  return false;
}

bool AddedTokenMatcher::accept(std::string_view text, Match& m, size_t gap_start) const {
  if (m.flags & kSingleWord) {
    size_t at;
    const bool word_before = m.begin > 0 && uc::has(char_before(text, m.begin, at), uc::kWord);
    const bool word_after = m.end < text.size() && uc::has(char_at(text, m.end, at), uc::kWord);
    if (word_before || word_after) return false;
  }
  if (m.flags & kLstrip) {
    size_t b = m.begin;
    size_t start;
    while (b > 0 && uc::has(char_before(text, b, start), uc::kWhiteSpace)) b = start;
    m.begin = b > gap_start ? b : gap_start;
  }
  if (m.flags & kRstrip) {
    size_t len;
    while (m.end < text.size() && uc::has(char_at(text, m.end, len), uc::kWhiteSpace)) m.end += len;
  }
  if (m.begin < gap_start)
    m.begin = gap_start;  // hf would panic ("bad split"); keep splits ordered
  return true;
}

}  // namespace sluice::text::detail
