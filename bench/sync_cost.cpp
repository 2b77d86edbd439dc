// bench/sync_cost: what one durable message costs the disk here, by flush method. Part of
// bench/smtp_vs_postfix.sh's machine facts; not part of the product, never run by CI.
//
// For each message: create DIR/tmp/N (2,400 octets, the size of a bench message with its
// headers), make it durable, link it into DIR/new/, make the link durable, unlink tmp/N. Methods:
//   fsync   fsync(file), link, fsync(new/): per-file flushes (what Postfix's cleanup and
//           qmail-style Maildir writers do; only this file's blocks are written);
//   syncfs  syncfs(), link, syncfs(): mxguard's queue/sync_batcher with one message per batch
//           (concurrency 1); each call flushes every dirty inode of the whole filesystem,
//           whoever wrote it.
// Prints one line per method: messages/s and ms per message, single writer, lock-step.
//
// SECURITY: writes only below the directory given; refuses to run without one.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

[[noreturn]] void die(const char* what, const std::string& path) {
  std::fprintf(stderr, "sync_cost: %s %s: %s\n", what, path.c_str(), std::strerror(errno));
  std::exit(1);
}

double run(const std::string& dir, const std::string& method, const std::string& prefix, int n) {
  const std::string tmp = dir + "/tmp";
  const std::string fresh = dir + "/new";
  const int newfd = ::open(fresh.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (newfd < 0) die("open", fresh);
  static char body[2400];
  std::memset(body, 'x', sizeof body);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    const std::string name = prefix + std::to_string(i);
    const std::string t = tmp + "/" + name;
    const std::string f = fresh + "/" + name;
    const int fd = ::open(t.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) die("create", t);
    if (::write(fd, body, sizeof body) != static_cast<ssize_t>(sizeof body)) die("write", t);
    if (method == "fsync") {
      if (::fsync(fd) != 0) die("fsync", t);
    } else if (::syncfs(fd) != 0) {
      die("syncfs", t);
    }
    ::close(fd);
    if (::link(t.c_str(), f.c_str()) != 0) die("link", f);
    if (method == "fsync") {
      if (::fsync(newfd) != 0) die("fsync", fresh);
    } else if (::syncfs(newfd) != 0) {
      die("syncfs", fresh);
    }
    ::unlink(t.c_str());
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ::close(newfd);
  return s;
}

std::string fmt_prefix(const char* method, int round) {
  return std::string(method) + "-r" + std::to_string(round) + "-";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: sync_cost DIR [messages=300] [rounds=2]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int n = argc > 2 ? std::atoi(argv[2]) : 300;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 2;
  for (const std::string sub : {"/tmp", "/new"}) {
    if (::mkdir((dir + sub).c_str(), 0700) != 0 && errno != EEXIST) die("mkdir", dir + sub);
  }
  double total[2] = {0, 0};
  const char* methods[2] = {"fsync", "syncfs"};
  // Alternate the methods so that other writers on the machine weigh on both alike.
  for (int r = 0; r < rounds; ++r) {
    for (int m = 0; m < 2; ++m) {
      total[m] += run(dir, methods[m], fmt_prefix(methods[m], r), n);
    }
  }
  for (int m = 0; m < 2; ++m) {
    const double per = total[m] / (n * rounds);
    std::printf("%s msg_per_s=%.0f ms_per_msg=%.3f\n", methods[m], 1.0 / per, per * 1000);
  }
  return 0;
}
