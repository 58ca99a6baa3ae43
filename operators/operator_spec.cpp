#include "operators/operator_spec.h"

#include <stdexcept>

#include "operators/pipeline_sections.h"

namespace sluice::operators {

Services::~Services() {
  while (!entries_.empty()) entries_.pop_back();  // reverse order of creation
}

std::string model_directory(const BuildContext& ctx, const std::optional<std::string>& own,
                            const std::string& key) {
  if (own) return *own;
  const ModelSection model = model_section(ctx.services.root());
  if (model.path && !model.path->empty()) return *model.path;
  throw std::invalid_argument(key + ": required here, or give the pipeline's model.path");
}

void OperatorRegistry::add(OperatorSpec spec) {
  if (find(spec.type)) throw std::logic_error("operator type '" + spec.type + "' registered twice");
  specs_.push_back(std::move(spec));
}

void OperatorRegistry::add_section(SectionSpec spec) { sections_.push_back(std::move(spec)); }

const OperatorSpec* OperatorRegistry::find(std::string_view type) const {
  for (const auto& s : specs_)
    if (s.type == type) return &s;
  return nullptr;
}

std::vector<std::string> OperatorRegistry::types() const {
  std::vector<std::string> out;
  for (const auto& s : specs_) out.push_back(s.type);
  return out;
}

}  // namespace sluice::operators
