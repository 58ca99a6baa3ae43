// Normalizers. Each keeps an ASCII fast path: message text is mostly ASCII,
// and no normalizer here changes an ASCII byte except by a table lookup.
#include "src/text/normalizer.h"

#include <cstring>

#include "src/text/unicode.h"

namespace sluice::text::detail {
namespace {

namespace uc = sluice::text::unicode;

bool all_ascii(std::string_view s) {
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (w & 0x8080808080808080ull) return false;
  }
  for (; i < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) >= 0x80) return false;
  }
  return true;
}

// Canonical ordering: a stable sort by combining class of every maximal run
// of non-starters (class > 0). Runs are a few code points: insertion sort.
void canonical_order(std::vector<char32_t>& cps) {
  const size_t n = cps.size();
  for (size_t i = 1; i < n; ++i) {
    const uint8_t c = uc::combining_class(cps[i]);
    if (c == 0) continue;
    size_t j = i;
    const char32_t cp = cps[i];
    while (j > 0) {
      const uint8_t prev = uc::combining_class(cps[j - 1]);
      if (prev == 0 || prev <= c) break;
      cps[j] = cps[j - 1];
      --j;
    }
    cps[j] = cp;
  }
}

void append_lower(char32_t cp, std::string& out) {
  char32_t low[3];
  const int n = uc::to_lower(cp, low);
  for (int k = 0; k < n; ++k) uc::append_utf8(low[k], out);
}

// HF normalizers/bert.rs: clean_text, then handle_chinese_chars, then
// strip_accents (NFD, drop Mn), then lowercase, each over the whole string.
// Done in one pass: every step is per code point except NFD's reordering,
// which only spans a run of non-starters, so the pass buffers one run.
class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_(clean_text), chinese_(chinese), strip_(strip_accents), lower_(lowercase) {
    for (int b = 0; b < 128; ++b) {
      uint8_t o = static_cast<uint8_t>(b);
      const bool ws = b == '\t' || b == '\n' || b == '\r' || uc::has(b, uc::kWhiteSpace);
      const bool control = b != '\t' && b != '\n' && b != '\r' && uc::has(b, uc::kBertControl);
      if (clean_ && (b == 0 || control)) {
        o = kDrop;
      } else if (clean_ && ws) {
        o = ' ';
      } else if (lower_ && b >= 'A' && b <= 'Z') {
        o = static_cast<uint8_t>(b + 32);
      }
      ascii_[b] = o;
    }
  }

  void normalize(std::string_view in, std::string& out, NormScratch& s) const override {
    std::vector<char32_t>& run = s.cps;  // a starter and the non-starters after it
    run.clear();
    const char* p = in.data();
    const char* const end = p + in.size();
    while (p < end) {
      auto b = static_cast<unsigned char>(*p);
      if (b < 0x80) {
        flush(run, out);
        do {
          const uint8_t o = ascii_[b];
          if (o != kDrop) out.push_back(static_cast<char>(o));
          ++p;
        } while (p < end && (b = static_cast<unsigned char>(*p)) < 0x80);
        continue;
      }
      const char32_t cp = uc::decode(p);
      const uint16_t f = uc::flags(cp);
      if (clean_) {
        if (cp == uc::kReplacementChar || (f & uc::kBertControl)) continue;
        if (f & uc::kWhiteSpace) {
          flush(run, out);
          out.push_back(' ');
          continue;
        }
      }
      if (chinese_ && (f & uc::kChinese)) {
        flush(run, out);
        out.push_back(' ');
        add(cp, f, run, out);
        flush(run, out);
        out.push_back(' ');
        continue;
      }
      add(cp, f, run, out);
    }
    flush(run, out);
  }

  std::string describe() const override {
    std::string d = "BertNormalizer(";
    d += clean_ ? "clean_text" : "no clean_text";
    d += chinese_ ? ", chinese chars" : "";
    d += strip_ ? ", strip accents" : "";
    d += lower_ ? ", lowercase" : "";
    return d + ")";
  }

 private:
  static constexpr uint8_t kDrop = 0xFF;

  void add(char32_t cp, uint16_t f, std::vector<char32_t>& run, std::string& out) const {
    if (!strip_) {
      emit(cp, out);
      return;
    }
    if (!(f & (uc::kCanonDecomp | uc::kMn8)) && uc::combining_class(cp) == 0 &&
        !(cp >= 0xAC00 && cp <= 0xD7A3)) {
      // A starter NFD leaves alone: ends the pending run, needs no buffering.
      flush(run, out);
      emit(cp, out);
      return;
    }
    char32_t d[uc::kMaxDecomposition];
    const int n = uc::decompose(cp, /*compat=*/false, d);
    for (int k = 0; k < n; ++k) {
      if (uc::combining_class(d[k]) == 0) flush(run, out);
      run.push_back(d[k]);
    }
  }

  void flush(std::vector<char32_t>& run, std::string& out) const {
    if (run.empty()) return;
    if (run.size() > 2)
      canonical_order(run);
    else if (run.size() == 2 && uc::combining_class(run[0]) > uc::combining_class(run[1]) &&
             uc::combining_class(run[1]) > 0) {
      std::swap(run[0], run[1]);
    }
    for (char32_t cp : run) {
      if (uc::has(cp, uc::kMn8)) continue;  // only strip_ buffers
      emit(cp, out);
    }
    run.clear();
  }

  void emit(char32_t cp, std::string& out) const {
    if (lower_) {
      append_lower(cp, out);
    } else {
      uc::append_utf8(cp, out);
    }
  }

  bool clean_, chinese_, strip_, lower_;
  uint8_t ascii_[128];
};

// HF NormalizedString::lowercase: char::to_lowercase per code point.
class LowercaseNormalizer final : public Normalizer {
 public:
  void normalize(std::string_view in, std::string& out, NormScratch&) const override {
    const char* p = in.data();
    const char* const end = p + in.size();
    while (p < end) {
      const auto b = static_cast<unsigned char>(*p);
      if (b < 0x80) {
        out.push_back(static_cast<char>(b >= 'A' && b <= 'Z' ? b + 32 : b));
        ++p;
        continue;
      }
      append_lower(uc::decode(p), out);
    }
  }
  std::string describe() const override { return "Lowercase"; }
};

// HF StripAccents: removes every combining mark (M*, Unicode 9.0); no NFD.
class StripAccentsNormalizer final : public Normalizer {
 public:
  void normalize(std::string_view in, std::string& out, NormScratch&) const override {
    const char* p = in.data();
    const char* const end = p + in.size();
    while (p < end) {
      if (static_cast<unsigned char>(*p) < 0x80) {
        out.push_back(*p++);
        continue;
      }
      const char* start = p;
      const char32_t cp = uc::decode(p);
      if (!uc::has(cp, uc::kMark9)) out.append(start, p);
    }
  }
  std::string describe() const override { return "StripAccents"; }
};

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(UnicodeForm form)
      : compat_(form == UnicodeForm::kNfkc || form == UnicodeForm::kNfkd),
        compose_(form == UnicodeForm::kNfc || form == UnicodeForm::kNfkc),
        name_(form == UnicodeForm::kNfc    ? "NFC"
              : form == UnicodeForm::kNfd  ? "NFD"
              : form == UnicodeForm::kNfkc ? "NFKC"
                                           : "NFKD") {}

  void normalize(std::string_view in, std::string& out, NormScratch& s) const override {
    if (all_ascii(in)) {  // every normal form leaves ASCII alone
      out.append(in);
      return;
    }
    std::vector<char32_t>& cps = s.cps;
    cps.clear();
    const char* p = in.data();
    const char* const end = p + in.size();
    char32_t d[uc::kMaxDecomposition];
    while (p < end) {
      const int n = uc::decompose(uc::decode(p), compat_, d);
      cps.insert(cps.end(), d, d + n);
    }
    canonical_order(cps);
    if (compose_) compose(cps);
    for (char32_t cp : cps) uc::append_utf8(cp, out);
  }

  std::string describe() const override { return name_; }

 private:
  // Canonical composition (UAX #15 sample algorithm).
  static void compose(std::vector<char32_t>& cps) {
    if (cps.empty()) return;
    size_t starter = 0;
    char32_t starter_cp = cps[0];
    int last_class = uc::combining_class(starter_cp) == 0 ? 0 : 256;
    size_t w = 1;
    for (size_t r = 1; r < cps.size(); ++r) {
      const char32_t cp = cps[r];
      const int cls = uc::combining_class(cp);
      const char32_t composite = uc::compose(starter_cp, cp);
      if (composite != 0 && (last_class < cls || last_class == 0)) {
        cps[starter] = composite;
        starter_cp = composite;
        continue;
      }
      if (cls == 0) {
        starter = w;
        starter_cp = cp;
      }
      last_class = cls;
      cps[w++] = cp;
    }
    cps.resize(w);
  }

  bool compat_, compose_;
  const char* name_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps)
      : steps_(std::move(steps)) {}

  void normalize(std::string_view in, std::string& out, NormScratch& s) const override {
    if (steps_.empty()) {
      out.append(in);
      return;
    }
    std::string_view cur = in;
    std::string* bufs[2] = {&s.seq_a, &s.seq_b};
    for (size_t i = 0; i + 1 < steps_.size(); ++i) {
      std::string& next = *bufs[i & 1];
      next.clear();
      steps_[i]->normalize(cur, next, s);
      cur = next;
    }
    steps_.back()->normalize(cur, out, s);
  }

  std::string describe() const override {
    std::string d = "Sequence[";
    for (size_t i = 0; i < steps_.size(); ++i) {
      if (i) d += ", ";
      d += steps_[i]->describe();
    }
    return d + "]";
  }

  std::vector<std::unique_ptr<Normalizer>> release() { return std::move(steps_); }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_bert_normalizer(bool clean_text, bool handle_chinese_chars,
                                                 bool strip_accents, bool lowercase) {
  return std::make_unique<BertNormalizer>(clean_text, handle_chinese_chars, strip_accents,
                                          lowercase);
}
std::unique_ptr<Normalizer> make_lowercase_normalizer() {
  return std::make_unique<LowercaseNormalizer>();
}
std::unique_ptr<Normalizer> make_strip_accents_normalizer() {
  return std::make_unique<StripAccentsNormalizer>();
}
std::unique_ptr<Normalizer> make_unicode_normalizer(UnicodeForm form) {
  return std::make_unique<UnicodeNormalizer>(form);
}
std::unique_ptr<Normalizer> make_sequence_normalizer(
    std::vector<std::unique_ptr<Normalizer>> steps) {
  std::vector<std::unique_ptr<Normalizer>> flat;
  for (auto& step : steps) {
    if (auto* seq = dynamic_cast<SequenceNormalizer*>(step.get())) {
      for (auto& inner : seq->release()) flat.push_back(std::move(inner));
    } else {
      flat.push_back(std::move(step));
    }
  }
  if (flat.size() == 1) return std::move(flat.front());
  return std::make_unique<SequenceNormalizer>(std::move(flat));
}

}  // namespace sluice::text::detail
