// What /healthz (liveness) and /readyz (readiness) of `sluice run` mean, over real HTTP:
// the MetricsService the command uses, attached to real pipelines — a Kafka pipeline on
// the embedded broker (readiness follows the group assignment and broker reachability)
// and a pipeline with a stage that blocks (liveness names the stalled stage).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "app/serve_metrics.h"
#include "src/core/emitter.h"
#include "src/core/pipeline.h"
#include "src/kafka/mock_cluster.h"
#include "tests/integration/kafka/kafka_test_util.h"
#include "tests/integration/metrics/support.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using metrics::testing::http_get;
using metrics::testing::HttpReply;

// The `metrics:` section of a pipeline file, on an ephemeral port.
config::Section metrics_section() {
  return config::Section(YAML::Load("metrics: {enabled: true, listen: '127.0.0.1:0'}"), "");
}

// GETs `path` until `done(reply)` or `timeout`; returns the last reply.
HttpReply poll_until(const app::MetricsService& m, const std::string& path,
                     const std::function<bool(const HttpReply&)>& done,
                     std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  HttpReply reply = http_get(m.port(), path);
  while (!done(reply) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    reply = http_get(m.port(), path);
  }
  return reply;
}

TEST(Readiness, StartingUntilThePipelineIsAttachedAndStarted) {
  app::MetricsService m(metrics_section());
  m.start();  // as `sluice run` does, before building the pipeline (loading the model)
  HttpReply ready = http_get(m.port(), "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "starting: building the pipeline (loading the model)\n");
  HttpReply live = http_get(m.port(), "/healthz");
  EXPECT_EQ(live.status, 200);  // a long model load must not get the pod restarted
  EXPECT_EQ(live.body, "ok: starting\n");
  core::Pipeline p;
  m.attach(p);
  ready = http_get(m.port(), "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "starting: the pipeline has not started yet\n");
  m.stop();
}

// Readiness false → true when the group assigns partitions; false while the only broker
// is down, true again once it is back.
TEST(Readiness, FollowsTheAssignmentAndBrokerReachability) {
  kafka::MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 2);
  cluster.create_topic("out", 2);
  auto o = kafka::testing::options(b, "in", "out", "", "ready-group");
  // Faster than the defaults, so that recovery shows within seconds.
  o.consumer_properties = {{"statistics.interval.ms", "500"}, {"reconnect.backoff.max.ms", "500"}};
  kafka::testing::Harness h(std::move(o));
  app::MetricsService m(metrics_section());
  m.start();
  m.attach(*h.pipeline);
  h.start();
  // Joining the group takes the embedded broker a few seconds.
  HttpReply reply = http_get(m.port(), "/readyz");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body,
            "source 'source': kafka: waiting for a partition assignment in group 'ready-group'\n");
  reply = poll_until(
      m, "/readyz", [](const HttpReply& r) { return r.status == 200; }, 60s);
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.body, "ready\n");

  cluster.broker_down(1);
  reply = poll_until(
      m, "/readyz", [](const HttpReply& r) { return r.status != 200; }, 30s);
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body.rfind("source 'source': kafka: all brokers are down (" + b + ")", 0), 0u)
      << reply.body;
  EXPECT_EQ(http_get(m.port(), "/healthz").status, 200);  // Kafka down is not our wedge

  cluster.broker_up(1);
  reply = poll_until(
      m, "/readyz", [](const HttpReply& r) { return r.status == 200; }, 60s);
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(h.stop(), 0) << h.pipeline->failure();
  m.stop();
}

// Two members, one partition: the member the group leaves without partitions is a ready
// stand-by (and takes over if the other goes), not a failed pod.
TEST(Readiness, GroupMemberWithNoPartitionsIsReady) {
  kafka::MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 1);
  cluster.create_topic("out", 1);
  kafka::testing::Harness first(kafka::testing::options(b, "in", "out", "", "standby-group"));
  kafka::testing::Harness second(kafka::testing::options(b, "in", "out", "", "standby-group"));
  first.start();
  second.start();
  auto partitions = [](const kafka::testing::Harness& h) {
    int n = 0;
    h.source->probe().for_each_partition([&](const kafka::SourceProbe::Partition&) { ++n; });
    return n;
  };
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline &&
         !(first.pipeline->not_ready().empty() && second.pipeline->not_ready().empty() &&
           partitions(first) + partitions(second) == 1)) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(first.pipeline->not_ready(), "");
  EXPECT_EQ(second.pipeline->not_ready(), "");
  EXPECT_EQ(partitions(first) + partitions(second), 1);  // one of them holds nothing
  EXPECT_EQ(first.stop(), 0);
  EXPECT_EQ(second.stop(), 0);
}

// Emits numbered records until the pipeline stops.
class Numbers final : public core::Source {
 public:
  Poll poll(core::Emitter& out) override {
    if (out.stopping()) return Poll::kEnd;
    core::Record r = core::Record::owned(std::nullopt, std::to_string(next_));
    r.partition = 0;
    r.offset = next_++;
    out.emit(std::move(r));
    return Poll::kEmitted;
  }

 private:
  int64_t next_ = 0;
};

// A sink whose process() blocks while `held`: a wedged stage (a hung model, a deadlock).
class Wedge final : public core::Operator {
 public:
  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kNone; }
  void process(core::OperatorState*, core::Item&&, core::Emitter&) const override {
    while (held.load()) std::this_thread::sleep_for(1ms);
    ++done;
  }
  mutable std::atomic<bool> held{true};
  mutable std::atomic<int> done{0};
};

TEST(Liveness, HealthzNamesTheStalledStageAndRecovers) {
  core::PipelineOptions po{"wedged", 8};
  po.stall_timeout = 300ms;
  core::Pipeline p(po);
  p.set_source("numbers", std::make_unique<Numbers>());
  auto wedge = std::make_unique<Wedge>();
  Wedge* w = wedge.get();
  p.add_stage("wedge", std::move(wedge), 1, 8);
  app::MetricsService m(metrics_section());
  m.start();
  m.attach(p);
  p.start();
  EXPECT_EQ(http_get(m.port(), "/readyz").status, 200);  // taking input, as far as it knows
  HttpReply live = poll_until(
      m, "/healthz", [](const HttpReply& r) { return r.status != 200; }, 10s);
  EXPECT_EQ(live.status, 503);
  // The source waiting for room behind it is backpressure, not named.
  EXPECT_EQ(live.body.rfind("stage 'wedge' worker 0 stalled: inside one call, no progress for ", 0),
            0u)
      << live.body;
  EXPECT_EQ(live.body.find("numbers"), std::string::npos) << live.body;

  w->held = false;
  live = poll_until(
      m, "/healthz", [](const HttpReply& r) { return r.status == 200; }, 10s);
  EXPECT_EQ(live.status, 200) << live.body;
  EXPECT_EQ(live.body, "ok\n");
  p.request_stop();
  const HttpReply ready = http_get(m.port(), "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_TRUE(ready.body == "stopping: draining in-flight records\n" ||
              ready.body == "stopped: the pipeline has finished\n")
      << ready.body;
  EXPECT_EQ(p.wait(), 0);
  m.stop();
}

}  // namespace
}  // namespace sluice
