#include "src/metrics/process_collector.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::metrics {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::optional<double> boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double v = 0;
      if (in >> v) return v;
      return std::nullopt;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

double open_fds() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec) return kNaN;
  double n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return kNaN;
    ++n;
  }
  return n - 1;  // the iterator's own descriptor
}

double max_fds() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return kNaN;
  if (lim.rlim_cur == RLIM_INFINITY) return std::numeric_limits<double>::infinity();
  return static_cast<double>(lim.rlim_cur);
}

}  // namespace

std::optional<ProcessStats> read_process_stats() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name (field 2) is in parentheses and may contain spaces: parse after the last ')'.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  std::vector<std::string> f;  // f[0] is field 3 (state) of proc(5)
  for (std::string tok; fields >> tok;) f.push_back(tok);
  if (f.size() < 22) return std::nullopt;
  const auto boot = boot_time_seconds();
  if (!boot) return std::nullopt;
  try {
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    ProcessStats s;
    s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;  // utime + stime (14, 15)
    s.start_time_seconds = *boot + std::stod(f[19]) / ticks;        // starttime (22)
    s.virtual_memory_bytes = std::stod(f[20]);                      // vsize (23)
    s.resident_memory_bytes = std::stod(f[21]) * page;              // rss pages (24)
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void register_process_metrics(Registry& registry) {
  const auto now = read_process_stats();
  if (!now) throw std::runtime_error("process metrics: cannot read /proc/self/stat and /proc/stat");
  registry.counter_callback("process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.", {}, [] {
                              const auto s = read_process_stats();
                              return s ? s->cpu_seconds : kNaN;
                            });
  registry.gauge_callback("process_resident_memory_bytes", "Resident memory size in bytes.", {},
                          [] {
                            const auto s = read_process_stats();
                            return s ? s->resident_memory_bytes : kNaN;
                          });
  registry.gauge_callback("process_virtual_memory_bytes", "Virtual memory size in bytes.", {}, [] {
    const auto s = read_process_stats();
    return s ? s->virtual_memory_bytes : kNaN;
  });
  registry
      .gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
      .set(now->start_time_seconds);
  registry.gauge_callback("process_open_fds", "Number of open file descriptors.", {}, open_fds);
  registry.gauge_callback("process_max_fds", "Maximum number of open file descriptors.", {},
                          max_fds);
}

}  // namespace sluice::metrics
