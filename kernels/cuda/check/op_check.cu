#include <cstdlib>
#include <stdexcept>

#include "kernels/cuda/add_layernorm.cuh"
#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/bias_activation.cuh"
#include "kernels/cuda/check/op_check.h"
#include "kernels/cuda/classifier_out.cuh"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/embedding_layernorm.cuh"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/handles.h"
#include "kernels/cuda/host_convert.h"
#include "kernels/cuda/pooling.cuh"
#include "kernels/cuda/softmax.cuh"

namespace sluice::cuda::opcheck {
namespace {

const char* kOp = "op check";

// One op call's device context: the test device current, a stream.
struct Ctx {
  DeviceGuard guard{test_device()};
  Stream stream{kOp};

  cudaStream_t s() const { return stream.get(); }

  DeviceBuffer upload_dt(DType dt, const std::vector<float>& v) {
    std::vector<uint16_t> bits(v.size());
    to_dtype_host(dt, v.data(), v.size(), bits.data());
    DeviceBuffer b(bits.size() * 2 + 16, kOp);  // +16: never a zero-size buffer
    SLUICE_CUDA_CHECK(cudaMemcpy(b.get(), bits.data(), bits.size() * 2, cudaMemcpyHostToDevice),
                      kOp);
    return b;
  }
  template <class T>
  DeviceBuffer upload(const std::vector<T>& v) {
    DeviceBuffer b(v.size() * sizeof(T) + 16, kOp);
    SLUICE_CUDA_CHECK(cudaMemcpy(b.get(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice),
                      kOp);
    return b;
  }
  // All bits set: NaN in fp16, bf16 and fp32 alike.
  DeviceBuffer poisoned(std::size_t bytes) {
    DeviceBuffer b(bytes + 16, kOp);
    SLUICE_CUDA_CHECK(cudaMemset(b.get(), 0xff, bytes + 16), kOp);
    return b;
  }
  void finish() {
    SLUICE_CUDA_CHECK(cudaStreamSynchronize(stream.get()), kOp);
    SLUICE_CUDA_CHECK(cudaGetLastError(), kOp);
  }
  std::vector<float> download_dt(DType dt, const DeviceBuffer& b, std::size_t n) {
    finish();
    std::vector<uint16_t> bits(n);
    SLUICE_CUDA_CHECK(cudaMemcpy(bits.data(), b.get(), n * 2, cudaMemcpyDeviceToHost), kOp);
    std::vector<float> out(n);
    from_dtype_host(dt, bits.data(), n, out.data());
    return out;
  }
  std::vector<float> download_f32(const DeviceBuffer& b, std::size_t n) {
    finish();
    std::vector<float> out(n);
    SLUICE_CUDA_CHECK(cudaMemcpy(out.data(), b.get(), n * 4, cudaMemcpyDeviceToHost), kOp);
    return out;
  }
};

const float* opt(const DeviceBuffer& b, const std::vector<float>& v) {
  return v.empty() ? nullptr : b.get<float>();
}

}  // namespace

int test_device() {
  const char* e = std::getenv("SLUICE_GPU_TEST_DEVICE");
  return e ? std::atoi(e) : 0;
}

std::string why_no_device() {
  const DeviceQuery q = query_devices();
  if (q.devices.empty()) return q.status.empty() ? "no CUDA device" : q.status;
  const int want = test_device();
  for (int d : usable_devices(q))
    if (d == want) return {};
  return "device " + std::to_string(want) + " is missing or older than sm_80 (" + describe(q) + ")";
}

std::vector<float> round_to(DType dt, const std::vector<float>& v) {
  std::vector<uint16_t> bits(v.size());
  to_dtype_host(dt, v.data(), v.size(), bits.data());
  std::vector<float> out(v.size());
  from_dtype_host(dt, bits.data(), v.size(), out.data());
  return out;
}

std::vector<float> embedding_layernorm(DType dt, const std::vector<int32_t>& ids,
                                       const std::vector<int32_t>& pos,
                                       const std::vector<float>& word,
                                       const std::vector<float>& position,
                                       const std::vector<float>& type_row,
                                       const std::vector<float>& gamma,
                                       const std::vector<float>& beta, float eps, int64_t hidden) {
  Ctx c;
  const auto tokens = static_cast<int64_t>(ids.size());
  DeviceBuffer d_ids = c.upload(ids), d_pos = c.upload(pos), d_word = c.upload_dt(dt, word),
               d_position = c.upload_dt(dt, position), d_type = c.upload(type_row),
               d_g = c.upload(gamma), d_b = c.upload(beta);
  DeviceBuffer out = c.poisoned(static_cast<std::size_t>(tokens * hidden) * 2);
  cuda::embedding_layernorm(dt, d_ids.get<int32_t>(), d_pos.get<int32_t>(), tokens, d_word.get(),
                            d_position.get(), opt(d_type, type_row), d_g.get<float>(),
                            d_b.get<float>(), eps, hidden, out.get(), c.s());
  return c.download_dt(dt, out, static_cast<std::size_t>(tokens * hidden));
}

std::vector<float> add_layernorm(DType dt, const std::vector<float>& x, int64_t ld_x,
                                 const std::vector<float>& bias, const std::vector<float>& residual,
                                 int64_t ld_res, const std::vector<float>& gamma,
                                 const std::vector<float>& beta, float eps, int64_t rows,
                                 int64_t cols, int64_t ld_out, Alias alias) {
  Ctx c;
  DeviceBuffer d_x = c.upload_dt(dt, x), d_bias = c.upload(bias), d_res = c.upload_dt(dt, residual),
               d_g = c.upload(gamma), d_b = c.upload(beta);
  DeviceBuffer fresh;
  void* out = nullptr;
  std::size_t out_elems = 0;
  if (alias == Alias::kX) {
    out = d_x.get();
    ld_out = ld_x;
    out_elems = x.size();
  } else if (alias == Alias::kResidual) {
    out = d_res.get();
    ld_out = ld_res;
    out_elems = residual.size();
  } else {
    out_elems = static_cast<std::size_t>(rows * ld_out);
    fresh = c.poisoned(out_elems * 2);
    out = fresh.get();
  }
  cuda::add_layernorm(dt, d_x.get(), ld_x, opt(d_bias, bias),
                      residual.empty() ? nullptr : d_res.get(), ld_res, d_g.get<float>(),
                      d_b.get<float>(), eps, rows, cols, out, ld_out, c.s());
  const DeviceBuffer& holder = alias == Alias::kX ? d_x : alias == Alias::kResidual ? d_res : fresh;
  return c.download_dt(dt, holder, out_elems);
}

std::vector<float> bias_activation(DType dt, const std::vector<float>& x, int64_t ld, int64_t rows,
                                   int64_t cols, const std::vector<float>& bias,
                                   engine::Activation act) {
  Ctx c;
  DeviceBuffer d_x = c.upload_dt(dt, x), d_bias = c.upload(bias);
  cuda::bias_activation(dt, d_x.get(), ld, rows, cols, opt(d_bias, bias), act, c.s());
  return c.download_dt(dt, d_x, x.size());
}

std::vector<float> attention(DType dt, const std::vector<float>& qkv, int64_t ld_qkv,
                             const std::vector<float>& bias, const std::vector<int32_t>& cu,
                             int64_t max_seqlen, int64_t heads, int64_t head_dim, float scale,
                             bool first_token_only, int64_t ld_out, AttentionKernel kernel) {
  Ctx c;
  DeviceBuffer d_qkv = c.upload_dt(dt, qkv), d_bias = c.upload(bias), d_cu = c.upload(cu);
  const int64_t seqs = static_cast<int64_t>(cu.size()) - 1;
  const int64_t rows = first_token_only ? seqs : cu.back();
  DeviceBuffer out = c.poisoned(static_cast<std::size_t>(rows * ld_out) * 2);
  cuda::attention(dt, d_qkv.get(), ld_qkv, opt(d_bias, bias), d_cu.get<int32_t>(), seqs, max_seqlen,
                  heads, head_dim, scale, first_token_only, out.get(), ld_out, c.s(), kernel);
  return c.download_dt(dt, out, static_cast<std::size_t>(rows * ld_out));
}

std::vector<float> linear(DType dt, const std::vector<float>& x, int64_t ld_x,
                          const std::vector<float>& w, int64_t m, int64_t n, int64_t k,
                          int64_t ld_y) {
  Ctx c;
  CublasHandle blas(c.s(), kOp);
  DeviceBuffer d_x = c.upload_dt(dt, x), d_w = c.upload_dt(dt, w);
  DeviceBuffer y = c.poisoned(static_cast<std::size_t>(m * ld_y) * 2);
  cuda::linear(blas.get(), dt, d_x.get(), ld_x, d_w.get(), m, n, k, y.get(), ld_y);
  return c.download_dt(dt, y, static_cast<std::size_t>(m * ld_y));
}

std::vector<float> gather_first_rows(DType dt, const std::vector<float>& x, int64_t ld_x,
                                     const std::vector<int32_t>& cu, int64_t cols, int64_t ld_out) {
  Ctx c;
  DeviceBuffer d_x = c.upload_dt(dt, x), d_cu = c.upload(cu);
  const int64_t seqs = static_cast<int64_t>(cu.size()) - 1;
  DeviceBuffer out = c.poisoned(static_cast<std::size_t>(seqs * ld_out) * 2);
  cuda::gather_first_rows(dt, d_x.get(), ld_x, d_cu.get<int32_t>(), seqs, cols, out.get(), ld_out,
                          c.s());
  return c.download_dt(dt, out, static_cast<std::size_t>(seqs * ld_out));
}

std::vector<float> mean_pool(DType dt, const std::vector<float>& x, int64_t ld_x,
                             const std::vector<int32_t>& cu, int64_t cols, int64_t ld_out) {
  Ctx c;
  DeviceBuffer d_x = c.upload_dt(dt, x), d_cu = c.upload(cu);
  const int64_t seqs = static_cast<int64_t>(cu.size()) - 1;
  DeviceBuffer out = c.poisoned(static_cast<std::size_t>(seqs * ld_out) * 4);
  cuda::mean_pool(dt, d_x.get(), ld_x, d_cu.get<int32_t>(), seqs, cols, out.get<float>(), ld_out,
                  c.s());
  return c.download_f32(out, static_cast<std::size_t>(seqs * ld_out));
}

std::vector<float> rows_to_f32(DType dt, const std::vector<float>& x, int64_t ld_x, int64_t rows,
                               int64_t cols, int64_t ld_out) {
  Ctx c;
  DeviceBuffer d_x = c.upload_dt(dt, x);
  DeviceBuffer out = c.poisoned(static_cast<std::size_t>(rows * ld_out) * 4);
  cuda::rows_to_f32(dt, d_x.get(), ld_x, rows, cols, out.get<float>(), ld_out, c.s());
  return c.download_f32(out, static_cast<std::size_t>(rows * ld_out));
}

std::vector<float> classifier_out(DType dt, const std::vector<float>& x, int64_t ld_x,
                                  const std::vector<float>& w, const std::vector<float>& bias,
                                  int64_t rows, int64_t labels, int64_t cols) {
  Ctx c;
  DeviceBuffer d_x = c.upload_dt(dt, x), d_w = c.upload(w), d_bias = c.upload(bias);
  DeviceBuffer out = c.poisoned(static_cast<std::size_t>(rows * labels) * 4);
  cuda::classifier_out(dt, d_x.get(), ld_x, d_w.get<float>(), opt(d_bias, bias), rows, labels, cols,
                       out.get<float>(), c.s());
  return c.download_f32(out, static_cast<std::size_t>(rows * labels));
}

std::vector<float> softmax_rows(const std::vector<float>& x, int64_t ld, int64_t rows,
                                int64_t cols) {
  Ctx c;
  DeviceBuffer d_x = c.upload(x);
  cuda::softmax_rows(d_x.get<float>(), ld, rows, cols, c.s());
  return c.download_f32(d_x, x.size());
}

std::vector<float> sigmoid_rows(const std::vector<float>& x, int64_t ld, int64_t rows,
                                int64_t cols) {
  Ctx c;
  DeviceBuffer d_x = c.upload(x);
  cuda::sigmoid_rows(d_x.get<float>(), ld, rows, cols, c.s());
  return c.download_f32(d_x, x.size());
}

}  // namespace sluice::cuda::opcheck
