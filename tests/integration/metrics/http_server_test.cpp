// The metrics endpoint over real TCP: status codes, headers, limits, shutdown, and
// promtool's verdict on what /metrics serves.
#include "src/metrics/http_server.h"

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <thread>

#include "src/metrics/build_info.h"
#include "src/metrics/process_collector.h"
#include "src/metrics/stage_probe.h"
#include "tests/integration/metrics/support.h"

namespace sluice::metrics {
namespace {

using testing::http_get;
using testing::HttpConnection;

constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kTextType = "text/plain; charset=utf-8";

HttpServerOptions ephemeral() {
  HttpServerOptions o;
  o.port = 0;
  return o;
}

TEST(MetricsHttpServer, ServesTheRegistryAtMetrics) {
  Registry r;
  r.counter("sluice_records_total", "Records.", {{"pipeline", "p"}}).inc(42);
  HttpServer server(r, ephemeral());
  server.start();
  ASSERT_NE(server.port(), 0);
  const auto reply = http_get(server.port(), "/metrics");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_type, kMetricsType);
  EXPECT_EQ(reply.body,
            "# HELP sluice_records_total Records.\n"
            "# TYPE sluice_records_total counter\n"
            "sluice_records_total{pipeline=\"p\"} 42\n");
  EXPECT_EQ(http_get(server.port(), "/metrics?format=text").body, reply.body);  // query ignored
}

TEST(MetricsHttpServer, HealthzFollowsTheHealthCheck) {
  Registry r;
  HttpServer server(r, ephemeral());
  server.start();
  auto reply = http_get(server.port(), "/healthz");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "ok\n");
  EXPECT_EQ(reply.content_type, kTextType);
  server.set_health_check([] { return std::pair<bool, std::string>{false, "kafka unreachable"}; });
  reply = http_get(server.port(), "/healthz");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body, "kafka unreachable\n");
  server.set_health_check(
      []() -> std::pair<bool, std::string> { throw std::runtime_error("boom"); });
  reply = http_get(server.port(), "/healthz");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body, "health check threw: boom\n");
  server.set_health_check(nullptr);
  EXPECT_EQ(http_get(server.port(), "/healthz").status, 200);
}

TEST(MetricsHttpServer, ReadyzIs503UntilReady) {
  Registry r;
  HttpServer server(r, ephemeral());
  server.start();
  auto reply = http_get(server.port(), "/readyz");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body, "not ready\n");
  server.set_ready(true);
  reply = http_get(server.port(), "/readyz");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "ready\n");
  server.set_ready(false);
  EXPECT_EQ(http_get(server.port(), "/readyz").status, 503);
}

TEST(MetricsHttpServer, UnknownPathsAre404AndOtherMethods405) {
  Registry r;
  HttpServer server(r, ephemeral());
  server.start();
  HttpConnection c(server.port());
  for (const char* path : {"/nope", "/", "/metrics/", "/METRICS"}) {
    const auto reply = c.request("GET", path);
    EXPECT_EQ(reply.status, 404) << path;
    EXPECT_EQ(reply.body, "not found; try /metrics, /healthz or /readyz\n");
  }
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    const auto reply = c.request(method, "/metrics");
    EXPECT_EQ(reply.status, 405) << method;
    EXPECT_EQ(reply.allow, "GET, HEAD");
    EXPECT_TRUE(reply.keep_alive);
  }
  EXPECT_EQ(c.request("GET", "/metrics").status, 200);  // same connection still usable
}

TEST(MetricsHttpServer, HeadAnswersWithHeadersOnly) {
  Registry r;
  r.gauge("g", "G.").set(1);
  HttpServer server(r, ephemeral());
  server.start();
  HttpConnection c(server.port());
  const auto head = c.request("HEAD", "/metrics");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.content_type, kMetricsType);
  EXPECT_EQ(head.content_length, std::to_string(r.render().size()));
  const auto get = c.request("GET", "/metrics");  // the stream stayed in sync after HEAD
  EXPECT_EQ(get.body, r.render());
}

TEST(MetricsHttpServer, KeepsConnectionsAliveAcrossRequests) {
  Registry r;
  Counter& c = r.counter("x_total", "X.");
  HttpServer server(r, ephemeral());
  server.start();
  HttpConnection conn(server.port());
  for (int i = 1; i <= 5; ++i) {
    c.inc();
    const auto reply = conn.request("GET", "/metrics");
    EXPECT_EQ(reply.status, 200);
    EXPECT_TRUE(reply.keep_alive);
    EXPECT_EQ(reply.body,
              "# HELP x_total X.\n# TYPE x_total counter\nx_total " + std::to_string(i) + "\n");
  }
  const auto last = conn.request("GET", "/readyz", {{"Connection", "close"}});
  EXPECT_FALSE(last.keep_alive);
  EXPECT_TRUE(conn.wait_closed_by_server());
}

TEST(MetricsHttpServer, OversizedHeaderGets431AndTheConnectionCloses) {
  Registry r;
  HttpServerOptions o = ephemeral();
  o.max_request_bytes = 1024;
  HttpServer server(r, o);
  server.start();
  HttpConnection c(server.port());
  c.write_raw("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(2000, 'a') + "\r\n\r\n");
  const auto reply = c.read_reply();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 431);
  EXPECT_FALSE(reply->keep_alive);
  EXPECT_TRUE(c.wait_closed_by_server());
  // A request just under the limit is served.
  HttpConnection ok(server.port());
  EXPECT_EQ(ok.request("GET", "/metrics", {{"X-Pad", std::string(800, 'a')}}).status, 200);
}

TEST(MetricsHttpServer, OversizedBodyGets413AndTheConnectionCloses) {
  Registry r;
  HttpServerOptions o = ephemeral();
  o.max_request_bytes = 1024;
  HttpServer server(r, o);
  server.start();
  HttpConnection c(server.port());
  c.write_raw("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
  const auto reply = c.read_reply();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 413);
  EXPECT_EQ(reply->body, "request body too large\n");
  EXPECT_TRUE(c.wait_closed_by_server());
}

TEST(MetricsHttpServer, MalformedRequestGets400) {
  Registry r;
  HttpServer server(r, ephemeral());
  server.start();
  for (const char* bad : {"GET /metrics HTTP/9\r\n\r\n", "GET  HTTP/1.1\r\n\r\n",
                          "GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n"}) {
    HttpConnection c(server.port());
    c.write_raw(bad);
    const auto reply = c.read_reply();
    ASSERT_TRUE(reply.has_value()) << bad;
    EXPECT_EQ(reply->status, 400) << bad;
    EXPECT_EQ(reply->body.rfind("bad request: ", 0), 0u) << reply->body;
    EXPECT_TRUE(c.wait_closed_by_server());
  }
}

TEST(MetricsHttpServer, ClientThatStallsIsDisconnectedAfterTheRequestTimeout) {
  Registry r;
  HttpServerOptions o = ephemeral();
  o.request_timeout = std::chrono::milliseconds(200);
  HttpServer server(r, o);
  server.start();
  HttpConnection partial(server.port(), std::chrono::seconds(30));
  partial.write_raw("GET /metr");  // and never the rest
  EXPECT_TRUE(partial.wait_closed_by_server());
  HttpConnection idle(server.port(), std::chrono::seconds(30));
  EXPECT_EQ(idle.request("GET", "/healthz").status, 200);
  EXPECT_TRUE(idle.wait_closed_by_server());  // idle keep-alive connection
}

TEST(MetricsHttpServer, ClientThatTricklesARequestIsDisconnectedAfterTheRequestTimeout) {
  Registry r;
  HttpServerOptions o = ephemeral();
  o.request_timeout = std::chrono::milliseconds(300);
  HttpServer server(r, o);
  server.start();
  HttpConnection slow(server.port(), std::chrono::seconds(30));
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(40, 'a');
  const auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  for (char c : request) {  // one byte every 50 ms: each read is quick, the request is not
    try {
      slow.write_raw(std::string(1, c));
    } catch (const std::runtime_error&) {
      closed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(closed || slow.wait_closed_by_server());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

TEST(MetricsHttpServer, ConnectionsBeyondTheLimitAreClosed) {
  Registry r;
  HttpServerOptions o = ephemeral();
  o.max_connections = 1;
  HttpServer server(r, o);
  server.start();
  {
    HttpConnection first(server.port());
    EXPECT_EQ(first.request("GET", "/healthz").status, 200);  // accepted and alive
    HttpConnection second(server.port());
    second.write_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_FALSE(second.read_reply().has_value());
  }
  // Once the first connection is gone its slot is free again (the server notices the close
  // asynchronously, so retry briefly).
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    try {
      HttpConnection again(server.port());
      again.write_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      if (auto reply = again.read_reply()) status = reply->status;
    } catch (const std::runtime_error&) {
    }
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(status, 200);
}

TEST(MetricsHttpServer, FailingCallbackGives500WithTheReason) {
  Registry r;
  r.gauge_callback("gpu_bytes", "GPU.", {},
                   []() -> double { throw std::runtime_error("no device"); });
  HttpServer server(r, ephemeral());
  server.start();
  const auto reply = http_get(server.port(), "/metrics");
  EXPECT_EQ(reply.status, 500);
  EXPECT_EQ(reply.body, "metrics: metric 'gpu_bytes': callback threw: no device\n");
}

TEST(MetricsHttpServer, BindFailureNamesTheAddressAndTheOsError) {
  Registry r;
  HttpServer first(r, ephemeral());
  first.start();
  HttpServerOptions o;
  o.port = first.port();
  HttpServer second(r, o);
  try {
    second.start();
    FAIL() << "second bind succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "metrics HTTP server: cannot bind 127.0.0.1:" +
                                         std::to_string(first.port()) + ": Address already in use");
  }
  second.stop();  // never started: no-op
  HttpServerOptions bad;
  bad.address = "not-an-address";
  HttpServer third(r, bad);
  try {
    third.start();
    FAIL() << "bad address accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("metrics HTTP server: invalid bind address "
                                          "'not-an-address': ",
                                          0),
              0u)
        << e.what();
  }
  EXPECT_EQ(http_get(first.port(), "/healthz").status, 200);  // the first is unaffected
}

TEST(MetricsHttpServer, StopClosesIdleConnectionsAndIsIdempotent) {
  Registry r;
  HttpServerOptions o = ephemeral();
  o.request_timeout = std::chrono::minutes(10);  // stop() must not wait for idle clients
  HttpServer server(r, o);
  server.start();
  const auto port = server.port();
  HttpConnection idle(port);
  EXPECT_EQ(idle.request("GET", "/healthz").status, 200);
  server.stop();
  EXPECT_TRUE(idle.wait_closed_by_server());
  server.stop();
  EXPECT_THROW(HttpConnection{port}, std::runtime_error);  // nothing listens any more
  EXPECT_THROW(server.start(), std::logic_error);
}

TEST(MetricsHttpServer, ServesIPv6Loopback) {
  Registry r;
  HttpServerOptions o = ephemeral();
  o.address = "::1";
  HttpServer server(r, o);
  try {
    server.start();
  } catch (const std::runtime_error& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  EXPECT_NE(server.port(), 0);
}

// promtool (Debian package `prometheus`) parses and lints what /metrics serves: every
// kind of series sluice emits, including escaping, special values and overflow.
TEST(MetricsHttpServer, PromtoolAcceptsTheScrapedExposition) {
  const auto promtool = testing::find_program("promtool");
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool not found on PATH (Debian package 'prometheus'); "
                    "cannot validate the exposition format";
  }
  Registry r(RegistryOptions{.max_series_per_family = 3});
  register_build_info(r, SLUICE_VERSION, "cuda: not built (SLUICE_CUDA=OFF or no toolkit found)",
                      "0123abc");
  register_process_metrics(r);
  r.counter("sluice_records_consumed_total", "Records read from Kafka.",
            {{"pipeline", "sentiment"}, {"topic", "reviews"}, {"partition", "0"}})
      .inc(1234567);
  for (int p = 0; p < 5; ++p) {  // two of these fold into the overflow series
    r.gauge("sluice_consumer_lag_records", "Records behind the partition's high watermark.",
            {{"topic", "reviews"}, {"partition", std::to_string(p)}})
        .set(p * 10);
  }
  r.gauge("sluice_model_info", "Loaded model (value is 1).",
          {{"path", "C:\\models\\\"distil\"\nbert"}, {"arch", "DistilBERT"}})
      .set(1);
  r.gauge("sluice_special_values", "Special float values.", {{"v", "nan"}})
      .set(std::numeric_limits<double>::quiet_NaN());
  r.gauge("sluice_special_values", "Special float values.", {{"v", "inf"}})
      .set(std::numeric_limits<double>::infinity());
  r.gauge("sluice_special_values", "Special float values.", {{"v", "neg_inf"}})
      .set(-std::numeric_limits<double>::infinity());
  Histogram& lat = r.histogram("sluice_end_to_end_latency_seconds", "Kafka timestamp to ack.",
                               latency_seconds_buckets(), {{"pipeline", "sentiment"}});
  for (double v : {0.00005, 0.003, 0.2, 45.0}) lat.observe(v);
  r.histogram("sluice_batch_records", "Records per batch.", exponential_buckets(1, 2, 10))
      .observe(17);
  StageProbe probe(
      r, "sentiment", "tokenize",
      StageReaders{[] { return 10.0; }, [] { return 9.0; }, [] { return 1.0; }, [] { return 0.0; },
                   [] { return 0.5; }, [] { return 3.0; }, [] { return 1024.0; }});

  HttpServer server(r, ephemeral());
  server.start();
  const auto reply = http_get(server.port(), "/metrics");
  ASSERT_EQ(reply.status, 200);
  EXPECT_NE(reply.body.find("sluice_consumer_lag_records{partition=\"__overflow__\","
                            "topic=\"__overflow__\"} 40\n"),
            std::string::npos);
  const auto check = testing::run_command({promtool.string(), "check", "metrics"}, reply.body);
  EXPECT_EQ(check.exit_code, 0) << check.output << "\n--- body ---\n" << reply.body;
  EXPECT_EQ(check.output, "") << reply.body;
}

// The check above would be worthless if promtool accepted anything: show it rejects
// an exposition that breaks the conventions the registry enforces.
TEST(MetricsHttpServer, PromtoolRejectsWhatTheRegistryRefuses) {
  const auto promtool = testing::find_program("promtool");
  if (promtool.empty()) GTEST_SKIP() << "promtool not found on PATH (Debian package 'prometheus')";
  const auto lint = testing::run_command({promtool.string(), "check", "metrics"},
                                         "# HELP records Records.\n# TYPE records counter\n"
                                         "records 1\n");
  EXPECT_NE(lint.exit_code, 0);
  EXPECT_NE(lint.output.find("_total"), std::string::npos) << lint.output;
  const auto parse = testing::run_command({promtool.string(), "check", "metrics"},
                                          "# TYPE g gauge\ng{a=\"unterminated} 1\n");
  EXPECT_NE(parse.exit_code, 0);
}

}  // namespace
}  // namespace sluice::metrics
