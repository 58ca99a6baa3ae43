// Typed options bound to their pipeline keys: each key written once — name,
// description, range or choices, and the struct field it fills — with its
// default taken from the struct's own initializer (Redpanda's property<T>).
//
//   struct MicroBatchPolicy { int64_t max_batch_records = 64; ... };
//
//   config::Options<MicroBatchPolicy> opts;
//   opts.add("max_batch_records", &MicroBatchPolicy::max_batch_records,
//            "Close a batch at this many records").range(1, 65536);
//   opts.add("pooling", [](InferOptions& o) -> auto& { return o.backend.pooling; }, "...")
//       .choices({{"head", Pooling::kHead}, {"mean", Pooling::kMean}});
//   opts.declare(schema);                               // keys, defaults from Opts{}
//   MicroBatchPolicy p = opts.read(validated_section);  // fields filled
//
// The key's type follows the field's: std::string (a choice with
// choices()), bool, integers (a size with bytes()), floating point,
// std::chrono durations, enums (choices() naming each value; a bool or an
// integer may be named so too), std::vector<std::string>,
// std::map<std::string, std::string> (no default: given or empty), and
// std::optional of the others (no default when the struct leaves it empty;
// read only when given). Ranges are
// in the key's unit (durations: seconds), checked by validate() with the
// key's path, as Schema's are.
//
// An Options object is immutable once built and may be shared between
// threads for declare() and read().
#pragma once
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "src/config/schema.h"
#include "src/config/section.h"

namespace sluice::config {

// Default texts as `sluice validate --explain` shows them, in the forms the
// parsers read back: "5ms", "10m", "0s"; "64KiB", "100"; "0.5".
std::string render_duration(std::chrono::nanoseconds d);
std::string render_bytes(uint64_t bytes);
std::string render_real(double v);

namespace detail {

template <typename T>
struct is_duration : std::false_type {};
template <typename R, typename P>
struct is_duration<std::chrono::duration<R, P>> : std::true_type {};

template <typename T>
struct is_optional : std::false_type {
  using type = T;
};
template <typename T>
struct is_optional<std::optional<T>> : std::true_type {
  using type = T;
};

template <typename T>
constexpr bool is_int = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// A callable giving the field of an O to bind: (O&) -> T&.
template <typename A, typename O>
concept FieldAccess = !std::is_member_pointer_v<A> && std::is_invocable_v<A, O&> &&
                      std::is_lvalue_reference_v<std::invoke_result_t<A, O&>>;

// `v` in T, or a configuration error naming `key` (one without a range
// narrower than T's); the wiring prefixes the stage's path, as for every
// error an operator's factory throws.
template <typename T>
T narrow(int64_t v, const std::string& key) {
  using L = std::numeric_limits<T>;
  const bool fits = std::is_signed_v<T>
                        ? v >= static_cast<int64_t>(L::min()) && v <= static_cast<int64_t>(L::max())
                        : v >= 0 && static_cast<uint64_t>(v) <= static_cast<uint64_t>(L::max());
  if (!fits) throw std::invalid_argument(key + ": " + std::to_string(v) + " is out of range");
  return static_cast<T>(v);
}

}  // namespace detail

template <typename Opts>
class Options {
 public:
  // One bound key; its fluent modifiers read like a table row.
  template <typename T>
  class Field;

  // Binds `name` to a data member of Opts.
  template <typename T>
  Field<T>& add(std::string name, T Opts::*member, std::string description) {
    return bind<T>(
        std::move(name), [member](Opts& o) -> T& { return o.*member; }, std::move(description));
  }
  // Binds `name` to a field reached through `access` (Opts&) -> T&, for
  // nested fields: [](InferOptions& o) -> auto& { return o.backend.device; }.
  template <detail::FieldAccess<Opts> Access>
  auto& add(std::string name, Access access, std::string description) {
    using T = std::remove_reference_t<std::invoke_result_t<Access, Opts&>>;
    return bind<T>(std::move(name), std::move(access), std::move(description));
  }

  // A nested mapping `name:` whose keys fill fields of the same Opts;
  // `schema_description` is its Schema's own.
  Options& object(std::string name, std::string description, std::string schema_description = {}) {
    auto f = std::make_unique<Object>(std::move(name), std::move(description),
                                      std::move(schema_description));
    Options& ref = *f->options;
    fields_.push_back(std::move(f));
    return ref;
  }

  // Adds every bound key to `schema`, defaults rendered from Opts{}.
  void declare(Schema& schema) const {
    Opts defaults{};
    for (const auto& f : fields_) f->declare(schema, defaults);
  }
  // The options a validated section gives: Opts{} with every bound field
  // read. Throws std::invalid_argument naming the key for a value its field
  // cannot hold (an unranged integer beyond an int32_t, say).
  Opts read(const Section& section) const {
    Opts o{};
    read(section, o);
    return o;
  }
  void read(const Section& section, Opts& o) const {
    for (const auto& f : fields_) f->read(section, o);
  }

 private:
  struct Bound {
    virtual ~Bound() = default;
    virtual void declare(Schema& schema, Opts& defaults) const = 0;
    virtual void read(const Section& section, Opts& o) const = 0;
  };

  struct Object final : Bound {
    Object(std::string n, std::string d, std::string sd)
        : name(std::move(n)),
          description(std::move(d)),
          schema_description(std::move(sd)),
          options(std::make_unique<Options>()) {}
    void declare(Schema& schema, Opts& defaults) const override {
      auto s = std::make_shared<Schema>(schema_description);
      for (const auto& f : options->fields_) f->declare(*s, defaults);
      schema.object(name, std::move(s), description);
    }
    void read(const Section& section, Opts& o) const override {
      options->read(section.section(name), o);
    }
    std::string name, description, schema_description;
    std::unique_ptr<Options> options;
  };

  template <typename T>
  Field<T>& bind(std::string name, std::function<T&(Opts&)> access, std::string description) {
    auto f = std::make_unique<Field<T>>(std::move(name), std::move(description), std::move(access));
    Field<T>& ref = *f;
    fields_.push_back(std::move(f));
    return ref;
  }

  std::vector<std::unique_ptr<Bound>> fields_;

 public:
  template <typename T>
  class Field final : public Bound {
    using V = typename detail::is_optional<T>::type;  // the value type (optional's, or T)

   public:
    Field(std::string name, std::string description, std::function<T&(Opts&)> access)
        : name_(std::move(name)),
          description_(std::move(description)),
          access_(std::move(access)) {}

    Field& range(std::optional<double> lo, std::optional<double> hi) {
      min_ = lo;
      max_ = hi;
      return *this;
    }
    Field& req() {
      required_ = true;
      return *this;
    }
    // An integer field read as a size ("64KiB").
    Field& bytes() requires detail::is_int<V> {
      bytes_ = true;
      return *this;
    }
    // The values a string field may take (a choice key).
    Field& choices(std::vector<std::string> names) requires std::is_same_v<V, std::string> {
      choice_names_ = std::move(names);
      return *this;
    }
    // A choice key filling a field of another type (an enum; a bool, say
    // overload: pause|shed): the name of each value, in the order shown.
    Field& choices(std::vector<std::pair<std::string, V>> values) requires(
        !std::is_same_v<V, std::string>) {
      for (auto& [n, v] : values) choice_names_.push_back(n);
      named_ = std::move(values);
      return *this;
    }

    void declare(Schema& schema, Opts& defaults) const override {
      Key& k = choice_names_.empty() ? schema.add(name_, type(), description_)
                                     : schema.choice(name_, choice_names_, description_);
      k.range(min_, max_);
      if (required_) {
        k.req();
        return;
      }
      const T& d = access_(defaults);
      if constexpr (detail::is_optional<T>::value) {
        if (d) k.def(render(*d));
      } else if constexpr (!std::is_same_v<V, std::map<std::string, std::string>>) {
        k.def(render(d));
      }
    }

    void read(const Section& section, Opts& o) const override {
      T& field = access_(o);
      if constexpr (detail::is_optional<T>::value) {
        if (!section.has(name_)) {
          field.reset();
          return;
        }
        field = value(section);
      } else if constexpr (std::is_same_v<V, std::map<std::string, std::string>>) {
        if (section.has(name_)) field = section.string_map(name_);
      } else {
        field = value(section);
      }
    }

   private:
    Type type() const {
      if constexpr (std::is_same_v<V, std::string>) return Type::kString;
      if constexpr (std::is_same_v<V, bool>) return Type::kBool;
      if constexpr (detail::is_int<V>) return bytes_ ? Type::kBytes : Type::kInt;
      if constexpr (std::is_floating_point_v<V>) return Type::kFloat;
      if constexpr (detail::is_duration<V>::value) return Type::kDuration;
      if constexpr (std::is_enum_v<V>) return Type::kEnum;
      if constexpr (std::is_same_v<V, std::vector<std::string>>) return Type::kStringList;
      if constexpr (std::is_same_v<V, std::map<std::string, std::string>>) return Type::kStringMap;
      static_assert(std::is_same_v<V, std::string> || std::is_same_v<V, bool> ||
                        detail::is_int<V> || std::is_floating_point_v<V> ||
                        detail::is_duration<V>::value || std::is_enum_v<V> ||
                        std::is_same_v<V, std::vector<std::string>> ||
                        std::is_same_v<V, std::map<std::string, std::string>>,
                    "unsupported option type");
    }

    std::string render(const V& v) const {
      if constexpr (std::is_enum_v<V> || std::is_same_v<V, bool> || detail::is_int<V>) {
        if (!named_.empty()) {
          for (const auto& [n, e] : named_)
            if (e == v) return n;
          throw std::logic_error(name_ + ": the struct's default is not one of its choices");
        }
      }
      if constexpr (std::is_same_v<V, std::string>) {
        return v;
      } else if constexpr (std::is_same_v<V, bool>) {
        return v ? "true" : "false";
      } else if constexpr (detail::is_int<V>) {
        return bytes_ ? render_bytes(static_cast<uint64_t>(v)) : std::to_string(v);
      } else if constexpr (std::is_floating_point_v<V>) {
        return render_real(static_cast<double>(v));
      } else if constexpr (detail::is_duration<V>::value) {
        return render_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(v));
      } else if constexpr (std::is_enum_v<V>) {
        throw std::logic_error(name_ + ": an enum field needs choices()");
      } else {
        static_assert(std::is_same_v<V, std::vector<std::string>>, "unsupported option type");
        std::string s = "[";
        for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
        return s + "]";
      }
    }

    V value(const Section& section) const {
      if constexpr (std::is_enum_v<V> || std::is_same_v<V, bool> || detail::is_int<V>) {
        if (!named_.empty()) {
          const std::string s = section.string(name_);
          for (const auto& [n, e] : named_)
            if (n == s) return e;
          throw std::logic_error(section.path_of(name_) + ": '" + s + "' is not a declared choice");
        }
      }
      if constexpr (std::is_same_v<V, std::string>) {
        return section.string(name_);
      } else if constexpr (std::is_same_v<V, bool>) {
        return section.boolean(name_);
      } else if constexpr (detail::is_int<V>) {
        if (bytes_) {
          const uint64_t b = section.bytes(name_);
          if (b > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            throw std::invalid_argument(name_ + ": " + std::to_string(b) + " is out of range");
          return detail::narrow<V>(static_cast<int64_t>(b), name_);
        }
        return detail::narrow<V>(section.integer(name_), name_);
      } else if constexpr (std::is_floating_point_v<V>) {
        return static_cast<V>(section.real(name_));
      } else if constexpr (detail::is_duration<V>::value) {
        return std::chrono::duration_cast<V>(section.duration(name_));
      } else if constexpr (std::is_enum_v<V>) {
        throw std::logic_error(name_ + ": an enum field needs choices()");
      } else {
        return section.strings(name_);
      }
    }

    std::string name_, description_;
    std::function<T&(Opts&)> access_;
    std::optional<double> min_, max_;
    bool required_ = false;
    bool bytes_ = false;
    std::vector<std::string> choice_names_;
    std::vector<std::pair<std::string, V>> named_;  // choices of a non-string field
  };
};

}  // namespace sluice::config
