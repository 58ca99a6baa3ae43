// sluice command line: dispatches to one command per file (cmd_*.cpp).
#include <cstring>
#include <iostream>
#include <string_view>

#include "app/commands.h"

namespace {

using sluice::app::Command;

// One line per command; keep in the order `sluice --help` shows them.
constexpr Command kCommands[] = {
    {"version", "sluice --version                        build and CUDA device information",
     sluice::app::cmd_version},
    {"run", "sluice run PIPELINE.yaml [--set key=value ...]   run a pipeline",
     sluice::app::cmd_run},
    {"validate", "sluice validate PIPELINE.yaml [--set k=v] [--explain]  check a pipeline file",
     sluice::app::cmd_validate},
    {"tokenize",
     "sluice tokenize --tokenizer DIR          one JSON array of token ids per input line",
     sluice::app::cmd_tokenize},
    {"broker",
     "sluice broker [--brokers N] [--port P] [--topic NAME:PARTS]  embedded Kafka-protocol broker "
     "on loopback",
     sluice::app::cmd_broker},
    {"classify",
     "sluice classify --model DIR [--probs]      one JSON result per input line (no Kafka)",
     sluice::app::cmd_classify},
    {"recommend",
     "sluice recommend --model DIR [--k N]       one JSON top-K per input event line (no Kafka)",
     sluice::app::cmd_recommend},
};

void print_usage(std::ostream& os) {
  os << "usage: sluice COMMAND [ARGS]\n\ncommands:\n";
  for (const auto& c : kCommands) os << "  " << c.usage << '\n';
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(std::cerr);
    return 2;
  }
  std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (name == "--version" || name == "-V") name = "version";
  for (const auto& c : kCommands) {
    if (name == c.name) return c.run(argc - 1, argv + 1);
  }
  std::cerr << "sluice: unknown command '" << name << "'\n";
  print_usage(std::cerr);
  return 2;
}
