// tokenize: turns each record's text into the model's token ids, exactly as
// Hugging Face `tokenizers` would (src/text). A parallel stage: run it with
// `workers: N`; the runtime shards records by input partition, so order per
// partition is kept. The operator is immutable after start(); each worker has
// its own Tokenizer::Workspace, so encoding takes no lock and, in steady
// state, allocates only the record's own id vector.
//
//   text longer than max_length   truncated (Record::truncated), counted
//   no tokens (empty text)        dead letter "empty"
//   invalid UTF-8, policy reject  dead letter "invalid_utf8"
//   invalid UTF-8, policy replace bad bytes read as U+FFFD, record kept
//
// When `tokenizer` names a directory, it is that directory's ModelSlot
// (model_slot.h), shared with the infer and classify stages that name the
// same directory: after a hot reload, each worker encodes with the new
// version's tokenizer from its next record on (it notices with one atomic
// load per record) and stamps every record with the version it encoded for
// (Record::model), so that no record is tokenized by one vocabulary and run
// through another model.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "operators/model_slot.h"
#include "operators/operator_spec.h"
#include "src/core/emitter.h"
#include "src/metrics/registry.h"
#include "src/text/tokenizer.h"

namespace sluice::operators {

struct TokenizeOptions {
  std::string tokenizer;   // directory (tokenizer.json, vocab.txt, vocab.json) or file
  int32_t max_length = 0;  // 0: the tokenizer's model_max_length
  bool add_special_tokens = true;
  // The pipeline key's default (written here only): as kafka_source's.
  text::InvalidUtf8 invalid_utf8 = text::InvalidUtf8::kReject;
};

// The tokenize stage's metrics, labelled {pipeline, stage}:
//   sluice_tokenize_records_total              records tokenized and passed on
//   sluice_tokenize_tokens_total               ids produced (special tokens included)
//   sluice_tokenize_truncated_total            records cut to max_length
//   sluice_tokenize_rejected_total{reason}     dead-lettered: empty, invalid_utf8
//   sluice_tokenize_sequence_length            histogram of ids per record
// Thread-safe (lock-free updates from every worker).
class TokenizeProbe {
 public:
  TokenizeProbe(metrics::Registry& registry, const std::string& pipeline, const std::string& stage);
  void on_tokenized(int32_t length, bool truncated) {
    records_.inc();
    tokens_.inc(length);
    if (truncated) truncated_.inc();
    lengths_.observe(length);
  }
  void on_empty() { empty_.inc(); }
  void on_invalid_utf8() { invalid_utf8_.inc(); }

 private:
  metrics::Counter& records_;
  metrics::Counter& tokens_;
  metrics::Counter& truncated_;
  metrics::Counter& empty_;
  metrics::Counter& invalid_utf8_;
  metrics::Histogram& lengths_;
};

class Tokenize final : public core::Operator {
 public:
  // `metrics` may be null (unit tests): the probe then reports to a private registry.
  // `tokenizer`, when given, is options.tokenizer already loaded; else start() loads it.
  // `slot`, when given, is options.tokenizer's directory (tokenizer is then ignored).
  Tokenize(TokenizeOptions options, std::string pipeline, std::string stage,
           metrics::Registry* metrics, std::unique_ptr<text::Tokenizer> tokenizer = nullptr,
           ModelSlot* slot = nullptr);
  ~Tokenize() override;

  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kRecord; }
  // Loads the tokenizer unless given; throws (naming the file and the problem) on failure.
  void start() override;
  std::unique_ptr<core::OperatorState> make_state(const core::WorkerInfo& worker) override;
  void process(core::OperatorState* state, core::Item&& item, core::Emitter& out) const override;

  const text::Tokenizer& tokenizer() const { return *tokenizer_; }  // after start()

 private:
  // Encoding settings for `tokenizer` (max_length may come from it); throws
  // std::runtime_error if max_length leaves no room for text.
  text::EncodeOptions encode_options(const text::Tokenizer& tokenizer) const;

  TokenizeOptions options_;
  std::string pipeline_, stage_;
  metrics::Registry* metrics_;
  std::unique_ptr<metrics::Registry> own_metrics_;
  std::shared_ptr<const text::Tokenizer> tokenizer_;  // the version loaded at start
  ModelSlot* slot_;
  std::unique_ptr<TokenizeProbe> probe_;
  text::EncodeOptions encode_;
};

void register_tokenize(OperatorRegistry& registry);

}  // namespace sluice::operators
