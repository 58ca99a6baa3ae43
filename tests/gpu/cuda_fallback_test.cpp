// Device selection where no usable GPU exists (CI, laptops, builds without
// CUDA): `auto` is the CPU backend, an explicit `cuda` is a clear start-up
// error, and device discovery never throws. Skips on machines with a GPU
// (cuda_backend_test covers those).
#include <gtest/gtest.h>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device_query.h"
#include "src/engine/backend_factory.h"
#include "src/engine/model.h"
#include "tests/gpu/gpu_test_support.h"

namespace sluice::engine {
namespace {

class NoGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto q = cuda::query_devices();
    if (!cuda::usable_devices(q).empty())
      GTEST_SKIP() << "a usable GPU is present: " << cuda::describe(q);
    model_ = std::make_unique<Model>(Model::load(gpu_testing::random_model("fallback-bert", {})));
  }
  std::unique_ptr<Model> model_;
};

TEST_F(NoGpu, AutoPicksTheCpuBackend) {
  BackendOptions o;
  o.device = "auto";
  o.threads = 1;
  EXPECT_EQ(make_backend(*model_, o)->kind(), "cpu");
}

TEST_F(NoGpu, ExplicitCudaIsAClearConfigurationError) {
  // A device this build or machine cannot use is a configuration error (the
  // infer stage's `device` key: exit 2), naming the device and saying why.
  const std::string why = cuda::describe(cuda::query_devices());
  for (const char* device : {"cuda", "cuda:0", "cuda:1"}) {
    BackendOptions o;
    o.device = device;
    try {
      make_backend(*model_, o);
      FAIL() << device << ": a backend was built without a GPU";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(std::string("device '") + device + "'"), std::string::npos) << what;
      EXPECT_NE(what.find("is not a usable CUDA device here (" + why + ")"), std::string::npos)
          << what;
    }
  }
}

TEST_F(NoGpu, DeviceQuerySaysWhy) {
  const auto q = cuda::query_devices();
  EXPECT_TRUE(q.devices.empty() || cuda::usable_devices(q).empty());
  EXPECT_FALSE(q.status.empty());
  EXPECT_FALSE(cuda::describe(q).empty());
#if SLUICE_HAVE_CUDA
  EXPECT_TRUE(q.built_with_cuda);
#else
  EXPECT_FALSE(q.built_with_cuda);
#endif
}

}  // namespace
}  // namespace sluice::engine
