#include "net/dns_server.hpp"
#include "net/asio_inet.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

#include <fmt/format.h>
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include "core/log.hpp"
#include "dns/message.hpp"
#include "dnsbl/answer.hpp"
#include "dnsbl/transfer.hpp"

namespace mx::net {

namespace {

using asio::awaitable;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);

constexpr std::size_t udp_batch = 64;
constexpr std::size_t udp_max_query = 4096;  // longer datagrams are dropped
constexpr std::size_t tcp_round = 64;        // messages answered per write
constexpr int udp_wake_ms = 200;             // how soon a UDP thread notices stop()
// AXFR messages: within the 16-bit compression pointer range, so every name compresses.
constexpr std::size_t xfr_message = 16384;

tcp::endpoint to_asio(const inet::ip_address& a, std::uint16_t port) {
  if (a.is_v4()) {
    asio::ip::address_v4::bytes_type b{};
    std::copy_n(a.bytes.begin(), 4, b.begin());
    return {asio::ip::address_v4(b), port};
  }
  asio::ip::address_v6::bytes_type b{};
  std::copy_n(a.bytes.begin(), 16, b.begin());
  return {asio::ip::address_v6(b), port};
}

// sockaddr for a UDP bind.
socklen_t to_sockaddr(const inet::ip_address& a, std::uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (a.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, a.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  std::memcpy(&sin6->sin6_addr, a.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

// A UDP socket bound to (a, port); SO_REUSEPORT when `shared`. Returns the fd and the port bound.
int open_udp(const inet::ip_address& a, std::uint16_t port, bool shared, std::uint16_t* bound_port,
             const std::string& what) {
  const int fd = ::socket(a.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno(errno, what);
  auto fail = [&](int err) {
    ::close(fd);
    throw_errno(err, what);
  };
  const int one = 1;
  if (shared && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) fail(errno);
  if (a.is_v6() && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
    fail(errno);
  }
  if (a.is_unspecified()) {
    // Answer from the address the query came to, not whatever the routing table picks.
    const int rc = a.is_v4() ? ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one)
                             : ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
    if (rc != 0) fail(errno);
  }
  // Room for bursts (the kernel caps it at net.core.rmem_max); failure is harmless.
  const int rcvbuf = 4 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  const timeval wake{0, udp_wake_ms * 1000};
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wake, sizeof wake) != 0) fail(errno);
  sockaddr_storage ss;
  const socklen_t len = to_sockaddr(a, port, ss);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) fail(errno);
  socklen_t got_len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &got_len) != 0) fail(errno);
  *bound_port = ntohs(a.is_v4() ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return fd;
}

// Per-zone counters, shared by every generation that serves the zone. Each on its own cache
// line: the UDP threads add to them once per batch.
struct alignas(64) zone_stats {
  std::atomic<std::uint64_t> queries{0};
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};
  std::atomic<std::uint64_t> refusals{0};
};

struct generation {
  std::shared_ptr<const dns_data> data;
  std::vector<zone_stats*> stats;  // by index in data->zones->zones()
};

// Counts of one batch (UDP) or one message (TCP), added to the shared counters in one go.
struct tally {
  std::vector<std::array<std::uint64_t, 4>> zones;  // queries, hits, misses, refusals
  std::uint64_t queries = 0;
  std::uint64_t refused_outside = 0;
  std::uint64_t errors = 0;
  std::uint64_t dropped = 0;
  std::uint64_t truncated = 0;

  void reset(std::size_t n_zones) {
    zones.assign(n_zones, {});  // no allocation once the capacity is there
    queries = refused_outside = errors = dropped = truncated = 0;
  }
  void add(const dnsbl::answer_result& r) {
    ++queries;
    using dnsbl::outcome;
    if (r.zone >= 0 && static_cast<std::size_t>(r.zone) < zones.size()) {
      auto& z = zones[static_cast<std::size_t>(r.zone)];
      ++z[0];
      if (r.what == outcome::listed) ++z[1];
      if (r.what == outcome::not_listed || r.what == outcome::nodata) ++z[2];
      if (r.what == outcome::refused) ++z[3];
    } else if (r.what == outcome::refused) {
      ++refused_outside;
    }
    if (r.what == outcome::formerr || r.what == outcome::notimp || r.what == outcome::badvers) {
      ++errors;
    }
    if (r.size == 0) ++dropped;
    if (r.truncated) ++truncated;
  }
};

}  // namespace

class tcp_connection;

struct dns_server::impl : std::enable_shared_from_this<impl> {
  asio::io_context& ioc;
  dns_settings settings;
  std::atomic<std::shared_ptr<const generation>> gen;

  std::mutex stats_mu;  // by_name and order; the counters themselves are atomics
  std::map<std::string, std::unique_ptr<zone_stats>> by_name;
  std::vector<std::string> order;
  std::atomic<std::uint64_t> udp_queries{0}, tcp_queries{0}, refused_outside{0}, errors{0},
      dropped{0}, truncated{0}, axfr{0};

  struct udp_socket {
    int fd = -1;
    bool pktinfo = false;
    bool v6 = false;
  };
  std::vector<udp_socket> udp;
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<inet::endpoint> bound;
  std::atomic<bool> stopping{false};
  bool started = false;

  std::mutex conns_mu;
  std::map<tcp_connection*, std::weak_ptr<tcp_connection>> conns;
  std::atomic<std::size_t> n_conns{0};

  impl(asio::io_context& io, dns_settings s) : ioc(io), settings(std::move(s)) {}
  ~impl() {
    for (auto& u : udp) {
      if (u.fd >= 0) ::close(u.fd);
    }
  }

  void publish(dns_data data) {
    auto g = std::make_shared<generation>();
    g->data = std::make_shared<const dns_data>(std::move(data));
    {
      std::lock_guard lock(stats_mu);
      for (const auto& z : g->data->zones->zones()) {
        const std::string name = z.apex.to_text();
        auto& slot = by_name[name];
        if (!slot) {
          slot = std::make_unique<zone_stats>();
          order.push_back(name);
        }
        g->stats.push_back(slot.get());
      }
    }
    gen.store(std::shared_ptr<const generation>(std::move(g)));
  }

  void flush(const generation& g, const tally& t, bool tcp_side) {
    for (std::size_t i = 0; i < t.zones.size() && i < g.stats.size(); ++i) {
      const auto& z = t.zones[i];
      if (z[0] == 0) continue;
      auto* s = g.stats[i];
      s->queries.fetch_add(z[0], std::memory_order_relaxed);
      if (z[1]) s->hits.fetch_add(z[1], std::memory_order_relaxed);
      if (z[2]) s->misses.fetch_add(z[2], std::memory_order_relaxed);
      if (z[3]) s->refusals.fetch_add(z[3], std::memory_order_relaxed);
    }
    (tcp_side ? tcp_queries : udp_queries).fetch_add(t.queries, std::memory_order_relaxed);
    if (t.refused_outside) refused_outside.fetch_add(t.refused_outside, std::memory_order_relaxed);
    if (t.errors) errors.fetch_add(t.errors, std::memory_order_relaxed);
    if (t.dropped) dropped.fetch_add(t.dropped, std::memory_order_relaxed);
    if (t.truncated) truncated.fetch_add(t.truncated, std::memory_order_relaxed);
  }

  void udp_loop(udp_socket sock);
  awaitable<void> accept_loop(tcp::acceptor* acceptor);
};

// ---- UDP ----

namespace {

// Control message room for one IP_PKTINFO or IPV6_PKTINFO, suitably aligned.
union control_buffer {
  cmsghdr align;
  std::array<char, CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(in_pktinfo))> bytes;
};

// Fills `out` with the source-address control message for a reply to a query that arrived with
// `in`; returns its length (0 when the query carried none).
std::size_t reply_control(const msghdr& in, control_buffer& out) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&in); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&in), c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo got;
      std::memcpy(&got, CMSG_DATA(c), sizeof got);
      in_pktinfo send{};
      send.ipi_spec_dst = got.ipi_addr;  // the address the query was sent to
      auto* oc = reinterpret_cast<cmsghdr*>(out.bytes.data());
      oc->cmsg_level = IPPROTO_IP;
      oc->cmsg_type = IP_PKTINFO;
      oc->cmsg_len = CMSG_LEN(sizeof send);
      std::memcpy(CMSG_DATA(oc), &send, sizeof send);
      return CMSG_SPACE(sizeof send);
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo got;
      std::memcpy(&got, CMSG_DATA(c), sizeof got);
      auto* oc = reinterpret_cast<cmsghdr*>(out.bytes.data());
      oc->cmsg_level = IPPROTO_IPV6;
      oc->cmsg_type = IPV6_PKTINFO;
      oc->cmsg_len = CMSG_LEN(sizeof got);
      std::memcpy(CMSG_DATA(oc), &got, sizeof got);  // same address, same interface
      return CMSG_SPACE(sizeof got);
    }
  }
  return 0;
}

}  // namespace

void dns_server::impl::udp_loop(udp_socket sock) {
  // Everything a batch needs, allocated once.
  const std::size_t out_size = std::max<std::size_t>(settings.udp_payload, dns::classic_udp_size);
  std::vector<std::uint8_t> rx(udp_batch * udp_max_query);
  std::vector<std::uint8_t> tx(udp_batch * out_size);
  std::vector<mmsghdr> in(udp_batch);
  std::vector<mmsghdr> out(udp_batch);
  std::vector<iovec> rx_iov(udp_batch);
  std::vector<iovec> tx_iov(udp_batch);
  std::vector<sockaddr_storage> peers(udp_batch);
  std::vector<control_buffer> rx_ctl(udp_batch);
  std::vector<control_buffer> tx_ctl(udp_batch);
  tally t;
  t.zones.reserve(64);

  dnsbl::answer_options ao;
  ao.via = dnsbl::transport::udp;
  ao.udp_payload = settings.udp_payload;

  while (!stopping.load(std::memory_order_relaxed)) {
    for (std::size_t i = 0; i < udp_batch; ++i) {
      rx_iov[i] = {rx.data() + i * udp_max_query, udp_max_query};
      msghdr& h = in[i].msg_hdr;
      h = msghdr{};
      h.msg_name = &peers[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &rx_iov[i];
      h.msg_iovlen = 1;
      if (sock.pktinfo) {
        h.msg_control = rx_ctl[i].bytes.data();
        h.msg_controllen = rx_ctl[i].bytes.size();
      }
    }
    const int n = ::recvmmsg(sock.fd, in.data(), udp_batch, MSG_WAITFORONE, nullptr);
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && !stopping.load()) {
        log::warn("dnsbld: udp receive: {}", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      continue;
    }
    // One generation for the whole batch: a reload in between changes the next batch.
    const std::shared_ptr<const generation> g = gen.load();
    const dnsbl::zone_set& zones = *g->data->zones;
    ao.now = std::time(nullptr);
    t.reset(g->stats.size());
    std::size_t m = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
      const msghdr& h = in[i].msg_hdr;
      if ((h.msg_flags & MSG_TRUNC) != 0) {
        ++t.queries;
        ++t.dropped;
        continue;
      }
      std::uint8_t* reply = tx.data() + m * out_size;
      const auto r = dnsbl::answer(zones, {rx.data() + i * udp_max_query, in[i].msg_len},
                                   {reply, out_size}, ao);
      t.add(r);
      if (r.size == 0) continue;
      tx_iov[m] = {reply, r.size};
      msghdr& o = out[m].msg_hdr;
      o = msghdr{};
      o.msg_name = &peers[i];
      o.msg_namelen = h.msg_namelen;
      o.msg_iov = &tx_iov[m];
      o.msg_iovlen = 1;
      if (sock.pktinfo) {
        const std::size_t len = reply_control(h, tx_ctl[m]);
        if (len > 0) {
          o.msg_control = tx_ctl[m].bytes.data();
          o.msg_controllen = len;
        }
      }
      ++m;
    }
    std::size_t sent = 0;
    while (sent < m) {
      const int k = ::sendmmsg(sock.fd, out.data() + sent, static_cast<unsigned>(m - sent), 0);
      if (k > 0) {
        sent += static_cast<std::size_t>(k);
      } else if (k < 0 && errno == EINTR) {
        continue;
      } else {
        ++sent;  // this datagram cannot be sent (e.g. an unreachable peer): skip it
      }
    }
    flush(*g, t, false);
  }
}

// ---- TCP ----

class tcp_connection : public std::enable_shared_from_this<tcp_connection> {
 public:
  tcp_connection(std::shared_ptr<dns_server::impl> server, tcp::socket socket,
                 const tcp::endpoint& peer)
      : server_(std::move(server)),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        peer_(to_inet(peer.address())) {}

  awaitable<void> run();
  void close() {
    std::error_code ec;
    socket_.cancel(ec);
    socket_.close(ec);
    timer_.cancel();
  }
  tcp::socket::executor_type executor() { return socket_.get_executor(); }

 private:
  awaitable<void> watchdog();
  void set_deadline(clock_type::duration d) {
    const auto next = clock_type::now() + d;
    const bool sooner = next < deadline_;
    deadline_ = next;
    if (sooner) timer_.cancel();
  }
  // Answers one message into out_, or sets xfr_ for an allowed AXFR.
  void handle(const generation& g, std::span<const std::uint8_t> msg, tally& t);
  // An AXFR (RFC 5936) for a peer in axfr_allow; nullptr for every other message.
  std::unique_ptr<dnsbl::axfr_stream> start_transfer(const generation& g,
                                                     std::span<const std::uint8_t> msg);
  // Writes xfr_'s messages; false when the connection failed.
  awaitable<bool> send_transfer();

  std::shared_ptr<dns_server::impl> server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  inet::ip_address peer_;
  clock_type::time_point deadline_ = clock_type::time_point::max();
  std::vector<std::uint8_t> in_;
  std::size_t filled_ = 0;
  std::vector<std::uint8_t> out_;
  std::unique_ptr<dnsbl::axfr_stream> xfr_;
};

awaitable<void> tcp_connection::watchdog() {
  auto self = shared_from_this();
  while (socket_.is_open()) {
    timer_.expires_at(deadline_);
    co_await timer_.async_wait(as_tuple);
    if (!socket_.is_open()) break;
    if (clock_type::now() >= deadline_) {
      std::error_code ec;
      socket_.cancel(ec);  // the pending read or write fails; run() closes
      socket_.close(ec);
      break;
    }
  }
}

std::unique_ptr<dnsbl::axfr_stream> tcp_connection::start_transfer(
    const generation& g, std::span<const std::uint8_t> msg) {
  // TCP messages are parsed twice (here and in answer()); TCP is the rare path.
  const auto q = dns::parse_query(msg);
  if (!q || q->qtype != dns::rr_type::axfr) return nullptr;
  const auto& allow = g.data->axfr_allow;
  const bool allowed = std::any_of(allow.begin(), allow.end(),
                                   [&](const inet::cidr& c) { return c.contains(peer_); });
  if (!allowed) return nullptr;  // answer() refuses it
  const auto target = dnsbl::find_axfr_zone(*g.data->zones, *q);
  if (target.zone < 0) return nullptr;  // not a zone's apex, or no SOA: REFUSED
  ++server_->axfr;
  log::info("dnsbld: AXFR of {} to {}", q->qname.to_text(), peer_.to_string());
  return std::make_unique<dnsbl::axfr_stream>(g.data->zones, static_cast<std::size_t>(target.zone),
                                              *q, std::time(nullptr));
}

awaitable<bool> tcp_connection::send_transfer() {
  std::vector<std::uint8_t> buf(2 + xfr_message);
  bool ok = true;
  while (!server_->stopping.load(std::memory_order_relaxed)) {
    const std::size_t n = xfr_->next_message({buf.data() + 2, xfr_message});
    if (n == 0) break;
    buf[0] = static_cast<std::uint8_t>(n >> 8);
    buf[1] = static_cast<std::uint8_t>(n & 0xff);
    auto [ec, written] =
        co_await asio::async_write(socket_, asio::buffer(buf.data(), n + 2), as_tuple);
    if (ec) {
      ok = false;
      break;
    }
    set_deadline(server_->settings.tcp_idle);  // a slow reader still makes progress
  }
  log::info("dnsbld: AXFR to {}: {} records in {} messages{}", peer_.to_string(), xfr_->records(),
            xfr_->messages(), ok ? "" : " (connection lost)");
  xfr_.reset();
  co_return ok;
}

void tcp_connection::handle(const generation& g, std::span<const std::uint8_t> msg, tally& t) {
  if (auto x = start_transfer(g, msg)) {
    xfr_ = std::move(x);
    ++t.queries;
    return;
  }
  // answer() writes here; the bytes are copied into out_ before the next suspension point.
  thread_local std::array<std::uint8_t, dns::max_message_size> scratch;
  dnsbl::answer_options ao;
  ao.via = dnsbl::transport::tcp;
  ao.udp_payload = server_->settings.udp_payload;
  ao.now = std::time(nullptr);
  const auto r = dnsbl::answer(*g.data->zones, msg, scratch, ao);
  t.add(r);
  if (r.size == 0) return;
  out_.push_back(static_cast<std::uint8_t>(r.size >> 8));
  out_.push_back(static_cast<std::uint8_t>(r.size & 0xff));
  out_.insert(out_.end(), scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(r.size));
}

awaitable<void> tcp_connection::run() {
  auto self = shared_from_this();
  std::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  const auto idle = server_->settings.tcp_idle;
  set_deadline(idle);
  asio::co_spawn(socket_.get_executor(), watchdog(), asio::detached);
  in_.resize(4096);
  tally t;
  bool open = true;
  while (open && !server_->stopping.load(std::memory_order_relaxed)) {
    auto [rec, n] = co_await socket_.async_read_some(
        asio::buffer(in_.data() + filled_, in_.size() - filled_), as_tuple);
    if (rec || n == 0) break;
    filled_ += n;
    std::size_t pos = 0;
    for (;;) {
      // One generation per round of pipelined messages.
      const std::shared_ptr<const generation> g = server_->gen.load();
      t.reset(g->stats.size());
      out_.clear();
      std::size_t handled = 0;
      while (handled < tcp_round && filled_ - pos >= 2) {
        const std::size_t len = (std::size_t{in_[pos]} << 8) | in_[pos + 1];
        if (len == 0) {  // not a DNS message: the peer is confused
          open = false;
          break;
        }
        if (filled_ - pos - 2 < len) break;
        handle(*g, {in_.data() + pos + 2, len}, t);
        pos += 2 + len;
        ++handled;
        if (xfr_) break;  // the transfer goes out after the answers before it
      }
      server_->flush(*g, t, true);
      if (handled > 0) set_deadline(idle);  // only whole messages keep a connection alive
      if (!out_.empty()) {
        auto [wec, wn] = co_await asio::async_write(socket_, asio::buffer(out_), as_tuple);
        if (wec) {
          open = false;
          break;
        }
        set_deadline(idle);
      }
      const bool transferred = xfr_ != nullptr;
      if (xfr_ && open && !(co_await send_transfer())) open = false;
      xfr_.reset();
      // Go on with what is buffered after a full round or a transfer; else read more.
      if ((handled < tcp_round && !transferred) || !open) break;
    }
    // Keep the unread tail at the front, with room for the whole next message.
    std::memmove(in_.data(), in_.data() + pos, filled_ - pos);
    filled_ -= pos;
    std::size_t need = in_.size();
    if (filled_ >= 2) need = std::max(need, 2 + ((std::size_t{in_[0]} << 8) | in_[1]));
    if (filled_ == in_.size()) need = std::max(need, std::min<std::size_t>(in_.size() * 2, 65537));
    if (need > in_.size()) in_.resize(need);
  }
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  close();
  --server_->n_conns;
  std::lock_guard lock(server_->conns_mu);
  server_->conns.erase(this);
}

awaitable<void> dns_server::impl::accept_loop(tcp::acceptor* acceptor) {
  auto self = shared_from_this();
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(asio::make_strand(ioc), as_tuple);
    if (stopping) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      log::warn("dnsbld: accept: {}", ec.message());
      asio::steady_timer pause(acceptor->get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(as_tuple);  // EMFILE and kin: back off, then retry
      continue;
    }
    std::error_code pec;
    const tcp::endpoint peer = socket.remote_endpoint(pec);
    if (pec) continue;
    if (n_conns.load() >= settings.max_tcp_connections) {
      // RFC 7766 6.2.2: a server may close connections it cannot serve.
      std::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++n_conns;
    auto conn = std::make_shared<tcp_connection>(self, std::move(socket), peer);
    {
      std::lock_guard lock(conns_mu);
      conns.emplace(conn.get(), conn);
    }
    asio::co_spawn(conn->executor(), conn->run(), asio::detached);
  }
}

// ---- dns_server ----

dns_server::dns_server(asio::io_context& ioc, dns_settings settings, dns_data data)
    : impl_(std::make_shared<impl>(ioc, std::move(settings))) {
  impl_->publish(std::move(data));
  unsigned per = impl_->settings.udp_sockets;
  if (per == 0) per = std::max(1u, std::thread::hardware_concurrency());
  for (const auto& ep : impl_->settings.listen) {
    const std::string what = "cannot listen on " + ep.to_string();
    // Port 0: find a UDP port nobody holds (a socket without SO_REUSEPORT, so no other
    // SO_REUSEPORT socket can share it), take the same port for TCP, then open the shared
    // sockets on it. A port free for UDP but busy for TCP: try another.
    std::unique_ptr<tcp::acceptor> acc;
    std::uint16_t port = ep.port;
    for (int attempt = 0;; ++attempt) {
      int probe = -1;
      if (ep.port == 0) probe = open_udp(ep.address, 0, false, &port, what);
      acc = std::make_unique<tcp::acceptor>(asio::make_strand(ioc));
      const tcp::endpoint endpoint = to_asio(ep.address, port);
      std::error_code ec;
      acc->open(endpoint.protocol(), ec);
      if (!ec && endpoint.address().is_v6()) acc->set_option(asio::ip::v6_only(true), ec);
      if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) acc->bind(endpoint, ec);
      if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
      if (probe >= 0) ::close(probe);
      if (!ec) break;
      if (ep.port != 0 || attempt >= 20 || ec != asio::error::address_in_use) {
        throw std::system_error(ec, what + " (tcp)");
      }
    }
    for (unsigned i = 0; i < per; ++i) {
      std::uint16_t got = 0;
      const int fd = open_udp(ep.address, port, true, &got, what + " (udp)");
      impl_->udp.push_back({fd, ep.address.is_unspecified(), ep.address.is_v6()});
    }
    impl_->acceptors.push_back(std::move(acc));
    impl_->bound.push_back(inet::endpoint{ep.address, port});
  }
}

dns_server::~dns_server() {
  stop();
}

void dns_server::start() {
  if (impl_->started) return;
  impl_->started = true;
  for (const auto& u : impl_->udp) {
    impl_->threads.emplace_back([i = impl_.get(), u] { i->udp_loop(u); });
  }
  for (auto& acc : impl_->acceptors) {
    asio::co_spawn(acc->get_executor(), impl_->accept_loop(acc.get()), asio::detached);
  }
}

void dns_server::publish(dns_data data) {
  impl_->publish(std::move(data));
}

std::shared_ptr<const dns_data> dns_server::current() const {
  const auto g = impl_->gen.load();
  return std::shared_ptr<const dns_data>(g, g->data.get());
}

void dns_server::stop() {
  if (impl_->stopping.exchange(true)) return;
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  for (auto& acc : impl_->acceptors) {
    tcp::acceptor* a = acc.get();
    asio::post(a->get_executor(), [a] {
      std::error_code ec;
      a->close(ec);
    });
  }
  std::vector<std::shared_ptr<tcp_connection>> live;
  {
    std::lock_guard lock(impl_->conns_mu);
    for (auto& [ptr, weak] : impl_->conns) {
      if (auto c = weak.lock()) live.push_back(std::move(c));
    }
  }
  for (auto& c : live) asio::post(c->executor(), [c] { c->close(); });
}

std::vector<inet::endpoint> dns_server::bound() const {
  return impl_->bound;
}

std::size_t dns_server::tcp_connections() const {
  return impl_->n_conns.load();
}

dns_counts dns_server::counts() const {
  dns_counts c;
  {
    std::lock_guard lock(impl_->stats_mu);
    for (const auto& name : impl_->order) {
      const auto& s = *impl_->by_name.at(name);
      c.zones.push_back(
          {name, s.queries.load(), s.hits.load(), s.misses.load(), s.refusals.load()});
    }
  }
  c.udp_queries = impl_->udp_queries.load();
  c.tcp_queries = impl_->tcp_queries.load();
  c.refused_outside = impl_->refused_outside.load();
  c.errors = impl_->errors.load();
  c.dropped = impl_->dropped.load();
  c.truncated = impl_->truncated.load();
  c.axfr = impl_->axfr.load();
  return c;
}

}  // namespace mx::net
