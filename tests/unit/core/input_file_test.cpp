// core::read_file and RegularFile: only regular files, never blocking, never
// more than the caller's limit; json_depth_exceeded counts without parsing.
#include "src/core/input_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace sluice::core {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::path(SLUICE_BINARY_DIR) / "test-scratch" / ("input-file-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

std::string error_of(const fs::path& p, uint64_t max_bytes) {
  try {
    read_file(p, max_bytes);
  } catch (const FileError& e) {
    EXPECT_EQ(e.file(), p.string());
    return e.what();
  }
  return "no error";
}

TEST(InputFile, ReadsTheWholeFileThroughASymlink) {
  const fs::path dir = scratch("read");
  std::string text(100'000, 'x');
  text += "end";
  write(dir / "blob", text);
  fs::create_symlink(dir / "blob", dir / "link");  // as the Hugging Face cache lays out models
  EXPECT_EQ(read_file(dir / "link", text.size()), text);
  EXPECT_EQ(read_file(dir / "blob", 1 << 20), text);
}

TEST(InputFile, RefusesAFifoInsteadOfWaitingForAWriter) {
  const fs::path dir = scratch("fifo");
  ASSERT_EQ(::mkfifo((dir / "model.safetensors").c_str(), 0600), 0);
  EXPECT_EQ(error_of(dir / "model.safetensors", 1 << 20),
            (dir / "model.safetensors").string() + ": not a regular file (a FIFO)");
  EXPECT_THROW(RegularFile::open(dir / "model.safetensors", 1 << 20), FileError);
}

TEST(InputFile, RefusesDirectoriesAndDevices) {
  const fs::path dir = scratch("dir");
  EXPECT_EQ(error_of(dir, 1 << 20), dir.string() + ": not a regular file (a directory)");
  EXPECT_EQ(error_of("/dev/zero", 1 << 20), "/dev/zero: not a regular file (a character device)");
}

TEST(InputFile, RefusesAFileOverTheLimitNamingBothSizes) {
  const fs::path dir = scratch("large");
  write(dir / "config.json", std::string(3 << 20, ' '));
  EXPECT_EQ(
      error_of(dir / "config.json", 1 << 20),
      (dir / "config.json").string() + ": is 3.0 MiB, more than the 1.0 MiB allowed for this file");
  EXPECT_EQ(read_file(dir / "config.json", 3 << 20).size(), size_t{3} << 20);
}

TEST(InputFile, MissingFileSaysSo) {
  const fs::path dir = scratch("missing");
  EXPECT_EQ(error_of(dir / "vocab.txt", 100),
            (dir / "vocab.txt").string() + ": cannot open (missing?)");
}

TEST(InputFile, JsonDepthCountsBracketsOutsideStringsAndNamesTheTopLevelKey) {
  EXPECT_EQ(json_depth_exceeded("42", 0), std::nullopt);
  EXPECT_EQ(json_depth_exceeded(R"({"a": [1, {"b": []}]})", 4), std::nullopt);
  EXPECT_EQ(json_depth_exceeded(R"({"a": [1, {"b": []}]})", 3), "a");
  EXPECT_EQ(json_depth_exceeded(R"({"[[[[": "{{\"[[", "x": [[]]})", 3), std::nullopt);
  EXPECT_EQ(json_depth_exceeded(R"({"[[[[": "{{\"[[", "x": [[]]})", 2), "x");
  EXPECT_EQ(json_depth_exceeded(R"(["\\", [[]]])", 2), "");  // an escaped backslash ends nothing
  const std::string deep = R"({"model": {}, "normalizer": )" + std::string(100'000, '[');
  EXPECT_EQ(json_depth_exceeded(deep, 64), "normalizer");
  EXPECT_EQ(json_depth_exceeded("]]]][[", 1), "");
}

}  // namespace
}  // namespace sluice::core
