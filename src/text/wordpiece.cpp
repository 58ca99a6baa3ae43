// Fast WordPiece (LinMaxMatch). Build: a byte trie of every vocabulary string
// (continuation tokens keep their "##"), then, breadth-first from the two roots
// (the empty string and "##"), each node's failure link f(v) and failure pops
// F(v): the tokens MaxMatch emits when the next byte cannot extend v, and the
// node matching then resumes from. Match: walk the trie; on a missing edge emit
// F(u) and jump to f(u); no f(u) means the word is [UNK].
#include "src/text/wordpiece.h"

#include <algorithm>
#include <stdexcept>

#include "src/text/unicode.h"

namespace sluice::text::detail {

WordPiece::WordPiece(Vocab vocab, std::string unk_token, std::string continuing_subword_prefix,
                     int32_t max_input_chars_per_word)
    : vocab_(std::move(vocab)),
      prefix_(std::move(continuing_subword_prefix)),
      max_chars_(max_input_chars_per_word) {
  const auto it = vocab_.find(unk_token);
  if (it == vocab_.end()) {
    throw std::invalid_argument("WordPiece unk_token '" + unk_token + "' is not in the vocabulary");
  }
  unk_id_ = it->second;
  build_trie();
}

void WordPiece::build_trie() {
  struct TNode {
    std::vector<std::pair<uint8_t, int32_t>> kids;
    int32_t token = -1;
  };
  std::vector<TNode> t(1);
  auto kid = [&t](int32_t n, uint8_t c) {
    for (const auto& [b, k] : t[n].kids) {
      if (b == c) return k;
    }
    return -1;
  };
  auto insert = [&](std::string_view s) {
    int32_t n = 0;
    for (const char ch : s) {
      const auto c = static_cast<uint8_t>(ch);
      int32_t k = kid(n, c);
      if (k < 0) {
        k = static_cast<int32_t>(t.size());
        t[n].kids.emplace_back(c, k);
        t.emplace_back();
      }
      n = k;
    }
    return n;
  };
  // A token of more than max_chars characters (after the continuation
  // prefix) matches no word: longer words are [UNK] whole. Leaving it out
  // keeps the trie's depth, and so each node's failure pops, bounded.
  for (const auto& [s, id] : vocab_) {
    const std::string_view body =
        !prefix_.empty() && s.starts_with(prefix_) ? std::string_view(s).substr(prefix_.size()) : s;
    if (!s.empty() && unicode::count_chars(body) <= static_cast<size_t>(max_chars_))
      t[insert(s)].token = id;
  }
  const int32_t sharp = prefix_.empty() ? 0 : insert(prefix_);
  // Failure pops grow with the square of a token's length when its prefixes
  // are no tokens; a vocabulary that needs more than this many (real ones
  // need about one per node) is tokenized by the reference loop instead.
  const size_t pops_budget = 8 * t.size() + 65536;
  size_t pops_total = 0;

  // Breadth-first from both roots, so that every f(u) chain is computed
  // before it is followed (it only visits shallower nodes).
  std::vector<int32_t> order{0};
  if (sharp != 0) order.push_back(sharp);
  std::vector<int32_t> fail(t.size(), -1);
  std::vector<std::vector<int32_t>> pops(t.size());
  for (size_t q = 0; q < order.size(); ++q) {
    const int32_t u = order[q];
    std::sort(t[u].kids.begin(), t[u].kids.end());
    for (const auto& [c, v] : t[u].kids) {
      if (v == sharp) continue;
      if (t[v].token >= 0) {
        fail[v] = sharp;
        pops[v] = {t[v].token};
      } else {
        pops[v] = pops[u];
        int32_t z = fail[u];
        while (z >= 0 && kid(z, c) < 0) {
          if (pops_total + pops[v].size() + pops[z].size() > pops_budget)
            return;  // fast_ stays false
          pops[v].insert(pops[v].end(), pops[z].begin(), pops[z].end());
          z = fail[z];
        }
        fail[v] = z >= 0 ? kid(z, c) : -1;
      }
      pops_total += pops[v].size();
      if (pops_total > pops_budget) return;
      order.push_back(v);
    }
  }

  // Renumber in breadth-first order (shallow nodes, the hot ones, together).
  std::vector<int32_t> index(t.size(), -1);
  for (size_t i = 0; i < order.size(); ++i) index[order[i]] = static_cast<int32_t>(i);
  nodes_.assign(order.size(), Node{});
  sharp_ = index[sharp];
  constexpr size_t kDenseFanout = 16;
  for (size_t i = 0; i < order.size(); ++i) {
    const TNode& src = t[order[i]];
    Node& n = nodes_[i];
    if (src.kids.size() >= kDenseFanout) {
      n.dense = static_cast<int32_t>(dense_.size() / 256);
      dense_.resize(dense_.size() + 256, -1);
      for (const auto& [c, k] : src.kids) dense_[static_cast<size_t>(n.dense) * 256 + c] = index[k];
    } else {
      n.edge_begin = static_cast<int32_t>(edge_bytes_.size());
      n.edge_count = static_cast<int32_t>(src.kids.size());
      for (const auto& [c, k] : src.kids) {
        edge_bytes_.push_back(c);
        edge_targets_.push_back(index[k]);
      }
    }
    const int32_t f = fail[order[i]];
    n.fail = f >= 0 ? index[f] : -1;
    const auto& p = pops[order[i]];
    n.pops_begin = static_cast<int32_t>(pops_.size());
    n.pops_count = static_cast<int32_t>(p.size());
    pops_.insert(pops_.end(), p.begin(), p.end());
  }
  fast_ = true;
}

void WordPiece::tokenize(std::string_view w, std::vector<int32_t>& out) const {
  if (w.size() > static_cast<size_t>(max_chars_) &&
      unicode::count_chars(w) > static_cast<size_t>(max_chars_)) {
    out.push_back(unk_id_);
    return;
  }
  if (!fast_ || (!prefix_.empty() && w.starts_with(prefix_))) {
    tokenize_reference(w, out);
    return;
  }
  const size_t start = out.size();
  auto fail_over = [&](int32_t& u) {
    const Node& n = nodes_[u];
    if (n.fail < 0) return false;
    out.insert(out.end(), pops_.begin() + n.pops_begin,
               pops_.begin() + n.pops_begin + n.pops_count);
    u = n.fail;
    return true;
  };
  int32_t u = 0;
  for (const char ch : w) {
    const auto c = static_cast<uint8_t>(ch);
    int32_t v;
    while ((v = child(u, c)) < 0) {
      if (!fail_over(u)) {
        out.resize(start);
        out.push_back(unk_id_);
        return;
      }
    }
    u = v;
  }
  while (u != 0 && u != sharp_) {
    if (!fail_over(u)) {
      out.resize(start);
      out.push_back(unk_id_);
      return;
    }
  }
}

void WordPiece::tokenize_reference(std::string_view w, std::vector<int32_t>& out) const {
  if (unicode::count_chars(w) > static_cast<size_t>(max_chars_)) {
    out.push_back(unk_id_);
    return;
  }
  thread_local std::string key;  // reused: the reference path stays allocation-free too
  const size_t first = out.size();
  size_t start = 0;
  while (start < w.size()) {
    size_t end = w.size();
    int32_t found = -1;
    while (start < end) {
      key.clear();
      if (start > 0) key += prefix_;
      key.append(w.substr(start, end - start));
      if (const auto it = vocab_.find(std::string_view(key)); it != vocab_.end()) {
        found = it->second;
        break;
      }
      do {
        --end;  // back to the previous char boundary
      } while (end > start && (static_cast<unsigned char>(w[end]) & 0xC0) == 0x80);
    }
    if (found < 0) {
      out.resize(first);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

}  // namespace sluice::text::detail
