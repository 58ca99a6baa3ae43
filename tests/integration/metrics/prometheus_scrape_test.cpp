// A real Prometheus server (Debian package `prometheus`) scrapes our endpoint; the
// test then reads the values back through Prometheus' query API. This is the check
// that matters in production: the exposition is accepted by the actual consumer,
// label escaping survives a real parser, histograms arrive as histograms.
//
// Label `slow`: it waits for Prometheus to start and scrape (a few seconds; bounded
// by kDeadline). The server is always killed, whatever the outcome.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "src/metrics/http_server.h"
#include "tests/integration/metrics/support.h"

namespace sluice::metrics {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kDeadline = std::chrono::seconds(40);
constexpr const char* kJob = "sluice_metrics_it";

std::string url_encode(const std::string& s) {
  static constexpr const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class PrometheusServer {
 public:
  PrometheusServer(const std::filesystem::path& binary, std::uint16_t target_port)
      : port_(testing::free_tcp_port()) {
    const auto config = dir_.path() / "prometheus.yml";
    std::ofstream(config) << "global:\n"
                             "  scrape_interval: 1s\n"
                             "  scrape_timeout: 1s\n"
                             "  evaluation_interval: 1s\n"
                             "scrape_configs:\n"
                             "  - job_name: "
                          << kJob
                          << "\n"
                             "    static_configs:\n"
                             "      - targets: ['127.0.0.1:"
                          << target_port << "']\n";
    log_ = dir_.path() / "prometheus.log";
    process_.emplace(
        std::vector<std::string>{binary.string(), "--config.file=" + config.string(),
                                 "--storage.tsdb.path=" + (dir_.path() / "data").string(),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                 "--log.level=warn"},
        log_);
  }

  // Result vector of an instant query, or std::nullopt while Prometheus is not answering.
  std::optional<nlohmann::json> query(const std::string& promql) {
    try {
      const auto reply = testing::http_get(port_, "/api/v1/query?query=" + url_encode(promql));
      if (reply.status != 200) return std::nullopt;
      auto j = nlohmann::json::parse(reply.body);
      if (j.at("status") != "success") return std::nullopt;
      return j.at("data").at("result");
    } catch (const std::exception&) {
      return std::nullopt;  // not listening yet
    }
  }

  // Polls `promql` until its single sample's value equals `expected` or the deadline passes;
  // returns the last value seen ("" if none).
  std::string wait_for_value(const std::string& promql, const std::string& expected,
                             Clock::time_point deadline) {
    std::string last;
    while (Clock::now() < deadline) {
      if (auto exited = process_->exited()) {
        ADD_FAILURE() << "prometheus exited (status " << *exited << "):\n" << log();
        return last;
      }
      if (auto result = query(promql); result && result->size() == 1) {
        last = (*result)[0].at("value").at(1).get<std::string>();
        if (last == expected) return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return last;
  }

  // Waits for the first scrape of our target; returns "" on success, else why it failed
  // (Prometheus' own scrape error when it rejected our exposition).
  std::string wait_for_first_scrape(Clock::time_point deadline) {
    while (Clock::now() < deadline) {
      if (auto exited = process_->exited()) {
        return "prometheus exited (status " + std::to_string(*exited) + "):\n" + log();
      }
      try {
        const auto reply = testing::http_get(port_, "/api/v1/targets?state=active");
        const auto targets = nlohmann::json::parse(reply.body).at("data").at("activeTargets");
        for (const auto& t : targets) {
          if (t.at("labels").at("job") != kJob) continue;
          const auto health = t.at("health").get<std::string>();
          if (health == "up") return "";
          if (health == "down") return "scrape failed: " + t.at("lastError").get<std::string>();
        }
      } catch (const std::exception&) {
        // not listening yet
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return "no scrape before the deadline; log:\n" + log();
  }

  std::string log() const { return testing::read_file(log_); }

 private:
  testing::TempDir dir_;
  std::uint16_t port_;
  std::filesystem::path log_;
  std::optional<testing::ChildProcess> process_;  // declared last: killed first
};

TEST(MetricsPrometheusScrape, RealPrometheusScrapesAndReadsBackOurValues) {
  const auto binary = testing::find_program("prometheus");
  if (binary.empty()) {
    GTEST_SKIP() << "prometheus not found on PATH (Debian package 'prometheus'); "
                    "cannot run the real-scrape test";
  }
  Registry r;
  Counter& records = r.counter("sluice_it_records_total", "Records.", {{"pipeline", "it"}});
  records.inc(42);
  const double bounds[] = {0.3, 1};
  Histogram& lat = r.histogram("sluice_it_latency_seconds", "Latency.", bounds);
  for (double v : {0.25, 0.5, 4.0}) lat.observe(v);
  r.gauge("sluice_it_info", "Escaping check.", {{"path", "a\"b\\c\nd"}}).set(7);

  HttpServer server(r, [] {
    HttpServerOptions o;
    o.port = 0;
    return o;
  }());
  server.start();
  PrometheusServer prometheus(binary, server.port());
  const auto deadline = Clock::now() + kDeadline;

  ASSERT_EQ(prometheus.wait_for_first_scrape(deadline), "");
  const std::string up = "up{job=\"" + std::string(kJob) + "\"}";
  ASSERT_EQ(prometheus.wait_for_value(up, "1", deadline), "1") << prometheus.log();
  EXPECT_EQ(prometheus.wait_for_value("sluice_it_records_total{pipeline=\"it\"}", "42", deadline),
            "42");
  EXPECT_EQ(prometheus.wait_for_value("sluice_it_latency_seconds_count", "3", deadline), "3");
  EXPECT_EQ(prometheus.wait_for_value("sluice_it_latency_seconds_sum", "4.75", deadline), "4.75");
  EXPECT_EQ(
      prometheus.wait_for_value("sluice_it_latency_seconds_bucket{le=\"0.3\"}", "1", deadline),
      "1");
  EXPECT_EQ(prometheus.wait_for_value("sluice_it_latency_seconds_bucket{le=\"1\"}", "2", deadline),
            "2");
  EXPECT_EQ(
      prometheus.wait_for_value("sluice_it_latency_seconds_bucket{le=\"+Inf\"}", "3", deadline),
      "3");
  // The escaped label value arrives intact through Prometheus' own parser.
  const auto info = prometheus.query("sluice_it_info");
  ASSERT_TRUE(info.has_value());
  ASSERT_EQ(info->size(), 1u);
  EXPECT_EQ((*info)[0].at("metric").at("path").get<std::string>(), "a\"b\\c\nd");
  EXPECT_EQ((*info)[0].at("value").at(1).get<std::string>(), "7");
  // Later scrapes see later values.
  records.inc(8);
  EXPECT_EQ(prometheus.wait_for_value("sluice_it_records_total{pipeline=\"it\"}", "50", deadline),
            "50");
  EXPECT_EQ(prometheus.wait_for_value("scrape_samples_scraped{job=\"" + std::string(kJob) + "\"}",
                                      "7", deadline),
            "7");
}

}  // namespace
}  // namespace sluice::metrics
