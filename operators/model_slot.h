// ModelSlot: a model directory a pipeline names, loaded once when the
// pipeline is built and reloadable while it runs (hot reload, without a
// restart and without a consumer-group rebalance).
//
// The stages that name one directory share its slot (tokenize through its
// `tokenizer:`, infer and classify through their `model:`). Each loaded
// version of the directory is a ServedModel: model and tokenizer loaded
// together, immutable, and shared by every record and batch made for it
// (core::ModelTag). The switch works like this:
//
//   reloader thread   ModelSlot::reload(): loads the new version beside the
//                     serving one (weights, config, tokenizer, content hash),
//                     runs the stages' checks, lets the stages prepare for it
//                     (infer builds each worker's backend for it here), and
//                     only then publishes it (one pointer swap and a
//                     generation number).
//   tokenize          sees the new generation (one atomic load per record) and
//                     from then on encodes with the new tokenizer, stamping
//                     each record with the version it encoded for.
//   micro_batch       closes the pending batch when a record of another
//                     version arrives: a batch is always one version.
//   infer             runs each batch on the version it carries; at the first
//                     batch of a new version it lets its in-flight batches
//                     finish on the old backend, then takes the backend built
//                     for it before the switch (and a new result cache: no
//                     result of the old model is ever served after the switch).
//   classify          labels and names results (model_hash) by the batch's version.
//
// The old version is freed when the last record or batch holding it is done.
// A new version that fails to load or to fit (missing or malformed file, a
// label set the pipeline's classify stage does not have, a tokenizer with ids
// beyond the model's vocabulary, a backend that cannot be built for it, such
// as a GPU without room for it beside the serving one) is refused with the
// reason, and the serving version stays.
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "src/core/record.h"
#include "src/engine/model.h"
#include "src/engine/model_identity.h"
#include "src/text/tokenizer.h"

namespace sluice::operators {

class ModelSlot;
class Services;

// One loaded version of a model directory. Immutable once published.
struct ServedModel final : core::ModelTag {
  const ModelSlot* slot = nullptr;
  uint64_t generation = 0;  // 1 for the version loaded at start, +1 per switch
  engine::ModelIdentity identity;
  std::shared_ptr<const engine::Model> model;        // null when no stage runs it
  std::shared_ptr<const text::Tokenizer> tokenizer;  // null when no stage tokenizes with it
};

// The version a record or batch was made for, if it belongs to `slot`.
const ServedModel* served_for(const core::ModelTag* tag, const ModelSlot* slot);

class ModelSlot {
 public:
  explicit ModelSlot(std::filesystem::path dir);
  ModelSlot(const ModelSlot&) = delete;
  ModelSlot& operator=(const ModelSlot&) = delete;

  const std::filesystem::path& directory() const { return dir_; }

  // ---- While the pipeline is built (single-threaded, before it starts) ----
  // Load the model / the tokenizer on first call and keep it in every later
  // version. Throw engine::ModelError / text::TokenizerError.
  std::shared_ptr<const engine::Model> need_model();
  std::shared_ptr<const text::Tokenizer> need_tokenizer();
  // A condition a new version must meet before it is served: returns "" when
  // `next` fits in place of `serving`, else why not ("FILE: REASON").
  using Check = std::function<std::string(const ServedModel& next, const ServedModel& serving)>;
  void add_check(Check check);
  // Work a stage does for a new version before it is served, on the
  // reloader's thread, once every check has passed (infer builds its
  // workers' backends, so that the switch itself builds nothing). `prepare`
  // returns "" or why the version cannot be served ("FILE: REASON");
  // `discard` undoes a prepare whose version a later preparer refused.
  struct Preparer {
    std::function<std::string(const ServedModel& next)> prepare;
    std::function<void(const ServedModel& next)> discard;
  };
  // Any thread; remove_preparer() waits for a reload in progress, so the
  // stage may go once it returns.
  int add_preparer(Preparer preparer);
  void remove_preparer(int id);

  // ---- Any thread ----
  // The generation now served: one atomic load, for the hot path to notice a switch.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // The version now served (takes a lock: call it when generation() changed).
  std::shared_ptr<const ServedModel> current() const;

  // ---- The reloader's thread ----
  enum class Result { kSwitched, kUnchanged, kRefused };
  struct Outcome {
    Result result = Result::kUnchanged;
    std::string message;      // the refusal's reason, or what is served now
    std::string fingerprint;  // fingerprint() of what was loaded (or refused)
  };
  // Loads the directory anew and switches to it if it loads and fits. A
  // directory that changes while it loads is loaded again (up to 3 times).
  Outcome reload();
  // stat() of the directory (through a symlink) and of its identity files:
  // inode, size and modification time. Cheap; changes when any of them is
  // replaced, rewritten or renamed over.
  std::string fingerprint() const;
  // The fingerprint of the version last loaded or refused.
  std::string loaded_fingerprint() const;

 private:
  std::shared_ptr<ServedModel> load() const;  // throws

  const std::filesystem::path dir_;
  bool want_model_ = false;
  bool want_tokenizer_ = false;
  std::vector<Check> checks_;
  std::mutex prepare_mu_;  // guards preparers_; held while they run
  std::vector<std::pair<int, Preparer>> preparers_;
  int next_preparer_ = 0;
  mutable std::mutex mu_;  // guards current_ and loaded_fingerprint_
  std::shared_ptr<const ServedModel> current_;
  std::string loaded_fingerprint_;
  std::atomic<uint64_t> generation_{0};
};

// The pipeline's slot for `dir` (created on first use): one load, one
// identity hash per directory per pipeline.
ModelSlot& model_slot(Services& services, const std::string& dir);
// Every slot of the pipeline, in creation order (for the reloader).
std::vector<ModelSlot*> model_slots(Services& services);

}  // namespace sluice::operators
