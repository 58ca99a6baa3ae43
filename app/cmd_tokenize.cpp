// `sluice tokenize`: one JSON array of token ids per input line, the same
// text Hugging Face's `JSON.stringify(encoding.getIds())` prints, so outputs
// can be compared byte for byte. Lines are tokenized on all cores in chunks;
// output order is input order.
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "app/commands.h"
#include "src/core/cpus.h"
#include "src/text/tokenizer.h"

namespace sluice::app {
namespace {

constexpr const char* kUsage =
    "usage: sluice tokenize --tokenizer DIR|FILE [--max-length N] [--no-special-tokens]\n"
    "                       [--invalid-utf8 replace|reject] [--threads N] [--describe]\n"
    "Reads lines on stdin; writes one JSON array of token ids per line.\n"
    "  --max-length N        truncate to N ids, special tokens included (default: the\n"
    "                        tokenizer's model_max_length)\n"
    "  --no-special-tokens   no [CLS]/[SEP] (or <s>/</s>) around the ids\n"
    "  --invalid-utf8 P      replace (default: U+FFFD) or reject (prints null, exit 1)\n"
    "  --threads N           worker threads (default: all cores)\n"
    "  --describe            print the tokenizer's components on stderr\n";

struct Options {
  std::string tokenizer;
  text::EncodeOptions encode;
  unsigned threads = 0;
  bool describe = false;
};

bool parse_int(const char* s, long min, long max, long& out) {
  const char* end = s + std::strlen(s);
  auto [p, ec] = std::from_chars(s, end, out);
  return ec == std::errc() && p == end && out >= min && out <= max;
}

int usage_error(const std::string& msg) {
  std::cerr << "sluice tokenize: " << msg << "\n" << kUsage;
  return 2;
}

struct Chunk {
  std::vector<std::string_view> lines;
  std::vector<std::string> out;               // per thread
  std::vector<std::vector<size_t>> rejected;  // line indexes, per thread
};

void tokenize_range(const text::Tokenizer& tok, const text::EncodeOptions& opts,
                    const std::vector<std::string_view>& lines, size_t begin, size_t end,
                    std::string& out, std::vector<size_t>& rejected) {
  thread_local text::Tokenizer::Workspace ws;
  thread_local std::vector<int32_t> ids;
  const int32_t max_len = opts.max_length > 0 ? opts.max_length : tok.model_max_length();
  ids.resize(static_cast<size_t>(max_len));
  char num[16];
  for (size_t i = begin; i < end; ++i) {
    const text::EncodeResult r = tok.encode(lines[i], ids, ws, opts);
    if (r.status == text::EncodeStatus::kInvalidUtf8) {
      out += "null\n";
      rejected.push_back(i);
      continue;
    }
    out.push_back('[');
    for (int32_t k = 0; k < r.length; ++k) {
      if (k) out.push_back(',');
      const auto [p, ec] = std::to_chars(num, num + sizeof num, ids[static_cast<size_t>(k)]);
      out.append(num, p);
    }
    out += "]\n";
  }
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    long n;
    if (a == "--tokenizer") {
      const char* v = value();
      if (!v) return usage_error("--tokenizer needs a directory or file");
      o.tokenizer = v;
    } else if (a == "--max-length") {
      const char* v = value();
      if (!v || !parse_int(v, 1, 1 << 24, n))
        return usage_error("--max-length needs a positive integer");
      o.encode.max_length = static_cast<int32_t>(n);
    } else if (a == "--no-special-tokens") {
      o.encode.add_special_tokens = false;
    } else if (a == "--invalid-utf8") {
      const char* v = value();
      const std::string_view p = v ? v : "";
      if (p == "replace") {
        o.encode.invalid_utf8 = text::InvalidUtf8::kReplace;
      } else if (p == "reject") {
        o.encode.invalid_utf8 = text::InvalidUtf8::kReject;
      } else {
        return usage_error("--invalid-utf8 takes replace or reject");
      }
    } else if (a == "--threads") {
      const char* v = value();
      if (!v || !parse_int(v, 1, 1024, n)) return usage_error("--threads needs a positive integer");
      o.threads = static_cast<unsigned>(n);
    } else if (a == "--describe") {
      o.describe = true;
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else {
      return usage_error("unknown argument '" + std::string(a) + "'");
    }
  }
  if (o.tokenizer.empty()) return usage_error("--tokenizer is required");

  std::unique_ptr<text::Tokenizer> tok;
  try {
    tok = text::Tokenizer::load(o.tokenizer);
  } catch (const text::TokenizerError& e) {
    std::cerr << "sluice tokenize: " << e.what() << '\n';
    return 2;
  }
  if (o.describe) std::cerr << tok->describe() << '\n';
  const int32_t max_len = o.encode.max_length > 0 ? o.encode.max_length : tok->model_max_length();
  if (o.encode.add_special_tokens && max_len < tok->special_tokens_count()) {
    return usage_error("--max-length " + std::to_string(max_len) + " leaves no room for the " +
                       std::to_string(tok->special_tokens_count()) + " special tokens");
  }
  const unsigned threads = o.threads ? o.threads : static_cast<unsigned>(core::available_cpus());

  // Read stdin in blocks; tokenize the complete lines of each block in parallel.
  constexpr size_t kBlock = 1 << 22;
  std::string buf, carry;
  std::vector<char> raw(kBlock);
  size_t line_no = 0;
  bool any_rejected = false;
  Chunk chunk;
  auto process = [&](std::string_view data) {
    chunk.lines.clear();
    size_t start = 0;
    while (start < data.size()) {
      size_t nl = data.find('\n', start);
      if (nl == std::string_view::npos) nl = data.size();
      chunk.lines.push_back(data.substr(start, nl - start));
      start = nl + 1;
    }
    const size_t n = chunk.lines.size();
    const unsigned t =
        static_cast<unsigned>(std::min<size_t>(threads, std::max<size_t>(1, n / 64)));
    chunk.out.assign(t, std::string());
    chunk.rejected.assign(t, {});
    std::vector<std::thread> workers;
    for (unsigned w = 0; w < t; ++w) {
      const size_t b = n * w / t, e = n * (w + 1) / t;
      auto job = [&, w, b, e] {
        tokenize_range(*tok, o.encode, chunk.lines, b, e, chunk.out[w], chunk.rejected[w]);
      };
      if (w + 1 == t)
        job();
      else
        workers.emplace_back(job);
    }
    for (auto& th : workers) th.join();
    for (unsigned w = 0; w < t; ++w) {
      std::fwrite(chunk.out[w].data(), 1, chunk.out[w].size(), stdout);
      for (size_t i : chunk.rejected[w]) {
        std::cerr << "sluice tokenize: line " << (line_no + i + 1) << ": invalid UTF-8\n";
        any_rejected = true;
      }
    }
    line_no += n;
  };
  for (;;) {
    const size_t got = std::fread(raw.data(), 1, raw.size(), stdin);
    if (got == 0) break;
    buf.assign(carry);
    buf.append(raw.data(), got);
    const size_t last_nl = buf.rfind('\n');
    if (last_nl == std::string::npos) {
      carry = buf;
      continue;
    }
    carry.assign(buf, last_nl + 1);
    process(std::string_view(buf).substr(0, last_nl + 1));
  }
  if (!carry.empty()) process(carry);
  std::fflush(stdout);
  return any_rejected ? 1 : 0;
}

}  // namespace sluice::app
