#include "operators/tokenize.h"

#include <array>
#include <stdexcept>

#include "src/core/dead_letter.h"

namespace sluice::operators {
namespace {

// Upper bounds of the sequence-length histogram (ids per record).
constexpr std::array<double, 9> kLengthBuckets = {8, 16, 32, 48, 64, 96, 128, 256, 512};

struct TokenizeState : core::OperatorState {
  text::Tokenizer::Workspace workspace;
  std::vector<int32_t> ids;  // max_length long
};

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
                   metrics::Registry* metrics, std::unique_ptr<text::Tokenizer> tokenizer)
    : options_(std::move(options)),
      pipeline_(std::move(pipeline)),
      stage_(std::move(stage)),
      metrics_(metrics),
      tokenizer_(std::move(tokenizer)) {}

Tokenize::~Tokenize() = default;

void Tokenize::start() {
  if (!tokenizer_) {
    try {
      tokenizer_ = text::Tokenizer::load(options_.tokenizer);
    } catch (const text::TokenizerError& e) {
      throw std::runtime_error("stage '" + stage_ + "': " + e.what());
    }
  }
  encode_.max_length =
      options_.max_length > 0 ? options_.max_length : tokenizer_->model_max_length();
  encode_.add_special_tokens = options_.add_special_tokens;
  encode_.invalid_utf8 = options_.invalid_utf8;
  if (encode_.add_special_tokens && encode_.max_length <= tokenizer_->special_tokens_count()) {
    throw std::runtime_error(
        "stage '" + stage_ + "': max_length " + std::to_string(encode_.max_length) +
        " leaves no room for text after the " + std::to_string(tokenizer_->special_tokens_count()) +
        " special tokens");
  }
  if (!metrics_) {
    own_metrics_ = std::make_unique<metrics::Registry>();
    metrics_ = own_metrics_.get();
  }
  probe_ = std::make_unique<TokenizeProbe>(*metrics_, pipeline_, stage_);
}

std::unique_ptr<core::OperatorState> Tokenize::make_state(const core::WorkerInfo&) {
  auto state = std::make_unique<TokenizeState>();
  state->ids.resize(static_cast<size_t>(encode_.max_length));
  return state;
}

void Tokenize::process(core::OperatorState* s, core::Item&& item, core::Emitter& out) const {
  auto& state = *static_cast<TokenizeState*>(s);
  auto& record = std::get<core::Record>(item);
  const text::EncodeResult r =
      tokenizer_->encode(record.text(), state.ids, state.workspace, encode_);
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
  probe_->on_tokenized(r.length, r.truncated);
  out.emit(std::move(item));
}

void register_tokenize(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "tokenize",
      .description =
          "Text to token ids, exactly as Hugging Face tokenizers (WordPiece, byte-level BPE)",
      .is_source = false,
      .declare =
          [](config::Schema& s) {
            s.string("tokenizer",
                     "Directory with tokenizer.json (or vocab.txt, or vocab.json + merges.txt), "
                     "or one of those files")
                .req();
            s.integer("max_length",
                      "Most token ids per record, special tokens included; longer texts are "
                      "truncated and counted (sluice_tokenize_truncated_total). 0 = the "
                      "tokenizer's model_max_length")
                .def("0")
                .range(0, 1 << 20);
            s.boolean("add_special_tokens",
                      "Add the model's special tokens ([CLS] ... [SEP], <s> ... </s>)")
                .def("true");
            s.choice("invalid_utf8", {"replace", "reject"},
                     "Text that is not valid UTF-8: replace bad bytes with U+FFFD, or send the "
                     "record to the dead-letter topic")
                .def("replace");
          },
      .make_source = nullptr,
      .make_operator = [](BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        TokenizeOptions o;
        o.tokenizer = ctx.options.string("tokenizer");
        o.max_length = static_cast<int32_t>(ctx.options.integer("max_length"));
        o.add_special_tokens = ctx.options.boolean("add_special_tokens");
        o.invalid_utf8 = ctx.options.string("invalid_utf8") == "reject"
                             ? text::InvalidUtf8::kReject
                             : text::InvalidUtf8::kReplace;
        // Loaded while the pipeline is built, so that a bad tokenizer file is a
        // configuration error at this stage's path (exit 2), as a bad model is.
        std::unique_ptr<text::Tokenizer> tokenizer;
        try {
          tokenizer = text::Tokenizer::load(o.tokenizer);
        } catch (const text::TokenizerError& e) {
          throw std::invalid_argument(e.what());
        }
        return std::make_unique<Tokenize>(std::move(o), ctx.services.pipeline_name(),
                                          ctx.stage_name, ctx.services.metrics(),
                                          std::move(tokenizer));
      },
  });
}

}  // namespace sluice::operators
