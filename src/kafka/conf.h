// Conf: RAII over rd_kafka_conf_t, built from sluice defaults and the
// pipeline's pass-through `kafka.properties`.
//
// Every rejected property is an error naming the property (values of secret
// properties never appear in messages or logs). librdkafka's own log lines are
// routed to sluice's logger.
#pragma once
#include <librdkafka/rdkafka.h>

#include <map>
#include <string>
#include <string_view>

namespace sluice::kafka {

// librdkafka properties by name, e.g. {"sasl.password", "..."}.
using Properties = std::map<std::string, std::string, std::less<>>;

// True for properties whose values must never be logged.
bool is_secret_property(std::string_view name);

class Conf {
 public:
  Conf();
  ~Conf();
  Conf(Conf&& o) noexcept;
  Conf& operator=(Conf&&) = delete;
  Conf(const Conf&) = delete;
  Conf& operator=(const Conf&) = delete;

  // Throws KafkaError("kafka property 'name': why") when librdkafka rejects it.
  Conf& set(std::string_view name, std::string_view value);
  Conf& set_all(const Properties& properties);

  rd_kafka_conf_t* get() const { return conf_; }
  // Hands the conf to rd_kafka_new (which takes ownership on success).
  rd_kafka_conf_t* release();

 private:
  rd_kafka_conf_t* conf_;
};

// Creates a client; throws KafkaError naming `what` on failure. Takes the conf.
rd_kafka_t* new_client(rd_kafka_type_t type, Conf conf, std::string_view what);

// Routes librdkafka log lines to sluice's logger (set on every Conf).
void log_callback(const rd_kafka_t* rk, int level, const char* fac, const char* buf);

}  // namespace sluice::kafka
