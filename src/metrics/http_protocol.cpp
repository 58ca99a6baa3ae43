#include "src/metrics/http_protocol.h"

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/serializer.hpp>
#include <exception>
#include <string_view>

namespace sluice::metrics {

namespace beast = boost::beast;
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";

// Appends the wire form of `msg` (status line, headers and, unless it is header-only,
// the body) to `out`.
template <class Body>
void serialize(http::response<Body>& msg, std::string& out) {
  http::response_serializer<Body> sr(msg);
  beast::error_code ec;
  while (!ec && !sr.is_done()) {
    sr.next(ec, [&](beast::error_code&, const auto& buffers) {
      std::size_t n = 0;
      for (const auto b : beast::buffers_range_ref(buffers)) {
        out.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      sr.consume(n);
    });
  }
}

}  // namespace

HttpProtocol::HttpProtocol(const Routes& routes, std::size_t max_request_bytes)
    : routes_(routes), max_request_bytes_(max_request_bytes), input_(max_request_bytes) {}

bool HttpProtocol::mid_request() const {
  return input_.size() > 0 || (parser_ && parser_->got_some());
}

HttpProtocol::Next HttpProtocol::on_input(bool closing) {
  if (!parser_) {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(max_request_bytes_));
    parser_->body_limit(max_request_bytes_);
    header_bytes_ = 0;
  }
  while (!parser_->is_done()) {
    beast::error_code ec;
    const bool in_header = !parser_->is_header_done();
    boost::asio::const_buffer data = input_.data();
    // Beast applies header_limit to the request line and to the fields separately
    // (it consumes the line first): show it no more than what is left of the limit
    // for the whole header.
    if (in_header) data = boost::asio::buffer(data, max_request_bytes_ - header_bytes_);
    if (data.size() > 0) {
      const std::size_t used = parser_->put(data, ec);
      input_.consume(used);
      if (in_header) header_bytes_ += used;
    } else {
      ec = http::error::need_more;
    }
    if (ec == http::error::need_more) {
      if (in_header && header_bytes_ + input_.size() >= max_request_bytes_) {
        ec = http::error::header_limit;  // the header has not ended within the limit
      } else if (input_.size() < input_.max_size()) {
        return Next::kRead;
      } else {
        ec = http::error::body_limit;  // a chunk line longer than the buffer
      }
    }
    if (!ec && in_header && parser_->is_header_done() && parser_->chunked()) {
      // No endpoint takes a body, and Boost 1.74's chunked-body parser asserts (aborting
      // the process: sluice keeps asserts on) when the last chunk is followed by fewer
      // than two more bytes in one read. Refuse before it runs.
      return respond_error(http::status::bad_request,
                           "bad request: chunked request bodies are not accepted\n");
    }
    if (ec == http::error::header_limit)
      return respond_error(http::status::request_header_fields_too_large,
                           "request header too large\n");
    if (ec == http::error::body_limit)
      return respond_error(http::status::payload_too_large, "request body too large\n");
    if (ec) return respond_error(http::status::bad_request, "bad request: " + ec.message() + "\n");
  }
  const Next next = respond(parser_->get(), closing);
  parser_.reset();
  return next;
}

void HttpProtocol::set_text(Response& res, http::status status, std::string body) const {
  res.result(status);
  res.set(http::field::content_type,
          beast::string_view(kTextContentType.data(), kTextContentType.size()));
  res.body() = std::move(body);
}

ProbeResult HttpProtocol::run_check(const std::function<ProbeCheck()>& current, const char* what,
                                    ProbeResult fallback) {
  const ProbeCheck check = current ? current() : ProbeCheck();
  if (!check) return fallback;
  try {
    return check();
  } catch (const std::exception& e) {
    return {false, std::string(what) + " check threw: " + e.what()};
  }
}

HttpProtocol::Next HttpProtocol::respond(const Parser::value_type& req, bool closing) {
  const bool head = req.method() == http::verb::head;
  Response res;
  res.version(req.version());
  res.set(http::field::server, "sluice");
  keep_alive_ = req.keep_alive() && !closing;
  res.keep_alive(keep_alive_);

  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  if (req.method() != http::verb::get && !head) {
    set_text(res, http::status::method_not_allowed, "method not allowed\n");
    res.set(http::field::allow, "GET, HEAD");
  } else if (path == "/metrics") {
    try {
      res.body() = routes_.metrics ? routes_.metrics() : std::string();
      res.result(http::status::ok);
      res.set(http::field::content_type,
              beast::string_view(kMetricsContentType.data(), kMetricsContentType.size()));
    } catch (const std::exception& e) {
      set_text(res, http::status::internal_server_error,
               std::string("metrics: ") + e.what() + "\n");
    }
  } else if (path == "/healthz") {
    const ProbeResult health = run_check(routes_.health_check, "health", {true, "ok"});
    set_text(res, health.first ? http::status::ok : http::status::service_unavailable,
             health.second + "\n");
  } else if (path == "/readyz") {
    const ProbeResult ready = run_check(routes_.readiness_check, "readiness", {false, "not ready"});
    set_text(res, ready.first ? http::status::ok : http::status::service_unavailable,
             ready.second + "\n");
  } else {
    set_text(res, http::status::not_found, "not found; try /metrics, /healthz or /readyz\n");
  }
  res.prepare_payload();
  output_.clear();
  if (head) {
    // Same header (Content-Length of the GET body), no body.
    http::response<http::empty_body> header_only(std::move(res.base()));
    serialize(header_only, output_);
  } else {
    serialize(res, output_);
  }
  return Next::kRespond;
}

// Bad or oversized request: answer and close, since the rest of the stream cannot be trusted.
HttpProtocol::Next HttpProtocol::respond_error(http::status status, std::string body) {
  Response res;
  res.version(11);
  res.set(http::field::server, "sluice");
  res.keep_alive(false);
  keep_alive_ = false;
  set_text(res, status, std::move(body));
  res.prepare_payload();
  output_.clear();
  serialize(res, output_);
  parser_.reset();
  input_.clear();
  return Next::kRespond;
}

}  // namespace sluice::metrics
