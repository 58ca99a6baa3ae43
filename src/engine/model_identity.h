// Which model exactly: a content hash of the files that decide a model's
// outputs, and the human version its model card states. Results carry both
// ("model_hash", "model_version"), and so does sluice_model_info, so any
// output can be traced to the bytes that produced it.
//
// The hash is SHA-256 over the lines `sha256sum` prints for the files of
// kIdentityFiles that exist in the directory, in that (sorted) order, cut to
// its first 16 hex digits. To check one by hand:
//
//   cd MODEL_DIR && LC_ALL=C ls config.json merges.txt model.safetensors special_tokens_map.json
//     tokenizer.json tokenizer_config.json vocab.json vocab.txt 2>/dev/null
//     | xargs sha256sum | sha256sum | cut -c1-16     (one line)
//
// The version is the card's (README.md) `version:` front-matter key or the
// value of a `| version | ... |` table row; empty when the card has neither.
#pragma once
#include <array>
#include <filesystem>
#include <string>

namespace sluice::engine {

// Weights, architecture and every tokenizer file a loader may read.
inline constexpr std::array<const char*, 8> kIdentityFiles = {
    "config.json",       "merges.txt",
    "model.safetensors", "special_tokens_map.json",
    "tokenizer.json",    "tokenizer_config.json",
    "vocab.json",        "vocab.txt"};

struct ModelIdentity {
  std::string hash;     // 16 hex digits
  std::string version;  // from the model card, may be empty
};

// Reads (streams) the files; throws ModelError naming a file that exists but
// cannot be read.
ModelIdentity identify_model(const std::filesystem::path& dir);

// The version stated by a model card's text ("" if none).
std::string card_version(const std::string& card);

}  // namespace sluice::engine
