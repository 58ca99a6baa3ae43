#include "operators/window_aggregate_codec.h"

#include <cmath>
#include <cstring>

namespace sluice::operators {
namespace {

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool get(T* v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool bytes(size_t n, std::string_view* v) {
    if (in_.size() < n) return false;
    *v = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }
  size_t left() const { return in_.size(); }

 private:
  std::string_view in_;
};

}  // namespace

void encode_windows(std::string& out, int64_t stream_time, std::span<const ClosedWindow> windows) {
  put<int64_t>(out, stream_time);
  put<uint32_t>(out, static_cast<uint32_t>(windows.size()));
  for (const ClosedWindow& w : windows) {
    put<int64_t>(out, w.start_ms);
    put<uint64_t>(out, w.count);
    put<double>(out, w.score_sum);
    put<uint32_t>(out, static_cast<uint32_t>(w.labels.size()));
    for (const LabelCount& l : w.labels) {
      const size_t n = std::min<size_t>(l.label.size(), UINT16_MAX);
      put<uint16_t>(out, static_cast<uint16_t>(n));
      out.append(l.label.data(), n);
      put<uint64_t>(out, l.count);
    }
  }
}

bool decode_windows(std::string_view in, std::string_view key, int64_t size_ms,
                    int64_t* stream_time, std::vector<ClosedWindow>& out, std::string* why) {
  Reader r(in);
  uint32_t n = 0;
  auto fail = [&](const char* reason) {
    if (why) *why = reason;
    return false;
  };
  if (!r.get(stream_time) || !r.get(&n)) return fail("truncated header");
  // Each window takes at least 28 bytes: a count beyond that is a lie, not
  // a reason to allocate.
  if (n > r.left() / 28) return fail("window count larger than the payload");
  std::vector<ClosedWindow> ws(n);
  for (ClosedWindow& w : ws) {
    uint32_t labels = 0;
    if (!r.get(&w.start_ms) || !r.get(&w.count) || !r.get(&w.score_sum) || !r.get(&labels))
      return fail("truncated window");
    if (!std::isfinite(w.score_sum)) return fail("non-finite score sum");
    if (w.start_ms < -(int64_t{1} << 62) || w.start_ms > (int64_t{1} << 62))
      return fail("window start out of range");
    if (labels > r.left() / 10) return fail("label count larger than the payload");
    uint64_t sum = 0;
    for (uint32_t i = 0; i < labels; ++i) {
      uint16_t len = 0;
      std::string_view name;
      LabelCount l;
      if (!r.get(&len) || !r.bytes(len, &name) || !r.get(&l.count)) return fail("truncated label");
      l.label.assign(name);
      sum += l.count;
      w.labels.push_back(std::move(l));
    }
    if (sum != w.count) return fail("label counts do not add up to the window count");
    w.key.assign(key);
    w.end_ms = w.start_ms + size_ms;
  }
  if (!r.done()) return fail("trailing bytes");
  for (ClosedWindow& w : ws) out.push_back(std::move(w));
  return true;
}

}  // namespace sluice::operators
