#include "operators/model_slot.h"

#include <sys/stat.h>

#include <stdexcept>

#include "operators/operator_spec.h"
#include "src/engine/model_error.h"

namespace sluice::operators {
namespace {

// The pipeline's slots, one per directory (as named, made absolute: a
// symlink is followed at each load, never resolved once).
struct ModelSlots {
  std::vector<std::unique_ptr<ModelSlot>> slots;
};

std::string stat_line(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return "-";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace

const ServedModel* served_for(const core::ModelTag* tag, const ModelSlot* slot) {
  const auto* s = dynamic_cast<const ServedModel*>(tag);
  return s && s->slot == slot ? s : nullptr;
}

ModelSlot::ModelSlot(std::filesystem::path dir) : dir_(std::move(dir)) {}

std::shared_ptr<const engine::Model> ModelSlot::need_model() {
  if (!want_model_) {
    const std::string before = fingerprint();
    auto next =
        current_ ? std::make_shared<ServedModel>(*current_) : std::make_shared<ServedModel>();
    next->slot = this;
    next->generation = 1;
    next->model = std::make_shared<const engine::Model>(engine::Model::load(dir_));
    next->identity = next->model->identity();
    want_model_ = true;
    std::lock_guard lock(mu_);
    current_ = std::move(next);
    if (loaded_fingerprint_.empty()) loaded_fingerprint_ = before;
    generation_.store(1, std::memory_order_release);
  }
  return current()->model;
}

std::shared_ptr<const text::Tokenizer> ModelSlot::need_tokenizer() {
  if (!want_tokenizer_) {
    const std::string before = fingerprint();
    auto next =
        current_ ? std::make_shared<ServedModel>(*current_) : std::make_shared<ServedModel>();
    next->slot = this;
    next->generation = 1;
    next->tokenizer = text::Tokenizer::load(dir_);
    if (!next->model) next->identity = engine::identify_model(dir_);
    want_tokenizer_ = true;
    std::lock_guard lock(mu_);
    current_ = std::move(next);
    if (loaded_fingerprint_.empty()) loaded_fingerprint_ = before;
    generation_.store(1, std::memory_order_release);
  }
  return current()->tokenizer;
}

void ModelSlot::add_check(Check check) { checks_.push_back(std::move(check)); }

int ModelSlot::add_preparer(Preparer preparer) {
  std::lock_guard lock(prepare_mu_);
  preparers_.emplace_back(next_preparer_, std::move(preparer));
  return next_preparer_++;
}

void ModelSlot::remove_preparer(int id) {
  std::lock_guard lock(prepare_mu_);
  std::erase_if(preparers_, [id](const auto& p) { return p.first == id; });
}

std::shared_ptr<const ServedModel> ModelSlot::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::string ModelSlot::loaded_fingerprint() const {
  std::lock_guard lock(mu_);
  return loaded_fingerprint_;
}

std::string ModelSlot::fingerprint() const {
  std::string f = stat_line(dir_);
  for (const char* name : engine::kIdentityFiles) {
    f += ' ';
    f += stat_line(dir_ / name);
  }
  return f;
}

std::shared_ptr<ServedModel> ModelSlot::load() const {
  auto next = std::make_shared<ServedModel>();
  next->slot = this;
  if (want_model_) {
    next->model = std::make_shared<const engine::Model>(engine::Model::load(dir_));
    next->identity = next->model->identity();
  }
  if (want_tokenizer_) {
    try {
      next->tokenizer = text::Tokenizer::load(dir_);
    } catch (const text::TokenizerError& e) {
      throw std::runtime_error(e.what());
    }
    if (!next->model) next->identity = engine::identify_model(dir_);
  }
  if (next->model && next->tokenizer &&
      next->tokenizer->vocab_size() > next->model->config().vocab_size) {
    throw engine::ModelError(
        (dir_ / "config.json").string(),
        "the tokenizer makes ids up to " + std::to_string(next->tokenizer->vocab_size() - 1) +
            " but the model's vocab_size is " + std::to_string(next->model->config().vocab_size) +
            " (tokenizer and model of different models?)");
  }
  return next;
}

ModelSlot::Outcome ModelSlot::reload() {
  Outcome out;
  std::shared_ptr<ServedModel> next;
  for (int attempt = 0;; ++attempt) {
    out.fingerprint = fingerprint();
    try {
      next = load();
    } catch (const std::exception& e) {
      // A half-swapped directory fails too: load again if it moved meanwhile.
      if (fingerprint() != out.fingerprint && attempt < 2) continue;
      out.result = Result::kRefused;
      out.message = e.what();
      break;
    }
    if (fingerprint() == out.fingerprint) break;
    if (attempt == 2) {
      out.result = Result::kRefused;
      out.message = dir_.string() + ": the directory kept changing while it was loaded";
      break;
    }
  }
  if (out.result == Result::kRefused) {
    std::lock_guard lock(mu_);
    loaded_fingerprint_ = out.fingerprint;
    return out;
  }
  const std::shared_ptr<const ServedModel> serving = current();
  if (next->identity.hash == serving->identity.hash) {
    out.result = Result::kUnchanged;
    out.message = "model_hash " + serving->identity.hash + " is already served";
    std::lock_guard lock(mu_);
    loaded_fingerprint_ = out.fingerprint;
    return out;
  }
  for (const Check& check : checks_) {
    std::string why = check(*next, *serving);
    if (!why.empty()) {
      out.result = Result::kRefused;
      out.message = std::move(why);
      std::lock_guard lock(mu_);
      loaded_fingerprint_ = out.fingerprint;
      return out;
    }
  }
  next->generation = serving->generation + 1;
  {
    // Built beside the serving version; a failure refuses it, and what the
    // preparers before the failing one built is discarded.
    std::lock_guard prepare_lock(prepare_mu_);
    for (size_t i = 0; i < preparers_.size(); ++i) {
      std::string why = preparers_[i].second.prepare(*next);
      if (why.empty()) continue;
      for (size_t j = 0; j < i; ++j)
        if (preparers_[j].second.discard) preparers_[j].second.discard(*next);
      out.result = Result::kRefused;
      out.message = std::move(why);
      std::lock_guard lock(mu_);
      loaded_fingerprint_ = out.fingerprint;
      return out;
    }
  }
  out.result = Result::kSwitched;
  out.message = "model_hash " + serving->identity.hash + " -> " + next->identity.hash +
                (next->identity.version.empty() ? "" : " (version " + next->identity.version + ")");
  std::lock_guard lock(mu_);
  current_ = std::move(next);
  loaded_fingerprint_ = out.fingerprint;
  generation_.store(current_->generation, std::memory_order_release);
  return out;
}

ModelSlot& model_slot(Services& services, const std::string& dir) {
  auto& all = services.shared<ModelSlots>([] { return std::make_unique<ModelSlots>(); });
  std::error_code ec;
  std::filesystem::path key = std::filesystem::absolute(dir, ec);
  key = (ec ? std::filesystem::path(dir) : key).lexically_normal();
  if (key.has_parent_path() && key.filename().empty()) key = key.parent_path();  // "dir/"
  for (auto& s : all.slots)
    if (s->directory() == key) return *s;
  all.slots.push_back(std::make_unique<ModelSlot>(key));
  return *all.slots.back();
}

std::vector<ModelSlot*> model_slots(Services& services) {
  std::vector<ModelSlot*> out;
  if (auto* all = services.find_shared<ModelSlots>())
    for (auto& s : all->slots) out.push_back(s.get());
  return out;
}

}  // namespace sluice::operators
