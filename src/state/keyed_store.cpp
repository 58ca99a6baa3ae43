#include "src/state/keyed_store.h"

#include <stdexcept>

#include "src/core/log.h"
#include "src/state/entry.h"

namespace sluice::state {
namespace {

constexpr char kKeyPrefix = 'k';
constexpr std::string_view kPartitionKey = "m";

}  // namespace

void PartitionSnapshot::fold(std::string_view key, std::optional<std::string_view> value) {
  ++records;
  bytes += key.size() + (value ? value->size() : 0);
  const bool is_partition = key == kPartitionKey;
  if (!is_partition && (key.empty() || key[0] != kKeyPrefix)) {
    if (bad++ < 10) core::log_warn("state: skipping changelog record: not a sluice state key");
    return;
  }
  if (!value) {
    if (is_partition) {
      partition_payload.reset();
    } else {
      keys.erase(std::string(key.substr(1)));
    }
    return;
  }
  std::string why;
  std::optional<Entry> e = decode_entry(*value, &why);
  if (!e) {
    // Not ours (a stray producer, a corrupted record): skipping it keeps the
    // key's previous value, which is what the store had before the bad write.
    if (bad++ < 10) core::log_warn("state: skipping changelog record: ", why);
    return;
  }
  if (e->applied_offset > applied_offset) applied_offset = e->applied_offset;
  if (is_partition) {
    partition_payload.emplace(e->payload);
  } else {
    keys[std::string(key.substr(1))].assign(e->payload);
  }
}

KeyedStore::KeyedStore(std::string stage, metrics::Registry* probe_registry,
                       const std::string& pipeline)
    : stage_(std::move(stage)), probe_(probe_registry, pipeline, stage_) {}

void KeyedStore::post_restored(int32_t partition, PartitionSnapshot snapshot) {
  probe_.on_restored(snapshot.seconds, snapshot.bytes, snapshot.records, snapshot.bad);
  std::lock_guard lock(mu_);
  posts_.push_back({partition, std::move(snapshot)});
  pending_.store(true, std::memory_order_release);
}

void KeyedStore::post_revoked(int32_t partition) {
  std::lock_guard lock(mu_);
  posts_.push_back({partition, std::nullopt});
  pending_.store(true, std::memory_order_release);
}

std::vector<KeyedStore::Post> KeyedStore::take_posts() {
  std::vector<Post> posts;
  std::lock_guard lock(mu_);
  posts.swap(posts_);
  pending_.store(false, std::memory_order_relaxed);
  return posts;
}

void KeyedStore::adopt(int32_t partition, const PartitionSnapshot& snapshot) {
  drop(partition);  // a partition restored again (revoked and given back) starts afresh
  Owned& p = partitions_[partition];
  p.applied = snapshot.applied_offset;
  p.keys.reserve(snapshot.keys.size());
  for (const auto& [key, payload] : snapshot.keys) p.keys.emplace(key, 0);
  keys_ += p.keys.size();
  probe_.set_keys(keys_);
}

void KeyedStore::drop(int32_t partition) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return;
  keys_ -= it->second.keys.size();
  partitions_.erase(it);
  probe_.set_keys(keys_);
}

bool KeyedStore::applied(int32_t partition, int64_t offset) const {
  return offset >= 0 && offset <= applied_offset(partition);
}

int64_t KeyedStore::applied_offset(int32_t partition) const {
  auto p = partitions_.find(partition);
  return p == partitions_.end() ? -1 : p->second.applied;
}

KeyedStore::Owned& KeyedStore::owned(int32_t partition) {
  auto p = partitions_.find(partition);
  if (p == partitions_.end())
    throw std::logic_error("state '" + stage_ + "': write to partition " +
                           std::to_string(partition) + ", which is not owned");
  if (!writer_) throw std::logic_error("state '" + stage_ + "': no changelog bound");
  return p->second;
}

void KeyedStore::put(int32_t partition, std::string_view key, std::string_view payload,
                     int64_t offset, core::Ack ack) {
  Owned& p = owned(partition);
  if (offset > p.applied) p.applied = offset;
  if (p.keys.find(key) == p.keys.end()) {  // no allocation for a key already held
    p.keys.emplace(std::string(key), 0);
    ++keys_;
    probe_.set_keys(keys_);
  }
  key_scratch_.assign(1, kKeyPrefix);
  key_scratch_.append(key);
  write(p, partition, key_scratch_, payload, std::move(ack));
}

void KeyedStore::erase(int32_t partition, std::string_view key, int64_t offset, core::Ack ack) {
  Owned& p = owned(partition);
  if (offset > p.applied) p.applied = offset;
  auto k = p.keys.find(key);
  if (k != p.keys.end()) {
    p.keys.erase(k);
    --keys_;
    probe_.set_keys(keys_);
  }
  key_scratch_.assign(1, kKeyPrefix);
  key_scratch_.append(key);
  write(p, partition, key_scratch_, std::nullopt, std::move(ack));
}

void KeyedStore::put_partition(int32_t partition, std::string_view payload, int64_t offset,
                               core::Ack ack) {
  Owned& p = owned(partition);
  if (offset > p.applied) p.applied = offset;
  write(p, partition, kPartitionKey, payload, std::move(ack));
}

void KeyedStore::write(Owned& p, int32_t partition, std::string_view key,
                       std::optional<std::string_view> payload, core::Ack ack) {
  if (payload) {
    scratch_.clear();
    append_entry(scratch_, p.applied, *payload);
    writer_->write(partition, key, std::string_view(scratch_), std::move(ack));
  } else {
    writer_->write(partition, key, std::nullopt, std::move(ack));
  }
  probe_.on_write();
}

}  // namespace sluice::state
