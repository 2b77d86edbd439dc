#include "net/resolver.hpp"

#include <ares.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <span>
#include <unordered_map>

#include <fmt/format.h>
#include <asio/async_result.hpp>
#include <asio/bind_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include "core/inet.hpp"
#include "dns/message.hpp"
#include "dns/name.hpp"

namespace mx::net {

namespace {

constexpr std::size_t max_records = 64;
constexpr std::size_t max_txt_octets = 1024;

std::uint16_t get16(std::span<const std::uint8_t> m, std::size_t at) {
  return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}
std::uint32_t get32(std::span<const std::uint8_t> m, std::size_t at) {
  return (std::uint32_t{m[at]} << 24) | (std::uint32_t{m[at + 1]} << 16) |
         (std::uint32_t{m[at + 2]} << 8) | std::uint32_t{m[at + 3]};
}

struct parsed_response {
  bool ok = false;
  std::uint8_t rcode = 0;
  std::vector<std::array<std::uint8_t, 4>> a;
  std::vector<std::string> txt;
  bool any_of_type = false;
  std::uint32_t min_ttl = UINT32_MAX;         // over the records of the asked type
  std::optional<std::uint32_t> negative_ttl;  // min(SOA TTL, MINIMUM) from the authority section
};

// Walks a response: the question is skipped, answer records of `type` (class IN) kept, the
// authority section searched for a SOA. Every length is checked against the message.
parsed_response parse_response(std::span<const std::uint8_t> msg, std::uint16_t type) {
  parsed_response out;
  auto hdr = dns::header::read(msg);
  if (!hdr) return out;
  out.rcode = static_cast<std::uint8_t>(hdr->flags & dns::flag::rcode_mask);
  std::size_t pos = dns::header_octets;
  for (std::uint16_t i = 0; i < hdr->qdcount; ++i) {
    if (!dns::read_name(msg, pos) || pos + 4 > msg.size()) return out;
    pos += 4;
  }
  const std::size_t records = std::size_t{hdr->ancount} + hdr->nscount;
  for (std::size_t i = 0; i < records; ++i) {
    const bool answer = i < hdr->ancount;
    if (!dns::read_name(msg, pos) || pos + 10 > msg.size()) return out;
    const std::uint16_t rtype = get16(msg, pos);
    const std::uint16_t rclass = get16(msg, pos + 2);
    const std::uint32_t ttl = get32(msg, pos + 4) & 0x7fffffffu;  // RFC 2181 8
    const std::uint16_t rdlength = get16(msg, pos + 8);
    pos += 10;
    if (pos + rdlength > msg.size()) return out;
    const auto rdata = msg.subspan(pos, rdlength);
    if (answer && rtype == type && rclass == dns::rr_class::in) {
      out.any_of_type = true;
      out.min_ttl = std::min(out.min_ttl, ttl);
      if (type == dns::rr_type::a && rdlength == 4 && out.a.size() < max_records) {
        out.a.push_back({rdata[0], rdata[1], rdata[2], rdata[3]});
      } else if (type == dns::rr_type::txt && out.txt.size() < max_records) {
        std::string text;
        std::size_t at = 0;
        while (at < rdata.size()) {
          const std::size_t len = rdata[at];
          if (at + 1 + len > rdata.size()) return out;
          const std::size_t room = max_txt_octets - std::min(max_txt_octets, text.size());
          text.append(reinterpret_cast<const char*>(rdata.data() + at + 1), std::min(len, room));
          at += 1 + len;
        }
        out.txt.push_back(std::move(text));
      }
    } else if (!answer && rtype == dns::rr_type::soa && rclass == dns::rr_class::in) {
      std::size_t at = pos;
      if (dns::read_name(msg, at) && dns::read_name(msg, at) && at + 20 <= pos + rdlength) {
        out.negative_ttl = std::min(ttl, get32(msg, at + 16));
      }
    }
    pos += rdlength;
  }
  out.ok = true;
  return out;
}

// Accepts "ip", "ip:port", "[ip6]:port", "ip6"; returns c-ares's CSV element form.
std::optional<std::string> server_csv(std::string_view text) {
  if (auto ep = inet::endpoint::parse(text)) {
    if (ep->port == 0) return std::nullopt;
    return ep->address.is_v6() ? fmt::format("[{}]:{}", ep->address.to_string(), ep->port)
                               : fmt::format("{}:{}", ep->address.to_string(), ep->port);
  }
  if (auto ip = inet::ip_address::parse(text)) {
    return ip->is_v6() ? fmt::format("[{}]:53", ip->to_string())
                       : fmt::format("{}:53", ip->to_string());
  }
  return std::nullopt;
}

std::string cache_key(std::string_view name, std::uint16_t type) {
  std::string key;
  key.reserve(name.size() + 6);
  for (char c : name) key += (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
  if (!key.empty() && key.back() == '.') key.pop_back();
  key += '/';
  key += std::to_string(type);
  return key;
}

}  // namespace

std::string_view name_of(dns_status s) {
  switch (s) {
    case dns_status::ok:
      return "ok";
    case dns_status::nxdomain:
      return "nxdomain";
    case dns_status::nodata:
      return "nodata";
    case dns_status::servfail:
      return "servfail";
    case dns_status::timeout:
      return "timeout";
    case dns_status::error:
      return "error";
  }
  return "?";
}

struct resolver::impl : std::enable_shared_from_this<resolver::impl> {
  using clock = std::chrono::steady_clock;
  using waiter = std::function<void(dns_answer)>;

  struct watch {
    explicit watch(const asio::strand<asio::any_io_executor>& s, int fd) : desc(s, fd) {}
    asio::posix::stream_descriptor desc;
    bool want_read = false;
    bool want_write = false;
    bool reading = false;
    bool writing = false;
    bool dead = false;
  };

  struct cache_entry {
    dns_answer answer;
    clock::time_point expires;
  };

  struct query_ctx {
    std::shared_ptr<impl> self;
    std::string key;
    std::uint16_t type;
  };

  impl(asio::any_io_executor ex, resolver_settings s)
      : settings(std::move(s)), strand(asio::make_strand(ex)), timer(strand) {}

  ~impl() { shutdown(); }

  std::string init() {
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) return "c-ares: library init failed";
    library = true;
    std::string csv;
    for (const auto& s : settings.servers) {
      auto e = server_csv(s);
      if (!e) return fmt::format("DNS server \"{}\": want IP or IP:port", s);
      csv += (csv.empty() ? "" : ",") + *e;
    }
    ares_options o{};
    o.timeout = static_cast<int>(std::max<std::int64_t>(1, settings.timeout.count()));
    o.tries = std::max(1, settings.tries);
    o.sock_state_cb = &impl::on_sock_state;
    o.sock_state_cb_data = this;
    // NOCHECKRESP: a SERVFAIL or REFUSED answer comes back as such at once (c-ares would try
    // the next server and then report only "could not contact"); DNSBL checks fail open on it.
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOCHECKRESP;
    const int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS;
    if (const int st = ares_init_options(&channel, &o, mask); st != ARES_SUCCESS) {
      return fmt::format("c-ares: {}", ares_strerror(st));
    }
    channel_ok = true;
    if (!csv.empty()) {
      if (const int st = ares_set_servers_ports_csv(channel, csv.c_str()); st != ARES_SUCCESS) {
        return fmt::format("c-ares: DNS servers \"{}\": {}", csv, ares_strerror(st));
      }
    }
    return {};
  }

  // Runs with no other thread in the io_context (see the header). ares_destroy completes every
  // query in flight with ARES_EDESTRUCTION and closes its sockets through on_sock_state.
  void shutdown() {
    if (closed) return;
    closed = true;
    if (channel_ok) ares_destroy(channel);
    channel_ok = false;
    for (auto& [fd, w] : watches) {
      w->dead = true;
      w->desc.release();
    }
    watches.clear();
    timer.cancel();
    if (library) ares_library_cleanup();
    library = false;
  }

  // ---- on any thread ----
  void submit(std::string name, std::uint16_t type, waiter done) {
    asio::post(strand, [self = shared_from_this(), name = std::move(name), type,
                        done = std::move(done)]() mutable {
      self->start(std::move(name), type, std::move(done));
    });
  }

  // ---- on the strand from here on ----
  void start(std::string name, std::uint16_t type, waiter done) {
    if (closed) {
      dns_answer a;
      a.error = "resolver shut down";
      done(std::move(a));
      return;
    }
    std::string key = cache_key(name, type);
    if (auto it = cache.find(key); it != cache.end()) {
      const auto now = clock::now();
      if (it->second.expires > now) {
        ++cache_hits;
        dns_answer a = it->second.answer;
        a.cached = true;
        a.ttl = static_cast<std::uint32_t>(std::max<std::int64_t>(
            1, std::chrono::duration_cast<std::chrono::seconds>(it->second.expires - now).count()));
        done(std::move(a));
        return;
      }
      cache.erase(it);
      cache_size = cache.size();
    }
    if (auto it = inflight.find(key); it != inflight.end()) {
      ++shared;
      it->second.push_back(std::move(done));
      return;
    }
    inflight[key].push_back(std::move(done));
    ++queries;
    auto* ctx = new query_ctx{shared_from_this(), key, type};
    ares_query(channel, name.c_str(), dns::rr_class::in, type, &impl::on_answer, ctx);
    rearm_timer();
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    std::unique_ptr<query_ctx> ctx(static_cast<query_ctx*>(arg));
    impl& self = *ctx->self;
    dns_answer a;
    const bool has_message =
        abuf != nullptr && alen > 0 &&
        (status == ARES_SUCCESS || status == ARES_ENODATA || status == ARES_ENOTFOUND);
    if (has_message) {
      const parsed_response p = parse_response(
          std::span<const std::uint8_t>(abuf, static_cast<std::size_t>(alen)), ctx->type);
      if (!p.ok) {
        a.error = "malformed response";
      } else if (p.rcode == dns::rcode::nxdomain) {
        a.status = dns_status::nxdomain;
      } else if (p.rcode != dns::rcode::noerror) {
        a.error = fmt::format("rcode {}", p.rcode);
      } else if (p.any_of_type) {
        a.status = dns_status::ok;
        a.a = p.a;
        a.txt = p.txt;
        a.ttl = std::min<std::uint32_t>(p.min_ttl, self.settings.max_ttl.count());
      } else {
        a.status = dns_status::nodata;
      }
      if ((a.status == dns_status::nxdomain || a.status == dns_status::nodata) && p.negative_ttl) {
        a.ttl = std::min<std::uint32_t>(*p.negative_ttl, self.settings.max_negative_ttl.count());
      }
    } else {
      switch (status) {
        case ARES_ESERVFAIL:
          a.status = dns_status::servfail;
          break;
        case ARES_ETIMEOUT:
          a.status = dns_status::timeout;
          break;
        case ARES_ENOTFOUND:
          a.status = dns_status::nxdomain;
          break;
        case ARES_ENODATA:
          a.status = dns_status::nodata;
          break;
        default:
          a.status = dns_status::error;
          break;
      }
      a.error = ares_strerror(status);
    }
    if (a.status == dns_status::error && a.error.empty()) a.error = ares_strerror(status);
    if (a.status == dns_status::servfail || a.status == dns_status::timeout ||
        a.status == dns_status::error) {
      a.ttl = 0;
    }
    if (a.ttl > 0 && !self.closed) self.store(ctx->key, a);
    auto node = self.inflight.extract(ctx->key);
    if (node.empty()) return;
    for (auto& w : node.mapped()) w(a);
  }

  void store(const std::string& key, const dns_answer& a) {
    if (settings.max_cache_entries == 0) return;
    const auto now = clock::now();
    if (cache.size() >= settings.max_cache_entries) {
      std::erase_if(cache, [&](const auto& kv) { return kv.second.expires <= now; });
      while (cache.size() >= settings.max_cache_entries) cache.erase(cache.begin());
    }
    cache[key] = cache_entry{a, now + std::chrono::seconds(a.ttl)};
    cache_size = cache.size();
  }

  // c-ares opens, changes or closes a socket. Called inside ares_query/ares_process_fd and
  // ares_destroy, so always on the strand (or with the io_context stopped).
  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    impl& self = *static_cast<impl*>(data);
    auto it = self.watches.find(fd);
    if (!readable && !writable) {
      if (it != self.watches.end()) {
        it->second->dead = true;
        // Deregisters from the reactor before c-ares closes the descriptor; we never own it.
        it->second->desc.release();
        self.watches.erase(it);
      }
      return;
    }
    if (self.closed) return;
    if (it == self.watches.end()) {
      it = self.watches.emplace(fd, std::make_shared<watch>(self.strand, fd)).first;
    }
    it->second->want_read = readable != 0;
    it->second->want_write = writable != 0;
    self.arm(it->second, fd);
  }

  void arm(const std::shared_ptr<watch>& w, int fd) {
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->desc.async_wait(asio::posix::descriptor_base::wait_read,
                         asio::bind_executor(
                             strand, [self = shared_from_this(), w, fd](const std::error_code& ec) {
                               w->reading = false;
                               if (w->dead || ec || self->closed) return;
                               ares_process_fd(self->channel, fd, ARES_SOCKET_BAD);
                               if (!w->dead) self->arm(w, fd);
                               self->rearm_timer();
                             }));
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->desc.async_wait(asio::posix::descriptor_base::wait_write,
                         asio::bind_executor(
                             strand, [self = shared_from_this(), w, fd](const std::error_code& ec) {
                               w->writing = false;
                               if (w->dead || ec || self->closed) return;
                               ares_process_fd(self->channel, ARES_SOCKET_BAD, fd);
                               if (!w->dead) self->arm(w, fd);
                               self->rearm_timer();
                             }));
    }
  }

  // c-ares keeps the retry and timeout schedule; the timer wakes it at its next deadline.
  void rearm_timer() {
    if (closed || inflight.empty()) {
      timer.cancel();
      return;
    }
    timeval tv{};
    const timeval* t = ares_timeout(channel, nullptr, &tv);
    if (t == nullptr) {
      timer.cancel();
      return;
    }
    timer.expires_after(std::chrono::seconds(t->tv_sec) + std::chrono::microseconds(t->tv_usec));
    timer.async_wait(
        asio::bind_executor(strand, [self = shared_from_this()](const std::error_code& ec) {
          if (ec || self->closed) return;
          ares_process_fd(self->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
          self->rearm_timer();
        }));
  }

  resolver_settings settings;
  asio::strand<asio::any_io_executor> strand;
  asio::steady_timer timer;
  ares_channel channel = nullptr;
  bool channel_ok = false;
  bool library = false;
  bool closed = false;
  std::unordered_map<int, std::shared_ptr<watch>> watches;
  std::unordered_map<std::string, cache_entry> cache;
  std::unordered_map<std::string, std::vector<waiter>> inflight;
  // Read by stats() from any thread.
  std::atomic<std::uint64_t> queries{0};
  std::atomic<std::uint64_t> cache_hits{0};
  std::atomic<std::uint64_t> shared{0};
  std::atomic<std::uint64_t> cache_size{0};
};

resolver::resolver(std::shared_ptr<impl> p) : impl_(std::move(p)) {}

resolver::~resolver() {
  impl_->shutdown();
}

mx::expected<std::unique_ptr<resolver>, std::string> resolver::create(asio::any_io_executor ex,
                                                                      resolver_settings settings) {
  auto p = std::make_shared<impl>(std::move(ex), std::move(settings));
  if (std::string err = p->init(); !err.empty()) return mx::unexpected(std::move(err));
  return std::unique_ptr<resolver>(new resolver(std::move(p)));
}

asio::awaitable<dns_answer> resolver::query(std::string name, std::uint16_t type) {
  auto initiate = [p = impl_](auto handler, std::string n, std::uint16_t t) {
    auto ex = asio::get_associated_executor(handler);
    using handler_t = decltype(handler);
    auto h = std::make_shared<handler_t>(std::move(handler));
    // Keeps the caller's io_context alive until the answer is delivered.
    auto work = std::make_shared<asio::executor_work_guard<decltype(ex)>>(ex);
    p->submit(std::move(n), t, [h, work](dns_answer a) {
      asio::post(work->get_executor(), [h, a = std::move(a)]() mutable { (*h)(std::move(a)); });
      work->reset();
    });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(dns_answer)>(
      initiate, asio::use_awaitable, std::move(name), type);
}

asio::awaitable<dns_answer> resolver::query_a(std::string name) {
  return query(std::move(name), dns::rr_type::a);
}

asio::awaitable<dns_answer> resolver::query_txt(std::string name) {
  return query(std::move(name), dns::rr_type::txt);
}

resolver_stats resolver::stats() const {
  return {impl_->queries.load(), impl_->cache_hits.load(), impl_->shared.load(),
          impl_->cache_size.load()};
}

}  // namespace mx::net
