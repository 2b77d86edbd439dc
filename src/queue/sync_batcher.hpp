// queue/sync_batcher: group commit. Many concurrent messages share one flush to disk.
//
// A caller asks for a barrier; the batcher's thread takes every request pending at that moment,
// calls syncfs(2) once for each filesystem holding the spool roots, then completes them all. A
// request is completed only by a flush that STARTED after the request was made, so everything the
// caller wrote before asking is on disk when its callback runs. This is how "250 only after
// fsync" stays true under load without one fsync per message: the cost is one flush per batch.
//
// SECURITY / durability: never skips a flush. A flush error (EIO, ENOSPC on writeback) is passed
// to every caller of that batch, which then answers 451 and does not publish.
// Linux: syncfs(2) reports writeback errors since 5.8.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mx::queue {

class sync_batcher {
 public:
  // Opens each root directory (they must exist) for syncfs; one flush per distinct filesystem.
  // Throws std::system_error at start-up if a root cannot be opened.
  explicit sync_batcher(const std::vector<std::string>& roots);
  ~sync_batcher();
  sync_batcher(const sync_batcher&) = delete;
  sync_batcher& operator=(const sync_batcher&) = delete;

  // `done(errno_value)` runs on the batcher's thread after the flush (0 on success). It must not
  // block: post back to the caller's executor.
  void request(std::function<void(int)> done);

  struct counters {
    std::uint64_t requests = 0;
    std::uint64_t flushes = 0;  // batches; requests / flushes is the grouping factor
  };
  counters stats() const;

 private:
  void run();

  std::vector<int> fds_;  // one per distinct filesystem
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::function<void(int)>> pending_;
  counters stats_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mx::queue
