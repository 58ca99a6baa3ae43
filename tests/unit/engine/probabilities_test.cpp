// The classification head's probabilities (src/engine/probabilities.h),
// against values computed by hand and Hugging Face's definitions.
#include "src/engine/probabilities.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace sluice::engine {
namespace {

TEST(Probabilities, SoftmaxPerRowSumsToOneAndSurvivesLargeLogits) {
  std::vector<float> x = {1.0f, 2.0f, 3.0f, 1000.0f, 1000.0f, -1000.0f};
  to_probabilities(ProblemType::kSingleLabel, x, 2, 3);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(x[0], std::exp(1.0) / z, 1e-6);
  EXPECT_NEAR(x[1], std::exp(2.0) / z, 1e-6);
  EXPECT_NEAR(x[2], std::exp(3.0) / z, 1e-6);
  EXPECT_FLOAT_EQ(x[3], 0.5f);  // no overflow: the row maximum is subtracted
  EXPECT_FLOAT_EQ(x[4], 0.5f);
  EXPECT_EQ(x[5], 0.0f);
}

TEST(Probabilities, MultiLabelIsASigmoidPerLogitAndRegressionIsUnchanged) {
  std::vector<float> x = {0.0f, 2.0f, -2.0f};
  to_probabilities(ProblemType::kMultiLabel, x, 1, 3);
  EXPECT_FLOAT_EQ(x[0], 0.5f);
  EXPECT_NEAR(x[1], 1.0 / (1.0 + std::exp(-2.0)), 1e-6);
  EXPECT_NEAR(x[2], 1.0 / (1.0 + std::exp(2.0)), 1e-6);
  std::vector<float> y = {3.5f, -7.25f};
  to_probabilities(ProblemType::kRegression, y, 2, 1);
  EXPECT_EQ(y, (std::vector<float>{3.5f, -7.25f}));
}

TEST(Probabilities, ALogitBufferShorterThanItsShapeIsRefused) {
  std::vector<float> x(5);
  EXPECT_THROW(to_probabilities(ProblemType::kSingleLabel, x, 2, 3), std::invalid_argument);
}

}  // namespace
}  // namespace sluice::engine
