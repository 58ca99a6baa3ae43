// StdioPipeline: a pipeline's own operators run on stdin and stdout instead
// of Kafka, for the commands that work without a broker (`sluice classify`,
// `sluice recommend`). One input line is one record, its index (0-based) its
// offset; one output line per input line comes out, in input order: the
// record's result (its value, as the Kafka sink would send it), or for a
// record the pipeline rejects what it would send to the dead-letter topic,
//
//   {"event_offset":7,"error":"empty","detail":"text is empty"}
//
// (error: a core/dead_letter.h code; detail: human-readable). The stages are
// run by the same stage runner as `sluice run`, between a stdin source and a
// stdout sink added by run().
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "src/core/operator.h"
#include "src/core/pipeline.h"

namespace sluice::app {

struct StdioOptions {
  std::string name;  // the pipeline's name (logs, metrics)
  // A line longer than this keeps its first max_line_bytes + 1 bytes (enough
  // for a decoder's too_large), so memory stays bounded whatever the input.
  size_t max_line_bytes = size_t{1} << 20;
  // Record::id = the line's 1-based number (`sluice classify`'s "id").
  bool number_lines = false;
};

class OrderedOutput;

class StdioPipeline {
 public:
  explicit StdioPipeline(StdioOptions options);
  ~StdioPipeline();

  // Appends an operator after the stdin source (or the previous stage).
  void add_stage(std::string name, std::unique_ptr<core::Operator> op);
  // Adds the stdout sink and runs until stdin ends and every line is out.
  // Returns 0, or 1 after printing "sluice COMMAND: <why>" on stderr when
  // the pipeline failed.
  int run(std::string_view command);

  // After run(): lines written as results and as error lines.
  int64_t results() const;
  int64_t errors() const;

 private:
  StdioOptions options_;
  std::unique_ptr<OrderedOutput> output_;
  std::unique_ptr<core::DeadLetterSink> error_lines_;
  core::Pipeline pipeline_;
};

// Runs a command's body, turning what it throws into the exit code and a
// "sluice COMMAND: <what>" line on stderr: a bad model, tokenizer or option
// (engine::ModelError, text::TokenizerError, std::invalid_argument, e.g. an
// unknown --device) is 2, anything else 1.
int run_command(std::string_view command, const std::function<int()>& body);

}  // namespace sluice::app
