// RAII owners for file descriptors and read-only memory maps, and whole-file helpers.
#ifndef SOBRE_CORE_FILE_H_
#define SOBRE_CORE_FILE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sobre {

// Owns one file descriptor and closes it on destruction. Move-only. Thread-compatible.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) Reset(o.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Opens `path` read-only (O_CLOEXEC).
StatusOr<UniqueFd> OpenReadOnly(const std::string& path);

// A whole file mapped read-only. Move-only. Thread-safe for concurrent reads.
class MappedFile {
 public:
  static StatusOr<MappedFile> Open(const std::string& path);
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return static_cast<const std::byte*>(data_); }
  size_t size_bytes() const { return size_bytes_; }
  std::string_view view() const { return {static_cast<const char*>(data_), size_bytes_}; }

 private:
  void* data_ = nullptr;
  size_t size_bytes_ = 0;
};

// Reads a whole file, refusing files larger than `max_bytes` (a hostile size is an error, not an
// out-of-memory).
StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes = 64u << 20);

// Reads a small sysfs/procfs file: one pread of at most 4 KiB from an fd kept by the caller.
// Returns the bytes read; reading sysfs files this way avoids an open per sample.
StatusOr<std::string> PreadSmall(int fd, std::string_view what_for_errors);

// Appends `data` to `path`, creating it (0644) if needed.
Status AppendToFile(const std::string& path, std::string_view data);

bool FileExists(const std::string& path);

}  // namespace sobre

#endif  // SOBRE_CORE_FILE_H_
