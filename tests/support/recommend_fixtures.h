// A tiny recommendation model written from C++ for the recommend tests,
// with scores that can be worked out by hand: dim 1, Q[i] = 1, P[i] = i,
// b = 0, so a warm user's best items are the highest unseen indices, and a
// cold user gets indices 0, 1, 2, … (the popularity order).
#pragma once
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/model_fixtures.h"

namespace sluice::testing {

struct TinyModel {
  std::vector<std::string> ids = {"m0",
                                  "\xc3\xbc"
                                  "1",
                                  "2",
                                  "\"3",
                                  "4",
                                  "5"};
  int history_length = 2;
  int max_seen = 3;
  std::vector<float> age_weights = {1.f, 0.5f};
};

inline engine::testing::RawTensor f32(std::vector<int64_t> shape, const std::vector<float>& v) {
  engine::testing::RawTensor t;
  t.shape = std::move(shape);
  t.bytes.resize(v.size() * sizeof(float));
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}

inline nlohmann::json tiny_config(const TinyModel& m) {
  return {{"architectures", {"RecencyPooledRecommender"}},
          {"model_type", "sluice-recommender"},
          {"format_version", 1},
          {"num_items", m.ids.size()},
          {"hidden_size", 1},
          {"history_length", m.history_length},
          {"max_seen", m.max_seen},
          {"item_ids_file", "item_ids.json"},
          {"model_version", "test-1"}};
}

inline std::map<std::string, engine::testing::RawTensor> tiny_tensors(const TinyModel& m) {
  const auto n = static_cast<int64_t>(m.ids.size());
  std::vector<float> q(static_cast<size_t>(n), 1.f), p(static_cast<size_t>(n)),
      b(static_cast<size_t>(n), 0.f);
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = static_cast<float>(i);
  return {{"user_item_embeddings", f32({n, 1}, q)},
          {"item_embeddings", f32({n, 1}, p)},
          {"item_bias", f32({n}, b)},
          {"age_weights", f32({static_cast<int64_t>(m.age_weights.size())}, m.age_weights)}};
}

// Writes the model into a fresh scratch directory and returns it.
inline std::filesystem::path write_tiny_model(const std::string& name, const TinyModel& m = {}) {
  const auto dir = engine::testing::scratch_dir(name);
  engine::testing::write_text(dir / "config.json", tiny_config(m).dump(1));
  engine::testing::write_safetensors(dir / "model.safetensors", tiny_tensors(m));
  engine::testing::write_text(dir / "item_ids.json", nlohmann::json(m.ids).dump());
  return dir;
}

}  // namespace sluice::testing
