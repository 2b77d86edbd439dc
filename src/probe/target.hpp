// probe/target: one target's whole probe as a pure state machine: connections, the battery, retries
// and the report. It drives smtp::client_session and tells the shell (net/probe_runner) what to do
// next: connect, read under the reply deadline, wait for a quiet period (settle), or stop. The
// shell only moves bytes and time; every decision is here, so a whole probe runs in unit tests
// against scripted servers.
//
// Order: one connection, EHLO, then the battery is built from the banner hostname; tests run one
// envelope each, with RSET between them, on the same connection; when the server offers
// PIPELINING, up to `pipeline_tests` consecutive tests share one write (their replies come back in
// order, so each is still judged from its own), and QUIT goes in the last one; when STARTTLS is
// offered (and allowed), STARTTLS, a TLS handshake by the shell, EHLO, and the battery again inside
// TLS; the PROXY probe last, on a connection of its own (its header must be the first bytes); QUIT
// at the end. If STARTTLS is refused or the handshake fails, the TLS copies are dropped with a note
// (--starttls always: INCONCLUSIVE).
// Parts: the PROXY probe's connection need not wait for the main session. The shell may run two
// machines side by side, one with part = main (everything but the PROXY probe) and one with
// part = proxy (only it: its envelope needs nothing the banner tells), and then hand the second's
// report to the first's add_part(): the same report as part = all gives, a few round trips
// sooner (one difference: the PROXY probe then runs even when the main session gave up before
// reaching it, so it can only add evidence). The target then sees two connections at once.
// Reconnection: when the server closes the connection or says 421 in a test, the test runs once
// more on a new connection (max_attempts), within a per-target connection budget; after three
// tests in a row given up that way, the rest is not run. A timeout ends
// the target: a server that stops answering would otherwise cost the reply timeout per test.
//
// SECURITY: never DATA or BDAT (smtp::client_session has neither). The connection budget bounds
// what one target costs, and what we cost it.
// RFCs: 5321 (3.8 421 and closing; 4.1.1.5 RSET; 4.1.1.10 QUIT), 2920 (PIPELINING), 3207
//   (STARTTLS: EHLO again after the handshake).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probe/battery.hpp"
#include "probe/classify.hpp"
#include "smtp/client_session.hpp"

namespace mx::probe {

// --starttls: never; when offered, the battery before and after STARTTLS; always, only after.
enum class tls_use : std::uint8_t { never, when_offered, always };

// Which tests this machine runs: all of them, or one side of a split run (see above).
enum class probe_part : std::uint8_t { all, main, proxy };

struct target_config {
  std::string target;        // as the user wrote it
  target_identity identity;  // address, port, local domains; banner_host comes from the banner
  battery_options battery;
  smtp::client_config client;  // HELO name, PIPELINING use
  tls_use starttls = tls_use::when_offered;
  int max_attempts = 2;             // per test, when the server closes the connection on us
  std::size_t max_connections = 0;  // per target; 0: the battery size + 2
  // Tests per write when the server offers PIPELINING (RFC 2920); 1: one test per write.
  std::size_t pipeline_tests = 16;
  probe_part part = probe_part::all;
};

struct probe_action {
  enum class type : std::uint8_t {
    connect,    // open a new connection, then call connected() or connect_failed()
    read,       // read under the reply deadline: received(), timed_out() or closed_by_peer()
    settle,     // read under the settle period: received(), settled() or closed_by_peer()
    start_tls,  // TLS handshake on the current connection: tls_started() or tls_failed()
    done,       // report() is final
  };
  type next = type::connect;
  std::string send;    // write this on the current connection first
  bool close = false;  // then close the current connection
};
std::string_view name(probe_action::type t);

struct target_report {
  std::string target;    // as given
  std::string endpoint;  // "192.0.2.1:25", "[2001:db8::1]:25"
  std::optional<smtp::reply> banner;
  std::optional<smtp::reply> hello;  // the first EHLO (or HELO) reply
  smtp::server_capabilities caps;
  std::string banner_host;
  std::string local_domain;  // {L} as used
  std::size_t connections = 0;
  std::vector<std::string> notes;
  target_facts facts;
  classification result;
};

class target_probe {
 public:
  explicit target_probe(target_config cfg);

  probe_action start();
  probe_action connected();
  probe_action connect_failed(std::string_view why);
  probe_action received(std::string_view bytes);
  probe_action settled();
  probe_action timed_out();
  probe_action closed_by_peer();
  probe_action tls_started();
  probe_action tls_failed(std::string_view why);

  // part = main only, once both machines are done and before report(): the part = proxy
  // machine's tests and connections join this report (not when this session never started: a
  // single run would not have probed PROXY then either).
  void add_part(const target_report& proxy_part);

  bool done() const { return done_; }
  // The report, classified; final once done().
  const target_report& report();
  const std::string& endpoint() const { return report_.endpoint; }
  const std::string& banner_host() const { return report_.banner_host; }

 private:
  probe_action handle(smtp::client_step st);
  void on_event(const smtp::client_event& ev, probe_action& a);
  void on_failed(const smtp::client_event& ev);
  void first_ready();
  void run_next(probe_action& a);
  void record(std::vector<smtp::command_reply> commands, std::string why_incomplete);
  void record_proxy(std::vector<smtp::command_reply> commands, std::string failure);
  void abandon_rest(std::string_view why);
  void skip_tls_tests();
  void finish(probe_action& a);
  probe_action next_action(probe_action a);

  target_config cfg_;
  target_report report_;
  std::optional<smtp::client_session> conn_;
  bool conn_open_ = false;
  bool session_ok_ = false;
  std::vector<test_case> battery_;
  std::vector<test_result> results_;  // one per battery row
  std::size_t current_ = 0;
  std::size_t inflight_ = 0;  // tests of the submitted batch not yet reported
  std::size_t budget_ = 0;
  std::size_t reconnects_ = 0;
  bool tls_active_ = false;               // the current connection is inside TLS
  bool want_handshake_ = false;           // STARTTLS got 220: the shell's handshake is next
  bool drop_ = false;                     // the current connection is unusable (a failed handshake)
  std::string tls_unusable_;              // why the after-STARTTLS tests cannot run
  bool tls_required_missing_ = false;     // --starttls always, and no STARTTLS offered
  int given_up_ = 0;                      // tests given up in a row (every attempt cut short)
  static constexpr int max_given_up = 3;  // then the rest is not run: the server won't answer
  bool want_connect_ = false;             // reconnect to go on with the battery
  bool want_proxy_ = false;               // connect for the PROXY probe
  bool proxy_conn_ = false;               // the current connection is the PROXY probe's
  std::optional<smtp::reply> proxy_banner_;
  std::optional<smtp::reply> proxy_answer_;
  bool finishing_ = false;  // no more tests: QUIT, then done
  bool done_ = false;
  bool classified_ = false;
};

// The report of a target we never reached (a bad name, no address): INCONCLUSIVE.
target_report unreachable_report(std::string target, std::string endpoint, std::string why);

// "192.0.2.1:25" or "[2001:db8::1]:25".
std::string endpoint_text(const inet::ip_address& ip, std::uint16_t port);

}  // namespace mx::probe
