// libFuzzer target over the metrics endpoint's request handling: HttpProtocol, the exact
// parse-and-route code HttpServer runs for each connection (src/metrics/http_protocol.h),
// fed bytes directly — no sockets, so tens of thousands of connections a second.
//
// Input: byte 0 picks how the bytes arrive and what the routes say, the rest is what one
// connection sends (then it reaches end of stream):
//   bits 0-2  read size: 1, 2, 3, 7, 16, 100, 1000 bytes, or everything at once
//   bit 3     the server is stopping (every response closes the connection)
//   bit 4     /healthz failing; bit 5 /readyz passing; bit 6 /metrics throwing
// Invariants, on every input:
//   - every response is one complete HTTP/1.1 response (read back with Beast's response
//     parser, independent of the serializer that wrote it) whose status is one the
//     endpoint uses, with a Content-Length equal to its body (or no body: HEAD);
//   - 400, 413 and 431 close the connection, and so does any response while stopping;
//   - the protocol never asks for more bytes with its buffer full (bounded memory), so a
//     request whose header does not fit gets 431 (or 400 if it is malformed first);
//   - a first request whose header has not ended within max_request_bytes is never
//     answered with a success.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include "src/metrics/http_protocol.h"
#include "tests/fuzz/fuzz_assert.h"

namespace {

namespace http = boost::beast::http;
using sluice::metrics::HttpProtocol;
using sluice::metrics::ProbeCheck;
using sluice::metrics::ProbeResult;
using sluice::metrics::Routes;

constexpr std::size_t kMaxRequestBytes = 1024;
constexpr std::size_t kReadSizes[] = {1, 2, 3, 7, 16, 100, 1000, SIZE_MAX};

// Checks one serialized response; returns its status.
unsigned check_response(const std::string& wire, bool keep_alive, bool stopping) {
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  boost::beast::error_code ec;
  const std::size_t used = parser.put(boost::asio::buffer(wire), ec);
  FUZZ_ASSERT(!ec || ec == http::error::need_more);
  FUZZ_ASSERT(parser.is_header_done());
  const auto& res = parser.get();
  const unsigned status = res.result_int();
  FUZZ_ASSERT(status == 200 || status == 400 || status == 404 || status == 405 || status == 413 ||
              status == 431 || status == 500 || status == 503);
  const auto length = res.find(http::field::content_length);
  FUZZ_ASSERT(length != res.end());
  const std::size_t declared = std::stoul(std::string(length->value()));
  const std::size_t body = wire.size() - used + res.body().size();
  FUZZ_ASSERT(body == declared || (body == 0 && !parser.is_done()));  // HEAD: the header only
  FUZZ_ASSERT(parser.is_done() || body == 0);
  FUZZ_ASSERT(res.keep_alive() == keep_alive);
  if (status == 400 || status == 413 || status == 431 || stopping) FUZZ_ASSERT(!keep_alive);
  return status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t options = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t read_size = kReadSizes[options & 7];
  const bool stopping = options & 8;
  const bool healthy = !(options & 16);
  const bool ready = options & 32;
  const bool metrics_throw = options & 64;

  Routes routes;
  routes.metrics = [&]() -> std::string {
    if (metrics_throw) throw std::runtime_error("metric 'x': callback threw: no device");
    return "# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n";
  };
  routes.health_check = [&] {
    return ProbeCheck([&] { return ProbeResult{healthy, healthy ? "ok" : "stage 'x' stalled"}; });
  };
  routes.readiness_check = [&] {
    return ProbeCheck([&] { return ProbeResult{ready, ready ? "ready" : "starting"}; });
  };
  HttpProtocol protocol(routes, kMaxRequestBytes);
  FUZZ_ASSERT(protocol.input_limit() == kMaxRequestBytes);

  // The first request's header: where it ends, if it does within the limit.
  const std::size_t header_end = bytes.find("\r\n\r\n");
  const bool first_header_too_long =
      bytes.size() > kMaxRequestBytes &&
      (header_end == std::string_view::npos || header_end + 4 > kMaxRequestBytes);

  std::size_t pos = 0;
  int responses = 0;
  for (;;) {
    if (protocol.on_input(stopping) == HttpProtocol::Next::kRespond) {
      const unsigned status = check_response(protocol.output(), protocol.keep_alive(), stopping);
      if (responses++ == 0 && first_header_too_long) FUZZ_ASSERT(status >= 400);
      if (!protocol.keep_alive()) break;  // the server closes the connection
      continue;
    }
    if (pos == bytes.size()) break;  // end of stream with a partial request: closed
    auto& input = protocol.input();
    FUZZ_ASSERT(input.size() < protocol.input_limit());  // room to read into: memory stays bounded
    const std::size_t take =
        std::min({read_size, protocol.input_limit() - input.size(), bytes.size() - pos});
    auto room = input.prepare(take);
    std::memcpy(room.data(), bytes.data() + pos, take);
    input.commit(take);
    pos += take;
  }
  return 0;
}
