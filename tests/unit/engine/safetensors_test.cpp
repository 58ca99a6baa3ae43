// The safetensors reader: conversions and every header validation, each
// failure naming the file and the offending tensor.
#include "src/engine/safetensors.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "src/engine/model_error.h"
#include "tests/support/model_fixtures.h"

namespace sluice::engine {
namespace {

using testing::RawTensor;

std::vector<uint8_t> f32_bytes(std::initializer_list<float> v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), std::data(v), b.size());
  return b;
}

std::vector<uint8_t> u16_bytes(std::initializer_list<uint16_t> v) {
  std::vector<uint8_t> b(v.size() * 2);
  std::memcpy(b.data(), std::data(v), b.size());
  return b;
}

// Expects open() to throw a ModelError whose message contains every fragment.
void expect_error(const std::filesystem::path& p, std::initializer_list<std::string> fragments) {
  try {
    SafetensorsFile::open(p);
    FAIL() << "expected ModelError for " << p;
  } catch (const ModelError& e) {
    EXPECT_EQ(e.file(), p.string());
    for (const auto& f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}

TEST(Safetensors, ReadsF32F16AndBF16AsFloat) {
  const auto dir = testing::scratch_dir("st-convert");
  // fp16: 1.0, -2.5, 65504 (max), smallest subnormal 2^-24, +inf. bf16: 1.0, -2.5, 3.140625.
  testing::write_safetensors(
      dir / "m.safetensors",
      {{"a", {"F32", {2, 2}, f32_bytes({1.f, 2.f, 3.f, 4.f})}},
       {"h", {"F16", {5}, u16_bytes({0x3c00, 0xc100, 0x7bff, 0x0001, 0x7c00})}},
       {"b", {"BF16", {3}, u16_bytes({0x3f80, 0xc020, 0x4049})}}});
  auto f = SafetensorsFile::open(dir / "m.safetensors");
  ASSERT_EQ(f.tensors().size(), 3u);
  std::vector<float> a(4), h(5), b(3);
  f.read_f32(*f.find("a"), a);
  f.read_f32(*f.find("h"), h);
  f.read_f32(*f.find("b"), b);
  EXPECT_EQ(a, (std::vector<float>{1.f, 2.f, 3.f, 4.f}));
  EXPECT_EQ(h[0], 1.f);
  EXPECT_EQ(h[1], -2.5f);
  EXPECT_EQ(h[2], 65504.f);
  EXPECT_EQ(h[3], std::ldexp(1.f, -24));
  EXPECT_TRUE(std::isinf(h[4]));
  EXPECT_EQ(b, (std::vector<float>{1.f, -2.5f, 3.140625f}));
  EXPECT_EQ(f.find("a")->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(f.find("missing"), nullptr);
}

TEST(Safetensors, KeepsMetadataStrings) {
  const auto dir = testing::scratch_dir("st-meta");
  testing::write_raw_safetensors(
      dir / "m.safetensors",
      R"({"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
      f32_bytes({7.f}));
  auto f = SafetensorsFile::open(dir / "m.safetensors");
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.tensors().size(), 1u);
}

TEST(Safetensors, RejectsMissingFile) {
  expect_error(testing::scratch_dir("st-missing") / "nope.safetensors", {"cannot open"});
}

TEST(Safetensors, RejectsFileShorterThanItsLengthPrefix) {
  const auto p = testing::scratch_dir("st-short") / "m.safetensors";
  testing::write_text(p, "abc");
  expect_error(p, {"too short"});
}

TEST(Safetensors, RejectsHeaderRunningPastTheEnd) {
  const auto p = testing::scratch_dir("st-header") / "m.safetensors";
  testing::write_raw_safetensors(p, R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                 f32_bytes({1.f}));
  // Cut the file inside the header.
  std::string all = testing::read_text(p);
  testing::write_text(p, all.substr(0, 20));
  expect_error(p, {"runs past the end", "truncated"});
}

TEST(Safetensors, RejectsTruncatedData) {
  const auto p = testing::scratch_dir("st-trunc") / "m.safetensors";
  testing::write_raw_safetensors(p, R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                                 f32_bytes({1.f, 2.f}));
  expect_error(p, {"tensor 'x'", "past the 8-byte data region", "truncated"});
}

TEST(Safetensors, RejectsInvalidJson) {
  const auto p = testing::scratch_dir("st-json") / "m.safetensors";
  testing::write_raw_safetensors(p, R"({"x":{"dtype":"F32",)", {});
  expect_error(p, {"not valid JSON"});
}

TEST(Safetensors, RejectsUnknownDtype) {
  const auto p = testing::scratch_dir("st-dtype") / "m.safetensors";
  testing::write_raw_safetensors(p, R"({"w":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}})",
                                 f32_bytes({1.f}));
  expect_error(p, {"tensor 'w'", "unknown dtype 'F12'"});
}

TEST(Safetensors, RejectsSizeThatDisagreesWithShape) {
  const auto p = testing::scratch_dir("st-size") / "m.safetensors";
  testing::write_raw_safetensors(p, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                 f32_bytes({1.f, 2.f}));
  expect_error(p, {"tensor 'w'", "span 8 bytes", "[3]", "needs 12"});
}

TEST(Safetensors, RejectsOverlappingTensors) {
  const auto p = testing::scratch_dir("st-overlap") / "m.safetensors";
  testing::write_raw_safetensors(p,
                                 R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                 f32_bytes({1.f, 2.f, 3.f}));
  expect_error(p, {"'a' and 'b' overlap"});
}

TEST(Safetensors, RejectsUnindexedGap) {
  const auto p = testing::scratch_dir("st-gap") / "m.safetensors";
  testing::write_raw_safetensors(p,
                                 R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                 f32_bytes({1.f, 2.f, 3.f}));
  expect_error(p, {"unindexed bytes before tensor 'b'"});
}

TEST(Safetensors, RejectsTrailingBytes) {
  const auto p = testing::scratch_dir("st-trailing") / "m.safetensors";
  testing::write_raw_safetensors(p, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                 f32_bytes({1.f, 2.f}));
  expect_error(p, {"trailing bytes"});
}

TEST(Safetensors, RejectsNegativeShape) {
  const auto p = testing::scratch_dir("st-neg") / "m.safetensors";
  testing::write_raw_safetensors(p, R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
                                 f32_bytes({1.f}));
  expect_error(p, {"tensor 'a'", "non-negative"});
}

TEST(Safetensors, RefusesToConvertIntegerTensorsToFloat) {
  const auto dir = testing::scratch_dir("st-int");
  testing::write_safetensors(dir / "m.safetensors",
                             {{"ids", {"I64", {1}, std::vector<uint8_t>(8, 0)}}});
  auto f = SafetensorsFile::open(dir / "m.safetensors");
  std::vector<float> out(1);
  EXPECT_THROW(f.read_f32(*f.find("ids"), out), ModelError);
}

TEST(Safetensors, RejectsShapeWhoseElementCountOverflows) {
  // (2^56 + 2) x 256 elements wrap around to 512: as F32 exactly the 2048
  // bytes given, so an unchecked product passes every other check.
  const auto p = testing::scratch_dir("st-overflow") / "m.safetensors";
  testing::write_raw_safetensors(
      p, R"({"w":{"dtype":"F32","shape":[72057594037927938,256],"data_offsets":[0,2048]}})",
      std::vector<uint8_t>(2048, 0));
  expect_error(
      p, {"tensor 'w'", "shape [72057594037927938, 256]", "more elements than 64 bits can count"});
}

TEST(Safetensors, RejectsShapeWhoseByteCountOverflows) {
  // 2^62 F32 elements are 2^64 bytes, which wraps to the 0 bytes given.
  const auto p = testing::scratch_dir("st-overflow-bytes") / "m.safetensors";
  testing::write_raw_safetensors(
      p, R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", {});
  expect_error(p, {"tensor 'w'", "needs more bytes than 64 bits can count"});
}

TEST(Safetensors, RejectsShapeEntryBeyondInt64) {
  const auto p = testing::scratch_dir("st-huge-dim") / "m.safetensors";
  testing::write_raw_safetensors(
      p, R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]}})",
      f32_bytes({1.f}));
  expect_error(p, {"tensor 'w'", "non-negative 64-bit integers"});
}

TEST(Safetensors, RejectsATensorNamedTwice) {
  const auto p = testing::scratch_dir("st-twice") / "m.safetensors";
  testing::write_raw_safetensors(p,
                                 R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                 R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                 f32_bytes({1.f, 2.f}));
  expect_error(p, {"tensor 'a' appears twice in the header"});
}

TEST(Safetensors, RejectsAHeaderNestedDeeperThanAnyHeader) {
  const auto p = testing::scratch_dir("st-deep") / "m.safetensors";
  testing::write_raw_safetensors(p,
                                 R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":)" +
                                     std::string(100'000, '[') + std::string(100'000, ']') + "}}",
                                 f32_bytes({1.f}));
  expect_error(p, {"tensor 'a': nests deeper than 8 levels"});
}

TEST(Safetensors, RefusesAFifoWithoutWaitingForAWriter) {
  const auto p = testing::scratch_dir("st-fifo") / "model.safetensors";
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
  // Should open() block on the FIFO, this writer releases it (and the test
  // then fails on the message) instead of hanging the test run.
  std::atomic<bool> done{false};
  std::thread writer([&] {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done && std::chrono::steady_clock::now() < give_up) {
      const int fd = ::open(p.c_str(), O_WRONLY | O_NONBLOCK);  // succeeds only once a reader waits
      if (fd >= 0) {
        ::close(fd);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  expect_error(p, {"not a regular file (a FIFO)"});
  done = true;
  writer.join();
}

}  // namespace
}  // namespace sluice::engine
