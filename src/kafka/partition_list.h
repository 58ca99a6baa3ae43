// PartitionList: RAII over rd_kafka_topic_partition_list_t, owned or borrowed
// (a borrowed list is one librdkafka lends to a callback).
#pragma once
#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <string_view>
#include <utility>

namespace sluice::kafka {

class PartitionList {
 public:
  explicit PartitionList(int capacity = 4)
      : list_(rd_kafka_topic_partition_list_new(capacity)), owned_(true) {}
  static PartitionList borrow(rd_kafka_topic_partition_list_t* list) {
    return PartitionList(list, false);
  }
  ~PartitionList() {
    if (owned_ && list_) rd_kafka_topic_partition_list_destroy(list_);
  }
  PartitionList(PartitionList&& o) noexcept
      : list_(std::exchange(o.list_, nullptr)), owned_(o.owned_) {}
  PartitionList& operator=(PartitionList&&) = delete;
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;

  rd_kafka_topic_partition_t& add(std::string_view topic, int32_t partition,
                                  int64_t offset = RD_KAFKA_OFFSET_INVALID) {
    std::string t(topic);
    rd_kafka_topic_partition_t* p = rd_kafka_topic_partition_list_add(list_, t.c_str(), partition);
    p->offset = offset;
    return *p;
  }

  int size() const { return list_->cnt; }
  bool empty() const { return list_->cnt == 0; }
  const rd_kafka_topic_partition_t& operator[](int i) const { return list_->elems[i]; }
  rd_kafka_topic_partition_t& operator[](int i) { return list_->elems[i]; }
  const rd_kafka_topic_partition_t* begin() const { return list_->elems; }
  const rd_kafka_topic_partition_t* end() const { return list_->elems + list_->cnt; }
  rd_kafka_topic_partition_list_t* get() const { return list_; }

 private:
  PartitionList(rd_kafka_topic_partition_list_t* list, bool owned) : list_(list), owned_(owned) {}
  rd_kafka_topic_partition_list_t* list_;
  bool owned_;
};

}  // namespace sluice::kafka
