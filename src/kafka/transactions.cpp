#include "src/kafka/transactions.h"

#include <algorithm>
#include <string>
#include <thread>

#include "src/core/log.h"
#include "src/kafka/error.h"

namespace sluice::kafka {
namespace {

using Clock = std::chrono::steady_clock;

int ms_until(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<int64_t>(left, 1));
}

std::string describe(rd_kafka_error_t* error) {
  return std::string(rd_kafka_error_name(error)) + ": " + rd_kafka_error_string(error);
}

}  // namespace

Transactions::Transactions(rd_kafka_t* producer, TransactionProbe& probe,
                           std::chrono::milliseconds timeout)
    : rk_(producer), probe_(probe), timeout_(timeout) {}

template <typename Call>
rd_kafka_error_t* Transactions::retrying(Call&& call, Clock::time_point deadline) {
  for (;;) {
    rd_kafka_error_t* error = call(ms_until(deadline));
    if (!error || !rd_kafka_error_is_retriable(error) || Clock::now() >= deadline) return error;
    core::log_warn("kafka transactions: ", describe(error), " (retrying)");
    rd_kafka_error_destroy(error);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void Transactions::fatal(std::string_view what, rd_kafka_error_t* error) {
  std::string why = "kafka transactions: " + std::string(what) + ": " + describe(error);
  if (rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__FENCED ||
      rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR_PRODUCER_FENCED)
    why += " (another process uses this transactional.id: is kafka.instance_id unique?)";
  const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  rd_kafka_error_destroy(error);
  throw KafkaError(code, why);
}

void Transactions::start() {
  const auto deadline = Clock::now() + timeout_;
  if (rd_kafka_error_t* e =
          retrying([&](int ms) { return rd_kafka_init_transactions(rk_, ms); }, deadline))
    fatal("init_transactions", e);
  begin();
}

void Transactions::begin() {
  if (rd_kafka_error_t* e = rd_kafka_begin_transaction(rk_)) fatal("begin_transaction", e);
}

Transactions::Result Transactions::commit(const PartitionList& offsets,
                                          const rd_kafka_consumer_group_metadata_t* group,
                                          uint64_t records, std::chrono::milliseconds timeout) {
  const auto t0 = Clock::now();
  const auto deadline = t0 + (timeout.count() > 0 ? timeout : timeout_);
  rd_kafka_error_t* e = nullptr;
  if (!offsets.empty()) {
    e = retrying(
        [&](int ms) { return rd_kafka_send_offsets_to_transaction(rk_, offsets.get(), group, ms); },
        deadline);
  }
  if (!e) e = retrying([&](int ms) { return rd_kafka_commit_transaction(rk_, ms); }, deadline);
  if (!e) {
    probe_.on_committed(records, std::chrono::duration<double>(Clock::now() - t0).count());
    begin();
    return Result::kCommitted;
  }
  if (rd_kafka_error_is_fatal(e) || !rd_kafka_error_txn_requires_abort(e))
    fatal("commit_transaction", e);
  const std::string why = describe(e);
  rd_kafka_error_destroy(e);
  abort(records, why);
  return Result::kAborted;
}

void Transactions::abort(uint64_t records, std::string_view why) {
  core::log_warn("kafka transactions: aborting a transaction of ", records, " input records (", why,
                 "); they are read again");
  if (rd_kafka_error_t* e = retrying([&](int ms) { return rd_kafka_abort_transaction(rk_, ms); },
                                     Clock::now() + timeout_))
    fatal("abort_transaction", e);
  probe_.on_aborted(records);
  begin();
}

void Transactions::abort_last(uint64_t records, std::string_view why,
                              std::chrono::milliseconds timeout) {
  core::log_warn("kafka transactions: aborting the last transaction of ", records,
                 " input records (", why, ")");
  if (rd_kafka_error_t* e = rd_kafka_abort_transaction(
          rk_, static_cast<int>(std::max<int64_t>(timeout.count(), 1)))) {
    core::log_warn("kafka transactions: abort_transaction: ", describe(e),
                   " (the broker aborts it after transaction.timeout.ms)");
    rd_kafka_error_destroy(e);
    return;
  }
  probe_.on_aborted(records);
}

}  // namespace sluice::kafka
