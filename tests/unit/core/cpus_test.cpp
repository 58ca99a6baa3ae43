#include "src/core/cpus.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

namespace sluice::core {
namespace {

TEST(Cpus, Cgroup2QuotaIsRoundedUpToWholeCpus) {
  EXPECT_EQ(cpus_from_cgroup2_max("200000 100000\n"), 2);
  EXPECT_EQ(cpus_from_cgroup2_max("150000 100000\n"), 2);  // 1.5 CPUs
  EXPECT_EQ(cpus_from_cgroup2_max("50000 100000"), 1);     // half a CPU still runs one thread
  EXPECT_EQ(cpus_from_cgroup2_max("6400000 100000\n"), 64);
}

TEST(Cpus, Cgroup2WithoutALimitOrMalformedIsNoLimit) {
  EXPECT_EQ(cpus_from_cgroup2_max("max 100000\n"), std::nullopt);
  EXPECT_EQ(cpus_from_cgroup2_max(""), std::nullopt);
  EXPECT_EQ(cpus_from_cgroup2_max("100000"), std::nullopt);
  EXPECT_EQ(cpus_from_cgroup2_max("0 100000"), std::nullopt);
  EXPECT_EQ(cpus_from_cgroup2_max("100000 0"), std::nullopt);
  EXPECT_EQ(cpus_from_cgroup2_max("-5 100000"), std::nullopt);
  EXPECT_EQ(cpus_from_cgroup2_max("12x 100000"), std::nullopt);
  EXPECT_EQ(cpus_from_cgroup2_max("99999999999999999999999 1"), std::nullopt);
}

TEST(Cpus, Cgroup1QuotaMinusOneIsNoLimit) {
  EXPECT_EQ(cpus_from_cgroup1_quota("-1\n", "100000\n"), std::nullopt);
  EXPECT_EQ(cpus_from_cgroup1_quota("300000\n", "100000\n"), 3);
  EXPECT_EQ(cpus_from_cgroup1_quota("", ""), std::nullopt);
}

TEST(Cpus, AvailableCpusNeverExceedTheAffinityMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  const int cpus = available_cpus();
  EXPECT_GE(cpus, 1);
  EXPECT_LE(cpus, CPU_COUNT(&set));
}

// hardware_concurrency() counts the machine's cores whatever the process is
// allowed; a process pinned to one core (taskset, a Kubernetes static CPU
// policy's cpuset) must see one.
TEST(Cpus, AProcessPinnedToOneCoreSeesOne) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    if (sched_setaffinity(0, sizeof(one), &one) != 0) _exit(3);
    _exit(available_cpus() == 1 ? 0 : 1);  // first call in this process: computed now
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "available_cpus() ignored the affinity mask";
}

}  // namespace
}  // namespace sluice::core
