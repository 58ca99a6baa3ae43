// What an operator gives the pipeline wiring (app/wiring) and what the
// wiring gives it back: an OperatorSpec (its `type:` name, its options
// declared once — name, type, default, description — and a factory) added
// to an OperatorRegistry by the operator's register_* function, and, when it
// builds, a BuildContext with its validated options and the pipeline's
// Services. Components that need a top-level section of the pipeline file
// (kafka:, ...) register it with add_section.
//
// An operator writes each key once, bound to a field of its options struct
// (config::Options, src/config/options.h): `declare` adds the keys with the
// struct's initializers as defaults, the factory reads the struct back.
//
// Which operators a pipeline may use, the whole pipeline-file schema and
// the building of a pipeline are the wiring's (app/wiring/registry.h,
// app/wiring/pipeline_factory.h); operators never include it.
#pragma once
#include <any>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <typeindex>
#include <vector>

#include "src/config/options.h"
#include "src/config/schema.h"
#include "src/config/section.h"
#include "src/core/dead_letter.h"
#include "src/core/operator.h"

namespace sluice::metrics {
class Registry;
}

namespace sluice::operators {

// Shared, per-pipeline services available to operator factories: the
// validated whole document (for top-level sections), the metrics registry,
// the dead-letter sink, and one shared object per type (e.g. the Kafka
// producer used by the sink and the dead-letter path: kafka::Output). Owns what is put in it;
// objects are destroyed in reverse order of creation, after the pipeline.
class Services {
 public:
  Services(config::Section root, std::string pipeline_name, metrics::Registry* metrics)
      : root_(std::move(root)), pipeline_name_(std::move(pipeline_name)), metrics_(metrics) {}
  ~Services();
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  const config::Section& root() const { return root_; }
  const std::string& pipeline_name() const { return pipeline_name_; }
  metrics::Registry* metrics() const { return metrics_; }  // may be null (e.g. in unit tests)

  // The pipeline's dead-letter sink (set by whoever provides one, e.g. Kafka).
  core::DeadLetterSink* dead_letters() const { return dead_letters_; }
  void set_dead_letters(core::DeadLetterSink* sink) { dead_letters_ = sink; }

  // The pipeline's one shared T, created with `make` on first use: the type
  // is the key (what two operators share is a type they both know).
  template <typename T>
  T& shared(const std::function<std::unique_ptr<T>()>& make) {
    std::lock_guard lock(mu_);
    for (auto& e : entries_)
      if (e.type == std::type_index(typeid(T))) return *static_cast<T*>(e.ptr.get());
    std::unique_ptr<T> obj = make();
    T* raw = obj.get();
    entries_.push_back({std::type_index(typeid(T)),
                        std::unique_ptr<void, void (*)(void*)>(
                            obj.release(), [](void* p) { delete static_cast<T*>(p); })});
    return *raw;
  }
  // The shared T if one was created, else nullptr.
  template <typename T>
  T* find_shared() {
    std::lock_guard lock(mu_);
    for (auto& e : entries_)
      if (e.type == std::type_index(typeid(T))) return static_cast<T*>(e.ptr.get());
    return nullptr;
  }

 private:
  struct Entry {
    std::type_index type;
    std::unique_ptr<void, void (*)(void*)> ptr;
  };
  config::Section root_;
  std::string pipeline_name_;
  metrics::Registry* metrics_;
  core::DeadLetterSink* dead_letters_ = nullptr;
  std::mutex mu_;
  std::vector<Entry> entries_;
};

struct BuildContext {
  const config::Section& options;  // this stage's validated options
  const std::string& stage_name;
  int workers;
  Services& services;
};

struct OperatorSpec {
  std::string type;
  std::string description;
  bool is_source = false;
  std::function<void(config::Schema&)> declare;  // adds the operator's own keys
  std::function<std::unique_ptr<core::Source>(BuildContext&)> make_source;
  std::function<std::unique_ptr<core::Operator>(BuildContext&)> make_operator;
};

struct SectionSpec {
  std::string name;
  std::string description;
  std::function<void(config::Schema&)> declare;
};

// The model directory a stage uses: its own key's value `own` when the stage
// gives one, else the pipeline's `model.path` — one declaration that
// tokenize, infer, classify and the recommend stages share (the wiring
// declares the model: section). Throws std::invalid_argument (a
// configuration error at the stage, naming `key`) when neither is set.
std::string model_directory(const BuildContext& ctx, const std::optional<std::string>& own,
                            const std::string& key);

class OperatorRegistry {
 public:
  void add(OperatorSpec spec);
  void add_section(SectionSpec spec);
  const OperatorSpec* find(std::string_view type) const;
  std::vector<std::string> types() const;
  const std::vector<OperatorSpec>& specs() const { return specs_; }
  const std::vector<SectionSpec>& sections() const { return sections_; }

 private:
  std::vector<OperatorSpec> specs_;
  std::vector<SectionSpec> sections_;
};

}  // namespace sluice::operators
