// The CUDA backend (see cuda_backend.h).
//
// Slots: max_in_flight of them, each with a stream, a cuBLAS handle, start
// and done events, pinned staging for inputs and outputs, and a device
// workspace; the ticket protocol is engine::TicketRing's. submit() claims the
// next slot (blocking while its previous ticket is outstanding), fills its
// pinned inputs, enqueues H2D → forward (eager or a replayed CUDA graph) → D2H
// → done event, and publishes it. Slots run on their own streams, so batch
// N+1's copies and kernels overlap batch N's. The completion thread waits on
// the done events in ticket order (blocking sync: no spinning while the GPU
// works), copies the pinned outputs into the caller's spans, and completes the
// ticket (its callback runs, or wait() returns).
#include "kernels/cuda/cuda_backend.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "kernels/cuda/cuda_encoder.h"
#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/handles.h"
#include "kernels/cuda/round_robin_backend.h"
#include "kernels/cuda/shape_buckets.h"
#include "src/engine/ticket_ring.h"

namespace sluice::cuda {
namespace {

using engine::BatchResult;
using engine::CompletionCallback;
using engine::EncoderBatch;
using engine::EncoderOutputs;
using engine::Ticket;

constexpr std::size_t kReserveBytes = 256u << 20;  // CUDA context, kernels, cuBLAS internals
constexpr std::size_t kMaxGraphsPerSlot = 32;

std::string mib(std::size_t bytes) {
  return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB";
}

struct GraphKey {
  int64_t tokens = 0, records = 0, max_seqlen = 0;
  bool pooled = false;
  bool operator==(const GraphKey&) const = default;
};

struct GraphEntry {
  GraphKey key;
  GraphExec exec;  // empty until the key is seen a second time
  uint64_t last_use = 0;
};

class CudaBackend final : public engine::Backend {
 public:
  CudaBackend(const engine::ModelConfig& config, const engine::EncoderWeights& weights,
              const engine::BackendOptions& options, int device)
      : config_(config),
        dt_(parse_dtype(options.dtype)),
        device_(device),
        pooling_(options.pooling),
        graphs_(options.cuda_graphs),
        ring_("cuda backend", static_cast<std::size_t>(std::max(1, options.max_in_flight))) {
    DeviceGuard guard(device);  // every CUDA object below belongs to `device`
    try {
      build(weights, options);
    } catch (...) {
      release();  // while `device` is still current
      throw;
    }
    completer_ = std::thread([this] { complete_loop(); });
  }

  ~CudaBackend() override {
    ring_.stop();  // the completion thread finishes what was submitted, then returns
    completer_.join();
    // Every submitted batch has been waited for; free on the right device.
    try {
      DeviceGuard guard(device_);
      release();
    } catch (const CudaError&) {
      release();
    }
  }

  std::string_view kind() const override { return "cuda"; }

  std::string device_name() const override {
    return name_ + " (cuda:" + std::to_string(device_) + ", " + sm_ + ", " + dtype_name(dt_) +
           ", " + std::to_string(slots_.size()) + " streams" + (graphs_ ? ", CUDA graphs" : "") +
           ")";
  }

  const engine::ModelConfig& config() const override { return config_; }

  engine::MemoryUsage memory_usage() const override {
    engine::MemoryUsage m;
    m.weights_bytes = weight_bytes_;
    m.workspace_bytes = workspace_bytes_.load(std::memory_order_relaxed);
    try {
      DeviceGuard g(device_);
      std::size_t free_bytes = 0, total_bytes = 0;
      if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
        m.device_total_bytes = total_bytes;
        m.device_free_bytes = free_bytes;
      } else {
        cudaGetLastError();
      }
    } catch (const CudaError&) {
      // A gauge read on a failed device reports 0 rather than throwing into
      // the metrics thread; batches report the fault itself.
    }
    return m;
  }

  Ticket submit(const EncoderBatch& batch, const EncoderOutputs& out,
                CompletionCallback on_done) override {
    if (std::string why = engine::check_batch(batch, out, config_); !why.empty())
      throw std::invalid_argument("cuda backend: bad batch: " + why);
    const Ticket t = ring_.claim(on_done);
    Slot& s = slot(t);
    // The slot is ours until it is published: its stream is idle (its previous
    // ticket completed) and the completion thread ignores it.
    s.out = out;
    s.records = batch.records();
    s.error.clear();
    try {
      DeviceGuard g(device_);
      enqueue(s, batch);
    } catch (const std::exception& e) {
      s.error = e.what();
    }
    ring_.publish(t);
    return t;
  }

  bool poll(Ticket t) override { return ring_.poll(t); }

  BatchResult wait(Ticket t) override { return ring_.wait(t); }

 private:
  // Everything the constructor sets up on the device (current on entry).
  void build(const engine::EncoderWeights& weights, const engine::BackendOptions& options) {
    const engine::ModelConfig& config = config_;
    const int device = device_;
    if (options.max_in_flight < 1)
      throw std::invalid_argument("cuda backend: max_in_flight must be at least 1");
    if (options.max_batch_tokens < 1 || options.max_batch_records < 1)
      throw std::invalid_argument(
          "cuda backend: max_batch_tokens and max_batch_records must be at least 1");
    cudaDeviceProp prop{};
    SLUICE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device), "query device");
    if (prop.major < kMinComputeMajor)
      throw std::runtime_error(where() + ": " + prop.name + " is sm_" + std::to_string(prop.major) +
                               std::to_string(prop.minor) +
                               "; the CUDA backend needs sm_80 or newer");
    name_ = prop.name;
    sm_ = "sm_" + std::to_string(prop.major) + std::to_string(prop.minor);

    const int64_t cap_tokens =
        graphs_ ? token_bucket(options.max_batch_tokens) : options.max_batch_tokens;
    const int64_t cap_records =
        graphs_ ? record_bucket(options.max_batch_records) : options.max_batch_records;
    const auto slots = static_cast<std::size_t>(options.max_in_flight);
    const std::size_t weights_need = CudaEncoder::weight_bytes_needed(config);
    const std::size_t ws_need = CudaEncoder::workspace_bytes(config, cap_tokens, cap_records);
    const std::size_t need =
        weights_need + slots * (ws_need + CublasHandle::kWorkspaceBytes) + kReserveBytes;
    std::size_t free_bytes = 0, total_bytes = 0;
    SLUICE_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes), "query device memory");
    if (need > free_bytes) {
      throw std::runtime_error(
          where() + " (" + name_ + "): not enough device memory: needs " + mib(need) +
          " (weights " + mib(weights_need) + " + " + std::to_string(slots) +
          " in-flight slots × (workspace " + mib(ws_need) +
          " for max_batch_tokens=" + std::to_string(options.max_batch_tokens) +
          ", max_batch_records=" + std::to_string(options.max_batch_records) + " + cuBLAS " +
          mib(CublasHandle::kWorkspaceBytes) + ") + " + mib(kReserveBytes) + " reserve), " +
          mib(free_bytes) + " of " + mib(total_bytes) +
          " free; lower max_batch_tokens or max_in_flight, or use a smaller model");
    }

    encoder_ = std::make_unique<CudaEncoder>(config, weights, dt_, pooling_);
    weight_bytes_ = encoder_->weight_bytes();
    slots_.reserve(slots);
    for (std::size_t i = 0; i < slots; ++i) {
      auto s = std::make_unique<Slot>();
      s->stream = Stream("create stream");
      s->start = Event(cudaEventDefault, "create event");
      s->done = Event(cudaEventBlockingSync, "create event");
      s->blas = CublasHandle(s->stream.get(), "create cuBLAS handle");
      allocate(*s, cap_tokens, cap_records);
      slots_.push_back(std::move(s));
    }
    SLUICE_CUDA_CHECK(cudaDeviceSynchronize(), "initialise workspaces");
    update_workspace_bytes();
  }

  void release() {
    slots_.clear();
    encoder_.reset();
  }

  struct Slot {
    Stream stream;
    Event start, done;
    CublasHandle blas;
    DeviceBuffer workspace;
    EncoderBuffers buffers;
    PinnedBuffer in, out_staging;
    int64_t cap_tokens = 0, cap_records = 0;
    std::vector<GraphEntry> graphs;
    uint64_t uses = 0;

    // The batch in flight.
    EncoderOutputs out;
    int64_t records = 0;
    std::string error;  // set when enqueueing failed
  };

  std::string where() const { return "cuda backend on cuda:" + std::to_string(device_); }

  Slot& slot(Ticket t) { return *slots_[ring_.slot(t)]; }

  // (Re)allocates a slot's workspace and staging for the given capacity. On
  // failure (out of memory) throws and leaves the slot as it was.
  void allocate(Slot& s, int64_t tokens, int64_t records) {
    const std::size_t ws_bytes = CudaEncoder::workspace_bytes(config_, tokens, records);
    DeviceBuffer ws(ws_bytes, "allocate workspace");
    PinnedBuffer in(static_cast<std::size_t>(2 * tokens + records + 1) * sizeof(int32_t),
                    "allocate pinned inputs");
    PinnedBuffer out(
        static_cast<std::size_t>(records * (config_.num_labels + config_.hidden_size)) *
            sizeof(float),
        "allocate pinned outputs");
    // Zeroed once, so rows a bucketed launch computes but no sequence owns
    // start finite and stay finite.
    SLUICE_CUDA_CHECK(cudaMemsetAsync(ws.get(), 0, ws_bytes, s.stream.get()), "allocate workspace");
    s.workspace = std::move(ws);
    s.in = std::move(in);
    s.out_staging = std::move(out);
    s.buffers = CudaEncoder::carve(s.workspace.get(), config_, tokens, records);
    s.cap_tokens = tokens;
    s.cap_records = records;
    s.graphs.clear();  // captured pointers are stale
  }

  void update_workspace_bytes() {
    std::size_t total = 0;
    for (const auto& s : slots_) total += s->workspace.bytes();
    workspace_bytes_.store(total, std::memory_order_relaxed);
  }

  void enqueue(Slot& s, const EncoderBatch& batch) {
    const int64_t T = batch.tokens(), B = batch.records();
    ForwardShape shape;
    shape.tokens = graphs_ ? token_bucket(T) : T;
    shape.records = graphs_ ? record_bucket(B) : B;
    // max_seqlen only sizes the attention grid: an over-generous caller value
    // is clamped to what check_batch allows any record to be.
    const int64_t longest = std::min<int64_t>(batch.max_seqlen, config_.max_sequence_length());
    shape.max_seqlen = graphs_ ? seqlen_bucket(longest) : longest;
    shape.pooled = !s.out.pooled.empty();
    if (shape.tokens > s.cap_tokens || shape.records > s.cap_records) {
      // A batch over the configured budget: grow this slot once (its stream
      // is idle). Out of memory here fails this ticket, not the process.
      allocate(s, std::max(shape.tokens, s.cap_tokens), std::max(shape.records, s.cap_records));
      update_workspace_bytes();
    }

    // Pinned inputs: ids, position ids, cu_seqlens, each padded to the launch size.
    int32_t* ids = s.in.get<int32_t>();
    int32_t* pos = ids + s.cap_tokens;
    int32_t* cu = pos + s.cap_tokens;
    std::memcpy(ids, batch.token_ids.data(), sizeof(int32_t) * static_cast<std::size_t>(T));
    std::fill(ids + T, ids + shape.tokens, 0);  // valid rows for the padding tokens
    engine::position_ids(config_, batch.token_ids.data(), batch.cu_seqlens.data(), B, pos);
    std::fill(pos + T, pos + shape.tokens, 0);
    std::memcpy(cu, batch.cu_seqlens.data(), sizeof(int32_t) * static_cast<std::size_t>(B + 1));
    std::fill(cu + B + 1, cu + shape.records + 1,
              static_cast<int32_t>(T));  // empty padding sequences

    cudaStream_t st = s.stream.get();
    const char* op = "submit batch";
    SLUICE_CUDA_CHECK(cudaEventRecord(s.start.get(), st), op);
    SLUICE_CUDA_CHECK(cudaMemcpyAsync(s.buffers.ids, ids, sizeof(int32_t) * shape.tokens,
                                      cudaMemcpyHostToDevice, st),
                      op);
    SLUICE_CUDA_CHECK(cudaMemcpyAsync(s.buffers.position_ids, pos, sizeof(int32_t) * shape.tokens,
                                      cudaMemcpyHostToDevice, st),
                      op);
    SLUICE_CUDA_CHECK(
        cudaMemcpyAsync(s.buffers.cu_seqlens, cu, sizeof(int32_t) * (shape.records + 1),
                        cudaMemcpyHostToDevice, st),
        op);
    if (graphs_) {
      run_graph(s, shape);
    } else {
      encoder_->enqueue(s.buffers, shape, st, s.blas.get());
    }
    float* staged = s.out_staging.get<float>();
    const std::size_t logits = static_cast<std::size_t>(B * config_.num_labels);
    SLUICE_CUDA_CHECK(cudaMemcpyAsync(staged, s.buffers.logits, sizeof(float) * logits,
                                      cudaMemcpyDeviceToHost, st),
                      op);
    if (shape.pooled) {
      SLUICE_CUDA_CHECK(
          cudaMemcpyAsync(staged + logits, s.buffers.pooled,
                          sizeof(float) * B * config_.hidden_size, cudaMemcpyDeviceToHost, st),
          op);
    }
    SLUICE_CUDA_CHECK(cudaEventRecord(s.done.get(), st), op);
  }

  // Replays the graph of this shape; captures it on the shape's second
  // sighting (one-off shapes run eagerly and cost no capture; the eager run
  // also loads every kernel before any capture).
  void run_graph(Slot& s, const ForwardShape& shape) {
    const GraphKey key{shape.tokens, shape.records, shape.max_seqlen, shape.pooled};
    cudaStream_t st = s.stream.get();
    auto it = std::find_if(s.graphs.begin(), s.graphs.end(),
                           [&](const GraphEntry& e) { return e.key == key; });
    if (it == s.graphs.end()) {
      if (s.graphs.size() >= kMaxGraphsPerSlot) {
        s.graphs.erase(std::min_element(
            s.graphs.begin(), s.graphs.end(),
            [](const GraphEntry& a, const GraphEntry& b) { return a.last_use < b.last_use; }));
      }
      s.graphs.push_back(GraphEntry{key, GraphExec{}, ++s.uses});
      encoder_->enqueue(s.buffers, shape, st, s.blas.get());
      return;
    }
    it->last_use = ++s.uses;
    if (!it->exec) {
      const char* op = "capture CUDA graph";
      SLUICE_CUDA_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal), op);
      cudaGraph_t graph = nullptr;
      try {
        encoder_->enqueue(s.buffers, shape, st, s.blas.get());
      } catch (...) {
        cudaStreamEndCapture(st, &graph);
        if (graph) cudaGraphDestroy(graph);
        throw;
      }
      SLUICE_CUDA_CHECK(cudaStreamEndCapture(st, &graph), op);
      cudaGraphExec_t exec = nullptr;
      const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      check(err, "cudaGraphInstantiate", op);
      it->exec = GraphExec(exec);
    }
    SLUICE_CUDA_CHECK(cudaGraphLaunch(it->exec.get(), st), "replay CUDA graph");
  }

  void complete_loop() {
    try {
      SLUICE_CUDA_CHECK(cudaSetDevice(device_), "completion thread");
    } catch (const CudaError&) {
      // Every wait below then fails and reports the error per ticket.
    }
    for (Ticket t = 1; ring_.wait_published(t); ++t) {
      Slot& s = slot(t);
      BatchResult r;
      if (!s.error.empty()) {
        cudaStreamSynchronize(s.stream.get());  // let whatever was enqueued drain
        cudaGetLastError();
        r.ok = false;
        r.error = where() + ": " + s.error;
      } else if (const cudaError_t err = cudaEventSynchronize(s.done.get()); err != cudaSuccess) {
        cudaGetLastError();
        r.ok = false;
        r.error = where() + ": batch failed on the device: " + cudaGetErrorName(err) + " (" +
                  cudaGetErrorString(err) + ")";
      } else {
        float ms = 0.f;
        if (cudaEventElapsedTime(&ms, s.start.get(), s.done.get()) == cudaSuccess) {
          r.compute_ns = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(ms) * 1e6));
        } else {
          cudaGetLastError();
        }
        const float* staged = s.out_staging.get<float>();
        const std::size_t logits = static_cast<std::size_t>(s.records * config_.num_labels);
        std::memcpy(s.out.logits.data(), staged, sizeof(float) * logits);
        if (!s.out.pooled.empty())
          std::memcpy(s.out.pooled.data(), staged + logits,
                      sizeof(float) * s.records * config_.hidden_size);
      }

      ring_.complete(t, std::move(r));
    }
  }

  const engine::ModelConfig config_;
  const DType dt_;
  const int device_;
  const engine::Pooling pooling_;
  const bool graphs_;
  std::string name_, sm_;
  std::unique_ptr<CudaEncoder> encoder_;
  std::size_t weight_bytes_ = 0;
  std::atomic<std::size_t> workspace_bytes_{0};
  engine::TicketRing ring_;
  std::vector<std::unique_ptr<Slot>> slots_;  // by ring_.slot(ticket), as many as ring_.slots()
  std::thread completer_;
};

}  // namespace

std::unique_ptr<engine::Backend> make_cuda_backend(const engine::ModelConfig& config,
                                                   const engine::EncoderWeights& weights,
                                                   const engine::BackendOptions& options,
                                                   int device) {
  int count = 0;
  if (const cudaError_t err = cudaGetDeviceCount(&count); err != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string("cuda backend: no usable CUDA device: ") +
                             cudaGetErrorString(err));
  }
  if (device < 0 || device >= count)
    throw std::runtime_error("cuda backend: no device cuda:" + std::to_string(device) + " (" +
                             std::to_string(count) + " found)");
  try {
    return std::make_unique<CudaBackend>(config, weights, options, device);
  } catch (const CudaError& e) {
    throw std::runtime_error(
        "cuda backend on cuda:" + std::to_string(device) + ": start-up failed: " + e.what() +
        (e.out_of_memory() ? "; lower max_batch_tokens or max_in_flight" : ""));
  }
}

std::unique_ptr<engine::Backend> make_cuda_backends(const engine::ModelConfig& config,
                                                    const engine::EncoderWeights& weights,
                                                    const engine::BackendOptions& options,
                                                    const std::vector<int>& devices) {
  if (devices.empty()) throw std::invalid_argument("cuda backend: no devices given");
  for (size_t i = 0; i < devices.size(); ++i)
    for (size_t j = i + 1; j < devices.size(); ++j)
      if (devices[i] == devices[j])
        throw std::invalid_argument("cuda backend: device " + std::to_string(devices[i]) +
                                    " listed twice");
  if (devices.size() == 1) return make_cuda_backend(config, weights, options, devices.front());
  std::vector<std::unique_ptr<engine::Backend>> inner;
  for (int d : devices) inner.push_back(make_cuda_backend(config, weights, options, d));
  const int per_device = std::max(1, options.max_in_flight);
  return make_round_robin_backend(std::move(inner), per_device * static_cast<int>(devices.size()));
}

}  // namespace sluice::cuda
