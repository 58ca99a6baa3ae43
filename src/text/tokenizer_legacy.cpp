// Older model folders without tokenizer.json: vocab.txt (BERT WordPiece) and
// vocab.json + merges.txt (RoBERTa / GPT-2 byte-level BPE). Built exactly as
// transformers' slow-to-fast converters (BertConverter, RobertaConverter,
// GPT2Converter) build them, with tokenizer_config.json's settings. Also the
// model_max_length look-up shared with tokenizer.json.
#include <string_view>

#include "src/text/json_util.h"
#include "src/text/tokenizer_impl.h"

namespace sluice::text::detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Calls fn(line) for each line of text as std::getline would split it: on
// '\n', with no empty line after a final newline.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    fn(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
}

json read_config(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return json::object();
  return JsonCtx{file.string()}.parse_file(file);
}

// A special token named by tokenizer_config.json (or its default), as an
// added token; tokenizer_config's added_tokens_decoder refines the flags.
void add_special(const json& cfg, const char* key, const char* fallback, bool lstrip,
                 std::vector<AddedToken>& tokens) {
  AddedToken t;
  t.content = config_token(cfg, key).value_or(fallback);
  t.special = true;
  t.normalized = false;
  t.lstrip = lstrip;
  tokens.push_back(std::move(t));
}

void add_config_added_tokens(const json& cfg, const JsonCtx& c, std::vector<AddedToken>& tokens) {
  if (!cfg.contains("added_tokens_decoder") || !cfg["added_tokens_decoder"].is_object()) return;
  for (const auto& [id, a] : cfg["added_tokens_decoder"].items()) {
    const std::string at = "added_tokens_decoder." + id;
    AddedToken t;
    t.content = c.token(c.get_string(a, "content", at), at + ".content");
    t.single_word = c.get_bool(a, "single_word", false, at);
    t.lstrip = c.get_bool(a, "lstrip", false, at);
    t.rstrip = c.get_bool(a, "rstrip", false, at);
    t.special = c.get_bool(a, "special", false, at);
    t.normalized = c.get_bool(a, "normalized", !t.special, at);
    tokens.push_back(std::move(t));  // a later definition of the same content wins
  }
}

int32_t require_id(const Vocab& vocab, const std::string& token, const std::string& file) {
  const auto it = vocab.find(token);
  if (it == vocab.end()) {
    throw TokenizerError(file + ": special token '" + token + "' is not in the vocabulary");
  }
  return it->second;
}

}  // namespace

std::unique_ptr<Tokenizer::Impl> load_vocab_txt(const fs::path& file) {
  const std::string text = read_file(file);
  const JsonCtx vc{file.string()};
  Vocab vocab;
  int32_t index = 0;
  for_each_line(text, [&](std::string_view line) {
    const std::string token(line);
    vc.token(token, "line " + std::to_string(index + 1));
    vocab[token] = index++;  // transformers: rstrip("\n"), later wins
  });
  if (vocab.empty()) throw TokenizerError(file.string() + ": empty vocabulary");

  const fs::path cfg_file = file.parent_path() / "tokenizer_config.json";
  const json cfg = read_config(cfg_file);
  const JsonCtx c{cfg_file.string()};
  const bool lowercase = c.get_bool(cfg, "do_lower_case", true, "");
  bool strip = lowercase;
  if (cfg.contains("strip_accents") && !cfg["strip_accents"].is_null()) {
    strip = c.get_bool(cfg, "strip_accents", lowercase, "");
  }
  auto impl = std::make_unique<Tokenizer::Impl>();
  impl->source = file.string();
  impl->model_max_length = -1;
  impl->normalizer = make_bert_normalizer(true, c.get_bool(cfg, "tokenize_chinese_chars", true, ""),
                                          strip, lowercase);
  impl->pre_tokenizer = make_bert_pre_tokenizer();
  const std::string unk = config_token(cfg, "unk_token").value_or("[UNK]");
  const std::string cls = config_token(cfg, "cls_token").value_or("[CLS]");
  const std::string sep = config_token(cfg, "sep_token").value_or("[SEP]");
  const int32_t cls_id = require_id(vocab, cls, file.string());
  const int32_t sep_id = require_id(vocab, sep, file.string());
  try {
    impl->wordpiece = std::make_unique<WordPiece>(std::move(vocab), unk, "##", 100);
  } catch (const std::invalid_argument& e) {
    throw TokenizerError(file.string() + ": " + e.what());
  }
  impl->prefix_ids = {cls_id};
  impl->suffix_ids = {sep_id};
  impl->cls_id = cls_id;
  impl->sep_id = sep_id;
  impl->post_processor_name = "TemplateProcessing";
  std::vector<AddedToken> tokens;
  add_special(cfg, "pad_token", "[PAD]", false, tokens);
  add_special(cfg, "unk_token", "[UNK]", false, tokens);
  add_special(cfg, "cls_token", "[CLS]", false, tokens);
  add_special(cfg, "sep_token", "[SEP]", false, tokens);
  add_special(cfg, "mask_token", "[MASK]", false, tokens);
  add_config_added_tokens(cfg, c, tokens);
  impl->finish(std::move(tokens));
  return impl;
}

std::unique_ptr<Tokenizer::Impl> load_vocab_json(const fs::path& file) {
  const JsonCtx c{file.string()};
  const json vj = c.parse_file(file);
  Vocab vocab = c.vocab(vj, "");
  const fs::path merges_file = file.parent_path() / "merges.txt";
  std::error_code ec;
  if (!fs::exists(merges_file, ec))
    throw TokenizerError(merges_file.string() + ": cannot open file (needed beside vocab.json)");
  const std::string merges_text = read_file(merges_file);
  std::vector<std::pair<std::string, std::string>> merges;
  size_t n = 0;
  for_each_line(merges_text, [&](std::string_view line) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (n == 1 && line.starts_with("#version"))) return;
    auto pair = split_merge_line(std::string(line));
    if (!pair) {
      throw TokenizerError(merges_file.string() + ": line " + std::to_string(n) +
                           ": expected \"left right\"");
    }
    merges.push_back(std::move(*pair));
  });

  const fs::path cfg_file = file.parent_path() / "tokenizer_config.json";
  const json cfg = read_config(cfg_file);
  const JsonCtx cc{cfg_file.string()};
  const bool add_prefix_space = cc.get_bool(cfg, "add_prefix_space", false, "");
  const auto cls_entry = cfg.find("tokenizer_class");
  const std::string cls_name = cls_entry != cfg.end() && cls_entry->is_string()
                                   ? cls_entry->get<std::string>()
                                   : std::string("RobertaTokenizer");
  const bool gpt2 = cls_name.find("GPT2") != std::string::npos;

  auto impl = std::make_unique<Tokenizer::Impl>();
  impl->source = file.string() + " + merges.txt";
  impl->model_max_length = -1;
  impl->pre_tokenizer = make_byte_level_pre_tokenizer(add_prefix_space, true);
  std::vector<AddedToken> tokens;
  if (!gpt2) {
    const std::string cls = config_token(cfg, "cls_token").value_or("<s>");
    const std::string sep = config_token(cfg, "sep_token").value_or("</s>");
    impl->prefix_ids = {require_id(vocab, cls, file.string())};
    impl->suffix_ids = {require_id(vocab, sep, file.string())};
    impl->cls_id = impl->prefix_ids[0];
    impl->sep_id = impl->suffix_ids[0];
    impl->post_processor_name = "RobertaProcessing";
    add_special(cfg, "bos_token", "<s>", false, tokens);
    add_special(cfg, "pad_token", "<pad>", false, tokens);
    add_special(cfg, "eos_token", "</s>", false, tokens);
    add_special(cfg, "unk_token", "<unk>", false, tokens);
    add_special(cfg, "mask_token", "<mask>", true, tokens);
  } else {
    add_special(cfg, "unk_token", "<|endoftext|>", false, tokens);
  }
  add_config_added_tokens(cfg, cc, tokens);
  try {
    impl->bpe = std::make_unique<Bpe>(std::move(vocab), merges, BpeOptions{}, true);
  } catch (const std::invalid_argument& e) {
    throw TokenizerError(file.string() + ": " + e.what());
  }
  impl->finish(std::move(tokens));
  return impl;
}

void apply_model_configs(const fs::path& dir, Tokenizer::Impl& impl) {
  const fs::path tc_file = dir / "tokenizer_config.json";
  const json tc = read_config(tc_file);
  // Explicit names beat the guesses finish() made.
  auto named = [&](const char* key, std::optional<int32_t>& id) {
    if (auto name = config_token(tc, key)) {
      for (const auto& t : impl.added_tokens) {
        if (t.content == *name) id = t.id;
      }
    }
  };
  named("pad_token", impl.pad_id);
  named("unk_token", impl.unk_id);
  named("mask_token", impl.mask_id);
  if (impl.model_max_length > 0) return;  // tokenizer.json's truncation
  // transformers writes a huge sentinel (1e30) when there is no limit.
  if (tc.contains("model_max_length") && tc["model_max_length"].is_number()) {
    const double v = tc["model_max_length"].get<double>();
    if (v >= 1 && v <= kMaxModelLength) {
      impl.model_max_length = static_cast<int32_t>(v);
      return;
    }
  }
  // config.json is the model's: values it cannot mean (the model loader
  // refuses them) are passed over here, as the sentinel above is.
  const json mc = read_config(dir / "config.json");
  const auto integer = [&mc](const char* key) -> std::optional<int64_t> {
    const auto it = mc.find(key);
    if (it == mc.end() || !it->is_number_integer()) return std::nullopt;
    if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t{INT64_MAX}) return std::nullopt;
    return it->get<int64_t>();
  };
  if (std::optional<int64_t> n = integer("max_position_embeddings")) {
    // RoBERTa-family position ids start after the padding index.
    const auto type = mc.find("model_type");
    if (type != mc.end() && type->is_string() &&
        (*type == "roberta" || *type == "xlm-roberta" || *type == "camembert")) {
      const int64_t pad = integer("pad_token_id").value_or(1);
      *n = pad >= 0 && pad < *n ? *n - pad - 1 : 0;
    }
    if (*n > 0 && *n <= kMaxModelLength) {
      impl.model_max_length = static_cast<int32_t>(*n);
      return;
    }
  }
  impl.model_max_length = 512;
}

}  // namespace sluice::text::detail
