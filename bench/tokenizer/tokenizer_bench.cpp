// tokenizer_bench: sluice's side of the tokenizer benchmark (bench/tokenizer/run.sh
// runs it beside Hugging Face's hf_bench.mjs and prints the ratios).
//
//   tokenizer_bench --tokenizer DIR --input FILE [--sst2] [--threads N] [--repeat R]
//                   [--dump-ids FILE]
//
// Encodes every line (or SST-2 sentence) of FILE with N threads, R timed runs
// after one warm-up, and prints one JSON line: sentences, tokens, the median
// wall-clock seconds and rates, and the median process CPU seconds (all
// threads) with sentences per CPU-second: the per-core rate, which a shared,
// busy machine distorts far less than wall-clock time. --dump-ids writes the ids as `sluice
// tokenize` does, so run.sh can check that both implementations produced identical ids.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "src/text/tokenizer.h"

namespace {

using sluice::text::EncodeOptions;
using sluice::text::Tokenizer;

std::vector<std::string> read_input(const std::string& file, bool sst2) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::cerr << "tokenizer_bench: cannot open " << file << '\n';
    std::exit(2);
  }
  std::vector<std::string> lines;
  std::string line;
  bool header = sst2;
  while (std::getline(in, line)) {
    if (header) {
      header = false;
      continue;
    }
    if (sst2) {
      if (line.empty()) continue;
      line = line.substr(0, line.rfind('\t'));
    }
    lines.push_back(line);
  }
  return lines;
}

struct Run {
  double seconds;      // wall clock
  double cpu_seconds;  // CPU time of the whole process (all threads) during the run
  size_t tokens;
};

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Where each text's ids landed: worker `w`'s packed output, at `offset`.
struct Slot {
  uint32_t worker;
  uint32_t length;
  size_t offset;
};

// Encodes all texts with `threads` threads. Each worker packs the ids it makes
// into its own buffer (as the micro-batcher packs a batch), so the work
// includes writing every id once.
Run encode_all(const Tokenizer& tok, const std::vector<std::string>& texts, unsigned threads,
               std::vector<std::vector<int32_t>>& packed, std::vector<Slot>& slots) {
  constexpr size_t kGrain = 256;  // texts per work item
  std::atomic<size_t> next{0};
  std::vector<size_t> tokens(threads, 0);
  const int32_t max_length = tok.model_max_length();
  packed.resize(threads);
  auto worker = [&](unsigned w) {
    Tokenizer::Workspace ws;
    std::vector<int32_t> out(static_cast<size_t>(max_length));
    std::vector<int32_t>& mine = packed[w];
    mine.clear();
    for (;;) {
      const size_t b = next.fetch_add(kGrain);
      if (b >= texts.size()) break;
      const size_t e = std::min(texts.size(), b + kGrain);
      for (size_t i = b; i < e; ++i) {
        const auto r = tok.encode(texts[i], out, ws);
        slots[i] = Slot{w, static_cast<uint32_t>(r.length), mine.size()};
        mine.insert(mine.end(), out.begin(), out.begin() + r.length);
      }
    }
    tokens[w] = mine.size();
  };
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (unsigned w = 1; w < threads; ++w) pool.emplace_back(worker, w);
  worker(0);
  for (auto& t : pool) t.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = process_cpu_seconds() - cpu0;
  size_t total = 0;
  for (size_t t : tokens) total += t;
  return {s, cpu, total};
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer, input, dump;
  bool sst2 = false;
  unsigned threads = 1;
  int repeat = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "tokenizer_bench: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--tokenizer")
      tokenizer = value();
    else if (a == "--input")
      input = value();
    else if (a == "--sst2")
      sst2 = true;
    else if (a == "--threads")
      threads = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--repeat")
      repeat = std::stoi(value());
    else if (a == "--dump-ids")
      dump = value();
    else {
      std::cerr << "usage: tokenizer_bench --tokenizer DIR --input FILE [--sst2] [--threads N]"
                   " [--repeat R] [--dump-ids FILE]\n";
      return 2;
    }
  }
  if (tokenizer.empty() || input.empty() || threads == 0 || repeat < 1) {
    std::cerr << "tokenizer_bench: --tokenizer and --input are required\n";
    return 2;
  }
  const auto tok = Tokenizer::load(tokenizer);
  const auto texts = read_input(input, sst2);
  std::vector<std::vector<int32_t>> packed;
  std::vector<Slot> slots(texts.size());

  encode_all(*tok, texts, threads, packed, slots);  // warm-up: caches, page faults
  std::vector<Run> runs;
  for (int r = 0; r < repeat; ++r) runs.push_back(encode_all(*tok, texts, threads, packed, slots));
  std::sort(runs.begin(), runs.end(),
            [](const Run& a, const Run& b) { return a.seconds < b.seconds; });
  const Run med = runs[runs.size() / 2];

  if (!dump.empty()) {
    std::ofstream out(dump, std::ios::binary);
    std::string line;
    for (const Slot& slot : slots) {
      line.assign(1, '[');
      for (uint32_t k = 0; k < slot.length; ++k) {
        if (k) line += ',';
        line += std::to_string(packed[slot.worker][slot.offset + k]);
      }
      line += "]\n";
      out << line;
    }
  }
  std::vector<double> cpu;
  for (const Run& r : runs) cpu.push_back(r.cpu_seconds);
  std::sort(cpu.begin(), cpu.end());
  const double med_cpu = cpu[cpu.size() / 2];
  std::printf(
      "{\"impl\":\"sluice\",\"threads\":%u,\"sentences\":%zu,\"tokens\":%zu,\"seconds\":%.6f,"
      "\"sentences_per_s\":%.1f,\"tokens_per_s\":%.1f,\"cpu_seconds\":%.6f,"
      "\"sentences_per_cpu_s\":%.1f,\"runs\":%d}\n",
      threads, texts.size(), med.tokens, med.seconds,
      static_cast<double>(texts.size()) / med.seconds,
      static_cast<double>(med.tokens) / med.seconds, med_cpu,
      static_cast<double>(texts.size()) / med_cpu, repeat);
  return 0;
}
