// How many CPUs this process may actually use: the cores the scheduler lets
// it run on (affinity, cpusets) capped by its CPU bandwidth quota (cgroup v2
// `cpu.max`, cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`).
//
// std::thread::hardware_concurrency() counts the node's cores. A container
// limited to 2 CPUs on a 64-core Kubernetes node that starts 64 compute
// threads is throttled for most of every period: the "0 = every core"
// defaults (inference threads, tokenizer workers) must mean the cores the
// container was given, so that `resources.limits.cpu` and the thread count
// agree without anyone keeping them in step by hand.
#pragma once
#include <optional>
#include <string_view>

namespace sluice::core {

// CPUs this process may use now, at least 1 (reads /proc and /sys: call it
// when sizing thread pools, not per record).
int available_cpus();

// The quota of a cgroup v2 `cpu.max` file ("QUOTA PERIOD" or "max PERIOD")
// in CPUs, rounded up; nullopt for "max" (no limit) or text that is not a
// well-formed quota. Exposed for tests.
std::optional<int> cpus_from_cgroup2_max(std::string_view text);
// The same for cgroup v1's cpu.cfs_quota_us (-1 = no limit) and period.
std::optional<int> cpus_from_cgroup1_quota(std::string_view quota, std::string_view period);

}  // namespace sluice::core
