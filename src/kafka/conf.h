// Conf: RAII over rd_kafka_conf_t, built from sluice defaults and the
// pipeline's pass-through `kafka.properties`.
//
// Every rejected property is a PropertyError naming where the property was
// configured. Values of secret properties never appear in messages or logs,
// nor do values that came from the environment (whatever the property is
// called: librdkafka's message, which quotes the value, is redacted).
// librdkafka's own log lines are routed to sluice's logger.
#pragma once
#include <librdkafka/rdkafka.h>

#include <map>
#include <string>
#include <string_view>

#include "src/kafka/error.h"

namespace sluice::kafka {

// librdkafka properties by name, e.g. {"sasl.password", "..."}.
using Properties = std::map<std::string, std::string, std::less<>>;

// Where a property was configured, for messages: its key path in the
// pipeline file ("kafka.properties.security.protocol") and whether its value
// came from the environment (then it is never shown).
struct PropertySource {
  std::string path;
  bool from_environment = false;
};
using PropertySources = std::map<std::string, PropertySource, std::less<>>;

// A setting librdkafka (or sluice) rejects: a configuration error at path()
// (the key path, or "kafka property 'NAME'" for one without a source).
// reason() never holds a secret or a value from the environment.
class PropertyError : public KafkaError {
 public:
  PropertyError(std::string path, std::string reason);
  const std::string& path() const { return path_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string path_, reason_;
};

// True for properties whose values must never be logged.
bool is_secret_property(std::string_view name);

// librdkafka's message `error` about `value`, with the value (or the token of
// it, or the number parsed from it, that librdkafka quotes) replaced by
// "<from environment>".
std::string redact_value(std::string error, std::string_view value);

class Conf {
 public:
  // `sources`: where the properties set later were configured (messages only).
  explicit Conf(PropertySources sources = {});
  ~Conf();
  Conf(Conf&& o) noexcept;
  Conf& operator=(Conf&&) = delete;
  Conf(const Conf&) = delete;
  Conf& operator=(const Conf&) = delete;

  // Throws PropertyError when librdkafka rejects it.
  Conf& set(std::string_view name, std::string_view value);
  // The path and secrecy of `name`: its source, or "kafka property 'NAME'".
  PropertySource source_of(std::string_view name) const;
  Conf& set_all(const Properties& properties);

  rd_kafka_conf_t* get() const { return conf_; }
  // Hands the conf to rd_kafka_new (which takes ownership on success).
  rd_kafka_conf_t* release();

 private:
  rd_kafka_conf_t* conf_;
  PropertySources sources_;
};

// Creates a client; throws KafkaError naming `what` on failure. Takes the conf.
rd_kafka_t* new_client(rd_kafka_type_t type, Conf conf, std::string_view what);

// Routes librdkafka log lines to sluice's logger (set on every Conf).
void log_callback(const rd_kafka_t* rk, int level, const char* fac, const char* buf);

}  // namespace sluice::kafka
