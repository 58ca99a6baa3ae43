// SHA-256 (FIPS 180-4), for content hashes that anyone can check with
// `sha256sum`: a model's identity (src/engine/model.h) is one. Incremental:
// update() any number of times, then hex() once. Not for secrets (no
// constant-time guarantees are needed or given).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace sluice::core {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // The digest as 64 lower-case hex digits; the object is spent afterwards.
  std::string hex();

 private:
  void block(const uint8_t* p);

  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buffered_ = 0;
  uint64_t length_ = 0;  // bytes
};

// The hex SHA-256 of a file's bytes, read in chunks (a model's weights can be
// gigabytes). Throws std::runtime_error naming the file when it cannot be read.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace sluice::core
