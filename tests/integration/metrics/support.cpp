#include "tests/integration/metrics/support.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace sluice::metrics::testing {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct HttpConnection::Impl {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  std::chrono::milliseconds timeout{0};

  // Runs one async operation to completion with the stream's deadline.
  template <class Start>
  beast::error_code run(Start start) {
    beast::error_code result;
    stream.expires_after(timeout);
    start([&result](beast::error_code ec, std::size_t = 0) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  std::optional<HttpReply> read(bool head) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    parser.skip(head);
    const auto ec = run([&](auto handler) { http::async_read(stream, buffer, parser, handler); });
    if (ec == http::error::end_of_stream || ec == net::error::connection_reset ||
        ec == net::error::eof) {
      return std::nullopt;
    }
    if (ec) throw std::runtime_error("HTTP client: reading reply: " + ec.message());
    const auto& res = parser.get();
    HttpReply r;
    r.status = res.result_int();
    r.body = res.body();
    auto field = [&](http::field f) {
      auto it = res.find(f);
      return it == res.end() ? std::string() : std::string(it->value());
    };
    r.content_type = field(http::field::content_type);
    r.content_length = field(http::field::content_length);
    r.allow = field(http::field::allow);
    r.keep_alive = res.keep_alive();
    return r;
  }
};

HttpConnection::HttpConnection(std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->timeout = timeout;
  const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  const auto ec = impl_->run([&](auto handler) { impl_->stream.async_connect(ep, handler); });
  if (ec) {
    throw std::runtime_error("HTTP client: connect to 127.0.0.1:" + std::to_string(port) + ": " +
                             ec.message());
  }
}

HttpConnection::~HttpConnection() = default;

HttpReply HttpConnection::request(const std::string& method, const std::string& target,
                                  const std::vector<std::pair<std::string, std::string>>& headers) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  if (req.method() == http::verb::unknown) req.method_string(method);
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::user_agent, "sluice-metrics-test");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.prepare_payload();
  const auto ec = impl_->run([&](auto handler) { http::async_write(impl_->stream, req, handler); });
  if (ec) throw std::runtime_error("HTTP client: writing request: " + ec.message());
  auto reply = impl_->read(req.method() == http::verb::head);
  if (!reply) throw std::runtime_error("HTTP client: server closed the connection without a reply");
  return *reply;
}

void HttpConnection::write_raw(const std::string& bytes) {
  const auto ec = impl_->run(
      [&](auto handler) { net::async_write(impl_->stream, net::buffer(bytes), handler); });
  if (ec) throw std::runtime_error("HTTP client: writing raw bytes: " + ec.message());
}

std::optional<HttpReply> HttpConnection::read_reply() { return impl_->read(false); }

bool HttpConnection::wait_closed_by_server() {
  char sink[4096];
  for (;;) {
    const auto ec = impl_->run(
        [&](auto handler) { impl_->stream.async_read_some(net::buffer(sink), handler); });
    if (ec == net::error::eof || ec == net::error::connection_reset) return true;
    if (ec) return false;  // timeout or other failure
  }
}

HttpReply http_get(std::uint16_t port, const std::string& target) {
  HttpConnection c(port);
  return c.request("GET", target);
}

std::uint64_t raise_fd_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

std::uint16_t free_tcp_port() {
  net::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

std::filesystem::path find_program(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto p = std::filesystem::path(dir) / program;
    if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {

// Starts argv[0] (an absolute path) with stdin from `in` and stdout+stderr to `out`.
pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& in,
            const std::filesystem::path& out) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

}  // namespace

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-metrics-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::filesystem::path& log_file)
    : pid_(spawn(argv, "/dev/null", log_file)) {}

std::optional<int> ChildProcess::exited() {
  if (status_) return status_;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
  return status_;
}

ChildProcess::~ChildProcess() {
  if (exited()) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100 && !exited(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!exited()) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input) {
  TempDir dir;
  const auto in_path = dir.path() / "stdin";
  const auto out_path = dir.path() / "output";
  { std::ofstream(in_path, std::ios::binary) << input; }
  const pid_t pid = spawn(argv, in_path, out_path);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.output = read_file(out_path);
  return r;
}

}  // namespace sluice::metrics::testing
