// InMemoryKeyedState: bounded keyed state, least recently used key evicted first.
#include "src/state/in_memory_state.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::state {
namespace {

TEST(InMemoryKeyedState, InsertsDefaultValuesAndFindsThemAgain) {
  InMemoryKeyedState<std::vector<int>> s(4);
  bool created = false;
  s.find_or_insert("a", &created).push_back(1);
  EXPECT_TRUE(created);
  s.find_or_insert("a", &created).push_back(2);
  EXPECT_FALSE(created);
  ASSERT_NE(s.find("a"), nullptr);
  EXPECT_EQ(*s.find("a"), (std::vector<int>{1, 2}));
  EXPECT_EQ(s.find("b"), nullptr);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.capacity(), 4u);
}

TEST(InMemoryKeyedState, FullStoreEvictsTheLeastRecentlyUsedKey) {
  InMemoryKeyedState<int> s(3);
  s.find_or_insert("a") = 1;
  s.find_or_insert("b") = 2;
  s.find_or_insert("c") = 3;
  ASSERT_NE(s.find("a"), nullptr);  // a is now the most recent; b the least
  s.find_or_insert("d") = 4;
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.evictions(), 1u);
  EXPECT_EQ(s.find("b"), nullptr);
  EXPECT_EQ(*s.find("a"), 1);
  EXPECT_EQ(*s.find("c"), 3);
  EXPECT_EQ(*s.find("d"), 4);
}

TEST(InMemoryKeyedState, AnEvictedKeyComesBackEmpty) {
  InMemoryKeyedState<std::string> s(1);
  s.find_or_insert("u1") = "history";
  s.find_or_insert("u2") = "other";
  bool created = false;
  EXPECT_EQ(s.find_or_insert("u1", &created), "");
  EXPECT_TRUE(created);
  EXPECT_EQ(s.evictions(), 2u);
}

TEST(InMemoryKeyedState, KeysOfAnyBytesAndLengthAreDistinct) {
  InMemoryKeyedState<int> s(100);
  const std::vector<std::string> keys = {"",
                                         std::string("\0a", 2),
                                         std::string("\0b", 2),
                                         "ü",
                                         "u\xcc\x88",
                                         std::string(10000, 'x'),
                                         "42",
                                         " 42"};
  for (size_t i = 0; i < keys.size(); ++i) s.find_or_insert(keys[i]) = static_cast<int>(i);
  EXPECT_EQ(s.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(*s.find(keys[i]), static_cast<int>(i));
}

TEST(InMemoryKeyedState, ManyKeysStayWithinCapacity) {
  InMemoryKeyedState<int> s(1000);
  for (int i = 0; i < 100000; ++i) s.find_or_insert("user-" + std::to_string(i)) = i;
  EXPECT_EQ(s.size(), 1000u);
  EXPECT_EQ(s.evictions(), 99000u);
  for (int i = 99000; i < 100000; ++i) EXPECT_EQ(*s.find("user-" + std::to_string(i)), i);
  EXPECT_EQ(s.find("user-98999"), nullptr);
}

}  // namespace
}  // namespace sluice::state
