// The recommendation model the recommend_* operators serve, loaded from a
// directory as tools/train_recommender.py writes it (Hugging Face-like):
//
//   config.json        model_type "sluice-recommender", architectures
//                      ["RecencyPooledRecommender"], format_version 1,
//                      num_items N, hidden_size d, history_length L,
//                      max_seen S, item_ids_file, model_version
//   model.safetensors  user_item_embeddings [N, d]  Q: a user's recent items
//                      item_embeddings      [N, d]  P: the items scored
//                      item_bias            [N]     b
//                      age_weights          [L]     w, age 0 = the newest item
//                      item_popularity      [N]     training counts (optional)
//   item_ids.json      the N item ids, a JSON array of strings, index = row
//
// The model: a user with recent items h (oldest first, newest last) is
// u = Σ_j w[age_j] · Q[h_j]; item i scores u · P[i] + b[i]. Items are indexed
// by training count, most popular first, so a user with no history (cold
// start) gets the catalogue in index order: the popularity list.
//
// scoring_items() is the item matrix of one GEMM serving both cases:
// rows [P[i] | b[i] | N - i]; a warm user's query row is [u | 1 | 0], a cold
// user's [0 | 0 | 1] (whose scores N - i are exact and tie-free).
//
// load() checks everything a hostile or broken directory could get wrong:
// regular files of bounded size, required keys with sane values, tensor
// names, shapes and finite values, item ids that are unique non-empty
// strings; each problem is an engine::ModelError naming the file and the
// field. Immutable after load; shared by the operators of a pipeline.
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice::operators {

class RecommenderModel {
 public:
  static constexpr const char* kModelType = "sluice-recommender";
  static constexpr const char* kArchitecture = "RecencyPooledRecommender";
  static constexpr int64_t kFormatVersion = 1;
  // Bounds on what a model directory may declare (memory is allocated from them).
  static constexpr int64_t kMaxItems = 50'000'000;
  static constexpr int64_t kMaxDim = 4096;
  static constexpr int64_t kMaxHistory = 1024;
  static constexpr int64_t kMaxSeen = 1 << 20;
  static constexpr size_t kMaxIdBytes = 256;

  // Throws engine::ModelError ("FILE: what is wrong").
  static RecommenderModel load(const std::filesystem::path& dir);

  const std::string& name() const { return name_; }        // the directory's base name
  const std::string& version() const { return version_; }  // config.json model_version, or ""
  const std::filesystem::path& directory() const { return dir_; }
  int32_t num_items() const { return num_items_; }
  int32_t dim() const { return dim_; }
  int32_t history_length() const { return history_length_; }
  int32_t max_seen() const { return max_seen_; }

  // The catalogue index of an item id, or -1 when the model does not know it.
  int32_t find_item(std::string_view id) const {
    auto it = index_.find(id);
    return it == index_.end() ? -1 : it->second;
  }
  const std::string& item_id(int32_t index) const { return ids_[static_cast<size_t>(index)]; }
  // The id as a JSON string literal (for results, pre-encoded once).
  const std::string& item_id_json(int32_t index) const {
    return ids_json_[static_cast<size_t>(index)];
  }

  int32_t scoring_dim() const { return dim_ + 2; }
  // [num_items, scoring_dim()] row-major.
  std::span<const float> scoring_items() const { return scoring_items_; }
  // Q, [num_items, dim] row-major.
  std::span<const float> user_item_embeddings() const { return user_items_; }
  // w, [history_length]: w[age], age 0 = the newest item.
  std::span<const float> age_weights() const { return age_weights_; }

  // One query row of scoring_dim() floats for a user whose recent items are
  // `recent` (catalogue indices, oldest first, at most history_length): the
  // pooled user vector with the bias switch, or the cold-start row when empty.
  void query_row(std::span<const int32_t> recent, std::span<float> row) const;

 private:
  RecommenderModel() = default;

  std::filesystem::path dir_;
  std::string name_, version_;
  int32_t num_items_ = 0, dim_ = 0, history_length_ = 0, max_seen_ = 0;
  std::vector<std::string> ids_, ids_json_;
  std::unordered_map<std::string_view, int32_t> index_;  // views into ids_
  std::vector<float> scoring_items_, user_items_, age_weights_;
};

}  // namespace sluice::operators
