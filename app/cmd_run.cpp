// `sluice run PIPELINE.yaml [--set key=value ...]`: runs a pipeline until its
// input ends or SIGTERM/SIGINT.
//
// Exit codes: 0 drained cleanly; 1 a stage failed (or the drain timed out);
// 2 bad configuration (every problem listed with its key path).
// On the first SIGTERM/SIGINT the pipeline drains within
// runtime.shutdown_timeout, then aborts; a second signal aborts at once.
// SIGHUP reloads the pipeline's model directories (operators/model_reloader.h)
// without stopping anything; so does a change of a model directory, noticed
// within about two seconds. A pipeline without a model directory (tokenize,
// infer, classify; the recommend model is not reloadable) logs SIGHUP and goes on
// (its default action, exit 129 at once, would lose every in-flight commit).
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <thread>

#include "app/commands.h"
#include "app/options.h"
#include "app/serve_metrics.h"
#include "app/wiring/pipeline_factory.h"
#include "app/wiring/registry.h"
#include "operators/model_reloader.h"
#include "src/core/log.h"

namespace sluice::app {
namespace {

// Blocks SIGINT/SIGTERM/SIGHUP in every thread (call before creating any) and
// returns the set for sigwait on a dedicated thread.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "a signal";
  }
}

// Raises the soft limit on open files to the hard limit, as servers commonly do:
// Kafka connections, model files and up to metrics max_connections sockets share
// the soft limit, often only 1024, and a flood of connections must not exhaust it.
void raise_open_files_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  const rlim_t was = lim.rlim_cur;
  lim.rlim_cur = lim.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &lim) == 0) {
    core::log_debug("open files limit raised from ", was, " to ", lim.rlim_cur);
  } else {
    core::log_warn("cannot raise the open files limit from ", was, " to ", lim.rlim_max);
  }
}

}  // namespace

int cmd_run(int argc, char** argv) {
  constexpr const char* kUsage = "usage: sluice run PIPELINE.yaml [--set key=value ...]\n";
  if (wants_help(argc, argv)) {
    std::cout << kUsage
              << "Runs a pipeline until its input ends or SIGTERM/SIGINT. Exit 0: drained;\n"
                 "1: a stage failed; 2: bad configuration. SIGHUP, or a change of a model\n"
                 "directory, reloads the model without a restart (a broken one is refused).\n"
              << kSetHelp;
    return 0;
  }
  PipelineArgs args;
  std::string error;
  if (!parse_pipeline_args(argc, argv, &args, &error)) {
    std::cerr << "sluice run: " << error << '\n' << kUsage;
    return 2;
  }
  sigset_t signals = block_stop_signals();
  raise_open_files_limit();

  const auto& registry = app::builtin_registry();
  std::unique_ptr<MetricsService> metrics;
  app::BuiltPipeline built;
  // Stop order: the endpoint (whose probes read the pipeline) before the pipeline,
  // on every path out of here.
  struct StopMetricsFirst {
    std::unique_ptr<MetricsService>& metrics;
    ~StopMetricsFirst() {
      if (metrics) metrics->stop();
    }
  } stop_metrics_first{metrics};
  config::Loaded loaded;
  try {
    loaded = config::load_file(args.path, *app::builtin_pipeline_schema(), args.overrides);
    metrics = std::make_unique<MetricsService>(loaded.root());
    // Serve first: probes get answers (ready: no) while the model loads.
    metrics->start();
    built = app::build_pipeline(loaded, registry, metrics->registry());
    metrics->attach(*built.pipeline);
    built.pipeline->start();
  } catch (const config::ConfigError& e) {
    std::cerr << (e.source() == args.path ? "" : args.path + ": ") << e.what() << '\n';
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << args.path << ": " << loaded.redact(e.what()) << '\n';
    return 2;
  } catch (const std::exception& e) {
    core::log_error("start-up failed: ", loaded.redact(e.what()));
    return 1;
  }

  core::Pipeline& pipeline = *built.pipeline;
  // Declared after `built`: stops (and is destroyed) before the pipeline goes.
  operators::ModelReloader reloader(operators::model_slots(*built.services), built.name,
                                    metrics->registry());
  reloader.start();
  std::atomic<int> signals_seen{0};
  std::atomic<bool> done{false};
  std::thread signal_thread([&] {
    while (!done.load()) {
      timespec ts{0, 100'000'000};
      int sig = sigtimedwait(&signals, nullptr, &ts);
      if (sig <= 0) continue;
      if (sig == SIGHUP) {
        if (reloader.empty()) {
          core::log_info(
              "received SIGHUP: no reloadable model directory in the pipeline, nothing to reload");
        } else {
          core::log_info("received SIGHUP: reloading ", reloader.describe());
          reloader.request_reload();
        }
        continue;
      }
      int n = ++signals_seen;
      if (n == 1) {
        core::log_info(
            "received ", signal_name(sig), ": draining (up to ",
            std::chrono::duration_cast<std::chrono::milliseconds>(built.shutdown_timeout).count(),
            " ms)");
        pipeline.request_stop();  // /readyz: 503 "stopping: draining in-flight records"
      } else {
        pipeline.abort("second stop signal");
      }
    }
  });

  // Wait for the end of input, or for a requested drain to finish in time.
  // The drain gets shutdown_timeout less a reserve for what follows it (the
  // source's final commit and leaving the group, which end within
  // shutdown_timeout of the stop), so that a stop ends in time even when no
  // broker answers (it took 39-78 s against 30 s during an outage).
  const auto drain_timeout =
      built.shutdown_timeout -
      std::min<std::chrono::nanoseconds>(built.shutdown_timeout / 4, std::chrono::seconds(5));
  auto stop_seen_at = core::SteadyClock::time_point::max();
  while (!pipeline.wait_for(std::chrono::milliseconds(100))) {
    if (signals_seen.load() > 0 && stop_seen_at == core::SteadyClock::time_point::max())
      stop_seen_at = core::SteadyClock::now();
    if (core::SteadyClock::now() - stop_seen_at > drain_timeout) {
      pipeline.abort("drain did not finish within runtime.shutdown_timeout");
    }
  }
  int rc = pipeline.wait();
  done = true;
  signal_thread.join();
  reloader.stop();
  metrics->stop();
  if (rc != 0) core::log_error("pipeline '", built.name, "' failed: ", pipeline.failure());
  return rc;
}

}  // namespace sluice::app
