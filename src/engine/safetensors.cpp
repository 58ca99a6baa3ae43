#include "src/engine/safetensors.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>

#include "src/core/input_file.h"
#include "src/engine/model_error.h"

namespace sluice::engine {
namespace {

struct DTypeName {
  const char* name;
  DType dtype;
  std::size_t size;
};
constexpr DTypeName kDTypes[] = {
    {"BOOL", DType::kBool, 1},      {"U8", DType::kU8, 1},          {"I8", DType::kI8, 1},
    {"F8_E4M3", DType::kF8E4M3, 1}, {"F8_E5M2", DType::kF8E5M2, 1}, {"I16", DType::kI16, 2},
    {"U16", DType::kU16, 2},        {"F16", DType::kF16, 2},        {"BF16", DType::kBF16, 2},
    {"I32", DType::kI32, 4},        {"U32", DType::kU32, 4},        {"F32", DType::kF32, 4},
    {"F64", DType::kF64, 8},        {"I64", DType::kI64, 8},        {"U64", DType::kU64, 8},
};

// Header larger than this is not a model we can trust (HF's limit is 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// A header is {name: {dtype, shape: [...], data_offsets: [...]}}: 3 levels.
constexpr size_t kMaxHeaderDepth = 8;
// Mapped, not read: the bound only refuses sizes no encoder checkpoint has.
constexpr uint64_t kMaxFileBytes = uint64_t{1} << 40;

// The header's JSON. Refuses nesting no header has, and a tensor name given
// twice (a DOM parser would silently keep the last: the file is ambiguous).
nlohmann::json parse_header(std::string_view text, const std::string& file) {
  if (const auto key = core::json_depth_exceeded(text, kMaxHeaderDepth))
    throw ModelError(file, (key->empty() ? std::string("header") : "tensor '" + *key + "'") +
                               ": nests deeper than " + std::to_string(kMaxHeaderDepth) +
                               " levels: not a safetensors header");
  std::unordered_set<std::string> names;
  std::string repeated;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && repeated.empty() &&
        !names.insert(parsed.get<std::string>()).second)
      repeated = parsed.get<std::string>();
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text.begin(), text.end(), on_event);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(file, std::string("header is not valid JSON: ") + e.what());
  }
  if (!repeated.empty())
    throw ModelError(file, "tensor '" + repeated + "' appears twice in the header");
  return header;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;  // inf / nan
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace

const char* dtype_name(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return e.name;
  return "?";
}

std::size_t dtype_size(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return e.size;
  return 0;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  std::size_t size = 0;
  ~Mapping() {
    if (addr) ::munmap(addr, size);
  }
};

SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string file = path.string();
  SafetensorsFile f;
  f.path_ = path;
  std::optional<core::RegularFile> in;
  try {
    in.emplace(core::RegularFile::open(path, kMaxFileBytes));
  } catch (const core::FileError& e) {
    throw ModelError(e.file(), e.reason());
  }
  const uint64_t size = in->size();
  if (size < 8) {
    throw ModelError(file, "file is " + std::to_string(size) +
                               " bytes, too short for a safetensors header (truncated?)");
  }
  f.map_ = std::make_unique<Mapping>();
  f.map_->addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, in->fd(), 0);
  if (f.map_->addr == MAP_FAILED) {
    const int err = errno;
    f.map_->addr = nullptr;
    throw ModelError(file, std::string("cannot map: ") + std::strerror(err));
  }
  in.reset();  // the mapping keeps the file
  f.map_->size = size;
  const auto* base = static_cast<const std::byte*>(f.map_->addr);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | static_cast<uint8_t>(base[i]);
  if (header_len > kMaxHeaderBytes)
    throw ModelError(file, "header length " + std::to_string(header_len) +
                               " is implausible (over 100 MB): not a safetensors file?");
  if (8 + header_len > size)
    throw ModelError(file, "header length " + std::to_string(header_len) +
                               " runs past the end of the " + std::to_string(size) +
                               "-byte file (truncated?)");
  const uint64_t data_size = size - 8 - header_len;
  f.data_ = base + 8 + header_len;

  const nlohmann::json header =
      parse_header(std::string_view(reinterpret_cast<const char*>(base + 8), header_len), file);
  if (!header.is_object()) throw ModelError(file, "header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw ModelError(file, "__metadata__ is not an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          throw ModelError(file, "__metadata__ entry '" + m.key() + "' is not a string");
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!v.is_object()) throw ModelError(file, where + ": entry is not an object");
    TensorInfo t;
    t.name = name;
    auto d = v.find("dtype");
    if (d == v.end() || !d->is_string()) throw ModelError(file, where + ": missing 'dtype'");
    const std::string dt = d->get<std::string>();
    auto known = std::find_if(std::begin(kDTypes), std::end(kDTypes),
                              [&](const DTypeName& e) { return dt == e.name; });
    if (known == std::end(kDTypes)) throw ModelError(file, where + ": unknown dtype '" + dt + "'");
    t.dtype = known->dtype;
    auto s = v.find("shape");
    if (s == v.end() || !s->is_array()) throw ModelError(file, where + ": missing 'shape'");
    for (const auto& dim : *s) {
      if (!dim.is_number_unsigned() || dim.get<uint64_t>() > uint64_t{INT64_MAX})
        throw ModelError(file, where + ": shape entries must be non-negative 64-bit integers");
      t.shape.push_back(dim.get<int64_t>());
    }
    auto o = v.find("data_offsets");
    if (o == v.end() || !o->is_array() || o->size() != 2 || !(*o)[0].is_number_unsigned() ||
        !(*o)[1].is_number_unsigned())
      throw ModelError(file, where + ": 'data_offsets' must be two non-negative integers");
    t.begin = (*o)[0].get<uint64_t>();
    t.end = (*o)[1].get<uint64_t>();
    if (t.end < t.begin) throw ModelError(file, where + ": data_offsets end before they begin");
    // Checked: a shape whose product wraps around could otherwise match a
    // small byte range and pass as a small tensor.
    uint64_t numel = 1, need = 0;
    for (int64_t dim : t.shape)
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dim), &numel))
        throw ModelError(file, where + ": shape " + shape_string(t.shape) +
                                   " has more elements than 64 bits can count");
    if (numel > uint64_t{INT64_MAX} || __builtin_mul_overflow(numel, known->size, &need))
      throw ModelError(file, where + ": shape " + shape_string(t.shape) + " of " + dt +
                                 " needs more bytes than 64 bits can count");
    if (t.end - t.begin != need)
      throw ModelError(file, where + ": data_offsets span " + std::to_string(t.end - t.begin) +
                                 " bytes but shape " + shape_string(t.shape) + " of " + dt +
                                 " needs " + std::to_string(need));
    if (t.end > data_size)
      throw ModelError(file, where + ": data ends at byte " + std::to_string(t.end) + " past the " +
                                 std::to_string(data_size) + "-byte data region (file truncated?)");
    f.tensors_.push_back(std::move(t));
  }

  std::sort(f.tensors_.begin(), f.tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  const TensorInfo* prev = nullptr;
  for (const auto& t : f.tensors_) {
    if (t.begin < cursor)
      throw ModelError(file, "tensors '" + prev->name + "' and '" + t.name + "' overlap");
    if (t.begin > cursor)
      throw ModelError(file, "unindexed bytes before tensor '" + t.name + "' (offsets " +
                                 std::to_string(cursor) + ".." + std::to_string(t.begin) + ")");
    cursor = t.end;
    prev = &t;
  }
  if (cursor != data_size)
    throw ModelError(file, "data region is " + std::to_string(data_size) +
                               " bytes but tensors cover " + std::to_string(cursor) +
                               " (trailing bytes)");
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_.emplace(f.tensors_[i].name, i);
  return f;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> SafetensorsFile::bytes(const TensorInfo& t) const {
  return {data_ + t.begin, static_cast<size_t>(t.end - t.begin)};
}

void SafetensorsFile::read_f32(const TensorInfo& t, std::span<float> out) const {
  const auto n = static_cast<size_t>(t.numel());
  if (out.size() != n) throw std::logic_error("read_f32: output size mismatch for " + t.name);
  const std::byte* p = data_ + t.begin;
  switch (t.dtype) {
    case DType::kF32:
      if (n != 0)
        std::memcpy(out.data(), p, n * sizeof(float));  // an empty span's data() may be null
      return;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = half_to_float(h);
      }
      return;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        const uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(&out[i], &bits, 4);
      }
      return;
    default:
      throw ModelError(path_.string(), "tensor '" + t.name + "' has dtype " + dtype_name(t.dtype) +
                                           "; weights must be F32, F16 or BF16");
  }
}

}  // namespace sluice::engine
