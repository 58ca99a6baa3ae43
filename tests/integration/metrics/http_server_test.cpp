// The metrics endpoint over real TCP: status codes, headers, limits, shutdown, and
// promtool's verdict on what /metrics serves.
#include "src/metrics/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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

// A blocking TCP connection to 127.0.0.1:port (that sends nothing by itself); -1 on failure.
int connect_raw(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` on `fd` and reads until the server closes or `timeout` passes; returns
// what arrived (empty on failure). Needs no descriptor beyond `fd`.
std::string exchange_raw(int fd, const std::string& request, std::chrono::milliseconds timeout) {
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size()))
    return {};
  std::string reply;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return reply;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return reply;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return reply;
    reply.append(buf, static_cast<size_t>(n));
  }
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

TEST(MetricsHttpServer, ReadyzFollowsTheReadinessCheckAndSaysWhyNot) {
  Registry r;
  HttpServer server(r, ephemeral());
  server.start();
  auto reply = http_get(server.port(), "/readyz");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body, "not ready\n");
  server.set_readiness_check([] { return ProbeResult{true, "ready"}; });
  reply = http_get(server.port(), "/readyz");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "ready\n");
  server.set_readiness_check([] { return ProbeResult{false, "kafka: all brokers are down"}; });
  reply = http_get(server.port(), "/readyz");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body, "kafka: all brokers are down\n");
  server.set_readiness_check([]() -> ProbeResult { throw std::runtime_error("boom"); });
  reply = http_get(server.port(), "/readyz");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body, "readiness check threw: boom\n");
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

// Beast applies its header limit to the request line and to the fields separately, so a
// long target plus long fields passed as twice the limit; the limit is on the whole header.
TEST(MetricsHttpServer, HeaderOverTheLimitAcrossRequestLineAndFieldsGets431) {
  Registry r;
  HttpServerOptions o = ephemeral();
  o.max_request_bytes = 1024;
  HttpServer server(r, o);
  server.start();
  HttpConnection c(server.port());
  c.write_raw("GET /metrics?" + std::string(700, 'q') +
              " HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(700, 'a') + "\r\n\r\n");
  const auto reply = c.read_reply();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 431);
  EXPECT_TRUE(c.wait_closed_by_server());
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

// Boost 1.74's chunked-body parser asserts (and sluice keeps asserts on in release
// builds) when the last chunk arrives and then fewer than two more bytes: any client could
// abort the process. The endpoints take no request bodies: chunked ones are refused
// before that parser runs.
TEST(MetricsHttpServer, ChunkedRequestBodyGets400AndCannotCrashTheServer) {
  Registry r;
  HttpServer server(r, ephemeral());
  server.start();
  HttpConnection c(server.port());
  c.write_raw("POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // two separate reads
  c.write_raw("X");
  const auto reply = c.read_reply();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 400);
  EXPECT_EQ(reply->body, "bad request: chunked request bodies are not accepted\n");
  EXPECT_TRUE(c.wait_closed_by_server());
  EXPECT_EQ(http_get(server.port(), "/healthz").status, 200);
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

TEST(MetricsHttpServer, NewConnectionThatSendsNothingIsClosedAfterTheFirstByteTimeout) {
  Registry r;
  HttpServerOptions o = ephemeral();
  o.first_byte_timeout = std::chrono::milliseconds(200);
  o.request_timeout = std::chrono::seconds(30);  // not the one that applies
  HttpServer server(r, o);
  server.start();
  const auto t0 = std::chrono::steady_clock::now();
  HttpConnection silent(server.port(), std::chrono::seconds(10));
  EXPECT_TRUE(silent.wait_closed_by_server());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  HttpConnection prompt(server.port());  // a request sent at once is served as before
  EXPECT_EQ(prompt.request("GET", "/healthz").status, 200);
}

TEST(MetricsHttpServer, AtTheConnectionLimitANewcomerReplacesTheLongestWaiting) {
  Registry r;
  HttpServerOptions o = ephemeral();
  o.max_connections = 2;
  HttpServer server(r, o);
  server.start();
  HttpConnection oldest(server.port());
  EXPECT_EQ(oldest.request("GET", "/healthz").status, 200);  // now idle (keep-alive)
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  HttpConnection younger(server.port());
  EXPECT_EQ(younger.request("GET", "/healthz").status, 200);
  HttpConnection newcomer(server.port());  // over the limit: the oldest idle one makes room
  EXPECT_EQ(newcomer.request("GET", "/healthz").status, 200);
  EXPECT_TRUE(oldest.wait_closed_by_server());
  EXPECT_EQ(younger.request("GET", "/readyz").status, 503);  // still open
}

// The flood from the hardening issue: 2,000 connections that send nothing, held open, and
// a client reconnecting in a loop. Prometheus and the kubelet (liveness probe) must still
// get answers, each within one second: the server makes room by closing the connections
// that have waited longest without a request instead of refusing the newcomer.
TEST(MetricsHttpServer, ScrapesAndProbesAnswerWithinOneSecondWhileFlooded) {
  constexpr int kIdle = 2000;
  // Both ends of every connection live in this process.
  ASSERT_GE(testing::raise_fd_limit(), 2u * kIdle + 256) << "RLIMIT_NOFILE hard limit too low";
  Registry r;
  r.counter("sluice_records_total", "Records.").inc(7);
  HttpServer server(r, ephemeral());  // default limits: 64 connections, 5 s request timeout
  server.start();
  const auto port = server.port();
  std::vector<int> idle;
  for (int i = 0; i < kIdle; ++i) {
    const int fd = connect_raw(port);
    ASSERT_GE(fd, 0) << "connection " << i << ": " << std::strerror(errno);
    idle.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> reconnects{0};
  std::thread churn([&] {
    while (!stop.load()) {
      const int fd = connect_raw(port);
      if (fd < 0) continue;
      pollfd p{fd, POLLIN, 0};
      ::poll(&p, 1, 1);  // hold it a moment (or until the server closes it), then again
      ::close(fd);
      ++reconnects;
    }
  });
  auto slowest = std::chrono::steady_clock::duration::zero();
  for (int round = 0; round < 5; ++round) {
    for (const char* path : {"/metrics", "/healthz"}) {
      const auto t0 = std::chrono::steady_clock::now();
      int status = 0;
      try {
        HttpConnection c(port, std::chrono::seconds(1));
        status = c.request("GET", path).status;
      } catch (const std::runtime_error& e) {
        ADD_FAILURE() << path << " (round " << round << "): " << e.what();
      }
      const auto took = std::chrono::steady_clock::now() - t0;
      slowest = std::max(slowest, took);
      EXPECT_EQ(status, 200) << path << " (round " << round << ")";
      EXPECT_LE(took, std::chrono::seconds(1)) << path << " (round " << round << ")";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop = true;
  churn.join();
  for (int fd : idle) ::close(fd);
  std::printf("[ flood ] %d idle connections, %d reconnects: slowest answer %lld ms\n", kIdle,
              reconnects.load(),
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count()));
}

// Out of file descriptors, accept() fails with EMFILE. The server must neither spin nor
// stop answering: it closes the connection that has waited longest without a request,
// which frees a descriptor for the newcomer.
TEST(MetricsHttpServer, AnswersWhenTheProcessIsOutOfFileDescriptors) {
  Registry r;
  HttpServer server(r, ephemeral());
  server.start();
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(connect_raw(server.port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // accepted by now
  // Fill the descriptor table (under a lowered soft limit, restored below), then free one
  // descriptor: the scraper's socket takes it, and the server's accept() finds none.
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  std::vector<int> filler;
  for (int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC); fd >= 0 && filler.size() < 100000;
       fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) {
    filler.push_back(fd);
    if (filler.size() == 1) {
      rlimit low = saved;
      low.rlim_cur = static_cast<rlim_t>(fd) + 64;
      ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    }
  }
  ASSERT_EQ(errno, EMFILE);
  ::close(filler.back());
  filler.pop_back();
  const int scraper = connect_raw(server.port());
  std::string reply;
  if (scraper >= 0) {
    reply = exchange_raw(scraper, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                         std::chrono::seconds(2));
    ::close(scraper);
  }
  for (int fd : filler) ::close(fd);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  for (int fd : idle) ::close(fd);
  ASSERT_GE(scraper, 0);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  // Descriptors are back: business as usual.
  EXPECT_EQ(http_get(server.port(), "/healthz").status, 200);
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
