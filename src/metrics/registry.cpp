#include "src/metrics/registry.h"

#include <prometheus/check_names.h>
#include <prometheus/text_serializer.h>

#include <cstdint>
#include <exception>
#include <limits>
#include <stdexcept>

namespace sluice::metrics {

// One series of a family: exactly one of the members is set.
struct Registry::Series {
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
  std::function<double()> callback;

  bool empty() const { return !counter && !gauge && !histogram && !callback; }
};

struct Registry::Family {
  std::string name;
  std::string help;
  Type type = Type::Counter;
  std::vector<double> bounds;          // histograms only
  std::map<SeriesKey, Series> series;  // ordered: the exposition lists series by label set
};

namespace {

const char* type_name(prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Histogram:
      return "histogram";
    default:
      return "other";
  }
}

[[noreturn]] void fail(std::string_view metric, const std::string& why) {
  throw std::invalid_argument("metric '" + std::string(metric) + "': " + why);
}

// Well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte first, 0xC0/0xC1 (overlong) or 0xF5+ (out of range)
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000)) return false;  // overlong
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;                                // surrogate
    if (cp > 0x10FFFF) return false;
    p += extra + 1;
  }
  return true;
}

// The text format's escapes: backslash and newline; double quotes too in label values.
std::string escaped(std::string_view s, bool quotes) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::string> sample_names(std::string_view name, bool histogram) {
  std::string n(name);
  if (histogram) return {n, n + "_bucket", n + "_sum", n + "_count"};
  return {n};
}

// name{a="1",b="2"}, for error messages.
template <class LabelPairs>
std::string describe_series(std::string_view name, const LabelPairs& labels) {
  std::string s(name);
  if (labels.empty()) return s;
  s += '{';
  for (const auto& [k, v] : labels) {
    if (s.back() != '{') s += ',';
    s += k + "=\"" + escaped(v, true) + '"';
  }
  return s + '}';
}

}  // namespace

Registry::Registry(RegistryOptions options) : options_(options) {
  if (options_.max_series_per_family < 1) {
    throw std::invalid_argument("metrics registry: max_series_per_family must be >= 1");
  }
}

Registry::~Registry() = default;

Registry::Family& Registry::family_locked(std::string_view name, std::string_view help, Type type,
                                          std::span<const double> buckets) {
  if (auto it = families_.find(name); it != families_.end()) {
    Family& f = *it->second;
    if (f.type != type) {
      fail(name, std::string("already registered as a ") + type_name(f.type) + ", not a " +
                     type_name(type));
    }
    if (f.help != help) {
      fail(name, "help text differs from its first registration (\"" + f.help + "\")");
    }
    if (type == Type::Histogram) {
      const auto bounds = checked_bucket_bounds(buckets, name);
      if (bounds != f.bounds) fail(name, "buckets differ from its first registration");
    }
    return f;
  }

  if (!prometheus::CheckMetricName(std::string(name))) {
    fail(name, "invalid metric name (must match [a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  if (type == Type::Counter && !name.ends_with("_total")) {
    fail(name, "counter names must end in _total (Prometheus naming convention)");
  }
  if (help.empty()) fail(name, "help text must not be empty");
  if (!is_valid_utf8(help)) fail(name, "help text is not valid UTF-8");
  auto family = std::make_unique<Family>();
  family->name = std::string(name);
  family->help = std::string(help);
  family->type = type;
  if (type == Type::Histogram) family->bounds = checked_bucket_bounds(buckets, name);

  const auto samples = sample_names(name, type == Type::Histogram);
  for (const auto& s : samples) {
    if (auto it = sample_owner_.find(s); it != sample_owner_.end()) {
      fail(name, "name collides with series '" + s + "' of metric '" + it->second + "'");
    }
  }
  for (const auto& s : samples) sample_owner_.emplace(s, family->name);
  return *families_.emplace(family->name, std::move(family)).first->second;
}

Registry::Series* Registry::series_locked(Family& family, const Labels& labels, bool for_callback) {
  SeriesKey key;
  for (const auto& [k, v] : labels) {
    if (!prometheus::CheckLabelName(k)) {
      fail(family.name, "invalid label name '" + k +
                            "' (must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __)");
    }
    if (!key.emplace(k, v).second) fail(family.name, "label '" + k + "' given twice");
    if (family.type == Type::Histogram && k == "le") {
      fail(family.name, "label name 'le' is reserved for histogram buckets");
    }
    if (v.empty()) fail(family.name, "label '" + k + "' has an empty value");
    if (!is_valid_utf8(v)) fail(family.name, "value of label '" + k + "' is not valid UTF-8");
  }

  if (auto it = family.series.find(key); it != family.series.end()) return &it->second;
  if (family.series.size() < options_.max_series_per_family) return &family.series[key];

  count_dropped_locked(family);
  if (for_callback) return nullptr;
  for (auto& kv : key) kv.second = std::string(kOverflowLabelValue);
  return &family.series[key];  // found or created beyond the bound
}

void Registry::count_dropped_locked(const Family& family) {
  if (family.name == kDroppedSeriesMetric) return;  // its own overflow is not counted again
  Family& dropped =
      family_locked(kDroppedSeriesMetric,
                    "Label sets that did not get their own series because their family reached "
                    "max_series_per_family (folded into the family's __overflow__ series).",
                    Type::Counter, {});
  Series* s = series_locked(dropped, {{"family", family.name}}, false);
  if (!s->counter) s->counter = std::make_unique<Counter>();
  s->counter->inc();
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = family_locked(name, help, Type::Counter, {});
  Series* s = series_locked(f, labels, false);
  if (s->callback) fail(name, describe_series(name, labels) + " is already a callback metric");
  if (!s->counter) s->counter = std::make_unique<Counter>();
  return *s->counter;
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = family_locked(name, help, Type::Gauge, {});
  Series* s = series_locked(f, labels, false);
  if (s->callback) fail(name, describe_series(name, labels) + " is already a callback metric");
  if (!s->gauge) s->gauge = std::make_unique<Gauge>();
  return *s->gauge;
}

Histogram& Registry::histogram(std::string_view name, std::string_view help,
                               std::span<const double> buckets, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = family_locked(name, help, Type::Histogram, buckets);
  Series* s = series_locked(f, labels, false);
  if (!s->histogram) s->histogram = std::make_unique<Histogram>(f.bounds);
  return *s->histogram;
}

CallbackId Registry::add_callback(Type type, std::string_view name, std::string_view help,
                                  const Labels& labels, std::function<double()> fn) {
  if (!fn) fail(name, "callback is empty");
  std::lock_guard lock(mu_);
  Family& f = family_locked(name, help, type, {});
  Series* s = series_locked(f, labels, true);
  const std::uint64_t id = next_callback_id_++;
  if (s == nullptr) return CallbackId{id};  // beyond the bound: counted, not registered
  if (!s->empty()) fail(name, describe_series(name, labels) + " is already registered");
  s->callback = std::move(fn);
  callbacks_.emplace(id, CallbackLocation{&f, SeriesKey(labels.begin(), labels.end())});
  return CallbackId{id};
}

CallbackId Registry::gauge_callback(std::string_view name, std::string_view help,
                                    const Labels& labels, std::function<double()> fn) {
  return add_callback(Type::Gauge, name, help, labels, std::move(fn));
}

CallbackId Registry::counter_callback(std::string_view name, std::string_view help,
                                      const Labels& labels, std::function<double()> fn) {
  return add_callback(Type::Counter, name, help, labels, std::move(fn));
}

void Registry::remove_callback(CallbackId id) {
  std::lock_guard lock(mu_);
  auto it = callbacks_.find(static_cast<std::uint64_t>(id));
  if (it == callbacks_.end()) return;
  it->second.family->series.erase(it->second.labels);
  callbacks_.erase(it);
}

std::vector<prometheus::MetricFamily> Registry::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  std::lock_guard lock(mu_);
  out.reserve(families_.size());
  for (const auto& [name, family] : families_) {
    prometheus::MetricFamily f;
    f.name = name;
    // prometheus-cpp 1.0.1 writes HELP as it is; the format wants \ and newline escaped.
    f.help = escaped(family->help, false);
    f.type = family->type;
    f.metric.reserve(family->series.size());
    for (const auto& [labels, s] : family->series) {
      if (s.empty()) continue;  // created by a lookup that then threw; never handed out
      prometheus::ClientMetric m;
      m.label.reserve(labels.size());
      for (const auto& [k, v] : labels) m.label.push_back({k, v});
      if (s.counter) {
        m.counter.value = s.counter->value();
      } else if (s.gauge) {
        m.gauge.value = s.gauge->value();
      } else if (s.histogram) {
        const auto snap = s.histogram->snapshot();
        m.histogram.sample_count = snap.count;
        m.histogram.sample_sum = snap.sum;
        m.histogram.bucket.reserve(snap.cumulative.size());
        for (std::size_t i = 0; i < snap.cumulative.size(); ++i) {
          const double le = i < snap.upper_bounds.size() ? snap.upper_bounds[i]
                                                         : std::numeric_limits<double>::infinity();
          m.histogram.bucket.push_back({snap.cumulative[i], le});
        }
      } else {
        double v = 0;
        try {
          v = s.callback();
        } catch (const std::exception& e) {
          throw std::runtime_error("metric '" + describe_series(name, labels) +
                                   "': callback threw: " + e.what());
        } catch (...) {
          throw std::runtime_error("metric '" + describe_series(name, labels) +
                                   "': callback threw a non-standard exception");
        }
        (family->type == Type::Counter ? m.counter.value : m.gauge.value) = v;
      }
      f.metric.push_back(std::move(m));
    }
    if (!f.metric.empty()) out.push_back(std::move(f));
  }
  return out;
}

std::string Registry::render() const { return prometheus::TextSerializer().Serialize(Collect()); }

}  // namespace sluice::metrics
