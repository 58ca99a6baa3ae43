#include "src/kafka/crash_marks.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <mutex>
#include <stdexcept>

#include "src/core/log.h"

namespace sluice::kafka {
namespace {

constexpr char kMagic[8] = {'S', 'L', 'U', 'I', 'C', 'E', 'C', 'M'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kAlone = 1;  // flags: the in-flight window is one record, alone in the pipeline

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t entry_bytes;
  uint64_t capacity;
  uint32_t crashed;  // set by the fatal-signal handler; read and cleared at the next start
  char reserved[36];
};
static_assert(sizeof(Header) == 64);

// FNV-1a; 0 marks a free entry, so never 0.
uint64_t topic_hash(std::string_view topic) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : topic) h = (h ^ c) * 1099511628211ull;
  return h ? h : 1;
}

std::string file_part(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 100)) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
    out += keep ? c : '_';
  }
  return out.empty() ? "_" : out;
}

std::runtime_error io_error(const std::string& what, const std::string& path) {
  return std::runtime_error("crash marks: " + what + " " + path + ": " + std::strerror(errno));
}

// Every store to the mapped file is one aligned word, released in program
// order: a death between two stores leaves a state the next start reads
// safely (each update below is ordered so that every prefix of it is).
template <typename T>
void put(T& field, T value) {
  std::atomic_ref<T>(field).store(value, std::memory_order_release);
}

// ---- fatal signals --------------------------------------------------------
constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
constexpr size_t kFatalCount = std::size(kFatalSignals);
struct sigaction g_previous[kFatalCount];
constexpr int kSignalSlots = 8;  // marks files open at once in one process that hear of crashes
std::atomic<uint32_t*> g_crash_words[kSignalSlots];
std::once_flag g_install_once;

void on_fatal_signal(int sig) {
  CrashMarks::note_crash();
  // Then as if we had not been here: the previous action (the default kills
  // with this signal, so the exit status is unchanged; a sanitizer reports).
  for (size_t i = 0; i < kFatalCount; ++i)
    if (kFatalSignals[i] == sig) ::sigaction(sig, &g_previous[i], nullptr);
  ::raise(sig);  // blocked while we run: delivered as we return
}

void install_fatal_signal_handler() {
  std::call_once(g_install_once, [] {
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_ONSTACK;
    for (size_t i = 0; i < kFatalCount; ++i) ::sigaction(kFatalSignals[i], &sa, &g_previous[i]);
  });
}

}  // namespace

struct CrashMarks::Record {
  uint64_t topic;  // topic_hash(); 0: a free entry
  int32_t partition;
  uint32_t flags;
  int64_t in_low, in_high;  // handed to the pipeline and not done; empty when low > high
  int64_t s_low, s_high;    // suspects: replayed one at a time
  int64_t k_low, k_high;    // in flight at the last kill (one kill makes no suspects)
  int64_t culprit;          // a suspect alone in flight at a death; -1 none
  uint32_t deaths;          // deaths with any of the above in flight
  uint16_t culprit_kills;   // kills the culprit was alone in flight at
  uint16_t poison;          // 1: dead-letter the culprit
  char reserved[16];

  bool in_flight() const { return in_low <= in_high; }
  bool suspects() const { return s_low <= s_high; }
  bool killed_window() const { return k_low <= k_high; }
  bool used() const { return suspects() || killed_window() || culprit >= 0; }
  // What lies below `offset` is done, or was committed past: never suspect again.
  void passed_below(int64_t offset) {
    if (suspects() && offset > s_low) put(s_low, offset);
    if (killed_window() && offset > k_low) put(k_low, offset);
    if (culprit >= 0 && offset > culprit) {
      put(poison, uint16_t{0});
      put(culprit_kills, uint16_t{0});
      put(culprit, int64_t{-1});
    }
    if (deaths && !used()) put(deaths, 0u);
  }
};

std::unique_ptr<CrashMarks> CrashMarks::open(const std::string& dir, const std::string& group,
                                             const std::string& instance, size_t capacity) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("crash marks: cannot create " + dir + ": " + ec.message());
  const std::string base = dir + "/" + file_part(group) + "." + file_part(instance) + ".";
  const size_t bytes = sizeof(Header) + capacity * sizeof(Record);  // Record: 96 bytes
  for (int slot = 0, retries = 0; slot < kMaxSlots; ++slot) {
    const std::string path = base + std::to_string(slot) + ".marks";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw io_error("cannot open", path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) continue;  // a live process of this instance has it
      errno = err;
      throw io_error("cannot lock", path);
    }
    // A clean exit may have removed the file between our open and our lock.
    struct stat opened = {}, named = {};
    if (::fstat(fd, &opened) != 0 || ::stat(path.c_str(), &named) != 0 ||
        opened.st_ino != named.st_ino || opened.st_dev != named.st_dev) {
      ::close(fd);
      if (++retries < 100) --slot;
      continue;
    }
    Header h{};
    const bool ours = ::pread(fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h) &&
                      std::memcmp(h.magic, kMagic, sizeof kMagic) == 0 && h.version == kVersion &&
                      h.entry_bytes == sizeof(Record) && h.capacity == capacity &&
                      static_cast<size_t>(opened.st_size) == bytes;
    if (!ours) {
      if (opened.st_size > 0)
        core::log_warn("crash marks: ", path, " has another format or capacity; starting afresh");
      std::memcpy(h.magic, kMagic, sizeof kMagic);
      h.version = kVersion;
      h.entry_bytes = sizeof(Record);
      h.capacity = capacity;
      if (::ftruncate(fd, 0) != 0 || ::ftruncate(fd, static_cast<off_t>(bytes)) != 0 ||
          ::pwrite(fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) {
        const int err = errno;
        ::close(fd);
        errno = err;
        throw io_error("cannot initialise", path);
      }
    }
    void* map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      errno = err;
      throw io_error("cannot map", path);
    }
    std::unique_ptr<CrashMarks> marks(new CrashMarks(path, fd, map, bytes, capacity));
    marks->recover();
    install_fatal_signal_handler();
    auto* word = &static_cast<Header*>(map)->crashed;
    for (int i = 0; i < kSignalSlots && marks->signal_slot_ < 0; ++i) {
      uint32_t* none = nullptr;
      if (g_crash_words[i].compare_exchange_strong(none, word)) marks->signal_slot_ = i;
    }
    if (marks->signal_slot_ < 0)
      core::log_warn("crash marks: ", path, ": too many marks files open; crashes count as kills");
    return marks;
  }
  throw std::runtime_error("crash marks: all " + std::to_string(kMaxSlots) + " files " + base +
                           "*.marks are locked by live processes");
}

CrashMarks::CrashMarks(std::string path, int fd, void* map, size_t map_bytes, size_t capacity)
    : path_(std::move(path)),
      fd_(fd),
      map_(map),
      map_bytes_(map_bytes),
      capacity_(capacity),
      assigned_(capacity, false) {}

CrashMarks::~CrashMarks() {
  if (signal_slot_ >= 0) g_crash_words[signal_slot_].store(nullptr);
  ::munmap(map_, map_bytes_);
  ::close(fd_);  // releases the lock
}

void CrashMarks::note_crash() noexcept {
  for (auto& word : g_crash_words) {
    if (uint32_t* w = word.load(std::memory_order_acquire))
      std::atomic_ref<uint32_t>(*w).store(1, std::memory_order_release);
  }
}

CrashMarks::Record& CrashMarks::at(Entry e) const {
  static_assert(sizeof(Record) == 96 && alignof(Record) == 8);
  return reinterpret_cast<Record*>(static_cast<char*>(map_) + sizeof(Header))[e];
}

// What the predecessor left (see the header's rules). Every entry is
// rewritten at once, so a death right now loses nothing.
void CrashMarks::recover() {
  Header& h = *static_cast<Header*>(map_);
  crashed_ = h.crashed != 0;
  for (Entry e = static_cast<Entry>(capacity_); e-- > 0;) {
    Record& r = at(e);
    if (r.topic == 0) {
      free_.push_back(e);
      continue;
    }
    if (r.in_flight()) {
      ++died_with_;
      put(r.deaths, r.deaths + 1);
      int64_t low = r.in_low;
      const int64_t high = r.in_high;
      bool culprit = false;
      if (r.flags & kAlone) {
        low = high;  // the window is that one record
        culprit = high == r.culprit || (r.suspects() && r.s_low <= high && high <= r.s_high);
      }
      if (culprit) {
        if (high != r.culprit) {
          put(r.poison, uint16_t{0});
          put(r.culprit_kills, uint16_t{0});
          put(r.culprit, high);
        }
        if (!crashed_) put(r.culprit_kills, static_cast<uint16_t>(r.culprit_kills + 1));
        if (crashed_ || r.culprit_kills >= 2) put(r.poison, uint16_t{1});
      } else {
        // Suspects: what was in flight at a crash, or at this kill and the last.
        int64_t add_low = low, add_high = high;
        if (!crashed_) {
          add_low = std::max(low, r.k_low);
          add_high = r.killed_window() ? std::min(high, r.k_high) : -1;
          put(r.k_high, high);
          put(r.k_low, low);
        }
        if (add_low <= add_high) {
          if (r.suspects()) {
            put(r.s_low, std::min(r.s_low, add_low));
            put(r.s_high, std::max(r.s_high, add_high));
          } else {
            put(r.s_high, add_high);
            put(r.s_low, add_low);
          }
        }
      }
    }
    put(r.flags, 0u);
    put(r.in_low, int64_t{0});
    put(r.in_high, int64_t{-1});
    if (r.used()) {
      index_[{r.topic, r.partition}] = e;
    } else {
      put(r.deaths, 0u);
      put(r.topic, uint64_t{0});
      free_.push_back(e);
    }
  }
  put(h.crashed, 0u);
}

CrashMarks::Entry CrashMarks::claim() {
  if (free_.empty()) {
    // Full of marks for partitions assigned elsewhere: drop one of them.
    for (auto it = index_.begin(); it != index_.end(); ++it) {
      if (assigned_[it->second]) continue;
      const Entry e = it->second;
      put(at(e).topic, uint64_t{0});
      index_.erase(it);
      return e;
    }
    throw std::logic_error("crash marks: more partitions assigned than the file's capacity");
  }
  const Entry e = free_.back();
  free_.pop_back();
  return e;
}

void CrashMarks::release_if_unused(Entry e) {
  Record& r = at(e);
  if (assigned_[e] || r.used()) return;
  index_.erase({r.topic, r.partition});
  put(r.topic, uint64_t{0});
  free_.push_back(e);
}

CrashMarks::Entry CrashMarks::assign(std::string_view topic, int32_t partition) {
  const uint64_t hash = topic_hash(topic);
  if (auto it = index_.find({hash, partition}); it != index_.end()) {
    assigned_[it->second] = true;
    return it->second;
  }
  const Entry e = claim();
  Record& r = at(e);
  put(r.partition, partition);
  put(r.flags, 0u);
  put(r.in_low, int64_t{0});
  put(r.in_high, int64_t{-1});
  put(r.s_low, int64_t{0});
  put(r.s_high, int64_t{-1});
  put(r.k_low, int64_t{0});
  put(r.k_high, int64_t{-1});
  put(r.culprit, int64_t{-1});
  put(r.deaths, 0u);
  put(r.culprit_kills, uint16_t{0});
  put(r.poison, uint16_t{0});
  put(r.topic, hash);  // last: the entry exists from here on
  index_[{hash, partition}] = e;
  assigned_[e] = true;
  return e;
}

void CrashMarks::revoke(Entry e) {
  Record& r = at(e);
  put(r.flags, 0u);
  put(r.in_high, int64_t{-1});
  put(r.in_low, int64_t{0});
  assigned_[e] = false;
  release_if_unused(e);
}

bool CrashMarks::careful(Entry e) const {
  const Record& r = at(e);
  return r.suspects() || r.culprit >= 0;
}

CrashMarks::Verdict CrashMarks::arriving(Entry e, int64_t offset) {
  Record& r = at(e);
  // Offsets increase: what lies below this one was committed past (by us,
  // or by whoever had the partition meanwhile) and will not come again.
  r.passed_below(offset);
  if (offset == r.culprit) return r.poison ? Verdict::kPoison : Verdict::kSuspect;
  if (r.suspects() && r.s_low <= offset && offset <= r.s_high) return Verdict::kSuspect;
  return Verdict::kNormal;
}

uint32_t CrashMarks::deaths(Entry e) const { return at(e).deaths; }

void CrashMarks::handing(Entry e, int64_t first, int64_t last) {
  Record& r = at(e);
  if (r.flags) put(r.flags, 0u);
  if (!r.in_flight()) put(r.in_low, first);
  put(r.in_high, last);
}

void CrashMarks::handing_alone(Entry e, int64_t offset) {
  Record& r = at(e);
  put(r.flags, 0u);
  put(r.in_low, offset);  // above in_high (the last record is done): empty
  put(r.flags, kAlone);
  put(r.in_high, offset);
}

void CrashMarks::done_below(Entry e, int64_t offset) {
  if (offset < 0) return;
  Record& r = at(e);
  if (offset > r.in_low) put(r.in_low, offset);
  r.passed_below(offset);
}

void CrashMarks::clean_exit() {
  for (auto it = index_.begin(); it != index_.end();) {
    Record& r = at(it->second);
    put(r.flags, 0u);
    put(r.in_high, int64_t{-1});
    put(r.in_low, int64_t{0});
    put(r.k_high, int64_t{-1});  // kills in a row: a clean exit ends the row
    if (r.suspects() || r.culprit >= 0) {
      ++it;
      continue;
    }
    put(r.deaths, 0u);
    put(r.topic, uint64_t{0});
    free_.push_back(it->second);
    it = index_.erase(it);
  }
  if (index_.empty()) ::unlink(path_.c_str());  // still locked: a newcomer re-checks the name
}

}  // namespace sluice::kafka
