// Test helper: runs a program as a child process (the real `sluice` binary,
// kcat, promtool), with captured output, a timeout, and signals.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sluice::testing {

class Subprocess {
 public:
  // Starts argv[0] (searched in PATH) with the given arguments and extra
  // environment. stdin is /dev/null unless `stdin_text` is given.
  Subprocess(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
             std::optional<std::string> stdin_text = std::nullopt);
  ~Subprocess();  // SIGKILLs the child if still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig);
  // Exit code (or 128 + signal); nullopt if it did not finish in time.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();

  // The child's peak resident set size in KiB (getrusage's ru_maxrss of this
  // child alone), once it has exited; -1 before.
  long peak_rss_kb() const { return peak_rss_kb_; }

  std::string stdout_text() const;
  std::string stderr_text() const;
  // Waits until stdout holds a first complete line and returns it (e.g. an
  // address printed at start-up); nullopt on timeout or exit.
  std::optional<std::string> first_line(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  long peak_rss_kb_ = -1;
  std::string out_path_, err_path_;
};

// Runs to completion and returns {exit code, stdout, stderr, peak RSS}.
struct RunResult {
  int code = -1;
  std::string out, err;
  long peak_rss_kb = -1;  // the child's peak resident set size (KiB)
};
RunResult run(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
              std::optional<std::string> stdin_text = std::nullopt,
              std::chrono::milliseconds timeout = std::chrono::seconds(120));

// Path of the built sluice executable.
std::string sluice_binary();

// A free TCP port on 127.0.0.1 (bound then released).
int free_port();

// HTTP GET over a plain socket; returns {status, body}. Status 0 if unreachable.
std::pair<int, std::string> http_get(const std::string& host, int port, const std::string& path);

// The messages of `topic` from its start to its end, read by kcat (the
// independent client): (key, value) each, in partition order. Values must not
// hold a tab or newline (JSON lines). Throws when kcat fails.
std::vector<std::pair<std::string, std::string>> read_topic(const std::string& bootstrap,
                                                            const std::string& topic);

}  // namespace sluice::testing
