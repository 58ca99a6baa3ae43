// scorer_bench: queries/s of the recommendation scorer (src/engine/scorer.h)
// on matrices written by bench/recommend/scorer_run.py, which runs the peers
// (FAISS IndexFlatIP, torch.topk) on the same files and prints the ratios.
//
//   scorer_bench --items FILE --queries FILE --dim D --k K --batch B
//                [--device cpu|cuda] [--threads N] [--min-time S] [--seen S]
//                [--out FILE] [--memory-budget BYTES]
//
// FILEs: raw little-endian float32, row-major ([N, D] and [Q, D]). The
// queries are scored in batches of B rows, cycling, after one warm-up pass,
// until --min-time has passed. --seen S masks S items per query (spread over
// the catalogue), as a user's seen set. --out writes the first pass's top-K
// item ids (int32, [Q, K]) for the driver to check against the peers.
// One JSON line on stdout: {"queries_per_s","batches","seconds","device"}.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "src/engine/scorer_factory.h"

namespace {

std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open " + path);
  const auto bytes = static_cast<size_t>(in.tellg());
  std::vector<float> v(bytes / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()),
          static_cast<std::streamsize>(v.size() * sizeof(float)));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string items_path, queries_path, out_path, device = "cpu";
  int64_t dim = 0, k = 10, batch = 1, seen = 0;
  int threads = 1;
  double min_time = 2.0;
  int64_t budget = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i], v = argv[i + 1];
    if (f == "--items")
      items_path = v;
    else if (f == "--queries")
      queries_path = v;
    else if (f == "--out")
      out_path = v;
    else if (f == "--device")
      device = v;
    else if (f == "--dim")
      dim = std::stoll(v);
    else if (f == "--k")
      k = std::stoll(v);
    else if (f == "--batch")
      batch = std::stoll(v);
    else if (f == "--seen")
      seen = std::stoll(v);
    else if (f == "--threads")
      threads = std::stoi(v);
    else if (f == "--min-time")
      min_time = std::stod(v);
    else if (f == "--memory-budget")
      budget = std::stoll(v);
    else {
      std::cerr << "scorer_bench: unknown argument " << f << '\n';
      return 2;
    }
  }
  if (dim < 1 || batch < 1 || batch > 4096 || k < 1 || items_path.empty() || queries_path.empty()) {
    std::cerr << "usage: scorer_bench --items FILE --queries FILE --dim D --k K --batch B ...\n";
    return 2;
  }
  const std::vector<float> items = read_floats(items_path), queries = read_floats(queries_path);
  const int64_t n = static_cast<int64_t>(items.size()) / dim;
  const int64_t q = static_cast<int64_t>(queries.size()) / dim;
  if (q < batch) {
    std::cerr << "scorer_bench: fewer queries than one batch\n";
    return 2;
  }
  sluice::engine::ScorerOptions o;
  o.device = device;
  o.threads = threads;
  o.max_k = k;
  o.max_rows = batch;
  if (budget > 0) o.memory_budget_bytes = static_cast<size_t>(budget);
  auto scorer = sluice::engine::make_scorer(items.data(), n, dim, o);

  // Each row's seen items: S items spread over the catalogue, sorted.
  std::vector<int32_t> exclude, offsets{0};
  for (int64_t r = 0; r < batch; ++r) {
    for (int64_t j = 0; j < std::min(seen, n); ++j)
      exclude.push_back(static_cast<int32_t>((j * n / std::max<int64_t>(seen, 1) + r) % n));
    std::sort(exclude.begin() + offsets.back(), exclude.end());
    exclude.erase(std::unique(exclude.begin() + offsets.back(), exclude.end()), exclude.end());
    offsets.push_back(static_cast<int32_t>(exclude.size()));
  }
  std::vector<int32_t> top(static_cast<size_t>(batch * k)), all;
  std::vector<float> scores(static_cast<size_t>(batch * k));
  const int64_t nbatches = q / batch;
  auto run_batch = [&](int64_t b) {
    sluice::engine::ScoreQueries sq{
        std::span<const float>(queries.data() + b * batch * dim, static_cast<size_t>(batch * dim)),
        batch, offsets, exclude};
    scorer->top_k(sq, k, {top, scores});
  };
  for (int64_t b = 0; b < nbatches; ++b) {  // warm-up pass, and the ids for the check
    run_batch(b);
    if (!out_path.empty()) all.insert(all.end(), top.begin(), top.end());
  }
  if (!out_path.empty()) {
    std::ofstream out(out_path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(all.data()),
              static_cast<std::streamsize>(all.size() * sizeof(int32_t)));
  }
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  int64_t done = 0;
  double seconds = 0;
  do {
    run_batch(done % nbatches);
    ++done;
    seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  } while (seconds < min_time);
  std::printf("{\"queries_per_s\":%.1f,\"batches\":%lld,\"seconds\":%.3f,\"device\":\"%s\"}\n",
              static_cast<double>(done * batch) / seconds, static_cast<long long>(done), seconds,
              scorer->device_name().c_str());
  return 0;
}
