// smtp/session: the SMTP server session as a pure state machine (no I/O, no clock, no policy).
//
// The shell feeds it bytes as they arrive; each call returns a `step`: replies to write (in order),
// at most one `request` the shell must answer (check this sender, this recipient, store this
// message), and whether to close after writing. While a request is pending the session only
// buffers input; `resolve(reply)` answers it and processing continues. The session never asks the
// relay policy or the disk itself: it emits a request and the shell decides (which may await I/O).
// Timeouts are the shell's: `phase()` says which RFC 5321 4.5.3.2 timer applies, and `timeout()`
// produces the 421.
//
// SECURITY:
//  - Only CRLF ends a command line or a data line. A command line holding a bare CR, a bare LF or
//    a NUL is refused as a whole; nothing in it runs. In DATA, only CRLF "." CRLF ends the
//    message: "<LF>.<LF>", "<CR>.<CR>", "<LF>.<CR><LF>" and kin do not (SMTP smuggling,
//    CVE-2023-51764 family); a message holding a bare CR, LF or NUL is read to its real end and
//    then refused with 550 5.6.0, so the bytes after a fake end never run as commands.
//  - An over-long command line (more than 512 octets with CRLF) is discarded up to its CRLF and
//    answered once with 500 5.5.2; the session stays in sync.
//  - Bytes after a command that must end a pipelining group (EHLO, HELO, DATA, QUIT, NOOP, VRFY,
//    HELP...) sent before its reply: 554 5.5.0 protocol synchronization, then close (RFC 2920 3.1).
//  - Input before the greeting (pregreet) is reported; by default 554 5.5.0 and close.
//  - After max_errors protocol errors: 421 4.7.0 and close. Refusals the shell decides (relay
//    denied, unknown user) count apart, up to max_rejections, so a relay tester sees every one of
//    its tests refused while a harvester is still cut off. HTTP/proxy verbs (GET, POST,
//    CONNECT...) get 521 and close at once.
//  - Addresses go through smtp::parse_path; routing tricks are flagged there and judged by policy.
//  - Memory is bounded: a command line by 512 octets (an AUTH line by 12288, RFC 4954 4), a
//    message by max_message_size (the excess is counted, not stored).
//  - STARTTLS (RFC 3207): after "220 Ready to start TLS" every byte the client sent before the
//    handshake is discarded, and the handshake resets the session (HELO, transaction): commands
//    injected into the plaintext never run (CVE-2011-0411). A second STARTTLS is 503.
//  - AUTH (RFC 4954) is offered and accepted only under TLS unless the listener allows it
//    (auth_without_tls, loopback only); before that, 538 5.7.11. Responses are strict base64,
//    "*" cancels (501), AUTH twice or inside a transaction is 503. The session never sees a
//    password file: it hands the decoded credentials to the shell.
// RFCs: 3207 (STARTTLS), 4954 (AUTH), 4616 (PLAIN), 8314 (implicit TLS), 6409 (submission),
//   5321 (3.3 transactions, 4.1.1 commands, 4.1.4 order, 4.2 replies, 4.5.2 dot-stuffing,
//   4.5.3.1 limits, 4.5.3.2 timeouts), 1869/5321 2.2 EHLO, 2920 PIPELINING, 1870 SIZE,
//   6152 8BITMIME, 2034 + 3463 ENHANCEDSTATUSCODES, 6531 SMTPUTF8.
#pragma once

#include <cstddef>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "smtp/address.hpp"
#include "smtp/reply.hpp"

namespace mx::smtp {

struct session_config {
  std::string hostname = "localhost";
  std::size_t max_recipients = 100;
  std::uint64_t max_message_size = 10485760;
  std::size_t max_errors = 10;       // protocol errors (syntax, sequence, bad lines, unknown verbs)
  std::size_t max_rejections = 100;  // refusals decided by the shell (relay denied, unknown user)
  bool smtputf8 = true;
  bool reject_pregreet = true;  // false: report it, then serve the client anyway
  // TLS and AUTH (RFC 3207, 4954, 8314). The shell does the handshake and checks credentials.
  bool tls_available = false;     // offer STARTTLS (a certificate is configured)
  bool tls_active = false;        // implicit TLS listener: the session starts under TLS
  bool require_tls = false;       // 530 5.7.0 until STARTTLS (never on a public MX)
  bool auth_available = false;    // offer AUTH PLAIN LOGIN (a password file is configured)
  bool auth_without_tls = false;  // offer AUTH before TLS too (loopback listeners only)
  bool require_auth = false;      // submission: 530 5.7.0 before MAIL until AUTH succeeds
};

enum class body_type : std::uint8_t { unspecified, seven_bit, eight_bit_mime };

// What the client declared for the current transaction.
struct transaction {
  std::optional<address> sender;   // set once MAIL was accepted
  std::vector<address> recipients; // accepted recipients
  std::optional<std::uint64_t> declared_size;
  body_type body = body_type::unspecified;
  bool smtputf8 = false;
};

struct sender_request {
  address sender;
};
struct recipient_request {
  address recipient;
};
struct message_request {
  std::string content;  // dot-unstuffed, CRLF line ends, without the final "." line
};
// Write the replies (the 220), run the TLS handshake, then call tls_established(); on a failed
// handshake close the connection. Everything the client sent before the handshake is discarded.
struct starttls_request {};
// Check the credentials; answer 235 2.7.0, 535 5.7.8, 454 4.7.0, or 421 to close.
struct auth_request {
  std::string mechanism;  // "PLAIN" or "LOGIN"
  std::string user;       // authentication identity
  std::string password;
};
using session_request = std::variant<sender_request, recipient_request, message_request,
                                     starttls_request, auth_request>;

struct step {
  std::vector<reply> replies;      // write these, in order
  std::optional<session_request> request;  // answer with resolve(); input is held meanwhile
  bool close = false;              // close the connection after writing the replies
  bool pregreet = false;           // the client talked before the greeting
  bool sync_error = false;         // the client broke RFC 2920 pipelining rules

  std::string wire() const;        // all replies, serialized
};

// Which timer the shell should run now (RFC 5321 4.5.3.2).
enum class phase : std::uint8_t {
  pre_greeting,  // before greet(): the shell's greet delay
  command,       // waiting for a command (the server timeout, 5 minutes)
  data,          // inside DATA, waiting for a data block (3 minutes)
  deciding,      // a request is pending: the shell's own work, no client timer
  closed,
};

class server_session {
 public:
  explicit server_session(session_config cfg);

  step greet();                       // the 220 banner (call once, after any greet delay)
  step feed(std::string_view bytes);  // bytes from the client, any split
  step resolve(const reply& answer);  // the answer to the pending request
  step timeout();                     // the deadline for phase() expired: 421 4.4.2, close
  step tls_established();             // the STARTTLS handshake succeeded: a fresh session (3207 4.2)

  phase current_phase() const;
  bool closed() const { return closed_; }
  bool pending() const { return pending_.has_value(); }
  bool esmtp() const { return esmtp_; }
  const std::string& helo() const { return helo_; }
  bool tls_active() const { return tls_active_; }
  const std::string& authenticated_user() const { return auth_user_; }
  const struct transaction& current_transaction() const { return txn_; }
  std::size_t errors() const { return errors_; }
  std::size_t rejections() const { return rejections_; }
  // Postfix-style per-command tally for the disconnect log line: "ehlo=1 mail=1 rcpt=1/2
  // data=1 quit=1 commands=5/6" (ok/total, total omitted when equal).
  std::string command_summary() const;

  // The replies a shell sends when it accepts a request.
  static reply sender_ok() { return reply::make(250, "2.1.0", "Ok"); }
  static reply recipient_ok() { return reply::make(250, "2.1.5", "Ok"); }

  struct command_spec;  // the command table's row type (session.cpp)

 private:
  enum class state : std::uint8_t { pre_greeting, command, data, closed };

  void run(step& out);
  bool next_command_line(step& out, std::string& line);
  void dispatch(step& out, std::string_view line);
  void data_input(step& out);
  void finish_data(step& out);
  void respond(step& out, reply r);
  void fail(step& out, reply r);      // an error reply: counted toward max_errors
  void refuse(step& out, reply r);    // a refusal by the shell: counted toward max_rejections
  void close_with(step& out, reply r);
  void reset_transaction();

  // Command handlers: check (state and syntax; a reply refuses) and proceed.
  std::optional<reply> check_helo(std::string_view args);
  void do_helo(step& out, std::string_view args);
  void do_ehlo(step& out, std::string_view args);
  std::optional<reply> check_mail(std::string_view args);
  void do_mail(step& out, std::string_view args);
  std::optional<reply> check_rcpt(std::string_view args);
  void do_rcpt(step& out, std::string_view args);
  std::optional<reply> check_data(std::string_view args);
  std::optional<reply> check_starttls(std::string_view args);
  void do_starttls(step& out, std::string_view args);
  std::optional<reply> check_auth(std::string_view args);
  void do_auth(step& out, std::string_view args);
  void auth_input(step& out, std::string_view line);
  void auth_finish(step& out, std::string_view decoded_plain);
  std::size_t line_limit(std::string_view avail) const;
  void do_data(step& out, std::string_view args);
  void do_rset(step& out, std::string_view args);
  void do_noop(step& out, std::string_view args);
  void do_quit(step& out, std::string_view args);
  void do_vrfy(step& out, std::string_view args);
  void do_help(step& out, std::string_view args);
  void do_not_implemented(step& out, std::string_view args);
  void do_forbidden(step& out, std::string_view args);

  static const command_spec* find_command(std::string_view verb);
  static const command_spec* command_table(std::size_t& size);

  static constexpr std::size_t max_commands = 24;  // table rows, plus one slot for "unknown"
  std::size_t last_command_ = max_commands - 1;
  std::array<std::uint32_t, max_commands> command_ok_{};
  std::array<std::uint32_t, max_commands> command_total_{};

  session_config cfg_;
  state state_ = state::pre_greeting;
  bool closed_ = false;
  std::string in_;           // unconsumed input starts at in_pos_
  std::size_t in_pos_ = 0;
  bool discarding_ = false;  // inside an over-long command line, dropping up to its CRLF
  std::optional<session_request> pending_;
  std::size_t errors_ = 0;
  std::size_t rejections_ = 0;
  std::string helo_;
  bool esmtp_ = false;
  bool tls_active_ = false;
  std::string auth_user_;
  enum class auth_stage : std::uint8_t { none, plain, login_user, login_password } auth_stage_ =
      auth_stage::none;
  std::string auth_login_user_;
  transaction txn_;

  struct data_state {
    std::string content;
    std::uint64_t size = 0;        // octets after unstuffing, counted even when not stored
    bool after_crlf = true;        // the previous line ended with CRLF (DATA's own CRLF at start)
    bool mid_line = false;         // inside an over-long line whose head was dropped
    bool bare_lf = false;
    bool bare_cr = false;
    bool nul = false;
    bool long_line = false;
  } data_;
};

}  // namespace mx::smtp
