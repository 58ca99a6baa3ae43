// Tokenizer: the encode pipeline of Hugging Face `tokenizers` for one sequence
// (added tokens -> normalizer -> pre-tokenizer -> model -> truncation ->
// post-processor), and file-type dispatch for load().
#include "src/text/tokenizer.h"

#include <algorithm>
#include <cassert>
#include <climits>
#include <stdexcept>
#include <unordered_map>

#include "src/text/json_util.h"
#include "src/text/tokenizer_impl.h"
#include "src/text/unicode.h"

namespace sluice::text {

namespace fs = std::filesystem;

Tokenizer::Workspace::Workspace() : state_(std::make_unique<State>()) {}
Tokenizer::Workspace::~Workspace() = default;
Tokenizer::Workspace::Workspace(Workspace&&) noexcept = default;
Tokenizer::Workspace& Tokenizer::Workspace::operator=(Workspace&&) noexcept = default;

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

void Tokenizer::Impl::finish(std::vector<detail::AddedToken> tokens) {
  const detail::Vocab& vocab = model_vocab();
  const auto model_size = static_cast<int32_t>(vocab.size());
  // HF AddedVocabulary::add_tokens: an added token takes the id it already
  // has, else its model id, else the next free id after the model's; the id
  // written in the file is not consulted.
  added_tokens.clear();
  std::unordered_map<std::string, size_t>
      index;  // content -> added_tokens[i]: linear, not quadratic
  std::optional<int32_t> max_added;
  for (auto& t : tokens) {
    if (t.content.empty()) continue;
    if (t.content.size() > detail::kMaxTokenBytes)  // e.g. a special token of tokenizer_config.json
      throw TokenizerError(source + ": added token '" + detail::JsonCtx::token_excerpt(t.content) +
                           "' is " + std::to_string(t.content.size()) + " bytes, more than the " +
                           std::to_string(detail::kMaxTokenBytes) + " a token may have");
    if (const auto same = index.find(t.content); same != index.end()) {
      detail::AddedToken& a = added_tokens[same->second];
      t.id = a.id;
      a = std::move(t);  // the later definition's options win
      continue;
    }
    if (const auto it = vocab.find(t.content); it != vocab.end()) {
      t.id = it->second;
    } else if (!max_added) {
      t.id = model_size;
    } else if (*max_added >= model_size || model_size == 0) {
      if (*max_added >= INT32_MAX - 1)  // vocab_size, one past the largest id, must fit too
        throw TokenizerError(source + ": added token '" +
                             detail::JsonCtx::token_excerpt(t.content) +
                             "' would get an id beyond 32 bits");
      t.id = *max_added + 1;
    } else {
      t.id = model_size;
    }
    max_added = std::max(max_added.value_or(t.id), t.id);
    index.emplace(t.content, added_tokens.size());
    added_tokens.push_back(t);
  }
  // HF matches special tokens first, then the others; leftmost-longest makes
  // the order matter only for identical patterns.
  std::stable_partition(added_tokens.begin(), added_tokens.end(),
                        [](const detail::AddedToken& t) { return t.special; });

  std::vector<detail::AddedToken> raw, norm;
  std::vector<std::string> raw_patterns, norm_patterns;
  detail::NormScratch scratch;
  for (const auto& t : added_tokens) {
    if (t.normalized) {
      std::string form;
      if (normalizer) {
        normalizer->normalize(t.content, form, scratch);
      } else {
        form = t.content;
      }
      norm.push_back(t);
      norm_patterns.push_back(std::move(form));
    } else {
      raw.push_back(t);
      raw_patterns.push_back(t.content);
    }
  }
  raw_matcher = detail::AddedTokenMatcher(raw, raw_patterns);
  normalized_matcher = detail::AddedTokenMatcher(norm, norm_patterns);

  int32_t max_id = -1;
  for (const auto& [s, id] : vocab) max_id = std::max(max_id, id);
  for (const auto& t : added_tokens) max_id = std::max(max_id, t.id);
  // The post-processor's ids are written too ("one past the largest id encode() can produce").
  for (const int32_t id : prefix_ids) max_id = std::max(max_id, id);
  for (const int32_t id : suffix_ids) max_id = std::max(max_id, id);
  if (max_id == INT32_MAX)
    throw TokenizerError(source + ": an id of 2147483647 leaves no vocab_size");
  vocab_size = max_id + 1;

  auto find_id = [&](std::initializer_list<const char*> names) -> std::optional<int32_t> {
    for (const char* n : names) {
      for (const auto& t : added_tokens) {
        if (t.content == n) return t.id;
      }
      if (const auto it = vocab.find(std::string_view(n)); it != vocab.end()) return it->second;
    }
    return std::nullopt;
  };
  if (!unk_id) {
    if (wordpiece)
      unk_id = wordpiece->unk_id();
    else if (bpe->options().unk_token)
      unk_id = find_id({bpe->options().unk_token->c_str()});
  }
  if (!unk_id) unk_id = find_id({"[UNK]", "<unk>"});
  if (!pad_id) pad_id = find_id({"[PAD]", "<pad>"});
  if (!mask_id) mask_id = find_id({"[MASK]", "<mask>"});
  if (!cls_id) cls_id = find_id({"[CLS]", "<s>"});
  if (!sep_id) sep_id = find_id({"[SEP]", "</s>"});
}

EncodeResult Tokenizer::encode(std::string_view text, std::span<int32_t> out, Workspace& workspace,
                               const EncodeOptions& options) const {
  const Impl& im = *impl_;
  Workspace::State& ws = *workspace.state_;
  const int32_t max_length = options.max_length > 0 ? options.max_length : im.model_max_length;
  const int32_t n_special = options.add_special_tokens
                                ? static_cast<int32_t>(im.prefix_ids.size() + im.suffix_ids.size())
                                : 0;
  assert(options.max_length >= 0);
  assert(max_length >= n_special && "max_length must leave room for the special tokens");
  assert(out.size() >= static_cast<size_t>(max_length) && "output buffer shorter than max_length");
  const size_t limit = static_cast<size_t>(max_length - n_special);  // content ids kept

  if (unicode::valid_utf8_prefix(text) != text.size()) {
    if (options.invalid_utf8 == InvalidUtf8::kReject) {
      return EncodeResult{0, false, EncodeStatus::kInvalidUtf8};
    }
    ws.repaired.clear();
    unicode::append_replacing_invalid(text, ws.repaired);
    text = ws.repaired;
  }

  ws.text.clear();
  ws.ids.clear();
  std::vector<int32_t>& ids = ws.ids;
  // Tokenizes the text in ws.text[begin, end); false once more ids than
  // `limit` exist (the rest would be truncated away: stop early).
  auto tokenize_range = [&](int32_t begin, int32_t end) {
    ws.pieces.clear();
    const detail::Piece whole{begin, end, -1};
    if (im.pre_tokenizer) {
      im.pre_tokenizer->split(ws.text, whole, ws.pieces, ws.pre);
    } else if (begin < end) {
      ws.pieces.push_back(whole);
    }
    for (const detail::Piece& p : ws.pieces) {
      const std::string_view word(ws.text.data() + p.begin, static_cast<size_t>(p.end - p.begin));
      if (im.wordpiece) {
        im.wordpiece->tokenize(word, ids);
      } else {
        im.bpe->tokenize(word, ids, ws.bpe);
      }
      if (ids.size() > limit) return false;
    }
    return true;
  };
  auto push_token = [&](int32_t id) {
    ids.push_back(id);
    return ids.size() <= limit;
  };
  // Each gap between raw-matched added tokens is normalized on its own, then
  // searched for normalized added tokens (HF extract_and_normalize).
  auto on_raw_gap = [&](size_t b, size_t e) {
    const auto begin = static_cast<int32_t>(ws.text.size());
    const std::string_view gap = text.substr(b, e - b);
    if (im.normalizer) {
      im.normalizer->normalize(gap, ws.text, ws.norm);
    } else {
      ws.text.append(gap);
    }
    const auto end = static_cast<int32_t>(ws.text.size());
    if (im.normalized_matcher.empty()) return tokenize_range(begin, end);
    // The matcher reads a copy of the bounds: tokenize_range may append to ws.text.
    const std::string_view norm(ws.text.data() + begin, static_cast<size_t>(end - begin));
    auto on_norm_gap = [&](size_t nb, size_t ne) {
      return tokenize_range(begin + static_cast<int32_t>(nb), begin + static_cast<int32_t>(ne));
    };
    if (im.pre_tokenizer && im.pre_tokenizer->byte_level()) {
      // ByteLevel may append to ws.text and move its buffer: match on a copy.
      thread_local std::string copy;
      copy.assign(norm);
      return im.normalized_matcher.split(copy, on_norm_gap, push_token);
    }
    return im.normalized_matcher.split(norm, on_norm_gap, push_token);
  };
  if (im.raw_matcher.empty()) {
    if (!text.empty()) on_raw_gap(0, text.size());
  } else {
    im.raw_matcher.split(text, on_raw_gap, push_token);
  }

  EncodeResult r;
  r.status = ids.empty() ? EncodeStatus::kEmpty : EncodeStatus::kOk;
  r.truncated = ids.size() > limit;
  const size_t kept = std::min(ids.size(), limit);
  int32_t* o = out.data();
  if (options.add_special_tokens) o = std::copy(im.prefix_ids.begin(), im.prefix_ids.end(), o);
  o = std::copy(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(kept), o);
  if (options.add_special_tokens) o = std::copy(im.suffix_ids.begin(), im.suffix_ids.end(), o);
  r.length = static_cast<int32_t>(o - out.data());
  return r;
}

int32_t Tokenizer::model_max_length() const { return impl_->model_max_length; }
int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }
int32_t Tokenizer::special_tokens_count() const {
  return static_cast<int32_t>(impl_->prefix_ids.size() + impl_->suffix_ids.size());
}
std::optional<int32_t> Tokenizer::pad_id() const { return impl_->pad_id; }
std::optional<int32_t> Tokenizer::unk_id() const { return impl_->unk_id; }
std::optional<int32_t> Tokenizer::cls_id() const { return impl_->cls_id; }
std::optional<int32_t> Tokenizer::sep_id() const { return impl_->sep_id; }
std::optional<int32_t> Tokenizer::mask_id() const { return impl_->mask_id; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  for (const auto& t : impl_->added_tokens) {
    if (t.content == token) return t.id;
  }
  const auto& vocab = impl_->model_vocab();
  if (const auto it = vocab.find(token); it != vocab.end()) return it->second;
  return std::nullopt;
}

std::string Tokenizer::describe() const {
  const Impl& im = *impl_;
  std::string d = im.wordpiece ? "WordPiece" : "BPE";
  d += " (" + std::to_string(im.model_vocab().size()) + " tokens";
  if (im.bpe) d += ", " + std::to_string(im.bpe->merge_count()) + " merges";
  d += ", " + std::to_string(im.added_tokens.size()) + " added)";
  d += ", normalizer " + (im.normalizer ? im.normalizer->describe() : std::string("none"));
  d += ", pre-tokenizer " + (im.pre_tokenizer ? im.pre_tokenizer->describe() : std::string("none"));
  d += ", post-processor " + im.post_processor_name;
  d += ", model_max_length " + std::to_string(im.model_max_length);
  d += ", from " + im.source;
  return d;
}

std::unique_ptr<Tokenizer> Tokenizer::load(const fs::path& path) {
  std::error_code ec;
  fs::path file = path;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(path / "tokenizer.json", ec)) {
      file = path / "tokenizer.json";
    } else if (fs::exists(path / "vocab.txt", ec)) {
      file = path / "vocab.txt";
    } else if (fs::exists(path / "vocab.json", ec)) {
      file = path / "vocab.json";
    } else {
      throw TokenizerError(path.string() +
                           ": no tokenizer.json, vocab.txt or vocab.json in this directory");
    }
  } else if (!fs::exists(path, ec)) {
    throw TokenizerError(path.string() + ": no such file or directory");
  }
  const std::string name = file.filename().string();
  std::unique_ptr<Impl> impl;
  try {
    if (name == "vocab.json") {
      impl = detail::load_vocab_json(file);
    } else if (file.extension() == ".json") {
      impl = detail::load_tokenizer_json(file);
    } else if (file.extension() == ".txt") {
      impl = detail::load_vocab_txt(file);
    } else {
      throw TokenizerError(
          file.string() +
          ": not a tokenizer file (expected tokenizer.json, vocab.txt or vocab.json)");
    }
    detail::apply_model_configs(file.parent_path(), *impl);
  } catch (const nlohmann::json::exception& e) {
    // A value of the wrong JSON type the loaders did not check for: still a
    // bad file (the loader read tokenizer_config.json / config.json beside it).
    throw TokenizerError(file.string() + " (or the configs beside it): " + e.what());
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

}  // namespace sluice::text
