// classify: turns each inferred batch into one result record per input
// record: softmax over the logits (sigmoid per label for multi-label models,
// the raw value for regression), the top label and its score, optionally every
// probability, and a confidence threshold below which the label is replaced.
// The record keeps its key; its value becomes the JSON result
//
//   {"id":"42","label":"positive","score":0.981,"probs":{"negative":0.019,"positive":0.981},
//    "model":"sentiment","model_hash":"3f9a0c1d2e4b5a67","model_version":"1.0","latency_ms":7.412}
//
// ("probs" only with `probs: true`; "labels" lists every label at or above
// multi_label_threshold for multi-label models; "id" is the record's decoded
// id as a string, or null; `sluice classify`'s line number with id_is_json).
// Record::label and Record::score are set for later stages.
//
// After a hot reload (model_slot.h) each batch is labelled and named
// ("model_hash", "model_version") by the model version that ran it. A new
// version must keep the label set (same number of outputs and problem type;
// the same id2label names unless `labels:` renames them): windows, alerts and
// dashboards count by label name, so changing it takes a restart, and a
// reload that would change it is refused.
#pragma once
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "operators/model_slot.h"
#include "operators/operator_spec.h"
#include "src/core/emitter.h"
#include "src/engine/model_config.h"
#include "src/engine/model_identity.h"

namespace sluice::operators {

struct ClassifyOptions {
  std::string model_name;           // "model" in results
  std::string model_hash;           // "model_hash": content hash (engine/model_identity.h)
  std::string model_version;        // "model_version": the model card's version, may be empty
  std::vector<std::string> labels;  // id2label
  engine::ProblemType problem_type = engine::ProblemType::kSingleLabel;
  bool probs = false;      // include every label's probability
  double min_score = 0.0;  // top score below this → below_label
  std::string below_label = "uncertain";
  double multi_label_threshold = 0.5;
  // Record::id is already a JSON value and is written as is (`sluice
  // classify`: the line number); otherwise it is written as a JSON string.
  bool id_is_json = false;

  static ClassifyOptions from_model(const engine::ModelConfig& config, std::string model_name,
                                    const engine::ModelIdentity& identity = {});
  // Replaces config.json's id2label, in id order: for checkpoints whose labels
  // say LABEL_0, LABEL_1, ... (e.g. cardiffnlp/twitter-roberta-base-sentiment:
  // negative, neutral, positive). Throws std::invalid_argument unless there is
  // one non-empty name per output.
  void rename_labels(std::vector<std::string> names);
};

struct Classification {
  int top = 0;             // index of the top label
  float score = 0.f;       // its probability (raw value for regression)
  std::string_view label;  // its name, or below_label under min_score
};

class Classifier {
 public:
  explicit Classifier(ClassifyOptions options);

  // Turns rows × num_labels logits into probabilities in place (softmax,
  // sigmoid or identity by problem type).
  void to_probabilities(std::span<float> logits, int64_t rows) const;
  // The decision for one row of probabilities.
  Classification decide(std::span<const float> probs) const;
  // Appends the JSON result. id_json is an already-encoded JSON value
  // ("null", "17", "\"abc\"").
  void write_json(std::string& out, std::string_view id_json, const Classification& c,
                  std::span<const float> probs, double latency_ms) const;

  const ClassifyOptions& options() const { return options_; }

 private:
  ClassifyOptions options_;
  std::vector<std::string> label_json_;  // labels pre-encoded as JSON strings
  std::string model_json_;
  std::string below_json_;
};

class Classify final : public core::Operator {
 public:
  // `slot`, when given, is the model's directory: batches that carry one of
  // its versions are named by it (labels kept, or renamed when
  // `labels_renamed`: options.labels replace each version's id2label).
  explicit Classify(ClassifyOptions options, ModelSlot* slot = nullptr,
                    bool labels_renamed = false);
  core::ItemKind input_kind() const override { return core::ItemKind::kBatch; }
  core::ItemKind output_kind() const override { return core::ItemKind::kRecord; }
  std::unique_ptr<core::OperatorState> make_state(const core::WorkerInfo& worker) override;
  void process(core::OperatorState* state, core::Item&& item, core::Emitter& out) const override;

 private:
  ClassifyOptions options_;  // of the model loaded at start
  ModelSlot* slot_;
  bool labels_renamed_;
};

void register_classify(OperatorRegistry& registry);

}  // namespace sluice::operators
