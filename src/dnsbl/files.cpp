#include "dnsbl/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace mx::dnsbl {

namespace {

load_error file_error(const std::string& path, const std::string& what) {
  return load_error{path, 0, what};
}

class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Large enough that the per-read cost vanishes, small enough to stay in the L2 cache while it
// is parsed (1 MiB chunks were read back from L3).
constexpr std::size_t read_chunk = 128 << 10;

}  // namespace

mx::expected<source_text, load_error> read_source(const std::string& path) {
  fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return mx::unexpected(
        file_error(path, std::string("unable to open file: ") + std::strerror(errno)));
  }
  struct stat before {};
  if (::fstat(fd.get(), &before) != 0) {
    return mx::unexpected(
        file_error(path, std::string("unable to stat file: ") + std::strerror(errno)));
  }
  if (!S_ISREG(before.st_mode)) return mx::unexpected(file_error(path, "not a regular file"));
  source_text out;
  out.name = path;
  out.mtime = static_cast<std::int64_t>(before.st_mtime);
  out.text.reserve(static_cast<std::size_t>(before.st_size));
  std::vector<char> buf(1 << 16);
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return mx::unexpected(
          file_error(path, std::string("error reading file: ") + std::strerror(errno)));
    }
    if (n == 0) break;
    out.text.append(buf.data(), static_cast<std::size_t>(n));
  }
  struct stat after {};
  if (::fstat(fd.get(), &after) != 0 || after.st_mtime != before.st_mtime ||
      after.st_size != before.st_size) {
    return mx::unexpected(
        file_error(path,
                   "file changed while it was read, data load aborted (write a temporary file and "
                   "rename it into place)"));
  }
  if (out.text.size() >= 2 && static_cast<unsigned char>(out.text[0]) == 0x1F &&
      static_cast<unsigned char>(out.text[1]) == 0x8B) {
    return mx::unexpected(file_error(path, "gzip-compressed data files are not supported"));
  }
  return out;
}

mx::expected<load_result, load_error> load_dataset_files(dataset_type type,
                                                         std::span<const std::string> paths,
                                                         const load_options& opts) {
  dataset_loader loader(type, opts);
  std::vector<char> buf(read_chunk);
  for (const auto& path : paths) {
    fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      return mx::unexpected(
          file_error(path, std::string("unable to open file: ") + std::strerror(errno)));
    }
    struct stat before {};
    if (::fstat(fd.get(), &before) != 0) {
      return mx::unexpected(
          file_error(path, std::string("unable to stat file: ") + std::strerror(errno)));
    }
    if (!S_ISREG(before.st_mode)) return mx::unexpected(file_error(path, "not a regular file"));
    (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    loader.begin_source(path, static_cast<std::int64_t>(before.st_mtime));
    bool first = true;
    for (;;) {
      const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return mx::unexpected(
            file_error(path, std::string("error reading file: ") + std::strerror(errno)));
      }
      if (n == 0) break;
      // A chunk may end with the first octet of the gzip magic alone; a file whose first read
      // is one octet long is not worth a special case.
      if (first && n >= 2 && static_cast<unsigned char>(buf[0]) == 0x1F &&
          static_cast<unsigned char>(buf[1]) == 0x8B) {
        return mx::unexpected(file_error(path, "gzip-compressed data files are not supported"));
      }
      first = false;
      if (!loader.feed({buf.data(), static_cast<std::size_t>(n)})) break;
    }
    struct stat after {};
    if (::fstat(fd.get(), &after) != 0 || after.st_mtime != before.st_mtime ||
        after.st_size != before.st_size) {
      return mx::unexpected(
          file_error(path,
                     "file changed while it was read, data load aborted (write a temporary file "
                     "and rename it into place)"));
    }
    if (!loader.end_source()) break;
  }
  return loader.finish();
}

}  // namespace mx::dnsbl
