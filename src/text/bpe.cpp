// BPE: initial symbols (one per character, or per byte for byte-level), then
// HF's merge loop: a min-heap of (rank, position) candidate merges, stale
// entries skipped when the pair at that position no longer yields the merge.
#include "src/text/bpe.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "src/text/pre_tokenizer.h"  // byte_to_unicode
#include "src/text/unicode.h"

namespace sluice::text::detail {
namespace {

constexpr size_t kCacheSlots = 4096;  // power of two
constexpr size_t kCacheWordBytes = 24;
constexpr size_t kCacheIds = 12;

inline uint64_t mix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return k;
}

inline uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a: words are short
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h;
}

}  // namespace

struct BpeScratch::CacheSlot {
  uint64_t hash = 0;
  uint32_t len = ~0u;  // ~0: empty
  uint32_t count = 0;
  char word[kCacheWordBytes];
  int32_t ids[kCacheIds];
};

BpeScratch::BpeScratch() = default;
BpeScratch::~BpeScratch() = default;

void BpeScratch::reset_for(const Bpe* owner) {
  if (owner_ == owner) return;
  owner_ = owner;
  if (!cache_) cache_ = std::make_unique<CacheSlot[]>(kCacheSlots);
  for (size_t i = 0; i < kCacheSlots; ++i) cache_[i].len = ~0u;
}

Bpe::Bpe(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges,
         BpeOptions options, bool byte_level)
    : vocab_(std::move(vocab)), options_(std::move(options)), byte_level_(byte_level) {
  std::string ch;
  bool all_bytes = true;
  for (int b = 0; b < 256; ++b) {
    ch.clear();
    unicode::append_utf8(byte_level_ ? byte_to_unicode(static_cast<uint8_t>(b)) : b, ch);
    byte_ids_[b] = lookup(ch);
    all_bytes = all_bytes && byte_ids_[b] >= 0;
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    byte_fallback_ids_[b] = lookup(hex);
  }
  simple_ = byte_level_ && options_.continuing_subword_prefix.empty() &&
            options_.end_of_word_suffix.empty() && !options_.byte_fallback;
  if (options_.unk_token) {
    unk_id_ = lookup(*options_.unk_token);
    // HF fails an encode that needs a missing unk token; refuse the file up
    // front unless every byte is in the vocabulary, so it is never needed.
    if (unk_id_ < 0 && !(byte_level_ && all_bytes)) {
      throw std::invalid_argument("BPE unk_token '" + *options_.unk_token +
                                  "' is not in the vocabulary");
    }
  }

  size_t cap = 16;
  while (cap < merges.size() * 2) cap <<= 1;
  merges_.assign(cap, MergeSlot{});
  const size_t prefix_len = options_.continuing_subword_prefix.size();
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const int32_t a_id = lookup(a), b_id = lookup(b);
    if (a_id < 0 || b_id < 0) {
      throw std::invalid_argument("merge " + std::to_string(rank) + " ('" + a + "' '" + b +
                                  "'): token '" + (a_id < 0 ? a : b) +
                                  "' is not in the vocabulary");
    }
    if (b.size() < prefix_len) {
      throw std::invalid_argument("merge " + std::to_string(rank) + ": '" + b +
                                  "' is shorter than the continuing_subword_prefix");
    }
    const std::string merged = a + b.substr(prefix_len);
    const int32_t new_id = lookup(merged);
    if (new_id < 0) {
      throw std::invalid_argument("merge " + std::to_string(rank) + ": result '" + merged +
                                  "' is not in the vocabulary");
    }
    const uint64_t key =
        (static_cast<uint64_t>(static_cast<uint32_t>(a_id)) << 32) | static_cast<uint32_t>(b_id);
    size_t i = mix(key) & (cap - 1);
    while (merges_[i].key != kEmpty && merges_[i].key != key) i = (i + 1) & (cap - 1);
    if (merges_[i].key == kEmpty) ++merge_count_;
    merges_[i] = MergeSlot{key, static_cast<uint32_t>(rank), new_id};  // a repeat: the later wins
  }
}

int32_t Bpe::lookup(std::string_view s) const {
  const auto it = vocab_.find(s);
  return it == vocab_.end() ? -1 : it->second;
}

const Bpe::MergeSlot* Bpe::find_merge(int32_t left, int32_t right) const {
  const uint64_t key =
      (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  const size_t mask = merges_.size() - 1;
  for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
    const MergeSlot& m = merges_[i];
    if (m.key == key) return &m;
    if (m.key == kEmpty) return nullptr;
  }
}

void Bpe::initial_symbols(std::string_view word, BpeScratch& s) const {
  auto& syms = s.symbols_;
  syms.clear();
  auto add = [&syms](int32_t id) {
    const auto n = static_cast<int32_t>(syms.size());
    syms.push_back({id, n - 1, -1, 1});
    if (n > 0) syms[n - 1].next = n;
  };
  // Unknown characters become unk (fused when fuse_unk), or vanish when the
  // model has no unk token: HF's merge_word.
  int32_t pending_unk = -1;
  auto unknown = [&]() {
    if (unk_id_ < 0) return;
    if (pending_unk >= 0 && !options_.fuse_unk) add(pending_unk);
    pending_unk = unk_id_;
  };
  auto known = [&](int32_t id) {
    if (pending_unk >= 0) {
      add(pending_unk);
      pending_unk = -1;
    }
    add(id);
  };

  if (simple_) {
    for (const char c : word) {
      const int32_t id = byte_ids_[static_cast<unsigned char>(c)];
      if (id >= 0) {
        known(id);
      } else {
        unknown();
      }
    }
  } else {
    std::string_view text = word;
    if (byte_level_) {
      s.chars_.clear();
      for (const char c : word) {
        unicode::append_utf8(byte_to_unicode(static_cast<unsigned char>(c)), s.chars_);
      }
      text = s.chars_;
    }
    thread_local std::string key;
    const char* p = text.data();
    const char* const end = p + text.size();
    while (p < end) {
      const char* start = p;
      unicode::decode(p);
      key.clear();
      if (start != text.data()) key += options_.continuing_subword_prefix;
      key.append(start, p);
      if (p == end) key += options_.end_of_word_suffix;
      const int32_t id = lookup(key);
      if (id >= 0) {
        known(id);
        continue;
      }
      if (options_.byte_fallback) {
        bool all = true;
        for (const char c : key)
          all = all && byte_fallback_ids_[static_cast<unsigned char>(c)] >= 0;
        if (all) {  // HF adds these without flushing a pending unk
          for (const char c : key) add(byte_fallback_ids_[static_cast<unsigned char>(c)]);
          continue;
        }
      }
      unknown();
    }
  }
  if (pending_unk >= 0) add(pending_unk);
}

void Bpe::merge_all(BpeScratch& s) const {
  auto& syms = s.symbols_;
  auto& heap = s.heap_;
  heap.clear();
  // Min-heap on (rank, pos).
  auto later = [](const BpeScratch::HeapEntry& a, const BpeScratch::HeapEntry& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  auto push = [&](int32_t pos, const MergeSlot* m) {
    heap.push_back({m->rank, pos, m->new_id});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (size_t i = 0; i + 1 < syms.size(); ++i) {
    if (const MergeSlot* m = find_merge(syms[i].id, syms[i + 1].id))
      push(static_cast<int32_t>(i), m);
  }
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const BpeScratch::HeapEntry top = heap.back();
    heap.pop_back();
    auto& left = syms[top.pos];
    if (!left.alive || left.next < 0) continue;
    auto& right = syms[left.next];
    const MergeSlot* m = find_merge(left.id, right.id);
    if (!m || m->new_id != top.new_id) continue;  // stale entry
    left.id = top.new_id;
    right.alive = 0;
    left.next = right.next;
    if (left.next >= 0) syms[left.next].prev = top.pos;
    if (left.prev >= 0) {
      if (const MergeSlot* pm = find_merge(syms[left.prev].id, left.id)) push(left.prev, pm);
    }
    if (left.next >= 0) {
      if (const MergeSlot* nm = find_merge(left.id, syms[left.next].id)) push(top.pos, nm);
    }
  }
}

void Bpe::tokenize(std::string_view word, std::vector<int32_t>& out, BpeScratch& s) const {
  if (word.empty()) return;
  s.reset_for(this);
  if (options_.ignore_merges) {
    int32_t id;
    if (byte_level_) {
      s.chars_.clear();
      for (const char c : word) {
        unicode::append_utf8(byte_to_unicode(static_cast<unsigned char>(c)), s.chars_);
      }
      id = lookup(s.chars_);
    } else {
      id = lookup(word);
    }
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  BpeScratch::CacheSlot* slot = nullptr;
  uint64_t h = 0;
  if (word.size() <= kCacheWordBytes) {
    h = hash_bytes(word);
    slot = &s.cache_[h & (kCacheSlots - 1)];
    if (slot->len == word.size() && slot->hash == h &&
        std::memcmp(slot->word, word.data(), word.size()) == 0) {
      out.insert(out.end(), slot->ids, slot->ids + slot->count);
      return;
    }
  }
  initial_symbols(word, s);
  merge_all(s);
  const size_t first = out.size();
  for (const auto& sym : s.symbols_) {
    if (sym.alive) out.push_back(sym.id);
  }
  const size_t count = out.size() - first;
  if (slot && count <= kCacheIds) {
    slot->hash = h;
    slot->len = static_cast<uint32_t>(word.size());
    slot->count = static_cast<uint32_t>(count);
    std::memcpy(slot->word, word.data(), word.size());
    std::copy(out.begin() + static_cast<ptrdiff_t>(first), out.end(), slot->ids);
  }
}

}  // namespace sluice::text::detail
