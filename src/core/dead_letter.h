// Dead letters: records that cannot be processed (DESIGN.md §2).
//
// Any stage hands a bad record to the pipeline's DeadLetterSink with a short
// error code and a human-readable detail. The Kafka implementation publishes
// it to the dead-letter topic with the original key, value and headers plus
// sluice.error, sluice.error.detail, sluice.stage, sluice.source.topic,
// sluice.source.partition and sluice.source.offset, and completes the
// record's Ack when the broker acknowledges it. A dead letter is counted,
// committed like any other record, and never stops the pipeline.
#pragma once
#include <string>

#include "src/core/record.h"

namespace sluice::core {

// Error codes used in the sluice.error header. Stable: dashboards and
// consumers of the dead-letter topic match on them.
namespace dead_letter_code {
inline constexpr const char* kInvalidJson = "invalid_json";
inline constexpr const char* kMissingField = "missing_field";
inline constexpr const char* kEmpty = "empty";
inline constexpr const char* kTooLarge = "too_large";
inline constexpr const char* kTooDeep = "too_deep";  // JSON nested deeper than the decoder allows
inline constexpr const char* kInvalidUtf8 = "invalid_utf8";
inline constexpr const char* kNonFiniteOutput = "non_finite_output";
// In flight when the process died twice (src/kafka/crash_marks.h).
inline constexpr const char* kPoisonCrash = "poison_crash";
// Shed by the Kafka source (overload: shed): older than the latency objective when read.
inline constexpr const char* kOverload = "overload";
}  // namespace dead_letter_code

struct DeadLetter {
  Record record;
  std::string code;    // one of dead_letter_code (or an operator-specific code)
  std::string detail;  // human-readable reason
  std::string stage;   // name of the stage that rejected it
};

// Thread-safe: called from any stage's worker threads.
class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  virtual void publish(DeadLetter&& letter) = 0;
};

}  // namespace sluice::core
