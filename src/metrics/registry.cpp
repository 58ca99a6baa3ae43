#include "src/metrics/registry.h"

#include <algorithm>
#include <exception>
#include <stdexcept>

#include "src/metrics/text_format.h"

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
  Type type = Type::kCounter;
  std::vector<double> bounds;       // histograms only
  std::map<Labels, Series> series;  // key: labels sorted by name
};

namespace {

const char* type_name(int type) {
  static constexpr const char* kNames[] = {"counter", "gauge", "histogram"};
  return kNames[type];
}

[[noreturn]] void fail(std::string_view metric, const std::string& why) {
  throw std::invalid_argument("metric '" + std::string(metric) + "': " + why);
}

std::vector<std::string> sample_names(std::string_view name, bool histogram) {
  std::string n(name);
  if (histogram) return {n, n + "_bucket", n + "_sum", n + "_count"};
  return {n};
}

void append_labels(std::string& out, const Labels& labels, std::string_view le = {}) {
  if (labels.empty() && le.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    append_escaped_label_value(out, v);
    out += '"';
  }
  if (!le.empty()) {
    if (!first) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

Labels sorted_by_name(Labels labels) {
  std::stable_sort(labels.begin(), labels.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return labels;
}

std::string describe_series(std::string_view name, const Labels& labels) {
  std::string s(name);
  append_labels(s, labels);
  return s;
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
      fail(name, std::string("already registered as a ") + type_name(static_cast<int>(f.type)) +
                     ", not a " + type_name(static_cast<int>(type)));
    }
    if (f.help != help) {
      fail(name, "help text differs from its first registration (\"" + f.help + "\")");
    }
    if (type == Type::kHistogram) {
      const auto bounds = checked_bucket_bounds(buckets, name);
      if (bounds != f.bounds) fail(name, "buckets differ from its first registration");
    }
    return f;
  }

  if (!is_valid_metric_name(name))
    fail(name, "invalid metric name (must match [a-zA-Z_:][a-zA-Z0-9_:]*)");
  if (type == Type::kCounter && !name.ends_with("_total")) {
    fail(name, "counter names must end in _total (Prometheus naming convention)");
  }
  if (help.empty()) fail(name, "help text must not be empty");
  if (!is_valid_utf8(help)) fail(name, "help text is not valid UTF-8");
  auto family = std::make_unique<Family>();
  family->name = std::string(name);
  family->help = std::string(help);
  family->type = type;
  if (type == Type::kHistogram) family->bounds = checked_bucket_bounds(buckets, name);

  const auto samples = sample_names(name, type == Type::kHistogram);
  for (const auto& s : samples) {
    if (auto it = sample_owner_.find(s); it != sample_owner_.end()) {
      fail(name, "name collides with series '" + s + "' of metric '" + it->second + "'");
    }
  }
  for (const auto& s : samples) sample_owner_.emplace(s, family->name);
  return *families_.emplace(family->name, std::move(family)).first->second;
}

Registry::Series* Registry::series_locked(Family& family, const Labels& labels, bool for_callback) {
  Labels key = sorted_by_name(labels);
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto& [k, v] = key[i];
    if (!is_valid_label_name(k)) {
      fail(family.name, "invalid label name '" + k +
                            "' (must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __)");
    }
    if (i > 0 && key[i - 1].first == k) fail(family.name, "label '" + k + "' given twice");
    if (family.type == Type::kHistogram && k == "le") {
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
                    Type::kCounter, {});
  Series* s = series_locked(dropped, {{"family", family.name}}, false);
  if (!s->counter) s->counter = std::make_unique<Counter>();
  s->counter->inc();
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = family_locked(name, help, Type::kCounter, {});
  Series* s = series_locked(f, labels, false);
  if (s->callback) fail(name, describe_series(name, labels) + " is already a callback metric");
  if (!s->counter) s->counter = std::make_unique<Counter>();
  return *s->counter;
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = family_locked(name, help, Type::kGauge, {});
  Series* s = series_locked(f, labels, false);
  if (s->callback) fail(name, describe_series(name, labels) + " is already a callback metric");
  if (!s->gauge) s->gauge = std::make_unique<Gauge>();
  return *s->gauge;
}

Histogram& Registry::histogram(std::string_view name, std::string_view help,
                               std::span<const double> buckets, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = family_locked(name, help, Type::kHistogram, buckets);
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
  callbacks_.emplace(id, CallbackLocation{&f, sorted_by_name(labels)});
  return CallbackId{id};
}

CallbackId Registry::gauge_callback(std::string_view name, std::string_view help,
                                    const Labels& labels, std::function<double()> fn) {
  return add_callback(Type::kGauge, name, help, labels, std::move(fn));
}

CallbackId Registry::counter_callback(std::string_view name, std::string_view help,
                                      const Labels& labels, std::function<double()> fn) {
  return add_callback(Type::kCounter, name, help, labels, std::move(fn));
}

void Registry::remove_callback(CallbackId id) {
  std::lock_guard lock(mu_);
  auto it = callbacks_.find(static_cast<std::uint64_t>(id));
  if (it == callbacks_.end()) return;
  it->second.family->series.erase(it->second.labels);
  callbacks_.erase(it);
}

std::string Registry::render() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& [name, family] : families_) {
    if (family->series.empty()) continue;
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped_help(out, family->help);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type_name(static_cast<int>(family->type));
    out += '\n';
    for (const auto& [labels, s] : family->series) {
      if (s.histogram) {
        const auto snap = s.histogram->snapshot();
        std::string le;
        for (std::size_t i = 0; i <= snap.upper_bounds.size(); ++i) {
          le.clear();
          if (i < snap.upper_bounds.size()) {
            append_value(le, snap.upper_bounds[i]);
          } else {
            le = "+Inf";
          }
          out += name;
          out += "_bucket";
          append_labels(out, labels, le);
          out += ' ';
          append_value(out, static_cast<double>(snap.cumulative[i]));
          out += '\n';
        }
        out += name;
        out += "_sum";
        append_labels(out, labels);
        out += ' ';
        append_value(out, snap.sum);
        out += '\n';
        out += name;
        out += "_count";
        append_labels(out, labels);
        out += ' ';
        append_value(out, static_cast<double>(snap.count));
        out += '\n';
        continue;
      }
      double v = 0;
      if (s.counter) {
        v = s.counter->value();
      } else if (s.gauge) {
        v = s.gauge->value();
      } else if (s.callback) {
        try {
          v = s.callback();
        } catch (const std::exception& e) {
          throw std::runtime_error("metric '" + describe_series(name, labels) +
                                   "': callback threw: " + e.what());
        } catch (...) {
          throw std::runtime_error("metric '" + describe_series(name, labels) +
                                   "': callback threw a non-standard exception");
        }
      } else {
        continue;  // created by a lookup that then threw; never handed out
      }
      out += name;
      append_labels(out, labels);
      out += ' ';
      append_value(out, v);
      out += '\n';
    }
  }
  return out;
}

}  // namespace sluice::metrics
