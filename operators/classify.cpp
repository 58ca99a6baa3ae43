#include "operators/classify.h"

#include <charconv>
#include <filesystem>
#include <stdexcept>

#include "operators/infer.h"
#include "operators/json_text.h"
#include "src/config/load.h"
#include "src/engine/model_error.h"
#include "src/engine/probabilities.h"

namespace sluice::operators {
namespace {

void append_number(std::string& out, double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

}  // namespace

ClassifyOptions ClassifyOptions::from_model(const engine::ModelConfig& config,
                                            std::string model_name,
                                            const engine::ModelIdentity& identity) {
  ClassifyOptions o;
  o.model_name = std::move(model_name);
  o.model_hash = identity.hash;
  o.model_version = identity.version;
  o.labels = config.id2label;
  o.problem_type = config.problem_type;
  return o;
}

void ClassifyOptions::rename_labels(std::vector<std::string> names) {
  if (names.size() != labels.size())
    throw std::invalid_argument("the model has " + std::to_string(labels.size()) + " outputs, " +
                                std::to_string(names.size()) + " label names given");
  for (const auto& n : names)
    if (n.empty()) throw std::invalid_argument("label names must not be empty");
  labels = std::move(names);
}

Classifier::Classifier(ClassifyOptions options) : options_(std::move(options)) {
  if (options_.labels.empty()) throw std::invalid_argument("classify: the model has no labels");
  for (const auto& l : options_.labels) {
    std::string j;
    append_json_string(j, l);
    label_json_.push_back(std::move(j));
  }
  append_json_string(model_json_, options_.model_name);
  model_json_ += ",\"model_hash\":";
  append_json_string(model_json_, options_.model_hash);
  model_json_ += ",\"model_version\":";
  append_json_string(model_json_, options_.model_version);
  append_json_string(below_json_, options_.below_label);
}

void Classifier::to_probabilities(std::span<float> logits, int64_t rows) const {
  engine::to_probabilities(options_.problem_type, logits, rows,
                           static_cast<int64_t>(options_.labels.size()));
}

Classification Classifier::decide(std::span<const float> probs) const {
  Classification c;
  for (size_t i = 1; i < probs.size(); ++i)
    if (probs[i] > probs[c.top]) c.top = static_cast<int>(i);
  c.score = probs[c.top];
  const bool below =
      options_.problem_type != engine::ProblemType::kRegression && c.score < options_.min_score;
  c.label =
      below ? std::string_view(options_.below_label) : std::string_view(options_.labels[c.top]);
  return c;
}

void Classifier::write_json(std::string& out, std::string_view id_json, const Classification& c,
                            std::span<const float> probs, double latency_ms) const {
  const bool below = c.label.data() == options_.below_label.data();
  out += "{\"id\":";
  out += id_json;
  out += ",\"label\":";
  out += below ? below_json_ : label_json_[c.top];
  out += ",\"score\":";
  append_number(out, c.score);
  if (options_.problem_type == engine::ProblemType::kMultiLabel) {
    out += ",\"labels\":[";
    bool first = true;
    for (size_t i = 0; i < probs.size(); ++i) {
      if (probs[i] < options_.multi_label_threshold) continue;
      if (!first) out.push_back(',');
      out += label_json_[i];
      first = false;
    }
    out.push_back(']');
  }
  if (options_.probs) {
    out += ",\"probs\":{";
    for (size_t i = 0; i < probs.size(); ++i) {
      if (i) out.push_back(',');
      out += label_json_[i];
      out.push_back(':');
      append_number(out, probs[i]);
    }
    out.push_back('}');
  }
  out += ",\"model\":";
  out += model_json_;
  out += ",\"latency_ms\":";
  append_number(out, static_cast<double>(static_cast<int64_t>(latency_ms * 1000)) / 1000);
  out.push_back('}');
}

namespace {

// A worker's classifier, for the model version of the batches it labels.
struct ClassifyState : core::OperatorState {
  std::shared_ptr<const core::ModelTag> model;  // null: the model loaded at start
  std::unique_ptr<Classifier> classifier;
};

}  // namespace

Classify::Classify(ClassifyOptions options, ModelSlot* slot, bool labels_renamed)
    : options_(std::move(options)), slot_(slot), labels_renamed_(labels_renamed) {
  Classifier check(options_);  // throws on bad options now, not per worker
}

std::unique_ptr<core::OperatorState> Classify::make_state(const core::WorkerInfo&) {
  auto st = std::make_unique<ClassifyState>();
  st->classifier = std::make_unique<Classifier>(options_);
  return st;
}

void Classify::process(core::OperatorState* s, core::Item&& item, core::Emitter& out) const {
  auto& st = *static_cast<ClassifyState*>(s);
  // Taken, not borrowed: the queue slot the item came from would otherwise keep
  // the batch's model version alive until the slot is reused.
  core::Batch b = std::move(std::get<core::Batch>(item));
  if (const ServedModel* v = served_for(b.model.get(), slot_);
      v && v->model && b.model != st.model) {
    // The first batch of another model version (hot reload): name results by it.
    ClassifyOptions o =
        ClassifyOptions::from_model(v->model->config(), v->model->name(), v->identity);
    if (labels_renamed_) o.labels = options_.labels;
    o.probs = options_.probs;
    o.min_score = options_.min_score;
    o.below_label = options_.below_label;
    o.multi_label_threshold = options_.multi_label_threshold;
    o.id_is_json = options_.id_is_json;
    st.classifier = std::make_unique<Classifier>(std::move(o));
    st.model = b.model;
  }
  const Classifier& classifier = *st.classifier;
  const auto n = static_cast<size_t>(classifier.options().labels.size());
  if (static_cast<size_t>(b.num_labels) != n || b.logits.size() != b.size() * n)
    throw std::logic_error("classify: batch logits do not match the model's labels");
  classifier.to_probabilities(b.logits, static_cast<int64_t>(b.size()));
  const int64_t now = core::now_ns();
  std::string id_json;
  for (size_t i = 0; i < b.size(); ++i) {
    core::Record& r = b.records[i];
    const std::span<const float> probs(b.logits.data() + i * n, n);
    const Classification c = classifier.decide(probs);
    id_json.clear();
    if (r.id.empty()) {
      id_json = "null";
    } else if (classifier.options().id_is_json) {
      id_json = r.id;
    } else {
      append_json_string(id_json, r.id);
    }
    const int64_t since = r.ingest_ns > 0 ? r.ingest_ns : b.oldest_ns;
    std::string value;
    value.reserve(96 + (classifier.options().probs ? 24 * n : 0));
    classifier.write_json(value, id_json, c, probs, static_cast<double>(now - since) * 1e-6);
    r.label.assign(c.label);
    r.score = c.score;
    r.set_value(std::move(value));
    r.model.reset();  // the batch holds it; a replaced model goes with the last batch
    out.emit(std::move(r));
  }
}

namespace {

// A classify stage's keys. ClassifyOptions' initializers are the defaults of
// its four; they are read again over the options the model gives
// (ClassifyOptions::from_model), once the model key has named it.
struct ClassifyStage {
  std::optional<std::string> model;                // default: model.path
  std::optional<std::vector<std::string>> labels;  // replace config.json's id2label
  ClassifyOptions options;
};

constexpr const char* kModelKey = "model";
constexpr const char* kLabelsKey = "labels";

const config::Options<ClassifyStage>& classify_options() {
  static const config::Options<ClassifyStage> options = [] {
    using S = ClassifyStage;
    config::Options<S> o;
    o.add(kModelKey, &S::model,
          "Model directory (its config.json gives the labels and problem type; default: "
          "model.path)");
    o.add(kLabelsKey, &S::labels,
          "Names of the model's outputs in id order, replacing config.json's id2label (for "
          "checkpoints labelled LABEL_0, LABEL_1, ...)");
    o.add(
        "probs", [](S & s) -> auto& { return s.options.probs; },
        "Include every label's probability (\"probs\": {label: p})");
    o.add(
         "min_score", [](S & s) -> auto& { return s.options.min_score; },
         "Below this top score the label becomes below_label")
        .range(0, 1);
    o.add(
        "below_label", [](S & s) -> auto& { return s.options.below_label; },
        "Label used when the top score is under min_score");
    o.add(
         "multi_label_threshold", [](S & s) -> auto& { return s.options.multi_label_threshold; },
         "Multi-label models: labels at or above this are listed")
        .range(0, 1);
    return o;
  }();
  return options;
}

}  // namespace

void register_classify(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "classify",
      .description = "Turns logits into a JSON result per record: top label, score, probabilities",
      .is_source = false,
      .declare = [](config::Schema& s) { classify_options().declare(s); },
      .make_source = nullptr,
      .make_operator = [](BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        // The infer stage before it loaded this model (same directory: one
        // load, one hash of its files per pipeline).
        ClassifyStage stage = classify_options().read(ctx.options);
        const std::string dir = model_directory(ctx, stage.model, kModelKey);
        const auto model = shared_model(ctx, dir);
        ModelSlot& slot = model_slot(ctx.services, dir);
        // The model's names and labels, with the stage's keys read over them.
        stage.options =
            ClassifyOptions::from_model(model->config(), model->name(), model->identity());
        classify_options().read(ctx.options, stage);
        ClassifyOptions& o = stage.options;
        if (stage.labels) {
          try {
            o.rename_labels(*stage.labels);
          } catch (const std::invalid_argument& e) {
            throw config::ConfigError("stage '" + ctx.stage_name + "'",
                                      {{ctx.options.path_of(kLabelsKey), e.what()}});
          }
        }
        // A reloaded model must fit these labels (see classify.h).
        const bool renamed = stage.labels.has_value();
        slot.add_check([labels = o.labels, renamed, problem = o.problem_type](
                           const ServedModel& next, const ServedModel&) -> std::string {
          const engine::ModelConfig& c = next.model->config();
          const std::string file = (next.model->directory() / "config.json").string() + ": ";
          auto list = [](const std::vector<std::string>& v) {
            std::string s;
            for (const auto& l : v) s += (s.empty() ? "" : ", ") + l;
            return s;
          };
          if (static_cast<size_t>(c.num_labels) != labels.size())
            return file + "the model has " + std::to_string(c.num_labels) +
                   " outputs but the classify stage serves " + std::to_string(labels.size()) +
                   " labels (" + list(labels) + "); changing the label set takes a restart";
          if (c.problem_type != problem)
            return file + "problem_type " + engine::problem_type_name(c.problem_type) +
                   " differs from the serving model's " + engine::problem_type_name(problem);
          if (!renamed && c.id2label != labels)
            return file + "id2label (" + list(c.id2label) + ") differs from the serving labels (" +
                   list(labels) + "); changing the label set takes a restart";
          return "";
        });
        return std::make_unique<Classify>(std::move(o), &slot, renamed);
      },
  });
}

}  // namespace sluice::operators
