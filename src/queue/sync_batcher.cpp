#include "queue/sync_batcher.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace mx::queue {

sync_batcher::sync_batcher(const std::vector<std::string>& roots) {
  std::vector<dev_t> devices;
  for (const auto& root : roots) {
    const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      for (int f : fds_) ::close(f);
      throw std::system_error(errno, std::generic_category(), "cannot open " + root);
    }
    struct stat st {};
    if (::fstat(fd, &st) == 0) {
      bool seen = false;
      for (dev_t d : devices) seen = seen || d == st.st_dev;
      if (seen) {
        ::close(fd);
        continue;
      }
      devices.push_back(st.st_dev);
    }
    fds_.push_back(fd);
  }
  thread_ = std::thread([this] { run(); });
}

sync_batcher::~sync_batcher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (int fd : fds_) ::close(fd);
}

void sync_batcher::request(std::function<void(int)> done) {
  {
    std::lock_guard lock(mu_);
    ++stats_.requests;
    pending_.push_back(std::move(done));
  }
  cv_.notify_one();
}

sync_batcher::counters sync_batcher::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void sync_batcher::run() {
  std::vector<std::function<void(int)>> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty() && stopping_) return;
      batch.swap(pending_);
      ++stats_.flushes;
    }
    // Every request in `batch` was made before this point, so this flush covers its writes.
    int err = 0;
    for (int fd : fds_) {
      if (::syncfs(fd) != 0 && err == 0) err = errno;
    }
    for (auto& done : batch) done(err);
    batch.clear();
  }
}

}  // namespace mx::queue
