// ModelSlot (operators/model_slot.h): a model directory reloaded in place.
// Real models: the shipped tweet model (weights + tokenizer), a copy with one
// weight perturbed (another content hash), and broken copies.
#include "operators/model_slot.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/model_fixtures.h"

namespace sluice::operators {
namespace {

namespace fs = std::filesystem;

const fs::path kTweetModel = fs::path(SLUICE_SOURCE_DIR) / "models" / "sentiment-tweet-small";
const fs::path kSst2Model = fs::path(SLUICE_SOURCE_DIR) / "models" / "sentiment-sst2-small";

class ModelSlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kTweetModel / "model.safetensors"))
      GTEST_SKIP() << "no shipped model at " << kTweetModel;
    dir_ = engine::testing::scratch_dir(
        std::string("model-slot-") +
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::copy(kTweetModel, dir_ / "a", fs::copy_options::recursive);
    fs::copy(kTweetModel, dir_ / "b", fs::copy_options::recursive);
    // One weight's lowest mantissa byte: the same model within 1e-7, another hash.
    std::fstream f(dir_ / "b" / "model.safetensors",
                   std::ios::in | std::ios::out | std::ios::binary);
    uint64_t header = 0;
    f.read(reinterpret_cast<char*>(&header), 8);
    f.seekg(static_cast<std::streamoff>(8 + header));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 1);
    f.seekp(static_cast<std::streamoff>(8 + header));
    f.write(&c, 1);
    f.close();
    point_live_at(dir_ / "a");
  }

  void point_live_at(const fs::path& target) {
    fs::remove(dir_ / "live.next");
    fs::create_directory_symlink(target, dir_ / "live.next");
    fs::rename(dir_ / "live.next", dir_ / "live");
  }

  fs::path dir_;
};

TEST_F(ModelSlotTest, ReloadSwitchesModelAndTokenizerTogetherAndFreesTheOldWhenUnheld) {
  ModelSlot slot(dir_ / "live");
  slot.need_tokenizer();
  slot.need_model();
  std::shared_ptr<const ServedModel> old = slot.current();
  EXPECT_EQ(old->generation, 1u);
  EXPECT_EQ(slot.generation(), 1u);
  ASSERT_TRUE(old->model && old->tokenizer);
  EXPECT_EQ(old->identity.hash, engine::identify_model(dir_ / "a").hash);
  const std::string fingerprint = slot.fingerprint();
  EXPECT_EQ(slot.loaded_fingerprint(), fingerprint);

  point_live_at(dir_ / "b");
  EXPECT_NE(slot.fingerprint(), fingerprint);
  const ModelSlot::Outcome o = slot.reload();
  ASSERT_EQ(o.result, ModelSlot::Result::kSwitched) << o.message;
  EXPECT_EQ(slot.generation(), 2u);
  std::shared_ptr<const ServedModel> now = slot.current();
  EXPECT_EQ(now->generation, 2u);
  EXPECT_EQ(now->identity.hash, engine::identify_model(dir_ / "b").hash);
  EXPECT_NE(now->identity.hash, old->identity.hash);
  ASSERT_TRUE(now->model && now->tokenizer);
  EXPECT_NE(now->model, old->model);
  EXPECT_NE(now->tokenizer, old->tokenizer);  // loaded with the model, never mixed
  EXPECT_EQ(served_for(now.get(), &slot), now.get());
  EXPECT_EQ(slot.loaded_fingerprint(), slot.fingerprint());

  // Whoever still holds the old version (a batch in flight) keeps it alive; the last frees it.
  std::weak_ptr<const engine::Model> old_model = old->model;
  EXPECT_FALSE(old_model.expired());
  old.reset();
  EXPECT_TRUE(old_model.expired());
}

TEST_F(ModelSlotTest, SameContentIsUnchangedNotASwitch) {
  ModelSlot slot(dir_ / "live");
  slot.need_model();
  fs::copy(dir_ / "a", dir_ / "a2", fs::copy_options::recursive);
  point_live_at(dir_ / "a2");
  const ModelSlot::Outcome o = slot.reload();
  EXPECT_EQ(o.result, ModelSlot::Result::kUnchanged) << o.message;
  EXPECT_EQ(slot.generation(), 1u);
}

TEST_F(ModelSlotTest, BrokenModelsAreRefusedNamingTheFileAndTheServingOneStays) {
  ModelSlot slot(dir_ / "live");
  slot.need_tokenizer();
  slot.need_model();
  const std::shared_ptr<const ServedModel> serving = slot.current();

  fs::copy(dir_ / "a", dir_ / "truncated", fs::copy_options::recursive);
  fs::resize_file(dir_ / "truncated" / "model.safetensors",
                  fs::file_size(dir_ / "a" / "model.safetensors") / 2);
  fs::copy(dir_ / "a", dir_ / "no-config", fs::copy_options::recursive);
  fs::remove(dir_ / "no-config" / "config.json");
  fs::copy(dir_ / "a", dir_ / "garbage-tokenizer", fs::copy_options::recursive);
  engine::testing::write_text(dir_ / "garbage-tokenizer" / "tokenizer.json", "{\"model\": [");
  fs::create_directories(dir_ / "empty");

  const std::pair<const char*, const char*> cases[] = {{"truncated", "model.safetensors"},
                                                       {"no-config", "config.json"},
                                                       {"garbage-tokenizer", "tokenizer.json"},
                                                       {"empty", "config.json"}};
  for (const auto& [name, file] : cases) {
    point_live_at(dir_ / name);
    const ModelSlot::Outcome o = slot.reload();
    EXPECT_EQ(o.result, ModelSlot::Result::kRefused) << name;
    EXPECT_NE(o.message.find(file), std::string::npos) << name << ": " << o.message;
    EXPECT_EQ(slot.current(), serving) << name;
    EXPECT_EQ(slot.generation(), 1u) << name;
    // What was refused is remembered: the watch does not try it again until it changes.
    EXPECT_EQ(slot.loaded_fingerprint(), slot.fingerprint()) << name;
  }
}

TEST_F(ModelSlotTest, AStageCheckRefusesAModelThatDoesNotFit) {
  if (!fs::exists(kSst2Model / "model.safetensors")) GTEST_SKIP() << "no " << kSst2Model;
  ModelSlot slot(dir_ / "live");
  slot.need_tokenizer();
  slot.need_model();
  slot.add_check([](const ServedModel& next, const ServedModel& serving) -> std::string {
    if (next.model->config().num_labels == serving.model->config().num_labels) return "";
    return "labels differ";
  });
  fs::copy(kSst2Model, dir_ / "two-labels", fs::copy_options::recursive);
  point_live_at(dir_ / "two-labels");
  ModelSlot::Outcome o = slot.reload();
  EXPECT_EQ(o.result, ModelSlot::Result::kRefused);
  EXPECT_EQ(o.message, "labels differ");
  point_live_at(dir_ / "b");
  o = slot.reload();
  EXPECT_EQ(o.result, ModelSlot::Result::kSwitched) << o.message;
}

}  // namespace
}  // namespace sluice::operators
