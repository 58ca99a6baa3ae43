// recommend_state on its durable keyed state store (an in-memory changelog,
// tests/support/memory_changelog.h): users' history survives a "restart"
// — the state restored from any prefix of the changelog and the input read
// again after the partition's applied offset, as a restarted process or a
// partition's new owner does — with the results an uninterrupted run gives,
// evictions included; the user entry's encoding; hostile entries.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "operators/micro_batch.h"
#include "operators/recommend_score.h"
#include "operators/recommend_state.h"
#include "src/core/pipeline.h"
#include "src/state/entry.h"
#include "src/state/keyed_store.h"
#include "tests/support/collecting_sink.h"
#include "tests/support/memory_changelog.h"
#include "tests/support/recommend_fixtures.h"

namespace sluice::operators {
namespace {

using nlohmann::json;
using state::testing::MemoryChangelog;

struct In {
  int32_t partition;
  int64_t offset;
  std::string event;
};
using Where = std::pair<int32_t, int64_t>;  // (partition, offset)

class Source : public core::Source {
 public:
  explicit Source(std::vector<In> in) : in_(std::move(in)) {}
  Poll poll(core::Emitter& out) override {
    if (i_ == in_.size()) return Poll::kEnd;
    const In& in = in_[i_++];
    core::Record r = core::Record::owned("key", in.event);
    r.partition = in.partition;
    r.offset = in.offset;
    out.emit(std::move(r));
    return Poll::kEmitted;
  }

 private:
  std::vector<In> in_;
  size_t i_ = 0;
};

std::map<Where, json> run(const std::shared_ptr<const RecommenderModel>& model, std::vector<In> in,
                          state::KeyedStore* store, int64_t max_users) {
  core::Pipeline p({"recommend-state-test", 64});
  p.set_source("events", std::make_unique<Source>(std::move(in)));
  RecommendStateOptions so;
  so.max_users = max_users;
  so.store = store;
  p.add_stage("state", std::make_unique<RecommendState>(model, so, RecommendStateProbe()));
  MicroBatchPolicy policy;
  policy.max_batch_records = 4;
  policy.max_batch_tokens = 1 << 20;
  p.add_stage("batch", std::make_unique<MicroBatch>(policy, MicroBatchProbe(), nullptr));
  RecommendScoreOptions score;
  score.k = 3;
  score.scorer.device = "cpu";
  p.add_stage("score", std::make_unique<RecommendScore>(model, score, RecommendScoreProbe()));
  std::map<Where, json> results;
  p.add_stage("sink", std::make_unique<testing::CollectingSink>([&](core::Record& r) {
                results[{r.partition, r.offset}] = json::parse(r.value());
              }));
  p.start();
  EXPECT_EQ(p.wait(), 0) << p.failure();
  return results;
}

std::string ev(int user, int item) {
  return R"({"user":"u)" + std::to_string(user) + R"(","item":)" + std::to_string(item) +
         R"(,"ts":1})";
}

// Two partitions, 7 users (odd ones on partition 1), items 2..5 (plain
// integer ids of the tiny model), 60 events per partition: with max_users 2
// per partition users are evicted and come back.
std::vector<In> input() {
  std::vector<In> in;
  int64_t offset[2] = {0, 0};
  for (int i = 0; i < 120; ++i) {
    const int user = (i * 3 + i / 7) % 7;
    const int32_t p = user % 2;
    in.push_back({p, offset[p]++, ev(user, 2 + (i * 5 + user) % 4)});
  }
  return in;
}

std::shared_ptr<const RecommenderModel> tiny(const std::string& name) {
  return std::make_shared<const RecommenderModel>(
      RecommenderModel::load(testing::write_tiny_model(name)));
}

TEST(RecommendStateStore,
     RestoringAnyPrefixOfTheChangelogAndReadingOnGivesTheUninterruptedResults) {
  auto model = tiny("recommend-state-restore");
  const std::vector<In> all = input();
  for (int64_t max_users : {int64_t{2}, int64_t{1000}}) {
    MemoryChangelog whole_log;
    state::KeyedStore whole("state", nullptr, "test");
    whole.bind(&whole_log);
    for (int32_t p : {0, 1}) whole.post_restored(p, state::PartitionSnapshot{});
    const std::map<Where, json> want = run(model, all, &whole, max_users);
    ASSERT_EQ(want.size(), all.size());

    // A first process reads the first 70 events and stops; only a prefix of
    // its changelog is durable (cut at several points).
    MemoryChangelog log;
    state::KeyedStore first("state", nullptr, "test");
    first.bind(&log);
    for (int32_t p : {0, 1}) first.post_restored(p, state::PartitionSnapshot{});
    run(model, std::vector<In>(all.begin(), all.begin() + 70), &first, max_users);
    for (size_t cut : {size_t{0}, size_t{5}, size_t{17}, size_t{30}, SIZE_MAX}) {
      SCOPED_TRACE("max_users " + std::to_string(max_users) +
                   ", changelog records kept: " + std::to_string(cut));
      MemoryChangelog log2;
      state::KeyedStore second("state", nullptr, "test");
      second.bind(&log2);
      int64_t applied[2];
      for (int32_t p : {0, 1}) {
        state::PartitionSnapshot snap = log.restore(p, cut);
        applied[p] = snap.applied_offset;
        second.post_restored(p, std::move(snap));
      }
      // The second process reads on after what its state has applied.
      std::vector<In> rest;
      for (const In& in : all)
        if (in.offset > applied[in.partition]) rest.push_back(in);
      const std::map<Where, json> got = run(model, rest, &second, max_users);
      ASSERT_EQ(got.size(), rest.size());
      for (const auto& [where, result] : got) {
        EXPECT_EQ(result.at("items"), want.at(where).at("items"))
            << "partition " << where.first << " offset " << where.second;
        EXPECT_EQ(result.at("scores"), want.at(where).at("scores"));
      }
    }
  }
}

TEST(RecommendStateStore, ReDeliveredEventsChangeNothingAndGetTheCurrentState) {
  auto model = tiny("recommend-state-redelivered");
  MemoryChangelog log;
  state::KeyedStore store("state", nullptr, "test");
  store.bind(&log);
  store.post_restored(0, state::PartitionSnapshot{});
  auto got = run(model, {{0, 0, ev(1, 5)}, {0, 1, ev(1, 4)}, {0, 2, ev(1, 2)}}, &store, 10);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(log.count(0), 3u);
  // Restarted before offsets 0 and 1 were committed: read again.
  MemoryChangelog log2;
  state::KeyedStore again_store("state", nullptr, "test");
  again_store.bind(&log2);
  again_store.post_restored(0, log.restore(0));
  auto again = run(model, {{0, 0, ev(1, 5)}, {0, 1, ev(1, 4)}}, &again_store, 10);
  EXPECT_EQ(log2.count(0), 0u);  // nothing written
  EXPECT_EQ(again.at({0, 0}).at("items"), got.at({0, 2}).at("items"));
  EXPECT_EQ(again.at({0, 1}).at("items"), got.at({0, 2}).at("items"));
}

TEST(RecommendStateStore, EventsOfAPartitionNotOwnedChangeNoState) {
  auto model = tiny("recommend-state-not-owned");
  MemoryChangelog log;
  state::KeyedStore store("state", nullptr, "test");
  store.bind(&log);
  store.post_restored(0, state::PartitionSnapshot{});
  auto got = run(model, {{1, 0, ev(1, 5)}, {1, 1, ev(1, 4)}}, &store, 10);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(log.records.size(), 0u);
  // Popularity list: not the user's (5 was not recorded as seen).
  EXPECT_EQ(got.at({1, 1}).at("items"), (json{"m0",
                                              "\xc3\xbc"
                                              "1",
                                              "2"}));
}

TEST(RecommendStateStore, AHostileChangelogEntryIsSkippedAndItsUserStartsAfresh) {
  auto model = tiny("recommend-state-hostile");
  for (std::string payload :
       {std::string("junk"), std::string("\x01\0\0\0\0\0\0\0\0\xff\xff\xff\xff\x0f", 14),
        std::string("\x01\x05\0\0\0\0\0\0\0\x01\x50", 11), std::string(9, '\x01')}) {
    MemoryChangelog log;
    state::KeyedStore store("state", nullptr, "test");
    store.bind(&log);
    state::PartitionSnapshot snap;
    std::string entry;
    state::append_entry(entry, 3, payload);
    snap.fold("ku1", entry);
    store.post_restored(0, std::move(snap));
    auto got = run(model, {{0, 4, ev(1, 5)}}, &store, 10);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got.at({0, 4}).at("items"), (json{"4", "\"3", "2"}));
  }
}

TEST(RecommendStateStore, UserEntriesRoundTripWithTheSeenRingAndDropIdsANewModelLacks) {
  auto model = tiny("recommend-state-codec");  // history 2, max_seen 3
  UserHistory h;
  for (int32_t i : {5, 4, 3, 2, 1}) h.apply(i, model->history_length(), model->max_seen());
  ASSERT_EQ(h.seen, (std::vector<int32_t>{1, 2, 3}));
  std::string bytes;
  encode_user_state(h, 41, *model, bytes);
  UserHistory back;
  int64_t last = -1;
  std::string why;
  ASSERT_TRUE(decode_user_state(bytes, *model, model->max_seen(), back, &last, &why)) << why;
  EXPECT_EQ(last, 41);
  EXPECT_EQ(back.recent, h.recent);
  EXPECT_EQ(back.seen, h.seen);
  // The ring goes on evicting the oldest seen item (3), as the original would.
  h.apply(0, 2, 3);
  back.apply(0, 2, 3);
  EXPECT_EQ(back.seen, h.seen);
  EXPECT_EQ(back.seen, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_LE(bytes.size(), max_user_state_bytes(*model, model->max_seen()));

  // A retrained model without item "2", its ids in another order.
  testing::TinyModel other;
  other.ids = {"5", "4", "\"3", "m0",
               "\xc3\xbc"
               "1"};
  auto retrained = std::make_shared<const RecommenderModel>(
      RecommenderModel::load(testing::write_tiny_model("recommend-state-codec-2", other)));
  encode_user_state(h, 41, *model, bytes);  // recent [1, 0], seen 0, 1, 2
  ASSERT_TRUE(decode_user_state(bytes, *retrained, 3, back, &last, &why)) << why;
  EXPECT_EQ(back.recent, (std::vector<int32_t>{4, 3}));  // "ü1", "m0"
  EXPECT_EQ(back.seen, (std::vector<int32_t>{3, 4}));
}

}  // namespace
}  // namespace sluice::operators
