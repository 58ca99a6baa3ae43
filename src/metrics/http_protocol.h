// The metrics endpoint's HTTP/1.1 request handling without sockets: bytes of one
// connection in, serialized responses out. HttpServer runs one HttpProtocol per
// connection and does only the I/O around it; the http_request_fuzz fuzzer feeds it
// arbitrary bytes directly, so what is fuzzed is exactly what the server runs.
//
//   GET /metrics   200, Routes::metrics() in text format 0.0.4 (500 naming the error if it threw)
//   GET /healthz   200 "ok" unless Routes::health says otherwise (then 503 and its message)
//   GET /readyz    200 "ready" when Routes::readiness says so, else 503 and its message
//                  (no readiness check: 503 "not ready")
//   anything else  404; methods other than GET and HEAD get 405 (connection kept)
//   a malformed request gets 400, a request line + headers over max_request_bytes 431,
//   a body over max_request_bytes 413, a chunked body 400 (no endpoint takes a body);
//   after those the connection closes (the rest of the stream cannot be trusted).
//
// Memory per connection is bounded: at most max_request_bytes of header plus one
// parser step of body are buffered (input_limit()), whatever the peer sends.
//
// Single-threaded: one connection, one thread at a time.
#pragma once
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "src/metrics/http_server.h"

namespace sluice::metrics {

// What the endpoints serve. Called on the connection's thread for each request; a
// check that throws is answered 503 ("health check threw: ..."), metrics() that throws 500.
struct Routes {
  std::function<std::string()> metrics;
  std::function<ProbeCheck()> health_check;     // the current /healthz check (none: ok)
  std::function<ProbeCheck()> readiness_check;  // the current /readyz check (none: not ready)
};

class HttpProtocol {
 public:
  enum class Next {
    kRead,     // the request is incomplete: append bytes to input() and call on_input again
    kRespond,  // output() holds a response: send it; then close unless keep_alive()
  };

  // `routes` must outlive this object. max_request_bytes > 0.
  HttpProtocol(const Routes& routes, std::size_t max_request_bytes);

  // Where the connection's bytes go (prepare/commit). Never holds more than input_limit().
  boost::beast::flat_buffer& input() { return input_; }
  std::size_t input_limit() const { return input_.max_size(); }

  // Parses what input() holds. `closing`: the server is stopping, so the response says
  // "Connection: close". After kRespond with keep_alive(), call again before reading:
  // pipelined requests may already be buffered.
  Next on_input(bool closing);

  // The serialized response of the last kRespond (status line, headers, body).
  const std::string& output() const { return output_; }
  // Whether the connection continues after output() has been sent.
  bool keep_alive() const { return keep_alive_; }
  // Whether part of a request has arrived (its first byte, but not all of it): the
  // server's request timeout runs; otherwise the connection is idle between requests.
  bool mid_request() const;

 private:
  using Parser = boost::beast::http::request_parser<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  Next respond(const Parser::value_type& request, bool closing);
  Next respond_error(boost::beast::http::status status, std::string body);
  void set_text(Response& res, boost::beast::http::status status, std::string body) const;
  static ProbeResult run_check(const std::function<ProbeCheck()>& current, const char* what,
                               ProbeResult fallback);

  const Routes& routes_;
  const std::size_t max_request_bytes_;
  boost::beast::flat_buffer input_;
  std::optional<Parser> parser_;
  std::size_t header_bytes_ = 0;  // of the current request's header, consumed so far
  std::string output_;
  bool keep_alive_ = false;
};

}  // namespace sluice::metrics
