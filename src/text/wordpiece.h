// The WordPiece model: greedy longest-match-first with a continuation prefix
// ("##"), as BERT and Hugging Face `tokenizers` define it, computed in linear
// time by Fast WordPiece's LinMaxMatch (Song et al., EMNLP 2021): a trie of the
// vocabulary with precomputed failure links and failure pops, so each byte of
// a word is read once instead of re-hashing every candidate substring.
// Immutable after construction; tokenize() is thread-safe and allocation-free
// once `out` has capacity.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluice::text::detail {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class WordPiece {
 public:
  // Throws std::invalid_argument naming the problem (unk token not in vocab).
  WordPiece(Vocab vocab, std::string unk_token, std::string continuing_subword_prefix,
            int32_t max_input_chars_per_word);

  // Appends the ids of one word (valid UTF-8, non-empty) to out.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;
  // Hugging Face's loop (hash look-ups of every candidate), kept as the
  // reference the fast path is tested against and for words that begin with
  // the continuation prefix, where the trie's "##" node is ambiguous.
  void tokenize_reference(std::string_view word, std::vector<int32_t>& out) const;

  const Vocab& vocab() const { return vocab_; }
  int32_t unk_id() const { return unk_id_; }
  const std::string& prefix() const { return prefix_; }
  int32_t max_input_chars_per_word() const { return max_chars_; }
  // False when the vocabulary's failure pops would take more memory than its
  // trie is allowed (tokens whose prefixes are not tokens, hundreds of
  // characters long): every word then goes through tokenize_reference().
  bool fast() const { return fast_; }

 private:
  struct Node {
    int32_t edge_begin = 0;  // into edge_bytes_ / edge_targets_
    int32_t edge_count = 0;
    int32_t dense = -1;      // row of dense_ when the node has many children
    int32_t fail = -1;       // failure link, -1: none
    int32_t pops_begin = 0;  // failure pops: pops_[pops_begin, +pops_count)
    int32_t pops_count = 0;
  };

  void build_trie();
  int32_t child(int32_t node, uint8_t byte) const {
    const Node& n = nodes_[node];
    if (n.dense >= 0) return dense_[static_cast<size_t>(n.dense) * 256 + byte];
    for (int32_t k = n.edge_begin, e = n.edge_begin + n.edge_count; k < e; ++k) {
      if (edge_bytes_[k] == byte) return edge_targets_[k];
    }
    return -1;
  }

  Vocab vocab_;
  std::string prefix_;
  int32_t unk_id_ = -1;
  int32_t max_chars_ = 100;
  bool fast_ = false;  // the trie below is built

  std::vector<Node> nodes_;  // 0 is the root
  int32_t sharp_ = 0;        // the node of the continuation prefix ("##")
  std::vector<uint8_t> edge_bytes_;
  std::vector<int32_t> edge_targets_;
  std::vector<int32_t> dense_;
  std::vector<int32_t> pops_;
};

}  // namespace sluice::text::detail
