// Internals of Tokenizer shared by the encoder (tokenizer.cpp) and the loaders
// (tokenizer_json.cpp, tokenizer_legacy.cpp). Not part of the public API.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/text/added_vocab.h"
#include "src/text/bpe.h"
#include "src/text/normalizer.h"
#include "src/text/pre_tokenizer.h"
#include "src/text/tokenizer.h"
#include "src/text/wordpiece.h"

namespace sluice::text {

struct Tokenizer::Impl {
  std::unique_ptr<detail::Normalizer> normalizer;       // null: none
  std::unique_ptr<detail::PreTokenizer> pre_tokenizer;  // null: none
  std::unique_ptr<detail::WordPiece> wordpiece;         // exactly one model
  std::unique_ptr<detail::Bpe> bpe;

  std::vector<detail::AddedToken> added_tokens;  // ids resolved as HF does
  detail::AddedTokenMatcher raw_matcher;         // normalized == false
  detail::AddedTokenMatcher normalized_matcher;  // normalized == true

  // Post-processor, single sequence: prefix + ids + suffix.
  std::vector<int32_t> prefix_ids, suffix_ids;
  std::string post_processor_name = "none";

  int32_t model_max_length = 512;
  int32_t vocab_size = 0;
  std::optional<int32_t> pad_id, unk_id, cls_id, sep_id, mask_id;
  std::string source;  // the file(s) it was loaded from

  const detail::Vocab& model_vocab() const { return wordpiece ? wordpiece->vocab() : bpe->vocab(); }

  // Resolves added-token ids (HF AddedVocabulary::add_tokens), builds the
  // matchers and derives vocab_size and the well-known special ids. Call once
  // the model, normalizer and post-processor are set.
  void finish(std::vector<detail::AddedToken> tokens);
};

struct Tokenizer::Workspace::State {
  std::string repaired;  // the input with invalid UTF-8 replaced
  std::string text;      // normalized text; pieces point into it
  std::vector<detail::Piece> pieces;
  std::vector<int32_t> ids;  // content ids before truncation
  detail::NormScratch norm;
  detail::PreTokScratch pre;
  detail::BpeScratch bpe;
};

namespace detail {
// tokenizer_json.cpp: a tokenizer.json file.
std::unique_ptr<Tokenizer::Impl> load_tokenizer_json(const std::filesystem::path& file);
// tokenizer_legacy.cpp: vocab.txt (WordPiece) or vocab.json + merges.txt (BPE).
std::unique_ptr<Tokenizer::Impl> load_vocab_txt(const std::filesystem::path& file);
std::unique_ptr<Tokenizer::Impl> load_vocab_json(const std::filesystem::path& file);
// Reads tokenizer_config.json / config.json beside `dir` for model_max_length.
void apply_model_configs(const std::filesystem::path& dir, Tokenizer::Impl& impl);
}  // namespace detail

}  // namespace sluice::text
