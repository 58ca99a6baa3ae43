// encoder_bench: sluice's encoder throughput (sequences/s, tokens/s) on a batch
// plan shared with the peers that bench/encoder/run.py (CPU: ONNX Runtime,
// PyTorch) and bench/encoder/gpu_bench.py (CUDA: PyTorch eager and
// torch.compile) run in the same session; those scripts print the tables.
//
//   encoder_bench --model DIR --plan PLAN.json [--threads N] [--min-time S]
//   encoder_bench --model DIR --length 32 --batch 32 [--threads N] [--min-time S]
//   encoder_bench --device cuda[:N] [--dtype fp16|bf16] [--graphs] [--in-flight K] ...
//   encoder_bench --device cuda[:N] --peak [--dtype bf16]   (dense GEMM peak only)
//   encoder_bench ... --bf16   (CPU: the opt-in bfloat16 GEMM mode, AMX; default fp32)
//   encoder_bench ... --precision fp32|bf16|int8   (CPU GEMM precision; --bf16 = --precision bf16)
//
// PLAN.json: {"configs": [{"name": "fixed32/b32", "batches": [[32, 32, ...], ...]}, ...]}
// (lengths of each batch's sequences). Every config runs whole cycles over its
// batches, after one warm-up cycle, until --min-time has passed; one JSON line
// per config goes to stdout: {"name", "seq_per_s", "tokens_per_s", "tflops",
// "batches", "seconds", "cpu_seconds", "batch_ms_median"}. The CPU backend runs
// one batch at a time (run()); the CUDA backend keeps --in-flight batches
// submitted (default 2), as the infer stage does, so copies overlap compute.
// "tflops" counts the arithmetic the backend really does (packed, no padding;
// the last layer's tail only for first tokens). --peak prints
// {"peak_tflops", "gemm_n", "device", "dtype"}: an 8192³ cuBLAS GEMM on random data.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/cuda/gemm_peak.h"
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

PackedBatch pack(const std::vector<int>& lengths, int64_t vocab, int64_t num_labels,
                 uint32_t seed) {
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
               "[--threads N] [--min-time S] [--device cpu|cuda|cuda:N|auto] [--dtype fp16|bf16] "
               "[--graphs] [--in-flight K] [--bf16 | --precision fp32|bf16|int8]\n"
               "       encoder_bench --device cuda[:N] --peak [--dtype fp16|bf16]\n";
  return 2;
}

// Floating-point operations of one forward as the backends compute it.
double forward_flops(const ModelConfig& c, const std::vector<int32_t>& cu) {
  const double d = static_cast<double>(c.hidden_size),
               inter = static_cast<double>(c.intermediate_size);
  const double layers = static_cast<double>(c.num_layers);
  double tokens = 0, sq = 0;
  const double records = static_cast<double>(cu.size() - 1);
  for (size_t i = 0; i + 1 < cu.size(); ++i) {
    const double l = cu[i + 1] - cu[i];
    tokens += l;
    sq += l * l;
  }
  const double qkv = 2 * tokens * d * 3 * d;
  const double tail_per_row = 2 * d * d + 4 * d * inter;  // output projection + FFN
  const double every = qkv + 4 * sq * d + tokens * tail_per_row;
  const double last =
      layers > 0 ? qkv + 4 * tokens * d + records * tail_per_row : 0;  // first queries only
  const double head = 2 * records * d * d + 2 * records * d * static_cast<double>(c.num_labels);
  return (layers > 0 ? (layers - 1) * every + last : 0) + head;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, plan_path, device = "cpu", dtype = "fp16";
  int threads = 0, length = 0, batch = 0, in_flight = 2;
  bool graphs = false, peak = false;
  double min_time = 1.0;
  Precision precision = Precision::kF32;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--model")
      model_dir = next();
    else if (a == "--plan")
      plan_path = next();
    else if (a == "--threads")
      threads = std::atoi(next().c_str());
    else if (a == "--min-time")
      min_time = std::atof(next().c_str());
    else if (a == "--length")
      length = std::atoi(next().c_str());
    else if (a == "--batch")
      batch = std::atoi(next().c_str());
    else if (a == "--device")
      device = next();
    else if (a == "--dtype")
      dtype = next();
    else if (a == "--graphs")
      graphs = true;
    else if (a == "--in-flight")
      in_flight = std::atoi(next().c_str());
    else if (a == "--peak")
      peak = true;
    else if (a == "--bf16")
      precision = Precision::kBF16;
    else if (a == "--precision") {
      if (!parse_precision(next(), &precision)) return usage();
    } else
      return usage();
  }
  if (peak) {
    try {
      const int dev = device.rfind("cuda:", 0) == 0 ? std::atoi(device.c_str() + 5) : 0;
      const auto p = sluice::cuda::measure_gemm_peak(dev, sluice::cuda::parse_dtype(dtype));
      std::cout << nlohmann::json{{"peak_tflops", p.tflops},
                                  {"gemm_n", p.n},
                                  {"gemm_ms", p.median_ms},
                                  {"device", p.device},
                                  {"dtype", dtype}}
                       .dump()
                << std::endl;
      return 0;
    } catch (const std::exception& e) {
      std::cerr << "encoder_bench: " << e.what() << '\n';
      return 1;
    }
  }
  if (model_dir.empty() || (plan_path.empty() && (length <= 0 || batch <= 0)) || in_flight < 1)
    return usage();

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
    const auto& c = model.config();
    int64_t max_tokens = 1, max_records = 1;
    for (const auto& cfg : plan["configs"])
      for (const auto& lengths : cfg["batches"]) {
        int64_t t = 0;
        for (int l : lengths.get<std::vector<int>>()) t += l;
        max_tokens = std::max(max_tokens, t);
        max_records = std::max<int64_t>(max_records, static_cast<int64_t>(lengths.size()));
      }
    BackendOptions opt;
    opt.device = device;
    opt.threads = threads;
    opt.dtype = dtype;
    opt.precision = precision;
    opt.cuda_graphs = graphs;
    opt.max_in_flight = in_flight;
    opt.max_batch_tokens = max_tokens;  // workspaces sized once for the plan
    opt.max_batch_records = max_records;
    auto backend = make_backend(model, opt);
    const bool pipelined = backend->kind() != "cpu";
    std::cerr << "encoder_bench: " << backend->device_name() << '\n';
    for (const auto& cfg : plan["configs"]) {
      std::vector<PackedBatch> batches;
      uint32_t seed = 1;
      for (const auto& lengths : cfg["batches"])
        batches.push_back(
            pack(lengths.get<std::vector<int>>(), c.vocab_size, c.num_labels, seed++));
      int64_t cycle_sequences = 0, cycle_tokens = 0;
      double cycle_flops = 0;
      for (const auto& b : batches) {
        cycle_sequences += static_cast<int64_t>(b.cu.size()) - 1;
        cycle_tokens += static_cast<int64_t>(b.ids.size());
        cycle_flops += forward_flops(c, b.cu);
      }
      // In flight, a batch's outputs must not be shared with another
      // submission: repeat the cycle's batches until there are enough copies.
      const size_t originals = batches.size();
      const size_t copies =
          pipelined ? (static_cast<size_t>(in_flight) + originals) / originals : 1;
      for (size_t k = 1; k < copies; ++k)
        for (size_t i = 0; i < originals; ++i) batches.push_back(batches[i]);
      std::vector<int64_t> batch_ns;
      std::vector<Ticket> outstanding;  // in submit order
      size_t head = 0;
      size_t cycle_index = 0;
      auto retire_one = [&] {
        BatchResult r = backend->wait(outstanding[head++]);
        if (!r.ok) throw std::runtime_error(r.error);
        batch_ns.push_back(r.compute_ns);
      };
      auto run_cycle = [&] {
        const size_t copy = cycle_index++ % copies;
        for (size_t i = 0; i < originals; ++i) {
          PackedBatch& b = batches[copy * originals + i];
          if (!pipelined) {
            BatchResult r = backend->run({b.ids, b.cu, b.max_len}, {b.logits, {}});
            if (!r.ok) throw std::runtime_error(r.error);
            batch_ns.push_back(r.compute_ns);
            continue;
          }
          if (outstanding.size() - head >= static_cast<size_t>(in_flight)) retire_one();
          outstanding.push_back(backend->submit({b.ids, b.cu, b.max_len}, {b.logits, {}}));
        }
      };
      auto drain = [&] {
        while (head < outstanding.size()) retire_one();
      };
      // Warm-up: JIT kernels, workspaces, caches; with graphs, every shape
      // seen twice on every slot (captured on the second sighting).
      const int warmups = graphs ? 2 * in_flight + 1 : 1;
      for (int w = 0; w < warmups; ++w) run_cycle();
      drain();
      batch_ns.clear();
      int64_t cycles = 0;
      const double cpu0 = process_cpu_seconds();
      const auto t0 = std::chrono::steady_clock::now();
      double elapsed = 0;
      do {
        run_cycle();
        ++cycles;
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      } while (elapsed < min_time);
      drain();
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::sort(batch_ns.begin(), batch_ns.end());
      const double median_ms = batch_ns.empty() ? 0.0 : batch_ns[batch_ns.size() / 2] * 1e-6;
      nlohmann::json out = {{"name", cfg["name"]},
                            {"seq_per_s", cycles * cycle_sequences / elapsed},
                            {"tokens_per_s", cycles * cycle_tokens / elapsed},
                            {"tflops", cycles * cycle_flops / elapsed / 1e12},
                            {"batches", cycles * static_cast<int64_t>(originals)},
                            {"seconds", elapsed},
                            {"cpu_seconds", process_cpu_seconds() - cpu0},
                            {"batch_ms_median", median_ms}};
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
