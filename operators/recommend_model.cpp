#include "operators/recommend_model.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <system_error>

#include "operators/json_text.h"
#include "src/core/input_file.h"
#include "src/engine/model_error.h"
#include "src/engine/safetensors.h"

namespace sluice::operators {
namespace {

using engine::ModelError;
using nlohmann::json;

constexpr uint64_t kMaxConfigBytes = 1 << 20;
// Deeper JSON than any honest config or id list nests is refused before
// nlohmann's recursive code sees it (as src/engine/model_config.cpp does).
constexpr size_t kMaxJsonDepth = 64;

// The file read the one way sluice reads outside bytes (regular files only,
// never blocking, bounded), parsed as JSON; every problem a ModelError.
json read_json(const std::filesystem::path& path, uint64_t max_bytes) {
  std::string text;
  try {
    text = core::read_file(path, max_bytes);
  } catch (const core::FileError& e) {
    throw ModelError(e.file(), e.reason());
  }
  if (const auto key = core::json_depth_exceeded(text, kMaxJsonDepth))
    throw ModelError(path.string(), (key->empty() ? "" : *key + ": ") + "nests deeper than " +
                                        std::to_string(kMaxJsonDepth) + " levels");
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw ModelError(path.string(), std::string("not valid JSON: ") + e.what());
  }
}

int64_t integer_field(const json& cfg, const std::string& file, const char* key, int64_t lo,
                      int64_t hi) {
  auto it = cfg.find(key);
  if (it == cfg.end()) throw ModelError(file, std::string("missing key '") + key + "'");
  if (!it->is_number_integer())
    throw ModelError(file, std::string("'") + key + "' must be an integer");
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi)
    throw ModelError(file, std::string("'") + key + "' is " + std::to_string(v) + ", outside [" +
                               std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

// Reads a float tensor of exactly `shape`, checking every value is finite.
std::vector<float> read_tensor(const engine::SafetensorsFile& f, const char* name,
                               std::vector<int64_t> shape) {
  const std::string file = f.path().string();
  const engine::TensorInfo* t = f.find(name);
  if (!t) throw ModelError(file, std::string("missing tensor '") + name + "'");
  if (t->shape != shape)
    throw ModelError(file, std::string("tensor '") + name + "' has shape " +
                               engine::shape_string(t->shape) + ", expected " +
                               engine::shape_string(shape));
  if (t->dtype != engine::DType::kF32 && t->dtype != engine::DType::kF16 &&
      t->dtype != engine::DType::kBF16)
    throw ModelError(file, std::string("tensor '") + name + "' is " + engine::dtype_name(t->dtype) +
                               ", expected F32, F16 or BF16");
  std::vector<float> out(static_cast<size_t>(t->numel()));
  f.read_f32(*t, out);
  for (size_t i = 0; i < out.size(); ++i)
    if (!std::isfinite(out[i]))
      throw ModelError(file, std::string("tensor '") + name +
                                 "' has a non-finite value at element " + std::to_string(i));
  return out;
}

}  // namespace

RecommenderModel RecommenderModel::load(const std::filesystem::path& dir) {
  RecommenderModel m;
  m.dir_ = dir;
  m.name_ = std::filesystem::path(dir).lexically_normal().filename().string();
  if (m.name_.empty())
    m.name_ = std::filesystem::path(dir).lexically_normal().parent_path().filename().string();
  {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      throw ModelError(dir.string(), "not a model directory");
  }

  // ---- config.json ----
  const auto config_path = dir / "config.json";
  const std::string cfile = config_path.string();
  const json cfg = read_json(config_path, kMaxConfigBytes);
  if (!cfg.is_object()) throw ModelError(cfile, "not a JSON object");
  auto type = cfg.find("model_type");
  if (type == cfg.end() || !type->is_string() || type->get<std::string>() != kModelType)
    throw ModelError(cfile,
                     std::string("'model_type' must be \"") + kModelType +
                         "\" (a recommendation model written by tools/train_recommender.py)");
  auto arch = cfg.find("architectures");
  if (arch == cfg.end() || !arch->is_array() || arch->size() != 1 || !(*arch)[0].is_string() ||
      (*arch)[0].get<std::string>() != kArchitecture)
    throw ModelError(cfile, std::string("'architectures' must be [\"") + kArchitecture + "\"]");
  integer_field(cfg, cfile, "format_version", kFormatVersion, kFormatVersion);
  m.num_items_ = static_cast<int32_t>(integer_field(cfg, cfile, "num_items", 1, kMaxItems));
  m.dim_ = static_cast<int32_t>(integer_field(cfg, cfile, "hidden_size", 1, kMaxDim));
  m.history_length_ =
      static_cast<int32_t>(integer_field(cfg, cfile, "history_length", 1, kMaxHistory));
  m.max_seen_ = static_cast<int32_t>(integer_field(cfg, cfile, "max_seen", 1, kMaxSeen));
  std::string ids_name = "item_ids.json";
  if (auto it = cfg.find("item_ids_file"); it != cfg.end()) {
    if (!it->is_string()) throw ModelError(cfile, "'item_ids_file' must be a string");
    ids_name = it->get<std::string>();
    // A file of the model directory, never a path out of it.
    if (ids_name.empty() || ids_name == "." || ids_name == ".." ||
        ids_name.find('/') != std::string::npos || ids_name.find('\0') != std::string::npos)
      throw ModelError(cfile, "'item_ids_file' must be a file name inside the model directory");
  }
  if (auto it = cfg.find("model_version"); it != cfg.end()) {
    if (!it->is_string() || it->get<std::string>().size() > 128)
      throw ModelError(cfile, "'model_version' must be a string of at most 128 bytes");
    m.version_ = it->get<std::string>();
  }
  const int64_t n = m.num_items_, d = m.dim_;

  // ---- model.safetensors ----
  const auto weights_path = dir / "model.safetensors";
  const engine::SafetensorsFile st = engine::SafetensorsFile::open(weights_path);
  m.user_items_ = read_tensor(st, "user_item_embeddings", {n, d});
  const std::vector<float> items = read_tensor(st, "item_embeddings", {n, d});
  const std::vector<float> bias = read_tensor(st, "item_bias", {n});
  m.age_weights_ = read_tensor(st, "age_weights", {m.history_length_});
  if (st.find("item_popularity")) read_tensor(st, "item_popularity", {n});  // checked, not used

  const int64_t sd = m.scoring_dim();
  m.scoring_items_.assign(static_cast<size_t>(n * sd), 0.f);
  for (int64_t i = 0; i < n; ++i) {
    float* row = m.scoring_items_.data() + i * sd;
    std::copy_n(items.data() + i * d, d, row);
    row[d] = bias[static_cast<size_t>(i)];
    // Exact up to 2^24 items; beyond, neighbours may round to one score and
    // the top-K's tie-break (the lower index first) keeps the same order.
    row[d + 1] = static_cast<float>(n - i);
  }

  // ---- item ids ----
  const auto ids_path = dir / ids_name;
  const std::string ifile = ids_path.string();
  // Each id at most kMaxIdBytes, written with \uXXXX escapes at worst.
  const uint64_t ids_limit = static_cast<uint64_t>(n) * (6 * kMaxIdBytes + 3) + 64;
  const json ids = read_json(ids_path, ids_limit);
  if (!ids.is_array()) throw ModelError(ifile, "not a JSON array of item ids");
  if (static_cast<int64_t>(ids.size()) != n)
    throw ModelError(ifile, "holds " + std::to_string(ids.size()) +
                                " ids, config.json num_items is " + std::to_string(n));
  m.ids_.reserve(static_cast<size_t>(n));
  m.ids_json_.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const json& v = ids[static_cast<size_t>(i)];
    if (!v.is_string()) throw ModelError(ifile, "item " + std::to_string(i) + " is not a string");
    std::string id = v.get<std::string>();
    if (id.empty() || id.size() > kMaxIdBytes)
      throw ModelError(ifile, "item " + std::to_string(i) + " is empty or longer than " +
                                  std::to_string(kMaxIdBytes) + " bytes");
    m.ids_.push_back(std::move(id));
    std::string j;
    append_json_string(j, m.ids_.back());
    m.ids_json_.push_back(std::move(j));
  }
  m.index_.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (!m.index_.emplace(std::string_view(m.ids_[static_cast<size_t>(i)]), static_cast<int32_t>(i))
             .second)
      throw ModelError(ifile, "item " + std::to_string(i) + " repeats the id '" +
                                  m.ids_[static_cast<size_t>(i)] + "'");
  }
  return m;
}

void RecommenderModel::query_row(std::span<const int32_t> recent, std::span<float> row) const {
  std::fill(row.begin(), row.end(), 0.f);
  if (recent.empty()) {
    row[static_cast<size_t>(dim_) + 1] = 1.f;
    return;
  }
  const size_t n = recent.size();
  for (size_t j = 0; j < n; ++j) {  // oldest first, as the reference sums
    const float w = age_weights_[n - 1 - j];
    const float* q =
        user_items_.data() + static_cast<size_t>(recent[j]) * static_cast<size_t>(dim_);
    for (int32_t c = 0; c < dim_; ++c) row[static_cast<size_t>(c)] += w * q[c];
  }
  row[static_cast<size_t>(dim_)] = 1.f;
}

}  // namespace sluice::operators
