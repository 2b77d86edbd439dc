// smtp/client_session: the SMTP client as a pure state machine (no I/O, no clock), built for
// `mxguard probe`: it greets, says EHLO (HELO when EHLO is refused), and runs envelopes (RSET,
// MAIL, RCPT, optionally preceded by XCLIENT) and reports every reply. It cannot send a message:
// there is no DATA and no BDAT in its vocabulary, so no caller can make it deliver anything.
//
// The shell connects, then feeds the server's bytes as they arrive (any split); each call returns
// a `client_step`: bytes to write, events (greeting, ready, exchange done, failure...), whether to
// wait for a quiet period first (`settle`), and whether to close. Deadlines are the shell's: it
// calls timeout() when a reply did not come in time, disconnected() on EOF or a reset.
//
// SECURITY:
//  - The server is untrusted. Replies are parsed strictly (three digits 2xx-5xx, then SP, '-' or
//    the line end); anything else is a protocol error and the session ends. A reply line is
//    bounded by max_line octets and a reply by max_lines lines, so a hostile server cannot make
//    the client buffer without limit. A reply nobody asked for (more replies than commands) is a
//    protocol error, except while settling, where it is reported as `unsolicited` (the server
//    answering a PROXY header as if it were a command).
//  - What the client sends never holds CR, LF or NUL: submit() refuses such envelopes, and the
//    HELO name is cleaned at construction, so a caller cannot inject a second command (DATA).
//  - PIPELINING (RFC 2920) is used only when advertised. RSET, MAIL and RCPT may go anywhere in a
//    group (2920 3.1), so the envelopes of one batch share a write; XCLIENT, EHLO and QUIT only
//    ever end a group (their reply changes what comes next), and STARTTLS travels alone. Replies
//    come back in command order (2920 3.1), so each one is attributed to its envelope by position.
//    Without PIPELINING every command waits for the previous reply.
//  - A 421 at any point means the server is closing: the exchange is reported as interrupted and
//    the session ends (RFC 5321 3.8).
// RFCs: 5321 (3.1 greeting, 3.2 EHLO/HELO, 3.3 transactions, 3.8 421, 4.1.1 commands, 4.2 reply
//   syntax and multiline replies, 4.1.4 RSET), 2920 (PIPELINING), 3207 (STARTTLS), 3463 and 2034
//   (enhanced status codes in replies). XCLIENT is Postfix's (XCLIENT_README); it is sent only
//   as a probe, never to change who we are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "smtp/reply.hpp"

namespace mx::smtp {

// ---- reply parsing ----

// Splits a byte stream into replies (RFC 5321 4.2). A line ends with LF (a CR before it is
// dropped: some servers send bare LF, and reading leniently costs nothing). The enhanced status
// code (RFC 3463), when the last line starts with one of the reply's class, goes to `enhanced`
// and is removed from every line that starts with it, as smtp::reply keeps it.
class reply_parser {
 public:
  reply_parser(std::size_t max_line, std::size_t max_lines);

  void append(std::string_view bytes);
  // The next whole reply; nullopt when more bytes are needed; an error when the stream is not
  // SMTP replies (then the parser is broken for good: every later call returns the error).
  expected<std::optional<reply>, std::string> next();
  bool holds_partial() const { return !lines_.empty() || pos_ < buf_.size(); }

 private:
  std::size_t max_line_;
  std::size_t max_lines_;
  std::string buf_;
  std::size_t pos_ = 0;
  std::vector<std::string> lines_;  // raw text after "ddd-" of a multiline reply so far
  int code_ = 0;
  std::string error_;
};

// The enhanced status code at the start of `text` when its class matches `code`'s ("5.7.1" for
// 554); empty otherwise.
std::string enhanced_code_of(int code, std::string_view text);

// ---- the client ----

struct client_config {
  std::string helo = "localhost";  // the EHLO/HELO argument; CR, LF and NUL are removed
  bool pipelining = true;          // group RSET, MAIL and RCPT when the server offers PIPELINING
  bool settle_after_greeting = false;  // after the greeting, wait for settled() before EHLO
  std::size_t max_line = 2048;         // octets of one reply line (RFC 5321 4.5.3.1.5 says 512)
  std::size_t max_lines = 256;         // lines of one reply
};

struct server_capabilities {
  bool esmtp = false;  // EHLO was accepted (HELO otherwise: no extensions)
  bool pipelining = false;
  bool starttls = false;
  bool xclient = false;
  bool chunking = false;
  bool auth = false;
  std::vector<std::string> keywords;  // the EHLO reply's lines after the first, as sent

  friend bool operator==(const server_capabilities&, const server_capabilities&) = default;
};
server_capabilities parse_ehlo(const reply& ehlo);

enum class command_kind : std::uint8_t { ehlo, helo, rset, mail, rcpt, xclient, starttls, quit };

struct command_reply {
  command_kind kind = command_kind::rset;
  std::string line;             // as sent, without CRLF
  bool sent = false;            // false: skipped (MAIL refused, XCLIENT refused) or never reached
  std::optional<reply> answer;  // nullopt when unsent, or when the session ended first

  friend bool operator==(const command_reply&, const command_reply&) = default;
};

// One test's envelope. There is no message: the session never sends DATA or BDAT.
struct envelope {
  std::string xclient;       // non-empty: "XCLIENT <xclient>" first, then EHLO again when it is 2xx
  std::string reverse_path;  // written after "MAIL FROM:" ("<>", "<a@b.example>")
  std::vector<std::string> forward_paths;  // each written after "RCPT TO:" (brackets or not)
};

enum class client_failure : std::uint8_t {
  greeting_refused,  // the banner was not 2xx (554: no SMTP service here for you)
  service_closing,   // 421 at any point
  hello_refused,     // neither EHLO nor HELO was accepted
  protocol_error,    // a line that is not a reply, an over-long reply, a reply nobody asked for
  timeout,           // the shell's deadline passed
  disconnected,      // the server closed the connection outside QUIT
};
std::string_view describe(client_failure f);

struct client_event {
  enum class type : std::uint8_t {
    greeting,          // answer: the banner (2xx; a refusal comes as failed)
    ready,             // EHLO/HELO accepted (also after STARTTLS); caps() is current
    exchange_done,     // commands: every command of the envelope and its reply
    starttls_ready,    // STARTTLS got 220: start TLS now, then call tls_started()
    starttls_refused,  // answer: the refusal; the session stays usable in plain text
    unsolicited,       // answer: a reply that came while settling
    failed,            // failure, detail, answer (when a reply caused it), commands (partial)
    closed,            // QUIT answered, or the server closed after our QUIT
  };
  type what = type::greeting;
  std::optional<reply> answer;
  std::vector<command_reply> commands;
  client_failure failure = client_failure::protocol_error;
  std::string detail;
};

struct client_step {
  std::string send;                  // write these bytes (one write: a pipelined group)
  std::vector<client_event> events;  // in order
  bool settle = false;  // wait for a quiet period, then settled(); feed() any bytes meanwhile
  bool close = false;   // close the connection after writing `send`
};

class client_session {
 public:
  explicit client_session(client_config cfg);

  // The shell's inputs. Each returns what to do next; none throws on anything the server sends.
  client_step feed(std::string_view bytes);  // bytes from the server, any split
  client_step settled();       // the quiet period after the greeting passed (settle mode)
  client_step timeout();       // no reply within the shell's deadline: failed, close
  client_step disconnected();  // EOF or reset: closed after QUIT, failed otherwise
  client_step tls_started();   // the TLS handshake after starttls_ready succeeded: EHLO again

  // Requests, valid when ready(). submit() refuses an envelope holding CR, LF or NUL, or one
  // with no RCPT, or when the session is not ready; it never sends DATA or BDAT.
  expected<client_step, std::string> submit(const envelope& env) {
    return submit(std::span<const envelope>(&env, 1));
  }
  // A batch: the envelopes one after another, RSET between them, each reported by its own
  // exchange_done, in order. With PIPELINING the whole batch is one write (fewer round trips; a
  // refused MAIL then still gets its RCPTs answered, 503 as a rule, which judge nothing).
  // quit_after: QUIT after the last envelope, in the same write when the last group allows it
  // (then `closed` follows the last exchange_done). A failure reports the first unfinished
  // envelope's commands; the later ones of the batch are simply not reported.
  expected<client_step, std::string> submit(std::span<const envelope> batch,
                                            bool quit_after = false);
  // Why submit() would refuse this envelope (CR, LF, NUL, no RCPT, too long); nullopt when fine.
  static std::optional<std::string> invalid(const envelope& env);
  expected<client_step, std::string> starttls();
  client_step quit();  // QUIT when connected; just close otherwise

  bool ready() const { return state_ == state::ready; }
  bool closed() const { return state_ == state::closed; }
  bool settling() const { return state_ == state::settling; }
  // True while a reply is due: the shell should be reading under its deadline.
  bool awaiting() const { return !outstanding_.empty() || state_ == state::greeting; }
  const server_capabilities& caps() const { return caps_; }
  const std::optional<reply>& greeting() const { return greeting_; }
  const std::optional<reply>& hello_reply() const { return hello_reply_; }

 private:
  client_step& closed_after_quit(client_step& out);
  enum class state : std::uint8_t {
    greeting,  // waiting for the banner
    settling,  // banner seen, waiting for settled()
    hello,     // EHLO or HELO outstanding
    ready,     // idle
    exchange,  // an envelope in progress
    starttls,  // STARTTLS outstanding
    tls,       // waiting for tls_started()
    quitting,  // QUIT sent
    closed,
  };
  static constexpr std::size_t session_command = static_cast<std::size_t>(-1);
  struct pending {
    command_kind kind;
    std::size_t index;  // into plan_, or session_command
  };

  void on_reply(client_step& out, reply r);
  void on_greeting(client_step& out, reply r);
  void on_hello(client_step& out, command_kind kind, reply r);
  void on_exchange_reply(client_step& out, std::size_t index, reply r);
  void send_command(client_step& out, command_kind kind, std::string line, std::size_t index);
  void send_next_group(client_step& out);
  void skip_envelope_of(std::size_t index);
  void report_finished(client_step& out);
  void finish_batch(client_step& out);
  void fail(client_step& out, client_failure why, std::string detail,
            std::optional<reply> answer = std::nullopt);
  void start_quit(client_step& out);

  client_config cfg_;
  state state_ = state::greeting;
  reply_parser parser_;
  server_capabilities caps_;
  std::optional<reply> greeting_;
  std::optional<reply> hello_reply_;
  std::deque<pending> outstanding_;
  std::vector<command_reply> plan_;   // the batch in progress, every envelope's commands
  std::vector<std::size_t> env_end_;  // one past each envelope's last command in plan_
  std::size_t env_done_ = 0;          // envelopes of the batch already reported
  std::size_t next_ = 0;              // first unsent command of plan_
  bool quit_after_ = false;           // QUIT once the batch is done
  bool quit_sent_ = false;            // ... and it went in the batch's last group
  bool transaction_open_ = false;     // a MAIL was sent since the last EHLO/RSET: RSET first
};

}  // namespace mx::smtp
