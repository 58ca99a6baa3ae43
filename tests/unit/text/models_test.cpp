// The two models on small vocabularies where every answer can be worked out
// by hand, and Fast WordPiece against Hugging Face's reference loop on every
// word of a small alphabet and on random words with BERT's vocabulary.
#include <gtest/gtest.h>
#include <malloc.h>

#include <random>

#include "src/text/bpe.h"
#include "src/text/wordpiece.h"
#include "tests/support/text_test_util.h"

namespace sluice::text::detail {
namespace {

Vocab make_vocab(std::initializer_list<const char*> tokens) {
  Vocab v;
  int32_t id = 0;
  for (const char* t : tokens) v[t] = id++;
  return v;
}

std::vector<int32_t> wp(const WordPiece& m, std::string_view w) {
  std::vector<int32_t> out;
  m.tokenize(w, out);
  return out;
}

// Every word over {a, b, c, #} up to length 7: the linear-time matcher must
// agree with the greedy longest-match-first loop everywhere.
void expect_fast_equals_reference_exhaustively(const WordPiece& m) {
  const char alphabet[] = {'a', 'b', 'c', '#'};
  std::string w;
  std::vector<int32_t> fast, ref;
  for (int len = 1; len <= 7; ++len) {
    int total = 1;
    for (int k = 0; k < len; ++k) total *= 4;
    for (int code = 0; code < total; ++code) {
      w.clear();
      for (int k = 0, c = code; k < len; ++k, c /= 4) w.push_back(alphabet[c % 4]);
      fast.clear();
      ref.clear();
      m.tokenize(w, fast);
      m.tokenize_reference(w, ref);
      ASSERT_EQ(fast, ref) << "word '" << w << "'";
    }
  }
}

TEST(WordPiece, GreedyLongestMatchFirstWithContinuationPrefix) {
  const WordPiece m(make_vocab({"[UNK]", "a", "ab", "abc", "##b", "##bc", "##c", "##a"}), "[UNK]",
                    "##", 100);
  EXPECT_EQ(wp(m, "abc"), (std::vector<int32_t>{3}));
  EXPECT_EQ(wp(m, "abcbc"), (std::vector<int32_t>{3, 5}));
  EXPECT_EQ(wp(m, "aa"), (std::vector<int32_t>{1, 7}));
  EXPECT_EQ(wp(m, "abca"), (std::vector<int32_t>{3, 7}));
}

TEST(WordPiece, OneUnmatchedPositionMakesTheWholeWordUnknown) {
  const WordPiece m(make_vocab({"[UNK]", "a", "##b"}), "[UNK]", "##", 100);
  EXPECT_EQ(wp(m, "abz"), (std::vector<int32_t>{0}));
  EXPECT_EQ(wp(m, "z"), (std::vector<int32_t>{0}));
}

TEST(WordPiece, WordsLongerThanMaxInputCharsAreUnknown) {
  const WordPiece m(make_vocab({"[UNK]", "a", "##a", "\xC3\xA9", "##\xC3\xA9"}), "[UNK]", "##", 3);
  EXPECT_EQ(wp(m, "aaa"), (std::vector<int32_t>{1, 2, 2}));
  EXPECT_EQ(wp(m, "aaaa"), (std::vector<int32_t>{0}));
  EXPECT_EQ(wp(m, "\xC3\xA9\xC3\xA9\xC3\xA9"),
            (std::vector<int32_t>{3, 4, 4}));  // chars, not bytes
}

TEST(WordPiece, MissingUnkTokenIsALoadError) {
  EXPECT_THROW(WordPiece(make_vocab({"a"}), "[UNK]", "##", 100), std::invalid_argument);
}

TEST(WordPiece, FastMatcherEqualsReferenceOnEveryShortWord) {
  expect_fast_equals_reference_exhaustively(
      WordPiece(make_vocab({"[UNK]", "a", "b", "ab", "abc", "ba", "##a", "##b", "##c", "##bc",
                            "##cab", "##ca", "#", "##", "###", "##a#", "c#"}),
                "[UNK]", "##", 100));
  expect_fast_equals_reference_exhaustively(  // no continuation prefix at all
      WordPiece(make_vocab({"[UNK]", "a", "b", "ab", "bca", "c", "cc", "abab"}), "[UNK]", "", 100));
  expect_fast_equals_reference_exhaustively(  // sparse: many words are unknown
      WordPiece(make_vocab({"[UNK]", "ab", "##ca", "##b", "cab"}), "[UNK]", "##", 100));
}

TEST(WordPiece, FastMatcherEqualsReferenceOnBertVocabulary) {
  const auto vocab_file = testing::kBertDir / "vocab.txt";
  if (!std::filesystem::exists(vocab_file)) GTEST_SKIP() << "no " << vocab_file;
  Vocab vocab;
  int32_t id = 0;
  for (const auto& line : testing::read_lines(vocab_file)) vocab[line] = id++;
  // Words built from vocabulary pieces, so they split in interesting ways.
  std::vector<std::string> pieces;
  for (const auto& [s, i] : vocab) {
    if (s.size() < 8 && s[0] != '[') pieces.push_back(s.starts_with("##") ? s.substr(2) : s);
  }
  const WordPiece m(std::move(vocab), "[UNK]", "##", 100);
  std::mt19937 rng(42);
  std::vector<int32_t> fast, ref;
  for (int i = 0; i < 200000; ++i) {
    std::string w;
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < n; ++k) w += pieces[rng() % pieces.size()];
    fast.clear();
    ref.clear();
    m.tokenize(w, fast);
    m.tokenize_reference(w, ref);
    ASSERT_EQ(fast, ref) << "word '" << w << "'";
  }
}

// Bytes the heap holds now (glibc; ASan reports 0, which passes the bounds below).
size_t heap_in_use() {
  const struct mallinfo2 mi = ::mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

// "a", "##a" and one 20,000-character token: every prefix of the long token
// fails over through "a" + "##a"..., so its trie nodes' failure pops hold 1, 2,
// ... 20,000 ids: 800 MB kept for one token that no word can match.
Vocab vocab_with_a_long_token() {
  Vocab v = make_vocab({"[UNK]", "a", "##a", "b"});
  v[std::string(20'000, 'a')] = 4;
  return v;
}

TEST(WordPiece, TokensLongerThanAnyWordKeepTheTrieSmall) {
  const size_t before = heap_in_use();
  const WordPiece m(vocab_with_a_long_token(), "[UNK]", "##", 100);
  EXPECT_LT(heap_in_use() - before, size_t{16} << 20);
  EXPECT_TRUE(m.fast());
  for (const size_t n : {1, 2, 100}) {
    std::vector<int32_t> want{1};
    want.resize(n, 2);
    EXPECT_EQ(wp(m, std::string(n, 'a')), want) << n;
  }
  EXPECT_EQ(wp(m, std::string(101, 'a')), (std::vector<int32_t>{0}));
  EXPECT_EQ(wp(m, std::string(20'000, 'a')), (std::vector<int32_t>{0}));  // longer than 100
}

TEST(WordPiece, VocabularyTooIrregularForTheTrieUsesTheReferenceLoop) {
  // With max_input_chars_per_word this high the long token is matchable:
  // its failure pops would be quadratic, so the trie is given up.
  const size_t before = heap_in_use();
  const WordPiece m(vocab_with_a_long_token(), "[UNK]", "##", 1'000'000);
  EXPECT_LT(heap_in_use() - before, size_t{16} << 20);
  EXPECT_FALSE(m.fast());
  EXPECT_EQ(wp(m, std::string(20'000, 'a')), (std::vector<int32_t>{4}));
  EXPECT_EQ(wp(m, "aaab"), (std::vector<int32_t>{0}));  // no "##b"
  EXPECT_EQ(wp(m, "aaa"), (std::vector<int32_t>{1, 2, 2}));
}

std::vector<int32_t> bpe(const Bpe& m, std::string_view w) {
  BpeScratch s;
  std::vector<int32_t> out;
  m.tokenize(w, out, s);
  return out;
}

TEST(Bpe, MergesLowestRankFirstAndLeftmostOnTies) {
  // ids: a=0 b=1 c=2 ab=3 bc=4 aa=5
  const Bpe m(make_vocab({"a", "b", "c", "ab", "bc", "aa"}), {{"b", "c"}, {"a", "b"}, {"a", "a"}},
              {}, false);
  EXPECT_EQ(bpe(m, "abc"), (std::vector<int32_t>{0, 4}));  // "b c" outranks "a b"
  EXPECT_EQ(bpe(m, "aaa"), (std::vector<int32_t>{5, 0}));  // leftmost pair first
  EXPECT_EQ(bpe(m, "aaaa"), (std::vector<int32_t>{5, 5}));
  EXPECT_EQ(bpe(m, "abab"), (std::vector<int32_t>{3, 3}));
}

TEST(Bpe, UnknownCharactersVanishWithoutUnkAndFuseWithFuseUnk) {
  const Bpe plain(make_vocab({"a", "b"}), {}, {}, false);
  EXPECT_EQ(bpe(plain, "axxb"), (std::vector<int32_t>{0, 1}));
  BpeOptions fuse;
  fuse.unk_token = "<unk>";
  fuse.fuse_unk = true;
  const Bpe fused(make_vocab({"a", "b", "<unk>"}), {}, fuse, false);
  EXPECT_EQ(bpe(fused, "axxb"), (std::vector<int32_t>{0, 2, 1}));
  BpeOptions unfused = fuse;
  unfused.fuse_unk = false;
  const Bpe separate(make_vocab({"a", "b", "<unk>"}), {}, unfused, false);
  EXPECT_EQ(bpe(separate, "axxb"), (std::vector<int32_t>{0, 2, 2, 1}));
}

TEST(Bpe, ByteLevelReadsBytesThroughGpt2sAlphabet) {
  // U+0120 'Ġ' stands for the space byte.
  const Bpe m(make_vocab({"\xC4\xA0", "h", "i", "\xC4\xA0h", "\xC4\xA0hi"}),
              {{"\xC4\xA0", "h"}, {"\xC4\xA0h", "i"}}, {}, true);
  EXPECT_EQ(bpe(m, " hi"), (std::vector<int32_t>{4}));
  EXPECT_EQ(bpe(m, "hi"), (std::vector<int32_t>{1, 2}));
}

TEST(Bpe, CachedWordsGiveTheSameIds) {
  const Bpe m(make_vocab({"a", "b", "c", "ab", "bc", "aa"}), {{"b", "c"}, {"a", "b"}, {"a", "a"}},
              {}, false);
  BpeScratch s;
  const std::string long_word(40, 'a');  // longer than a cache slot holds
  for (const std::string w : {"abc", "aaa", "abc", long_word.c_str(), "aaa", long_word.c_str()}) {
    std::vector<int32_t> first, again;
    m.tokenize(w, first, s);
    m.tokenize(w, again, s);
    EXPECT_EQ(first, again) << w;
    EXPECT_EQ(first, bpe(m, w)) << w;
  }
}

TEST(Bpe, MergeOfUnknownTokenIsALoadErrorNamingIt) {
  try {
    Bpe(make_vocab({"a", "b"}), {{"a", "z"}}, {}, false);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'z' is not in the vocabulary"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sluice::text::detail
