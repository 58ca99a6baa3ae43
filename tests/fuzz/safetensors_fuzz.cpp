// libFuzzer target over the safetensors reader (SafetensorsFile::open, then
// read_f32 of every float tensor). The input is the whole file, written to a
// scratch file because the reader maps a path. Any crash, out-of-bounds read,
// undefined behaviour, allocation over -malloc_limit_mb, or an exception other
// than ModelError fails the run. Invariants of a file that opens:
//   - tensors are sorted, back to back, and cover the data region exactly;
//   - each tensor's byte range is numel x dtype size, so read_f32 reads
//     only inside the mapping (ASan checks the reads).
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "src/engine/model_error.h"
#include "src/engine/safetensors.h"
#include "tests/fuzz/fuzz_assert.h"
#include "tests/fuzz/fuzz_scratch.h"

namespace {

using namespace sluice::engine;
namespace fs = std::filesystem;

const fs::path& scratch_file() {
  static const sluice::fuzz::ScratchDir dir("safetensors-fuzz");
  static const fs::path p = dir.path() / "model.safetensors";
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(scratch_file(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const SafetensorsFile f = SafetensorsFile::open(scratch_file());
    uint64_t cursor = 0;
    for (const TensorInfo& t : f.tensors()) {
      FUZZ_ASSERT(t.begin == cursor && t.end >= t.begin);
      cursor = t.end;
      FUZZ_ASSERT(static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype) == t.end - t.begin);
      FUZZ_ASSERT(f.find(t.name) == &t);
      FUZZ_ASSERT(f.bytes(t).size() == t.end - t.begin);
      if (t.dtype == DType::kF32 || t.dtype == DType::kF16 || t.dtype == DType::kBF16) {
        std::vector<float> out(static_cast<size_t>(t.numel()));
        f.read_f32(t, out);
      }
    }
  } catch (const ModelError&) {
    // The expected outcome for a malformed file.
  }
  return 0;
}
