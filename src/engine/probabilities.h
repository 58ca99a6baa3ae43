// The classification head's logits turned into what a user reads: softmax
// per row for single-label models, the logistic sigmoid per logit for
// multi-label ones, unchanged for regression (Hugging Face's problem_type).
// Rows are a handful of labels wide, so a plain loop is the right tool; the
// backends' vectorised softmax is for attention rows thousands wide.
#pragma once
#include <cstdint>
#include <span>

#include "src/engine/model_config.h"

namespace sluice::engine {

// In place; `logits` holds `rows` rows of `cols` values, row-major.
void to_probabilities(ProblemType problem, std::span<float> logits, int64_t rows, int64_t cols);

}  // namespace sluice::engine
