#include "src/core/cpus.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace sluice::core {
namespace {

// A positive decimal integer, the whole of `s` (surrounding whitespace allowed).
std::optional<int64_t> positive_integer(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n'))
    s.remove_suffix(1);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

std::optional<int> quota_cpus(int64_t quota, int64_t period) {
  // Rounded up: a 1.5-CPU limit keeps two threads busy three quarters of the
  // time rather than one thread idle for a third of its share.
  const int64_t cpus = (quota + period - 1) / period;
  return static_cast<int>(std::clamp<int64_t>(cpus, 1, 1 << 16));
}

std::string slurp(const char* path) {
  // Kernel pseudo-files, a line each: read whatever is there (bounded).
  std::ifstream in(path);
  std::string text(256, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

// The cgroup v2 path of this process ("0::/PATH" in /proc/self/cgroup).
std::string cgroup2_path() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return {};
}

std::optional<int> quota_limit() {
  // cgroup v2: the process's own group first, then its ancestors (a limit
  // set on a parent applies too; the smallest wins).
  std::optional<int> best;
  std::string rel = cgroup2_path();
  if (rel.find("..") != std::string::npos) rel.clear();
  for (int depth = 0; depth < 64; ++depth) {
    const std::string path = "/sys/fs/cgroup" + (rel == "/" ? std::string() : rel) + "/cpu.max";
    if (auto cpus = cpus_from_cgroup2_max(slurp(path.c_str()))) {
      best = best ? std::min(*best, *cpus) : *cpus;
    }
    if (rel.empty() || rel == "/") break;
    const size_t slash = rel.rfind('/');
    rel = slash == 0 || slash == std::string::npos ? "/" : rel.substr(0, slash);
  }
  if (best) return best;
  // cgroup v1 (the container's own hierarchy is mounted at its root).
  return cpus_from_cgroup1_quota(slurp("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                                 slurp("/sys/fs/cgroup/cpu/cpu.cfs_period_us"));
}

int compute() {
  int cpus = static_cast<int>(std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int allowed = CPU_COUNT(&set);
    if (allowed > 0) cpus = allowed;
  }
  if (auto quota = quota_limit()) cpus = std::min(cpus, *quota);
  return std::max(cpus, 1);
}

}  // namespace

std::optional<int> cpus_from_cgroup2_max(std::string_view text) {
  const size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view quota = text.substr(0, space);
  if (quota == "max") return std::nullopt;
  const auto q = positive_integer(quota);
  const auto p = positive_integer(text.substr(space + 1));
  if (!q || !p) return std::nullopt;
  return quota_cpus(*q, *p);
}

std::optional<int> cpus_from_cgroup1_quota(std::string_view quota, std::string_view period) {
  const auto q = positive_integer(quota);  // -1 (no limit) is not positive
  const auto p = positive_integer(period);
  if (!q || !p) return std::nullopt;
  return quota_cpus(*q, *p);
}

int available_cpus() { return compute(); }

}  // namespace sluice::core
