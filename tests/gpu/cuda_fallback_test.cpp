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
    if (!cuda::usable_devices(q).empty()) GTEST_SKIP() << "a usable GPU is present: " << cuda::describe(q);
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

TEST_F(NoGpu, ExplicitCudaIsAClearStartupError) {
  for (const char* device : {"cuda", "cuda:0", "cuda:1"}) {
    BackendOptions o;
    o.device = device;
    try {
      make_backend(*model_, o);
      FAIL() << device << ": a backend was built without a GPU";
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      // Either "this build has no CUDA backend" or "no usable CUDA device: <driver's reason>"
      // or "no device cuda:N (0 found)".
      EXPECT_TRUE(what.find("no CUDA backend") != std::string::npos || what.find("no usable CUDA device") != std::string::npos ||
                  what.find("no device cuda:") != std::string::npos)
          << device << ": " << what;
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
