// Kafka errors translated into sluice's error type at the module boundary.
//
// librdkafka reports failures as rd_kafka_resp_err_t codes and error strings;
// callers above src/kafka see KafkaError (start-up, configuration and fatal
// run-time failures, which are exceptions) or, for expected per-message
// problems, a plain code they can name with error_name().
#pragma once
#include <librdkafka/rdkafka.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice::kafka {

class KafkaError : public std::runtime_error {
 public:
  KafkaError(rd_kafka_resp_err_t code, const std::string& message);
  explicit KafkaError(const std::string& message);

  rd_kafka_resp_err_t code() const { return code_; }

 private:
  rd_kafka_resp_err_t code_;
};

// "REQUEST_TIMED_OUT (Broker: Request timed out)".
std::string error_name(rd_kafka_resp_err_t code);

// Throws KafkaError(code, what) unless code is NO_ERROR.
void check(rd_kafka_resp_err_t code, std::string_view what);
// Takes ownership of `error` (may be null: success); throws if set.
void check(rd_kafka_error_t* error, std::string_view what);

}  // namespace sluice::kafka
