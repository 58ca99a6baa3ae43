// Loads Hugging Face tokenizer.json files. Every component is either built
// exactly or refused with an error naming the file, the JSON path and the
// supported alternatives: a silent approximation would give wrong ids.
#include <nlohmann/json.hpp>

#include "src/text/json_util.h"
#include "src/text/tokenizer_impl.h"

namespace sluice::text::detail {
namespace {

using nlohmann::json;

std::unique_ptr<Normalizer> parse_normalizer(const json& j, const std::string& at,
                                             const JsonCtx& c) {
  if (j.is_null()) return nullptr;
  const std::string type = c.type_of(j, at);
  if (type == "BertNormalizer") {
    const bool lowercase = c.get_bool(j, "lowercase", true, at);
    bool strip = lowercase;  // strip_accents: null follows lowercase
    if (j.contains("strip_accents") && !j["strip_accents"].is_null()) {
      strip = c.get_bool(j, "strip_accents", lowercase, at);
    }
    return make_bert_normalizer(c.get_bool(j, "clean_text", true, at),
                                c.get_bool(j, "handle_chinese_chars", true, at), strip, lowercase);
  }
  if (type == "Lowercase") return make_lowercase_normalizer();
  if (type == "StripAccents") return make_strip_accents_normalizer();
  if (type == "NFC") return make_unicode_normalizer(UnicodeForm::kNfc);
  if (type == "NFD") return make_unicode_normalizer(UnicodeForm::kNfd);
  if (type == "NFKC") return make_unicode_normalizer(UnicodeForm::kNfkc);
  if (type == "NFKD") return make_unicode_normalizer(UnicodeForm::kNfkd);
  if (type == "Sequence") {
    const json& list = c.get_steps(j, "normalizers", at);
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      auto step = parse_normalizer(list[i], at + ".normalizers[" + std::to_string(i) + "]", c);
      if (step) steps.push_back(std::move(step));
    }
    return make_sequence_normalizer(std::move(steps));
  }
  c.fail(at + ".type", "normalizer '" + type +
                           "' is not supported (supported: BertNormalizer, Lowercase, NFC, NFD, "
                           "NFKC, NFKD, StripAccents, Sequence)");
}

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const json& j, const std::string& at,
                                                  const JsonCtx& c) {
  if (j.is_null()) return nullptr;
  const std::string type = c.type_of(j, at);
  if (type == "BertPreTokenizer") return make_bert_pre_tokenizer();
  if (type == "Whitespace") return make_whitespace_pre_tokenizer();
  if (type == "WhitespaceSplit") return make_whitespace_split_pre_tokenizer();
  if (type == "ByteLevel") {
    return make_byte_level_pre_tokenizer(c.get_bool(j, "add_prefix_space", true, at),
                                         c.get_bool(j, "use_regex", true, at));
  }
  if (type == "Sequence") {
    const json& list = c.get_steps(j, "pretokenizers", at);
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string item = at + ".pretokenizers[" + std::to_string(i) + "]";
      auto step = parse_pre_tokenizer(list[i], item, c);
      if (!step) continue;
      if (!steps.empty() && steps.back()->byte_level()) {
        c.fail(item, "a pre-tokenizer after ByteLevel is not supported (ByteLevel must be last)");
      }
      steps.push_back(std::move(step));
    }
    return make_sequence_pre_tokenizer(std::move(steps));
  }
  c.fail(at + ".type", "pre-tokenizer '" + type +
                           "' is not supported (supported: BertPreTokenizer, ByteLevel, "
                           "Whitespace, WhitespaceSplit, Sequence)");
}

std::optional<std::string> optional_string(const json& j, const char* key, const std::string& at,
                                           const JsonCtx& c) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_string()) c.fail(at + "." + key, "expected a string or null");
  return j[key].get<std::string>();
}

void parse_model(const json& j, const std::string& at, const JsonCtx& c, bool byte_level,
                 Tokenizer::Impl& impl) {
  if (!j.is_object()) c.fail(at, "missing model");
  std::string type;
  if (j.contains("type")) {
    type = c.type_of(j, at);
  } else {
    type = j.contains("merges") ? "BPE" : "WordPiece";  // HF reads untagged models too
  }
  if (type == "WordPiece") {
    impl.wordpiece = std::make_unique<WordPiece>(
        c.vocab(c.get(j, "vocab", at), at + ".vocab"),
        optional_string(j, "unk_token", at, c).value_or("[UNK]"),
        optional_string(j, "continuing_subword_prefix", at, c).value_or("##"),
        c.get_int(j, "max_input_chars_per_word", 100, at));
    return;
  }
  if (type == "BPE") {
    if (j.contains("dropout") && !j["dropout"].is_null() && j["dropout"].get<double>() != 0.0) {
      c.fail(at + ".dropout", "BPE dropout is random at encode time; only null or 0 is supported");
    }
    BpeOptions o;
    o.unk_token = optional_string(j, "unk_token", at, c);
    o.continuing_subword_prefix =
        optional_string(j, "continuing_subword_prefix", at, c).value_or("");
    o.end_of_word_suffix = optional_string(j, "end_of_word_suffix", at, c).value_or("");
    o.fuse_unk = c.get_bool(j, "fuse_unk", false, at);
    o.byte_fallback = c.get_bool(j, "byte_fallback", false, at);
    o.ignore_merges = c.get_bool(j, "ignore_merges", false, at);
    std::vector<std::pair<std::string, std::string>> merges;
    const json& list = c.get_array(j, "merges", at);
    merges.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      const json& m = list[i];
      const std::string item = at + ".merges[" + std::to_string(i) + "]";
      if (m.is_string()) {
        auto pair = split_merge_line(m.get<std::string>());
        if (!pair) c.fail(item, "expected \"left right\"");
        merges.push_back(std::move(*pair));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        c.fail(item, "expected \"left right\" or [left, right]");
      }
    }
    impl.bpe = std::make_unique<Bpe>(c.vocab(c.get(j, "vocab", at), at + ".vocab"), merges,
                                     std::move(o), byte_level);
    return;
  }
  c.fail(at + ".type", "model '" + type + "' is not supported (supported: WordPiece, BPE)");
}

// Adds this processor's ids around the current prefix / suffix.
void parse_post_processor(const json& j, const std::string& at, const JsonCtx& c,
                          Tokenizer::Impl& impl) {
  if (j.is_null()) return;
  const std::string type = c.type_of(j, at);
  auto pair_id = [&](const char* key) {
    const json& p = c.get(j, key, at);
    if (!p.is_array() || p.size() != 2) c.fail(at + "." + key, "expected [token, id]");
    return c.id(p[1], at + "." + key + "[1]");
  };
  std::vector<int32_t> pre, post;
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    pre = {pair_id("cls")};
    post = {pair_id("sep")};
    if (!impl.cls_id) impl.cls_id = pre[0];
    if (!impl.sep_id) impl.sep_id = post[0];
  } else if (type == "TemplateProcessing") {
    const json& single = c.get_array(j, "single", at);
    const json& specials = c.get(j, "special_tokens", at);
    bool seen_a = false;
    for (size_t i = 0; i < single.size(); ++i) {
      const json& piece = single[i];
      const std::string item = at + ".single[" + std::to_string(i) + "]";
      if (piece.contains("Sequence")) {
        if (seen_a) c.fail(item, "a single-sequence template with two sequences");
        seen_a = true;
        continue;
      }
      if (!piece.contains("SpecialToken")) c.fail(item, "expected Sequence or SpecialToken");
      const std::string name = c.get_string(piece["SpecialToken"], "id", item + ".SpecialToken");
      if (!specials.contains(name)) c.fail(item, "special token '" + name + "' is not defined");
      const std::string ids_at = at + ".special_tokens." + name;
      const json& ids = c.get_array(specials[name], "ids", ids_at);
      for (size_t k = 0; k < ids.size(); ++k)
        (seen_a ? post : pre).push_back(c.id(ids[k], ids_at + ".ids[" + std::to_string(k) + "]"));
    }
    if (!seen_a) c.fail(at + ".single", "the template has no $A sequence");
    if (!impl.cls_id && !pre.empty()) impl.cls_id = pre.front();
    if (!impl.sep_id && !post.empty()) impl.sep_id = post.front();
  } else if (type == "ByteLevel") {
    // Changes offsets only.
  } else if (type == "Sequence") {
    const json& list = c.get_steps(j, "processors", at);
    for (size_t i = 0; i < list.size(); ++i) {
      parse_post_processor(list[i], at + ".processors[" + std::to_string(i) + "]", c, impl);
    }
    return;
  } else {
    c.fail(at + ".type", "post-processor '" + type +
                             "' is not supported (supported: BertProcessing, RobertaProcessing, "
                             "TemplateProcessing, ByteLevel, Sequence)");
  }
  impl.prefix_ids.insert(impl.prefix_ids.begin(), pre.begin(), pre.end());
  impl.suffix_ids.insert(impl.suffix_ids.end(), post.begin(), post.end());
  impl.post_processor_name =
      impl.post_processor_name == "none" ? type : impl.post_processor_name + " + " + type;
}

}  // namespace

std::unique_ptr<Tokenizer::Impl> load_tokenizer_json(const std::filesystem::path& file) {
  const JsonCtx c{file.string()};
  const json root = c.parse_file(file);
  auto impl = std::make_unique<Tokenizer::Impl>();
  impl->source = file.string();
  impl->model_max_length = -1;
  try {
    impl->normalizer = parse_normalizer(root.value("normalizer", json()), "normalizer", c);
    impl->pre_tokenizer =
        parse_pre_tokenizer(root.value("pre_tokenizer", json()), "pre_tokenizer", c);
    const bool byte_level = impl->pre_tokenizer && impl->pre_tokenizer->byte_level();
    parse_model(root.value("model", json()), "model", c, byte_level, *impl);
    parse_post_processor(root.value("post_processor", json()), "post_processor", c, *impl);

    const json& trunc = root.value("truncation", json());
    if (!trunc.is_null()) {
      const std::string dir = trunc.value("direction", "Right");
      if (dir != "Right") c.fail("truncation.direction", "'" + dir + "' is not supported (Right)");
      if (trunc.value("strategy", "LongestFirst") == "OnlySecond") {
        c.fail("truncation.strategy", "OnlySecond cannot truncate a single sequence");
      }
      impl->model_max_length = c.get_int(trunc, "max_length", 512, "truncation", kMaxModelLength);
    }
    // "padding" is deliberately ignored: sluice packs batches without padding.
    if (const json& pad = root.value("padding", json());
        pad.is_object() && pad.contains("pad_id")) {
      impl->pad_id = c.id(pad["pad_id"], "padding.pad_id");
    }

    std::vector<AddedToken> tokens;
    const json& added = root.value("added_tokens", json::array());
    for (size_t i = 0; i < added.size(); ++i) {
      const std::string at = "added_tokens[" + std::to_string(i) + "]";
      const json& a = added[i];
      AddedToken t;
      t.content = c.token(c.get_string(a, "content", at), at + ".content");
      t.single_word = c.get_bool(a, "single_word", false, at);
      t.lstrip = c.get_bool(a, "lstrip", false, at);
      t.rstrip = c.get_bool(a, "rstrip", false, at);
      t.special = c.get_bool(a, "special", false, at);
      t.normalized = c.get_bool(a, "normalized", !t.special, at);
      tokens.push_back(std::move(t));
    }
    impl->finish(std::move(tokens));
  } catch (const std::invalid_argument& e) {  // from the model constructors
    throw TokenizerError(c.file + ": " + e.what());
  } catch (const json::exception& e) {  // a value of the wrong JSON type
    throw TokenizerError(c.file + ": " + e.what());
  }
  return impl;
}

}  // namespace sluice::text::detail
