// bench/smtp_load: a small single-threaded epoll SMTP load client for bench/smtp_vs_postfix.sh.
// Not part of the product and never run by CI.
//
// Why C++ and not Python: the load shares the machine's two cores with the server under test, so
// the client must cost far less CPU per session than the server does.
//
// Two modes:
//  deny  Keeps --concurrency sessions busy for --duration seconds. Each session is the relay
//        denial dialogue of an untrusted client: banner, EHLO, MAIL, RCPT to an external domain
//        (expected 5xx), QUIT, then a new connection. Lock-step, no pipelining. Prints the number
//        of complete sessions and the rate.
//  idle  Opens --connections sessions, reads the banner, sends EHLO, reads its reply and then
//        holds every socket open. Once all are answered or --settle seconds pass without
//        progress it prints how many were served, then keeps the sockets until --hold seconds
//        pass or SIGTERM/SIGINT, so the script can measure the server's memory meanwhile.
//
// Source addresses: with --sources K the sockets bind to 127.0.0.B .. 127.0.0.(B+K-1) (B from
// --source-base) with IP_BIND_ADDRESS_NO_PORT, spreading the ephemeral ports (and TIME_WAIT
// entries) over several addresses.
//
// SECURITY: loopback only. The target must be in 127.0.0.0/8; anything else is refused.
// Output: one `key=value ...` line on stdout (idle mode: a second line `ready` once settled).
// RFCs: 5321 4.2 (reply lines, multi-line replies), 4.1.1 (commands).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

struct options {
  std::string mode;
  std::string host = "127.0.0.1";
  int port = 0;
  int concurrency = 100;
  double duration = 5.0;
  int connections = 10000;
  double settle = 10.0;
  double hold = 300.0;
  int sources = 1;
  int source_base = 2;
  int max_connecting = 1000;  // idle mode: connects in flight at once
  std::string helo = "load.bench.test";
  std::string from = "sender@load.bench.test";
  std::string rcpt = "someone@external.invalid";
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "smtp_load: %s\n"
               "usage: smtp_load --mode deny|idle --port P [--host 127.0.0.1]\n"
               "  deny: [--concurrency 100] [--duration 5] [--rcpt user@external.invalid]\n"
               "  idle: [--connections 10000] [--settle 10] [--hold 300] [--max-connecting 1000]\n"
               "  both: [--sources K] [--source-base 2] [--helo NAME] [--from ADDR]\n",
               msg);
  std::exit(2);
}

options parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) usage("missing value");
    const char* v = argv[++i];
    if (a == "--mode") {
      o.mode = v;
    } else if (a == "--host") {
      o.host = v;
    } else if (a == "--port") {
      o.port = std::atoi(v);
    } else if (a == "--concurrency") {
      o.concurrency = std::atoi(v);
    } else if (a == "--duration") {
      o.duration = std::atof(v);
    } else if (a == "--connections") {
      o.connections = std::atoi(v);
    } else if (a == "--settle") {
      o.settle = std::atof(v);
    } else if (a == "--hold") {
      o.hold = std::atof(v);
    } else if (a == "--sources") {
      o.sources = std::atoi(v);
    } else if (a == "--source-base") {
      o.source_base = std::atoi(v);
    } else if (a == "--max-connecting") {
      o.max_connecting = std::atoi(v);
    } else if (a == "--helo") {
      o.helo = v;
    } else if (a == "--from") {
      o.from = v;
    } else if (a == "--rcpt") {
      o.rcpt = v;
    } else {
      usage("unknown option");
    }
  }
  if (o.mode != "deny" && o.mode != "idle") usage("--mode must be deny or idle");
  if (o.port <= 0 || o.port > 65535) usage("--port");
  if (o.concurrency < 1 || o.connections < 1 || o.sources < 1 || o.max_connecting < 1) {
    usage("counts must be positive");
  }
  if (o.source_base < 1 || o.source_base + o.sources - 1 > 254) usage("--source-base/--sources");
  return o;
}

enum class state : std::uint8_t { connecting, banner, ehlo, mail, rcpt, quit, idle, closed };

struct conn {
  int fd = -1;
  state st = state::closed;
  std::string in;   // bytes of an incomplete reply
  std::string out;  // bytes not yet written (rarely used: commands are tiny)
  clock_type::time_point opened{};
  bool in_flight = false;  // counts toward --max-connecting
};

struct stats {
  std::uint64_t sessions = 0;   // deny: complete dialogues
  std::uint64_t denied = 0;     // RCPT answered 5xx
  std::uint64_t rcpt_ok = 0;    // RCPT answered 2xx (smtp-sink without -f)
  std::uint64_t errors = 0;     // unexpected replies, resets, refused connects
  std::uint64_t connected = 0;  // idle: TCP connect completed
  std::uint64_t served = 0;     // idle: EHLO answered 250
  std::uint64_t refused = 0;    // idle: banner or EHLO answered with anything but 2xx
};

class load_client {
 public:
  explicit load_client(const options& o) : o_(o) {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die("epoll_create1");
    target_.sin_family = AF_INET;
    target_.sin_port = htons(static_cast<std::uint16_t>(o.port));
    if (::inet_pton(AF_INET, o.host.c_str(), &target_.sin_addr) != 1) usage("--host");
    if ((ntohl(target_.sin_addr.s_addr) >> 24) != 127) usage("--host must be in 127.0.0.0/8");
  }

  int run_deny() {
    conns_.resize(static_cast<std::size_t>(o_.concurrency));
    const auto start = clock_type::now();
    const auto end = start + to_duration(o_.duration);
    for (std::size_t i = 0; i < conns_.size(); ++i) open_conn(i);
    std::vector<epoll_event> events(1024);
    while (!g_stop && clock_type::now() < end) {
      const int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 50);
      if (n < 0 && errno != EINTR) die("epoll_wait");
      for (int k = 0; k < n; ++k) handle(events[k].data.u64, events[k].events, true);
    }
    const double elapsed = seconds_since(start);
    // The client's own CPU, to show whether the load generator itself was the limit.
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                       static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    std::printf(
        "mode=deny concurrency=%d elapsed=%.3f sessions=%llu rate=%.1f denied=%llu rcpt_ok=%llu "
        "errors=%llu client_cpu=%.3f\n",
        o_.concurrency, elapsed, ull(st_.sessions), static_cast<double>(st_.sessions) / elapsed,
        ull(st_.denied), ull(st_.rcpt_ok), ull(st_.errors), cpu);
    std::fflush(stdout);
    return 0;
  }

  int run_idle() {
    conns_.resize(static_cast<std::size_t>(o_.connections));
    const auto start = clock_type::now();
    std::size_t next = 0;
    auto last_progress = clock_type::now();
    std::uint64_t last_done = 0;
    std::vector<epoll_event> events(1024);
    bool reported = false;
    clock_type::time_point hold_end{};
    for (;;) {
      if (g_stop) break;
      // Keep at most max_connecting sockets between connect() and the EHLO reply, so the
      // server's listen queue is not flooded by us faster than it can accept. A socket still
      // unanswered after a second stops counting: a server that serves only so many (Postfix's
      // process limit) must not stop us from offering all the connections.
      while (!pacing_.empty()) {
        conn& f = conns_[pacing_.front()];
        if (f.in_flight && clock_type::now() - f.opened < std::chrono::seconds(1)) break;
        uncount(f);
        pacing_.pop_front();
      }
      while (next < conns_.size() && in_flight_ < static_cast<std::uint64_t>(o_.max_connecting)) {
        open_conn(next++);
      }
      const int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 50);
      if (n < 0 && errno != EINTR) die("epoll_wait");
      for (int k = 0; k < n; ++k) handle(events[k].data.u64, events[k].events, false);
      // Progress: a session answered, or still sockets to open (opening is not a stall).
      const std::uint64_t done = st_.served + st_.refused + st_.errors;
      if (done != last_done || next < conns_.size()) last_progress = clock_type::now();
      last_done = done;
      const bool all_done = done >= conns_.size();
      const bool stalled = seconds_since(last_progress) >= o_.settle;
      if (!reported && (all_done || stalled)) {
        std::printf(
            "mode=idle connections=%d opened=%zu connected=%llu served=%llu refused=%llu "
            "errors=%llu unanswered=%llu elapsed=%.3f\nready\n",
            o_.connections, next, ull(st_.connected), ull(st_.served), ull(st_.refused),
            ull(st_.errors), ull(conns_.size() - done), seconds_since(start));
        std::fflush(stdout);
        reported = true;
        hold_end = clock_type::now() + to_duration(o_.hold);
      }
      if (reported && clock_type::now() >= hold_end) break;
    }
    return 0;
  }

 private:
  static std::chrono::nanoseconds to_duration(double s) {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(s * 1e9));
  }
  static double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
  }
  static unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }
  [[noreturn]] static void die(const char* what) {
    std::fprintf(stderr, "smtp_load: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
  }

  void open_conn(std::size_t i) {
    conn& c = conns_[i];
    c.in.clear();
    c.out.clear();
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) die("socket (raise ulimit -n)");
    const int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o_.sources > 1 || o_.source_base != 2) {
      ::setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sockaddr_in src{};
      src.sin_family = AF_INET;
      const auto host = static_cast<std::uint32_t>(o_.source_base + (next_source_++ % o_.sources));
      src.sin_addr.s_addr = htonl((127u << 24) | host);
      if (::bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) die("bind");
    }
    c.opened = clock_type::now();
    c.in_flight = true;
    ++in_flight_;
    if (o_.mode == "idle") pacing_.push_back(i);
    const int rc = ::connect(c.fd, reinterpret_cast<sockaddr*>(&target_), sizeof target_);
    if (rc != 0 && errno != EINPROGRESS) {
      ++st_.errors;
      ::close(c.fd);
      c.fd = -1;
      c.st = state::closed;
      uncount(c);
      return;
    }
    c.st = state::connecting;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u64 = i;
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0) die("epoll_ctl");
  }

  void close_conn(std::size_t i) {
    conn& c = conns_[i];
    if (c.fd >= 0) ::close(c.fd);  // also removes it from the epoll set
    c.fd = -1;
    uncount(c);
    c.st = state::closed;
  }

  void uncount(conn& c) {
    if (!c.in_flight) return;
    c.in_flight = false;
    --in_flight_;
  }

  void fail(std::size_t i, bool reopen) {
    ++st_.errors;
    close_conn(i);
    if (reopen) open_conn(i);
  }

  void send(std::size_t i, std::string_view line) {
    conn& c = conns_[i];
    c.out.append(line);
    flush(i);
  }

  void flush(std::size_t i) {
    conn& c = conns_[i];
    while (!c.out.empty()) {
      const ssize_t w = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return;  // the read side reports the reset
      }
      c.out.erase(0, static_cast<std::size_t>(w));
    }
  }

  void set_events(std::size_t i, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = i;
    ::epoll_ctl(ep_, EPOLL_CTL_MOD, conns_[i].fd, &ev);
  }

  void handle(std::uint64_t id, std::uint32_t events, bool deny) {
    const auto i = static_cast<std::size_t>(id);
    conn& c = conns_[i];
    if (c.fd < 0) return;
    if (c.st == state::connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return fail(i, deny);
      if ((events & EPOLLOUT) == 0 && (events & EPOLLIN) == 0) return;
      ++st_.connected;
      c.st = state::banner;
      set_events(i, EPOLLIN | EPOLLRDHUP);
    }
    if ((events & EPOLLOUT) != 0 && !c.out.empty()) flush(i);
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0) return;
    char buf[4096];
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      if (c.st == state::closed) return;
      // An idle session that the server closed is simply lost; a deny session must not be.
      if (c.st == state::idle) {
        ++st_.errors;
        close_conn(i);
        return;
      }
      return fail(i, deny);
    }
    c.in.append(buf, static_cast<std::size_t>(n));
    // Walk complete reply lines; act on the last line of each reply ("xyz " rather than "xyz-").
    std::size_t pos = 0;
    for (;;) {
      const std::size_t eol = c.in.find("\r\n", pos);
      if (eol == std::string::npos) break;
      const std::string_view line(c.in.data() + pos, eol - pos);
      pos = eol + 2;
      if (line.size() >= 4 && line[3] == '-') continue;
      const int code =
          line.size() >= 3 ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : 0;
      if (!on_reply(i, code, deny)) return;  // the connection was closed or reopened
    }
    c.in.erase(0, pos);
  }

  // Returns false when the connection was closed (its buffer must not be touched again).
  bool on_reply(std::size_t i, int code, bool deny) {
    conn& c = conns_[i];
    switch (c.st) {
      case state::banner:
        if (code != 220) {
          if (!deny) {
            ++st_.refused;
            close_conn(i);
            return false;
          }
          fail(i, deny);
          return false;
        }
        c.st = state::ehlo;
        send(i, "EHLO " + o_.helo + "\r\n");
        return true;
      case state::ehlo:
        if (code != 250) {
          if (!deny) {
            ++st_.refused;
            close_conn(i);
            return false;
          }
          fail(i, deny);
          return false;
        }
        if (!deny) {
          ++st_.served;
          uncount(c);
          c.st = state::idle;
          return true;
        }
        c.st = state::mail;
        send(i, "MAIL FROM:<" + o_.from + ">\r\n");
        return true;
      case state::mail:
        if (code != 250) {
          fail(i, deny);
          return false;
        }
        c.st = state::rcpt;
        send(i, "RCPT TO:<" + o_.rcpt + ">\r\n");
        return true;
      case state::rcpt:
        if (code >= 500 && code < 600) {
          ++st_.denied;
        } else if (code >= 200 && code < 300) {
          ++st_.rcpt_ok;
        } else {
          fail(i, deny);
          return false;
        }
        c.st = state::quit;
        send(i, "QUIT\r\n");
        return true;
      case state::quit:
        ++st_.sessions;
        if (code != 221) ++st_.errors;
        close_conn(i);
        if (deny && !g_stop) open_conn(i);
        return false;
      default:
        return true;  // idle: ignore anything unsolicited
    }
  }

  const options& o_;
  int ep_ = -1;
  sockaddr_in target_{};
  std::vector<conn> conns_;
  stats st_;
  std::uint64_t in_flight_ = 0;
  std::deque<std::size_t> pacing_;  // idle mode: opened sockets, oldest first
  std::uint64_t next_source_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const options o = parse_args(argc, argv);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // Each session needs a descriptor; ask for the hard limit.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  load_client client(o);
  return o.mode == "deny" ? client.run_deny() : client.run_idle();
}
