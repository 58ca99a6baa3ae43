#include "src/kafka/error.h"

namespace sluice::kafka {

KafkaError::KafkaError(rd_kafka_resp_err_t code, const std::string& message)
    : std::runtime_error(message), code_(code) {}

KafkaError::KafkaError(const std::string& message)
    : std::runtime_error(message), code_(RD_KAFKA_RESP_ERR__FAIL) {}

std::string error_name(rd_kafka_resp_err_t code) {
  return std::string(rd_kafka_err2name(code)) + " (" + rd_kafka_err2str(code) + ")";
}

void check(rd_kafka_resp_err_t code, std::string_view what) {
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw KafkaError(code, std::string(what) + ": " + error_name(code));
}

void check(rd_kafka_error_t* error, std::string_view what) {
  if (!error) return;
  rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  std::string msg = std::string(what) + ": " + rd_kafka_err2name(code) + " (" +
                    rd_kafka_error_string(error) + ")";
  rd_kafka_error_destroy(error);
  throw KafkaError(code, msg);
}

}  // namespace sluice::kafka
