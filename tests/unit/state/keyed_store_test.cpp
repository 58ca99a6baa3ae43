// KeyedStore: exactly-once application under re-delivery, restore from the
// changelog (any prefix of it), revocation, and hostile changelog records.
#include "src/state/keyed_store.h"

#include <gtest/gtest.h>

#include "src/state/entry.h"
#include "tests/support/memory_changelog.h"

namespace sluice::state {
namespace {

using testing::MemoryChangelog;

// Takes the store's posts over, as the operator's worker would.
void sync(KeyedStore& store, std::vector<int32_t>* restored = nullptr,
          std::vector<int32_t>* revoked = nullptr) {
  store.sync(
      [&](int32_t p, const PartitionSnapshot&) {
        if (restored) restored->push_back(p);
      },
      [&](int32_t p) {
        if (revoked) revoked->push_back(p);
      });
}

class CountingAcks : public core::AckSink {
 public:
  void retain(uint64_t) override {}
  void complete(uint64_t token) override { done.push_back(token); }
  std::vector<uint64_t> done;
};

TEST(StateEntry, RoundTripsOffsetAndPayload) {
  std::string bytes;
  append_entry(bytes, 1'234'567'890'123, "payload");
  std::string why;
  auto e = decode_entry(bytes, &why);
  ASSERT_TRUE(e) << why;
  EXPECT_EQ(e->applied_offset, 1'234'567'890'123);
  EXPECT_EQ(e->payload, "payload");
}

TEST(StateEntry, RejectsBytesSluiceDidNotWrite) {
  std::string why;
  EXPECT_FALSE(decode_entry("", &why));
  EXPECT_FALSE(decode_entry("S\x01short", &why));
  EXPECT_FALSE(decode_entry(std::string("X\x01") + std::string(8, '\0'), &why));
  EXPECT_EQ(why, "not a sluice state entry (bad magic)");
  EXPECT_FALSE(decode_entry(std::string("S\x02") + std::string(8, '\0'), &why));
  std::string negative("S\x01");
  negative += std::string(8, '\xff');  // -1 is "none yet": allowed
  EXPECT_TRUE(decode_entry(negative, &why));
  negative[2] = '\x80';  // INT64_MIN-ish
  EXPECT_FALSE(decode_entry(negative, &why));
}

TEST(KeyedStore, ReDeliveredOffsetsAreRecognisedAsApplied) {
  MemoryChangelog log;
  KeyedStore store("windows", nullptr, "test");
  store.bind(&log);
  store.post_restored(3, PartitionSnapshot{});
  sync(store);
  ASSERT_TRUE(store.owns(3));
  EXPECT_FALSE(store.applied(3, 0));
  store.put(3, "acme", "v1", 10, {});
  store.put(3, "beta", "v2", 11, {});
  EXPECT_TRUE(store.applied(3, 10));
  EXPECT_TRUE(store.applied(3, 11));
  EXPECT_TRUE(store.applied(3, 4));
  EXPECT_FALSE(store.applied(3, 12));
  EXPECT_FALSE(store.applied(4, 10));  // another partition: not owned, nothing applied
  EXPECT_EQ(store.keys(), 2u);
  ASSERT_EQ(log.records.size(), 2u);
  EXPECT_EQ(log.records[0].partition, 3);  // changelog partition = input partition
  EXPECT_EQ(log.records[0].key, "kacme");
}

TEST(KeyedStore, EntriesCarryTheInputAckSoOffsetsCommitOnlyOnceStateIsDurable) {
  MemoryChangelog log;
  KeyedStore store("windows", nullptr, "test");
  store.bind(&log);
  store.post_restored(0, PartitionSnapshot{});
  sync(store);
  CountingAcks acks;
  store.put(0, "acme", "v", 7, core::Ack(&acks, 7));
  EXPECT_EQ(acks.done, std::vector<uint64_t>{7});
}

TEST(KeyedStore, RestoreRecoversValuesAndAppliedOffsetFromAnyPrefixOfTheChangelog) {
  MemoryChangelog log;
  KeyedStore first("windows", nullptr, "test");
  first.bind(&log);
  first.post_restored(0, PartitionSnapshot{});
  sync(first);
  first.put(0, "acme", "a1", 0, {});
  first.put(0, "beta", "b1", 1, {});
  first.put(0, "acme", "a2", 2, {});
  first.erase(0, "beta", 3, {});
  first.put_partition(0, "clock", 3, {});

  // Everything durable.
  PartitionSnapshot all = log.restore(0);
  EXPECT_EQ(all.records, 5u);
  EXPECT_EQ(all.applied_offset, 3);
  ASSERT_EQ(all.keys.size(), 1u);
  EXPECT_EQ(all.keys.at("acme"), "a2");
  EXPECT_EQ(all.partition_payload, "clock");

  // A crash lost the last three writes: the state is that of offsets 0-1,
  // and records 2 and 3 are not applied (they will be processed again).
  PartitionSnapshot prefix = log.restore(0, 2);
  EXPECT_EQ(prefix.applied_offset, 1);
  EXPECT_EQ(prefix.keys.at("acme"), "a1");
  EXPECT_EQ(prefix.keys.at("beta"), "b1");
  EXPECT_FALSE(prefix.partition_payload);

  KeyedStore second("windows", nullptr, "test");
  second.bind(&log);
  std::vector<int32_t> restored;
  second.post_restored(0, std::move(prefix));
  EXPECT_FALSE(second.owns(0));  // not before the worker takes it over
  sync(second, &restored);
  EXPECT_EQ(restored, std::vector<int32_t>{0});
  EXPECT_TRUE(second.applied(0, 1));
  EXPECT_FALSE(second.applied(0, 2));
  EXPECT_EQ(second.keys(), 2u);
}

TEST(KeyedStore, TombstonedKeysKeepThePartitionsAppliedOffsetThroughItsOwnEntry) {
  MemoryChangelog log;
  KeyedStore store("windows", nullptr, "test");
  store.bind(&log);
  store.post_restored(0, PartitionSnapshot{});
  sync(store);
  store.put(0, "acme", "a", 5, {});
  store.erase(0, "acme", -1, {});
  store.put_partition(0, "clock", -1, {});
  PartitionSnapshot snap = log.restore(0);
  EXPECT_TRUE(snap.keys.empty());
  EXPECT_EQ(snap.applied_offset, 5);  // from the partition entry: the tombstone has none
}

TEST(KeyedStore, RevocationDropsThePartitionAndItCanBeRestoredAgain) {
  MemoryChangelog log;
  KeyedStore store("windows", nullptr, "test");
  store.bind(&log);
  store.post_restored(0, PartitionSnapshot{});
  store.post_restored(1, PartitionSnapshot{});
  sync(store);
  store.put(0, "a", "x", 1, {});
  store.put(1, "b", "y", 2, {});
  EXPECT_EQ(store.keys(), 2u);

  std::vector<int32_t> revoked;
  store.post_revoked(1);
  sync(store, nullptr, &revoked);
  EXPECT_EQ(revoked, std::vector<int32_t>{1});
  EXPECT_FALSE(store.owns(1));
  EXPECT_FALSE(store.applied(1, 2));
  EXPECT_EQ(store.keys(), 1u);
  EXPECT_THROW(store.put(1, "b", "z", 3, {}), std::logic_error);  // never a write for another owner

  // Given back: what it had comes from the changelog again.
  store.post_restored(1, log.restore(1));
  sync(store);
  EXPECT_TRUE(store.applied(1, 2));
  EXPECT_EQ(store.keys(), 2u);
}

TEST(KeyedStore, HostileChangelogRecordsAreSkippedAndCounted) {
  PartitionSnapshot snap;
  std::string good;
  append_entry(good, 4, "ok");
  snap.fold("kgood", good);
  snap.fold("kbad", std::string_view("garbage"));        // not an entry
  snap.fold("no-prefix", std::string_view(good));        // not a state key
  snap.fold("", std::optional<std::string_view>());      // tombstone of no state key
  snap.fold("kgood", std::string_view("S\x01\x00", 3));  // truncated: keeps the good value
  EXPECT_EQ(snap.bad, 4u);
  EXPECT_EQ(snap.records, 5u);
  ASSERT_EQ(snap.keys.size(), 1u);
  EXPECT_EQ(snap.keys.at("good"), "ok");
  EXPECT_EQ(snap.applied_offset, 4);
}

}  // namespace
}  // namespace sluice::state
