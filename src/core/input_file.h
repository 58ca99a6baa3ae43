// Files whose bytes come from outside the process (model directories,
// tokenizer files): the one way sluice opens and reads them.
//
// Only regular files are read. A FIFO, device, socket or directory is refused
// with a FileError before it is opened for reading (`stat` first), and the
// open itself is non-blocking, so a file swapped for a FIFO in between cannot
// hang the caller either. Reads are bounded: a file larger than the caller's
// limit is refused before anything is allocated for it.
//
// Start-up code only: every problem is a FileError naming the file; each
// module translates it into its own error type (ModelError, TokenizerError).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice::core {

class FileError : public std::runtime_error {
 public:
  // what() reads "FILE: REASON".
  FileError(std::string file, std::string reason)
      : std::runtime_error(file + ": " + reason),
        file_(std::move(file)),
        reason_(std::move(reason)) {}

  const std::string& file() const { return file_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string file_;
  std::string reason_;
};

// An open regular file, read-only (owns the descriptor).
class RegularFile {
 public:
  // Opens `path` (symbolic links followed). FileError if it is missing, not a
  // regular file, unreadable, or larger than max_bytes. Never blocks.
  static RegularFile open(const std::filesystem::path& path, uint64_t max_bytes);

  RegularFile(RegularFile&& other) noexcept;
  RegularFile& operator=(RegularFile&& other) noexcept;
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;
  ~RegularFile();

  int fd() const { return fd_; }
  uint64_t size() const { return size_; }  // at open time

 private:
  RegularFile(int fd, uint64_t size) : fd_(fd), size_(size) {}
  int fd_ = -1;
  uint64_t size_ = 0;
};

// The whole content of the regular file `path`; FileError as RegularFile::open,
// or if it grows past max_bytes while being read.
std::string read_file(const std::filesystem::path& path, uint64_t max_bytes);

// "1.5 MiB": a byte count for error messages.
std::string byte_size_string(uint64_t bytes);

// Whether a JSON text nests arrays and objects deeper than max_depth, counted
// without parsing (string contents skipped): nullopt if not, else the
// top-level key under which it first does ("" outside any). Exact for valid
// JSON; on invalid JSON it never sees less depth than a parser reaches before
// failing. Lets a reader refuse input deeper than its recursive code (or a
// JSON library's recursive copy) can take, before parsing it.
std::optional<std::string> json_depth_exceeded(std::string_view json_text, size_t max_depth);

}  // namespace sluice::core
