// encode() allocates nothing in steady state: this program replaces the global
// operator new to count allocations, warms a workspace up on a data set, then
// encodes it again and expects zero allocations. (Its own executable, so the
// counting allocator touches no other test.)
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "src/text/tokenizer.h"
#include "tests/support/text_test_util.h"

// GCC flags malloc/free inside replacement operators as mismatched; they are the pair here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace sluice::text {
namespace {

using namespace sluice::text::testing;

void expect_no_allocations(const fs::path& tokenizer_dir) {
  const auto tok = Tokenizer::load(tokenizer_dir);
  std::vector<std::string> texts;
  for (const auto& c : read_edge_cases()) texts.push_back(c.text);
  texts.push_back("invalid \xFF utf-8 \xC3");
  if (fs::exists(kSharedData / "tweeteval-sentiment" / "test_text.txt")) {
    auto tweets = read_lines(kSharedData / "tweeteval-sentiment" / "test_text.txt");
    tweets.resize(std::min<size_t>(tweets.size(), 3000));
    texts.insert(texts.end(), tweets.begin(), tweets.end());
  }
  Tokenizer::Workspace ws;
  std::vector<int32_t> out(4096);
  for (const auto& t : texts) tok->encode(t, out, ws, {.max_length = 4096});  // warm-up
  const long before = g_allocations.load();
  long tokens = 0;
  for (int round = 0; round < 2; ++round) {
    for (const auto& t : texts) tokens += tok->encode(t, out, ws, {.max_length = 4096}).length;
  }
  EXPECT_EQ(g_allocations.load() - before, 0)
      << "allocations while encoding " << texts.size() << " texts twice (" << tokens << " ids)";
}

TEST(TokenizerAllocations, BertEncodeDoesNotAllocateAfterWarmUp) {
  if (!fs::exists(kBertDir)) GTEST_SKIP() << "no " << kBertDir;
  expect_no_allocations(kBertDir);
}

TEST(TokenizerAllocations, ByteLevelBpeEncodeDoesNotAllocateAfterWarmUp) {
  expect_no_allocations(kBpeDir);
}

}  // namespace
}  // namespace sluice::text
