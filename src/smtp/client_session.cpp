#include "smtp/client_session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <utility>

namespace mx::smtp {

namespace {

constexpr std::size_t max_argument = 1000;  // octets of a path or XCLIENT argument we send

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

char upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
}

std::string upper_word(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '=') break;
    out += upper(c);
  }
  return out;
}

bool clean_text(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::string_view kind_name(command_kind k) {
  switch (k) {
    case command_kind::ehlo:
      return "EHLO";
    case command_kind::helo:
      return "HELO";
    case command_kind::rset:
      return "RSET";
    case command_kind::mail:
      return "MAIL";
    case command_kind::rcpt:
      return "RCPT";
    case command_kind::xclient:
      return "XCLIENT";
    case command_kind::starttls:
      return "STARTTLS";
    case command_kind::quit:
      return "QUIT";
  }
  return "?";
}

std::string brief(const reply& r) {
  std::string text = r.lines.empty() ? std::string() : r.lines.front();
  if (text.size() > 120) text = text.substr(0, 120) + "...";
  return r.enhanced.empty() ? fmt::format("{} {}", r.code, text)
                            : fmt::format("{} {} {}", r.code, r.enhanced, text);
}

client_event make_event(client_event::type what, std::optional<reply> answer = std::nullopt) {
  client_event ev;
  ev.what = what;
  ev.answer = std::move(answer);
  return ev;
}

}  // namespace

// ---- reply_parser ----

std::string enhanced_code_of(int code, std::string_view text) {
  // class "." subject "." detail (RFC 3463 2): 1 digit, 1-3 digits, 1-3 digits.
  if (text.size() < 5 || text[0] != static_cast<char>('0' + code / 100) || text[1] != '.')
    return {};
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    const std::size_t start = i;
    while (i < text.size() && is_digit(text[i]) && i - start < 4) ++i;
    const std::size_t n = i - start;
    if (n < 1 || n > 3) return {};
    if (part == 0) {
      if (i >= text.size() || text[i] != '.') return {};
      ++i;
    }
  }
  if (i < text.size() && text[i] != ' ') return {};
  return std::string(text.substr(0, i));
}

reply_parser::reply_parser(std::size_t max_line, std::size_t max_lines)
    : max_line_(max_line), max_lines_(max_lines) {}

void reply_parser::append(std::string_view bytes) {
  if (!error_.empty()) return;
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {  // drop what was read, amortized
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

expected<std::optional<reply>, std::string> reply_parser::next() {
  if (!error_.empty()) return unexpected(error_);
  auto broken = [this](std::string why) -> expected<std::optional<reply>, std::string> {
    error_ = std::move(why);
    buf_.clear();
    pos_ = 0;
    lines_.clear();
    return unexpected(error_);
  };
  for (;;) {
    const std::size_t nl = buf_.find('\n', pos_);
    if (nl == std::string::npos) {
      if (buf_.size() - pos_ > max_line_) {
        return broken(fmt::format("a reply line longer than {} octets", max_line_));
      }
      return std::optional<reply>();
    }
    std::string_view line(buf_.data() + pos_, nl - pos_);
    pos_ = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_line_) {
      return broken(fmt::format("a reply line longer than {} octets", max_line_));
    }
    // RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39, then SP, "-" or the line end.
    const bool code_ok = line.size() >= 3 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' &&
                         line[1] <= '5' && is_digit(line[2]);
    if (!code_ok || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      std::string shown(line.substr(0, 40));
      for (char& c : shown) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
      }
      return broken(fmt::format("not an SMTP reply line: \"{}\"", shown));
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (!lines_.empty() && code != code_) {
      return broken(
          fmt::format("reply code changed from {} to {} inside a multiline reply", code_, code));
    }
    code_ = code;
    const bool last = line.size() == 3 || line[3] == ' ';
    lines_.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view());
    if (lines_.size() > max_lines_) {
      return broken(fmt::format("a reply of more than {} lines", max_lines_));
    }
    if (!last) continue;

    reply r;
    r.code = code;
    r.enhanced = enhanced_code_of(code, lines_.front());
    if (r.enhanced.empty()) r.enhanced = enhanced_code_of(code, lines_.back());
    r.lines = std::move(lines_);
    lines_.clear();
    if (!r.enhanced.empty()) {
      for (auto& l : r.lines) {
        if (l.compare(0, r.enhanced.size(), r.enhanced) == 0 &&
            (l.size() == r.enhanced.size() || l[r.enhanced.size()] == ' ')) {
          l.erase(0, std::min(l.size(), r.enhanced.size() + 1));
        }
      }
    }
    return std::optional<reply>(std::move(r));
  }
}

// ---- capabilities ----

server_capabilities parse_ehlo(const reply& ehlo) {
  server_capabilities caps;
  caps.esmtp = true;
  for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
    const std::string& line = ehlo.lines[i];
    caps.keywords.push_back(line);
    const std::string word = upper_word(line);
    if (word == "PIPELINING") caps.pipelining = true;
    if (word == "STARTTLS") caps.starttls = true;
    if (word == "XCLIENT") caps.xclient = true;
    if (word == "CHUNKING") caps.chunking = true;
    if (word == "AUTH")
      caps.auth = true;  // also the old "AUTH=LOGIN" form (upper_word stops at '=')
  }
  return caps;
}

std::string_view describe(client_failure f) {
  switch (f) {
    case client_failure::greeting_refused:
      return "greeting refused";
    case client_failure::service_closing:
      return "service closing (421)";
    case client_failure::hello_refused:
      return "EHLO and HELO refused";
    case client_failure::protocol_error:
      return "protocol error";
    case client_failure::timeout:
      return "timeout";
    case client_failure::disconnected:
      return "disconnected";
  }
  return "?";
}

// ---- client_session ----

client_session::client_session(client_config cfg)
    : cfg_(std::move(cfg)), parser_(cfg_.max_line, cfg_.max_lines) {
  std::string helo;
  for (char c : cfg_.helo) {
    if (static_cast<unsigned char>(c) > 0x20 && c != 0x7f) helo += c;
  }
  cfg_.helo = helo.empty() ? "localhost" : helo;
}

client_step client_session::feed(std::string_view bytes) {
  client_step out;
  if (state_ == state::closed) return out;
  if (state_ == state::tls) {
    // Plain-text bytes after "220 Ready to start TLS" would be read as if protected by TLS
    // (the STARTTLS command injection family, CVE-2011-0411): refuse them.
    fail(out, client_failure::protocol_error, "bytes after the STARTTLS 220 reply, before TLS");
    return out;
  }
  parser_.append(bytes);
  while (state_ != state::closed && state_ != state::tls) {
    auto r = parser_.next();
    if (!r) {
      fail(out, client_failure::protocol_error, r.error());
      break;
    }
    if (!*r) break;
    on_reply(out, std::move(**r));
  }
  if (state_ == state::tls && parser_.holds_partial()) {
    fail(out, client_failure::protocol_error, "bytes after the STARTTLS 220 reply, before TLS");
  }
  return out;
}

client_step client_session::settled() {
  client_step out;
  if (state_ != state::settling) return out;
  state_ = state::hello;
  send_command(out, command_kind::ehlo, "EHLO " + cfg_.helo, session_command);
  return out;
}

// After QUIT, silence or a closed connection is the normal end, not a failure.
client_step& client_session::closed_after_quit(client_step& out) {
  state_ = state::closed;
  outstanding_.clear();
  out.events.push_back(make_event(client_event::type::closed));
  out.close = true;
  return out;
}

client_step client_session::timeout() {
  client_step out;
  if (state_ == state::closed) return out;
  if (state_ == state::quitting) return closed_after_quit(out);
  std::string waiting = "the greeting";
  if (!outstanding_.empty()) {
    const auto& p = outstanding_.front();
    waiting = p.index != session_command ? "the reply to " + plan_[p.index].line
                                         : fmt::format("the reply to {}", kind_name(p.kind));
  } else if (state_ == state::tls) {
    waiting = "the TLS handshake";
  }
  fail(out, client_failure::timeout, "no answer in time while waiting for " + waiting);
  return out;
}

client_step client_session::disconnected() {
  client_step out;
  if (state_ == state::closed) return out;
  if (state_ == state::quitting) return closed_after_quit(out);
  std::string detail = "the server closed the connection";
  if (state_ == state::greeting) {
    detail += " before the greeting";
  } else if (!outstanding_.empty()) {
    const auto& p = outstanding_.front();
    detail += p.index != session_command
                  ? " instead of answering " + plan_[p.index].line
                  : fmt::format(" instead of answering {}", kind_name(p.kind));
  }
  fail(out, client_failure::disconnected, detail);
  return out;
}

client_step client_session::tls_started() {
  client_step out;
  if (state_ != state::tls) return out;
  parser_ = reply_parser(cfg_.max_line, cfg_.max_lines);  // nothing from before TLS survives
  caps_ = {};
  transaction_open_ = false;
  state_ = state::hello;
  send_command(out, command_kind::ehlo, "EHLO " + cfg_.helo, session_command);
  return out;
}

std::optional<std::string> client_session::invalid(const envelope& env) {
  if (env.forward_paths.empty()) return std::string("an envelope needs a RCPT");
  auto check = [](std::string_view what, std::string_view s) -> std::optional<std::string> {
    if (!clean_text(s)) return fmt::format("{} holds CR, LF or NUL", what);
    if (s.size() > max_argument) return fmt::format("{} is over {} octets", what, max_argument);
    return std::nullopt;
  };
  if (auto e = check("XCLIENT", env.xclient)) return e;
  if (auto e = check("MAIL FROM", env.reverse_path)) return e;
  for (const auto& fp : env.forward_paths) {
    if (auto e = check("RCPT TO", fp)) return e;
  }
  return std::nullopt;
}

expected<client_step, std::string> client_session::submit(std::span<const envelope> batch,
                                                          bool quit_after) {
  if (state_ != state::ready) return unexpected(std::string("the session is not ready"));
  if (batch.empty()) return unexpected(std::string("no envelope"));
  for (const auto& env : batch) {
    if (auto e = invalid(env)) return unexpected(*e);
  }

  plan_.clear();
  env_end_.clear();
  env_done_ = 0;
  next_ = 0;
  quit_after_ = quit_after;
  quit_sent_ = false;
  auto plan = [this](command_kind k, std::string line) {
    plan_.push_back(command_reply{k, std::move(line), false, std::nullopt});
  };
  for (std::size_t k = 0; k < batch.size(); ++k) {
    const envelope& env = batch[k];
    // Every envelope after the first follows a MAIL: RSET, as between separate submits.
    if (k > 0 || transaction_open_) plan(command_kind::rset, "RSET");
    if (!env.xclient.empty()) {
      plan(command_kind::xclient, "XCLIENT " + env.xclient);
      plan(command_kind::ehlo, "EHLO " + cfg_.helo);  // XCLIENT restarts the session
    }
    plan(command_kind::mail, "MAIL FROM:" + env.reverse_path);
    for (const auto& fp : env.forward_paths) plan(command_kind::rcpt, "RCPT TO:" + fp);
    env_end_.push_back(plan_.size());
  }

  state_ = state::exchange;
  client_step out;
  send_next_group(out);
  return out;
}

expected<client_step, std::string> client_session::starttls() {
  if (state_ != state::ready) return unexpected(std::string("the session is not ready"));
  client_step out;
  state_ = state::starttls;
  send_command(out, command_kind::starttls, "STARTTLS", session_command);
  return out;
}

client_step client_session::quit() {
  client_step out;
  switch (state_) {
    case state::closed:
      out.close = true;
      return out;
    case state::quitting:
      return out;
    case state::ready:
    case state::settling:
      start_quit(out);
      return out;
    default:  // replies are still due (or none was ever read): just go
      state_ = state::closed;
      outstanding_.clear();
      plan_.clear();
      env_end_.clear();
      env_done_ = 0;
      out.events.push_back(make_event(client_event::type::closed));
      out.close = true;
      return out;
  }
}

void client_session::send_command(client_step& out, command_kind kind, std::string line,
                                  std::size_t index) {
  out.send += line;
  out.send += "\r\n";
  outstanding_.push_back({kind, index});
  if (kind == command_kind::mail) transaction_open_ = true;
  if (kind == command_kind::rset || kind == command_kind::ehlo || kind == command_kind::helo) {
    transaction_open_ = false;
  }
}

void client_session::send_next_group(client_step& out) {
  if (next_ >= plan_.size()) return;
  auto groupable = [](command_kind k) {
    return k == command_kind::rset || k == command_kind::mail || k == command_kind::rcpt;
  };
  const bool pipeline = cfg_.pipelining && caps_.pipelining;
  // RFC 2920 3.1: RSET, MAIL and RCPT anywhere in a group; a command whose reply changes what
  // comes next (XCLIENT, EHLO) may close one.
  bool open_group = pipeline;
  while (next_ < plan_.size()) {
    auto& c = plan_[next_];
    c.sent = true;
    send_command(out, c.kind, c.line, next_);
    ++next_;
    if (!pipeline || !groupable(c.kind)) {
      open_group = false;
      break;
    }
  }
  if (quit_after_ && open_group && next_ >= plan_.size()) {
    // QUIT may end a group too: its reply comes with the last envelope's.
    send_command(out, command_kind::quit, "QUIT", session_command);
    quit_sent_ = true;
  }
}

// A refused MAIL, XCLIENT or EHLO after XCLIENT: the rest of that envelope is not sent (RCPT
// after a refused MAIL would only be 503); the batch's other envelopes still run.
void client_session::skip_envelope_of(std::size_t index) {
  for (const std::size_t end : env_end_) {
    if (index < end) {
      next_ = std::max(next_, end);
      return;
    }
  }
}

// Reports every envelope whose commands are all answered or skipped, in order.
void client_session::report_finished(client_step& out) {
  while (env_done_ < env_end_.size()) {
    const std::size_t begin = env_done_ == 0 ? 0 : env_end_[env_done_ - 1];
    const std::size_t end = env_end_[env_done_];
    if (next_ < end) return;  // some of it still to send
    if (!outstanding_.empty() && outstanding_.front().index != session_command &&
        outstanding_.front().index < end) {
      return;  // some of it still to be answered
    }
    client_event ev;
    ev.what = client_event::type::exchange_done;
    ev.commands.assign(std::make_move_iterator(plan_.begin() + static_cast<std::ptrdiff_t>(begin)),
                       std::make_move_iterator(plan_.begin() + static_cast<std::ptrdiff_t>(end)));
    out.events.push_back(std::move(ev));
    ++env_done_;
  }
}

void client_session::finish_batch(client_step& out) {
  plan_.clear();
  env_end_.clear();
  env_done_ = 0;
  next_ = 0;
  if (quit_sent_) {
    state_ = state::quitting;  // its reply is the one still due
  } else if (quit_after_) {
    start_quit(out);
  } else {
    state_ = state::ready;
  }
  quit_after_ = quit_sent_ = false;
}

void client_session::fail(client_step& out, client_failure why, std::string detail,
                          std::optional<reply> answer) {
  client_event ev;
  ev.what = client_event::type::failed;
  ev.failure = why;
  ev.detail = std::move(detail);
  ev.answer = std::move(answer);
  if (env_done_ < env_end_.size()) {  // the first unfinished envelope of the batch
    const std::size_t begin = env_done_ == 0 ? 0 : env_end_[env_done_ - 1];
    ev.commands.assign(
        std::make_move_iterator(plan_.begin() + static_cast<std::ptrdiff_t>(begin)),
        std::make_move_iterator(plan_.begin() + static_cast<std::ptrdiff_t>(env_end_[env_done_])));
  }
  plan_.clear();
  env_end_.clear();
  env_done_ = 0;
  next_ = 0;
  quit_after_ = quit_sent_ = false;
  outstanding_.clear();
  state_ = state::closed;
  out.events.push_back(std::move(ev));
  out.close = true;
}

void client_session::start_quit(client_step& out) {
  state_ = state::quitting;
  send_command(out, command_kind::quit, "QUIT", session_command);
}

void client_session::on_reply(client_step& out, reply r) {
  if (state_ == state::greeting) {
    on_greeting(out, std::move(r));
    return;
  }
  if (outstanding_.empty()) {
    if (r.code == 421) {
      fail(out, client_failure::service_closing, "421 from the server: " + brief(r), r);
    } else if (state_ == state::settling) {
      out.events.push_back(make_event(client_event::type::unsolicited, std::move(r)));
      out.settle = true;
    } else {
      fail(out, client_failure::protocol_error, "a reply nobody asked for: " + brief(r), r);
    }
    return;
  }
  const pending p = outstanding_.front();
  outstanding_.pop_front();
  if (p.kind == command_kind::quit) {
    state_ = state::closed;
    outstanding_.clear();
    out.events.push_back(make_event(client_event::type::closed, std::move(r)));
    out.close = true;
    return;
  }
  if (r.code == 421) {
    if (p.index != session_command) plan_[p.index].answer = r;
    const std::string what =
        p.index != session_command ? plan_[p.index].line : std::string(kind_name(p.kind));
    fail(out, client_failure::service_closing, fmt::format("421 to {}: {}", what, brief(r)), r);
    return;
  }
  if (p.index != session_command) {
    on_exchange_reply(out, p.index, std::move(r));
    return;
  }
  switch (p.kind) {
    case command_kind::ehlo:
    case command_kind::helo:
      on_hello(out, p.kind, std::move(r));
      return;
    case command_kind::starttls:
      if (r.klass() == 2) {
        state_ = state::tls;
        out.events.push_back(make_event(client_event::type::starttls_ready, std::move(r)));
      } else {
        state_ = state::ready;
        out.events.push_back(make_event(client_event::type::starttls_refused, std::move(r)));
      }
      return;
    default:
      fail(out, client_failure::protocol_error, "internal: a reply to an unplanned command", r);
      return;
  }
}

void client_session::on_greeting(client_step& out, reply r) {
  greeting_ = r;
  if (r.code == 421) {
    fail(out, client_failure::service_closing, "banner: " + brief(r), r);
    return;
  }
  if (r.klass() != 2) {
    // RFC 5321 3.1: after a 554 greeting the client should QUIT and wait for the reply.
    client_event ev;
    ev.what = client_event::type::failed;
    ev.failure = client_failure::greeting_refused;
    ev.detail = "banner: " + brief(r);
    ev.answer = std::move(r);
    out.events.push_back(std::move(ev));
    start_quit(out);
    return;
  }
  out.events.push_back(make_event(client_event::type::greeting, std::move(r)));
  if (cfg_.settle_after_greeting) {
    state_ = state::settling;
    out.settle = true;
    return;
  }
  state_ = state::hello;
  send_command(out, command_kind::ehlo, "EHLO " + cfg_.helo, session_command);
}

void client_session::on_hello(client_step& out, command_kind kind, reply r) {
  hello_reply_ = r;
  if (r.klass() == 2) {
    caps_ = kind == command_kind::ehlo ? parse_ehlo(r) : server_capabilities{};
    state_ = state::ready;
    out.events.push_back(make_event(client_event::type::ready, std::move(r)));
    return;
  }
  if (kind == command_kind::ehlo) {  // RFC 5321 3.2: an old server; try HELO
    send_command(out, command_kind::helo, "HELO " + cfg_.helo, session_command);
    return;
  }
  client_event ev;
  ev.what = client_event::type::failed;
  ev.failure = client_failure::hello_refused;
  ev.detail = "HELO: " + brief(r);
  ev.answer = std::move(r);
  out.events.push_back(std::move(ev));
  start_quit(out);
}

void client_session::on_exchange_reply(client_step& out, std::size_t index, reply r) {
  auto& c = plan_[index];
  const bool positive = r.klass() == 2;
  c.answer = std::move(r);
  switch (c.kind) {
    case command_kind::xclient:
    case command_kind::mail:
      if (!positive) skip_envelope_of(index);
      break;
    case command_kind::ehlo:
      if (positive) {
        caps_ = parse_ehlo(*c.answer);
      } else {
        skip_envelope_of(index);
      }
      break;
    default:
      break;
  }
  report_finished(out);
  if (env_done_ >= env_end_.size()) {
    finish_batch(out);
  } else if (outstanding_.empty()) {
    send_next_group(out);
  }
}

}  // namespace mx::smtp
