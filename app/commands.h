// The sluice sub-commands. Each lives in its own cmd_<name>.cpp and is listed
// once in main.cpp's table. Every command returns the process exit code:
// 0 success, 1 runtime failure, 2 bad usage / bad configuration / bad input files.
#pragma once

namespace sluice::app {

// argv[0] is the command name itself (e.g. "validate").
using CommandFn = int (*)(int argc, char** argv);

struct Command {
  const char* name;
  const char* usage;  // one line, shown by `sluice --help`
  CommandFn run;
};

int cmd_version(int argc, char** argv);
int cmd_validate(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_broker(int argc, char** argv);
int cmd_classify(int argc, char** argv);
int cmd_recommend(int argc, char** argv);

}  // namespace sluice::app
