#include "src/kafka/mock_cluster.h"

#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "src/core/log.h"
#include "src/kafka/conf.h"
#include "src/kafka/error.h"

// ---- fixed ports -----------------------------------------------------------
// librdkafka 2.0.2's mock brokers bind 127.0.0.1:0 (a kernel-chosen port) and
// offer no way to choose one. While a MockCluster with a base port is being
// constructed, this thread's bind() calls asking for port 0 get base_port,
// base_port+1, ... instead. The mock cluster creates its brokers on the
// calling thread, before its own thread starts, so only those binds are
// affected; every other bind() in the process goes straight to libc. This
// definition takes precedence over libc's for librdkafka's calls because the
// executable that links it exports the symbol.
namespace {
thread_local int t_next_fixed_port = 0;
using BindFn = int (*)(int, const sockaddr*, socklen_t);
}  // namespace

extern "C" int bind(int fd, const sockaddr* addr, socklen_t len) noexcept {
  static BindFn real = reinterpret_cast<BindFn>(dlsym(RTLD_NEXT, "bind"));
  if (t_next_fixed_port > 0 && addr && addr->sa_family == AF_INET && len >= sizeof(sockaddr_in) &&
      reinterpret_cast<const sockaddr_in*>(addr)->sin_port == 0) {
    sockaddr_in fixed = *reinterpret_cast<const sockaddr_in*>(addr);
    fixed.sin_port = htons(static_cast<uint16_t>(t_next_fixed_port++));
    return real(fd, reinterpret_cast<const sockaddr*>(&fixed), sizeof fixed);
  }
  return real(fd, addr, len);
}

// ---- no Nagle on the brokers' connections ----------------------------------
// A real Kafka broker turns Nagle's algorithm off on every connection it
// accepts (TCP_NODELAY); librdkafka 2.0.2's mock brokers leave it on. Against
// a client that delays its ACKs (Linux: up to 40 ms), a response written in
// more than one piece then waits for the ACK of the first: an idempotent
// producer, which has one ProduceRequest in flight per partition, stalled up
// to ~40 ms per request (a sluice sink's p99 on the embedded broker was 47 ms
// where the same records took 8 ms with the ACKs not delayed). While a
// MockCluster exists, the connections accepted in this process get
// TCP_NODELAY, as a real broker's do. Same interposition as bind() above.
namespace {
std::atomic<int> g_mock_clusters{0};
using AcceptFn = int (*)(int, sockaddr*, socklen_t*);
}  // namespace

extern "C" int accept(int fd, sockaddr* addr, socklen_t* len) {
  static AcceptFn real = reinterpret_cast<AcceptFn>(dlsym(RTLD_NEXT, "accept"));
  const int s = real(fd, addr, len);
  if (s >= 0 && g_mock_clusters.load(std::memory_order_relaxed) > 0) {
    int on = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // fails harmlessly on non-TCP
  }
  return s;
}

namespace sluice::kafka {
namespace {

// librdkafka 2.0.2 aborts the process (an assert in its clean-up path) when a
// mock broker cannot bind, so check the ports first.
bool port_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);  // as the mock broker does
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

MockCluster::MockCluster(int brokers, int base_port) : brokers_(brokers) {
  if (brokers < 1) throw KafkaError("embedded broker: --brokers must be at least 1");
  if (base_port < 0 || base_port + brokers - 1 > 65535) {
    throw KafkaError("embedded broker: ports " + std::to_string(base_port) + ".." +
                     std::to_string(base_port + brokers - 1) + " are out of range");
  }
  for (int p = base_port; base_port > 0 && p < base_port + brokers; ++p) {
    if (!port_free(p))
      throw KafkaError("embedded broker: port " + std::to_string(p) + " on 127.0.0.1 is in use");
  }
  Conf conf;
  // The host handle never connects anywhere; keep its "no bootstrap.servers"
  // notice out of the logs.
  conf.set("log_level", "4").set("client.id", "sluice-broker");
  host_ = new_client(RD_KAFKA_PRODUCER, std::move(conf), "embedded broker");
  t_next_fixed_port = base_port;
  g_mock_clusters.fetch_add(1);  // before its thread can accept anything
  mcluster_ = rd_kafka_mock_cluster_new(host_, brokers);
  t_next_fixed_port = 0;
  if (!mcluster_) {
    g_mock_clusters.fetch_sub(1);
    rd_kafka_destroy(host_);
    throw KafkaError(base_port ? "embedded broker: cannot listen on 127.0.0.1 ports " +
                                     std::to_string(base_port) + ".." +
                                     std::to_string(base_port + brokers - 1) + " (in use?)"
                               : std::string("embedded broker: cannot create the mock cluster"));
  }
  bootstraps_ = rd_kafka_mock_cluster_bootstraps(mcluster_);
}

MockCluster::~MockCluster() {
  if (mcluster_) {
    rd_kafka_mock_cluster_destroy(mcluster_);
    g_mock_clusters.fetch_sub(1);
  }
  if (host_) rd_kafka_destroy(host_);
}

void MockCluster::create_topic(const std::string& name, int partitions, int replication_factor) {
  if (partitions < 1)
    throw KafkaError("embedded broker: topic '" + name + "' needs at least one partition");
  check(rd_kafka_mock_topic_create(mcluster_, name.c_str(), partitions, replication_factor),
        "embedded broker: create topic '" + name + "'");
}

void MockCluster::broker_down(int32_t broker_id) {
  check(rd_kafka_mock_broker_set_down(mcluster_, broker_id), "embedded broker: broker down");
}

void MockCluster::broker_up(int32_t broker_id) {
  check(rd_kafka_mock_broker_set_up(mcluster_, broker_id), "embedded broker: broker up");
}

void MockCluster::set_rtt(int32_t broker_id, int rtt_ms) {
  check(rd_kafka_mock_broker_set_rtt(mcluster_, broker_id, rtt_ms), "embedded broker: set rtt");
}

void MockCluster::push_request_errors(int16_t api_key,
                                      const std::vector<rd_kafka_resp_err_t>& errors) {
  rd_kafka_mock_push_request_errors_array(mcluster_, api_key, errors.size(), errors.data());
}

void MockCluster::clear_request_errors(int16_t api_key) {
  rd_kafka_mock_clear_request_errors(mcluster_, api_key);
}

void MockCluster::set_partition_leader(const std::string& topic, int32_t partition,
                                       int32_t broker_id) {
  check(rd_kafka_mock_partition_set_leader(mcluster_, topic.c_str(), partition, broker_id),
        "embedded broker: set leader of " + topic + " [" + std::to_string(partition) + "]");
}

}  // namespace sluice::kafka
