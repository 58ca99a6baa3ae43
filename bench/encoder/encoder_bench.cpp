// encoder_bench: sluice's CPU encoder throughput (sequences/s) on a batch plan
// shared with the peers (ONNX Runtime, PyTorch) that bench/encoder/run.py runs
// in the same session; run.py prints the comparison table.
//
//   encoder_bench --model DIR --plan PLAN.json [--threads N] [--min-time S]
//   encoder_bench --model DIR --length 32 --batch 32 [--threads N] [--min-time S]
//
// PLAN.json: {"configs": [{"name": "fixed32/b32", "batches": [[32, 32, ...], ...]}, ...]}
// (lengths of each batch's sequences). Every config runs whole cycles over its
// batches, after one warm-up cycle, until --min-time has passed; one JSON line
// per config goes to stdout: {"name", "seq_per_s", "batches", "seconds",
// "cpu_seconds"}.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "src/engine/backend_factory.h"
#include "src/engine/model.h"
#include "src/engine/model_error.h"

namespace {

using namespace sluice::engine;

struct PackedBatch {
  std::vector<int32_t> ids, cu{0};
  int32_t max_len = 0;
  std::vector<float> logits;
};

PackedBatch pack(const std::vector<int>& lengths, int64_t vocab, int64_t num_labels, uint32_t seed) {
  PackedBatch b;
  uint32_t x = seed * 2654435761u + 1;
  for (int len : lengths) {
    for (int t = 0; t < len; ++t) {
      x = x * 1664525u + 1013904223u;
      b.ids.push_back(static_cast<int32_t>(1000 % vocab + (x >> 8) % (vocab - 1000 % vocab)));
    }
    b.cu.push_back(static_cast<int32_t>(b.ids.size()));
    b.max_len = std::max(b.max_len, len);
  }
  b.logits.resize(lengths.size() * static_cast<size_t>(num_labels));
  return b;
}

// CPU seconds used by the whole process (every thread): with a busy shared
// machine, this measures our work where wall time also measures the neighbours.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int usage() {
  std::cerr << "usage: encoder_bench --model DIR (--plan PLAN.json | --length L --batch B) "
               "[--threads N] [--min-time S]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, plan_path;
  int threads = 0, length = 0, batch = 0;
  double min_time = 1.0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--model") model_dir = next();
    else if (a == "--plan") plan_path = next();
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--min-time") min_time = std::atof(next().c_str());
    else if (a == "--length") length = std::atoi(next().c_str());
    else if (a == "--batch") batch = std::atoi(next().c_str());
    else return usage();
  }
  if (model_dir.empty() || (plan_path.empty() && (length <= 0 || batch <= 0))) return usage();

  nlohmann::json plan;
  if (!plan_path.empty()) {
    std::ifstream in(plan_path);
    if (!in) {
      std::cerr << "encoder_bench: cannot read " << plan_path << '\n';
      return 2;
    }
    plan = nlohmann::json::parse(in);
  } else {
    plan["configs"] = {{{"name", "fixed" + std::to_string(length) + "/b" + std::to_string(batch)},
                        {"batches", {std::vector<int>(batch, length)}}}};
  }

  try {
    const Model model = Model::load(model_dir);
    BackendOptions opt;
    opt.device = "cpu";
    opt.threads = threads;
    auto backend = make_backend(model, opt);
    std::cerr << "encoder_bench: " << backend->device_name() << '\n';
    const auto& c = model.config();
    for (const auto& cfg : plan["configs"]) {
      std::vector<PackedBatch> batches;
      uint32_t seed = 1;
      for (const auto& lengths : cfg["batches"])
        batches.push_back(pack(lengths.get<std::vector<int>>(), c.vocab_size, c.num_labels, seed++));
      auto run_cycle = [&] {
        for (auto& b : batches) {
          BatchResult r = backend->run({b.ids, b.cu, b.max_len}, {b.logits, {}});
          if (!r.ok) throw std::runtime_error(r.error);
        }
      };
      run_cycle();  // warm-up: JIT kernels, workspaces, caches
      int64_t sequences = 0, n = 0;
      const double cpu0 = process_cpu_seconds();
      const auto t0 = std::chrono::steady_clock::now();
      double elapsed = 0;
      do {
        run_cycle();
        for (const auto& b : batches) sequences += static_cast<int64_t>(b.cu.size()) - 1;
        n += static_cast<int64_t>(batches.size());
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      } while (elapsed < min_time);
      nlohmann::json out = {{"name", cfg["name"]}, {"seq_per_s", sequences / elapsed}, {"batches", n}, {"seconds", elapsed},
                          {"cpu_seconds", process_cpu_seconds() - cpu0}};
      std::cout << out.dump() << std::endl;
    }
  } catch (const ModelError& e) {
    std::cerr << "encoder_bench: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "encoder_bench: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
