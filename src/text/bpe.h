// The BPE model of Hugging Face `tokenizers` (GPT-2 / RoBERTa byte-level BPE
// and plain BPE): a word's characters are merged pair by pair, lowest merge
// rank first (ties: leftmost), exactly as HF's heap-driven Word::merge_all.
// Immutable after construction; tokenize() is thread-safe given a BpeScratch
// per thread, whose word cache makes frequent words one hash probe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/text/wordpiece.h"  // Vocab

namespace sluice::text::detail {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class BpeScratch;

class Bpe {
 public:
  // `byte_level`: words arrive as raw bytes and each byte stands for its
  // GPT-2 byte-to-unicode character (the ByteLevel pre-tokenizer ran).
  // Throws std::invalid_argument naming a merge or token missing from the vocab.
  Bpe(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges,
      BpeOptions options, bool byte_level);

  // Appends the ids of one word to out.
  void tokenize(std::string_view word, std::vector<int32_t>& out, BpeScratch& scratch) const;

  const Vocab& vocab() const { return vocab_; }
  size_t merge_count() const { return merge_count_; }
  const BpeOptions& options() const { return options_; }

 private:
  struct MergeSlot {
    uint64_t key = kEmpty;  // left id << 32 | right id
    uint32_t rank = 0;
    int32_t new_id = -1;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  const MergeSlot* find_merge(int32_t left, int32_t right) const;
  void initial_symbols(std::string_view word, BpeScratch& s) const;
  void merge_all(BpeScratch& s) const;
  int32_t lookup(std::string_view s) const;

  Vocab vocab_;
  BpeOptions options_;
  bool byte_level_;
  bool simple_;  // byte-level, no prefix/suffix: the initial symbols are a byte table
  int32_t unk_id_ = -1;
  int32_t byte_ids_[256];           // vocab id of each byte's character, -1 if absent
  int32_t byte_fallback_ids_[256];  // vocab id of "<0xXX>", -1 if absent
  std::vector<MergeSlot> merges_;   // open addressing, power-of-two size
  size_t merge_count_ = 0;
};

// Per-thread state of the BPE model: merge buffers and a direct-mapped cache
// of recent words. Tied to one Bpe instance (`owner`); reset when it changes.
class BpeScratch {
 public:
  BpeScratch();
  ~BpeScratch();
  void reset_for(const Bpe* owner);

 private:
  friend class Bpe;
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    int32_t alive;
  };
  struct HeapEntry {
    uint32_t rank;
    int32_t pos;
    int32_t new_id;
  };
  struct CacheSlot;

  const Bpe* owner_ = nullptr;
  std::vector<Symbol> symbols_;
  std::vector<HeapEntry> heap_;
  std::string chars_;  // byte-level word mapped to its characters (general path)
  std::unique_ptr<CacheSlot[]> cache_;
};

}  // namespace sluice::text::detail
