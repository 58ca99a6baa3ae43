// The compute backend interface: what the infer stage drives, implemented by
// the CPU backend (kernels/cpu) and the CUDA backend (kernels/cuda).
//
// Life cycle: a backend is built from a loaded model (weights are packed or
// uploaded once, at construction); then batches are submitted and completed.
// Inputs and outputs are plain views, independent of the runtime's record
// types, and no backend type (CUDA or other) appears here.
//
// Asynchrony: submit() enqueues a forward and returns a Ticket at once (it
// blocks only while max_in_flight tickets are outstanding: backpressure).
// Tickets complete in submit order. Each ticket is retired exactly once:
//   - by wait(ticket), which blocks until it completes and returns its result, or
//   - by its CompletionCallback, if one was given to submit(), which the
//     backend calls on its own thread when the outputs are written.
// poll(ticket) tells, without blocking or retiring, whether it has completed.
// The batch's spans and the output spans must stay valid until completion.
//
// Threading: submit/poll/wait may be called from one thread at a time (the
// infer stage's); callbacks arrive on a backend thread and must be short and
// must not call submit() or wait().
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/engine/model_config.h"

namespace sluice::engine {

// A packed, padding-free batch (DESIGN.md §4).
struct EncoderBatch {
  std::span<const int32_t> token_ids;   // every record's ids, concatenated
  std::span<const int32_t> cu_seqlens;  // records + 1 offsets: [0] = 0, back() = token_ids.size()
  int32_t max_seqlen = 0;               // the longest record's length

  int64_t records() const {
    return cu_seqlens.empty() ? 0 : static_cast<int64_t>(cu_seqlens.size()) - 1;
  }
  int64_t tokens() const { return static_cast<int64_t>(token_ids.size()); }
};

// Caller-owned outputs of one batch.
struct EncoderOutputs {
  std::span<float> logits;  // records × num_labels, row-major
  std::span<float> pooled;  // records × hidden_size, or empty to skip
};

// What EncoderOutputs::pooled holds.
enum class Pooling : uint8_t {
  kHead,        // the classifier head's hidden vector: BERT's pooler_output,
                // DistilBERT's relu(pre_classifier(h0)), RoBERTa's tanh(dense(h0))
  kFirstToken,  // h0, the final hidden state of [CLS] / <s>
  kMean,        // mean of the final hidden states over the sequence
};

using Ticket = uint64_t;

struct BatchResult {
  bool ok = true;
  std::string error;       // why, when !ok (a backend fault, not a bad record)
  int64_t compute_ns = 0;  // time the backend spent on this batch
};

// Called once, on a backend thread, when a ticket completes.
struct CompletionCallback {
  void (*fn)(void* ctx, Ticket ticket, const BatchResult& result) = nullptr;
  void* ctx = nullptr;
  explicit operator bool() const { return fn != nullptr; }
};

struct MemoryUsage {
  std::size_t weights_bytes = 0;       // packed / uploaded weights
  std::size_t workspace_bytes = 0;     // activations and scratch, at their current size
  std::size_t device_total_bytes = 0;  // accelerator memory (0 for the CPU)
  std::size_t device_free_bytes = 0;
};

// Numeric mode of the encoder's matrix products.
enum class Precision : uint8_t {
  kF32,   // default: fp32 throughout; logits match PyTorch fp32 within 1e-4
  kBF16,  // opt-in: weights and GEMM inputs in bfloat16 (AMX on the CPU), fp32
          // accumulation, norms and softmax; logits within ~5e-2 of fp32
  kInt8,  // CPU: dynamic int8 quantization of the encoder layers' GEMMs (per-token
          // input scales, per-output-channel weight scales, s32 accumulation); the
          // classifier head, norms, attention and softmax stay fp32
  kAuto,  // the fastest mode that keeps accuracy (within 0.5 point of TweetEval macro
          // recall on the shipped tweet model, models/sentiment-tweet-small/README.md):
          // kInt8 where oneDNN has VNNI or AMX, else kF32 (effective_precision)
};

// "fp32", "bf16", "int8", "auto": the spelling of the infer stage's precision key and
// of `sluice classify --precision`.
inline const char* precision_name(Precision p) {
  return p == Precision::kBF16   ? "bf16"
         : p == Precision::kInt8 ? "int8"
         : p == Precision::kAuto ? "auto"
                                 : "fp32";
}
// The inverse of precision_name; false (and *out untouched) for anything else.
inline bool parse_precision(std::string_view s, Precision* out) {
  for (Precision p : {Precision::kF32, Precision::kBF16, Precision::kInt8, Precision::kAuto})
    if (s == precision_name(p)) return *out = p, true;
  return false;
}

struct BackendOptions {
  std::string device = "auto";  // "cpu", "cuda", "cuda:N" or "auto" (CUDA if usable, else CPU)
  int threads = 0;  // CPU compute threads; 0 = every CPU the process may use (core::available_cpus)
  // Workspaces are sized for these at construction, so steady-state batches
  // allocate nothing; a larger batch grows them once.
  int64_t max_batch_tokens = 4096;
  int64_t max_batch_records = 128;
  int max_in_flight = 2;  // tickets submitted and not yet retired
  Pooling pooling = Pooling::kHead;
  // CUDA only (the CPU backend computes in fp32 and ignores these):
  std::string dtype = "fp16";  // weights and activations: "fp16" or "bf16" (fp32 accumulation)
  std::vector<int>
      devices{};             // batches dealt round-robin over these; empty = the one `device` names
  bool cuda_graphs = false;  // replay captured CUDA graphs for repeated (bucketed) batch shapes
  // CPU only: the GEMM precision (CUDA uses `dtype`).
  Precision precision = Precision::kF32;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string_view kind() const = 0;    // "cpu", "cuda"
  virtual std::string device_name() const = 0;  // human-readable, for logs and sluice_model_info
  virtual const ModelConfig& config() const = 0;
  virtual MemoryUsage memory_usage() const = 0;

  // Throws std::invalid_argument when the batch breaks the contract (see
  // check_batch); the infer stage validates records first, so that is a bug.
  virtual Ticket submit(const EncoderBatch& batch, const EncoderOutputs& out,
                        CompletionCallback on_done = {}) = 0;
  virtual bool poll(Ticket ticket) = 0;
  virtual BatchResult wait(Ticket ticket) = 0;

  // Synchronous convenience: submit and wait.
  BatchResult run(const EncoderBatch& batch, const EncoderOutputs& out) {
    return wait(submit(batch, out));
  }
};

// Why one record's token ids cannot go through this model (nullptr if they
// can): empty, longer than the position table, or an id outside the vocabulary.
inline const char* check_record_tokens(std::span<const int32_t> ids, const ModelConfig& config) {
  if (ids.empty()) return "empty token sequence";
  if (static_cast<int64_t>(ids.size()) > config.max_sequence_length())
    return "token sequence longer than the model's max_position_embeddings";
  for (int32_t id : ids)
    if (id < 0 || id >= config.vocab_size) return "token id outside the model's vocabulary";
  return nullptr;
}

// Empty when batch/out satisfy the contract for this model, else the reason.
inline std::string check_batch(const EncoderBatch& batch, const EncoderOutputs& out,
                               const ModelConfig& config) {
  const auto& cu = batch.cu_seqlens;
  if (cu.size() < 2) return "cu_seqlens needs at least 2 entries (one record)";
  if (cu.front() != 0) return "cu_seqlens[0] must be 0";
  if (cu.back() != batch.tokens()) return "cu_seqlens.back() must equal token_ids.size()";
  int32_t longest = 0;
  for (size_t i = 0; i + 1 < cu.size(); ++i) {
    const int32_t len = cu[i + 1] - cu[i];
    if (len <= 0) return "record " + std::to_string(i) + " is empty or cu_seqlens decreases";
    if (len > longest) longest = len;
  }
  if (longest > batch.max_seqlen) return "max_seqlen is smaller than the longest record";
  if (longest > config.max_sequence_length())
    return "a record is longer than the model's max_position_embeddings";
  for (int32_t id : batch.token_ids)
    if (id < 0 || id >= config.vocab_size)
      return "token id " + std::to_string(id) + " outside the vocabulary";
  const auto records = static_cast<size_t>(batch.records());
  if (out.logits.size() != records * static_cast<size_t>(config.num_labels))
    return "logits span must hold records × num_labels floats";
  if (!out.pooled.empty() && out.pooled.size() != records * static_cast<size_t>(config.hidden_size))
    return "pooled span must be empty or hold records × hidden_size floats";
  return {};
}

}  // namespace sluice::engine
