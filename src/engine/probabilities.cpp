#include "src/engine/probabilities.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sluice::engine {

void to_probabilities(ProblemType problem, std::span<float> logits, int64_t rows, int64_t cols) {
  if (rows < 0 || cols <= 0 || static_cast<uint64_t>(rows * cols) > logits.size())
    throw std::invalid_argument("to_probabilities: logits shorter than rows x cols");
  switch (problem) {
    case ProblemType::kSingleLabel:
      for (int64_t r = 0; r < rows; ++r) {
        float* x = logits.data() + r * cols;
        const float m = *std::max_element(x, x + cols);
        double sum = 0;
        for (int64_t c = 0; c < cols; ++c) sum += x[c] = std::exp(x[c] - m);
        const auto inv = static_cast<float>(1.0 / sum);
        for (int64_t c = 0; c < cols; ++c) x[c] *= inv;
      }
      break;
    case ProblemType::kMultiLabel:
      for (int64_t i = 0; i < rows * cols; ++i) logits[i] = 1.0f / (1.0f + std::exp(-logits[i]));
      break;
    case ProblemType::kRegression:
      break;
  }
}

}  // namespace sluice::engine
