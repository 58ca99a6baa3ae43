// Normalizers of Hugging Face `tokenizer.json` files: BertNormalizer,
// Lowercase, NFC / NFD / NFKC / NFKD, StripAccents and Sequence, each giving
// exactly the string `tokenizers` gives (offsets are not tracked: sluice only
// needs ids). Immutable after construction; normalize() is thread-safe given
// a scratch object per thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::text::detail {

// Per-thread buffers, reused across calls so that steady state never allocates.
struct NormScratch {
  std::vector<char32_t> cps;
  std::string seq_a, seq_b;
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Appends the normalized form of `in` (valid UTF-8) to `out`.
  virtual void normalize(std::string_view in, std::string& out, NormScratch& scratch) const = 0;
  // The component as tokenizer.json names it, e.g. "BertNormalizer(lowercase)".
  virtual std::string describe() const = 0;
};

std::unique_ptr<Normalizer> make_bert_normalizer(bool clean_text, bool handle_chinese_chars,
                                                 bool strip_accents, bool lowercase);
std::unique_ptr<Normalizer> make_lowercase_normalizer();
std::unique_ptr<Normalizer> make_strip_accents_normalizer();
enum class UnicodeForm { kNfc, kNfd, kNfkc, kNfkd };
std::unique_ptr<Normalizer> make_unicode_normalizer(UnicodeForm form);
// Applies each in turn; nested sequences are flattened.
std::unique_ptr<Normalizer> make_sequence_normalizer(
    std::vector<std::unique_ptr<Normalizer>> steps);

}  // namespace sluice::text::detail
