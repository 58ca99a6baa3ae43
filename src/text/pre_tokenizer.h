// Pre-tokenizers of Hugging Face `tokenizer.json` files: BertPreTokenizer,
// ByteLevel (GPT-2's split regex, hand-compiled), Whitespace, WhitespaceSplit
// and Sequence. They cut normalized text into the words the model sees.
// Immutable after construction; thread-safe given a scratch object per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sluice::text::detail {

// A word: bytes [begin, end) of the workspace text, or (id >= 0) an added
// token already resolved to its id.
struct Piece {
  int32_t begin = 0;
  int32_t end = 0;
  int32_t id = -1;
};

struct PreTokScratch {
  std::vector<Piece> a, b;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Appends the words of text[in.begin, in.end) to out. May append bytes to
  // `text` (ByteLevel's prefix space); pieces refer to offsets, which stay valid.
  virtual void split(std::string& text, Piece in, std::vector<Piece>& out,
                     PreTokScratch& scratch) const = 0;
  virtual std::string describe() const = 0;
  // True when words are raw bytes the model must read through GPT-2's
  // byte-to-unicode map (the ByteLevel pre-tokenizer ran last).
  virtual bool byte_level() const { return false; }
};

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer();
std::unique_ptr<PreTokenizer> make_whitespace_pre_tokenizer();
std::unique_ptr<PreTokenizer> make_whitespace_split_pre_tokenizer();
std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex);
std::unique_ptr<PreTokenizer> make_sequence_pre_tokenizer(
    std::vector<std::unique_ptr<PreTokenizer>> steps);

// GPT-2's byte-to-unicode map: the code point that stands for each byte.
char32_t byte_to_unicode(uint8_t b);

}  // namespace sluice::text::detail
