// Added tokens ([CLS], <mask>, user tokens): found in the text before the
// model runs, as Hugging Face's AddedVocabulary does. Tokens with
// normalized=false are matched in the raw text, the others in each normalized
// gap; matching is leftmost-longest and non-overlapping, then single_word,
// lstrip and rstrip apply. Immutable after construction; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::text::detail {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// One set of patterns (raw or normalized) in a byte trie.
class AddedTokenMatcher {
 public:
  // `patterns[i]` is what is searched for tokens[i] (its content, or its
  // normalized form). Empty patterns are ignored.
  AddedTokenMatcher() = default;
  AddedTokenMatcher(const std::vector<AddedToken>& tokens,
                    const std::vector<std::string>& patterns);

  bool empty() const { return nodes_.size() <= 1; }

  // Walks text, calling on_gap(begin, end) for every non-empty stretch without
  // a token and on_token(id) for each token, in order. Either callback returns
  // false to stop early; split() then returns false.
  template <class OnGap, class OnToken>
  bool split(std::string_view text, OnGap&& on_gap, OnToken&& on_token) const {
    size_t gap_start = 0;  // HF's start_offset
    size_t pos = 0;
    Match m;
    while (find(text, pos, m)) {
      pos = m.end;  // the next search starts after this match, even a discarded one
      if (!accept(text, m, gap_start)) continue;
      if (gap_start < m.begin && !on_gap(gap_start, m.begin)) return false;
      if (m.begin < m.end && !on_token(m.id)) return false;
      gap_start = m.end;
    }
    if (gap_start < text.size() && !on_gap(gap_start, text.size())) return false;
    return true;
  }

 private:
  struct Match {
    size_t begin, end;
    int32_t id;
    uint8_t flags;
  };
  enum : uint8_t { kSingleWord = 1, kLstrip = 2, kRstrip = 4 };
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> kids;
    int32_t token = -1;  // index into ids_/flags_
  };

  bool find(std::string_view text, size_t from, Match& m) const;
  // single_word check, then lstrip / rstrip widening; false: discard.
  bool accept(std::string_view text, Match& m, size_t gap_start) const;

  std::vector<Node> nodes_{1};
  std::vector<int32_t> ids_;
  std::vector<uint8_t> flags_;
  bool first_byte_[256] = {};
};

}  // namespace sluice::text::detail
