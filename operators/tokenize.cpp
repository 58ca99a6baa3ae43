#include "operators/tokenize.h"

#include <array>
#include <filesystem>
#include <stdexcept>

#include "src/core/dead_letter.h"
#include "src/engine/model_error.h"

namespace sluice::operators {
namespace {

// Upper bounds of the sequence-length histogram (ids per record).
constexpr std::array<double, 9> kLengthBuckets = {8, 16, 32, 48, 64, 96, 128, 256, 512};

struct TokenizeState : core::OperatorState {
  text::Tokenizer::Workspace workspace;
  std::vector<int32_t> ids;  // max_length long
  // With a slot: the version this worker encodes for, and its settings.
  std::shared_ptr<const ServedModel> served;
  const text::Tokenizer* tokenizer = nullptr;
  text::EncodeOptions encode;
};

// Encoding settings for `tokenizer` (max_length may come from it); throws
// std::runtime_error if max_length leaves no room for text.
text::EncodeOptions encode_options_for(const TokenizeOptions& o, const std::string& stage,
                                       const text::Tokenizer& tokenizer) {
  text::EncodeOptions e;
  e.max_length = o.max_length > 0 ? o.max_length : tokenizer.model_max_length();
  e.add_special_tokens = o.add_special_tokens;
  e.invalid_utf8 = o.invalid_utf8;
  if (e.add_special_tokens && e.max_length <= tokenizer.special_tokens_count()) {
    throw std::runtime_error("stage '" + stage + "': max_length " + std::to_string(e.max_length) +
                             " leaves no room for text after the " +
                             std::to_string(tokenizer.special_tokens_count()) + " special tokens");
  }
  return e;
}

}  // namespace

TokenizeProbe::TokenizeProbe(metrics::Registry& r, const std::string& pipeline,
                             const std::string& stage)
    : records_(r.counter("sluice_tokenize_records_total", "Records tokenized and passed on.",
                         {{"pipeline", pipeline}, {"stage", stage}})),
      tokens_(r.counter("sluice_tokenize_tokens_total",
                        "Token ids produced, special tokens included.",
                        {{"pipeline", pipeline}, {"stage", stage}})),
      truncated_(r.counter("sluice_tokenize_truncated_total",
                           "Records whose text had more tokens than max_length (cut to it).",
                           {{"pipeline", pipeline}, {"stage", stage}})),
      empty_(r.counter("sluice_tokenize_rejected_total",
                       "Records sent to the dead-letter topic by the tokenizer, by reason.",
                       {{"pipeline", pipeline}, {"stage", stage}, {"reason", "empty"}})),
      invalid_utf8_(
          r.counter("sluice_tokenize_rejected_total",
                    "Records sent to the dead-letter topic by the tokenizer, by reason.",
                    {{"pipeline", pipeline}, {"stage", stage}, {"reason", "invalid_utf8"}})),
      lengths_(r.histogram("sluice_tokenize_sequence_length",
                           "Token ids per tokenized record (special tokens included).",
                           kLengthBuckets, {{"pipeline", pipeline}, {"stage", stage}})) {}

Tokenize::Tokenize(TokenizeOptions options, std::string pipeline, std::string stage,
                   metrics::Registry* metrics, std::unique_ptr<text::Tokenizer> tokenizer,
                   ModelSlot* slot)
    : options_(std::move(options)),
      pipeline_(std::move(pipeline)),
      stage_(std::move(stage)),
      metrics_(metrics),
      tokenizer_(std::move(tokenizer)),
      slot_(slot) {
  if (!slot_) return;
  tokenizer_ = slot_->current()->tokenizer;
  // A reloaded tokenizer must leave room for text too, or it is refused.
  slot_->add_check([options = options_, stage = stage_, dir = slot_->directory()](
                       const ServedModel& next, const ServedModel&) -> std::string {
    try {
      encode_options_for(options, stage, *next.tokenizer);
    } catch (const std::runtime_error& e) {
      return (dir / "tokenizer.json").string() + ": " + e.what();
    }
    return "";
  });
}

Tokenize::~Tokenize() = default;

text::EncodeOptions Tokenize::encode_options(const text::Tokenizer& tokenizer) const {
  return encode_options_for(options_, stage_, tokenizer);
}

void Tokenize::start() {
  if (!tokenizer_) {
    try {
      tokenizer_ = text::Tokenizer::load(options_.tokenizer);
    } catch (const text::TokenizerError& e) {
      throw std::runtime_error("stage '" + stage_ + "': " + e.what());
    }
  }
  encode_ = encode_options(*tokenizer_);
  if (!metrics_) {
    own_metrics_ = std::make_unique<metrics::Registry>();
    metrics_ = own_metrics_.get();
  }
  probe_ = std::make_unique<TokenizeProbe>(*metrics_, pipeline_, stage_);
}

std::unique_ptr<core::OperatorState> Tokenize::make_state(const core::WorkerInfo&) {
  auto state = std::make_unique<TokenizeState>();
  state->tokenizer = tokenizer_.get();
  state->encode = encode_;
  if (slot_) {
    state->served = slot_->current();
    state->tokenizer = state->served->tokenizer.get();
    state->encode = encode_options(*state->tokenizer);
  }
  state->ids.resize(static_cast<size_t>(state->encode.max_length));
  return state;
}

void Tokenize::process(core::OperatorState* s, core::Item&& item, core::Emitter& out) const {
  auto& state = *static_cast<TokenizeState*>(s);
  auto& record = std::get<core::Record>(item);
  if (slot_ && slot_->generation() != state.served->generation) {
    // A hot reload: every record from here on is encoded for the new version.
    state.served = slot_->current();
    state.tokenizer = state.served->tokenizer.get();
    state.encode = encode_options(*state.tokenizer);  // checked before it was served
    state.ids.resize(static_cast<size_t>(state.encode.max_length));
  }
  const text::EncodeResult r =
      state.tokenizer->encode(record.text(), state.ids, state.workspace, state.encode);
  switch (r.status) {
    case text::EncodeStatus::kInvalidUtf8:
      probe_->on_invalid_utf8();
      out.dead_letter(std::move(record), core::dead_letter_code::kInvalidUtf8,
                      "text is not valid UTF-8 (invalid_utf8: reject)");
      return;
    case text::EncodeStatus::kEmpty: {
      probe_->on_empty();
      const char* detail = record.text().empty() ? "text is empty" : "text has no tokens";
      out.dead_letter(std::move(record), core::dead_letter_code::kEmpty, detail);
      return;
    }
    case text::EncodeStatus::kOk:
      break;
  }
  record.tokens.assign(state.ids.begin(), state.ids.begin() + r.length);
  record.truncated = r.truncated;
  if (slot_) record.model = state.served;
  probe_->on_tokenized(r.length, r.truncated);
  out.emit(std::move(item));
}

namespace {

// A tokenize stage's keys: its operator's options (their initializers are
// the defaults) and the tokenizer it names.
struct TokenizeStage {
  std::optional<std::string> tokenizer;  // default: model.path
  TokenizeOptions options;
};

constexpr const char* kTokenizerKey = "tokenizer";

const config::Options<TokenizeStage>& tokenize_options() {
  static const config::Options<TokenizeStage> options = [] {
    using S = TokenizeStage;
    config::Options<S> o;
    o.add(kTokenizerKey, &S::tokenizer,
          "Directory with tokenizer.json (or vocab.txt, or vocab.json + merges.txt), or one of "
          "those files (default: model.path)");
    o.add(
         "max_length", [](S & s) -> auto& { return s.options.max_length; },
         "Most token ids per record, special tokens included; longer texts are truncated and "
         "counted (sluice_tokenize_truncated_total). 0 = the tokenizer's model_max_length")
        .range(0, 1 << 20);
    o.add(
        "add_special_tokens", [](S & s) -> auto& { return s.options.add_special_tokens; },
        "Add the model's special tokens ([CLS] ... [SEP], <s> ... </s>)");
    o.add(
         "invalid_utf8", [](S & s) -> auto& { return s.options.invalid_utf8; },
         "Text that is not valid UTF-8: send the record to the dead-letter topic (as "
         "kafka_source does by default), or replace bad bytes with U+FFFD")
        .choices(
            {{"reject", text::InvalidUtf8::kReject}, {"replace", text::InvalidUtf8::kReplace}});
    return o;
  }();
  return options;
}

}  // namespace

void register_tokenize(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "tokenize",
      .description =
          "Text to token ids, exactly as Hugging Face tokenizers (WordPiece, byte-level BPE)",
      .is_source = false,
      .declare = [](config::Schema& s) { tokenize_options().declare(s); },
      .make_source = nullptr,
      .make_operator = [](BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        TokenizeStage stage = tokenize_options().read(ctx.options);
        TokenizeOptions& o = stage.options;
        o.tokenizer = model_directory(ctx, stage.tokenizer, kTokenizerKey);
        // Loaded while the pipeline is built, so that a bad tokenizer file is a
        // configuration error at this stage's path (exit 2), as a bad model is.
        // A directory is reloadable with the model in it (model_slot.h).
        std::unique_ptr<text::Tokenizer> tokenizer;
        ModelSlot* slot = nullptr;
        try {
          std::error_code ec;
          if (std::filesystem::is_directory(o.tokenizer, ec)) {
            slot = &model_slot(ctx.services, o.tokenizer);
            slot->need_tokenizer();
          } else {
            tokenizer = text::Tokenizer::load(o.tokenizer);
          }
        } catch (const text::TokenizerError& e) {
          throw std::invalid_argument(e.what());
        } catch (const engine::ModelError& e) {  // its files' identity hash
          throw std::invalid_argument(e.what());
        }
        return std::make_unique<Tokenize>(std::move(o), ctx.services.pipeline_name(),
                                          ctx.stage_name, ctx.services.metrics(),
                                          std::move(tokenizer), slot);
      },
  });
}

}  // namespace sluice::operators
