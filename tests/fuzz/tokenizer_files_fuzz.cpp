// libFuzzer target over tokenizer *loading* (tokenizer_fuzz covers encoding):
// byte 0 picks which file the rest of the input is, written to a scratch
// directory for Tokenizer::load:
//   0  tokenizer.json
//   1  vocab.txt
//   2  tokenizer_config.json, then (after the first NUL byte) config.json,
//      beside a fixed small vocab.txt
//   3  vocab.json, then (after the first NUL byte) merges.txt
// Any crash, stack overflow, undefined behaviour, allocation over
// -malloc_limit_mb, or an exception other than TokenizerError fails the run.
// A tokenizer that loads must encode a few texts within the contract: at most
// max_length ids, each in [0, vocab_size).
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/text/tokenizer.h"
#include "tests/fuzz/fuzz_assert.h"
#include "tests/fuzz/fuzz_scratch.h"

namespace {

using namespace sluice::text;
namespace fs = std::filesystem;

void write(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// One directory per kind, so that no file of another kind is picked up.
const fs::path& scratch() {
  static const sluice::fuzz::ScratchDir dir("tokenizer-files-fuzz");
  static const bool ready = [] {
    for (const char* k : {"json", "txt", "config", "bpe"}) fs::create_directories(dir.path() / k);
    write(dir.path() / "config" / "vocab.txt",
          "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nmovie\n##s\ngood\n!\n,\na\n##b\n");
    return true;
  }();
  (void)ready;
  return dir.path();
}

void encode_within_contract(const Tokenizer& tok) {
  static constexpr std::string_view kTexts[] = {
      "A gorgeous, witty movie!", "the movies [CLS] <mask> caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC",
      "\xFF invalid \xC3", ""};
  const int32_t max_length = tok.special_tokens_count() + 32;
  std::unique_ptr<int32_t[]> buf(new int32_t[static_cast<size_t>(max_length)]);
  Tokenizer::Workspace ws;
  for (const std::string_view text : kTexts) {
    const EncodeResult r =
        tok.encode(text, std::span<int32_t>(buf.get(), static_cast<size_t>(max_length)), ws,
                   {.max_length = max_length});
    FUZZ_ASSERT(r.length >= 0 && r.length <= max_length);
    for (int32_t i = 0; i < r.length; ++i) FUZZ_ASSERT(buf[i] >= 0 && buf[i] < tok.vocab_size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view content(reinterpret_cast<const char*>(data + 1), size - 1);
  fs::path dir;
  switch (data[0] % 4) {
    case 0:
      dir = scratch() / "json";
      write(dir / "tokenizer.json", content);
      break;
    case 1:
      dir = scratch() / "txt";
      write(dir / "vocab.txt", content);
      break;
    case 2: {
      dir = scratch() / "config";
      const size_t nul = content.find('\0');
      write(dir / "tokenizer_config.json", content.substr(0, nul));
      write(dir / "config.json", nul == std::string_view::npos ? "{}" : content.substr(nul + 1));
      break;
    }
    default: {
      dir = scratch() / "bpe";
      const size_t nul = content.find('\0');
      write(dir / "vocab.json", content.substr(0, nul));
      write(dir / "merges.txt", nul == std::string_view::npos ? "" : content.substr(nul + 1));
      break;
    }
  }
  std::unique_ptr<Tokenizer> tok;
  try {
    tok = Tokenizer::load(dir);
  } catch (const TokenizerError&) {
    return 0;  // the expected outcome for a malformed file
  }
  FUZZ_ASSERT(tok->vocab_size() > 0 && tok->special_tokens_count() >= 0);
  encode_within_contract(*tok);
  return 0;
}
