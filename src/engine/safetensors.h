// Reader for the safetensors format (Hugging Face's model.safetensors):
// 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then the raw little-endian data.
//
// The file is memory-mapped read-only. open() validates the whole header
// before anything is read: dtypes, shapes, offsets inside the file, sizes
// that match shape × dtype, no overlapping tensors and no gaps (as the
// reference implementation requires). Every problem is a ModelError naming
// the file and, where there is one, the tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::engine {

enum class DType : uint8_t {
  kBool, kU8, kI8, kF8E4M3, kF8E5M2, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kF64, kI64, kU64,
};

const char* dtype_name(DType d);  // as spelled in the header: "F32", "BF16", ...
std::size_t dtype_size(DType d);  // bytes per element

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data region
  uint64_t end = 0;

  int64_t numel() const;
};

// "[768, 3072]"
std::string shape_string(std::span<const int64_t> shape);

class SafetensorsFile {
 public:
  // Maps and validates the file; throws ModelError.
  static SafetensorsFile open(const std::filesystem::path& path);

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  const std::filesystem::path& path() const { return path_; }
  // Sorted by data offset.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* find(std::string_view name) const;

  std::span<const std::byte> bytes(const TensorInfo& t) const;
  // Converts an F32, F16 or BF16 tensor to fp32 into out (numel floats);
  // ModelError for other dtypes.
  void read_f32(const TensorInfo& t, std::span<float> out) const;

 private:
  struct Mapping;
  SafetensorsFile() = default;

  std::filesystem::path path_;
  std::unique_ptr<Mapping> map_;
  const std::byte* data_ = nullptr;  // start of the data region
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace sluice::engine
