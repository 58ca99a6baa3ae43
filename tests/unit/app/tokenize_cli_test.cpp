// `sluice tokenize`: its output must be byte-for-byte Hugging Face's ids
// (JSON.stringify(getIds()) per line), with the documented exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>

#include "tests/support/text_test_util.h"

namespace sluice::text {
namespace {

using namespace sluice::text::testing;

const fs::path kSluice = fs::path(SLUICE_BINARY_DIR) / "sluice";

class TokenizeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sluice_cli_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `sluice tokenize ARGS < input`; returns the exit code, fills out/err.
  int run(const std::string& args, const std::string& input, std::string& out, std::string& err) {
    std::ofstream(dir_ / "in.txt", std::ios::binary) << input;
    const std::string cmd = kSluice.string() + " tokenize " + args + " < " +
                            (dir_ / "in.txt").string() + " > " + (dir_ / "out.txt").string() +
                            " 2> " + (dir_ / "err.txt").string();
    const int status = std::system(cmd.c_str());
    out = read_file(dir_ / "out.txt");
    err = read_file(dir_ / "err.txt");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  static std::string join_lines(const std::vector<std::string>& lines) {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
  }

  fs::path dir_;
};

TEST_F(TokenizeCliTest, OutputIsHuggingFacesIdsByteForByte) {
  if (!fs::exists(kSharedData / "sst2" / "dev.tsv"))
    GTEST_SKIP() << "no SST-2 under " << kSharedData;
  const std::string input = join_lines(read_sst2(kSharedData / "sst2" / "dev.tsv"));
  std::string out, err;
  ASSERT_EQ(run("--tokenizer " + kBpeDir.string() + " --threads 2", input, out, err), 0) << err;
  EXPECT_TRUE(out == read_file(kGoldens / "bpe.sst2-dev.ids")) << "differs from bpe.sst2-dev.ids";
  ASSERT_EQ(run("--tokenizer " + kBertDir.string(), input, out, err), 0) << err;
  EXPECT_TRUE(out == read_file(kGoldens / "bert.sst2-dev.ids")) << "differs from bert.sst2-dev.ids";
}

TEST_F(TokenizeCliTest, MaxLengthTruncatesEachLineKeepingTheSpecialTokens) {
  const std::vector<std::string> lines = {
      "a charming and often affecting journey , but it drags on and on .", "short", ""};
  std::string full, cut, err;
  ASSERT_EQ(run("--tokenizer " + kBpeDir.string(), join_lines(lines), full, err), 0) << err;
  ASSERT_EQ(run("--tokenizer " + kBpeDir.string() + " --max-length 6", join_lines(lines), cut, err),
            0)
      << err;
  std::ofstream(dir_ / "full.txt") << full;
  std::ofstream(dir_ / "cut.txt") << cut;
  const auto f = read_ids(dir_ / "full.txt"), c = read_ids(dir_ / "cut.txt");
  ASSERT_EQ(f.size(), 3u);
  ASSERT_EQ(c.size(), 3u);
  ASSERT_GT(f[0].size(), 6u);
  std::vector<int32_t> expected(f[0].begin(), f[0].begin() + 5);
  expected.push_back(f[0].back());
  EXPECT_EQ(c[0], expected);
  EXPECT_EQ(c[1], f[1]);
  EXPECT_EQ(c[2], (std::vector<int32_t>{0, 2}));
}

TEST_F(TokenizeCliTest, RejectedInvalidUtf8LineIsNullAndExitCodeIsOne) {
  std::string out, err;
  EXPECT_EQ(run("--tokenizer " + kBpeDir.string() + " --invalid-utf8 reject", "ok\nbad \xFF\nfine",
                out, err),
            1);
  const auto lines = read_lines(dir_ / "out.txt");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].front(), '[');
  EXPECT_EQ(lines[1], "null");
  EXPECT_EQ(lines[2].front(), '[');
  EXPECT_NE(err.find("line 2: invalid UTF-8"), std::string::npos) << err;
}

TEST_F(TokenizeCliTest, BadUsageExitsTwoWithAMessage) {
  std::string out, err;
  EXPECT_EQ(run("", "x\n", out, err), 2);
  EXPECT_NE(err.find("--tokenizer is required"), std::string::npos) << err;
  EXPECT_EQ(run("--tokenizer " + kBpeDir.string() + " --max-length 1", "x\n", out, err), 2);
  EXPECT_NE(err.find("leaves no room for the 2 special tokens"), std::string::npos) << err;
  EXPECT_EQ(run("--tokenizer " + (dir_ / "missing").string(), "x\n", out, err), 2);
  EXPECT_NE(err.find("no such file or directory"), std::string::npos) << err;
}

}  // namespace
}  // namespace sluice::text
