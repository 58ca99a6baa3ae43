// CrashMarks on real files. A "death" is the object destroyed without
// clean_exit(): what it wrote to its mapping is what a killed process leaves.
#include "src/kafka/crash_marks.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>

namespace sluice::kafka {
namespace {

namespace fs = std::filesystem;
using Verdict = CrashMarks::Verdict;

class CrashMarksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sluice-marks-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<CrashMarks> open(const std::string& instance = "host-a") {
    return CrashMarks::open(dir_.string(), "group", instance, 64);
  }
  fs::path dir_;
};

// Replays the partition's records first..last alone, as the source does in
// suspect mode; every one must have `expected` as its verdict.
void replay(CrashMarks& m, CrashMarks::Entry e, int64_t first, int64_t last, Verdict expected) {
  for (int64_t o = first; o <= last; ++o) {
    m.handing_alone(e, o);
    ASSERT_EQ(m.arriving(e, o), expected) << "offset " << o;
    m.done_below(e, o + 1);
  }
}

TEST_F(CrashMarksTest, ACrashMakesSuspectsAndASuspectAloneAtTheNextCrashIsPoison) {
  {
    auto m = open();
    auto e = m->assign("in", 3);
    m->handing(e, 100, 150);
    m->done_below(e, 120);  // 100..119 done: not suspects
    CrashMarks::note_crash();
  }  // crash 1, with 120..150 in flight
  {
    auto m = open();
    EXPECT_EQ(m->partitions_in_flight_at_death(), 1u);
    EXPECT_TRUE(m->predecessor_crashed());
    auto e = m->assign("in", 3);
    ASSERT_TRUE(m->careful(e));
    EXPECT_EQ(m->deaths(e), 1u);
    EXPECT_EQ(m->arriving(e, 119), Verdict::kNormal);
    replay(*m, e, 120, 129, Verdict::kSuspect);
    m->handing_alone(e, 130);
    ASSERT_EQ(m->arriving(e, 130), Verdict::kSuspect);
    CrashMarks::note_crash();
  }  // crash 2, with 130 alone in flight
  auto m = open();
  auto e = m->assign("in", 3);
  EXPECT_TRUE(m->careful(e));
  m->handing_alone(e, 130);
  EXPECT_EQ(m->arriving(e, 130), Verdict::kPoison);
  EXPECT_EQ(m->deaths(e), 2u);
  m->done_below(e, 131);  // its dead letter is delivered
  replay(*m, e, 131, 150, Verdict::kSuspect);
  EXPECT_FALSE(m->careful(e));
  EXPECT_EQ(m->arriving(e, 151), Verdict::kNormal);
  EXPECT_EQ(m->deaths(e), 0u);
}

TEST_F(CrashMarksTest, OneKillMakesNoSuspects) {
  {
    auto m = open();
    m->handing(m->assign("in", 0), 10, 5000);
  }  // kill -9 of a healthy process: nothing noted
  auto m = open();
  EXPECT_EQ(m->partitions_in_flight_at_death(), 1u);
  EXPECT_FALSE(m->predecessor_crashed());
  auto e = m->assign("in", 0);
  EXPECT_FALSE(m->careful(e));
  EXPECT_EQ(m->arriving(e, 10), Verdict::kNormal);
}

TEST_F(CrashMarksTest, TwoKillsInARowMakeTheOverlapSuspectAndTwoKillsAloneMakePoison) {
  {
    auto m = open();
    m->handing(m->assign("in", 0), 10, 40);
  }  // kill 1
  {
    auto m = open();
    auto e = m->assign("in", 0);
    EXPECT_FALSE(m->careful(e));
    m->handing(e, 10, 60);
    m->done_below(e, 20);
  }  // kill 2: 20..40 were in flight at both
  for (int run = 0; run < 2; ++run) {
    auto m = open();
    auto e = m->assign("in", 0);
    ASSERT_TRUE(m->careful(e));
    EXPECT_EQ(m->arriving(e, 19), Verdict::kNormal);
    replay(*m, e, 20, 24, run == 0 ? Verdict::kSuspect : Verdict::kNormal);  // done in run 0
    m->handing_alone(e, 25);
    EXPECT_EQ(m->arriving(e, 25), Verdict::kSuspect);
  }  // kills 3 and 4, each with 25 alone in flight
  auto m = open();
  auto e = m->assign("in", 0);
  m->handing_alone(e, 25);
  EXPECT_EQ(m->arriving(e, 25), Verdict::kPoison);
  EXPECT_EQ(m->deaths(e), 4u);
  m->done_below(e, 26);
  replay(*m, e, 26, 40, Verdict::kSuspect);
  EXPECT_FALSE(m->careful(e));
}

TEST_F(CrashMarksTest, ASuspectAloneAtOneKillIsReplayedAgainNotPoisoned) {
  {
    auto m = open();
    m->handing(m->assign("in", 0), 1, 9);
    CrashMarks::note_crash();
  }
  {
    auto m = open();
    auto e = m->assign("in", 0);
    m->handing_alone(e, 1);
    EXPECT_EQ(m->arriving(e, 1), Verdict::kSuspect);
  }  // an operator's kill -9 while 1 runs alone
  auto m = open();
  auto e = m->assign("in", 0);
  replay(*m, e, 1, 9, Verdict::kSuspect);
  EXPECT_FALSE(m->careful(e));
}

TEST_F(CrashMarksTest, PoisonStaysPoisonUntilItsDeadLetterIsDone) {
  for (int run = 0; run < 2; ++run) {
    auto m = open();
    auto e = m->assign("in", 0);
    if (run == 0) m->handing(e, 7, 7);
    if (run == 1) {
      m->handing_alone(e, 7);
      ASSERT_EQ(m->arriving(e, 7), Verdict::kSuspect);
    }
    CrashMarks::note_crash();
  }
  {
    auto m = open();
    auto e = m->assign("in", 0);
    m->handing_alone(e, 7);
    ASSERT_EQ(m->arriving(e, 7), Verdict::kPoison);
  }  // killed before its dead letter was delivered
  auto m = open();
  auto e = m->assign("in", 0);
  m->handing_alone(e, 7);
  EXPECT_EQ(m->arriving(e, 7), Verdict::kPoison);
  m->done_below(e, 8);
  EXPECT_FALSE(m->careful(e));
}

TEST_F(CrashMarksTest, CleanExitRemovesTheFileAndNothingIsSuspectAfterIt) {
  std::string path;
  {
    auto m = open();
    path = m->path();
    auto e = m->assign("in", 0);
    m->handing(e, 0, 99);
    m->done_below(e, 100);
    EXPECT_TRUE(fs::exists(path));
    m->clean_exit();
  }
  EXPECT_FALSE(fs::exists(path));
  auto m = open();
  EXPECT_EQ(m->partitions_in_flight_at_death(), 0u);
  EXPECT_FALSE(m->careful(m->assign("in", 0)));
}

TEST_F(CrashMarksTest, SuspectsBelowWhereThePartitionResumesAreDropped) {
  {
    auto m = open();
    auto a = m->assign("in", 0);
    auto b = m->assign("in", 1);
    m->handing(a, 10, 20);
    m->handing(b, 10, 20);
    m->revoke(b);  // partition 1 moved away: nothing of it in flight for us
    CrashMarks::note_crash();
  }
  auto m = open();
  EXPECT_EQ(m->partitions_in_flight_at_death(), 1u);
  EXPECT_FALSE(m->careful(m->assign("in", 1)));
  // Partition 0 comes back to us after another member committed up to 30.
  auto a = m->assign("in", 0);
  EXPECT_TRUE(m->careful(a));
  EXPECT_EQ(m->arriving(a, 30), Verdict::kNormal);
  EXPECT_FALSE(m->careful(a));
}

TEST_F(CrashMarksTest, OtherTopicsAndPartitionsAreUntouched) {
  {
    auto m = open();
    m->handing(m->assign("in", 0), 5, 5);
    m->handing(m->assign("other", 0), 6, 6);
    CrashMarks::note_crash();
  }
  auto m = open();
  EXPECT_FALSE(m->careful(m->assign("in", 1)));
  EXPECT_FALSE(m->careful(m->assign("another", 0)));
  auto in0 = m->assign("in", 0);
  EXPECT_EQ(m->arriving(in0, 5), Verdict::kSuspect);
  EXPECT_EQ(m->arriving(m->assign("other", 0), 5), Verdict::kNormal);
}

TEST_F(CrashMarksTest, LiveProcessesOfOneInstanceTakeDistinctFiles) {
  auto first = open();
  auto second = open();
  auto other_instance = open("host-b");
  EXPECT_NE(first->path(), second->path());
  EXPECT_EQ(fs::path(first->path()).filename(), "group.host-a.0.marks");
  EXPECT_EQ(fs::path(second->path()).filename(), "group.host-a.1.marks");
  EXPECT_EQ(fs::path(other_instance->path()).filename(), "group.host-b.0.marks");
  second->handing(second->assign("in", 0), 1, 1);
  const std::string second_path = second->path();
  second.reset();  // dies; its file (slot 1) is free again and keeps its marks
  auto restarted = open();
  EXPECT_EQ(restarted->path(), second_path);
  EXPECT_EQ(restarted->partitions_in_flight_at_death(), 1u);
}

TEST_F(CrashMarksTest, FileSizeIsBoundedByItsCapacity) {
  uintmax_t size = 0;
  {
    auto m = open();
    size = fs::file_size(m->path());
    EXPECT_EQ(size, 64u + 96u * 64u);
    for (int32_t p = 0; p < 64; ++p) m->handing(m->assign("old", p), 1, 1);
    CrashMarks::note_crash();
  }  // dies with every entry in use
  auto m = open();
  EXPECT_EQ(m->partitions_in_flight_at_death(), 64u);
  EXPECT_TRUE(m->careful(m->assign("old", 0)));
  // Marks of partitions not assigned to us make room for assigned ones.
  for (int32_t p = 0; p < 63; ++p) EXPECT_FALSE(m->careful(m->assign("new", p)));
  EXPECT_THROW(m->assign("new", 63), std::logic_error);  // more than the capacity at once
  EXPECT_EQ(fs::file_size(m->path()), size);
}

TEST_F(CrashMarksTest, AFileOfAnotherFormatOrSizeStartsAfresh) {
  fs::create_directories(dir_);
  const fs::path path = dir_ / "group.host-a.0.marks";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("not a marks file", f);
    std::fclose(f);
  }
  {
    auto m = open();
    EXPECT_EQ(m->partitions_in_flight_at_death(), 0u);
    EXPECT_EQ(fs::file_size(m->path()), 64u + 96u * 64u);
    m->handing(m->assign("in", 0), 1, 1);
  }
  fs::resize_file(path, 100);  // our header, cut short: never mapped past its end
  auto m = open();
  EXPECT_EQ(m->partitions_in_flight_at_death(), 0u);
  EXPECT_EQ(fs::file_size(path), 64u + 96u * 64u);
}

// The real thing: child processes that die of a fatal signal, and of SIGKILL.
TEST_F(CrashMarksTest, AFatalSignalIsNotedAsACrashAndStillKillsWithItsSignal) {
  auto die = [&](int sig, auto&& before) {
    const pid_t pid = fork();
    if (pid == 0) {
      auto m = open();
      before(*m, m->assign("in", 0));
      if (sig == SIGABRT) std::abort();
      raise(sig);
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ? WTERMSIG(status) : -1;
  };
  EXPECT_EQ(die(SIGABRT, [](CrashMarks& m, CrashMarks::Entry e) { m.handing(e, 3, 8); }), SIGABRT);
  {
    auto m = open();
    EXPECT_TRUE(m->predecessor_crashed());
    EXPECT_TRUE(m->careful(m->assign("in", 0)));
  }
  EXPECT_EQ(die(SIGKILL, [](CrashMarks& m, CrashMarks::Entry e) { m.handing(e, 100, 200); }),
            SIGKILL);
  {
    auto m = open();
    EXPECT_FALSE(m->predecessor_crashed());  // a kill; the suspects of the crash stay
    auto e = m->assign("in", 0);
    EXPECT_EQ(m->arriving(e, 3), Verdict::kSuspect);
  }
  EXPECT_EQ(die(SIGSEGV,
                [](CrashMarks& m, CrashMarks::Entry e) {
                  m.handing_alone(e, 4);
                  m.arriving(e, 4);
                }),
            SIGSEGV);
  auto m = open();
  EXPECT_TRUE(m->predecessor_crashed());
  auto e = m->assign("in", 0);
  m->handing_alone(e, 4);
  EXPECT_EQ(m->arriving(e, 4), Verdict::kPoison);
}

}  // namespace
}  // namespace sluice::kafka
