#include "src/metrics/process_collector.h"

#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::metrics {
namespace {

// Value of the unlabelled sample `name` in an exposition body.
double sample(const std::string& body, const std::string& name) {
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  ADD_FAILURE() << name << " not in:\n" << body;
  return -1;
}

TEST(MetricsProcessCollector, ReportsThisProcessFromProc) {
  // Touch 64 MiB so resident memory is certainly above it.
  std::vector<char> ballast(64 << 20, 1);
  const auto s = read_process_stats();
  ASSERT_TRUE(s.has_value());
  EXPECT_GE(s->resident_memory_bytes, double(64 << 20));
  EXPECT_GE(s->virtual_memory_bytes, s->resident_memory_bytes);
  EXPECT_GE(s->cpu_seconds, 0);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(s->start_time_seconds, now + 1);  // /proc rounds to clock ticks
  EXPECT_GT(s->start_time_seconds, 1.5e9);    // a Unix time, not seconds since boot
  EXPECT_EQ(ballast[12345], 1);
}

TEST(MetricsProcessCollector, RegistersStandardProcessMetrics) {
  Registry r;
  register_process_metrics(r);
  const std::string body = r.render();
  EXPECT_NE(body.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
  EXPECT_NE(body.find("# TYPE process_resident_memory_bytes gauge\n"), std::string::npos);
  EXPECT_NE(body.find("# TYPE process_start_time_seconds gauge\n"), std::string::npos);
  EXPECT_GT(sample(body, "process_resident_memory_bytes"), 0);
  EXPECT_GT(sample(body, "process_virtual_memory_bytes"), 0);
  EXPECT_GE(sample(body, "process_cpu_seconds_total"), 0);
  EXPECT_GT(sample(body, "process_start_time_seconds"), 1.5e9);
  EXPECT_GE(sample(body, "process_open_fds"), 3);  // stdin, stdout, stderr at least
  EXPECT_GE(sample(body, "process_max_fds"), sample(body, "process_open_fds"));
  EXPECT_THROW(register_process_metrics(r), std::invalid_argument);
}

}  // namespace
}  // namespace sluice::metrics
