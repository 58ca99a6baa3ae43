#include "src/metrics/http_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <cerrno>
#include <chrono>
#include <exception>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "src/metrics/http_protocol.h"

namespace sluice::metrics {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::string endpoint_text(const std::string& address, std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

class Session;

}  // namespace

struct detail::HttpServerImpl {
  HttpServerImpl(const Registry& r, HttpServerOptions o) : registry(r), options(std::move(o)) {
    routes.metrics = [this] { return registry.render(); };
    routes.health_check = [this] {
      std::lock_guard lock(checks_mu);
      return health ? *health : ProbeCheck();
    };
    routes.readiness_check = [this] {
      std::lock_guard lock(checks_mu);
      return readiness ? *readiness : ProbeCheck();
    };
  }

  void do_accept();
  void on_accept_error(beast::error_code ec);
  // Closes the connection that has waited longest for a request (one that has sent
  // nothing, an idle keep-alive one, or one whose request is still arriving); connections
  // being answered are spared. False if there is none.
  bool evict_longest_waiting();
  void on_stop();  // runs on the io thread
  void session_closed(Session* s) noexcept;

  const Registry& registry;
  const HttpServerOptions options;
  std::mutex checks_mu;
  std::shared_ptr<const ProbeCheck> health;  // shared: the io thread may hold them while replaced
  std::shared_ptr<const ProbeCheck> readiness;
  Routes routes;

  // Members below are touched only on the io thread (after start()). stop() drains every
  // handler (run() returns only when no work is left), so no session outlives the thread.
  std::unordered_set<Session*> sessions;
  bool stopping = false;
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  net::steady_timer accept_retry{ioc};
  net::steady_timer stop_deadline{ioc};
  std::uint64_t accept_errors = 0;  // since the last one reported
  std::chrono::steady_clock::time_point accept_error_reported{};

  std::atomic<std::uint16_t> bound_port{0};
  bool started = false;
  bool stopped = false;
  std::thread thread;
};

namespace {

// One connection: read bytes until HttpProtocol has a response, write it, repeat while
// keep-alive. The protocol does the HTTP; this class only the I/O and its deadlines.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, detail::HttpServerImpl& server)
      : stream_(std::move(socket)),
        server_(server),
        protocol_(server.routes, server.options.max_request_bytes),
        waiting_since_(std::chrono::steady_clock::now()) {
    server_.sessions.insert(this);
  }
  ~Session() { server_.session_closed(this); }

  void start() { read(); }

  // Waiting for (the rest of) a request, since when: the server's eviction order.
  bool waiting() const { return !writing_; }
  std::chrono::steady_clock::time_point waiting_since() const { return waiting_since_; }

  // Server stopping: a connection waiting for a request is closed now; one being written
  // to finishes its response and then closes (on_write sees server_.stopping).
  void on_server_stop() {
    if (!writing_) stream_.cancel();
  }

  // Closes the socket now (eviction, or the stop deadline passed). The pending handler
  // then runs with an error and releases the session.
  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

 private:
  // A new connection must send its first byte within first_byte_timeout; a request must
  // arrive whole within request_timeout of its first byte (however the peer trickles it
  // in); between requests a keep-alive connection may idle for request_timeout.
  void read() {
    if (in_request_) {
      stream_.expires_at(request_deadline_);
    } else {
      stream_.expires_after(served_ ? server_.options.request_timeout
                                    : server_.options.first_byte_timeout);
    }
    auto& input = protocol_.input();
    const std::size_t room = std::min<std::size_t>(input.max_size() - input.size(), 4096);
    stream_.async_read_some(
        input.prepare(room),
        [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(beast::error_code ec, std::size_t n) {
    if (ec) return close();  // end of stream, timeout, evicted, stopped, reset by peer
    protocol_.input().commit(n);
    if (!in_request_) begin_request();
    step();
  }

  void begin_request() {
    in_request_ = true;
    waiting_since_ = std::chrono::steady_clock::now();
    request_deadline_ = waiting_since_ + server_.options.request_timeout;
  }

  // Lets the protocol parse what has arrived: read more, or write its response.
  void step() {
    if (protocol_.on_input(server_.stopping) == HttpProtocol::Next::kRead) return read();
    writing_ = true;
    stream_.expires_after(server_.options.request_timeout);
    net::async_write(
        stream_, net::buffer(protocol_.output()),
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    served_ = true;
    if (ec || !protocol_.keep_alive() || server_.stopping) return close();
    in_request_ = false;
    waiting_since_ = std::chrono::steady_clock::now();
    if (protocol_.mid_request()) begin_request();  // pipelined: the next request is here
    step();
  }

  beast::tcp_stream stream_;
  detail::HttpServerImpl& server_;
  HttpProtocol protocol_;
  bool writing_ = false;
  bool served_ = false;      // a response has been written on this connection
  bool in_request_ = false;  // a request's first byte has arrived, not yet answered
  std::chrono::steady_clock::time_point waiting_since_;
  std::chrono::steady_clock::time_point request_deadline_;
};

}  // namespace

void detail::HttpServerImpl::do_accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopping || ec == net::error::operation_aborted) return;
    if (ec) return on_accept_error(ec);
    // At the limit the newcomer replaces the connection that has waited longest for a
    // request: refusing newcomers instead lets anyone who opens max_connections idle
    // connections (or reconnects in a loop) lock Prometheus and the kubelet out.
    if (sessions.size() >= options.max_connections && !evict_longest_waiting()) {
      beast::error_code ignored;
      socket.close(ignored);  // every connection is being answered: this one must wait
    } else {
      std::make_shared<Session>(std::move(socket), *this)->start();
    }
    do_accept();
  });
}

void detail::HttpServerImpl::on_accept_error(beast::error_code ec) {
  // Out of file descriptors (EMFILE, ENFILE): closing a waiting connection frees one for
  // the connection waiting in the backlog, so try again at once.
  const bool no_descriptors =
      ec == net::error::no_descriptors || ec == beast::error_code(ENFILE, beast::system_category());
  if (no_descriptors && evict_longest_waiting()) return do_accept();
  // Otherwise back off briefly (the listening socket stays readable: retrying at once
  // would spin), and report at most every 10 s.
  ++accept_errors;
  const auto now = std::chrono::steady_clock::now();
  if (now - accept_error_reported >= std::chrono::seconds(10)) {
    std::cerr << "sluice metrics: accept failed on "
              << endpoint_text(options.address, bound_port.load()) << ": " << ec.message();
    if (accept_errors > 1) std::cerr << " (" << accept_errors - 1 << " more since the last report)";
    std::cerr << '\n';
    accept_errors = 0;
    accept_error_reported = now;
  }
  accept_retry.expires_after(std::chrono::milliseconds(50));
  accept_retry.async_wait([this](beast::error_code wait_ec) {
    if (!wait_ec && !stopping) do_accept();
  });
}

bool detail::HttpServerImpl::evict_longest_waiting() {
  Session* victim = nullptr;
  for (Session* s : sessions) {
    if (s->waiting() && (!victim || s->waiting_since() < victim->waiting_since())) victim = s;
  }
  if (!victim) return false;
  sessions.erase(victim);  // its slot (and descriptor) is free now; the object ends later
  victim->close();
  return true;
}

void detail::HttpServerImpl::on_stop() {
  stopping = true;
  beast::error_code ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  if (sessions.empty()) return;
  for (Session* s : sessions) s->on_server_stop();
  // Responses still being written get request_timeout to finish; then they are aborted.
  stop_deadline.expires_after(options.request_timeout);
  stop_deadline.async_wait([this](beast::error_code ec) {
    if (ec) return;
    for (Session* s : sessions) s->close();
  });
}

void detail::HttpServerImpl::session_closed(Session* s) noexcept {
  sessions.erase(s);
  if (stopping && sessions.empty()) {
    try {
      stop_deadline.cancel();  // last one out: no need to wait for the deadline
    } catch (const std::exception& e) {
      std::cerr << "sluice metrics: cancelling the stop deadline failed: " << e.what() << '\n';
    }
  }
}

HttpServer::HttpServer(const Registry& registry, HttpServerOptions options)
    : impl_(std::make_unique<detail::HttpServerImpl>(registry, std::move(options))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  detail::HttpServerImpl& s = *impl_;
  if (s.started) throw std::logic_error("metrics HTTP server: start() called twice");
  const std::string where = endpoint_text(s.options.address, s.options.port);
  if (s.options.max_request_bytes == 0 || s.options.max_connections == 0 ||
      s.options.request_timeout.count() <= 0 || s.options.first_byte_timeout.count() <= 0) {
    throw std::invalid_argument("metrics HTTP server " + where +
                                ": max_request_bytes, max_connections, request_timeout and "
                                "first_byte_timeout must be > 0");
  }
  beast::error_code ec;
  const auto address = net::ip::make_address(s.options.address, ec);
  if (ec) {
    throw std::runtime_error("metrics HTTP server: invalid bind address '" + s.options.address +
                             "': " + ec.message());
  }
  const tcp::endpoint endpoint(address, s.options.port);
  auto fail = [&](const char* what) {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    throw std::runtime_error("metrics HTTP server: cannot " + std::string(what) + " " + where +
                             ": " + ec.message());
  };
  s.acceptor.open(endpoint.protocol(), ec);
  if (ec) fail("open a socket for");
  s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) fail("set SO_REUSEADDR on");
  s.acceptor.bind(endpoint, ec);
  if (ec) fail("bind");
  s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) fail("listen on");
  s.bound_port = s.acceptor.local_endpoint().port();
  s.started = true;
  s.do_accept();
  s.thread = std::thread([&s] {
    try {
      s.ioc.run();
    } catch (const std::exception& e) {
      // Handlers catch their own errors; reaching this is a bug worth seeing.
      std::cerr << "sluice metrics: HTTP server thread failed: " << e.what() << '\n';
    }
  });
}

void HttpServer::stop() {
  detail::HttpServerImpl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  net::post(s.ioc, [&s] { s.on_stop(); });
  s.thread.join();
}

std::uint16_t HttpServer::port() const { return impl_->bound_port.load(); }

void HttpServer::set_health_check(ProbeCheck check) {
  auto p = check ? std::make_shared<const ProbeCheck>(std::move(check)) : nullptr;
  std::lock_guard lock(impl_->checks_mu);
  impl_->health = std::move(p);
}

void HttpServer::set_readiness_check(ProbeCheck check) {
  auto p = check ? std::make_shared<const ProbeCheck>(std::move(check)) : nullptr;
  std::lock_guard lock(impl_->checks_mu);
  impl_->readiness = std::move(p);
}

}  // namespace sluice::metrics
