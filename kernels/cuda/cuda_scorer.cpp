// The CUDA scorer (see cuda_scorer.h). Host code: CUDA runtime and cuBLAS
// calls through handles.h, kernels through the topk.cuh launchers.
#include "kernels/cuda/cuda_scorer.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/handles.h"
#include "kernels/cuda/topk.cuh"

namespace sluice::cuda {
namespace {

constexpr int64_t kMinTile = 4096;
constexpr std::size_t kReserveBytes = 256u << 20;  // context, kernels, cuBLAS internals

std::string mib(std::size_t bytes) {
  return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB";
}

template <class T>
T* ptr(const DeviceBuffer& b) {
  return b.get<T>();
}

class CudaScorer final : public engine::Scorer {
 public:
  CudaScorer(const float* items, int64_t n, int64_t dim, const engine::ScorerOptions& o, int device)
      : n_(n),
        dim_(dim),
        max_k_(o.max_k),
        rows_(std::clamp<int64_t>(o.max_rows, 1, 4096)),
        device_(device) {
    if (max_k_ < 1 || max_k_ > kTopkMaxK)
      throw std::invalid_argument("cuda scorer: max_k must be in [1, " + std::to_string(kTopkMaxK) +
                                  "]");
    DeviceGuard guard(device);  // every CUDA object below belongs to `device`
    try {
      build(items, o);
    } catch (...) {
      release();  // while `device` is still current
      throw;
    }
  }

  ~CudaScorer() override {
    try {
      DeviceGuard guard(device_);
      cudaStreamSynchronize(stream_.get());
      release();
    } catch (const CudaError&) {
      release();
    }
  }

  std::string_view kind() const override { return "cuda"; }
  std::string device_name() const override { return name_; }
  int64_t num_items() const override { return n_; }
  int64_t dim() const override { return dim_; }
  std::size_t memory_bytes() const override {
    return weight_bytes_ + scores_.bytes() + cand_s_.bytes() + cand_i_.bytes() + run_s_.bytes() +
           run_i_.bytes() + queries_.bytes() + offsets_.bytes() + ex_.bytes();
  }

  engine::ScoreTimes top_k(const engine::ScoreQueries& q, int64_t k,
                           const engine::TopKOut& out) override {
    if (std::string why = engine::check_queries(q, k, out, n_, dim_, max_k_); !why.empty())
      throw std::invalid_argument("cuda scorer: " + why);
    DeviceGuard guard(device_);
    engine::ScoreTimes times;
    const cudaStream_t st = stream_.get();
    for (int64_t r0 = 0; r0 < q.rows; r0 += rows_) {
      const int64_t m = std::min(rows_, q.rows - r0);
      // Inputs of this chunk: queries, and exclusions rebased to the chunk.
      std::memcpy(h_queries_.get(), q.queries.data() + r0 * dim_, sizeof(float) * m * dim_);
      const int32_t ex0 = q.exclude_offsets[r0];
      auto* offs = h_offsets_.get<int32_t>();
      for (int64_t r = 0; r <= m; ++r) offs[r] = q.exclude_offsets[r0 + r] - ex0;
      const std::size_t n_ex = static_cast<std::size_t>(offs[m]);
      if (n_ex * sizeof(int32_t) > h_ex_.bytes()) {
        const std::size_t cap = std::max<std::size_t>(n_ex * sizeof(int32_t) * 2, 1 << 16);
        h_ex_ = PinnedBuffer(cap, "recommend exclusions (host)");
        ex_ = DeviceBuffer(cap, "recommend exclusions");
      }
      if (n_ex) std::memcpy(h_ex_.get(), q.exclude.data() + ex0, n_ex * sizeof(int32_t));
      SLUICE_CUDA_CHECK(cudaMemcpyAsync(queries_.get(), h_queries_.get(), sizeof(float) * m * dim_,
                                        cudaMemcpyHostToDevice, st),
                        "upload queries");
      SLUICE_CUDA_CHECK(cudaMemcpyAsync(offsets_.get(), h_offsets_.get(), sizeof(int32_t) * (m + 1),
                                        cudaMemcpyHostToDevice, st),
                        "upload exclusions");
      if (n_ex)
        SLUICE_CUDA_CHECK(cudaMemcpyAsync(ex_.get(), h_ex_.get(), n_ex * sizeof(int32_t),
                                          cudaMemcpyHostToDevice, st),
                          "upload exclusions");
      SLUICE_CUDA_CHECK(cudaEventRecord(events_[0].get(), st), "time");
      size_t e = 1;
      for (int64_t b = 0; b < n_; b += tile_, e += 2) {
        const int64_t size = std::min(tile_, n_ - b);
        gemm(b, size, m);
        SLUICE_CUDA_CHECK(cudaEventRecord(events_[e].get(), st), "time");
        topk_mask(ptr<float>(scores_), tile_, m, ptr<int32_t>(offsets_), ptr<int32_t>(ex_), b, size,
                  st);
        topk_tile(ptr<float>(scores_), tile_, m, size, b, k, ptr<float>(cand_s_),
                  ptr<int32_t>(cand_i_), cand_ld_, ptr<float>(run_s_), ptr<int32_t>(run_i_), b == 0,
                  st);
        SLUICE_CUDA_CHECK(cudaEventRecord(events_[e + 1].get(), st), "time");
      }
      SLUICE_CUDA_CHECK(cudaMemcpyAsync(h_run_s_.get(), run_s_.get(), sizeof(float) * m * k,
                                        cudaMemcpyDeviceToHost, st),
                        "download top-k");
      SLUICE_CUDA_CHECK(cudaMemcpyAsync(h_run_i_.get(), run_i_.get(), sizeof(int32_t) * m * k,
                                        cudaMemcpyDeviceToHost, st),
                        "download top-k");
      SLUICE_CUDA_CHECK(cudaStreamSynchronize(st), "score batch");
      std::memcpy(out.scores.data() + r0 * k, h_run_s_.get(), sizeof(float) * m * k);
      std::memcpy(out.items.data() + r0 * k, h_run_i_.get(), sizeof(int32_t) * m * k);
      for (size_t t = 1; t + 1 < events_.size(); t += 2) {
        float g = 0, sel = 0;
        SLUICE_CUDA_CHECK(cudaEventElapsedTime(&g, events_[t - 1].get(), events_[t].get()), "time");
        SLUICE_CUDA_CHECK(cudaEventElapsedTime(&sel, events_[t].get(), events_[t + 1].get()),
                          "time");
        times.gemm_ns += static_cast<int64_t>(static_cast<double>(g) * 1e6);
        times.topk_ns += static_cast<int64_t>(static_cast<double>(sel) * 1e6);
      }
    }
    return times;
  }

 private:
  // Everything the constructor sets up on the device (current on entry).
  void build(const float* items, const engine::ScorerOptions& o) {
    const int64_t n = n_, dim = dim_;
    cudaDeviceProp prop{};
    SLUICE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_), "query device");
    name_ = std::string(prop.name) + " (cuda:" + std::to_string(device_) + ", sm_" +
            std::to_string(prop.major) + std::to_string(prop.minor) +
            ", fp32 cuBLAS + top-k kernel)";
    const int64_t by_budget = static_cast<int64_t>(o.memory_budget_bytes / (sizeof(float) * rows_));
    tile_ = std::min(n, std::max(kMinTile, by_budget));
    cand_ld_ = topk_candidates(tile_, max_k_);

    const std::size_t item_bytes = sizeof(float) * static_cast<std::size_t>(n * dim);
    const std::size_t ws = sizeof(float) * static_cast<std::size_t>(rows_) *
                               static_cast<std::size_t>(tile_ + dim + 2 * cand_ld_ + 2 * max_k_) +
                           sizeof(int32_t) * static_cast<std::size_t>(rows_ + 1);
    std::size_t free_bytes = 0, total_bytes = 0;
    SLUICE_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes), "query device memory");
    const std::size_t need = item_bytes + ws + CublasHandle::kWorkspaceBytes + kReserveBytes;
    if (need > free_bytes)
      throw std::runtime_error("cuda scorer on " + name_ + ": not enough device memory: needs " +
                               mib(need) + " (item matrix " + mib(item_bytes) + " + workspaces " +
                               mib(ws) + " for max_rows=" + std::to_string(rows_) + " and a " +
                               mib(o.memory_budget_bytes) + " score budget), " + mib(free_bytes) +
                               " of " + mib(total_bytes) + " free");
    stream_ = Stream("recommend scorer stream");
    cublas_ = CublasHandle(stream_.get(), "recommend scorer cuBLAS handle");
    items_ = DeviceBuffer(item_bytes, "recommend item matrix");
    SLUICE_CUDA_CHECK(cudaMemcpy(items_.get(), items, item_bytes, cudaMemcpyHostToDevice),
                      "upload items");
    queries_ = DeviceBuffer(sizeof(float) * rows_ * dim, "recommend queries");
    scores_ = DeviceBuffer(sizeof(float) * rows_ * tile_, "recommend score tile");
    cand_s_ = DeviceBuffer(sizeof(float) * rows_ * cand_ld_, "recommend top-k candidates");
    cand_i_ = DeviceBuffer(sizeof(int32_t) * rows_ * cand_ld_, "recommend top-k candidates");
    run_s_ = DeviceBuffer(sizeof(float) * rows_ * max_k_, "recommend top-k");
    run_i_ = DeviceBuffer(sizeof(int32_t) * rows_ * max_k_, "recommend top-k");
    offsets_ = DeviceBuffer(sizeof(int32_t) * (rows_ + 1), "recommend exclusions");
    h_queries_ = PinnedBuffer(sizeof(float) * rows_ * dim, "recommend queries (host)");
    h_offsets_ = PinnedBuffer(sizeof(int32_t) * (rows_ + 1), "recommend exclusions (host)");
    h_run_s_ = PinnedBuffer(sizeof(float) * rows_ * max_k_, "recommend top-k (host)");
    h_run_i_ = PinnedBuffer(sizeof(int32_t) * rows_ * max_k_, "recommend top-k (host)");
    // Two per tile (after its GEMM, after its top-k) and one before the first.
    const int64_t tiles = (n_ + tile_ - 1) / tile_;
    for (int64_t i = 0; i < 2 * tiles + 1; ++i)
      events_.emplace_back(cudaEventDefault, "recommend timing");
    weight_bytes_ = item_bytes;
  }

  // scores[m, size] (row stride tile_) = queries[m, dim] · items[b .. b+size)ᵀ.
  void gemm(int64_t b, int64_t size, int64_t m) {
    // Column-major view (as gemm.cpp): scoresᵀ [size, m] = items_tile (op T of
    // the column-major [dim, size]) · queriesᵀ [dim, m].
    const float alpha = 1.f, beta = 0.f;
    SLUICE_CUDA_CHECK(
        cublasGemmEx(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(size),
                     static_cast<int>(m), static_cast<int>(dim_), &alpha,
                     ptr<float>(items_) + b * dim_, CUDA_R_32F, static_cast<int>(dim_),
                     ptr<float>(queries_), CUDA_R_32F, static_cast<int>(dim_), &beta,
                     ptr<float>(scores_), CUDA_R_32F, static_cast<int>(tile_), CUBLAS_COMPUTE_32F,
                     CUBLAS_GEMM_DEFAULT),
        "recommend scores (GEMM)");
  }

  void release() {
    h_queries_ = {};
    h_offsets_ = {};
    h_ex_ = {};
    h_run_s_ = {};
    h_run_i_ = {};
    items_ = {};
    queries_ = {};
    scores_ = {};
    cand_s_ = {};
    cand_i_ = {};
    run_s_ = {};
    run_i_ = {};
    offsets_ = {};
    ex_ = {};
    events_.clear();
    cublas_ = {};
    stream_ = {};
  }

  int64_t n_, dim_, max_k_, rows_;
  int device_;
  std::string name_;
  int64_t tile_ = 0, cand_ld_ = 0;
  std::size_t weight_bytes_ = 0;
  Stream stream_;
  CublasHandle cublas_;
  DeviceBuffer items_, queries_, scores_, cand_s_, cand_i_, run_s_, run_i_, offsets_, ex_;
  PinnedBuffer h_queries_, h_offsets_, h_ex_, h_run_s_, h_run_i_;
  std::vector<Event> events_;
};

}  // namespace

std::unique_ptr<engine::Scorer> make_cuda_scorer(const float* items, int64_t num_items, int64_t dim,
                                                 const engine::ScorerOptions& options, int device) {
  if (num_items < 1 || num_items > 0x7fffffff || dim < 1 || dim > 0x7fffffff)
    throw std::invalid_argument("cuda scorer: need 1 <= items < 2^31 and dim >= 1");
  return std::make_unique<CudaScorer>(items, num_items, dim, options, device);
}

}  // namespace sluice::cuda
