#include "src/core/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace sluice::core {
namespace {

// Why a file of this mode cannot be read as one, or nullptr for a regular file.
const char* not_regular(mode_t mode) {
  if (S_ISREG(mode)) return nullptr;
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a plain file";
}

[[noreturn]] void fail_errno(const std::string& file, const char* what, int err) {
  if (err == ENOENT) throw FileError(file, "cannot open (missing?)");
  throw FileError(file, std::string(what) + ": " + std::strerror(err));
}

void check_mode(const std::string& file, const struct stat& st, uint64_t max_bytes) {
  if (const char* kind = not_regular(st.st_mode))
    throw FileError(file, std::string("not a regular file (") + kind + ")");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    throw FileError(file, "is " + byte_size_string(size) + ", more than the " +
                              byte_size_string(max_bytes) + " allowed for this file");
}

}  // namespace

std::string byte_size_string(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

RegularFile RegularFile::open(const std::filesystem::path& path, uint64_t max_bytes) {
  const std::string file = path.string();
  struct stat st {};
  // Refuse a FIFO or device before opening it: opening a FIFO for reading
  // blocks until a writer appears.
  if (::stat(file.c_str(), &st) != 0) fail_errno(file, "cannot open", errno);
  check_mode(file, st, max_bytes);
  // Non-blocking, in case the path was swapped for a FIFO since the stat.
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) fail_errno(file, "cannot open", errno);
  RegularFile f(fd, 0);
  if (::fstat(fd, &st) != 0) fail_errno(file, "cannot stat", errno);
  check_mode(file, st, max_bytes);
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
    fail_errno(file, "cannot set blocking mode", errno);
  f.size_ = static_cast<uint64_t>(st.st_size);
  return f;
}

RegularFile::RegularFile(RegularFile&& other) noexcept : fd_(other.fd_), size_(other.size_) {
  other.fd_ = -1;
}

RegularFile& RegularFile::operator=(RegularFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    size_ = other.size_;
    other.fd_ = -1;
  }
  return *this;
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string read_file(const std::filesystem::path& path, uint64_t max_bytes) {
  const RegularFile f = RegularFile::open(path, max_bytes);
  // Sized by the stat, grown only while the file keeps growing (never past
  // max_bytes + 1: one byte more proves it is too large).
  std::string out(static_cast<size_t>(f.size()), '\0');
  size_t got = 0;
  for (;;) {
    if (got == out.size()) {
      if (got > max_bytes)
        throw FileError(path.string(), "grew past the " + byte_size_string(max_bytes) +
                                           " allowed for this file while being read");
      const uint64_t want = std::max<uint64_t>(got * 2, 4096);
      out.resize(static_cast<size_t>(std::min<uint64_t>(want, max_bytes + 1)));
    }
    const ssize_t n = ::read(f.fd(), out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno(path.string(), "cannot read", errno);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

std::optional<std::string> json_depth_exceeded(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  size_t string_begin = 0;
  std::string_view last_string, key;  // at depth 1: the top-level object's strings
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
        if (depth == 1) last_string = text.substr(string_begin, i - string_begin);
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        string_begin = i + 1;
        break;
      case ':':
        if (depth == 1) key = last_string;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return std::string(key);
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return std::nullopt;
}

}  // namespace sluice::core
