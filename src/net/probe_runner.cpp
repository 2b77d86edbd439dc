#include "net/probe_runner.hpp"
#include "net/asio_inet.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ssl.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <tuple>

#include "probe/output.hpp"
#include "smtp/address.hpp"

namespace mx::net {

namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;
constexpr auto as_tuple = asio::experimental::as_tuple(use_awaitable);

tcp::endpoint to_asio(const inet::ip_address& ip, std::uint16_t port) {
  const inet::ip_address u = ip.unmapped();
  if (u.is_v4()) {
    asio::ip::address_v4::bytes_type b{};
    std::copy_n(u.bytes.begin(), 4, b.begin());
    return {asio::ip::address_v4(b), port};
  }
  asio::ip::address_v6::bytes_type b{};
  std::copy_n(u.bytes.begin(), 16, b.begin());
  return {asio::ip::address_v6(b), port};
}

std::string seconds_text(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? fmt::format("{} s", d.count() / 1000)
                               : fmt::format("{} ms", d.count());
}

// Splits a byte stream into trace lines, keeping a partial line until its end arrives.
class trace_lines {
 public:
  template <class F>
  void feed(std::string_view bytes, F&& emit) {
    partial_.append(bytes);
    std::size_t pos = 0;
    for (;;) {
      const std::size_t nl = partial_.find('\n', pos);
      if (nl == std::string::npos) break;
      std::string_view line(partial_.data() + pos, nl - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      emit(line);
      pos = nl + 1;
    }
    partial_.erase(0, pos);
    if (partial_.size() > 4096) {  // a line that never ends: show what we have
      emit(partial_);
      partial_.clear();
    }
  }
  template <class F>
  void flush(F&& emit) {
    if (!partial_.empty()) emit(partial_);
    partial_.clear();
  }

 private:
  std::string partial_;
};

using tls_stream = asio::ssl::stream<tcp::socket&>;

class target_run {
 public:
  target_run(asio::any_io_executor ex, probe::target_config cfg, const probe_run_options& opts,
             asio::ssl::context& tls)
      : socket_(ex),
        timer_(ex),
        opts_(opts),
        tls_ctx_(tls),
        address_(*cfg.identity.address),
        port_(cfg.identity.port),
        part_(cfg.part),
        probe_(std::move(cfg)) {}

  probe::target_probe& probe() { return probe_; }

  // Runs the machine to its end; probe().report() is then final.
  awaitable<void> run() {
    endpoint_ = probe_.endpoint();
    if (part_ == probe::probe_part::proxy) endpoint_ += " [proxy]";  // its own connection
    probe::probe_action a = probe_.start();
    for (;;) {
      if (!a.send.empty()) {
        if (!co_await write(a.send) && !a.close) {
          a = probe_.closed_by_peer();  // the write failed: the server is gone
          continue;
        }
      }
      if (a.close) close();
      switch (a.next) {
        case probe::probe_action::type::connect:
          a = co_await connect();
          break;
        case probe::probe_action::type::read:
        case probe::probe_action::type::settle:
          a = co_await read(a.next == probe::probe_action::type::settle);
          break;
        case probe::probe_action::type::start_tls:
          a = co_await handshake();
          break;
        case probe::probe_action::type::done:
          close();
          co_return;
      }
    }
  }

 private:
  awaitable<probe::probe_action> connect() {
    close();
    const tcp::endpoint ep = to_asio(address_, port_);
    std::error_code ec;
    socket_.open(ep.protocol(), ec);
    if (ec) co_return probe_.connect_failed(ec.message());
    timer_.expires_after(opts_.timeout);
    auto result = co_await (socket_.async_connect(ep, as_tuple) || timer_.async_wait(as_tuple));
    if (result.index() == 1) {
      close();
      co_return probe_.connect_failed(
          fmt::format("timed out after {}", seconds_text(opts_.timeout)));
    }
    if (auto [cec] = std::get<0>(result); cec) {
      close();
      co_return probe_.connect_failed(cec.message());
    }
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);
    connected_at_ = clock_type::now();
    first_bytes_ = true;
    last_write_ = {};
    if (opts_.trace) opts_.trace(endpoint_, '-', "connected");
    co_return probe_.connected();
  }

  // STARTTLS got 220: the TLS handshake, on the same socket. Certificates are not verified: the
  // probe sends nothing secret and wants to reach the server's post-TLS policy, whatever its
  // certificate; SNI names the banner host.
  awaitable<probe::probe_action> handshake() {
    tls_ = std::make_unique<tls_stream>(socket_, tls_ctx_);
    const std::string& sni = probe_.banner_host();
    if (!sni.empty()) SSL_set_tlsext_host_name(tls_->native_handle(), sni.c_str());
    timer_.expires_after(opts_.timeout);
    auto result = co_await (tls_->async_handshake(asio::ssl::stream_base::client, as_tuple) ||
                            timer_.async_wait(as_tuple));
    std::string why;
    if (result.index() == 1) {
      why = fmt::format("timed out after {}", seconds_text(opts_.timeout));
    } else if (auto [ec] = std::get<0>(result); ec) {
      why = ec.message();
    }
    if (!why.empty()) {
      if (opts_.trace) opts_.trace(endpoint_, '-', "TLS handshake failed: " + why);
      co_return probe_.tls_failed(why);
    }
    if (opts_.trace) {
      opts_.trace(endpoint_, '-',
                  fmt::format("TLS established: {} {}", SSL_get_version(tls_->native_handle()),
                              SSL_get_cipher_name(tls_->native_handle())));
    }
    co_return probe_.tls_started();
  }

  awaitable<bool> write(const std::string& bytes) {
    if (!socket_.is_open()) co_return false;
    if (opts_.delay.count() > 0 && last_write_ != clock_type::time_point{}) {
      const auto next = last_write_ + opts_.delay;
      if (next > clock_type::now()) {
        timer_.expires_at(next);
        co_await timer_.async_wait(as_tuple);
      }
    }
    if (opts_.trace) {
      out_lines_.feed(bytes, [&](std::string_view l) {
        opts_.trace(endpoint_, '>', probe::printable(l, 1000));
      });
    }
    timer_.expires_after(opts_.timeout);
    std::error_code ec;
    bool timed_out = false;
    if (tls_) {
      auto result = co_await (asio::async_write(*tls_, asio::buffer(bytes), as_tuple) ||
                              timer_.async_wait(as_tuple));
      timed_out = result.index() == 1;
      if (!timed_out) ec = std::get<0>(std::get<0>(result));
    } else {
      auto result = co_await (asio::async_write(socket_, asio::buffer(bytes), as_tuple) ||
                              timer_.async_wait(as_tuple));
      timed_out = result.index() == 1;
      if (!timed_out) ec = std::get<0>(std::get<0>(result));
    }
    last_write_ = clock_type::now();
    co_return !timed_out && !ec;
  }

  awaitable<probe::probe_action> read(bool settle) {
    auto wait = opts_.timeout;
    if (settle) {
      wait = std::max<std::chrono::milliseconds>(opts_.settle, 2 * greet_delay_);
      wait = std::min(wait, opts_.timeout);
    }
    const auto deadline = clock_type::now() + wait;
    for (;;) {
      if (!socket_.is_open()) co_return probe_.closed_by_peer();
      timer_.expires_at(deadline);
      std::string_view bytes;
      std::error_code rec;
      if (tls_) {
        // TLS buffers decrypted bytes itself: read through it (a buffer only for TLS sessions).
        if (!tls_buffer_) tls_buffer_ = std::make_unique<std::array<char, 16384>>();
        auto result = co_await (tls_->async_read_some(asio::buffer(*tls_buffer_), as_tuple) ||
                                timer_.async_wait(as_tuple));
        if (result.index() == 1) co_return timed_out(settle, wait);
        auto [ec, n] = std::get<0>(result);
        rec = ec;
        if (!ec && n == 0) rec = asio::error::eof;
        bytes = std::string_view(tls_buffer_->data(), n);
      } else {
        // Wait for readability, then read into one shared buffer: idle targets hold none.
        thread_local std::array<char, 65536> buffer;
        auto result = co_await (socket_.async_wait(tcp::socket::wait_read, as_tuple) ||
                                timer_.async_wait(as_tuple));
        if (result.index() == 1) co_return timed_out(settle, wait);
        if (auto [ec] = std::get<0>(result); ec) co_return probe_.closed_by_peer();
        const std::size_t n = socket_.read_some(asio::buffer(buffer), rec);
        if (rec == asio::error::would_block || rec == asio::error::try_again) continue;
        if (!rec && n == 0) rec = asio::error::eof;
        bytes = std::string_view(buffer.data(), n);
      }
      if (rec) {
        if (opts_.trace) {
          in_lines_.flush(
              [&](std::string_view l) { opts_.trace(endpoint_, '<', probe::printable(l, 1000)); });
          opts_.trace(
              endpoint_, '-',
              rec == asio::error::eof ? "closed by the server" : "closed: " + rec.message());
        }
        co_return probe_.closed_by_peer();
      }
      if (first_bytes_) {
        first_bytes_ = false;
        if (greet_delay_.count() == 0) {
          greet_delay_ = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() -
                                                                               connected_at_);
        }
      }
      if (opts_.trace) {
        in_lines_.feed(bytes, [&](std::string_view l) {
          opts_.trace(endpoint_, '<', probe::printable(l, 1000));
        });
      }
      co_return probe_.received(bytes);
    }
  }

  probe::probe_action timed_out(bool settle, std::chrono::milliseconds wait) {
    if (opts_.trace) {
      opts_.trace(endpoint_, '-',
                  settle ? "quiet: settled" : "timeout: no reply in " + seconds_text(wait));
    }
    return settle ? probe_.settled() : probe_.timed_out();
  }

  void close() {
    tls_.reset();  // no close_notify: QUIT has been said, or the session is being dropped
    std::error_code ec;
    if (socket_.is_open()) {
      socket_.shutdown(tcp::socket::shutdown_both, ec);
      socket_.close(ec);
    }
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  const probe_run_options& opts_;
  asio::ssl::context& tls_ctx_;
  std::unique_ptr<tls_stream> tls_;
  std::unique_ptr<std::array<char, 16384>> tls_buffer_;
  inet::ip_address address_;
  std::uint16_t port_ = 25;
  probe::probe_part part_ = probe::probe_part::all;
  probe::target_probe probe_;
  std::string endpoint_;
  clock_type::time_point connected_at_{};
  clock_type::time_point last_write_{};
  std::chrono::milliseconds greet_delay_{0};
  bool first_bytes_ = true;
  trace_lines in_lines_;
  trace_lines out_lines_;
};

// MX resolution with c-ares: every MX query in flight at once, then every MX host's addresses
// (A and AAAA) at once. Runs before the probes start, on the calling thread.
class mx_resolver {
 public:
  struct host {
    int preference = 0;
    std::string name;
    std::vector<inet::ip_address> addresses;
    std::string error;
  };
  struct result {
    std::string domain;
    std::vector<host> hosts;  // by preference
    std::string error;        // the MX query failed
    bool implicit = false;    // no MX: the domain itself (RFC 5321 5.1)
    bool null_mx = false;     // "MX 0 ." (RFC 7505): the domain takes no mail
  };

  mx_resolver(const std::string& servers, std::chrono::milliseconds timeout) {
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
      error_ = "c-ares: library init failed";
      return;
    }
    library_ = true;
    ares_options o{};
    o.timeout = static_cast<int>(std::min<long>(timeout.count(), 60000));
    o.tries = 2;
    if (const int st = ares_init_options(&channel_, &o, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
        st != ARES_SUCCESS) {
      error_ = fmt::format("c-ares: {}", ares_strerror(st));
      return;
    }
    channel_ok_ = true;
    if (!servers.empty()) {
      if (const int st = ares_set_servers_ports_csv(channel_, servers.c_str());
          st != ARES_SUCCESS) {
        error_ = fmt::format("c-ares: DNS servers \"{}\": {}", servers, ares_strerror(st));
      }
    }
  }
  ~mx_resolver() {
    if (channel_ok_) ares_destroy(channel_);
    if (library_) ares_library_cleanup();
  }
  mx_resolver(const mx_resolver&) = delete;
  mx_resolver& operator=(const mx_resolver&) = delete;

  std::vector<result> resolve(const std::vector<std::string>& domains) {
    std::vector<result> out(domains.size());
    for (std::size_t i = 0; i < domains.size(); ++i) {
      out[i].domain = domains[i];
      if (!error_.empty()) out[i].error = error_;
    }
    if (!error_.empty()) return out;
    for (auto& r : out) ares_query(channel_, r.domain.c_str(), 1 /* IN */, 15 /* MX */, on_mx, &r);
    run();
    for (auto& r : out) {
      for (auto& h : r.hosts) {
        ares_addrinfo_hints hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        ares_getaddrinfo(channel_, h.name.c_str(), nullptr, &hints, on_addresses, &h);
      }
    }
    run();
    return out;
  }

 private:
  static void on_mx(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto& r = *static_cast<result*>(arg);
    ares_mx_reply* mx = nullptr;
    if (status == ARES_SUCCESS) status = ares_parse_mx_reply(abuf, alen, &mx);
    if (status == ARES_ENODATA) {
      r.implicit = true;
      r.hosts.push_back({0, r.domain, {}, {}});
      return;
    }
    if (status != ARES_SUCCESS) {
      r.error = status == ARES_ENOTFOUND ? std::string("no such domain") : ares_strerror(status);
      return;
    }
    for (const ares_mx_reply* p = mx; p != nullptr; p = p->next) {
      auto name = smtp::canonical_domain(p->host ? p->host : "");
      if (!name || name->empty()) {
        r.null_mx = true;  // "." (or a name we would not connect to)
        continue;
      }
      r.hosts.push_back({p->priority, *name, {}, {}});
    }
    ares_free_data(mx);
    std::sort(r.hosts.begin(), r.hosts.end(), [](const host& a, const host& b) {
      return std::tie(a.preference, a.name) < std::tie(b.preference, b.name);
    });
    r.hosts.erase(std::unique(r.hosts.begin(), r.hosts.end(),
                              [](const host& a, const host& b) { return a.name == b.name; }),
                  r.hosts.end());
  }

  static void on_addresses(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
    auto& h = *static_cast<host*>(arg);
    if (status != ARES_SUCCESS) {
      h.error = status == ARES_ENOTFOUND ? std::string("no such host") : ares_strerror(status);
      if (res) ares_freeaddrinfo(res);
      return;
    }
    std::set<inet::ip_address> seen;
    for (const ares_addrinfo_node* n = res ? res->nodes : nullptr; n != nullptr; n = n->ai_next) {
      inet::ip_address ip;
      if (n->ai_family == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
        ip.fam = inet::ip_address::family::v4;
        std::memcpy(ip.bytes.data(), &sin->sin_addr, 4);
      } else if (n->ai_family == AF_INET6) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
        ip.fam = inet::ip_address::family::v6;
        std::memcpy(ip.bytes.data(), &sin6->sin6_addr, 16);
        ip = ip.unmapped();
      } else {
        continue;
      }
      if (seen.insert(ip).second) h.addresses.push_back(ip);
    }
    if (res) ares_freeaddrinfo(res);
    if (h.addresses.empty() && h.error.empty()) h.error = "no address";
  }

  // Drives c-ares until every query has called back.
  void run() {
    for (;;) {
      std::array<ares_socket_t, ARES_GETSOCK_MAXNUM> socks{};
      const int bits = ares_getsock(channel_, socks.data(), ARES_GETSOCK_MAXNUM);
      std::vector<pollfd> fds;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short events = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
        if (events) fds.push_back(pollfd{socks[i], events, 0});
      }
      if (fds.empty()) return;
      timeval tv{};
      const timeval* t = ares_timeout(channel_, nullptr, &tv);
      const int ms = t ? static_cast<int>(t->tv_sec * 1000 + t->tv_usec / 1000) : 1000;
      const int n = ::poll(fds.data(), fds.size(), ms);
      if (n <= 0) {
        ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
        continue;
      }
      for (const auto& p : fds) {
        const bool r = (p.revents & (POLLIN | POLLERR | POLLHUP)) != 0;
        const bool w = (p.revents & POLLOUT) != 0;
        if (r || w)
          ares_process_fd(channel_, r ? p.fd : ARES_SOCKET_BAD, w ? p.fd : ARES_SOCKET_BAD);
      }
    }
  }

  ares_channel channel_ = nullptr;
  bool library_ = false;
  bool channel_ok_ = false;
  std::string error_;
};

// One address to probe, or a report already decided (a name that did not resolve).
struct work_item {
  probe::target_config cfg;
  std::optional<probe::target_report> decided;
};

awaitable<void> resolve_job(probe_job job, std::vector<work_item>& out) {
  auto ex = co_await asio::this_coro::executor;
  if (job.cfg.identity.address) {
    out.push_back({std::move(job.cfg), std::nullopt});
    co_return;
  }
  tcp::resolver resolver(ex);
  auto [ec, results] = co_await resolver.async_resolve(
      job.host, std::to_string(job.cfg.identity.port), tcp::resolver::address_configured, as_tuple);
  if (ec) {
    out.push_back({job.cfg, probe::unreachable_report(
                                job.cfg.target, "",
                                fmt::format("resolving {}: {}", job.host, ec.message()))});
    co_return;
  }
  std::set<inet::ip_address> seen;
  for (const auto& entry : results) {
    const inet::ip_address ip = to_inet(entry.endpoint().address()).unmapped();
    if (!seen.insert(ip).second) continue;
    probe::target_config cfg = job.cfg;
    cfg.identity.address = ip;
    out.push_back({std::move(cfg), std::nullopt});
  }
  if (seen.empty()) {
    out.push_back({job.cfg, probe::unreachable_report(job.cfg.target, "",
                                                      "resolving " + job.host + ": no address")});
  }
}

// One work item per address of every MX host, best preference first.
void expand_mx(const probe_job& job, const mx_resolver::result& r, std::vector<work_item>& out) {
  auto fail = [&](std::string why) {
    out.push_back({job.cfg, probe::unreachable_report(job.cfg.target, "", std::move(why))});
  };
  if (!r.error.empty()) return fail(fmt::format("MX of {}: {}", r.domain, r.error));
  if (r.hosts.empty()) {
    return fail(r.null_mx ? fmt::format("{} has a null MX (RFC 7505): it accepts no mail", r.domain)
                          : fmt::format("MX of {}: no usable host", r.domain));
  }
  for (const auto& h : r.hosts) {
    const std::string target =
        r.implicit ? fmt::format("{} (no MX: the domain itself, RFC 5321 5.1)", job.cfg.target)
                   : fmt::format("{} (MX {} {})", job.cfg.target, h.preference, h.name);
    if (h.addresses.empty()) {
      probe::target_config cfg = job.cfg;
      cfg.target = target;
      out.push_back({cfg, probe::unreachable_report(
                              target, "", fmt::format("resolving {}: {}", h.name, h.error))});
      continue;
    }
    for (const auto& ip : h.addresses) {
      probe::target_config cfg = job.cfg;
      cfg.target = target;
      cfg.identity.address = ip;
      out.push_back({std::move(cfg), std::nullopt});
    }
  }
}

}  // namespace

std::vector<probe::target_report> run_probes(std::vector<probe_job> jobs,
                                             const probe_run_options& opts) {
  asio::io_context ioc(1);

  // 1. mx:DOMAIN jobs through c-ares, every query at once; the MX hosts' addresses too.
  std::vector<std::vector<work_item>> resolved(jobs.size());
  std::vector<std::string> mx_domains;
  for (const auto& j : jobs) {
    if (j.mx) mx_domains.push_back(j.host);
  }
  if (!mx_domains.empty()) {
    mx_resolver resolver(opts.dns_servers, opts.timeout);
    auto answers = resolver.resolve(mx_domains);
    std::size_t k = 0;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (!jobs[i].mx) continue;
      expand_mx(jobs[i], answers[k++], resolved[i]);
    }
  }

  // 2. Other names to addresses, every job at once; the order of the jobs is kept.
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].mx) continue;
    asio::co_spawn(ioc, resolve_job(std::move(jobs[i]), resolved[i]), asio::detached);
  }
  ioc.run();
  ioc.restart();
  std::vector<work_item> items;
  for (auto& r : resolved) {
    for (auto& w : r) items.push_back(std::move(w));
  }

  // 3. Probe, `concurrency` targets at once. One TLS client context for every STARTTLS: no
  // certificate verification, and old protocol versions allowed, since the point is to reach
  // the server's policy inside TLS, not to protect anything.
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_verify_mode(asio::ssl::verify_none);
  SSL_CTX_set_security_level(tls.native_handle(), 0);
  SSL_CTX_set_min_proto_version(tls.native_handle(), 0);
  std::vector<probe::target_report> reports(items.size());
  std::size_t next = 0;
  auto worker = [&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    while (next < items.size()) {
      const std::size_t i = next++;
      if (items[i].decided) {
        reports[i] = std::move(*items[i].decided);
        continue;
      }
      // The PROXY probe's connection runs beside the main session, not after it: its header
      // must open a connection of its own anyway, and its envelope needs nothing the main
      // session learns. Same report as one machine running both, a few round trips sooner.
      probe::target_config main_cfg = std::move(items[i].cfg);
      probe::target_config proxy_cfg = main_cfg;
      main_cfg.part = probe::probe_part::main;
      proxy_cfg.part = probe::probe_part::proxy;
      auto main_run = std::make_unique<target_run>(ex, std::move(main_cfg), opts, tls);
      auto proxy_run = std::make_unique<target_run>(ex, std::move(proxy_cfg), opts, tls);
      co_await (main_run->run() && proxy_run->run());
      main_run->probe().add_part(proxy_run->probe().report());
      reports[i] = main_run->probe().report();
    }
  };
  const std::size_t workers = std::max<std::size_t>(1, std::min(opts.concurrency, items.size()));
  for (std::size_t w = 0; w < workers; ++w) asio::co_spawn(ioc, worker(), asio::detached);
  ioc.run();
  return reports;
}

}  // namespace mx::net
