#include "smtp/session.hpp"

#include "smtp/sasl.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace mx::smtp {

namespace {

constexpr std::size_t max_command_line = 512;  // octets with CRLF (RFC 5321 4.5.3.1.4)
constexpr std::size_t max_text_line = 1000;    // octets with CRLF (RFC 5321 4.5.3.1.6)
constexpr std::size_t max_auth_line = 12288;   // octets with CRLF (RFC 4954 4)

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Command flags.
enum : std::uint8_t {
  ends_group = 1u << 0,   // RFC 2920 3.1: may only be the last command of a pipelined group
  needs_helo = 1u << 1,   // 503 before HELO/EHLO
  no_args = 1u << 2,      // 501 when arguments are given
  pre_tls = 1u << 3,      // allowed before STARTTLS on a listener that requires TLS (later)
  needs_auth = 1u << 4,   // submission: 530 before AUTH (later)
};

}  // namespace

struct server_session::command_spec {
  std::string_view verb;
  std::uint8_t flags;
  std::optional<reply> (server_session::*check)(std::string_view);  // may be null
  void (server_session::*proceed)(step&, std::string_view);
};

// The command table. Verbs are matched case-insensitively (RFC 5321 2.4). A static member, so
// the rows may name the private handlers.
const server_session::command_spec* server_session::command_table(std::size_t& size) {
  using S = server_session;
  static constexpr std::array<command_spec, 20> commands = {{
      {"EHLO", ends_group | pre_tls, &S::check_helo, &S::do_ehlo},
      {"HELO", ends_group | pre_tls, &S::check_helo, &S::do_helo},
      {"MAIL", needs_helo | needs_auth, &S::check_mail, &S::do_mail},
      {"RCPT", needs_helo | needs_auth, &S::check_rcpt, &S::do_rcpt},
      {"DATA", ends_group | needs_helo | needs_auth, &S::check_data, &S::do_data},
      {"RSET", no_args | pre_tls, nullptr, &S::do_rset},
      {"NOOP", ends_group | pre_tls, nullptr, &S::do_noop},
      {"QUIT", ends_group | pre_tls, nullptr, &S::do_quit},
      {"VRFY", ends_group, nullptr, &S::do_vrfy},
      {"HELP", ends_group | pre_tls, nullptr, &S::do_help},
      // Known but not offered (RFC 5321 4.2.4: 502 for recognised, unimplemented commands).
      {"EXPN", ends_group, nullptr, &S::do_not_implemented},
      {"TURN", ends_group, nullptr, &S::do_not_implemented},
      {"ETRN", ends_group, nullptr, &S::do_not_implemented},
      {"BDAT", ends_group, nullptr, &S::do_not_implemented},
      // Not a group end: bytes after it are discarded at the handshake instead (RFC 3207 4.2).
      {"STARTTLS", pre_tls, &S::check_starttls, &S::do_starttls},
      {"AUTH", ends_group | needs_helo, &S::check_auth, &S::do_auth},
      // HTTP and proxy verbs: an open-proxy scanner or a browser, never an SMTP client.
      {"GET", ends_group, nullptr, &S::do_forbidden},
      {"POST", ends_group, nullptr, &S::do_forbidden},
      {"CONNECT", ends_group, nullptr, &S::do_forbidden},
      {"PUT", ends_group, nullptr, &S::do_forbidden},
  }};
  static_assert(commands.size() < max_commands);
  size = commands.size();
  return commands.data();
}

const server_session::command_spec* server_session::find_command(std::string_view verb) {
  std::size_t n = 0;
  const command_spec* table = command_table(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (iequals(table[i].verb, verb)) return &table[i];
  }
  return nullptr;
}

std::string server_session::command_summary() const {
  std::size_t n = 0;
  const command_spec* table = command_table(n);
  std::string out;
  std::uint32_t ok = 0;
  std::uint32_t total = 0;
  for (std::size_t i = 0; i < max_commands; ++i) {
    if (command_total_[i] == 0) continue;
    std::string verb(i < n ? table[i].verb : std::string_view("unknown"));
    for (char& c : verb) c = static_cast<char>(c | 0x20);
    out += command_ok_[i] == command_total_[i]
               ? fmt::format("{}={} ", verb, command_ok_[i])
               : fmt::format("{}={}/{} ", verb, command_ok_[i], command_total_[i]);
    ok += command_ok_[i];
    total += command_total_[i];
  }
  out += ok == total ? fmt::format("commands={}", ok) : fmt::format("commands={}/{}", ok, total);
  return out;
}

std::string step::wire() const {
  std::string out;
  for (const auto& r : replies) out += r.wire();
  return out;
}

server_session::server_session(session_config cfg)
    : cfg_(std::move(cfg)), tls_active_(cfg_.tls_active) {}

phase server_session::current_phase() const {
  if (closed_) return phase::closed;
  if (pending_) return phase::deciding;
  switch (state_) {
    case state::pre_greeting: return phase::pre_greeting;
    case state::command: return phase::command;
    case state::data: return phase::data;
    case state::closed: return phase::closed;
  }
  return phase::closed;
}

step server_session::greet() {
  step out;
  if (state_ != state::pre_greeting || closed_) return out;
  state_ = state::command;
  out.replies.push_back(reply{220, "", {cfg_.hostname + " ESMTP"}});  // not a command's reply
  run(out);  // input that arrived early (when pregreet is tolerated)
  return out;
}

step server_session::feed(std::string_view bytes) {
  step out;
  if (closed_ || bytes.empty()) return out;
  if (state_ == state::pre_greeting) {
    out.pregreet = true;
    if (cfg_.reject_pregreet) {
      close_with(out, reply::make(554, "5.5.0", "Error: talked before the greeting"));
      return out;
    }
  }
  in_.append(bytes);
  run(out);
  return out;
}

step server_session::resolve(const reply& answer) {
  step out;
  if (!pending_ || closed_) invariant_failed("server_session::resolve without a pending request");
  session_request req = std::move(*pending_);
  pending_.reset();
  if (auto* s = std::get_if<sender_request>(&req)) {
    if (answer.klass() == 2) {
      txn_.sender = std::move(s->sender);
      respond(out, answer);
    } else {
      txn_ = transaction{};
      refuse(out, answer);
    }
  } else if (auto* r = std::get_if<recipient_request>(&req)) {
    if (answer.klass() == 2) {
      txn_.recipients.push_back(std::move(r->recipient));
      respond(out, answer);
    } else {
      refuse(out, answer);
    }
  } else if (std::holds_alternative<starttls_request>(req)) {
    invariant_failed("server_session::resolve for STARTTLS: call tls_established()");
  } else if (auto* a = std::get_if<auth_request>(&req)) {
    if (answer.klass() == 2) {
      auth_user_ = std::move(a->user);
      respond(out, answer);
    } else {
      refuse(out, answer);
    }
  } else {
    // End of data: whatever the answer, the transaction is over (RFC 5321 4.1.1.4).
    reset_transaction();
    if (answer.klass() == 2) {
      respond(out, answer);
    } else {
      refuse(out, answer);
    }
  }
  if (answer.code == 421) close_with(out, reply{});  // the shell gives up on this client
  run(out);
  return out;
}

step server_session::tls_established() {
  if (!pending_ || !std::holds_alternative<starttls_request>(*pending_)) {
    invariant_failed("server_session::tls_established without a pending STARTTLS");
  }
  pending_.reset();
  // RFC 3207 4.2: discard all knowledge obtained from the client before TLS; the client must
  // EHLO again. Bytes that arrived before the handshake are dropped unread.
  tls_active_ = true;
  helo_.clear();
  esmtp_ = false;
  reset_transaction();
  in_.clear();
  in_pos_ = 0;
  discarding_ = false;
  return step{};
}

step server_session::timeout() {
  step out;
  if (closed_) return out;
  close_with(out, reply::make(421, "4.4.2", cfg_.hostname + " Error: timeout exceeded"));
  return out;
}

void server_session::respond(step& out, reply r) {
  // A final positive reply counts for the command being served (354 and 334 are intermediate).
  if (r.positive() && r.code != 354 && r.code != 334) ++command_ok_[last_command_];
  out.replies.push_back(std::move(r));
}

void server_session::fail(step& out, reply r) {
  respond(out, std::move(r));
  if (++errors_ >= cfg_.max_errors && !closed_) {
    close_with(out, reply::make(421, "4.7.0", cfg_.hostname + " Error: too many errors"));
  }
}

void server_session::refuse(step& out, reply r) {
  respond(out, std::move(r));
  if (++rejections_ >= cfg_.max_rejections && !closed_) {
    close_with(out, reply::make(421, "4.7.0", cfg_.hostname + " Error: too many rejected commands"));
  }
}

void server_session::close_with(step& out, reply r) {
  if (closed_) return;
  if (r.code != 0) respond(out, std::move(r));
  closed_ = true;
  state_ = state::closed;
  out.close = true;
  in_.clear();
  in_pos_ = 0;
}

void server_session::reset_transaction() {
  txn_ = transaction{};
  data_ = data_state{};
}

void server_session::run(step& out) {
  while (!closed_ && !pending_ && state_ != state::pre_greeting && in_pos_ < in_.size()) {
    if (state_ == state::data) {
      const std::size_t before = in_pos_;
      data_input(out);
      if (in_pos_ == before && state_ == state::data) break;  // need more bytes
      continue;
    }
    std::string line;
    if (!next_command_line(out, line)) break;
    if (auth_stage_ != auth_stage::none) {
      auth_input(out, line);
    } else {
      dispatch(out, line);
    }
  }
  // Compact the buffer so memory stays bounded by what is not yet consumed.
  if (in_pos_ > 0 && (in_pos_ >= in_.size() || in_pos_ > 4096)) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
}

// Extracts the next complete command line (without CRLF) or reports why a line was refused.
// Returns false when more input is needed. A refused line is consumed and answered here, and
// `line` is left empty with true returned only for lines to dispatch.
bool server_session::next_command_line(step& out, std::string& line) {
  for (;;) {
    if (closed_ || in_pos_ >= in_.size()) return false;
    const std::string_view avail(in_.data() + in_pos_, in_.size() - in_pos_);
    const std::size_t crlf = avail.find("\r\n");
    if (crlf == std::string_view::npos) {
      // No line end yet. Past the limit the line can only be over-long: drop what we have (but a
      // trailing CR, which may start the CRLF) and remember to answer once at its end.
      if (avail.size() >= line_limit(avail)) {
        discarding_ = true;
        const bool keep_cr = avail.back() == '\r';
        in_pos_ = in_.size() - (keep_cr ? 1 : 0);
      }
      return false;
    }
    const std::string_view raw = avail.substr(0, crlf);
    in_pos_ += crlf + 2;
    if (discarding_) {
      discarding_ = false;
      fail(out, reply::make(500, "5.5.2", "Error: line too long"));
      continue;
    }
    if (raw.size() + 2 > line_limit(raw)) {
      if (auth_stage_ != auth_stage::none) auth_stage_ = auth_stage::none;  // the exchange ends
      fail(out, reply::make(500, "5.5.2", "Error: line too long"));
      continue;
    }
    if (raw.find('\n') != std::string_view::npos) {
      fail(out, reply::make(500, "5.5.2", "Error: bare <LF> received"));
      continue;
    }
    if (raw.find('\r') != std::string_view::npos) {
      fail(out, reply::make(500, "5.5.2", "Error: bare <CR> received"));
      continue;
    }
    if (raw.find('\0') != std::string_view::npos) {
      fail(out, reply::make(500, "5.5.2", "Error: NUL received"));
      continue;
    }
    line.assign(raw);
    return true;
  }
}

void server_session::dispatch(step& out, std::string_view line) {
  const std::size_t space = line.find(' ');
  const std::string_view verb = line.substr(0, space);
  const std::string_view args =
      space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  const command_spec* cmd = find_command(verb);
  std::size_t n = 0;
  last_command_ = cmd == nullptr ? max_commands - 1 : static_cast<std::size_t>(cmd - command_table(n));
  ++command_total_[last_command_];
  if (cmd == nullptr) {
    fail(out, reply::make(500, "5.5.2", "Error: command not recognized"));
    return;
  }
  // RFC 2920 3.1: nothing may follow a group-ending command before its reply.
  if ((cmd->flags & ends_group) && in_pos_ < in_.size()) {
    out.sync_error = true;
    close_with(out, reply::make(554, "5.5.0", "Error: SMTP protocol synchronization"));
    return;
  }
  if (cfg_.require_tls && !tls_active_ && !(cmd->flags & pre_tls)) {
    fail(out, reply::make(530, "5.7.0", "Must issue a STARTTLS command first"));
    return;
  }
  if ((cmd->flags & needs_helo) && helo_.empty()) {
    fail(out, reply::make(503, "5.5.1", "Error: send HELO/EHLO first"));
    return;
  }
  if (cfg_.require_auth && auth_user_.empty() && (cmd->flags & needs_auth)) {
    fail(out, reply::make(530, "5.7.0", "Authentication required"));
    return;
  }
  if ((cmd->flags & no_args) && !trim_spaces(args).empty()) {
    fail(out, reply::make(501, "5.5.4", fmt::format("Syntax: {}", cmd->verb)));
    return;
  }
  if (cmd->check != nullptr) {
    if (auto refused = (this->*(cmd->check))(args)) {
      fail(out, std::move(*refused));
      return;
    }
  }
  (this->*(cmd->proceed))(out, args);
}

// ---- HELO / EHLO ----

std::optional<reply> server_session::check_helo(std::string_view args) {
  const std::string_view name = trim_spaces(args);
  if (name.empty() || name.find(' ') != std::string_view::npos) {
    return reply::make(501, "5.5.4", "Syntax: EHLO hostname");
  }
  return std::nullopt;
}

void server_session::do_helo(step& out, std::string_view args) {
  reset_transaction();
  helo_ = std::string(trim_spaces(args));
  esmtp_ = false;
  respond(out, reply{250, "", {cfg_.hostname}});
}

void server_session::do_ehlo(step& out, std::string_view args) {
  reset_transaction();
  helo_ = std::string(trim_spaces(args));
  esmtp_ = true;
  reply r{250, "", {cfg_.hostname, "PIPELINING", fmt::format("SIZE {}", cfg_.max_message_size),
                    "8BITMIME", "ENHANCEDSTATUSCODES"}};
  if (cfg_.smtputf8) r.lines.emplace_back("SMTPUTF8");
  if (cfg_.tls_available && !tls_active_) r.lines.emplace_back("STARTTLS");
  if (cfg_.auth_available && (tls_active_ || cfg_.auth_without_tls)) {
    r.lines.emplace_back("AUTH PLAIN LOGIN");
  }
  respond(out, std::move(r));
}

// ---- MAIL ----

std::optional<reply> server_session::check_mail(std::string_view args) {
  if (txn_.sender) return reply::make(503, "5.5.1", "Error: nested MAIL command");
  if (!istarts_with(args, "FROM:")) return reply::make(501, "5.5.4", "Syntax: MAIL FROM:<address>");
  return std::nullopt;
}

namespace {

// Splits "KEY=VALUE KEY2" parameters (RFC 5321 4.1.2 Mail-parameters). Returns false on a syntax
// error (empty keyword, empty value after '=').
struct param {
  std::string_view key;
  std::optional<std::string_view> value;
};

bool split_params(std::string_view text, std::vector<param>& out) {
  while (!text.empty()) {
    if (text.front() == ' ') {
      text.remove_prefix(1);
      continue;
    }
    const std::size_t end = std::min(text.find(' '), text.size());
    const std::string_view item = text.substr(0, end);
    text.remove_prefix(end);
    const std::size_t eq = item.find('=');
    param p{item.substr(0, eq), std::nullopt};
    if (eq != std::string_view::npos) {
      p.value = item.substr(eq + 1);
      if (p.value->empty()) return false;
    }
    if (p.key.empty()) return false;
    for (char c : p.key) {
      const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-';
      if (!ok) return false;
    }
    out.push_back(p);
  }
  return true;
}

// Parses the path after "FROM:" / "TO:" (tolerating spaces before '<', as most servers do) and
// returns the parameter text after it.
expected<parsed_path, address_error> path_after_colon(std::string_view args, std::size_t colon,
                                                      const parse_options& opts,
                                                      std::string_view& params) {
  std::string_view rest = args.substr(colon + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  auto parsed = parse_path(rest, opts);
  if (parsed) {
    params = rest.substr(parsed->length);
    if (!params.empty() && params.front() != ' ') return unexpected(address_error::syntax);
  }
  return parsed;
}

}  // namespace

void server_session::do_mail(step& out, std::string_view args) {
  const parse_options opts{.smtputf8 = cfg_.smtputf8, .allow_null = true, .allow_postmaster = false};
  std::string_view param_text;
  auto parsed = path_after_colon(args, 4, opts, param_text);
  if (!parsed) {
    fail(out, reply::make(501, "5.1.7", fmt::format("Bad sender address syntax ({})",
                                                    describe(parsed.error()))));
    return;
  }
  std::vector<param> params;
  if (!split_params(param_text, params)) {
    fail(out, reply::make(501, "5.5.4", "Syntax error in parameters"));
    return;
  }
  transaction txn;
  bool seen_size = false;
  bool seen_body = false;
  for (const auto& p : params) {
    if (!esmtp_) {  // RFC 5321 4.1.1.2: parameters only after EHLO
      fail(out, reply::make(555, "5.5.4", "Unsupported option: parameters need EHLO"));
      return;
    }
    if (iequals(p.key, "SIZE") && p.value && !seen_size) {
      seen_size = true;
      std::uint64_t size = 0;
      const auto v = *p.value;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), size);
      if (end != v.data() + v.size() || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
        fail(out, reply::make(501, "5.5.4", "Bad SIZE parameter"));
        return;
      }
      if (ec == std::errc::result_out_of_range || size > cfg_.max_message_size) {
        fail(out, reply::make(552, "5.3.4", "Message size exceeds fixed limit"));
        return;
      }
      txn.declared_size = size;
    } else if (iequals(p.key, "BODY") && p.value && !seen_body) {
      seen_body = true;
      if (iequals(*p.value, "7BIT")) {
        txn.body = body_type::seven_bit;
      } else if (iequals(*p.value, "8BITMIME")) {
        txn.body = body_type::eight_bit_mime;
      } else {
        fail(out, reply::make(501, "5.5.4", "Bad BODY parameter"));
        return;
      }
    } else if (iequals(p.key, "SMTPUTF8") && !p.value && cfg_.smtputf8 && !txn.smtputf8) {
      txn.smtputf8 = true;
    } else {
      fail(out, reply::make(555, "5.5.4", fmt::format("Unsupported option: {}", p.key)));
      return;
    }
  }
  if (parsed->addr.has(address_flag::utf8) && !txn.smtputf8) {
    fail(out, reply::make(553, "5.6.7", "Non-ASCII sender address needs SMTPUTF8"));
    return;
  }
  txn_ = std::move(txn);
  pending_ = sender_request{std::move(parsed->addr)};
  out.request = *pending_;
}

// ---- RCPT ----

std::optional<reply> server_session::check_rcpt(std::string_view args) {
  if (!txn_.sender) return reply::make(503, "5.5.1", "Error: need MAIL command");
  if (!istarts_with(args, "TO:")) return reply::make(501, "5.5.4", "Syntax: RCPT TO:<address>");
  if (txn_.recipients.size() >= cfg_.max_recipients) {
    return reply::make(452, "4.5.3", "Error: too many recipients");
  }
  return std::nullopt;
}

void server_session::do_rcpt(step& out, std::string_view args) {
  const parse_options opts{.smtputf8 = cfg_.smtputf8, .allow_null = false, .allow_postmaster = true};
  std::string_view param_text;
  auto parsed = path_after_colon(args, 2, opts, param_text);
  if (!parsed) {
    fail(out, reply::make(501, "5.1.3", fmt::format("Bad recipient address syntax ({})",
                                                    describe(parsed.error()))));
    return;
  }
  std::vector<param> params;
  if (!split_params(param_text, params)) {
    fail(out, reply::make(501, "5.5.4", "Syntax error in parameters"));
    return;
  }
  if (!params.empty()) {  // no RCPT parameters are offered (no DSN)
    fail(out, reply::make(555, "5.5.4", fmt::format("Unsupported option: {}", params[0].key)));
    return;
  }
  if (parsed->addr.has(address_flag::utf8) && !txn_.smtputf8) {
    fail(out, reply::make(553, "5.6.7", "Non-ASCII recipient address needs SMTPUTF8"));
    return;
  }
  pending_ = recipient_request{std::move(parsed->addr)};
  out.request = *pending_;
}

// ---- DATA ----

std::optional<reply> server_session::check_data(std::string_view args) {
  if (!trim_spaces(args).empty()) return reply::make(501, "5.5.4", "Syntax: DATA");
  if (!txn_.sender) return reply::make(503, "5.5.1", "Error: need RCPT command");
  if (txn_.recipients.empty()) return reply::make(554, "5.5.1", "Error: no valid recipients");
  return std::nullopt;
}

void server_session::do_data(step& out, std::string_view /*args*/) {
  state_ = state::data;
  data_ = data_state{};
  respond(out, reply{354, "", {"End data with <CR><LF>.<CR><LF>"}});
}

void server_session::data_input(step& out) {
  const std::string_view avail(in_.data() + in_pos_, in_.size() - in_pos_);
  std::size_t pos = 0;
  auto& d = data_;
  while (state_ == state::data && pos < avail.size()) {
    const std::size_t lf = avail.find('\n', pos);
    if (lf == std::string_view::npos) {
      // An unfinished line. Beyond the text-line limit its head is dropped (the message is
      // refused anyway); a trailing CR is kept, it may be half of the CRLF.
      const std::size_t partial = avail.size() - pos;
      if (partial > max_text_line) {
        d.long_line = true;
        d.mid_line = true;
        const bool keep_cr = avail.back() == '\r';
        pos = avail.size() - (keep_cr ? 1 : 0);
      }
      break;
    }
    const bool crlf = lf > pos && avail[lf - 1] == '\r';
    std::string_view text = avail.substr(pos, lf - pos - (crlf ? 1 : 0));
    pos = lf + 1;
    if (d.mid_line) {  // the tail of an over-long line: not a line start, nothing to keep
      d.mid_line = false;
      d.after_crlf = crlf;
      if (!crlf) d.bare_lf = true;
      continue;
    }
    // Only CRLF "." CRLF ends the data (RFC 5321 4.1.1.4): the previous line must have ended
    // with CRLF and this one must be exactly "." CRLF.
    if (d.after_crlf && crlf && text == ".") {
      in_pos_ += pos;
      finish_data(out);
      return;
    }
    if (!crlf) d.bare_lf = true;
    if (text.find('\r') != std::string_view::npos) d.bare_cr = true;
    if (text.find('\0') != std::string_view::npos) d.nul = true;
    if (text.size() + 2 > max_text_line) d.long_line = true;
    if (d.after_crlf && !text.empty() && text.front() == '.') text.remove_prefix(1);  // 4.5.2
    d.after_crlf = crlf;
    d.size += text.size() + 2;
    const bool refused = d.bare_lf || d.bare_cr || d.nul || d.long_line;
    if (d.size > cfg_.max_message_size || refused) {
      d.content.clear();
      d.content.shrink_to_fit();
    } else {
      d.content.append(text);
      d.content.append("\r\n");
    }
  }
  in_pos_ += pos;
}

void server_session::finish_data(step& out) {
  state_ = state::command;
  data_state d = std::move(data_);
  data_ = data_state{};
  if (d.bare_lf || d.bare_cr || d.nul) {
    const char* what = d.nul ? "NUL" : d.bare_cr ? "bare <CR>" : "bare <LF>";
    reset_transaction();
    fail(out, reply::make(550, "5.6.0",
                          fmt::format("Error: message contains {}; only CRLF ends a line "
                                      "(RFC 5321 2.3.8)",
                                      what)));
    return;
  }
  if (d.long_line) {
    reset_transaction();
    fail(out, reply::make(550, "5.6.0",
                          "Error: message has a line longer than 998 octets (RFC 5321 4.5.3.1.6)"));
    return;
  }
  if (d.size > cfg_.max_message_size) {
    reset_transaction();
    fail(out, reply::make(552, "5.3.4", "Error: message file too big"));
    return;
  }
  // The content goes to the shell once; the pending marker keeps no copy of it.
  out.request = message_request{std::move(d.content)};
  pending_ = message_request{};
}

// ---- STARTTLS and AUTH ----

std::size_t server_session::line_limit(std::string_view avail) const {
  if (auth_stage_ != auth_stage::none || istarts_with(avail, "AUTH ")) return max_auth_line;
  return max_command_line;
}

std::optional<reply> server_session::check_starttls(std::string_view args) {
  if (!trim_spaces(args).empty()) return reply::make(501, "5.5.4", "Syntax: STARTTLS");
  if (tls_active_) return reply::make(503, "5.5.1", "Error: TLS already active");
  if (!cfg_.tls_available) return reply::make(502, "5.5.1", "Error: command not implemented");
  return std::nullopt;
}

void server_session::do_starttls(step& out, std::string_view /*args*/) {
  // Whatever follows STARTTLS in the plaintext stream was sent before the handshake: discard it
  // (CVE-2011-0411). tls_established() discards what arrives meanwhile, too.
  in_.erase(in_pos_);
  respond(out, reply::make(220, "2.0.0", "Ready to start TLS"));
  pending_ = starttls_request{};
  out.request = starttls_request{};
}

std::optional<reply> server_session::check_auth(std::string_view /*args*/) {
  if (!cfg_.auth_available) return reply::make(502, "5.5.1", "Error: command not implemented");
  if (!tls_active_ && !cfg_.auth_without_tls) {
    return reply::make(538, "5.7.11", "Encryption required for requested authentication mechanism");
  }
  if (!auth_user_.empty()) return reply::make(503, "5.5.1", "Error: already authenticated");
  if (txn_.sender) return reply::make(503, "5.5.1", "Error: MAIL transaction in progress");
  return std::nullopt;
}

void server_session::do_auth(step& out, std::string_view args) {
  args = trim_spaces(args);
  const std::size_t sp = args.find(' ');
  const std::string_view mechanism = args.substr(0, sp);
  const std::string_view initial =
      sp == std::string_view::npos ? std::string_view() : trim_spaces(args.substr(sp + 1));
  if (iequals(mechanism, "PLAIN")) {
    if (initial.empty()) {
      auth_stage_ = auth_stage::plain;
      respond(out, sasl::plain_challenge());
      return;
    }
    auto decoded = sasl::decode_response(initial, sasl::response_kind::initial);
    if (!decoded) {
      fail(out, decoded.error());
      return;
    }
    auth_finish(out, *decoded);
  } else if (iequals(mechanism, "LOGIN")) {
    if (initial.empty()) {
      auth_stage_ = auth_stage::login_user;
      respond(out, sasl::login_user_challenge());
      return;
    }
    auto user = sasl::decode_response(initial, sasl::response_kind::initial);
    if (!user) {
      fail(out, user.error());
      return;
    }
    auth_login_user_ = std::move(*user);
    auth_stage_ = auth_stage::login_password;
    respond(out, sasl::login_password_challenge());
  } else if (mechanism.empty()) {
    fail(out, reply::make(501, "5.5.4", "Syntax: AUTH mechanism"));
  } else {
    fail(out, reply::make(504, "5.5.4", "Unrecognized authentication type"));
  }
}

void server_session::auth_input(step& out, std::string_view line) {
  const auth_stage stage = auth_stage_;
  auth_stage_ = auth_stage::none;
  auto decoded = sasl::decode_response(line, sasl::response_kind::continuation);
  if (!decoded) {
    auth_login_user_.clear();
    fail(out, decoded.error());
    return;
  }
  switch (stage) {
    case auth_stage::plain:
      auth_finish(out, *decoded);
      return;
    case auth_stage::login_user:
      auth_login_user_ = std::move(*decoded);
      auth_stage_ = auth_stage::login_password;
      respond(out, sasl::login_password_challenge());
      return;
    case auth_stage::login_password: {
      auto login = sasl::finish_login(std::move(auth_login_user_), std::move(*decoded));
      auth_login_user_.clear();
      if (!login) {
        fail(out, login.error());
        return;
      }
      auth_request req{"LOGIN", std::move(login->user), std::move(login->password)};
      pending_ = req;
      out.request = std::move(req);
      return;
    }
    case auth_stage::none:
      return;
  }
}

// PLAIN (RFC 4616), decoded by smtp/sasl: no proxy authorization.
void server_session::auth_finish(step& out, std::string_view plain) {
  auto creds = sasl::parse_plain(plain);
  if (!creds) {
    fail(out, creds.error());
    return;
  }
  auth_request req{"PLAIN", std::move(creds->authcid), std::move(creds->password)};
  pending_ = req;
  out.request = std::move(req);
}

// ---- the rest ----

void server_session::do_rset(step& out, std::string_view /*args*/) {
  reset_transaction();
  respond(out, reply::make(250, "2.0.0", "Ok"));
}

void server_session::do_noop(step& out, std::string_view /*args*/) {
  respond(out, reply::make(250, "2.0.0", "Ok"));
}

void server_session::do_quit(step& out, std::string_view /*args*/) {
  close_with(out, reply::make(221, "2.0.0", "Bye"));
}

void server_session::do_vrfy(step& out, std::string_view args) {
  if (trim_spaces(args).empty()) {
    fail(out, reply::make(501, "5.5.4", "Syntax: VRFY address"));
    return;
  }
  // Never disclose whether a user exists (RFC 5321 3.5.3, 7.3).
  respond(out, reply::make(252, "2.0.0",
                           "Cannot VRFY user, but will accept message and attempt delivery"));
}

void server_session::do_help(step& out, std::string_view /*args*/) {
  respond(out, reply::make(214, "2.0.0",
                           "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"));
}

void server_session::do_not_implemented(step& out, std::string_view /*args*/) {
  fail(out, reply::make(502, "5.5.1", "Error: command not implemented"));
}

void server_session::do_forbidden(step& out, std::string_view /*args*/) {
  ++errors_;
  close_with(out, reply::make(521, "5.7.0", "Error: this is an SMTP server; goodbye"));
}

}  // namespace mx::smtp
