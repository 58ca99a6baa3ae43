// Metrics of one stage's keyed state (DESIGN.md §6), labelled {pipeline, stage}:
//   sluice_state_restore_seconds_total         time spent restoring partitions from the changelog
//   sluice_state_restore_seconds_last          the last partition restore, seconds (gauge)
//   sluice_state_restored_bytes_total          changelog bytes read by restores
//   sluice_state_restored_entries_total        changelog records read by restores
//   sluice_state_keys                          keys held, over the partitions owned (gauge)
//   sluice_state_changelog_writes_total        changelog records written
//   sluice_state_bad_entries_total             changelog records skipped on restore (not sluice's)
//   sluice_state_skipped_records_total{reason} input records that changed no state:
//       applied   (re-delivered: offset already applied), not_owned (partition revoked)
//
// Threading: restore counters from the source thread, the rest from the
// stage's worker; all are atomics.
#pragma once
#include <string>

#include "src/metrics/registry.h"

namespace sluice::state {

class StateProbe {
 public:
  // `registry` may be null (unit tests): nothing is exported.
  StateProbe(metrics::Registry* registry, const std::string& pipeline, const std::string& stage);

  void on_restored(double seconds, uint64_t bytes, uint64_t entries, uint64_t bad);
  void set_keys(size_t n) {
    if (keys_) keys_->set(static_cast<double>(n));
  }
  void on_write() {
    if (writes_) writes_->inc();
  }
  void on_skipped_applied() {
    if (skipped_applied_) skipped_applied_->inc();
  }
  void on_skipped_not_owned() {
    if (skipped_not_owned_) skipped_not_owned_->inc();
  }

 private:
  metrics::Counter* restore_seconds_ = nullptr;
  metrics::Gauge* restore_last_ = nullptr;
  metrics::Counter* restored_bytes_ = nullptr;
  metrics::Counter* restored_entries_ = nullptr;
  metrics::Counter* bad_entries_ = nullptr;
  metrics::Gauge* keys_ = nullptr;
  metrics::Counter* writes_ = nullptr;
  metrics::Counter* skipped_applied_ = nullptr;
  metrics::Counter* skipped_not_owned_ = nullptr;
};

}  // namespace sluice::state
