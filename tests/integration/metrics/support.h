// Test support for the metrics integration tests: a real HTTP/1.1 client over TCP
// (Boost.Beast, kept out of this header), free-port lookup, subprocesses, temp dirs.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sluice::metrics::testing {

struct HttpReply {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string content_length;  // as sent (HEAD replies carry the GET body's length)
  std::string allow;
  bool keep_alive = false;
};

// One TCP connection to 127.0.0.1:port. Every operation is bounded by `timeout` and
// throws std::runtime_error when it expires or the connection fails.
class HttpConnection {
 public:
  explicit HttpConnection(std::uint16_t port,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends one request and reads its reply; keeps the connection for the next request.
  HttpReply request(const std::string& method, const std::string& target,
                    const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Raw bytes, for malformed and oversized requests.
  void write_raw(const std::string& bytes);
  // Reads one reply; std::nullopt if the server closed the connection first.
  std::optional<HttpReply> read_reply();
  // Reads until the server closes the connection; true if it did within the timeout
  // (anything it sent before closing is discarded).
  bool wait_closed_by_server();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// GET over a fresh connection.
HttpReply http_get(std::uint16_t port, const std::string& target);

// Raises this process's soft limit on open files (RLIMIT_NOFILE) to its hard limit, as
// `sluice run` does at start-up; returns the soft limit now in force.
std::uint64_t raise_fd_limit();

// A TCP port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_tcp_port();

// Absolute path of `program` found on PATH, or empty.
std::filesystem::path find_program(const std::string& program);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs argv[0] with `input` on stdin, capturing stdout+stderr.
CommandResult run_command(const std::vector<std::string>& argv, const std::string& input);

// A fresh directory under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A child process killed (SIGTERM, then SIGKILL) and reaped on destruction, whatever
// happened in the test. stdout and stderr go to `log_file`.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log_file);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Exit status if the process has already exited, else std::nullopt.
  std::optional<int> exited();

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

std::string read_file(const std::filesystem::path& p);

}  // namespace sluice::metrics::testing
