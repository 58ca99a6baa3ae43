// `sluice broker`: an embedded Kafka-protocol cluster on loopback (librdkafka's
// mock cluster) for the demo, the tests and the benchmarks. Prints its
// bootstrap address alone on the first line of stdout, logs to stderr, and
// runs until SIGTERM or SIGINT. It is a process of its own so that a sluice
// service can be killed and restarted against it.
#include <signal.h>

#include <charconv>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/commands.h"
#include "src/core/log.h"
#include "src/kafka/error.h"
#include "src/kafka/mock_cluster.h"

namespace sluice::app {
namespace {

constexpr const char* kUsage =
    "usage: sluice broker [--brokers N] [--port P] [--topic NAME:PARTITIONS ...]\n"
    "  --brokers N          brokers in the cluster (default 1)\n"
    "  --port P             listen on 127.0.0.1:P, P+1, ... (default: ports chosen by the kernel)\n"
    "  --topic NAME:PARTS   create a topic up front (repeatable; others are auto-created)\n"
    "Prints the bootstrap address on the first line of stdout; runs until SIGTERM/SIGINT.\n"
    "Each partition keeps only its newest ~5 MiB (a limit of librdkafka's mock broker).\n";

bool parse_int(std::string_view s, int* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

int usage_error(const std::string& why) {
  std::cerr << "sluice broker: " << why << "\n" << kUsage;
  return 2;
}

}  // namespace

int cmd_broker(int argc, char** argv) {
  int brokers = 1, port = 0;
  std::vector<std::pair<std::string, int>> topics;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) return usage_error("option '" + std::string(a) + "' needs a value");
    std::string_view v = argv[++i];
    if (a == "--brokers") {
      if (!parse_int(v, &brokers) || brokers < 1 || brokers > 64) {
        return usage_error("--brokers: '" + std::string(v) + "' is not a number from 1 to 64");
      }
    } else if (a == "--port") {
      if (!parse_int(v, &port) || port < 1 || port > 65535) {
        return usage_error("--port: '" + std::string(v) + "' is not a port number");
      }
    } else if (a == "--topic") {
      size_t colon = v.rfind(':');
      int parts = 0;
      if (colon == std::string_view::npos || colon == 0 ||
          !parse_int(v.substr(colon + 1), &parts) || parts < 1) {
        return usage_error("--topic: '" + std::string(v) + "' is not NAME:PARTITIONS");
      }
      topics.emplace_back(std::string(v.substr(0, colon)), parts);
    } else {
      return usage_error("unknown option '" + std::string(a) + "'");
    }
  }

  // Block the stop signals before librdkafka starts its threads, so they
  // inherit the mask and sigwait() below is the only place they land.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  try {
    kafka::MockCluster cluster(brokers, port);
    for (const auto& [name, parts] : topics) cluster.create_topic(name, parts);
    std::cout << cluster.bootstrap_servers() << std::endl;
    std::string created;
    for (const auto& [name, parts] : topics)
      created += (created.empty() ? "" : ", ") + name + ":" + std::to_string(parts);
    core::log_info("embedded broker: ", brokers, " broker(s) at ", cluster.bootstrap_servers(),
                   created.empty() ? std::string() : "; topics " + created,
                   "; each partition keeps only its newest ~5 MiB (older batches are dropped)");
    int sig = 0;
    sigwait(&stop, &sig);
    core::log_info("embedded broker: ", sig == SIGTERM ? "SIGTERM" : "SIGINT", ", stopping");
  } catch (const kafka::KafkaError& e) {
    std::cerr << "sluice broker: " << e.what() << '\n';
    return 1;
  }
  return 0;
}

}  // namespace sluice::app
