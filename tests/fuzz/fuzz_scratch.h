// Scratch directory for fuzz targets whose loader reads a path: one per
// process (parallel -jobs do not collide), in /dev/shm when there is one
// (rewriting a file for every input on a disk file system such as ext4 costs
// a flush each time: a few hundred inputs/s instead of thousands), removed at
// exit.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

namespace sluice::fuzz {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    std::error_code ec;
    const bool shm = std::filesystem::is_directory("/dev/shm", ec);
    path_ = (shm ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path()) /
            ("sluice-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path_);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace sluice::fuzz
