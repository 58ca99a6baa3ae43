// sluice::text::Tokenizer — reads the tokenizer files Hugging Face writes
// (tokenizer.json; or vocab.txt, or vocab.json + merges.txt) and turns text
// into exactly the token ids Hugging Face `tokenizers` produces, for WordPiece
// (BERT family) and byte-level BPE (RoBERTa / GPT-2 family) models.
//
// Threading: a loaded Tokenizer is immutable; encode() is const and may be
// called from any number of threads at once, each with its own Workspace.
// Allocation: encode() writes into the caller's buffer and reuses the
// Workspace's buffers, so after a warm-up it does not allocate.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice::text {

// Start-up error: a missing or malformed file, or a tokenizer component sluice
// does not implement (named, never silently approximated). The message names
// the file and the problem.
class TokenizerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What encode() does with input that is not valid UTF-8.
enum class InvalidUtf8 : uint8_t {
  kReplace,  // each maximal invalid subsequence becomes U+FFFD (as a UTF-8 decoder would)
  kReject,   // no ids; status kInvalidUtf8 (the record becomes a dead letter)
};

enum class EncodeStatus : uint8_t {
  kOk,
  kInvalidUtf8,  // rejected per InvalidUtf8::kReject; length is 0
  kEmpty,        // the text yields no token (empty, or only whitespace / dropped
                 // characters); the special tokens are still written
};

struct EncodeOptions {
  // Most ids to write, special tokens included (Hugging Face truncation,
  // direction right). 0: the tokenizer's model_max_length().
  int32_t max_length = 0;
  bool add_special_tokens = true;
  InvalidUtf8 invalid_utf8 = InvalidUtf8::kReplace;
};

struct EncodeResult {
  int32_t length = 0;      // ids written to the output buffer
  bool truncated = false;  // the text had more tokens than fit in max_length
  EncodeStatus status = EncodeStatus::kOk;
};

class Tokenizer {
 public:
  // Per-thread scratch space for encode(): reuse one per thread. It may be used
  // with any tokenizer (it re-initializes its word cache when the tokenizer
  // changes) but by one thread at a time.
  class Workspace {
   public:
    Workspace();
    ~Workspace();
    Workspace(Workspace&&) noexcept;
    Workspace& operator=(Workspace&&) noexcept;

   private:
    friend class Tokenizer;
    struct State;
    std::unique_ptr<State> state_;
  };

  // Loads a tokenizer from a directory (tokenizer.json preferred; otherwise
  // vocab.txt for WordPiece or vocab.json + merges.txt for byte-level BPE,
  // with tokenizer_config.json / config.json when present) or from a path to
  // one of those files. Throws TokenizerError.
  static std::unique_ptr<Tokenizer> load(const std::filesystem::path& dir_or_tokenizer_json);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Tokenizes `text` into out[0, result.length). Requires
  // out.size() >= the effective max_length, and that max_length leaves room
  // for the special tokens (>= special_tokens_count()); both are asserted.
  EncodeResult encode(std::string_view text, std::span<int32_t> out, Workspace& workspace,
                      const EncodeOptions& options = {}) const;

  // Default max_length: tokenizer.json's truncation, else tokenizer_config.json's
  // model_max_length, else config.json's max_position_embeddings (less the
  // RoBERTa padding offset), else 512.
  int32_t model_max_length() const;
  // One past the largest id encode() can produce (the embedding table's rows).
  int32_t vocab_size() const;
  // Ids the post-processor adds around one sequence (e.g. 2 for [CLS] .. [SEP]).
  int32_t special_tokens_count() const;

  std::optional<int32_t> pad_id() const;
  std::optional<int32_t> unk_id() const;
  std::optional<int32_t> cls_id() const;  // the id before the sequence (BERT [CLS], RoBERTa <s>)
  std::optional<int32_t> sep_id() const;  // the id after it (BERT [SEP], RoBERTa </s>)
  std::optional<int32_t> mask_id() const;
  // The id of a token string (model vocabulary or added tokens).
  std::optional<int32_t> token_to_id(std::string_view token) const;

  // One line naming the components, e.g. for logs and `sluice tokenize --describe`.
  std::string describe() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::text
