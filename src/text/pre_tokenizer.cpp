// Pre-tokenizers. Character classes come from unicode.h; ASCII bytes are
// classified by table so the common case never decodes.
#include "src/text/pre_tokenizer.h"

#include <array>

#include "src/text/unicode.h"

namespace sluice::text::detail {
namespace {

namespace uc = sluice::text::unicode;

inline void push(std::vector<Piece>& out, int32_t b, int32_t e) {
  if (b < e) out.push_back(Piece{b, e, -1});
}

// Code point at text[i] and its byte length.
inline char32_t char_at(const std::string& text, int32_t i, int32_t& len) {
  const char* p = text.data() + i;
  const char* q = p;
  const char32_t cp = uc::decode(q);
  len = static_cast<int32_t>(q - p);
  return cp;
}

// HF pre_tokenizers/bert.rs: split on White_Space (removed), then isolate
// each punctuation char (ASCII punctuation or P*, Unicode 8.0).
class BertPreTokenizer final : public PreTokenizer {
 public:
  BertPreTokenizer() {
    for (int b = 0; b < 128; ++b) {
      ascii_[b] = uc::has(b, uc::kWhiteSpace)  ? kSpace
                  : uc::has(b, uc::kBertPunct) ? kPunct
                                               : kWordChar;
    }
  }

  void split(std::string& text, Piece in, std::vector<Piece>& out, PreTokScratch&) const override {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    int32_t word = in.begin;  // start of the open word
    int32_t i = in.begin;
    while (i < in.end) {
      uint8_t cls;
      int32_t len = 1;
      if (s[i] < 0x80) {
        cls = ascii_[s[i]];
      } else {
        const uint16_t f = uc::flags(char_at(text, i, len));
        cls = (f & uc::kWhiteSpace) ? kSpace : (f & uc::kBertPunct) ? kPunct : kWordChar;
      }
      if (cls != kWordChar) {
        push(out, word, i);
        if (cls == kPunct) push(out, i, i + len);
        word = i + len;
      }
      i += len;
    }
    push(out, word, in.end);
  }

  std::string describe() const override { return "BertPreTokenizer"; }

 private:
  enum : uint8_t { kWordChar, kSpace, kPunct };
  uint8_t ascii_[128];
};

enum CharClass : uint8_t { kWord, kSpaceClass, kOther };

inline CharClass word_class(const std::string& text, int32_t i, int32_t& len) {
  const auto b = static_cast<unsigned char>(text[i]);
  char32_t cp = b;
  len = 1;
  if (b >= 0x80) cp = char_at(text, i, len);
  const uint16_t f = uc::flags(cp);
  return (f & uc::kWord) ? kWord : (f & uc::kWhiteSpace) ? kSpaceClass : kOther;
}

// HF Whitespace: the matches of \w+|[^\w\s]+ ; White_Space runs vanish.
class WhitespacePreTokenizer final : public PreTokenizer {
 public:
  void split(std::string& text, Piece in, std::vector<Piece>& out, PreTokScratch&) const override {
    int32_t i = in.begin;
    while (i < in.end) {
      int32_t len;
      const CharClass c = word_class(text, i, len);
      if (c == kSpaceClass) {
        i += len;
        continue;
      }
      const int32_t start = i;
      i += len;
      while (i < in.end && word_class(text, i, len) == c) i += len;
      push(out, start, i);
    }
  }
  std::string describe() const override { return "Whitespace"; }
};

// HF WhitespaceSplit: split on White_Space, removed.
class WhitespaceSplitPreTokenizer final : public PreTokenizer {
 public:
  void split(std::string& text, Piece in, std::vector<Piece>& out, PreTokScratch&) const override {
    int32_t word = in.begin;
    int32_t i = in.begin;
    while (i < in.end) {
      int32_t len = 1;
      const auto b = static_cast<unsigned char>(text[i]);
      const char32_t cp = b < 0x80 ? b : char_at(text, i, len);
      if (uc::has(cp, uc::kWhiteSpace)) {
        push(out, word, i);
        word = i + len;
      }
      i += len;
    }
    push(out, word, in.end);
  }
  std::string describe() const override { return "WhitespaceSplit"; }
};

// GPT-2's pattern, as HF's ByteLevel compiles it with Oniguruma:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// hand-compiled into a scanner with the regex's leftmost-first semantics.
class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {
    for (int b = 0; b < 128; ++b) {
      const uint16_t f = uc::flags(b);
      ascii_[b] = (f & uc::kWhiteSpace) ? kS : (f & uc::kLetter) ? kL : (f & uc::kNumber) ? kN : kO;
    }
  }

  void split(std::string& text, Piece in, std::vector<Piece>& out, PreTokScratch&) const override {
    if (in.begin >= in.end) return;
    if (add_prefix_space_ && text[in.begin] != ' ') {
      // Copy the word behind a space at the end of the text: offsets stay valid.
      const int32_t b = static_cast<int32_t>(text.size());
      text.reserve(text.size() + 1 + (in.end - in.begin));  // no reallocation below
      text.push_back(' ');
      text.append(text.data() + in.begin, in.end - in.begin);
      in = Piece{b, static_cast<int32_t>(text.size()), -1};
    }
    if (!use_regex_) {
      push(out, in.begin, in.end);
      return;
    }
    const std::string& t = text;
    const int32_t end = in.end;
    int32_t i = in.begin;
    while (i < end) {
      const char c = t[i];
      if (c == '\'' && i + 1 < end) {  // 's 't 're 've 'm 'll 'd
        const char n = t[i + 1];
        int32_t len = 0;
        if (n == 's' || n == 't' || n == 'm' || n == 'd') {
          len = 2;
        } else if (i + 2 < end && ((n == 'r' && t[i + 2] == 'e') || (n == 'v' && t[i + 2] == 'e') ||
                                   (n == 'l' && t[i + 2] == 'l'))) {
          len = 3;
        }
        if (len) {
          push(out, i, i + len);
          i += len;
          continue;
        }
      }
      int32_t len;
      Cls cls = cls_at(t, i, len);
      int32_t run = i;  // where the class run starts (after an optional space)
      if (c == ' ' && i + 1 < end) {
        int32_t next_len;
        const Cls next = cls_at(t, i + 1, next_len);
        if (next != kS) {
          cls = next;
          run = i + 1;
          len = next_len;
        }
      }
      if (cls != kS) {  // ` ?\p{L}+`, ` ?\p{N}+` or ` ?[^\s\p{L}\p{N}]+`
        int32_t j = run + len;
        while (j < end && cls_at(t, j, len) == cls) j += len;
        push(out, i, j);
        i = j;
        continue;
      }
      // Whitespace: \s+(?!\S) takes the run but its last char when a
      // non-space follows; a single space before a non-space is \s+.
      int32_t j = i + len;
      int32_t last = i;  // start of the run's last char
      while (j < end && cls_at(t, j, len) == kS) {
        last = j;
        j += len;
      }
      const int32_t stop = (j < end && last > i) ? last : j;
      push(out, i, stop);
      i = stop;
    }
  }

  std::string describe() const override {
    return std::string("ByteLevel(") + (add_prefix_space_ ? "add_prefix_space" : "") +
           (use_regex_ ? "" : ", no regex") + ")";
  }
  bool byte_level() const override { return true; }

 private:
  enum Cls : uint8_t { kS, kL, kN, kO };

  Cls cls_at(const std::string& t, int32_t i, int32_t& len) const {
    const auto b = static_cast<unsigned char>(t[i]);
    if (b < 0x80) {
      len = 1;
      return static_cast<Cls>(ascii_[b]);
    }
    const uint16_t f = uc::flags(char_at(t, i, len));
    return (f & uc::kWhiteSpace) ? kS : (f & uc::kLetter) ? kL : (f & uc::kNumber) ? kN : kO;
  }

  bool add_prefix_space_, use_regex_;
  uint8_t ascii_[128];
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps)
      : steps_(std::move(steps)) {}

  void split(std::string& text, Piece in, std::vector<Piece>& out,
             PreTokScratch& s) const override {
    if (steps_.empty()) {
      push(out, in.begin, in.end);
      return;
    }
    // Nested sequences are flattened at construction, so a and b are ours.
    std::vector<Piece>* cur = &s.a;
    std::vector<Piece>* next = &s.b;
    cur->clear();
    cur->push_back(in);
    for (size_t k = 0; k + 1 < steps_.size(); ++k) {
      next->clear();
      for (const Piece& p : *cur) steps_[k]->split(text, p, *next, s);
      std::swap(cur, next);
    }
    for (const Piece& p : *cur) steps_.back()->split(text, p, out, s);
  }

  std::string describe() const override {
    std::string d = "Sequence[";
    for (size_t i = 0; i < steps_.size(); ++i) {
      if (i) d += ", ";
      d += steps_[i]->describe();
    }
    return d + "]";
  }
  bool byte_level() const override { return !steps_.empty() && steps_.back()->byte_level(); }

  std::vector<std::unique_ptr<PreTokenizer>> release() { return std::move(steps_); }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer() {
  return std::make_unique<BertPreTokenizer>();
}
std::unique_ptr<PreTokenizer> make_whitespace_pre_tokenizer() {
  return std::make_unique<WhitespacePreTokenizer>();
}
std::unique_ptr<PreTokenizer> make_whitespace_split_pre_tokenizer() {
  return std::make_unique<WhitespaceSplitPreTokenizer>();
}
std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, use_regex);
}
std::unique_ptr<PreTokenizer> make_sequence_pre_tokenizer(
    std::vector<std::unique_ptr<PreTokenizer>> steps) {
  std::vector<std::unique_ptr<PreTokenizer>> flat;
  for (auto& step : steps) {
    if (auto* seq = dynamic_cast<SequencePreTokenizer*>(step.get())) {
      for (auto& inner : seq->release()) flat.push_back(std::move(inner));
    } else {
      flat.push_back(std::move(step));
    }
  }
  if (flat.size() == 1) return std::move(flat.front());
  return std::make_unique<SequencePreTokenizer>(std::move(flat));
}

char32_t byte_to_unicode(uint8_t b) {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int i = 0; i < 256; ++i) {
      const bool printable = (i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE;
      t[i] = printable ? static_cast<char32_t>(i) : next++;
    }
    return t;
  }();
  return table[b];
}

}  // namespace sluice::text::detail
