#include "tests/support/subprocess.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sluice::testing {
namespace {

std::string temp_path(const char* tag) {
  std::string p = std::string("/tmp/sluice-test-") + tag + "-XXXXXX";
  int fd = mkstemp(p.data());
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  close(fd);
  return p;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Subprocess::Subprocess(std::vector<std::string> argv, std::map<std::string, std::string> env,
                       std::optional<std::string> stdin_text) {
  out_path_ = temp_path("out");
  err_path_ = temp_path("err");
  std::string in_path;
  if (stdin_text) {
    in_path = temp_path("in");
    std::ofstream(in_path) << *stdin_text;
  }
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setpgid(0, 0);
    int in = open(in_path.empty() ? "/dev/null" : in_path.c_str(), O_RDONLY);
    int out = open(out_path_.c_str(), O_WRONLY | O_TRUNC);
    int err = open(err_path_.c_str(), O_WRONLY | O_TRUNC);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s failed: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  if (!in_path.empty()) {
    // The child has opened it (or will, from its own copy of the name): unlink later.
  }
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !status_) {
    kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
  }
  unlink(out_path_.c_str());
  unlink(err_path_.c_str());
}

void Subprocess::signal(int sig) {
  if (pid_ > 0 && !status_) kill(pid_, sig);
}

bool Subprocess::running() {
  if (status_) return false;
  int st = 0;
  struct rusage usage {};
  pid_t r = wait4(pid_, &st, WNOHANG, &usage);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    peak_rss_kb_ = usage.ru_maxrss;
    return false;
  }
  return true;
}

std::optional<int> Subprocess::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status_;
}

std::string Subprocess::stdout_text() const { return read_file(out_path_); }
std::string Subprocess::stderr_text() const { return read_file(err_path_); }

std::optional<std::string> Subprocess::first_line(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::string out = stdout_text();
    if (auto nl = out.find('\n'); nl != std::string::npos) return out.substr(0, nl);
    if (!running() || std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

RunResult run(std::vector<std::string> argv, std::map<std::string, std::string> env,
              std::optional<std::string> stdin_text, std::chrono::milliseconds timeout) {
  Subprocess p(std::move(argv), std::move(env), std::move(stdin_text));
  RunResult r;
  auto code = p.wait(timeout);
  r.code = code ? *code : -1;
  r.out = p.stdout_text();
  r.err = p.stderr_text();
  r.peak_rss_kb = p.peak_rss_kb();
  return r;
}

std::string sluice_binary() { return std::string(SLUICE_BINARY_DIR) + "/sluice"; }

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

std::pair<int, std::string> http_get(const std::string& host, int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return {0, ""};
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), 0);
  std::string resp;
  char buf[8192];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    resp.append(buf, static_cast<size_t>(n));
  close(fd);
  int status = 0;
  if (resp.rfind("HTTP/1.", 0) == 0 && resp.size() > 12) status = std::atoi(resp.c_str() + 9);
  auto body = resp.find("\r\n\r\n");
  return {status, body == std::string::npos ? "" : resp.substr(body + 4)};
}

std::vector<std::pair<std::string, std::string>> read_topic(const std::string& bootstrap,
                                                            const std::string& topic) {
  const RunResult r =
      run({"kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-f", "%k\t%s\n"}, {},
          std::nullopt, std::chrono::seconds(60));
  if (r.code != 0) throw std::runtime_error("kcat -C -t " + topic + " failed: " + r.err);
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    const size_t tab = line.find('\t');
    if (tab != std::string::npos) out.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return out;
}

}  // namespace sluice::testing
