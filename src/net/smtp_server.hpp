// net/smtp_server: the thin Asio shell around smtp::server_session. It only moves bytes, time
// and files: reads feed the session, replies are written back, requests are answered by asking
// policy::evaluate and the recipient table and by storing messages through queue/. One
// io_context runs on a thread per core; each connection is a C++20 coroutine on its own strand.
//
// Deadlines: every read and write runs under a per-connection watchdog timer whose deadline
// follows the session phase (RFC 5321 4.5.3.2: greeting, MAIL, RCPT, DATA initiation, data
// block, DATA termination, server idle) and never passes the total session lifetime. A slow
// client (slowloris) costs one idle socket and one timer until its deadline, nothing else.
// Reads wait for readability and then read into a per-thread buffer, so an idle session holds no
// read buffer.
//
// SECURITY:
//  - max_connections (total) and max_connections_per_ip: 421 4.7.0 beyond, before any parsing.
//  - greet_delay: a client that talks before the banner is a pregreet (554, close), as
//    postscreen does.
//  - 250 after DATA only when the message is durable (queue/spool + sync_batcher): written,
//    flushed, linked into new/, flushed again. A storage error is 451 4.3.0 and nothing partial
//    is left in new/.
//  - Recipients are judged by policy::evaluate on the client's real address; HELO and sender
//    never grant relaying. No XCLIENT, no PROXY protocol: such input is an unknown command.
//  - Shared state (connection counts) is only reachable through a locked accessor.
//  - STARTTLS (RFC 3207): the 220 is written, then the handshake runs on the raw socket; bytes
//    the client pipelined after STARTTLS were already dropped by the session, and any plaintext
//    sent later is not TLS and fails the handshake. The session restarts (EHLO again).
//  - Implicit TLS listeners (RFC 8314) handshake before the banner, under the greeting timeout.
//  - Under TLS, reads go through a per-connection buffer: OpenSSL may hold decrypted bytes the
//    socket no longer shows as readable, so the wait-for-readability trick is plaintext only.
//  - Submission listeners relay only for authenticated users: their relay policy has no trusted
//    networks, and the session refuses MAIL before AUTH.
//  - DNS lists (RFC 5782, issue 6; policy/dnsbl_check does the deciding): on MX listeners, for
//    clients outside trusted_networks, the IP lists are asked at connect, all at once, the HELO
//    lists once the HELO name is known, the sender lists at each MAIL. Each RCPT waits for the
//    answers at most [resolver] timeout after they were asked (the session is never held
//    longer: a silent list fails open, logged) and, when the weights reach the threshold, is
//    answered 554 5.7.1 (450 4.7.1 with defer) naming the list and its TXT. Authenticated
//    clients are never refused (their answers are not even awaited). With reject_at = connect,
//    the IP lists are awaited before the banner and a blocked client gets the 554 in place of
//    the 220 (RFC 5321 3.1), then 503 to MAIL and AUTH until it quits; with defer, 421 and close.
//    List errors and failures are logged at most once per list and minute (a dead list must not
//    flood the log).
//  - The resolver (net/resolver) is made at construction from settings.dnsbl.resolver, only when
//    lists are configured. A reload with other resolver settings makes a new one for new
//    sessions; old ones stay until the server is destroyed (c-ares channels must not be
//    destroyed while the io_context runs), so destroy the server only after its io_context has
//    stopped, as `serve` does.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/inet.hpp"
#include "net/resolver.hpp"
#include "net/tls.hpp"
#include "policy/dnsbl_check.hpp"
#include "policy/auth_limiter.hpp"
#include "policy/credentials.hpp"
#include "policy/recipients.hpp"
#include "policy/sender_login.hpp"
#include "policy/relay.hpp"
#include "smtp/session.hpp"

namespace asio {
class io_context;
}

namespace mx::queue {
class sync_batcher;
}

namespace mx::net {

struct smtp_timeouts {
  std::chrono::milliseconds greet_delay{0};        // banner delay (pregreet detection)
  std::chrono::seconds greeting{300};              // banner -> first command
  std::chrono::seconds mail{300};                  // waiting for MAIL
  std::chrono::seconds rcpt{300};                  // waiting for RCPT / DATA
  std::chrono::seconds data_init{120};             // 354 -> first data bytes
  std::chrono::seconds data_block{180};            // between data blocks
  std::chrono::seconds data_term{600};             // the whole DATA phase, 354 -> "."
  std::chrono::seconds idle{300};                  // any other wait, and each write
  std::chrono::seconds session_lifetime{3600};     // whole connection
};

// One listening address with what it offers: an MX listener ([smtpd] listen or role = "mx") or
// a submission listener (RFC 6409: AUTH before MAIL, trusted networks never consulted).
struct smtp_listener {
  inet::endpoint endpoint;
  bool submission = false;
  bool implicit_tls = false;       // RFC 8314: the handshake comes before the banner
  smtp::session_config session;    // tls/auth flags for this listener
  policy::relay_config relay;      // submission: without trusted networks
};

// DNS list checks ([smtpd] dnsbl, rhsbl_sender, rhsbl_helo, [resolver]).
struct smtp_dnsbl_settings {
  enum class action : std::uint8_t { reject, defer, log };
  std::shared_ptr<const policy::dnsbl::check_config> checks;  // null or empty: no checks
  action act = action::reject;
  bool at_connect = false;  // dnsbl_reject_at = "connect"
  resolver_settings resolver;

  bool enabled() const { return checks && !checks->empty(); }
};

// One generation of settings. Immutable once built; SIGHUP swaps in a new one for new sessions.
struct smtp_settings {
  std::vector<smtp_listener> listeners;
  std::shared_ptr<tls_context> tls;  // null: no TLS anywhere
  std::shared_ptr<const policy::credential_table> credentials;   // null: AUTH not offered
  std::shared_ptr<const policy::sender_login_map> sender_logins;  // null: not checked
  policy::auth_limiter_settings auth_limits;  // taken at start (the counts outlive reloads)
  smtp::session_config session;  // the MX listeners' (hostname and limits are common to all)
  policy::relay_config relay;
  policy::recipient_table recipients;
  std::string mail_dir = "var/mail";
  std::string queue_dir = "var/queue";
  std::size_t max_connections = 1000;
  std::size_t max_connections_per_ip = 50;
  smtp_timeouts timeouts;
  bool allow_open_relay = false;  // logged with each relay acceptance when the proof failed
  smtp_dnsbl_settings dnsbl;
};

// Connection counts, only handed out locked.
class connection_counter {
 public:
  enum class admit { ok, too_many, too_many_from_ip };
  admit try_add(const inet::ip_address& ip, std::size_t max_total, std::size_t max_per_ip);
  void remove(const inet::ip_address& ip);
  std::size_t total() const;

 private:
  mutable std::mutex mu_;
  std::size_t total_ = 0;
  std::unordered_map<std::string, std::size_t> per_ip_;  // key: address bytes
};

class smtp_server {
 public:
  // Binds every listener now (throws std::system_error naming the address on failure: port in
  // use, permission), prepares mail_dir and queue_dir and, with DNS lists, the resolver (throws
  // std::system_error if unusable).
  smtp_server(asio::io_context& ioc, std::shared_ptr<const smtp_settings> settings);
  ~smtp_server();
  smtp_server(const smtp_server&) = delete;
  smtp_server& operator=(const smtp_server&) = delete;

  void start();                                               // begin accepting
  // For new sessions. Other resolver settings make a new resolver; if that fails (logged), new
  // sessions keep the previous one.
  void reload(std::shared_ptr<const smtp_settings> settings);
  // Stops accepting and closes idle sessions with 421; sessions inside DATA may finish.
  void begin_shutdown();
  std::size_t sessions() const;
  std::size_t sessions_in_data() const;
  std::vector<inet::endpoint> bound() const;  // actual addresses (port 0 resolved), in order
  // The same, each with its listener's role: "smtpd: listening on ... (submission, implicit TLS)".
  std::vector<std::string> bound_descriptions() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace mx::net
