// CrashMarks: the Kafka source's crash-loop breaker. A record that kills the
// process (a segfault in a stage, an abort, the OOM killer) is read again
// after every restart, because its offset is never committed: without a
// breaker it stops its partition for good. CrashMarks keeps, per input
// partition, which records are in flight, in a small file that the next
// start of the same instance reads.
//
//   - Normal running: the window [low, high] of records handed to the
//     pipeline and not yet done, marked before each poll burst is handed on
//     and as completions move `low`.
//   - Deaths are of two kinds. A *crash* is a fatal signal (SIGSEGV, SIGBUS,
//     SIGILL, SIGFPE, SIGABRT): a handler notes it in the file before the
//     signal takes its course. A *kill* is any other unclean end: SIGKILL
//     (kill -9, the OOM killer), a stack overflow (no stack left to run a
//     handler on), a pipeline aborted with records in flight.
//   - Records in flight at a crash, or at two kills in a row, are *suspects*:
//     the source replays them one at a time (suspect mode), each marked alone
//     before it is handed on. A single kill only notes its window: an
//     operator's kill -9 of a healthy process costs nothing.
//   - A suspect in flight alone at a crash, or at two kills, is *poison*: the
//     next start dead-letters it (poison_crash) instead of running it. So a
//     record that segfaults costs two deaths and the third start goes on; one
//     that exhausts memory costs four. An external kill -9 dead-letters
//     nothing unless two kills in a row both land in the few milliseconds the
//     same suspect is alone in flight.
//   - A clean exit (nothing in flight) removes the file when nothing is
//     suspect.
//
// The file: <dir>/<group>.<instance>.<slot>.marks, a 64-byte header and
// `capacity` fixed 96-byte entries (bounded; sparse until used), mapped
// shared: an update is a few aligned stores, no system call, and survives the
// process's death in the page cache (not the machine's: no fsync). Each
// process locks its file (flock); processes of one group and instance on one
// host take the next free slot, and a restart takes the file a dead one left.
// Marks of a partition now assigned elsewhere stay, but act only on records
// this instance reads again: whatever lies below the offset a partition
// resumes at was committed past, and is dropped.
//
// Threading: the source thread only (the signal handler touches one word).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::kafka {

class CrashMarks {
 public:
  using Entry = uint32_t;  // one partition's marks
  static constexpr int kMaxSlots = 16;

  // Opens (creating `dir` and the file if needed) the first free slot's file
  // for this group and instance, and turns what a dead predecessor left into
  // suspects and poison. Installs the fatal-signal handler (once per process).
  // Throws std::runtime_error when no file can be used.
  static std::unique_ptr<CrashMarks> open(const std::string& dir, const std::string& group,
                                          const std::string& instance, size_t capacity);
  ~CrashMarks();  // without clean_exit(): a kill (what is in flight stays marked)
  CrashMarks(const CrashMarks&) = delete;
  CrashMarks& operator=(const CrashMarks&) = delete;

  // The partition is assigned: its entry (found, or claimed).
  Entry assign(std::string_view topic, int32_t partition);
  // The partition is revoked: nothing of it is in flight for us any more.
  void revoke(Entry e);

  // Suspects or a poison record still to come: replay this partition one
  // record at a time.
  bool careful(Entry e) const;
  enum class Verdict { kNormal, kSuspect, kPoison };
  // A record of the partition arrived (offsets increase): what it is.
  Verdict arriving(Entry e, int64_t offset);
  // Deaths of the process while the partition had suspects (or the records
  // that became suspects) in flight: for a poison record, the deaths it was
  // in flight at.
  uint32_t deaths(Entry e) const;

  // Before handing records first..last of the partition to the pipeline.
  void handing(Entry e, int64_t first, int64_t last);
  // Suspect mode: before handing this record on as the only one in flight.
  void handing_alone(Entry e, int64_t offset);
  // Every record of the partition below `offset` is done (OffsetTracker's
  // committable; negative: nothing yet).
  void done_below(Entry e, int64_t offset);

  // Every record is done: clears the in-flight marks; removes the file when
  // nothing is suspect.
  void clean_exit();

  const std::string& path() const { return path_; }
  // What the predecessor's death left: partitions with records in flight,
  // and whether it was a crash (a fatal signal) rather than a kill.
  size_t partitions_in_flight_at_death() const { return died_with_; }
  bool predecessor_crashed() const { return crashed_; }

  // What the fatal-signal handler does: notes a crash in every open marks
  // file of the process. Async-signal-safe.
  static void note_crash() noexcept;

 private:
  struct Record;  // the on-disk entry
  CrashMarks(std::string path, int fd, void* map, size_t map_bytes, size_t capacity);
  Record& at(Entry e) const;
  void recover();
  Entry claim();
  void release_if_unused(Entry e);

  std::string path_;
  int fd_;
  void* map_;
  size_t map_bytes_;
  size_t capacity_;
  int signal_slot_ = -1;                                 // where note_crash() finds this file
  std::map<std::pair<uint64_t, int32_t>, Entry> index_;  // (topic hash, partition) → entry
  std::vector<bool> assigned_;                           // per entry: assigned to us now
  std::vector<Entry> free_;
  size_t died_with_ = 0;
  bool crashed_ = false;
};

}  // namespace sluice::kafka
