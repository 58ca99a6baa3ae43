// SHA-256 against the FIPS 180-4 examples and coreutils' sha256sum, across
// block boundaries and split updates.
#include "src/core/sha256.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace sluice::core {
namespace {

std::string digest(std::string_view s) {
  Sha256 h;
  h.update(s);
  return h.hex();
}

TEST(Sha256, MatchesTheStandardsExamples) {
  EXPECT_EQ(digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(digest(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, SplitUpdatesGiveTheSameDigestAtEveryLength) {
  std::string s;
  for (int i = 0; i < 300; ++i) s.push_back(static_cast<char>(i * 7 + 1));
  for (size_t n = 0; n <= s.size(); n += 13) {
    const std::string whole = digest(std::string_view(s).substr(0, n));
    for (size_t cut : {size_t{0}, n / 3, n / 2, n}) {
      Sha256 h;
      h.update(std::string_view(s).substr(0, cut));
      h.update(std::string_view(s).substr(cut, n - cut));
      EXPECT_EQ(h.hex(), whole) << "length " << n << " cut " << cut;
    }
  }
}

TEST(Sha256, FileDigestEqualsSha256sum) {
  const std::string path = ::testing::TempDir() + "/sha256_test.bin";
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < (3 << 20) + 17; ++i) out.put(static_cast<char>(i * 31));
  }
  const std::string cmd = "sha256sum " + path + " > " + path + ".sum";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream sum(path + ".sum");
  std::string expected;
  sum >> expected;
  EXPECT_EQ(sha256_file(path), expected);
  EXPECT_THROW(sha256_file(path + ".missing"), std::runtime_error);
}

}  // namespace
}  // namespace sluice::core
