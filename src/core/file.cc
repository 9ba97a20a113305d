#include "core/file.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sobre {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

StatusOr<UniqueFd> OpenReadOnly(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "opening " + path);
  return UniqueFd(fd);
}

StatusOr<MappedFile> MappedFile::Open(const std::string& path) {
  SOBRE_ASSIGN_OR_RETURN(UniqueFd fd, OpenReadOnly(path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoToStatus(errno, "stat " + path);
  MappedFile file;
  file.size_bytes_ = static_cast<size_t>(st.st_size);
  if (file.size_bytes_ == 0) return file;
  void* p = ::mmap(nullptr, file.size_bytes_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) return ErrnoToStatus(errno, "mmap " + path);
  file.data_ = p;
  return file;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(data_, size_bytes_);
}

MappedFile::MappedFile(MappedFile&& o) noexcept : data_(o.data_), size_bytes_(o.size_bytes_) {
  o.data_ = nullptr;
  o.size_bytes_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) ::munmap(data_, size_bytes_);
    data_ = o.data_;
    size_bytes_ = o.size_bytes_;
    o.data_ = nullptr;
    o.size_bytes_ = 0;
  }
  return *this;
}

StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  SOBRE_ASSIGN_OR_RETURN(UniqueFd fd, OpenReadOnly(path));
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "reading " + path);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return ResourceExhaustedError(path + " is larger than the limit of " +
                                    std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

StatusOr<std::string> PreadSmall(int fd, std::string_view what) {
  char buf[4096];
  ssize_t n;
  do {
    n = ::pread(fd, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoToStatus(errno, "reading " + std::string(what));
  return std::string(buf, static_cast<size_t>(n));
}

Status AppendToFile(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoToStatus(errno, "opening " + path + " for append");
  UniqueFd owner(fd);
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "writing " + path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace sobre
