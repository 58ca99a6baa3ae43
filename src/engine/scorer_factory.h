// Picks and builds the recommendation scorer (src/engine/scorer.h) for an
// item matrix, as backend_factory.h does for encoders: options.device "cpu",
// "cuda" / "cuda:N", or "auto" (CUDA when the build has it and a usable
// device is present, else the CPU).
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "src/engine/scorer.h"

namespace sluice::engine {

// items: [num_items, dim] row-major, copied (the caller may free it after).
// Throws std::invalid_argument (a configuration error: exit 2) for an unknown
// device or one this build or machine cannot use, and std::runtime_error when
// a usable device fails to initialise (e.g. the item matrix does not fit).
// Whether `device` is spelled as make_scorer accepts it ("cpu", "auto",
// "cuda", "cuda:N"); whether this machine can use it is make_scorer's answer.
bool is_scorer_device(std::string_view device);

// The CUDA device make_scorer would use for `device`, or -1 for the CPU;
// throws std::invalid_argument as make_scorer does. Lets a caller refuse a
// device it cannot use before any item matrix is loaded or thread started.
int select_scorer_device(const std::string& device);

std::unique_ptr<Scorer> make_scorer(const float* items, int64_t num_items, int64_t dim,
                                    const ScorerOptions& options);

}  // namespace sluice::engine
