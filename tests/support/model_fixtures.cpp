#include "tests/support/model_fixtures.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace sluice::engine::testing {
namespace fs = std::filesystem;

namespace {

std::string python() { return SLUICE_TORCH_PYTHON; }
fs::path tools() { return fs::path(SLUICE_SOURCE_DIR) / "tools"; }

void run(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  if (rc != 0) throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + cmd);
}

}  // namespace

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

fs::path random_model(const std::string& name, const std::string& args) {
  const fs::path dir = fs::path(SLUICE_BINARY_DIR) / "test-models" / name;
  const fs::path stamp = dir / ".args";
  if (fs::exists(stamp) && read_text(stamp) == args) return dir;
  fs::remove_all(dir);
  run(python() + " " + (tools() / "make_random_model.py").string() + " " + args + " --out " +
      dir.string());
  write_text(stamp, args);
  return dir;
}

ReferenceOutputs reference_forward(const fs::path& model,
                                   const std::vector<std::vector<int32_t>>& sequences) {
  const fs::path dir = scratch_dir("reference-" + model.filename().string());
  nlohmann::json in;
  in["sequences"] = sequences;
  write_text(dir / "ids.json", in.dump());
  run(python() + " " + (tools() / "reference_forward.py").string() + " --model " + model.string() +
      " --input " + (dir / "ids.json").string() + " --output " + (dir / "out.json").string());
  auto j = nlohmann::json::parse(read_text(dir / "out.json"));
  ReferenceOutputs r;
  r.logits = j["logits"].get<std::vector<std::vector<double>>>();
  r.pooled_head = j["pooled_head"].get<std::vector<std::vector<double>>>();
  r.first_token = j["first_token"].get<std::vector<std::vector<double>>>();
  r.mean = j["mean"].get<std::vector<std::vector<double>>>();
  return r;
}

fs::path scratch_dir(const std::string& name) {
  const fs::path dir = fs::path(SLUICE_BINARY_DIR) / "test-scratch" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void copy_model(const fs::path& src, const fs::path& dst) {
  fs::create_directories(dst);
  for (const char* f : {"config.json", "model.safetensors"})
    fs::copy_file(src / f, dst / f, fs::copy_options::overwrite_existing);
}

void write_raw_safetensors(const fs::path& path, const std::string& header,
                           const std::vector<uint8_t>& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header;
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

void write_safetensors(const fs::path& path, const std::map<std::string, RawTensor>& tensors) {
  nlohmann::json h = nlohmann::json::object();
  std::vector<uint8_t> data;
  for (const auto& [name, t] : tensors) {
    h[name] = {{"dtype", t.dtype},
               {"shape", t.shape},
               {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data.insert(data.end(), t.bytes.begin(), t.bytes.end());
  }
  write_raw_safetensors(path, h.dump(), data);
}

std::map<std::string, RawTensor> read_safetensors(const fs::path& path) {
  const std::string all = read_text(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<uint8_t>(all[i]);
  auto h = nlohmann::json::parse(all.substr(8, n));
  std::map<std::string, RawTensor> out;
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    RawTensor t;
    t.dtype = it.value()["dtype"];
    t.shape = it.value()["shape"].get<std::vector<int64_t>>();
    const uint64_t b = it.value()["data_offsets"][0], e = it.value()["data_offsets"][1];
    t.bytes.assign(all.begin() + 8 + n + b, all.begin() + 8 + n + e);
    out[it.key()] = std::move(t);
  }
  return out;
}

}  // namespace sluice::engine::testing
