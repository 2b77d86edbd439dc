#include "dnsbl/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <system_error>
#include <thread>
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

namespace {

// Reads [begin, end) of fd in read_chunk pieces and hands each to feed (which returns false to
// stop). Returns errno on a read error, 0 otherwise.
template <class Feed>
int read_range(int fd, std::uint64_t begin, std::uint64_t end, std::vector<char>& buf, Feed feed) {
  while (begin < end) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), end - begin));
    const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(begin));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) break;  // the file shrank: the stat check after the load says so
    begin += static_cast<std::uint64_t>(n);
    if (!feed(std::string_view(buf.data(), static_cast<std::size_t>(n)))) break;
  }
  return 0;
}

// Where the file's parts begin, at line starts after size * k / n; the last entry is size.
std::vector<std::uint64_t> split_points(int fd, std::uint64_t size, unsigned n) {
  std::vector<std::uint64_t> at{0};
  std::array<char, 4096> window{};
  for (unsigned k = 1; k < n; ++k) {
    std::uint64_t pos = std::max(at.back(), size * k / n);
    std::uint64_t found = size;
    while (pos < size) {
      const ssize_t got = ::pread(fd, window.data(), window.size(), static_cast<off_t>(pos));
      if (got <= 0) break;
      const void* nl = std::memchr(window.data(), '\n', static_cast<std::size_t>(got));
      if (nl != nullptr) {
        found = pos + static_cast<std::uint64_t>(static_cast<const char*>(nl) - window.data()) + 1;
        break;
      }
      pos += static_cast<std::uint64_t>(got);
    }
    if (found >= size) break;  // no line start left: fewer parts
    if (found > at.back()) at.push_back(found);
  }
  at.push_back(size);
  return at;
}

unsigned part_count(const load_options& opts, std::uint64_t size) {
  const unsigned n = thread_count(opts);
  const std::uint64_t per = std::max<std::size_t>(opts.min_bytes_per_thread, 1);
  return static_cast<unsigned>(std::min<std::uint64_t>(n, std::max<std::uint64_t>(size / per, 1)));
}

// One part, parsed on its own thread. An error (a read error, no memory) leaves the part where
// it got to; the loader parses the rest itself and meets the error there.
struct part_job {
  std::unique_ptr<dataset_part> part;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::thread thread;
  bool failed = false;  // an exception (no memory): the loader parses the whole part
};

void parse_part(int fd, part_job& job) noexcept {
  try {
    std::vector<char> buf(read_chunk);
    const int err = read_range(fd, job.begin, job.end, buf,
                               [&](std::string_view text) { return job.part->feed(text); });
    if (err == 0) job.part->end();
  } catch (...) {
    job.failed = true;
  }
}

// Joins the parts' threads however the loader leaves (an exception included).
struct join_all {
  explicit join_all(std::vector<part_job>& j) : jobs(j) {}
  std::vector<part_job>& jobs;
  join_all(const join_all&) = delete;
  join_all& operator=(const join_all&) = delete;
  ~join_all() {
    for (auto& job : jobs) {
      if (job.thread.joinable()) job.thread.join();
    }
  }
};

}  // namespace

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
    const auto size = static_cast<std::uint64_t>(before.st_size);

    // Large files: the parts after the first are parsed on other threads meanwhile.
    const unsigned parts = part_count(opts, size);
    const std::vector<std::uint64_t> at =
        parts > 1 ? split_points(fd.get(), size, parts) : std::vector<std::uint64_t>{0, size};
    std::vector<part_job> jobs;
    for (std::size_t k = 1; k + 1 < at.size(); ++k) {
      auto part = loader.fork_part();
      if (!part) break;
      jobs.push_back({std::move(part), at[k], at[k + 1], {}});
    }
    const join_all joiner{jobs};
    for (auto& job : jobs) {
      try {
        job.thread = std::thread(parse_part, fd.get(), std::ref(job));
      } catch (const std::system_error&) {  // no thread to be had: the loader parses it all
        break;
      }
    }
    const std::uint64_t first_end = jobs.empty() ? size : jobs.front().begin;

    bool first = true;
    bool gzip = false;
    int err = read_range(fd.get(), 0, first_end, buf, [&](std::string_view text) {
      // A chunk may end with the first octet of the gzip magic alone; a file whose first read
      // is one octet long is not worth a special case.
      if (first && text.size() >= 2 && static_cast<unsigned char>(text[0]) == 0x1F &&
          static_cast<unsigned char>(text[1]) == 0x8B) {
        gzip = true;
        return false;
      }
      first = false;
      return loader.feed(text);
    });
    for (auto& job : jobs) {
      if (job.thread.joinable()) job.thread.join();
    }
    if (gzip) {
      return mx::unexpected(file_error(path, "gzip-compressed data files are not supported"));
    }
    // Each part in order: what its thread parsed, then the rest of it here.
    for (auto& job : jobs) {
      if (err != 0) break;
      // (A part whose thread did not start has parsed nothing: stopped_at() is 0.)
      std::uint64_t from = job.begin;
      if (!job.failed && loader.absorb(*job.part)) from += job.part->stopped_at();
      job.part.reset();  // its memory is the loader's now, or garbage
      err = read_range(fd.get(), from, job.end, buf,
                       [&](std::string_view text) { return loader.feed(text); });
    }
    if (err != 0) {
      return mx::unexpected(
          file_error(path, std::string("error reading file: ") + std::strerror(err)));
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
