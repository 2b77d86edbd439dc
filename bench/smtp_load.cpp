// bench/smtp_load: a small single-threaded epoll SMTP load client for bench/smtp_vs_postfix.sh and
// bench/tls_auth_vs_postfix.sh. Not part of the product and never run by CI.
//
// Why C++ and not Python: the load shares the machine's two cores with the server under test, so
// the client must cost far less CPU per session than the server does.
//
// Three modes:
//  deny    Keeps --concurrency sessions busy for --duration seconds. Each session is the relay
//          denial dialogue of an untrusted client: banner, EHLO, MAIL, RCPT to an external domain
//          (expected 5xx), QUIT, then a new connection. Lock-step, no pipelining. Prints the number
//          of complete sessions and the rate.
//  submit  Like deny, but each session is a message submission (RFC 6409): banner, EHLO,
//          STARTTLS (RFC 3207) and a TLS handshake, EHLO again, AUTH PLAIN with an initial
//          response (RFC 4954, RFC 4616), MAIL, RCPT (expected 2xx), DATA, a --message-size octet
//          message, QUIT. --tls implicit does the handshake right after connect (RFC 8314) and
//          skips STARTTLS; --tls none and --auth none leave those steps out. Every session makes
//          a full TLS handshake unless --resume is given (then each connection slot offers the
//          session, or TLS 1.3 ticket, its previous connection got). Logins cycle through the
//          --users file ("user password" per line) in order, one user per session, or use
//          --user/--password. --sessions N stops after N sessions (0: --duration only).
//  idle    Opens --connections sessions, reads the banner, sends EHLO, reads its reply and then
//          holds every socket open. Once all are answered or --settle seconds pass without
//          progress it prints how many were served, then keeps the sockets until --hold seconds
//          pass or SIGTERM/SIGINT, so the script can measure the server's memory meanwhile.
//
// Source addresses: with --sources K the sockets bind to 127.0.0.B .. 127.0.0.(B+K-1) (B from
// --source-base) with IP_BIND_ADDRESS_NO_PORT, spreading the ephemeral ports (and TIME_WAIT
// entries) over several addresses.
//
// SECURITY: loopback only. The target must be in 127.0.0.0/8; anything else is refused. The
// server's certificate is NOT verified (benchmark servers use a throwaway self-signed one); its
// SHA-256 fingerprint is printed instead so a script can check which certificate was served.
// Passwords given on the command line are visible in ps: benchmark accounts only.
// Output: one `key=value ...` line on stdout (idle mode: a second line `ready` once settled).
// RFCs: 5321 4.2 (reply lines, multi-line replies), 4.1.1 (commands); 3207 (STARTTLS); 8314
// (implicit TLS); 4954 4, 4616 2 (AUTH PLAIN, initial response); 8446 (TLS 1.3, resumption).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// TLS (submit mode) only when built with -DSMTP_LOAD_TLS ... -lssl -lcrypto, as
// bench/tls_auth_vs_postfix.sh does; bench/smtp_vs_postfix.sh builds the deny and idle modes
// without OpenSSL.
#ifdef SMTP_LOAD_TLS
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#endif

namespace {

using clock_type = std::chrono::steady_clock;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

enum class run_mode : std::uint8_t { deny, submit, idle };
enum class tls_mode : std::uint8_t { none, starttls, implicit };

struct options {
  std::string mode_name;
  run_mode mode = run_mode::deny;
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
  std::string rcpt;  // default per mode: deny someone@external.invalid, submit friend@...
  // submit mode
  tls_mode tls = tls_mode::starttls;
  bool auth = true;
  bool resume = false;
  bool tls13_only = false;
  std::string users_file;
  std::string user;
  std::string password;
  int message_size = 2048;
  std::uint64_t max_sessions = 0;  // 0: until --duration
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "smtp_load: %s\n"
               "usage: smtp_load --mode deny|submit|idle --port P [--host 127.0.0.1]\n"
               "  deny:   [--concurrency 100] [--duration 5] [--rcpt user@external.invalid]\n"
               "  submit: [--concurrency 100] [--duration 5] [--sessions N] [--rcpt ADDR]\n"
               "          [--tls starttls|implicit|none] [--tls13] [--resume]\n"
               "          [--auth plain|none] (--users FILE | --user U --password P)\n"
               "          [--message-size 2048]\n"
               "  idle:   [--connections 10000] [--settle 10] [--hold 300] [--max-connecting 1000]\n"
               "  all:    [--sources K] [--source-base 2] [--helo NAME] [--from ADDR]\n",
               msg);
  std::exit(2);
}

options parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    // Flags without a value.
    if (a == "--resume") {
      o.resume = true;
      continue;
    }
    if (a == "--tls13") {
      o.tls13_only = true;
      continue;
    }
    if (i + 1 >= argc) usage("missing value");
    const char* v = argv[++i];
    if (a == "--mode") {
      o.mode_name = v;
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
    } else if (a == "--tls") {
      const std::string_view t = v;
      if (t == "none") {
        o.tls = tls_mode::none;
      } else if (t == "starttls") {
        o.tls = tls_mode::starttls;
      } else if (t == "implicit") {
        o.tls = tls_mode::implicit;
      } else {
        usage("--tls must be starttls, implicit or none");
      }
    } else if (a == "--auth") {
      const std::string_view t = v;
      if (t != "plain" && t != "none") usage("--auth must be plain or none");
      o.auth = t == "plain";
    } else if (a == "--users") {
      o.users_file = v;
    } else if (a == "--user") {
      o.user = v;
    } else if (a == "--password") {
      o.password = v;
    } else if (a == "--message-size") {
      o.message_size = std::atoi(v);
    } else if (a == "--sessions") {
      o.max_sessions = std::strtoull(v, nullptr, 10);
    } else {
      usage("unknown option");
    }
  }
  if (o.mode_name == "deny") {
    o.mode = run_mode::deny;
  } else if (o.mode_name == "submit") {
    o.mode = run_mode::submit;
  } else if (o.mode_name == "idle") {
    o.mode = run_mode::idle;
  } else {
    usage("--mode must be deny, submit or idle");
  }
  if (o.rcpt.empty()) {
    o.rcpt = o.mode == run_mode::submit ? "friend@external.bench.invalid" : "someone@external.invalid";
  }
  if (o.port <= 0 || o.port > 65535) usage("--port");
  if (o.concurrency < 1 || o.connections < 1 || o.sources < 1 || o.max_connecting < 1) {
    usage("counts must be positive");
  }
  if (o.source_base < 1 || o.source_base + o.sources - 1 > 254) usage("--source-base/--sources");
  if (o.mode == run_mode::submit) {
    if (o.auth && o.users_file.empty() && o.user.empty()) usage("--auth plain needs --users or --user");
    if (o.message_size < 64 || o.message_size > 10 * 1024 * 1024) usage("--message-size 64..10 MiB");
  }
  return o;
}

enum class state : std::uint8_t {
  connecting,
  handshake,  // TLS handshake in progress (after 220 to STARTTLS, or right after connect)
  banner,
  ehlo,
  starttls,
  auth,
  mail,
  rcpt,
  data,
  body,
  quit,
  idle,
  closed
};

struct conn {
  int fd = -1;
  state st = state::closed;
#ifdef SMTP_LOAD_TLS
  SSL* ssl = nullptr;
  SSL_SESSION* last_session = nullptr;  // --resume: what this slot offers on its next connect
#else
  void* ssl = nullptr;  // never set
#endif
  std::string in;   // bytes of an incomplete reply
  std::string out;  // bytes not yet written (rarely used: commands are tiny)
  clock_type::time_point opened{};
  bool in_flight = false;    // counts toward --max-connecting
  bool want_write = false;   // EPOLLOUT armed: out, or a TLS handshake, waits for the socket
  std::size_t user = 0;      // submit: index into the users list
  state after_handshake = state::ehlo;  // banner (implicit TLS) or ehlo (STARTTLS)
};

struct stats {
  std::uint64_t sessions = 0;   // deny/submit: complete dialogues
  std::uint64_t denied = 0;     // RCPT answered 5xx
  std::uint64_t rcpt_ok = 0;    // RCPT answered 2xx (smtp-sink without -f)
  std::uint64_t errors = 0;     // unexpected replies, resets, refused connects
  std::uint64_t connected = 0;  // idle: TCP connect completed
  std::uint64_t served = 0;     // idle: EHLO answered 250
  std::uint64_t refused = 0;    // idle: banner or EHLO answered with anything but 2xx
  std::uint64_t started = 0;    // submit: sessions opened
  std::uint64_t handshakes = 0;  // TLS handshakes completed
  std::uint64_t resumed = 0;     // of which resumed (abbreviated)
  std::uint64_t tls13 = 0;       // of which TLS 1.3
  std::uint64_t tickets = 0;     // sessions/tickets the server issued
  std::uint64_t auth_ok = 0;     // 235
  std::uint64_t auth_fail = 0;   // anything else to AUTH
  std::uint64_t accepted = 0;    // 250 after the message
};

struct account {
  std::string user;
  std::string password;
};

std::string base64(std::string_view in) {  // RFC 4648 4, with padding
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t k = 0;
  for (; k + 3 <= in.size(); k += 3) {
    const auto v = (std::uint32_t{static_cast<unsigned char>(in[k])} << 16) |
                   (std::uint32_t{static_cast<unsigned char>(in[k + 1])} << 8) |
                   std::uint32_t{static_cast<unsigned char>(in[k + 2])};
    for (int s = 18; s >= 0; s -= 6) out += alphabet[(v >> s) & 63];
  }
  if (const std::size_t rest = in.size() - k; rest > 0) {
    std::uint32_t v = std::uint32_t{static_cast<unsigned char>(in[k])} << 16;
    if (rest == 2) v |= std::uint32_t{static_cast<unsigned char>(in[k + 1])} << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// A message of exactly `size` octets as sent after DATA, headers included (CRLF lines of at most
// 78 characters, none starting with '.'), followed by the end-of-data line.
std::string make_message(const options& o) {
  std::string m;
  m += "From: <" + o.from + ">\r\n";
  m += "To: <" + o.rcpt + ">\r\n";
  m += "Subject: submission benchmark\r\n";
  m += "Date: Sun, 29 Nov 2026 05:00:00 +0000\r\n";
  m += "Message-ID: <bench.smtp-load@load.bench.test>\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n";
  m += "\r\n";
  const std::size_t want = static_cast<std::size_t>(o.message_size);
  static constexpr std::string_view text =
      "The quick brown fox jumps over the lazy dog while the benchmark counts sessions. ";
  std::size_t k = 0;
  while (m.size() < want) {
    const std::size_t room = want - m.size();
    if (room <= 2) {
      m.append(room, 'x');  // cannot happen with a 2-octet line; keeps the size exact anyway
      break;
    }
    const std::size_t len = std::min<std::size_t>(76, room - 2);
    for (std::size_t j = 0; j < len; ++j) m += text[(k + j) % text.size()];
    k += len;
    m += "\r\n";
  }
  // An exact size may end mid-line: the end-of-data line must still start a line.
  if (m.size() < 2 || m.compare(m.size() - 2, 2, "\r\n") != 0) m += "\r\n";
  m += ".\r\n";
  return m;
}

class load_client {
 public:
  explicit load_client(const options& o) : o_(o) {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die("epoll_create1");
    target_.sin_family = AF_INET;
    target_.sin_port = htons(static_cast<std::uint16_t>(o.port));
    if (::inet_pton(AF_INET, o.host.c_str(), &target_.sin_addr) != 1) usage("--host");
    if ((ntohl(target_.sin_addr.s_addr) >> 24) != 127) usage("--host must be in 127.0.0.0/8");
    if (o.mode == run_mode::submit) setup_submit();
  }

  ~load_client() { tls_cleanup(); }
  load_client(const load_client&) = delete;
  load_client& operator=(const load_client&) = delete;

  // deny and submit: --concurrency sessions at all times, a new one as soon as one ends.
  int run_sessions() {
    const bool submit = o_.mode == run_mode::submit;
    conns_.resize(static_cast<std::size_t>(o_.concurrency));
    const auto start = clock_type::now();
    const auto end = start + to_duration(o_.duration);
    for (std::size_t i = 0; i < conns_.size(); ++i) open_session(i);
    std::vector<epoll_event> events(1024);
    while (!g_stop && clock_type::now() < end && open_ > 0) {
      const int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 50);
      if (n < 0 && errno != EINTR) die("epoll_wait");
      for (int k = 0; k < n; ++k) handle(events[k].data.u64, events[k].events);
    }
    const double elapsed = seconds_since(start);
    // The client's own CPU, to show whether the load generator itself was the limit.
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                       static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    if (!submit) {
      std::printf(
          "mode=deny concurrency=%d elapsed=%.3f sessions=%llu rate=%.1f denied=%llu "
          "rcpt_ok=%llu errors=%llu client_cpu=%.3f\n",
          o_.concurrency, elapsed, ull(st_.sessions), static_cast<double>(st_.sessions) / elapsed,
          ull(st_.denied), ull(st_.rcpt_ok), ull(st_.errors), cpu);
    } else {
      std::sort(latency_ms_.begin(), latency_ms_.end());
      const auto pct = [&](double p) {
        if (latency_ms_.empty()) return 0.0;
        const auto k = static_cast<std::size_t>(p * static_cast<double>(latency_ms_.size() - 1));
        return latency_ms_[k];
      };
      std::printf(
          "mode=submit concurrency=%d elapsed=%.3f sessions=%llu rate=%.1f accepted=%llu "
          "auth_ok=%llu auth_fail=%llu handshakes=%llu resumed=%llu tls13=%llu tickets=%llu "
          "errors=%llu "
          "client_cpu=%.3f p50_ms=%.1f p99_ms=%.1f tls=%s cipher=%s group=%s cert_sha256=%s "
          "message_octets=%zu\n",
          o_.concurrency, elapsed, ull(st_.sessions), static_cast<double>(st_.sessions) / elapsed,
          ull(st_.accepted), ull(st_.auth_ok), ull(st_.auth_fail), ull(st_.handshakes),
          ull(st_.resumed), ull(st_.tls13), ull(st_.tickets), ull(st_.errors), cpu, pct(0.5), pct(0.99),
          or_dash(tls_version_), or_dash(tls_cipher_), or_dash(tls_group_), or_dash(cert_sha256_),
          message_.size() - 3);
    }
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
      for (int k = 0; k < n; ++k) handle(events[k].data.u64, events[k].events);
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
  static const char* or_dash(const std::string& s) { return s.empty() ? "-" : s.c_str(); }
  [[noreturn]] static void die(const char* what) {
    std::fprintf(stderr, "smtp_load: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
  }
  void setup_submit() {
    message_ = make_message(o_);
    if (o_.auth) {
      if (!o_.users_file.empty()) {
        std::ifstream f(o_.users_file);
        if (!f) usage("--users: cannot open the file");
        std::string line;
        while (std::getline(f, line)) {
          if (!line.empty() && line.back() == '\r') line.pop_back();
          const std::size_t sp = line.find(' ');
          if (line.empty() || line[0] == '#') continue;
          if (sp == std::string::npos || sp == 0) usage("--users: want `user password` lines");
          accounts_.push_back({line.substr(0, sp), line.substr(sp + 1)});
        }
        if (accounts_.empty()) usage("--users: no accounts in the file");
      } else {
        accounts_.push_back({o_.user, o_.password});
      }
      // AUTH PLAIN with an initial response (RFC 4616 2): authzid empty, NUL, authcid, NUL, pw.
      for (const account& a : accounts_) {
        auth_lines_.push_back("AUTH PLAIN " + base64(std::string(1, '\0') + a.user + '\0' +
                                                      a.password) +
                              "\r\n");
      }
    }
    if (o_.tls != tls_mode::none) tls_setup();
  }

  void open_session(std::size_t i) {
    if (o_.max_sessions != 0 && st_.started >= o_.max_sessions) return;
    ++st_.started;
    open_conn(i);
  }

  void open_conn(std::size_t i) {
    conn& c = conns_[i];
    c.in.clear();
    c.out.clear();
    c.want_write = false;
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) die("socket (raise ulimit -n)");
    ++open_;
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
    if (!accounts_.empty()) c.user = next_user_++ % accounts_.size();
    if (o_.mode == run_mode::idle) pacing_.push_back(i);
    const int rc = ::connect(c.fd, reinterpret_cast<sockaddr*>(&target_), sizeof target_);
    if (rc != 0 && errno != EINPROGRESS) {
      ++st_.errors;
      ::close(c.fd);
      c.fd = -1;
      --open_;
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
    if (c.ssl != nullptr) tls_free(c);
    if (c.fd >= 0) {
      ::close(c.fd);  // also removes it from the epoll set
      --open_;
    }
    c.fd = -1;
    uncount(c);
    c.st = state::closed;
  }

  void uncount(conn& c) {
    if (!c.in_flight) return;
    c.in_flight = false;
    --in_flight_;
  }

  bool reopening() const { return o_.mode != run_mode::idle && !g_stop; }

  void fail(std::size_t i, const char* why) {
    ++st_.errors;
    if (reported_errors_ < 5) {
      ++reported_errors_;
      std::fprintf(stderr, "smtp_load: session error (%s)%s%s\n", why,
                   last_reply_.empty() ? "" : ": ", last_reply_.c_str());
    }
    close_conn(i);
    if (reopening()) open_session(i);
  }

  void send(std::size_t i, std::string_view line) {
    conn& c = conns_[i];
    c.out.append(line);
    flush(i);
  }

  void flush(std::size_t i) {
    conn& c = conns_[i];
    while (!c.out.empty()) {
      std::size_t w = 0;
      if (c.ssl != nullptr) {
        const long n = tls_write(c, c.out.data(), c.out.size());
        if (n <= 0) {
          if (n == 0) arm_write(i, true);
          return;  // errors: the read side reports them
        }
        w = static_cast<std::size_t>(n);
      } else {
        const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK) arm_write(i, true);
          return;  // otherwise the read side reports the reset
        }
        w = static_cast<std::size_t>(n);
      }
      c.out.erase(0, w);
    }
    arm_write(i, false);
  }

  void arm_write(std::size_t i, bool on) {
    conn& c = conns_[i];
    if (c.want_write == on) return;
    c.want_write = on;
    set_events(i, EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u));
  }

  void set_events(std::size_t i, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = i;
    ::epoll_ctl(ep_, EPOLL_CTL_MOD, conns_[i].fd, &ev);
  }

#ifdef SMTP_LOAD_TLS
  // ---- TLS (OpenSSL) ----

  [[noreturn]] static void die_tls(const char* what) {
    std::fprintf(stderr, "smtp_load: %s: ", what);
    ERR_print_errors_fp(stderr);
    std::fprintf(stderr, "\n");
    std::exit(1);
  }

  void tls_setup() {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr) die_tls("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx_, o_.tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
    // A benchmark against throwaway self-signed certificates: no verification (the fingerprint
    // is reported instead). The TLS 1.3 CertificateVerify signature is still checked by OpenSSL.
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // New sessions (TLS 1.3: the server's tickets) reach on_new_session, never OpenSSL's internal
    // client cache: counted always (issuing them is a cost of the server's), kept per connection
    // slot only with --resume. Without it no session is ever offered: every handshake is full.
    SSL_CTX_set_app_data(ctx_, this);
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx_, &load_client::on_new_session);
    if (!o_.resume) SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET);  // TLS 1.2: ask for none
  }

  void tls_cleanup() {
    for (conn& c : conns_) {
      if (c.ssl != nullptr) SSL_free(c.ssl);
      if (c.last_session != nullptr) SSL_SESSION_free(c.last_session);
    }
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  }

  static int on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* self = static_cast<load_client*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    auto* slot = static_cast<conn*>(SSL_get_app_data(ssl));
    if (self == nullptr || slot == nullptr) return 0;
    ++self->st_.tickets;
    if (!self->o_.resume) return 0;  // OpenSSL frees it
    // A private copy: the object OpenSSL hands us stays the connection's own session, which
    // OpenSSL may later mark used up.
    SSL_SESSION* copy = SSL_SESSION_dup(session);
    if (copy == nullptr) return 0;
    if (slot->last_session != nullptr) SSL_SESSION_free(slot->last_session);
    slot->last_session = copy;
    return 0;
  }

  // No close_notify: the server has said 221 and closes; a plain close is what most submission
  // clients do. Marked as shut down all the same: SSL_free would otherwise invalidate the session
  // (not_resumable), and --resume could never offer it.
  static void tls_free(conn& c) {
    SSL_set_shutdown(c.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(c.ssl);
    c.ssl = nullptr;
  }

  // > 0: octets written; 0: the socket must become writable (or readable) first; < 0: error.
  static long tls_write(conn& c, const char* data, std::size_t len) {
    const int n = SSL_write(c.ssl, data, static_cast<int>(len));
    if (n > 0) return n;
    const int e = SSL_get_error(c.ssl, n);
    ERR_clear_error();
    return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? 0 : -1;
  }

  // > 0: octets read; 0: nothing more for now; < 0: closed or failed.
  static long tls_read(conn& c, char* buf, std::size_t len) {
    const int n = SSL_read(c.ssl, buf, static_cast<int>(len));
    if (n > 0) return n;
    const int e = SSL_get_error(c.ssl, n);
    ERR_clear_error();
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
  }

  // Returns false when the connection was closed (and perhaps reopened).
  bool start_tls(std::size_t i, state after) {
    conn& c = conns_[i];
    c.ssl = SSL_new(ctx_);
    if (c.ssl == nullptr) die_tls("SSL_new");
    SSL_set_app_data(c.ssl, &c);
    if (SSL_set_fd(c.ssl, c.fd) != 1) die_tls("SSL_set_fd");
    SSL_set_connect_state(c.ssl);
    if (o_.resume && c.last_session != nullptr) {
      // A copy: OpenSSL marks a TLS 1.3 session it has offered as used up (not_resumable). The
      // copy is offered and the kept one stays usable until the server's next ticket replaces
      // it, as with a client that reuses a cached session (Postfix's smtp with tlsmgr).
      SSL_SESSION* copy = SSL_SESSION_dup(c.last_session);
      if (copy != nullptr) {
        SSL_set_session(c.ssl, copy);
        SSL_SESSION_free(copy);
      }
    }
    c.st = state::handshake;
    c.after_handshake = after;
    return continue_handshake(i);
  }

  // Returns false when the connection was closed.
  bool continue_handshake(std::size_t i) {
    conn& c = conns_[i];
    const int r = SSL_do_handshake(c.ssl);
    if (r != 1) {
      const int e = SSL_get_error(c.ssl, r);
      if (e == SSL_ERROR_WANT_READ) {
        arm_write(i, false);
        return true;
      }
      if (e == SSL_ERROR_WANT_WRITE) {
        arm_write(i, true);
        return true;
      }
      if (reported_errors_ < 5) ERR_print_errors_fp(stderr);
      ERR_clear_error();
      last_reply_.clear();
      fail(i, "TLS handshake");
      return false;
    }
    arm_write(i, false);
    ++st_.handshakes;
    if (SSL_session_reused(c.ssl) != 0) ++st_.resumed;
    if (SSL_version(c.ssl) == TLS1_3_VERSION) ++st_.tls13;
    if (tls_version_.empty()) describe(c.ssl);
    if (c.after_handshake == state::banner) {
      c.st = state::banner;  // implicit TLS: the banner comes under TLS
    } else {
      c.st = state::ehlo;
      send(i, "EHLO " + o_.helo + "\r\n");
    }
    return true;
  }

  // Remembers what the first handshake negotiated, for the report.
  void describe(SSL* ssl) {
    tls_version_ = SSL_get_version(ssl);
    const char* cipher = SSL_get_cipher_name(ssl);
    tls_cipher_ = cipher != nullptr ? cipher : "";
    const int group = SSL_get_negotiated_group(ssl);
    const char* gname = group != 0 ? OBJ_nid2sn(group & ~TLSEXT_nid_unknown) : nullptr;
    tls_group_ = gname != nullptr ? gname : "unknown";
    if (X509* cert = SSL_get1_peer_certificate(ssl)) {
      unsigned char md[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      if (X509_digest(cert, EVP_sha256(), md, &len) == 1) {
        static constexpr char hex[] = "0123456789abcdef";
        for (unsigned int k = 0; k < len && k < 8; ++k) {
          cert_sha256_ += hex[md[k] >> 4];
          cert_sha256_ += hex[md[k] & 15];
        }
      }
      X509_free(cert);
    }
  }

#else
  // Built without OpenSSL: submit mode works with --tls none only.
  void tls_setup() { usage("--tls: built without TLS (compile with -DSMTP_LOAD_TLS -lssl -lcrypto)"); }
  void tls_cleanup() {}
  static void tls_free(conn&) {}
  static long tls_write(conn&, const char*, std::size_t) { return -1; }
  static long tls_read(conn&, char*, std::size_t) { return -1; }
  bool start_tls(std::size_t, state) { return false; }
  bool continue_handshake(std::size_t) { return false; }
#endif

  void handle(std::uint64_t id, std::uint32_t events) {
    const auto i = static_cast<std::size_t>(id);
    conn& c = conns_[i];
    if (c.fd < 0) return;
    if (c.st == state::connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last_reply_.clear();
        return fail(i, "connect");
      }
      if ((events & EPOLLOUT) == 0 && (events & EPOLLIN) == 0) return;
      ++st_.connected;
      c.st = state::banner;
      set_events(i, EPOLLIN | EPOLLRDHUP);
      if (o_.mode == run_mode::submit && o_.tls == tls_mode::implicit) {
        start_tls(i, state::banner);  // a failure there has closed (or reopened) it
        return;
      }
    }
    if (c.st == state::handshake) {
      continue_handshake(i);
      return;
    }
    if ((events & EPOLLOUT) != 0 && !c.out.empty()) flush(i);
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0) return;
    char buf[4096];
    bool got = false;
    bool eof = false;
    if (c.ssl != nullptr) {
      // Drain what OpenSSL can give now: a record may hold more than one recv's worth, and the
      // TLS 1.3 session tickets arrive here too (consumed inside SSL_read).
      for (;;) {
        const long n = tls_read(c, buf, sizeof buf);
        if (n > 0) {
          c.in.append(buf, static_cast<std::size_t>(n));
          got = true;
          continue;
        }
        eof = n < 0;
        break;
      }
    } else {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n > 0) {
        c.in.append(buf, static_cast<std::size_t>(n));
        got = true;
      } else {
        eof = true;
      }
    }
    if (got && !process_replies(i)) return;  // the connection was closed or reopened
    if (eof) {
      if (c.st == state::closed) return;
      // An idle session that the server closed is simply lost; a deny session must not be.
      if (c.st == state::idle) {
        ++st_.errors;
        close_conn(i);
        return;
      }
      last_reply_.clear();
      return fail(i, "connection closed by the server");
    }
  }

  // Walks complete reply lines; acts on the last line of each reply ("xyz " rather than "xyz-").
  // Returns false when the connection was closed (its buffer must not be touched again).
  bool process_replies(std::size_t i) {
    conn& c = conns_[i];
    std::size_t pos = 0;
    for (;;) {
      const std::size_t eol = c.in.find("\r\n", pos);
      if (eol == std::string::npos) break;
      const std::string_view line(c.in.data() + pos, eol - pos);
      pos = eol + 2;
      if (line.size() >= 4 && line[3] == '-') continue;
      const int code =
          line.size() >= 3 ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : 0;
      last_reply_.assign(line.substr(0, std::min<std::size_t>(line.size(), 120)));
      if (!on_reply(i, code)) return false;
      if (c.st == state::handshake) {
        // RFC 3207 5: nothing may follow 220 to STARTTLS in the clear.
        if (pos != c.in.size()) {
          fail(i, "bytes after 220 to STARTTLS");
          return false;
        }
        c.in.clear();
        return true;
      }
    }
    c.in.erase(0, pos);
    return true;
  }

  bool on_reply(std::size_t i, int code) {
    conn& c = conns_[i];
    const bool deny = o_.mode == run_mode::deny;
    const bool submit = o_.mode == run_mode::submit;
    switch (c.st) {
      case state::banner:
        if (code != 220) {
          if (o_.mode == run_mode::idle) {
            ++st_.refused;
            close_conn(i);
            return false;
          }
          fail(i, "banner");
          return false;
        }
        c.st = state::ehlo;
        send(i, "EHLO " + o_.helo + "\r\n");
        return true;
      case state::ehlo:
        if (code != 250) {
          if (o_.mode == run_mode::idle) {
            ++st_.refused;
            close_conn(i);
            return false;
          }
          fail(i, "EHLO");
          return false;
        }
        if (o_.mode == run_mode::idle) {
          ++st_.served;
          uncount(c);
          c.st = state::idle;
          return true;
        }
        if (submit && o_.tls == tls_mode::starttls && c.ssl == nullptr) {
          c.st = state::starttls;
          send(i, "STARTTLS\r\n");
          return true;
        }
        if (submit && o_.auth) {
          c.st = state::auth;
          send(i, auth_lines_[c.user]);
          return true;
        }
        c.st = state::mail;
        send(i, "MAIL FROM:<" + o_.from + ">\r\n");
        return true;
      case state::starttls:
        if (code != 220) {
          fail(i, "STARTTLS");
          return false;
        }
        return start_tls(i, state::ehlo);
      case state::auth:
        if (code != 235) {
          ++st_.auth_fail;
          fail(i, "AUTH");
          return false;
        }
        ++st_.auth_ok;
        c.st = state::mail;
        send(i, "MAIL FROM:<" + o_.from + ">\r\n");
        return true;
      case state::mail:
        if (code != 250) {
          fail(i, "MAIL");
          return false;
        }
        c.st = state::rcpt;
        send(i, "RCPT TO:<" + o_.rcpt + ">\r\n");
        return true;
      case state::rcpt:
        if (submit) {
          if (code < 200 || code >= 300) {
            fail(i, "RCPT");
            return false;
          }
          ++st_.rcpt_ok;
          c.st = state::data;
          send(i, "DATA\r\n");
          return true;
        }
        if (code >= 500 && code < 600) {
          ++st_.denied;
        } else if (code >= 200 && code < 300) {
          ++st_.rcpt_ok;
        } else {
          fail(i, "RCPT");
          return false;
        }
        c.st = state::quit;
        send(i, "QUIT\r\n");
        return true;
      case state::data:
        if (code != 354) {
          fail(i, "DATA");
          return false;
        }
        c.st = state::body;
        send(i, message_);
        return true;
      case state::body:
        if (code != 250) {
          fail(i, "end of data");
          return false;
        }
        ++st_.accepted;
        c.st = state::quit;
        send(i, "QUIT\r\n");
        return true;
      case state::quit:
        ++st_.sessions;
        if (code != 221) ++st_.errors;
        if (submit) {
          latency_ms_.push_back(
              std::chrono::duration<double, std::milli>(clock_type::now() - c.opened).count());
        }
        close_conn(i);
        if (deny ? !g_stop : reopening()) open_session(i);
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
  std::uint64_t open_ = 0;          // sockets open (deny/submit stop early when none are left)
  std::deque<std::size_t> pacing_;  // idle mode: opened sockets, oldest first
  std::uint64_t next_source_ = 0;
  // submit mode
#ifdef SMTP_LOAD_TLS
  SSL_CTX* ctx_ = nullptr;
#endif
  std::vector<account> accounts_;
  std::vector<std::string> auth_lines_;
  std::size_t next_user_ = 0;
  std::string message_;
  std::vector<double> latency_ms_;
  std::string tls_version_, tls_cipher_, tls_group_, cert_sha256_;
  std::string last_reply_;
  int reported_errors_ = 0;
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
  return o.mode == run_mode::idle ? client.run_idle() : client.run_sessions();
}
