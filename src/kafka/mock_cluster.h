// MockCluster: an embedded Kafka-protocol cluster on loopback (librdkafka's
// mock cluster, rdkafka_mock.h), for `sluice broker`, the demo and the tests.
//
// Real clients (kcat, any librdkafka or Java client) can produce, consume and
// join consumer groups against it. Tests use the fault-injection calls.
//
// Limits of librdkafka 2.0.2's mock broker, which callers must respect:
//   - Each partition keeps only its newest ~5 MiB (kPartitionRetentionBytes,
//     counted in stored record-batch bytes, i.e. after compression): older
//     batches are deleted. Spread data over enough partitions (or compress)
//     so that no partition holds more, or consumers lose the oldest records.
//   - No API for fixed ports: with base_port set, the listeners are bound to
//     base_port, base_port+1, ... by intercepting bind() while the cluster is
//     being created (see mock_cluster.cpp).
//   - The CreateTopics admin API is not supported: topics are auto-created
//     on first metadata/produce request, or made up front with create_topic().
//
// Threading: every method may be called from any thread.
#pragma once
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::kafka {

// Kafka protocol request types, for push_request_errors().
namespace api_key {
inline constexpr int16_t kProduce = 0;
inline constexpr int16_t kFetch = 1;
inline constexpr int16_t kListOffsets = 2;
inline constexpr int16_t kMetadata = 3;
inline constexpr int16_t kOffsetCommit = 8;
inline constexpr int16_t kOffsetFetch = 9;
inline constexpr int16_t kFindCoordinator = 10;
inline constexpr int16_t kJoinGroup = 11;
inline constexpr int16_t kHeartbeat = 12;
inline constexpr int16_t kSyncGroup = 14;
inline constexpr int16_t kInitProducerId = 22;
}  // namespace api_key

class MockCluster {
 public:
  static constexpr size_t kPartitionRetentionBytes = 5u << 20;

  // brokers: ids 1..brokers. base_port: 0 for kernel-chosen ports. Throws
  // KafkaError if the cluster cannot be created (e.g. a port is taken).
  explicit MockCluster(int brokers = 1, int base_port = 0);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  // "127.0.0.1:port[,127.0.0.1:port...]"
  const std::string& bootstrap_servers() const { return bootstraps_; }
  int broker_count() const { return brokers_; }

  void create_topic(const std::string& name, int partitions, int replication_factor = 1);

  // ---- fault injection ----------------------------------------------------
  // Disconnects the broker and refuses connections (no leader change).
  void broker_down(int32_t broker_id);
  void broker_up(int32_t broker_id);
  // Adds round-trip delay to every response of the broker (-1: all brokers).
  void set_rtt(int32_t broker_id, int rtt_ms);
  // The next errors.size() requests of this type fail with these errors, in
  // order (RD_KAFKA_RESP_ERR__TRANSPORT disconnects the client instead).
  void push_request_errors(int16_t api_key, const std::vector<rd_kafka_resp_err_t>& errors);
  // Drops the errors still pushed for this request type.
  void clear_request_errors(int16_t api_key);
  // Moves a partition's leadership (the topic is created if missing).
  void set_partition_leader(const std::string& topic, int32_t partition, int32_t broker_id);

  rd_kafka_mock_cluster_t* handle() const { return mcluster_; }

 private:
  int brokers_;
  rd_kafka_t* host_ = nullptr;  // the mock cluster lives in this handle's threads
  rd_kafka_mock_cluster_t* mcluster_ = nullptr;
  std::string bootstraps_;
};

}  // namespace sluice::kafka
