#include "queue/spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <unordered_set>
#include <system_error>

namespace mx::queue {

namespace {

std::atomic<std::uint64_t> name_counter{0};

spool_error sys_error(std::string_view what, const std::string& path, int err) {
  return spool_error{fmt::format("{} {}: {}", what, path, std::strerror(err))};
}

// mkdir that accepts an existing real directory but never a symlink or other file.
bool ensure_dir(const std::string& path, int& err) {
  if (::mkdir(path.c_str(), 0700) == 0) return true;
  if (errno != EEXIST) {
    err = errno;
    return false;
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    err = errno;
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    err = ENOTDIR;
    return false;
  }
  return true;
}

// Writes all of head and body to a new file (O_EXCL, O_NOFOLLOW): no fsync here, the caller's
// group-commit barrier does that.
expected<std::uint64_t, spool_error> write_new_file(const std::string& path,
                                                    std::string_view prefix, std::string_view head,
                                                    std::string_view body) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return unexpected(sys_error("create", path, errno));
  std::string_view parts[3] = {prefix, head, body};
  std::size_t index = 0;
  std::size_t offset = 0;
  std::uint64_t total = 0;
  while (index < 3) {
    iovec iov[3];
    int n = 0;
    for (std::size_t i = index; i < 3; ++i) {
      const std::size_t skip = (i == index) ? offset : 0;
      if (parts[i].size() == skip) continue;
      iov[n].iov_base = const_cast<char*>(parts[i].data() + skip);
      iov[n].iov_len = parts[i].size() - skip;
      ++n;
    }
    if (n == 0) break;
    const ssize_t w = ::writev(fd, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return unexpected(sys_error("write", path, err));
    }
    total += static_cast<std::uint64_t>(w);
    auto left = static_cast<std::size_t>(w);
    while (index < 3 && left >= parts[index].size() - offset) {
      left -= parts[index].size() - offset;
      offset = 0;
      ++index;
    }
    offset += left;
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return unexpected(sys_error("close", path, err));
  }
  return total;
}

bool safe_component(std::string_view name) {
  return policy::valid_mailbox_name(name);
}

// Mailbox directories already checked (created, real directories), so a delivery costs no
// mkdir/lstat once its mailbox exists. Shared by every session; only reachable locked. On any
// failure the caller forgets the entry and checks again, so a mailbox removed at run time heals.
class checked_dirs {
 public:
  bool contains(const std::string& box) {
    std::lock_guard lock(mu_);
    return set_.count(box) != 0;
  }
  void add(const std::string& box) {
    std::lock_guard lock(mu_);
    if (set_.size() > 100000) set_.clear();  // bounded: a huge domain just re-checks
    set_.insert(box);
  }
  void forget(const std::string& box) {
    std::lock_guard lock(mu_);
    set_.erase(box);
  }

 private:
  std::mutex mu_;
  std::unordered_set<std::string> set_;
};

checked_dirs& known_mailboxes() {
  static checked_dirs dirs;
  return dirs;
}

// Makes <root>/<domain>/<name>/{tmp,new,cur}, refusing symlinks; cached once checked.
expected<std::string, spool_error> mailbox_dir(const std::string& root, const policy::mailbox_ref& mb) {
  if (!safe_component(mb.domain) || !safe_component(mb.name)) {
    return unexpected(spool_error{"refusing unsafe mailbox path " + mb.domain + "/" + mb.name});
  }
  const std::string domain_dir = root + "/" + mb.domain;
  std::string box = domain_dir + "/" + mb.name;
  if (known_mailboxes().contains(box)) return box;
  int err = 0;
  for (const std::string& dir : {domain_dir, box, box + "/tmp", box + "/new", box + "/cur"}) {
    if (!ensure_dir(dir, err)) return unexpected(sys_error("mkdir", dir, err));
  }
  known_mailboxes().add(box);
  return box;
}

}  // namespace

std::string unique_name(std::string_view hostname) {
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  std::string host;
  for (char c : hostname) host += (c == '/' || c == ':') ? '_' : c;  // Maildir forbids these
  return fmt::format("{}.M{}P{}Q{}.{}", tv.tv_sec, tv.tv_usec, ::getpid(),
                     name_counter.fetch_add(1, std::memory_order_relaxed), host);
}

// ---- Maildir ----

maildir_store::maildir_store(std::string root, std::string hostname)
    : root_(std::move(root)), hostname_(std::move(hostname)) {}

expected<staged_file, spool_error> maildir_store::stage(const policy::mailbox_ref& first,
                                                        std::string_view head,
                                                        std::string_view body) {
  staged_file f;
  f.base_name = unique_name(hostname_);
  // Twice at most: a mailbox removed since it was cached is made again on the second try.
  for (int attempt = 0;; ++attempt) {
    auto box = mailbox_dir(root_, first);
    if (!box) return unexpected(box.error());
    f.tmp_path = *box + "/tmp/" + f.base_name;
    auto written = write_new_file(f.tmp_path, {}, head, body);
    if (written) {
      f.size = *written;
      return f;
    }
    known_mailboxes().forget(*box);
    if (attempt == 1) return unexpected(written.error());
  }
}

expected<std::vector<std::string>, spool_error> maildir_store::publish(
    const staged_file& file, const std::vector<policy::mailbox_ref>& mailboxes) {
  std::vector<std::string> linked;
  auto undo = [&] {
    for (const auto& p : linked) ::unlink(p.c_str());
  };
  const std::string final_name = fmt::format("{},S={}", file.base_name, file.size);
  for (const auto& mb : mailboxes) {
    auto box = mailbox_dir(root_, mb);
    if (!box) {
      undo();
      return unexpected(box.error());
    }
    const std::string target = *box + "/new/" + final_name;
    if (::link(file.tmp_path.c_str(), target.c_str()) != 0) {
      const int e = errno;
      if (e == EEXIST && std::find(linked.begin(), linked.end(), target) != linked.end()) {
        continue;  // the same mailbox twice (two addresses, one mailbox): one copy
      }
      known_mailboxes().forget(*box);
      undo();
      return unexpected(sys_error("link", target, e));
    }
    linked.push_back(target);
  }
  ::unlink(file.tmp_path.c_str());
  return linked;
}

void maildir_store::discard(const staged_file& file) { ::unlink(file.tmp_path.c_str()); }

// ---- relay queue ----

relay_queue::relay_queue(std::string root, std::string hostname)
    : root_(std::move(root)), hostname_(std::move(hostname)) {}

void relay_queue::prepare() {
  int err = 0;
  for (const std::string& dir : {root_, root_ + "/tmp", root_ + "/new"}) {
    if (!ensure_dir(dir, err)) {
      throw std::system_error(err, std::generic_category(), "queue directory " + dir);
    }
  }
}

expected<staged_file, spool_error> relay_queue::stage(const envelope& env, std::string_view head,
                                                      std::string_view body) {
  // Envelope block first, then an empty line, then the message as it will be sent on.
  std::string prefix = fmt::format("X-Mxguard-Envelope-From: <{}>\r\n", env.sender);
  for (const auto& r : env.recipients) prefix += fmt::format("X-Mxguard-Envelope-To: <{}>\r\n", r);
  prefix += "\r\n";
  staged_file f;
  f.base_name = unique_name(hostname_);
  f.tmp_path = root_ + "/tmp/" + f.base_name;
  auto written = write_new_file(f.tmp_path, prefix, head, body);
  if (!written) return unexpected(written.error());
  f.size = *written;
  return f;
}

expected<std::string, spool_error> relay_queue::publish(const staged_file& file) {
  const std::string target = root_ + "/new/" + file.base_name;
  if (::rename(file.tmp_path.c_str(), target.c_str()) != 0) {
    return unexpected(sys_error("rename", target, errno));
  }
  return target;
}

void relay_queue::discard(const staged_file& file) { ::unlink(file.tmp_path.c_str()); }

expected<std::pair<envelope, std::string>, spool_error> relay_queue::read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unexpected(sys_error("open", path, errno));
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  envelope env;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t eol = all.find("\r\n", pos);
    if (eol == std::string::npos) return unexpected(spool_error{path + ": truncated envelope"});
    const std::string_view line(all.data() + pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) break;
    auto take = [&](std::string_view key, std::string& out) {
      if (line.substr(0, key.size()) != key) return false;
      std::string_view v = line.substr(key.size());
      if (v.size() < 2 || v.front() != '<' || v.back() != '>') return false;
      out = std::string(v.substr(1, v.size() - 2));
      return true;
    };
    std::string value;
    if (take("X-Mxguard-Envelope-From: ", value)) {
      env.sender = value;
    } else if (take("X-Mxguard-Envelope-To: ", value)) {
      env.recipients.push_back(value);
    } else {
      return unexpected(spool_error{path + ": bad envelope line"});
    }
  }
  return std::make_pair(std::move(env), all.substr(pos));
}

}  // namespace mx::queue
