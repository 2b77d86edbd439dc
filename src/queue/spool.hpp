// queue/spool: durable storage of accepted mail. Local recipients get Maildir delivery
// (<mail_dir>/<domain>/<mailbox>/{tmp,new,cur}); relayed mail goes to <queue_dir>/new, one file
// per message with its envelope. Delivery runs in two steps around a group-commit flush
// (queue/sync_batcher):
//   stage():   write the message to a temp file (tmp/), no fsync;
//   (flush):   the caller awaits a sync_batcher barrier: the file's data is on disk;
//   publish(): hard-link the one copy into new/ of every mailbox of that domain (or rename into
//              the queue), unlink the temp name;
//   (flush):   a second barrier makes the directory entries durable; only then the 250.
// A file appears in new/ only complete, so a crash at any point leaves nothing partial there:
// at worst an orphan in tmp/ (Maildir readers ignore tmp/; clean_tmp() removes old ones).
//
// SECURITY: paths come only from policy::mailbox_ref (names from the recipients file, already
// checked), never from envelope text; they are checked again here (defence in depth) and opened
// with O_NOFOLLOW / O_EXCL, so a planted symlink or existing name is never followed or reused.
// File names are unique per process (time, pid, counter, host) per the Maildir convention.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "policy/recipients.hpp"

namespace mx::queue {

struct spool_error {
  std::string message;  // "mkdir var/mail/example.test/alice/tmp: Permission denied"
};

struct staged_file {
  std::string tmp_path;   // where the one copy is now
  std::string base_name;  // unique name, reused for every link
  std::uint64_t size = 0;
};

// A Maildir tree under one root.
class maildir_store {
 public:
  explicit maildir_store(std::string root, std::string hostname);

  // Writes head + body to tmp/ of `first` (creating the mailbox directories if needed).
  expected<staged_file, spool_error> stage(const policy::mailbox_ref& first, std::string_view head,
                                           std::string_view body);
  // Links the staged file into new/ of each mailbox (all in the staged file's domain), then
  // removes the tmp name. On failure, removes every link it made: all or nothing.
  expected<std::vector<std::string>, spool_error> publish(
      const staged_file& file, const std::vector<policy::mailbox_ref>& mailboxes);
  // Removes a staged file that will not be published.
  void discard(const staged_file& file);

  const std::string& root() const { return root_; }

 private:
  std::string root_;
  std::string hostname_;
};

struct envelope {
  std::string sender;                   // mailbox, "" for the null sender
  std::vector<std::string> recipients;  // mailboxes
};

// The relay queue: <queue_dir>/tmp while writing, <queue_dir>/new once durable.
class relay_queue {
 public:
  explicit relay_queue(std::string root, std::string hostname);
  // Creates tmp/ and new/ if missing (start-up; throws std::system_error on failure).
  void prepare();
  expected<staged_file, spool_error> stage(const envelope& env, std::string_view head,
                                           std::string_view body);
  expected<std::string, spool_error> publish(const staged_file& file);  // path in new/
  void discard(const staged_file& file);
  // Reads back a queued file's envelope and message (tests, and the later delivery agent).
  static expected<std::pair<envelope, std::string>, spool_error> read(const std::string& path);

  const std::string& root() const { return root_; }

 private:
  std::string root_;
  std::string hostname_;
};

// A unique Maildir-style base name: "<sec>.M<usec>P<pid>Q<n>.<host>".
std::string unique_name(std::string_view hostname);

}  // namespace mx::queue
