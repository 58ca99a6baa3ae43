#include "src/state/state_probe.h"

namespace sluice::state {

StateProbe::StateProbe(metrics::Registry* r, const std::string& pipeline,
                       const std::string& stage) {
  if (!r) return;
  const metrics::Labels l{{"pipeline", pipeline}, {"stage", stage}};
  restore_seconds_ = &r->counter("sluice_state_restore_seconds_total",
                                 "Time spent restoring state partitions from the changelog", l);
  restore_last_ = &r->gauge("sluice_state_restore_seconds_last",
                            "Duration of the last state partition restore", l);
  restored_bytes_ = &r->counter("sluice_state_restored_bytes_total",
                                "Changelog bytes (keys and values) read by state restores", l);
  restored_entries_ = &r->counter("sluice_state_restored_entries_total",
                                  "Changelog records read by state restores", l);
  bad_entries_ = &r->counter("sluice_state_bad_entries_total",
                             "Changelog records skipped on restore: not written by sluice", l);
  keys_ = &r->gauge("sluice_state_keys", "State keys held over the partitions owned", l);
  writes_ = &r->counter("sluice_state_changelog_writes_total", "Changelog records written", l);
  auto skipped = [&](const char* reason) {
    metrics::Labels s = l;
    s.emplace_back("reason", reason);
    return &r->counter("sluice_state_skipped_records_total",
                       "Input records that changed no state: applied (re-delivered) or "
                       "not_owned (partition revoked)",
                       s);
  };
  skipped_applied_ = skipped("applied");
  skipped_not_owned_ = skipped("not_owned");
}

void StateProbe::on_restored(double seconds, uint64_t bytes, uint64_t entries, uint64_t bad) {
  if (!restore_seconds_) return;
  restore_seconds_->inc(seconds);
  restore_last_->set(seconds);
  restored_bytes_->inc(static_cast<double>(bytes));
  restored_entries_->inc(static_cast<double>(entries));
  if (bad) bad_entries_->inc(static_cast<double>(bad));
}

}  // namespace sluice::state
