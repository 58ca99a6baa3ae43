// RecommenderModel::load on good and hostile model directories: every
// problem is an engine::ModelError naming the file and the field, and a
// FIFO or a device where a file should be never blocks start-up.
#include "operators/recommend_model.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <functional>

#include "src/engine/model_error.h"
#include "tests/support/recommend_fixtures.h"

namespace sluice::operators {
namespace {

namespace fs = std::filesystem;
using engine::testing::write_text;
using nlohmann::json;
using testing::TinyModel;

// The ModelError message of loading `dir`, or "" when it loads.
std::string load_error(const fs::path& dir) {
  try {
    RecommenderModel::load(dir);
    return "";
  } catch (const engine::ModelError& e) {
    return e.what();
  }
}

#define EXPECT_ERROR_MENTIONS(dir, file, what)                        \
  do {                                                                \
    const std::string err = load_error(dir);                          \
    EXPECT_NE(err.find(file), std::string::npos) << "error: " << err; \
    EXPECT_NE(err.find(what), std::string::npos) << "error: " << err; \
  } while (0)

TEST(RecommenderModel, LoadsTheItemsAndBuildsTheScoringMatrix) {
  const auto dir = testing::write_tiny_model("recommend-model-good");
  const RecommenderModel m = RecommenderModel::load(dir);
  EXPECT_EQ(m.name(), "recommend-model-good");
  EXPECT_EQ(m.version(), "test-1");
  EXPECT_EQ(m.num_items(), 6);
  EXPECT_EQ(m.scoring_dim(), 3);
  EXPECT_EQ(m.find_item("\xc3\xbc"
                        "1"),
            1);
  EXPECT_EQ(m.find_item("\"3"), 3);
  EXPECT_EQ(m.find_item("6"), -1);
  EXPECT_EQ(m.item_id_json(3), "\"\\\"3\"");
  // Row i: [P[i] | b[i] | N - i].
  const auto items = m.scoring_items();
  EXPECT_EQ(std::vector<float>(items.begin() + 3 * 4, items.begin() + 3 * 5),
            (std::vector<float>{4.f, 0.f, 2.f}));
  std::vector<float> row(3);
  const std::vector<int32_t> recent = {2, 5};  // 5 is the newest: weight 1; 2 has age 1: 0.5
  m.query_row(recent, row);
  EXPECT_EQ(row, (std::vector<float>{1.5f, 1.f, 0.f}));
  m.query_row({}, row);
  EXPECT_EQ(row, (std::vector<float>{0.f, 0.f, 1.f}));
}

TEST(RecommenderModel, MissingOrOddFilesAreErrorsNamingThem) {
  EXPECT_ERROR_MENTIONS(engine::testing::scratch_dir("recommend-none") / "absent", "absent",
                        "not a model directory");
  auto dir = testing::write_tiny_model("recommend-model-files");
  fs::remove(dir / "config.json");
  EXPECT_ERROR_MENTIONS(dir, "config.json", "cannot open");
  fs::create_directory(dir / "config.json");
  EXPECT_ERROR_MENTIONS(dir, "config.json", "not a regular file");
  fs::remove(dir / "config.json");
  ASSERT_EQ(::mkfifo((dir / "config.json").c_str(), 0600), 0);  // would block a plain read
  EXPECT_ERROR_MENTIONS(dir, "config.json", "not a regular file");
  fs::remove(dir / "config.json");
  write_text(dir / "config.json", std::string(2 << 20, ' '));
  EXPECT_ERROR_MENTIONS(dir, "config.json", "more than the");
  write_text(dir / "config.json", "{\"model_type\": ");
  EXPECT_ERROR_MENTIONS(dir, "config.json", "not valid JSON");
  // Refused before a recursive parser sees it.
  write_text(dir / "config.json",
             "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}");
  EXPECT_ERROR_MENTIONS(dir, "config.json", "a: nests deeper than");
  dir = testing::write_tiny_model("recommend-model-files");
  write_text(dir / "item_ids.json", std::string(3000, '[') + std::string(3000, ']'));
  EXPECT_ERROR_MENTIONS(dir, "item_ids.json", "nests deeper than");
  dir = testing::write_tiny_model("recommend-model-files");
  fs::remove(dir / "model.safetensors");
  EXPECT_ERROR_MENTIONS(dir, "model.safetensors", "cannot open");
  dir = testing::write_tiny_model("recommend-model-files");
  fs::remove(dir / "item_ids.json");
  EXPECT_ERROR_MENTIONS(dir, "item_ids.json", "cannot open");
}

struct ConfigCase {
  std::string name;
  std::function<void(json&)> edit;
  std::string field;
};

TEST(RecommenderModel, BadConfigValuesAreErrorsNamingTheKey) {
  const std::vector<ConfigCase> cases = {
      {"type", [](json& c) { c["model_type"] = "bert"; }, "'model_type'"},
      {"arch", [](json& c) { c["architectures"] = {"X"}; }, "'architectures'"},
      {"version", [](json& c) { c["format_version"] = 2; }, "'format_version'"},
      {"items0", [](json& c) { c["num_items"] = 0; }, "'num_items'"},
      {"items_huge", [](json& c) { c["num_items"] = 1e12; }, "'num_items'"},
      {"items_str", [](json& c) { c["num_items"] = "6"; }, "'num_items'"},
      {"dim", [](json& c) { c["hidden_size"] = -1; }, "'hidden_size'"},
      {"history", [](json& c) { c.erase("history_length"); }, "'history_length'"},
      {"seen", [](json& c) { c["max_seen"] = 1 << 30; }, "'max_seen'"},
      {"ids_path", [](json& c) { c["item_ids_file"] = "../../etc/passwd"; }, "'item_ids_file'"},
      {"ids_dotdot", [](json& c) { c["item_ids_file"] = ".."; }, "'item_ids_file'"},
      {"mversion", [](json& c) { c["model_version"] = 3; }, "'model_version'"},
      {"not_object", [](json& c) { c = json::array(); }, "not a JSON object"},
  };
  for (const auto& c : cases) {
    const auto dir = testing::write_tiny_model("recommend-model-config-" + c.name);
    json cfg = testing::tiny_config(TinyModel{});
    c.edit(cfg);
    write_text(dir / "config.json", cfg.dump());
    SCOPED_TRACE(c.name);
    EXPECT_ERROR_MENTIONS(dir, "config.json", c.field);
  }
}

TEST(RecommenderModel, BadTensorsAreErrorsNamingTheTensor) {
  const TinyModel m;
  auto with = [&](const std::string& name, auto edit) {
    const auto dir = testing::write_tiny_model("recommend-model-tensor-" + name);
    auto tensors = testing::tiny_tensors(m);
    edit(tensors);
    engine::testing::write_safetensors(dir / "model.safetensors", tensors);
    return dir;
  };
  EXPECT_ERROR_MENTIONS(with("missing", [](auto& t) { t.erase("item_bias"); }), "model.safetensors",
                        "'item_bias'");
  EXPECT_ERROR_MENTIONS(with("shape",
                             [](auto& t) {
                               t["item_embeddings"] = testing::f32({6, 2}, std::vector<float>(12));
                             }),
                        "model.safetensors", "'item_embeddings' has shape [6, 2], expected [6, 1]");
  EXPECT_ERROR_MENTIONS(with("nan",
                             [](auto& t) {
                               t["age_weights"] = testing::f32({2}, {1.f, NAN});
                             }),
                        "model.safetensors", "'age_weights' has a non-finite value at element 1");
  EXPECT_ERROR_MENTIONS(with("int", [](auto& t) { t["item_bias"].dtype = "I32"; }),
                        "model.safetensors", "'item_bias' is I32");
  const auto dir = testing::write_tiny_model("recommend-model-tensor-garbage");
  write_text(dir / "model.safetensors", "not safetensors at all");
  EXPECT_ERROR_MENTIONS(dir, "model.safetensors", "header");
}

TEST(RecommenderModel, BadItemIdsAreErrorsNamingTheItem) {
  auto ids_file = [](const std::string& name, const std::string& text) {
    const auto dir = testing::write_tiny_model("recommend-model-ids-" + name);
    write_text(dir / "item_ids.json", text);
    return dir;
  };
  EXPECT_ERROR_MENTIONS(ids_file("count", R"(["a","b"])"), "item_ids.json", "holds 2 ids");
  EXPECT_ERROR_MENTIONS(ids_file("dup", R"(["a","b","c","d","e","a"])"), "item_ids.json",
                        "item 5 repeats the id 'a'");
  EXPECT_ERROR_MENTIONS(ids_file("num", R"(["a","b","c","d","e",6])"), "item_ids.json",
                        "item 5 is not a string");
  EXPECT_ERROR_MENTIONS(ids_file("empty", R"(["a","","c","d","e","f"])"), "item_ids.json",
                        "item 1 is empty");
  EXPECT_ERROR_MENTIONS(
      ids_file("long", R"(["a","b","c","d","e",")" + std::string(300, 'x') + "\"]"),
      "item_ids.json", "item 5 is empty or longer than 256 bytes");
  EXPECT_ERROR_MENTIONS(ids_file("object", R"({"a": 1})"), "item_ids.json", "not a JSON array");
}

}  // namespace
}  // namespace sluice::operators
