#include "src/kafka/conf.h"

#include <cctype>
#include <regex>
#include <utility>

#include "src/core/log.h"
#include "src/kafka/error.h"

namespace sluice::kafka {

bool is_secret_property(std::string_view name) {
  for (std::string_view s :
       {"password", "secret", "sasl.jaas", "ssl.key.pem", "ssl_key", "token"}) {
    if (name.find(s) != std::string_view::npos) return true;
  }
  return false;
}

PropertyError::PropertyError(std::string path, std::string reason)
    : KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, path + ": " + reason),
      path_(std::move(path)),
      reason_(std::move(reason)) {}

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

}  // namespace

std::string redact_value(std::string error, std::string_view value) {
  static const std::string kShown = "<from environment>";
  if (!value.empty()) {
    for (size_t at = error.find(value); at != std::string::npos;
         at = error.find(value, at + kShown.size()))
      error.replace(at, value.size(), kShown);
  }
  // librdkafka 2.0: `Invalid value "TOKEN" for configuration property "p"`
  // (TOKEN may be one item of a list value) and `... "p" value 1e+09 is
  // outside allowed range 0..900000` (the number as it parsed it).
  static const std::regex kQuoted(R"(value ("[^"]*"|[-+]?[0-9.][^ ]*))");
  return trimmed(std::regex_replace(error, kQuoted, "value " + kShown));
}

Conf::Conf(PropertySources sources) : conf_(rd_kafka_conf_new()), sources_(std::move(sources)) {
  rd_kafka_conf_set_log_cb(conf_, &log_callback);
}

Conf::~Conf() {
  if (conf_) rd_kafka_conf_destroy(conf_);
}

Conf::Conf(Conf&& o) noexcept
    : conf_(std::exchange(o.conf_, nullptr)), sources_(std::move(o.sources_)) {}

PropertySource Conf::source_of(std::string_view name) const {
  if (auto it = sources_.find(name); it != sources_.end()) return it->second;
  return {"kafka property '" + std::string(name) + "'", false};
}

Conf& Conf::set(std::string_view name, std::string_view value) {
  char err[512] = "";
  std::string n(name), v(value);
  if (rd_kafka_conf_set(conf_, n.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    PropertySource src = source_of(name);
    // librdkafka's message may quote the value; keep secrets out of it.
    std::string why = is_secret_property(name) ? std::string("invalid value (not shown: a secret)")
                      : src.from_environment   ? "librdkafka: " + redact_value(err, value)
                                               : "librdkafka: " + trimmed(err);
    throw PropertyError(src.path, why);
  }
  return *this;
}

Conf& Conf::set_all(const Properties& properties) {
  for (const auto& [k, v] : properties) set(k, v);
  return *this;
}

rd_kafka_conf_t* Conf::release() { return std::exchange(conf_, nullptr); }

rd_kafka_t* new_client(rd_kafka_type_t type, Conf conf, std::string_view what) {
  char err[512];
  rd_kafka_conf_t* c = conf.release();
  rd_kafka_t* rk = rd_kafka_new(type, c, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(c);
    throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, std::string(what) + ": " + err);
  }
  return rk;
}

void log_callback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // syslog levels: 0..3 error, 4 warning, 5..6 notice/info, 7 debug.
  core::LogLevel l = level <= 3   ? core::LogLevel::kError
                     : level == 4 ? core::LogLevel::kWarn
                     : level <= 6 ? core::LogLevel::kInfo
                                  : core::LogLevel::kDebug;
  core::log(l, "kafka ", rk ? rd_kafka_name(rk) : "", " ", fac, ": ", buf);
}

}  // namespace sluice::kafka
