// libFuzzer target over the tokenizers (built with clang -fsanitize=fuzzer,
// address,undefined by tests/fuzz/CMakeLists.txt; run for a bounded time by
// run_fuzz.sh). Any crash, out-of-bounds access, undefined
// behaviour, hang, or broken invariant (abort) fails the run.
//
// Input: byte 0 picks the tokenizer and options, the rest is the text (any
// bytes, valid UTF-8 or not). Invariants checked on every input:
//   - at most max_length ids are written (the output buffer is exactly that
//     long, so AddressSanitizer catches any write past it);
//   - every id is in [0, vocab_size);
//   - special tokens frame the ids; `truncated` means the buffer is full;
//   - invalid UTF-8: reject gives status kInvalidUtf8 and no ids, replace
//     gives the ids of the text with U+FFFD substituted;
//   - a fresh workspace gives the same ids as a warm one (word caches);
//   - Fast WordPiece equals Hugging Face's reference loop on each word.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/text/tokenizer.h"
#include "src/text/unicode.h"
#include "src/text/wordpiece.h"
#include "tests/fuzz/fuzz_assert.h"

namespace {

using namespace sluice::text;
namespace fs = std::filesystem;

struct Fixture {
  std::vector<std::unique_ptr<Tokenizer>> tokenizers;
  std::unique_ptr<detail::WordPiece> wordpiece;  // BERT's vocabulary, when available
};

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture f;
    const fs::path fixtures = fs::path(SLUICE_FIXTURES) / "tokenizer";
    const fs::path bert = fs::path(SLUICE_SHARED_DATA) / "bert-base-uncased";
    f.tokenizers.push_back(Tokenizer::load(fixtures / "sst2-bpe"));
    if (fs::exists(bert)) {
      f.tokenizers.push_back(Tokenizer::load(bert));
      detail::Vocab vocab;
      std::ifstream in(bert / "vocab.txt");
      std::string line;
      for (int32_t id = 0; std::getline(in, line); ++id) vocab[line] = id;
      f.wordpiece = std::make_unique<detail::WordPiece>(std::move(vocab), "[UNK]", "##", 100);
    }
    return f;
  }();
  return f;
}

std::vector<int32_t> encode(const Tokenizer& tok, std::string_view text, const EncodeOptions& o,
                            Tokenizer::Workspace& ws, EncodeResult& r) {
  const int32_t max_length = o.max_length ? o.max_length : tok.model_max_length();
  // Exactly max_length long and heap-allocated: any overrun is an ASan report.
  std::unique_ptr<int32_t[]> buf(new int32_t[static_cast<size_t>(max_length)]);
  r = tok.encode(text, std::span<int32_t>(buf.get(), static_cast<size_t>(max_length)), ws, o);
  FUZZ_ASSERT(r.length >= 0 && r.length <= max_length);
  return std::vector<int32_t>(buf.get(), buf.get() + r.length);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Fixture& f = fixture();
  const uint8_t sel = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const Tokenizer& tok = *f.tokenizers[sel % f.tokenizers.size()];

  EncodeOptions o;
  static constexpr int32_t kLengths[] = {0, 2, 3, 5, 16};
  o.max_length = kLengths[(sel >> 1) % 5];
  o.add_special_tokens = (sel & 0x10) == 0;
  o.invalid_utf8 = (sel & 0x20) ? InvalidUtf8::kReject : InvalidUtf8::kReplace;

  static Tokenizer::Workspace warm;  // reused across inputs, as a worker thread would
  EncodeResult r;
  const std::vector<int32_t> ids = encode(tok, text, o, warm, r);
  for (int32_t id : ids) FUZZ_ASSERT(id >= 0 && id < tok.vocab_size());

  const bool valid = unicode::valid_utf8_prefix(text) == text.size();
  if (!valid && o.invalid_utf8 == InvalidUtf8::kReject) {
    FUZZ_ASSERT(r.status == EncodeStatus::kInvalidUtf8 && r.length == 0);
    return 0;
  }
  FUZZ_ASSERT(r.status != EncodeStatus::kInvalidUtf8);
  const int32_t max_length = o.max_length ? o.max_length : tok.model_max_length();
  if (r.truncated) FUZZ_ASSERT(r.length == max_length);
  if (o.add_special_tokens && tok.special_tokens_count() == 2) {
    FUZZ_ASSERT(r.length >= 2 && ids.front() == *tok.cls_id() && ids.back() == *tok.sep_id());
  }
  if (r.status == EncodeStatus::kEmpty)
    FUZZ_ASSERT(r.length == (o.add_special_tokens ? tok.special_tokens_count() : 0));

  Tokenizer::Workspace fresh;
  EncodeResult r2;
  FUZZ_ASSERT(encode(tok, text, o, fresh, r2) == ids && r2.truncated == r.truncated);
  if (!valid) {
    std::string repaired;
    unicode::append_replacing_invalid(text, repaired);
    FUZZ_ASSERT(encode(tok, repaired, o, fresh, r2) == ids);
  }

  if (f.wordpiece && valid && !text.empty()) {
    std::vector<int32_t> fast, ref;
    f.wordpiece->tokenize(text, fast);
    f.wordpiece->tokenize_reference(text, ref);
    FUZZ_ASSERT(fast == ref);
  }
  return 0;
}
