// CudaEncoder's whole forward on the CPU (no GPU needed): the real encoder
// orchestration (weight arenas, workspace carve, strides, the last layer's
// first-rows path, head, pooling) and the real op launchers (grid, block,
// shared memory, argument order), with the kernels run by host_emulation.h
// (emulated_launchers.cpp) and the CUDA runtime and cuBLAS replaced by host
// stand-ins (emulated_runtime.cpp). Logits and pooled vectors of a
// mixed-length batch are compared with the CPU backend's for the GPU tests'
// small random models in fp16 and bf16, every pooling mode (and mean pooling
// without pooled outputs, which switches the last layer from every row to
// first rows only, and a launch padded to a larger shape as for a CUDA-graph
// bucket). tests/gpu/cuda_backend_test.cpp repeats this through CudaBackend
// on a real GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_encoder.h"
#include "kernels/cuda/handles.h"
#include "src/engine/model.h"
#include "tests/gpu/gpu_test_support.h"

namespace sluice::cuda {

// For gtest's parameter names (found by argument-dependent lookup, so not in
// the anonymous namespace).
void PrintTo(DType dt, std::ostream* os) { *os << dtype_name(dt); }

namespace {

using engine::Pooling;
using gpu_testing::close;
using gpu_testing::model_cases;
using gpu_testing::ModelCase;
using gpu_testing::Out;
using gpu_testing::Packed;
using gpu_testing::Tol;

// One forward of the packed batch. With pad_tokens/pad_records it is
// launched for a larger shape, as CudaBackend does for a CUDA-graph bucket:
// padding tokens with id and position 0, padding records empty.
Out run_encoder(const engine::ModelConfig& c, const CudaEncoder& enc, const Packed& p, bool pooled,
                int64_t pad_tokens = 0, int64_t pad_records = 0) {
  const auto T = static_cast<int64_t>(p.ids.size()), B = static_cast<int64_t>(p.cu.size()) - 1;
  const int64_t LT = T + pad_tokens, LB = B + pad_records;  // the launch shape
  Stream stream;  // the null stream: the stand-ins run everything synchronously
  CublasHandle blas(stream.get(), "emulated encoder test");
  const std::size_t ws_bytes = CudaEncoder::workspace_bytes(c, LT, LB);
  DeviceBuffer ws(ws_bytes, "workspace");
  SLUICE_CUDA_CHECK(cudaMemsetAsync(ws.get(), 0, ws_bytes, stream.get()), "workspace");
  const EncoderBuffers b = CudaEncoder::carve(ws.get(), c, LT, LB);
  // The staging CudaBackend::enqueue does.
  std::vector<int32_t> ids = p.ids, pos(p.ids.size()), cu = p.cu;
  engine::position_ids(c, p.ids.data(), p.cu.data(), B, pos.data());
  ids.resize(LT, 0);
  pos.resize(LT, 0);
  cu.resize(LB + 1, static_cast<int32_t>(T));
  const auto H2D = cudaMemcpyHostToDevice, D2H = cudaMemcpyDeviceToHost;
  SLUICE_CUDA_CHECK(cudaMemcpyAsync(b.ids, ids.data(), 4 * LT, H2D, stream.get()), "inputs");
  SLUICE_CUDA_CHECK(cudaMemcpyAsync(b.position_ids, pos.data(), 4 * LT, H2D, stream.get()),
                    "inputs");
  SLUICE_CUDA_CHECK(cudaMemcpyAsync(b.cu_seqlens, cu.data(), 4 * (LB + 1), H2D, stream.get()),
                    "inputs");
  ForwardShape shape;
  shape.tokens = LT;
  shape.records = LB;
  shape.max_seqlen = p.max_len;
  shape.pooled = pooled;
  enc.enqueue(b, shape, stream.get(), blas.get());
  Out o;
  o.logits.resize(static_cast<size_t>(B * c.num_labels));
  SLUICE_CUDA_CHECK(
      cudaMemcpyAsync(o.logits.data(), b.logits, 4 * o.logits.size(), D2H, stream.get()),
      "outputs");
  if (pooled) {
    o.pooled.resize(static_cast<size_t>(B * c.hidden_size));
    SLUICE_CUDA_CHECK(
        cudaMemcpyAsync(o.pooled.data(), b.pooled, 4 * o.pooled.size(), D2H, stream.get()),
        "outputs");
  }
  return o;
}

class EmulatedEncoder : public ::testing::TestWithParam<std::tuple<ModelCase, DType>> {};

TEST_P(EmulatedEncoder, LogitsAndPooledMatchTheCpuBackend) {
  const auto& [mc, dt] = GetParam();
  const uint32_t seed = gpu_testing::test_seed();
  SCOPED_TRACE(mc.name + ", " + dtype_name(dt) + ", seed " + std::to_string(seed));
  const engine::Model model = engine::Model::load(gpu_testing::random_model(mc.name, mc.spec));
  const engine::ModelConfig& c = model.config();
  std::mt19937 rng(seed);
  // Mixed lengths: packing, a 1-token record, the first-rows last layer and
  // mean pooling over unequal lengths; 13 is not a multiple of the simple
  // attention kernel's 4 queries per block.
  const Packed p = gpu_testing::pack(gpu_testing::random_sequences(
      rng, {1, 7, 3, 13}, static_cast<int>(c.vocab_size), c.positions_from_padding_idx));
  const Tol tol = gpu_testing::model_tol(dtype_name(dt));
  for (Pooling pooling : {Pooling::kHead, Pooling::kFirstToken, Pooling::kMean}) {
    SCOPED_TRACE("pooling " + std::to_string(static_cast<int>(pooling)));
    engine::BackendOptions o;
    o.device = "cpu";
    o.threads = 1;
    o.pooling = pooling;
    auto cpu = cpu::make_cpu_backend(c, model.weights(), o);
    Out ref;
    ref.logits.assign(static_cast<size_t>((p.cu.size() - 1) * c.num_labels), NAN);
    ref.pooled.assign(static_cast<size_t>((p.cu.size() - 1) * c.hidden_size), NAN);
    const engine::BatchResult r = cpu->run({p.ids, p.cu, p.max_len}, {ref.logits, ref.pooled});
    ASSERT_TRUE(r.ok) << r.error;

    const CudaEncoder enc(c, model.weights(), dt, pooling);
    const Out got = run_encoder(c, enc, p, /*pooled=*/true);
    EXPECT_TRUE(close(got.logits, ref.logits, tol.rel, tol.abs)) << "logits";
    EXPECT_TRUE(close(got.pooled, ref.pooled, tol.rel, tol.abs)) << "pooled";
    if (pooling == Pooling::kMean) {
      // Mean pooling runs the last layer over every row; without pooled
      // outputs it runs first rows only, as the other modes always do: the
      // same logits. (Emulation is slow: the other modes skip this run.)
      const Out no_pool = run_encoder(c, enc, p, /*pooled=*/false);
      EXPECT_TRUE(close(no_pool.logits, ref.logits, tol.rel, tol.abs)) << "logits without pooled";
      // Launched for a padded (bucket) shape: empty padding sequences in
      // attention and pooling, padding tokens in every GEMM.
      const Out padded =
          run_encoder(c, enc, p, /*pooled=*/true, /*pad_tokens=*/5, /*pad_records=*/2);
      EXPECT_TRUE(close(padded.logits, ref.logits, tol.rel, tol.abs)) << "logits, padded launch";
      EXPECT_TRUE(close(padded.pooled, ref.pooled, tol.rel, tol.abs)) << "pooled, padded launch";
    }
  }
}

std::vector<std::tuple<ModelCase, DType>> params() {
  std::vector<std::tuple<ModelCase, DType>> out;
  for (const auto& m : model_cases())
    for (DType dt : {DType::kF16, DType::kBF16}) out.emplace_back(m, dt);
  return out;
}

std::string param_name(const ::testing::TestParamInfo<std::tuple<ModelCase, DType>>& i) {
  std::string n = std::get<0>(i.param).name + "_" + dtype_name(std::get<1>(i.param));
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

INSTANTIATE_TEST_SUITE_P(Models, EmulatedEncoder, ::testing::ValuesIn(params()), param_name);

}  // namespace
}  // namespace sluice::cuda
