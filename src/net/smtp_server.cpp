#include "net/smtp_server.hpp"
#include "net/asio_inet.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl.hpp>
#include <openssl/crypto.h>
#include <fmt/format.h>

#include <algorithm>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "core/log.hpp"
#include "queue/spool.hpp"
#include "queue/sync_batcher.hpp"

namespace mx::net {

namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
constexpr auto as_tuple = asio::experimental::as_tuple(use_awaitable);

tcp::endpoint to_asio(const inet::endpoint& e) {
  if (e.address.is_v4()) {
    asio::ip::address_v4::bytes_type b{};
    std::copy_n(e.address.bytes.begin(), 4, b.begin());
    return {asio::ip::address_v4(b), e.port};
  }
  asio::ip::address_v6::bytes_type b{};
  std::copy_n(e.address.bytes.begin(), 16, b.begin());
  return {asio::ip::address_v6(b), e.port};
}

std::string bracketed(const inet::ip_address& ip) {
  return ip.is_v6() && !ip.is_v4_mapped() ? "[IPv6:" + ip.to_string() + "]"
                                          : "[" + ip.unmapped().to_string() + "]";
}

std::string rfc5322_date() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string new_queue_id() {
  static std::atomic<std::uint32_t> counter{0};
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return fmt::format("{:X}{:02X}", us, counter.fetch_add(1) & 0xff);
}

std::string ip_key(const inet::ip_address& ip) {
  const inet::ip_address u = ip.unmapped();
  return std::string(reinterpret_cast<const char*>(u.bytes.data()), u.is_v4() ? 4 : 16);
}

// Awaits a group-commit flush; resumes on the caller's executor with the errno (0: durable).
template <class Token>
auto async_flush(queue::sync_batcher& batcher, Token&& token) {
  return asio::async_initiate<Token, void(int)>(
      [&batcher](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        batcher.request([h](int err) {
          auto ex = asio::get_associated_executor(*h);
          asio::post(ex, [h, err]() mutable { (*h)(err); });
        });
      },
      token);
}

// Runs on the crypt pool. Parameters by value: the coroutine frame owns them.
awaitable<bool> verify_password(policy::verify_cache* cache,
                                std::shared_ptr<const policy::credential_table> creds,
                                std::string user, std::string password) {
  const bool ok = cache->verify(*creds, user, password);
  OPENSSL_cleanse(password.data(), password.size());
  co_return ok;
}

// Completion for detached coroutines: an exception (a bug, or bad_alloc) is logged and ends only
// that coroutine; it never escapes io_context::run and takes a thread down.
void log_exception(std::string_view what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::error("internal error in {}: {}", what, ex.what());
  } catch (...) {
    log::error("internal error in {}", what);
  }
}

bool same_resolver(const resolver_settings& a, const resolver_settings& b) {
  return a.servers == b.servers && a.timeout == b.timeout && a.tries == b.tries &&
         a.max_ttl == b.max_ttl && a.max_negative_ttl == b.max_negative_ttl &&
         a.max_cache_entries == b.max_cache_entries;
}

namespace dnsbl = policy::dnsbl;

// Server-wide DNS list state shared by every session: the log limiter (lines about broken or
// silent lists: at most one per list and problem per minute) and the answer memo (a session whose
// answers are all known needs no coroutine and no hop to the resolver's strand; the resolver's
// own cache still serves the rest).
struct dnsbl_shared {
  std::mutex log_mu;
  dnsbl::log_limiter limiter{std::chrono::seconds(60)};
  mutable std::mutex memo_mu;
  dnsbl::answer_memo memo;

  template <class... Args>
  void warn(std::string_view key, fmt::format_string<Args...> f, Args&&... args) {
    std::optional<std::uint64_t> held;
    {
      std::lock_guard lock(log_mu);
      held = limiter.allow(key, clock_type::now());
    }
    if (!held) return;
    std::string text = fmt::format(f, std::forward<Args>(args)...);
    if (*held > 0) text += fmt::format(" ({} more since the last such line)", *held);
    log::warn("{}", text);
  }
  std::optional<std::vector<dnsbl::a_record>> find(const std::string& name) const {
    std::lock_guard lock(memo_mu);
    return memo.find(name, clock_type::now());
  }
  void store(const std::string& name, const std::vector<dnsbl::a_record>& records,
             std::uint32_t ttl) {
    if (ttl == 0) return;  // max_ttl = 0: nothing is cached, here either
    const auto now = clock_type::now();
    std::lock_guard lock(memo_mu);
    memo.store(name, records, now + std::chrono::seconds(ttl), now);
  }
  void clear_memo() {
    std::lock_guard lock(memo_mu);
    memo.clear();
  }
};

// A session's DNS list checks. Shared with the query coroutines, which may finish after the
// session has ended (a silent server keeps c-ares retrying past our deadline): they write here,
// never into the connection. Only touched on the connection's strand.
struct dnsbl_ctx {
  dnsbl_ctx(asio::any_io_executor ex, std::shared_ptr<const dnsbl::check_config> cfg)
      : state(std::move(cfg)), wake(std::move(ex)) {}
  dnsbl::check_state state;
  asio::steady_timer wake;  // cancelled by each answer: the waiting session looks again
  // The TXT of the blamed list, fetched once per query name.
  std::string txt_name;
  bool txt_done = false;
  std::string txt;
  std::string logged;  // the last verdict logged, so each RCPT does not log it again
};

std::string join_codes(const std::vector<std::array<std::uint8_t, 4>>& codes) {
  std::string out;
  for (const auto& c : codes) out += (out.empty() ? "" : ",") + dnsbl::to_string(c);
  return out;
}

// A list's answer, classified; a list error is logged (rate-limited).
dnsbl::list_result classify_logged(dnsbl_shared& shared, const dnsbl::site& site,
                                   const dnsbl::query& q,
                                   const std::vector<dnsbl::a_record>& records) {
  dnsbl::list_result r = dnsbl::classify_answer(site, records);
  if (r.status == dnsbl::list_status::list_error) {
    shared.warn(site.domain + "/error",
                "dnsbl: warning: {}: list error: {} answered {} (not a listing: outside "
                "127.0.0.0/8, 127.0.0.1 or 127.255.255.0/24); not counted",
                site.domain, q.name, join_codes(r.codes));
  }
  return r;
}

// One A query of a list. Parameters by value: the coroutine frame owns them.
awaitable<void> dnsbl_query(std::shared_ptr<dnsbl_ctx> ctx, resolver* res,
                            std::shared_ptr<dnsbl_shared> shared, dnsbl::query q,
                            dnsbl::site site) {
  const dns_answer a = co_await res->query_a(q.name);
  dnsbl::list_result r;
  switch (a.status) {
    case dns_status::ok:
    case dns_status::nxdomain:
    case dns_status::nodata: {
      static const std::vector<dnsbl::a_record> none;
      const auto& records = a.status == dns_status::ok ? a.a : none;
      shared->store(q.name, records, a.ttl);
      r = classify_logged(*shared, site, q, records);
      break;
    }
    default:
      r = dnsbl::failed_lookup(site);
      shared->warn(site.domain + "/failed",
                   "dnsbl: warning: {}: lookup of {} failed ({}{}{}): not counted (fail open)",
                   site.domain, q.name, name_of(a.status), a.error.empty() ? "" : ": ", a.error);
      break;
  }
  if (ctx->state.answer(q, std::move(r))) ctx->wake.cancel();
}

awaitable<void> dnsbl_txt_query(std::shared_ptr<dnsbl_ctx> ctx, resolver* res, std::string name) {
  const dns_answer a = co_await res->query_txt(name);
  if (ctx->txt_name != name) co_return;  // another list is blamed by now
  if (a.status == dns_status::ok && !a.txt.empty()) ctx->txt = a.txt.front();
  ctx->txt_done = true;
  ctx->wake.cancel();
}

}  // namespace

// ---- connection_counter ----

connection_counter::admit connection_counter::try_add(const inet::ip_address& ip,
                                                      std::size_t max_total,
                                                      std::size_t max_per_ip) {
  std::lock_guard lock(mu_);
  if (total_ >= max_total) return admit::too_many;
  std::size_t& n = per_ip_[ip_key(ip)];
  if (n >= max_per_ip) {
    if (n == 0) per_ip_.erase(ip_key(ip));
    return admit::too_many_from_ip;
  }
  ++n;
  ++total_;
  return admit::ok;
}

void connection_counter::remove(const inet::ip_address& ip) {
  std::lock_guard lock(mu_);
  auto it = per_ip_.find(ip_key(ip));
  if (it == per_ip_.end()) return;
  if (--it->second == 0) per_ip_.erase(it);
  --total_;
}

std::size_t connection_counter::total() const {
  std::lock_guard lock(mu_);
  return total_;
}

// ---- the server ----

class connection;

// A bound listener. `initial` is its settings at start: a reload that drops the listener from
// the config cannot unbind it (listeners change on restart), so its sessions keep these.
struct listener_socket {
  std::unique_ptr<tcp::acceptor> acceptor;
  smtp_listener initial;
  std::size_t index = 0;  // in settings.listeners
};

struct smtp_server::impl : std::enable_shared_from_this<impl> {
  asio::io_context& ioc;
  mutable std::mutex settings_mu;
  std::shared_ptr<const smtp_settings> settings_;
  std::vector<std::unique_ptr<listener_socket>> acceptors;
  connection_counter counter;
  std::unique_ptr<queue::sync_batcher> batcher;
  std::unique_ptr<policy::auth_limiter> auth_limiter;
  policy::verify_cache verify_cache;  // repeat logins skip the password hash (locked inside)
  // Password hashing (yescrypt: milliseconds of CPU) runs here, never on the io threads.
  asio::thread_pool crypt_pool{std::max(2u, std::thread::hardware_concurrency())};
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> in_data{0};
  std::mutex conns_mu;
  std::map<connection*, std::weak_ptr<connection>> conns;
  // The resolver new sessions use (under settings_mu), and every one made so far: a session may
  // still use an older one, and none is destroyed while the io_context runs.
  resolver* resolver_ = nullptr;
  resolver_settings resolver_settings_;
  std::vector<std::unique_ptr<resolver>> resolvers;
  std::shared_ptr<dnsbl_shared> dnsbl_shared_ = std::make_shared<dnsbl_shared>();

  explicit impl(asio::io_context& io) : ioc(io) {}

  std::shared_ptr<const smtp_settings> settings() const {
    std::lock_guard lock(settings_mu);
    return settings_;
  }
  std::pair<std::shared_ptr<const smtp_settings>, resolver*> snapshot() const {
    std::lock_guard lock(settings_mu);
    return {settings_, resolver_};
  }
  // A resolver for `s` when it has DNS lists: the current one when its settings match, else a
  // new one. nullptr with the error when c-ares cannot start.
  std::pair<resolver*, std::string> resolver_for(const smtp_settings& s) {
    if (!s.dnsbl.enabled()) return {nullptr, {}};
    {
      std::lock_guard lock(settings_mu);
      if (resolver_ != nullptr && same_resolver(resolver_settings_, s.dnsbl.resolver)) {
        return {resolver_, {}};
      }
    }
    auto made = resolver::create(ioc.get_executor(), s.dnsbl.resolver);
    if (!made) return {nullptr, made.error()};
    resolver* r = made->get();
    dnsbl_shared_->clear_memo();  // other servers may answer otherwise
    std::lock_guard lock(settings_mu);
    resolvers.push_back(std::move(*made));
    return {r, {}};
  }
  awaitable<void> accept_loop(listener_socket* ls);
};

// The current settings of the listener bound at `ls`.
const smtp_listener& listener_for(const smtp_settings& s, const listener_socket& ls) {
  if (ls.index < s.listeners.size() && s.listeners[ls.index].endpoint == ls.initial.endpoint) {
    return s.listeners[ls.index];
  }
  return ls.initial;
}

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(std::shared_ptr<smtp_server::impl> server, tcp::socket socket,
             std::shared_ptr<const smtp_settings> settings, const smtp_listener& listener,
             tcp::endpoint peer, resolver* res)
      : server_(std::move(server)),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        settings_(std::move(settings)),
        listener_(&listener),
        resolver_(res),
        peer_(to_inet(peer.address())),
        peer_text_(fmt::format("{}:{}", bracketed(peer_), peer.port())),
        session_(listener.session) {}

  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  awaitable<void> run();
  void shutdown();  // on this connection's strand
  tcp::socket::executor_type executor() { return socket_.get_executor(); }

 private:
  struct disposition {
    bool local = false;
    policy::mailbox_ref mailbox;  // local
    std::string address;          // the recipient's mailbox as sent
  };

  awaitable<void> watchdog();
  awaitable<bool> handshake();
  awaitable<std::optional<std::string_view>> read_some();
  awaitable<bool> write_all(std::string bytes);
  awaitable<bool> process(smtp::step st);
  awaitable<smtp::reply> decide(smtp::session_request& req);
  awaitable<smtp::reply> authenticate(const smtp::auth_request& req);
  smtp::reply decide_recipient(const smtp::address& rcpt);
  awaitable<smtp::reply> store(std::string content);
  void set_deadline(clock_type::duration d);
  clock_type::duration phase_timeout() const;
  void log_reject(std::string_view stage, const smtp::reply& r, const smtp::address* rcpt);
  std::string envelope_text(const smtp::address* rcpt) const;
  std::string protocol_name() const;
  // DNS lists.
  void dnsbl_start();
  void dnsbl_launch(std::vector<dnsbl::query> queries);
  void dnsbl_sync_helo();
  void dnsbl_sender(const smtp::address& sender);
  awaitable<void> dnsbl_wait();
  awaitable<std::string> dnsbl_txt(const dnsbl::blame& b);
  awaitable<std::optional<smtp::reply>> dnsbl_verdict(std::string_view stage);
  awaitable<std::optional<smtp::reply>> dnsbl_check_recipient();
  dnsbl::time_point dnsbl_deadline() const {
    return clock_type::now() + settings_->dnsbl.resolver.timeout;
  }

  std::shared_ptr<smtp_server::impl> server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::shared_ptr<const smtp_settings> settings_;
  const smtp_listener* listener_;  // in *settings_, or the acceptor's initial copy
  resolver* resolver_ = nullptr;   // null: no DNS list checks
  std::shared_ptr<dnsbl_ctx> dnsbl_;  // set when this client is checked
  std::string dnsbl_helo_;            // the HELO name the helo lists were last asked about
  std::optional<smtp::reply> refused_;  // blocked at connect: the reply to MAIL and AUTH
  inet::ip_address peer_;
  std::string peer_text_;
  smtp::server_session session_;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;  // set once a handshake starts
  std::vector<char> tls_buffer_;                          // reads under TLS
  std::string tls_description_;  // "TLSv1.3 with cipher ...", once established
  clock_type::time_point deadline_ = clock_type::time_point::max();
  clock_type::time_point lifetime_end_ = clock_type::time_point::max();
  clock_type::time_point data_started_{};
  bool timed_out_ = false;
  bool shutting_down_ = false;
  bool counted_in_data_ = false;
  std::vector<disposition> dispositions_;
};

void connection::set_deadline(clock_type::duration d) {
  const auto now = clock_type::now();
  const auto next = std::min(now + d, lifetime_end_);
  const bool sooner = next < deadline_;
  deadline_ = next;
  if (sooner) timer_.cancel();  // wake the watchdog so it re-arms for the earlier deadline
}

clock_type::duration connection::phase_timeout() const {
  const auto& t = settings_->timeouts;
  switch (session_.current_phase()) {
    case smtp::phase::data: {
      // Between blocks, but never past the whole DATA phase limit.
      const auto elapsed = clock_type::now() - data_started_;
      const clock_type::duration left = t.data_term - std::min<clock_type::duration>(elapsed, t.data_term);
      return std::min<clock_type::duration>(left, t.data_block);
    }
    case smtp::phase::command:
      if (session_.helo().empty()) return t.greeting;
      if (session_.current_transaction().sender) return t.rcpt;
      return t.mail;
    default:
      return t.idle;
  }
}

awaitable<void> connection::watchdog() {
  auto self = shared_from_this();
  while (socket_.is_open()) {
    timer_.expires_at(deadline_);
    co_await timer_.async_wait(as_tuple);
    if (!socket_.is_open()) break;
    if (clock_type::now() >= deadline_) {
      timed_out_ = true;
      deadline_ = clock_type::time_point::max();  // re-armed by the next read or write
      std::error_code ec;
      socket_.cancel(ec);  // the pending read or write completes with operation_aborted
    }
  }
}

awaitable<bool> connection::handshake() {
  if (!settings_->tls) co_return false;
  // The handshake gets the greeting timeout: a client that opens TLS and stalls is a slowloris.
  set_deadline(settings_->timeouts.greeting);
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, settings_->tls->ctx);
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, as_tuple);
  if (ec) {
    log::info("TLS handshake failed from {}: {}", peer_text_,
              timed_out_ ? std::string("timeout") : ec.message());
    co_return false;
  }
  tls_buffer_.resize(16384);
  tls_description_ = describe_tls(tls_->native_handle());
  log::info("TLS connection established from {}: {}", peer_text_, tls_description_);
  co_return true;
}

awaitable<std::optional<std::string_view>> connection::read_some() {
  if (tls_) {
    auto [ec, n] = co_await tls_->async_read_some(asio::buffer(tls_buffer_), as_tuple);
    if (ec || n == 0) co_return std::nullopt;
    co_return std::string_view(tls_buffer_.data(), n);
  }
  // Wait for readability, then read into a per-thread buffer: idle sessions hold no buffer.
  thread_local std::array<char, 16384> buffer;
  for (;;) {
    auto [ec] = co_await socket_.async_wait(tcp::socket::wait_read, as_tuple);
    if (ec) co_return std::nullopt;
    std::error_code rec;
    const std::size_t n = socket_.read_some(asio::buffer(buffer), rec);
    if (rec == asio::error::would_block || rec == asio::error::try_again) continue;
    if (rec || n == 0) co_return std::nullopt;
    co_return std::string_view(buffer.data(), n);
  }
}

awaitable<bool> connection::write_all(std::string bytes) {
  if (bytes.empty()) co_return true;
  set_deadline(settings_->timeouts.idle);
  if (tls_) {
    auto [ec, n] = co_await asio::async_write(*tls_, asio::buffer(bytes), as_tuple);
    co_return !ec;
  }
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes), as_tuple);
  co_return !ec;
}

// RFC 3848 "with" protocol types: ESMTP, ESMTPS (TLS), ESMTPA (AUTH), ESMTPSA, and the UTF8
// variants of RFC 6531.
std::string connection::protocol_name() const {
  if (!session_.esmtp()) return "SMTP";
  std::string p = session_.current_transaction().smtputf8 ? "UTF8SMTP" : "ESMTP";
  if (session_.tls_active()) p += 'S';
  if (!session_.authenticated_user().empty()) p += 'A';
  return p;
}

std::string connection::envelope_text(const smtp::address* rcpt) const {
  const auto& txn = session_.current_transaction();
  std::string out;
  if (txn.sender) out += fmt::format(" from=<{}>", txn.sender->mailbox());
  if (rcpt != nullptr) out += fmt::format(" to=<{}>", rcpt->mailbox());
  out += fmt::format(" proto={} helo=<{}>", protocol_name(), session_.helo());
  if (!session_.authenticated_user().empty()) {
    out += fmt::format(" sasl_username={}", session_.authenticated_user());
  }
  return out;
}

void connection::log_reject(std::string_view stage, const smtp::reply& r, const smtp::address* rcpt) {
  log::info("reject: {} from {}: {} {} {};{}", stage, peer_text_, r.code, r.enhanced, r.text(),
            envelope_text(rcpt));
}

smtp::reply connection::decide_recipient(const smtp::address& rcpt) {
  const auto& txn = session_.current_transaction();
  policy::relay_request req;
  req.client = peer_;
  req.tls = session_.tls_active();
  req.auth_user = session_.authenticated_user();
  req.helo = session_.helo();
  req.sender = txn.sender ? &*txn.sender : nullptr;
  req.recipient = &rcpt;
  const policy::verdict v = policy::evaluate(listener_->relay, req);
  if (!v.permitted()) {
    log_reject("RCPT", v.reply, &rcpt);
    return v.reply;
  }
  if (v.k == policy::verdict::kind::permit_relay) {
    dispositions_.push_back({false, {}, rcpt.mailbox()});
    return smtp::server_session::recipient_ok();
  }
  // Local: the mailbox comes from the recipients table, never from the envelope.
  const auto& local_domains = listener_->relay.local_domains;
  std::string domain = rcpt.domain_key;
  if (rcpt.kind != smtp::domain_kind::name) {  // <Postmaster>, user@[our address]
    domain = local_domains.empty() ? std::string() : local_domains.front();
  }
  const std::string local = rcpt.has(smtp::address_flag::unqualified) ? "postmaster" : rcpt.local_part;
  const auto mailbox = settings_->recipients.find(local, domain);
  if (!mailbox) {
    const auto r = smtp::reply::make(
        550, "5.1.1",
        fmt::format("<{}>: Recipient address rejected: User unknown in local recipient table",
                    rcpt.mailbox()));
    log_reject("RCPT", r, &rcpt);
    return r;
  }
  dispositions_.push_back({true, *mailbox, rcpt.mailbox()});
  return smtp::server_session::recipient_ok();
}

awaitable<smtp::reply> connection::store(std::string content) {
  const auto& txn = session_.current_transaction();
  const std::string id = new_queue_id();
  const std::string sender = txn.sender ? txn.sender->mailbox() : std::string();
  std::string received = fmt::format("Received: from {} ({})\r\n", session_.helo(), bracketed(peer_));
  if (!tls_description_.empty()) received += fmt::format("\t(using {})\r\n", tls_description_);
  received += fmt::format("\tby {} (mxguard) with {} id {}", settings_->session.hostname,
                          protocol_name(), id);
  if (dispositions_.size() == 1) received += fmt::format("\r\n\tfor <{}>", dispositions_[0].address);
  received += fmt::format("; {}\r\n", rfc5322_date());

  queue::maildir_store maildir(settings_->mail_dir, settings_->session.hostname);
  queue::relay_queue relayq(settings_->queue_dir, settings_->session.hostname);
  std::map<std::string, std::vector<policy::mailbox_ref>> by_domain;
  queue::envelope relay_env{sender, {}};
  for (const auto& d : dispositions_) {
    if (d.local) {
      by_domain[d.mailbox.domain].push_back(d.mailbox);
    } else {
      relay_env.recipients.push_back(d.address);
    }
  }
  const std::string local_head = fmt::format("Return-Path: <{}>\r\n", sender) + received;
  struct staged_local {
    queue::staged_file file;
    const std::vector<policy::mailbox_ref>* boxes;
  };
  std::vector<staged_local> staged;
  std::optional<queue::staged_file> staged_relay;
  auto discard_all = [&] {
    for (auto& s : staged) maildir.discard(s.file);
    if (staged_relay) relayq.discard(*staged_relay);
  };
  auto fail = [&](std::string_view what) {
    log::error("{}: {} failed for message from {}: {}", id, "storage", peer_text_, what);
    return smtp::reply::make(451, "4.3.0", "Error: queue file write error");
  };

  // 1. Write each copy (one per local domain, one for the relay queue); no fsync yet.
  for (const auto& [domain, boxes] : by_domain) {
    auto s = maildir.stage(boxes.front(), local_head, content);
    if (!s) {
      discard_all();
      co_return fail(s.error().message);
    }
    staged.push_back({std::move(*s), &boxes});
  }
  if (!relay_env.recipients.empty()) {
    auto s = relayq.stage(relay_env, received, content);
    if (!s) {
      discard_all();
      co_return fail(s.error().message);
    }
    staged_relay = std::move(*s);
  }
  // 2. Group-commit flush: the data is on disk.
  if (const int err = co_await async_flush(*server_->batcher, use_awaitable); err != 0) {
    discard_all();
    co_return fail(std::strerror(err));
  }
  // 3. Publish into new/ (all or nothing), then flush the directory entries.
  std::vector<std::string> published;
  auto unpublish = [&] {
    for (const auto& p : published) ::unlink(p.c_str());
  };
  for (auto& s : staged) {
    auto linked = maildir.publish(s.file, *s.boxes);
    if (!linked) {
      unpublish();
      discard_all();
      co_return fail(linked.error().message);
    }
    published.insert(published.end(), linked->begin(), linked->end());
  }
  if (staged_relay) {
    auto path = relayq.publish(*staged_relay);
    if (!path) {
      unpublish();
      discard_all();
      co_return fail(path.error().message);
    }
    published.push_back(*path);
  }
  if (const int err = co_await async_flush(*server_->batcher, use_awaitable); err != 0) {
    unpublish();
    co_return fail(std::strerror(err));
  }
  std::size_t local_count = 0;
  for (const auto& d : dispositions_) local_count += d.local ? 1 : 0;
  std::string how = "proto=" + protocol_name();
  if (tls_) how += fmt::format(" tls={}:{}", tls_version(tls_->native_handle()),
                               tls_cipher(tls_->native_handle()));
  if (!session_.authenticated_user().empty()) {
    how += " sasl_username=" + session_.authenticated_user();
  }
  log::info("{}: accepted from {} from=<{}> size={} nrcpt={} local={} relay={} {}", id,
            peer_text_, sender, content.size(), dispositions_.size(), local_count,
            dispositions_.size() - local_count, how);
  co_return smtp::reply::make(250, "2.0.0", "Ok: queued as " + id);
}

awaitable<smtp::reply> connection::authenticate(const smtp::auth_request& req) {
  auto creds = settings_->credentials;
  if (!creds) {
    // Offered by an older settings generation that had credentials; this one has none.
    log::warn("{}: SASL {} authentication failed: no credentials configured, sasl_username={}",
              peer_text_, req.mechanism, req.user);
    co_return smtp::reply::make(454, "4.7.0", "Temporary authentication failure");
  }
  auto& limiter = *server_->auth_limiter;
  if (limiter.blocked(peer_, clock_type::now())) {
    log::warn("{}: SASL {} authentication refused: too many failures from this address, "
              "sasl_username={}",
              peer_text_, req.mechanism, req.user);
    co_return policy::auth_limiter::too_many_failures();
  }
  // The hash runs on the crypt pool; the coroutine resumes on this connection's strand. The
  // server outlives the call (this connection holds it), and the pool must never hold the last
  // reference to the server it belongs to: the lambda takes the cache by pointer.
  // (A coroutine function, not a capturing lambda: g++ 12 destroys a coroutine lambda's captures
  // twice when co_spawn copies it.)
  bool ok = server_->verify_cache.known(*creds, req.user, req.password);  // no hop on a hit
  if (!ok) {
    ok = co_await asio::co_spawn(
        server_->crypt_pool.get_executor(),
        verify_password(&server_->verify_cache, creds, req.user, req.password), use_awaitable);
  }
  const auto now = clock_type::now();
  if (ok) {
    limiter.on_success(peer_, req.user, now);
    log::info("{}: SASL {} authentication succeeded: sasl_username={}", peer_text_,
              req.mechanism, req.user);
    co_return smtp::reply::make(235, "2.7.0", "Authentication successful");
  }
  const auto v = limiter.on_failure(peer_, req.user, now);
  // fail2ban: one line per failure with the address and the user (Postfix's wording).
  log::warn("{}: SASL {} authentication failed: sasl_username={} (failures: {} from this "
            "address, {} for this user)",
            peer_text_, req.mechanism, req.user, v.ip_failures, v.user_failures);
  if (v.delay.count() > 0) {
    asio::steady_timer pause(socket_.get_executor(), v.delay);
    co_await pause.async_wait(as_tuple);
  }
  if (v.disconnect) co_return policy::auth_limiter::too_many_failures();
  co_return smtp::reply::make(535, "5.7.8", "Error: authentication failed");
}

// ---- DNS lists ----

// At connect: the IP lists, for MX clients outside trusted_networks.
void connection::dnsbl_start() {
  const auto& d = settings_->dnsbl;
  if (resolver_ == nullptr || !d.enabled() || listener_->submission) return;
  const auto& trusted = listener_->relay.trusted_networks;
  if (std::any_of(trusted.begin(), trusted.end(),
                  [&](const inet::cidr& n) { return n.contains(peer_); })) {
    return;
  }
  dnsbl_ = std::make_shared<dnsbl_ctx>(socket_.get_executor(), d.checks);
  dnsbl_launch(dnsbl_->state.begin_client(peer_, dnsbl_deadline()));
}

void connection::dnsbl_launch(std::vector<dnsbl::query> queries) {
  const auto& cfg = dnsbl_->state.config();
  for (auto& q : queries) {
    const auto& sites = q.kind == dnsbl::subject_kind::client ? cfg.client
                        : q.kind == dnsbl::subject_kind::helo ? cfg.helo
                                                              : cfg.sender;
    const dnsbl::site& site = sites.at(q.index);
    auto& shared = *server_->dnsbl_shared_;
    if (auto records = shared.find(q.name)) {
      dnsbl_->state.answer(q, classify_logged(shared, site, q, *records));
      continue;
    }
    asio::co_spawn(socket_.get_executor(),
                   dnsbl_query(dnsbl_, resolver_, server_->dnsbl_shared_, std::move(q), site),
                   [](std::exception_ptr e) { log_exception("dnsbl query", e); });
  }
}

// Once the client has said HELO/EHLO (or changed it): the helo lists.
void connection::dnsbl_sync_helo() {
  if (!dnsbl_ || dnsbl_->state.config().helo.empty() || session_.helo() == dnsbl_helo_) return;
  if (!session_.authenticated_user().empty()) return;
  dnsbl_helo_ = session_.helo();
  dnsbl_launch(dnsbl_->state.begin_domain(dnsbl::subject_kind::helo, dnsbl_helo_, dnsbl_deadline()));
}

// At MAIL: the sender lists for the sender's domain (none for <> or an address literal).
void connection::dnsbl_sender(const smtp::address& sender) {
  if (!dnsbl_ || dnsbl_->state.config().sender.empty()) return;
  if (!session_.authenticated_user().empty()) return;
  if (sender.is_null() || sender.kind != smtp::domain_kind::name) {
    dnsbl_->state.clear(dnsbl::subject_kind::sender);
    return;
  }
  dnsbl_launch(dnsbl_->state.begin_domain(dnsbl::subject_kind::sender, sender.domain_key,
                                          dnsbl_deadline()));
}

// Until every list asked has answered or its deadline (asked + [resolver] timeout) passed.
awaitable<void> connection::dnsbl_wait() {
  auto& ctx = *dnsbl_;
  while (!ctx.state.complete()) {
    const auto deadline = *ctx.state.next_deadline();
    if (clock_type::now() >= deadline) {
      for (const auto& r : ctx.state.expire(clock_type::now())) {
        server_->dnsbl_shared_->warn(r.list + "/timeout",
                                 "dnsbl: warning: {}: no answer within {} ms for {}: not counted "
                                 "(fail open)",
                                 r.list, settings_->dnsbl.resolver.timeout.count(), peer_text_);
      }
      continue;
    }
    ctx.wake.expires_at(deadline);
    co_await ctx.wake.async_wait(as_tuple);  // an answer cancels it
  }
}

// The TXT record of the blamed list (RFC 5782 2.3), if it comes within the resolver timeout.
awaitable<std::string> connection::dnsbl_txt(const dnsbl::blame& b) {
  auto& ctx = *dnsbl_;
  if (ctx.txt_name != b.query_name) {
    ctx.txt_name = b.query_name;
    ctx.txt_done = false;
    ctx.txt.clear();
    asio::co_spawn(socket_.get_executor(), dnsbl_txt_query(dnsbl_, resolver_, b.query_name),
                   [](std::exception_ptr e) { log_exception("dnsbl TXT query", e); });
  }
  const auto deadline = dnsbl_deadline();
  while (!ctx.txt_done && clock_type::now() < deadline) {
    ctx.wake.expires_at(deadline);
    co_await ctx.wake.async_wait(as_tuple);
  }
  // Not in time: this session refuses without it from now on, rather than wait at every RCPT.
  ctx.txt_done = true;
  co_return ctx.txt;
}

// Scores what has answered; logs a new verdict; the refusal when the client is blocked and the
// action is not `log`.
awaitable<std::optional<smtp::reply>> connection::dnsbl_verdict(std::string_view stage) {
  co_await dnsbl_wait();
  auto& ctx = *dnsbl_;
  const dnsbl::outcome o = ctx.state.evaluate();
  if (o.v.listed.empty()) co_return std::nullopt;
  const auto act = settings_->dnsbl.act;
  std::string line = fmt::format("dnsbl: {} {} {}: {}", stage, peer_text_,
                                 !o.blocked                               ? "passed"
                                 : act == smtp_dnsbl_settings::action::log ? "would block (log only)"
                                                                           : "blocked",
                                 dnsbl::describe(ctx.state, o));
  if (line != ctx.logged) {
    log::info("{}", line);
    ctx.logged = std::move(line);
  }
  if (!o.blocked || !o.blamed || act == smtp_dnsbl_settings::action::log) co_return std::nullopt;
  const std::string txt = co_await dnsbl_txt(*o.blamed);
  co_return dnsbl::refusal(ctx.state, *o.blamed, txt, act == smtp_dnsbl_settings::action::defer);
}

awaitable<std::optional<smtp::reply>> connection::dnsbl_check_recipient() {
  if (!dnsbl_ || !session_.authenticated_user().empty()) co_return std::nullopt;
  dnsbl_sync_helo();
  co_return co_await dnsbl_verdict("RCPT from");
}

awaitable<smtp::reply> connection::decide(smtp::session_request& req) {
  if (refused_ && !std::holds_alternative<smtp::message_request>(req)) {
    // Blocked at connect (RFC 5321 3.1): nothing but QUIT is welcome.
    log_reject(std::holds_alternative<smtp::auth_request>(req) ? "AUTH" : "MAIL", *refused_,
               nullptr);
    co_return *refused_;
  }
  if (auto* m = std::get_if<smtp::sender_request>(&req)) {
    dispositions_.clear();  // a new transaction
    const std::string& user = session_.authenticated_user();
    if (!user.empty() && settings_->sender_logins &&
        !settings_->sender_logins->allowed(m->sender, user)) {
      const auto r = policy::sender_not_owned(m->sender, user);  // RFC 6409 6.1
      log_reject("MAIL", r, nullptr);
      co_return r;
    }
    dnsbl_sync_helo();
    dnsbl_sender(m->sender);
    co_return smtp::server_session::sender_ok();
  }
  if (auto* r = std::get_if<smtp::recipient_request>(&req)) {
    if (auto refusal = co_await dnsbl_check_recipient()) {
      log_reject("RCPT", *refusal, &r->recipient);
      co_return *refusal;
    }
    co_return decide_recipient(r->recipient);
  }
  if (auto* a = std::get_if<smtp::auth_request>(&req)) {
    co_return co_await authenticate(*a);
  }
  auto& m = std::get<smtp::message_request>(req);
  co_return co_await store(std::move(m.content));
}

awaitable<bool> connection::process(smtp::step st) {
  std::string out;
  for (;;) {
    if (st.pregreet) log::info("PREGREET from {}", peer_text_);
    if (st.sync_error) log::info("improper command pipelining from {}", peer_text_);
    out += st.wire();
    if (st.close || !st.request) break;
    if (std::holds_alternative<smtp::starttls_request>(*st.request)) {
      // RFC 3207 4.2: the 220 goes out in plaintext, then the handshake; the session has
      // already dropped whatever the client pipelined after STARTTLS.
      if (!co_await write_all(std::move(out))) co_return false;
      out.clear();
      if (!co_await handshake()) co_return false;
      st = session_.tls_established();
      continue;
    }
    smtp::reply r = co_await decide(*st.request);
    st = session_.resolve(r);
  }
  const bool ok = co_await write_all(std::move(out));
  co_return ok && !session_.closed();
}

awaitable<void> connection::run() {
  auto self = shared_from_this();
  std::error_code ec;
  socket_.non_blocking(true, ec);
  socket_.set_option(tcp::no_delay(true), ec);
  const auto& t = settings_->timeouts;
  lifetime_end_ = clock_type::now() + t.session_lifetime;
  asio::co_spawn(socket_.get_executor(), watchdog(),
                 [](std::exception_ptr e) { log_exception("session watchdog", e); });
  log::info("connect from {}", peer_text_);
  dnsbl_start();  // in parallel with the greet delay and the TLS handshake

  bool alive = true;
  if (listener_->implicit_tls) alive = co_await handshake();  // RFC 8314 3.3: TLS first
  if (alive && t.greet_delay.count() > 0) {
    // postscreen-style: a client that talks before the banner is a bot that does not wait.
    set_deadline(t.greet_delay);
    auto early = co_await read_some();
    if (early) {
      alive = co_await process(session_.feed(*early));
    } else if (!timed_out_) {
      alive = false;  // gone before the banner
    }
    timed_out_ = false;
  }
  if (alive && dnsbl_ && settings_->dnsbl.at_connect) {
    // reject_at = connect: the IP lists decide before the banner.
    if (auto refusal = co_await dnsbl_verdict("CONNECT from")) {
      log::info("reject: CONNECT from {}: {} {} {}", peer_text_, refusal->code, refusal->enhanced,
                refusal->text());
      if (refusal->code == 450) {
        // defer: 421 closes at once (RFC 5321 3.8); the client comes back later.
        auto bye = *refusal;
        bye.code = 421;
        co_await write_all(bye.wire());
        alive = false;
      } else {
        // 554 in place of the 220 (RFC 5321 3.1); the session still runs, so QUIT, EHLO and
        // NOOP work, and MAIL and AUTH get 503.
        session_.greet();  // its 220 is not sent
        refused_ = *refusal;
        refused_->code = 503;
        alive = co_await write_all(refusal->wire());
      }
    }
  }
  if (alive && !refused_) alive = co_await process(session_.greet());
  while (alive && !session_.closed()) {
    if (shutting_down_ && session_.current_phase() != smtp::phase::data) {
      co_await write_all(smtp::reply::make(421, "4.3.2", settings_->session.hostname +
                                                             " Service shutting down").wire());
      break;
    }
    set_deadline(phase_timeout());
    auto data = co_await read_some();
    if (!data) {
      if (timed_out_ && !shutting_down_) {
        log::info("timeout after {} from {}",
                  session_.current_phase() == smtp::phase::data ? "DATA" : "command", peer_text_);
        timed_out_ = false;
        co_await process(session_.timeout());
      } else if (shutting_down_) {
        timed_out_ = false;
        continue;  // the loop head says goodbye
      }
      break;
    }
    const bool was_data = session_.current_phase() == smtp::phase::data;
    smtp::step st = session_.feed(*data);
    const bool now_data = session_.current_phase() == smtp::phase::data;
    if (!was_data && now_data) {
      data_started_ = clock_type::now();
      if (!counted_in_data_) ++server_->in_data;
      counted_in_data_ = true;
    }
    if (counted_in_data_ && !now_data) {
      --server_->in_data;
      counted_in_data_ = false;
    }
    alive = co_await process(std::move(st));
    dnsbl_sync_helo();
    if (session_.current_phase() == smtp::phase::data && !counted_in_data_) {
      data_started_ = clock_type::now();
      ++server_->in_data;
      counted_in_data_ = true;
    }
  }
  if (counted_in_data_) --server_->in_data;
  counted_in_data_ = false;
  log::info("disconnect from {} {}", peer_text_, session_.command_summary());
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  timer_.cancel();
}

// Released here, whatever path ended the session (even an exception): the slot is never leaked.
connection::~connection() {
  if (counted_in_data_) --server_->in_data;
  server_->counter.remove(peer_);
  std::lock_guard lock(server_->conns_mu);
  server_->conns.erase(this);
}

void connection::shutdown() {
  shutting_down_ = true;
  const auto p = session_.current_phase();
  if (p != smtp::phase::data && p != smtp::phase::deciding) {
    std::error_code ec;
    socket_.cancel(ec);
  }
}

awaitable<void> smtp_server::impl::accept_loop(listener_socket* ls) {
  auto self = shared_from_this();
  tcp::acceptor* acceptor = ls->acceptor.get();
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(asio::make_strand(ioc), as_tuple);
    if (stopping) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      log::warn("accept: {}", ec.message());
      asio::steady_timer pause(acceptor->get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(as_tuple);  // EMFILE and kin: back off, then retry
      continue;
    }
    std::error_code pec;
    const tcp::endpoint peer = socket.remote_endpoint(pec);
    if (pec) continue;
    auto [current, res] = snapshot();
    const inet::ip_address ip = to_inet(peer.address());
    const auto admit = counter.try_add(ip, current->max_connections, current->max_connections_per_ip);
    if (admit != connection_counter::admit::ok && ls->initial.implicit_tls) {
      log::warn("{} from {}", admit == connection_counter::admit::too_many_from_ip
                                  ? "too many connections per IP"
                                  : "too many connections",
                bracketed(ip));
      std::error_code ignored;
      socket.close(ignored);  // a TLS client would not read a plaintext 421
      continue;
    }
    if (admit != connection_counter::admit::ok) {
      const bool per_ip = admit == connection_counter::admit::too_many_from_ip;
      log::warn("{} from {}", per_ip ? "too many connections per IP" : "too many connections",
                bracketed(ip));
      auto bye = std::make_shared<std::string>(
          smtp::reply::make(421, "4.7.0",
                            per_ip ? current->session.hostname + " Error: too many connections from " +
                                         bracketed(ip)
                                   : current->session.hostname + " Error: too many connections")
              .wire());
      auto sock = std::make_shared<tcp::socket>(std::move(socket));
      asio::async_write(*sock, asio::buffer(*bye), [sock, bye](std::error_code, std::size_t) {
        std::error_code ignored;
        sock->shutdown(tcp::socket::shutdown_both, ignored);
        sock->close(ignored);
      });
      continue;
    }
    auto conn = std::make_shared<connection>(self, std::move(socket), current,
                                             listener_for(*current, *ls), peer, res);
    {
      std::lock_guard lock(conns_mu);
      conns.emplace(conn.get(), conn);
    }
    asio::co_spawn(conn->executor(), conn->run(),
                   [](std::exception_ptr e) { log_exception("session", e); });
  }
}

// ---- smtp_server ----

smtp_server::smtp_server(asio::io_context& ioc, std::shared_ptr<const smtp_settings> settings)
    : impl_(std::make_shared<impl>(ioc)) {
  impl_->settings_ = settings;
  // Storage first: a server that cannot store must not accept.
  for (const std::string& dir : {settings->mail_dir, settings->queue_dir}) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw std::system_error(ec, "cannot create " + dir);
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      throw std::system_error(errno, std::generic_category(), dir + " is not writable");
    }
  }
  queue::relay_queue(settings->queue_dir, settings->session.hostname).prepare();
  if (settings->dnsbl.enabled()) {
    auto [res, err] = impl_->resolver_for(*settings);
    if (res == nullptr) {
      throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                              "DNS resolver for the DNS lists: " + err);
    }
    impl_->resolver_ = res;
    impl_->resolver_settings_ = settings->dnsbl.resolver;
  }
  impl_->auth_limiter = std::make_unique<policy::auth_limiter>(settings->auth_limits);
  impl_->batcher = std::make_unique<queue::sync_batcher>(
      std::vector<std::string>{settings->mail_dir, settings->queue_dir});
  for (const auto& listener : settings->listeners) {
    const auto& ep = listener.endpoint;
    auto acc = std::make_unique<tcp::acceptor>(asio::make_strand(ioc));
    const tcp::endpoint endpoint = to_asio(ep);
    std::error_code ec;
    acc->open(endpoint.protocol(), ec);
    if (!ec && endpoint.address().is_v6()) acc->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acc->bind(endpoint, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::system_error(ec, "cannot listen on " + ep.to_string());
    impl_->acceptors.push_back(std::make_unique<listener_socket>(
        listener_socket{std::move(acc), listener, impl_->acceptors.size()}));
  }
}

// The io_context has stopped (see the header): c-ares channels may go now. Sessions still
// holding a resolver pointer are never resumed.
smtp_server::~smtp_server() {
  std::lock_guard lock(impl_->settings_mu);
  impl_->resolver_ = nullptr;
  impl_->resolvers.clear();
}

void smtp_server::start() {
  for (auto& ls : impl_->acceptors) {
    asio::co_spawn(ls->acceptor->get_executor(), impl_->accept_loop(ls.get()),
                   [](std::exception_ptr e) { log_exception("accept loop", e); });
  }
}

void smtp_server::reload(std::shared_ptr<const smtp_settings> settings) {
  resolver* res = nullptr;
  if (settings->dnsbl.enabled()) {
    auto [made, err] = impl_->resolver_for(*settings);
    res = made;
    if (res == nullptr) {
      log::error("reload: DNS resolver for the DNS lists: {}; new sessions keep the previous "
                 "resolver settings",
                 err);
    }
  }
  std::lock_guard lock(impl_->settings_mu);
  if (res != nullptr) {
    impl_->resolver_ = res;
    impl_->resolver_settings_ = settings->dnsbl.resolver;
  } else if (!settings->dnsbl.enabled()) {
    impl_->resolver_ = nullptr;  // no lists: sessions skip the checks (kept alive for old ones)
  }
  impl_->settings_ = std::move(settings);
}

void smtp_server::begin_shutdown() {
  impl_->stopping = true;
  for (auto& ls : impl_->acceptors) {
    tcp::acceptor* a = ls->acceptor.get();
    asio::post(a->get_executor(), [a] {
      std::error_code ec;
      a->close(ec);
    });
  }
  std::vector<std::shared_ptr<connection>> live;
  {
    std::lock_guard lock(impl_->conns_mu);
    for (auto& [ptr, weak] : impl_->conns) {
      if (auto c = weak.lock()) live.push_back(std::move(c));
    }
  }
  for (auto& c : live) {
    asio::post(c->executor(), [c] { c->shutdown(); });
  }
}

std::size_t smtp_server::sessions() const { return impl_->counter.total(); }

std::size_t smtp_server::sessions_in_data() const { return impl_->in_data.load(); }

std::vector<inet::endpoint> smtp_server::bound() const {
  std::vector<inet::endpoint> out;
  for (const auto& ls : impl_->acceptors) {
    std::error_code ec;
    const auto ep = ls->acceptor->local_endpoint(ec);
    if (ec) continue;
    out.push_back(inet::endpoint{to_inet(ep.address()), ep.port()});
  }
  return out;
}

std::vector<std::string> smtp_server::bound_descriptions() const {
  std::vector<std::string> out;
  for (const auto& ls : impl_->acceptors) {
    std::error_code ec;
    const auto ep = ls->acceptor->local_endpoint(ec);
    if (ec) continue;
    const auto& l = ls->initial;
    std::string what = l.submission ? "submission" : "mx";
    if (l.implicit_tls) {
      what += ", implicit TLS";
    } else if (l.session.tls_available) {
      what += l.session.require_tls ? ", STARTTLS required" : ", STARTTLS";
    }
    if (l.session.auth_available) what += l.session.auth_without_tls ? ", AUTH" : ", AUTH under TLS";
    out.push_back(fmt::format("{} ({})",
                              inet::endpoint{to_inet(ep.address()), ep.port()}.to_string(), what));
  }
  return out;
}

}  // namespace mx::net
