// The HTTP endpoint Prometheus scrapes, and the liveness/readiness probes that
// orchestrators (Kubernetes, docker-compose) poll:
//
//   GET /metrics   200, the registry in text format 0.0.4 (500 if a metric callback threw)
//   GET /healthz   200 "ok" unless the health check says otherwise (then 503 and its message)
//   GET /readyz    200 when the readiness check passes, else 503 and its message
//                  ("not ready" while there is no readiness check)
//   anything else  404; methods other than GET and HEAD get 405
//
// The server runs its own Boost.Asio io_context on its own thread: never on a pipeline
// thread, and a slow or hostile client cannot delay the hot path. Requests larger than
// max_request_bytes get 431 (header) or 413 (body) and the connection is closed; a
// malformed request gets 400 (src/metrics/http_protocol.h does the HTTP). Connections
// are kept alive (HTTP/1.1).
//
// Shutting it out is hard, so that scrapes and probes get through a flood of idle
// connections or a client reconnecting in a loop: a new connection that sends nothing
// for first_byte_timeout is closed; a request must arrive whole within request_timeout of
// its first byte; a keep-alive connection idle for request_timeout is closed. At most
// max_connections are open at once; at the limit a newcomer replaces the connection that
// has waited longest for a request (only connections being answered are spared), rather
// than being refused. Out of file descriptors (EMFILE), accept() makes room the same way,
// or backs off briefly. Each connection buffers at most max_request_bytes.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "src/metrics/registry.h"

namespace sluice::metrics {

struct HttpServerOptions {
  std::string address = "127.0.0.1";     // IPv4 or IPv6 literal; "0.0.0.0" to listen on all
  std::uint16_t port = 9464;             // 0 = an ephemeral port (tests); see HttpServer::port()
  std::size_t max_request_bytes = 8192;  // request line + headers, and body
  // From a request's first byte to its end, for writing a response, and idle keep-alive.
  std::chrono::milliseconds request_timeout{5000};
  // A new connection's first byte: legitimate clients send the request at once.
  std::chrono::milliseconds first_byte_timeout{2000};
  std::size_t max_connections = 64;
};

// A probe's verdict: (passing, message); the message is the response body.
using ProbeResult = std::pair<bool, std::string>;
// A health or readiness check. Runs on the server thread for each probe request, so it
// must be thread-safe and cheap.
using ProbeCheck = std::function<ProbeResult()>;

namespace detail {
struct HttpServerImpl;  // Beast stays out of this header
}

// start() and stop() are called from one controlling thread (not from a callback the
// server runs); set_health_check() and set_readiness_check() from any thread. The registry
// must outlive the server.
class HttpServer {
 public:
  HttpServer(const Registry& registry, HttpServerOptions options);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving. Throws std::runtime_error naming address:port and the OS
  // error (e.g. "address already in use") if it cannot; std::logic_error if called twice.
  void start();
  // Stops accepting, closes idle connections, lets responses being written finish
  // (bounded by request_timeout) and joins the thread. Idempotent.
  void stop();
  // The bound port (the actual one when options.port was 0); 0 before start().
  std::uint16_t port() const;

  // The checks /healthz and /readyz answer with; null: the defaults above.
  void set_health_check(ProbeCheck check);
  void set_readiness_check(ProbeCheck check);

 private:
  std::unique_ptr<detail::HttpServerImpl> impl_;
};

}  // namespace sluice::metrics
