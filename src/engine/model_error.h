// The error for a model directory that cannot be loaded: missing file, bad
// JSON, malformed safetensors, missing or mis-shaped tensor, unsupported
// architecture. Thrown at start-up only; the CLI maps it to exit code 2.
#pragma once
#include <stdexcept>
#include <string>

namespace sluice::engine {

class ModelError : public std::runtime_error {
 public:
  // what() reads "FILE: REASON".
  ModelError(std::string file, std::string reason)
      : std::runtime_error(file + ": " + reason), file_(std::move(file)), reason_(std::move(reason)) {}

  const std::string& file() const { return file_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string file_;
  std::string reason_;
};

}  // namespace sluice::engine
