// Record: one message flowing through the pipeline (DESIGN.md §4).
//
// Bytes (key, value) are either owned or borrowed: a borrowed record keeps a
// Lease on the memory it points into (for Kafka input, the rd_kafka_message_t),
// so consuming a message copies nothing. The record also carries where it came
// from (for commits and dead-letter headers), its Kafka timestamp, its Ack, the
// fields decoded by the source, and its token ids once tokenized.
//
// Move-only. Not thread-safe: one stage owns a record at a time.
#pragma once
#include <cassert>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/core/ack.h"
#include "src/core/topics.h"

namespace sluice::core {

// Owns memory that a record's views point into; releases it on destruction.
class Lease {
 public:
  using Release = void (*)(void*);
  Lease() = default;
  Lease(void* handle, Release release) : handle_(handle), release_(release) {}
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Lease(Lease&& o) noexcept : handle_(std::exchange(o.handle_, nullptr)), release_(o.release_) {}
  Lease& operator=(Lease&& o) noexcept {
    if (this != &o) {
      reset();
      handle_ = std::exchange(o.handle_, nullptr);
      release_ = o.release_;
    }
    return *this;
  }
  ~Lease() { reset(); }
  void reset() {
    if (handle_) release_(std::exchange(handle_, nullptr));
  }
  void* get() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }

 private:
  void* handle_ = nullptr;
  Release release_ = nullptr;
};

struct Header {
  std::string key;
  std::string value;
};

// The model a record was prepared for, opaque to the core: tokenize stamps its
// records with the model whose vocabulary it used (operators/model_slot.h),
// micro_batch never puts two models in one batch, and infer and classify run
// a batch on the model it carries. Shared ownership is the point: the last
// record or batch holding a replaced model frees it (hot reload).
struct ModelTag {
  virtual ~ModelTag() = default;
};

class Record {
 public:
  Record() = default;
  Record(Record&&) noexcept = default;
  Record& operator=(Record&&) noexcept = default;
  Record(const Record&) = delete;
  Record& operator=(const Record&) = delete;

  // Views into `lease`'s memory; the lease keeps them valid. key = nullopt: no key.
  static Record borrowed(Lease lease, std::optional<std::string_view> key, std::string_view value) {
    Record r;
    r.lease_ = std::move(lease);
    r.has_key_ = key.has_value();
    r.key_view_ = key.value_or(std::string_view());
    r.value_view_ = value;
    r.key_owned_ = r.value_owned_ = false;
    return r;
  }
  static Record owned(std::optional<std::string> key, std::string value) {
    Record r;
    r.has_key_ = key.has_value();
    if (key) r.key_storage_ = std::move(*key);
    r.value_storage_ = std::move(value);
    return r;
  }

  std::string_view key() const { return key_owned_ ? std::string_view(key_storage_) : key_view_; }
  bool has_key() const { return has_key_; }
  std::string_view value() const {
    return value_owned_ ? std::string_view(value_storage_) : value_view_;
  }

  // Replaces the value with owned bytes; the key (and any lease it needs) is kept.
  void set_value(std::string v) {
    value_storage_ = std::move(v);
    value_owned_ = true;
  }
  void set_key(std::optional<std::string> k) {
    has_key_ = k.has_value();
    key_storage_ = k ? std::move(*k) : std::string();
    key_owned_ = true;
  }

  // The text the model reads: a range of value() (raw text input, or a JSON
  // string without escapes) or owned (decoded, e.g. unescaped, text). The
  // range is kept as an offset, not a pointer: an owned short value lives
  // inside the Record (small-string storage) and moves with it.
  std::string_view text() const {
    return text_owned_ ? std::string_view(text_storage_)
                       : value().substr(text_offset_, text_length_);
  }
  void set_text_view(std::string_view v) {  // must lie within this record's value()
    std::string_view whole = value();
    assert(v.empty() ||
           (v.data() >= whole.data() && v.data() + v.size() <= whole.data() + whole.size()));
    text_offset_ = v.empty() ? 0 : static_cast<size_t>(v.data() - whole.data());
    text_length_ = v.size();
    text_owned_ = false;
  }
  void set_text(std::string t) {
    text_storage_ = std::move(t);
    text_owned_ = true;
  }

  std::vector<Header> headers;

  // Source position (input records; kept on outputs derived from them).
  TopicId source_topic = kNoTopic;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp_ms = -1;  // Kafka message timestamp (event time), -1 if none
  int64_t ingest_ns = 0;      // now_ns() when the source read it
  Ack ack;                    // completion handle of the input record

  // Output routing: kNoTopic means the sink's configured default topic.
  TopicId dest_topic = kNoTopic;

  // Fields decoded by the source's input format (empty when not configured).
  std::string id;     // record id (e.g. JSON "id")
  std::string group;  // grouping key for windows (e.g. JSON "brand")

  // Token ids after the tokenize stage, and the model they were made for
  // (null when the tokenizer is not reloadable with a model).
  std::vector<int32_t> tokens;
  bool truncated = false;
  std::shared_ptr<const ModelTag> model;

  // Classification result, set by classify on its output record (read by
  // window_aggregate, which counts by label name). Empty label: none.
  std::string label;
  float score = 0.0f;

 private:
  Lease lease_;
  std::string key_storage_;
  std::string value_storage_;
  std::string text_storage_;
  std::string_view key_view_;
  std::string_view value_view_;
  size_t text_offset_ = 0;
  size_t text_length_ = 0;
  bool key_owned_ = true;
  bool value_owned_ = true;
  bool text_owned_ = true;
  bool has_key_ = false;
};

}  // namespace sluice::core
