#include "smtp/client_session.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mx::smtp {
namespace {

// ---- reply_parser ----

std::string show(const reply& r) {
  std::string out = std::to_string(r.code);
  if (!r.enhanced.empty()) out += " " + r.enhanced;
  for (const auto& l : r.lines) out += "|" + l;
  return out;
}

struct parse_case {
  std::string name;
  std::vector<std::string> chunks;  // appended one by one, replies drained after each
  std::vector<std::string> want;    // show() of each reply, then "error" if the stream broke
};

std::vector<std::string> parse_all(const std::vector<std::string>& chunks,
                                   std::size_t max_line = 64, std::size_t max_lines = 4) {
  reply_parser p(max_line, max_lines);
  std::vector<std::string> got;
  for (const auto& c : chunks) {
    p.append(c);
    for (;;) {
      auto r = p.next();
      if (!r) {
        got.push_back("error");
        return got;
      }
      if (!*r) break;
      got.push_back(show(**r));
    }
  }
  return got;
}

std::string join(const std::vector<std::string>& v, std::string_view sep = " / ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

TEST(ReplyParser, Table) {
  const std::vector<parse_case> cases = {
      {"single line", {"220 mx.example.test ESMTP\r\n"}, {"220|mx.example.test ESMTP"}},
      {"code only", {"250\r\n"}, {"250|"}},
      {"enhanced code stripped",
       {"554 5.7.1 <a@b>: Relay access denied\r\n"},
       {"554 5.7.1|<a@b>: Relay access denied"}},
      {"enhanced code of another class is text", {"554 4.7.1 odd\r\n"}, {"554|4.7.1 odd"}},
      {"enhanced code alone", {"250 2.0.0\r\n"}, {"250 2.0.0|"}},
      {"not an enhanced code", {"250 2.0.0x y\r\n"}, {"250|2.0.0x y"}},
      {"multiline",
       {"250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"},
       {"250|mx.example.test|PIPELINING|8BITMIME"}},
      {"multiline enhanced on each line",
       {"550-5.7.1 first\r\n550 5.7.1 second\r\n"},
       {"550 5.7.1|first|second"}},
      {"split anywhere", {"25", "0-a\r", "\n250 b", "\r\n"}, {"250|a|b"}},
      {"two replies in one chunk", {"250 a\r\n354 b\r\n"}, {"250|a", "354|b"}},
      {"bare LF accepted", {"250-a\n250 b\n"}, {"250|a|b"}},
      {"empty dash line", {"250-\r\n250 x\r\n"}, {"250||x"}},
      {"partial waits", {"250-a\r\n250 b"}, {}},
      {"not a reply", {"hello\r\n"}, {"error"}},
      {"first digit 1", {"150 x\r\n"}, {"error"}},
      {"first digit 6", {"650 x\r\n"}, {"error"}},
      {"second digit 6", {"260 x\r\n"}, {"error"}},
      {"bad separator", {"250xok\r\n"}, {"error"}},
      {"two digits", {"25\r\n"}, {"error"}},
      {"empty line", {"\r\n"}, {"error"}},
      {"code changes inside multiline", {"250-a\r\n550 b\r\n"}, {"error"}},
      {"over-long line", {"250 " + std::string(100, 'x') + "\r\n"}, {"error"}},
      {"over-long line without end", {std::string(70, '2')}, {"error"}},
      {"too many lines", {"250-a\r\n250-b\r\n250-c\r\n250-d\r\n250 e\r\n"}, {"error"}},
      {"error is sticky", {"junk\r\n", "250 ok\r\n"}, {"error"}},
      {"NUL kept in text", {std::string("250 a\0b\r\n", 9)}, {std::string("250|a\0b", 7)}},
  };
  for (const auto& c : cases) {
    const auto got = parse_all(c.chunks);
    EXPECT_EQ(join(got), join(c.want)) << "case: " << c.name;
  }
}

TEST(EnhancedCode, Table) {
  const struct {
    int code;
    std::string text;
    std::string want;
  } cases[] = {
      {250, "2.1.5 Ok", "2.1.5"},
      {554, "5.7.1", "5.7.1"},
      {451, "4.3.0 Error", "4.3.0"},
      {550, "5.1.10 x", "5.1.10"},
      {550, "5.123.456 x", "5.123.456"},
      {550, "5.1234.1 x", ""},
      {550, "4.1.1 x", ""},
      {550, "5..1 x", ""},
      {550, "5.1. x", ""},
      {550, "5.1", ""},
      {550, "", ""},
      {550, "5.1.1,x", ""},
      {220, "2.0.0 ready", "2.0.0"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(enhanced_code_of(c.code, c.text), c.want) << "code " << c.code << " text " << c.text;
  }
}

TEST(ParseEhlo, Table) {
  const struct {
    std::vector<std::string> lines;
    std::string want;  // flags set
  } cases[] = {
      {{"mx.example.test"}, ""},
      {{"mx", "PIPELINING", "SIZE 1000", "STARTTLS"}, "pipelining starttls"},
      {{"mx", "pipelining", "XCLIENT NAME ADDR", "CHUNKING"}, "pipelining xclient chunking"},
      {{"mx", "AUTH=LOGIN PLAIN"}, "auth"},
      {{"mx", "AUTH PLAIN"}, "auth"},
      {{"mx", "PIPELININGX", "XSTARTTLS"}, ""},
      {{"PIPELINING"}, ""},  // the first line is the server's name, not a keyword
  };
  for (const auto& c : cases) {
    const auto caps = parse_ehlo(reply{250, "", c.lines});
    std::vector<std::string> got;
    if (caps.pipelining) got.push_back("pipelining");
    if (caps.starttls) got.push_back("starttls");
    if (caps.xclient) got.push_back("xclient");
    if (caps.chunking) got.push_back("chunking");
    if (caps.auth) got.push_back("auth");
    EXPECT_EQ(join(got, " "), c.want) << "lines: " << join(c.lines);
    EXPECT_TRUE(caps.esmtp);
    EXPECT_EQ(caps.keywords.size(), c.lines.size() - 1);
  }
}

// ---- client_session dialogues ----

// One action of the shell in a dialogue.
struct act {
  enum kind_t { server, submit, batch, quit, timeout, eof, settled, starttls, tls } kind;
  std::string bytes;                // server
  envelope env = {};                // submit
  std::vector<envelope> envs = {};  // batch
  bool quit_after = false;          // batch
};

act do_(act::kind_t k) {
  return {k, "", envelope{}};
}
act srv(std::string b) {
  return {act::server, std::move(b)};
}
act sub(std::string mail, std::vector<std::string> rcpts, std::string xclient = "") {
  return {act::submit, "", envelope{std::move(xclient), std::move(mail), std::move(rcpts)}};
}

act bat(std::vector<envelope> envs, bool quit_after) {
  return {act::batch, "", envelope{}, std::move(envs), quit_after};
}
envelope env(std::string mail, std::string rcpt, std::string xclient = "") {
  return envelope{std::move(xclient), std::move(mail), {std::move(rcpt)}};
}

std::string describe_event(const client_event& e) {
  using T = client_event::type;
  switch (e.what) {
    case T::greeting:
      return fmt::format("greeting {}", e.answer->code);
    case T::ready:
      return "ready";
    case T::exchange_done:
    case T::failed: {
      std::string out =
          e.what == T::failed ? fmt::format("failed {}", describe(e.failure)) : std::string("done");
      for (const auto& c : e.commands) {
        const auto sp = c.line.find(' ');
        out += " " + c.line.substr(0, sp) + ":";
        out += !c.sent ? "-" : c.answer ? std::to_string(c.answer->code) : "?";
      }
      return out;
    }
    case T::starttls_ready:
      return "starttls-ready";
    case T::starttls_refused:
      return fmt::format("starttls-refused {}", e.answer->code);
    case T::unsolicited:
      return fmt::format("unsolicited {}", e.answer->code);
    case T::closed:
      return "closed";
  }
  return "?";
}

// A transcript line per shell action: "> written|lines" for each write, then events and flags.
std::string transcript(const client_step& st) {
  std::vector<std::string> parts;
  if (!st.send.empty()) {
    std::string s = st.send;
    std::string lines;
    std::size_t pos = 0;
    while (pos < s.size()) {
      const auto crlf = s.find("\r\n", pos);
      lines += (lines.empty() ? "" : "|") + s.substr(pos, crlf - pos);
      pos = crlf + 2;
    }
    parts.push_back("> " + lines);
  }
  for (const auto& e : st.events) parts.push_back(describe_event(e));
  if (st.settle) parts.push_back("settle");
  if (st.close) parts.push_back("close");
  return join(parts, ", ");
}

client_config probe_cfg(bool settle = false, bool pipelining = true) {
  client_config c;
  c.helo = "probe.example";
  c.settle_after_greeting = settle;
  c.pipelining = pipelining;
  return c;
}

struct dialogue_case {
  std::string name;
  std::vector<act> acts;
  std::vector<std::string> want;  // one transcript per act (empty string: nothing happened)
  client_config cfg = probe_cfg();
};

const std::string banner = "220 mx.example.test ESMTP\r\n";
const std::string ehlo_pipe = "250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
const std::string ehlo_plain = "250-mx.example.test\r\n250 8BITMIME\r\n";

std::vector<dialogue_case> dialogue_cases() {
  const client_config settle_cfg = probe_cfg(true);
  const client_config no_pipe = probe_cfg(false, false);
  client_config dirty_helo;
  dirty_helo.helo = "a\r\nDATA";
  return {
      {"greeting, EHLO, ready",
       {srv(banner), srv(ehlo_plain)},
       {"> EHLO probe.example, greeting 220", "ready"}},
      {"greeting split in pieces",
       {srv("220-mx"), srv(".example.test\r\n220 hi\r"), srv("\n")},
       {"", "", "> EHLO probe.example, greeting 220"}},
      {"sequential without PIPELINING",
       {srv(banner), srv(ehlo_plain), sub("<a@x.example>", {"<b@y.example>"}), srv("250 ok\r\n"),
        srv("554 5.7.1 no\r\n")},
       {"> EHLO probe.example, greeting 220", "ready", "> MAIL FROM:<a@x.example>",
        "> RCPT TO:<b@y.example>", "done MAIL:250 RCPT:554"}},
      {"RSET before the second envelope",
       {srv(banner), srv(ehlo_plain), sub("<>", {"<b@y.example>"}), srv("250 ok\r\n"),
        srv("550 no\r\n"), sub("<a@x.example>", {"<c@y.example>"}), srv("250 ok\r\n"),
        srv("250 ok\r\n"), srv("250 ok\r\n")},
       {"> EHLO probe.example, greeting 220", "ready", "> MAIL FROM:<>", "> RCPT TO:<b@y.example>",
        "done MAIL:250 RCPT:550", "> RSET", "> MAIL FROM:<a@x.example>", "> RCPT TO:<c@y.example>",
        "done RSET:250 MAIL:250 RCPT:250"}},
      {"pipelined group RSET+MAIL+RCPT in one write",
       {srv(banner), srv(ehlo_pipe), sub("<a@x.example>", {"<b@y.example>"}),
        srv("250 ok\r\n550 no\r\n"), sub("<a@x.example>", {"<c@y.example>", "<d@y.example>"}),
        srv("250 ok\r\n250 ok\r\n"), srv("554 no\r\n250 ok\r\n")},
       {"> EHLO probe.example, greeting 220", "ready",
        "> MAIL FROM:<a@x.example>|RCPT TO:<b@y.example>", "done MAIL:250 RCPT:550",
        "> RSET|MAIL FROM:<a@x.example>|RCPT TO:<c@y.example>|RCPT TO:<d@y.example>", "",
        "done RSET:250 MAIL:250 RCPT:554 RCPT:250"}},
      {"PIPELINING advertised but disabled by config",
       {srv(banner), srv(ehlo_pipe), sub("<a@x.example>", {"<b@y.example>"})},
       {"> EHLO probe.example, greeting 220", "ready", "> MAIL FROM:<a@x.example>"},
       no_pipe},
      {"MAIL refused: RCPT not sent",
       {srv(banner), srv(ehlo_plain), sub("<a@x.example>", {"<b@y.example>"}),
        srv("553 5.1.8 sender refused\r\n")},
       {"> EHLO probe.example, greeting 220", "ready", "> MAIL FROM:<a@x.example>",
        "done MAIL:553 RCPT:-"}},
      {"MAIL refused while pipelining: RCPT reply still read",
       {srv(banner), srv(ehlo_pipe), sub("<a@x.example>", {"<b@y.example>"}),
        srv("530 5.7.0 auth\r\n503 5.5.1 need MAIL\r\n")},
       {"> EHLO probe.example, greeting 220", "ready",
        "> MAIL FROM:<a@x.example>|RCPT TO:<b@y.example>", "done MAIL:530 RCPT:503"}},
      {"EHLO refused: HELO fallback",
       {srv(banner), srv("502 5.5.2 what\r\n"), srv("250 mx\r\n"),
        sub("<a@x.example>", {"<b@y.example>"})},
       {"> EHLO probe.example, greeting 220", "> HELO probe.example", "ready",
        "> MAIL FROM:<a@x.example>"}},
      {"EHLO and HELO refused: failed, then QUIT",
       {srv(banner), srv("502 no\r\n"), srv("554 no\r\n"), srv("221 bye\r\n")},
       {"> EHLO probe.example, greeting 220", "> HELO probe.example",
        "> QUIT, failed EHLO and HELO refused", "closed, close"}},
      {"banner 554: failed, QUIT",
       {srv("554 5.7.1 go away\r\n"), srv("221 bye\r\n")},
       {"> QUIT, failed greeting refused", "closed, close"}},
      {"banner 554 then EOF",
       {srv("554 go away\r\n"), do_(act::eof)},
       {"> QUIT, failed greeting refused", "closed, close"}},
      {"banner 421: failed, close",
       {srv("421 4.3.2 busy\r\n")},
       {"failed service closing (421), close"}},
      {"421 in the middle of a pipelined group",
       {srv(banner), srv(ehlo_pipe), sub("<a@x.example>", {"<b@y.example>"}),
        srv("250 ok\r\n421 4.7.0 too many errors\r\n")},
       {"> EHLO probe.example, greeting 220", "ready",
        "> MAIL FROM:<a@x.example>|RCPT TO:<b@y.example>",
        "failed service closing (421) MAIL:250 RCPT:421, close"}},
      {"disconnect mid-exchange keeps the partial replies",
       {srv(banner), srv(ehlo_plain), sub("<a@x.example>", {"<b@y.example>"}), srv("250 ok\r\n"),
        do_(act::eof)},
       {"> EHLO probe.example, greeting 220", "ready", "> MAIL FROM:<a@x.example>",
        "> RCPT TO:<b@y.example>", "failed disconnected MAIL:250 RCPT:?, close"}},
      {"timeout before the greeting", {do_(act::timeout)}, {"failed timeout, close"}},
      {"timeout mid-exchange",
       {srv(banner), srv(ehlo_plain), sub("<a@x.example>", {"<b@y.example>"}), do_(act::timeout)},
       {"> EHLO probe.example, greeting 220", "ready", "> MAIL FROM:<a@x.example>",
        "failed timeout MAIL:? RCPT:-, close"}},
      {"garbage reply is a protocol error",
       {srv(banner), srv("HTTP/1.1 400 Bad Request\r\n")},
       {"> EHLO probe.example, greeting 220", "failed protocol error, close"}},
      {"extra reply is a protocol error",
       {srv(banner), srv(ehlo_plain + "250 extra\r\n")},
       {"> EHLO probe.example, greeting 220", "ready, failed protocol error, close"}},
      {"unsolicited 421 while idle ends the session",
       {srv(banner), srv(ehlo_plain + "421 4.4.2 idle timeout\r\n")},
       {"> EHLO probe.example, greeting 220", "ready, failed service closing (421), close"}},
      {"QUIT at the end",
       {srv(banner), srv(ehlo_plain), do_(act::quit), srv("221 2.0.0 bye\r\n"),
        srv("250 late\r\n")},
       {"> EHLO probe.example, greeting 220", "ready", "> QUIT", "closed, close", ""}},
      {"QUIT answered by EOF",
       {srv(banner), srv(ehlo_plain), do_(act::quit), do_(act::eof)},
       {"> EHLO probe.example, greeting 220", "ready", "> QUIT", "closed, close"}},
      {"QUIT answered by timeout",
       {srv(banner), srv(ehlo_plain), do_(act::quit), do_(act::timeout)},
       {"> EHLO probe.example, greeting 220", "ready", "> QUIT", "closed, close"}},
      {"XCLIENT accepted: EHLO again, then the envelope",
       {srv(banner), srv(ehlo_pipe), sub("<a@x.example>", {"<b@y.example>"}, "ADDR=127.0.0.1"),
        srv("220 mx ESMTP\r\n"), srv(ehlo_pipe), srv("250 ok\r\n250 ok\r\n")},
       {"> EHLO probe.example, greeting 220", "ready", "> XCLIENT ADDR=127.0.0.1",
        "> EHLO probe.example", "> MAIL FROM:<a@x.example>|RCPT TO:<b@y.example>",
        "done XCLIENT:220 EHLO:250 MAIL:250 RCPT:250"}},
      {"XCLIENT refused: nothing more",
       {srv(banner), srv(ehlo_pipe), sub("<a@x.example>", {"<b@y.example>"}, "ADDR=127.0.0.1"),
        srv("502 5.5.2 Error: command not recognized\r\n")},
       {"> EHLO probe.example, greeting 220", "ready", "> XCLIENT ADDR=127.0.0.1",
        "done XCLIENT:502 EHLO:- MAIL:- RCPT:-"}},
      {"settle: unsolicited answer to a preamble, then EHLO",
       {srv(banner + "500 5.5.2 unknown command\r\n"), do_(act::settled), srv(ehlo_plain)},
       {"greeting 220, unsolicited 500, settle", "> EHLO probe.example", "ready"},
       settle_cfg},
      {"settle: quiet, then EHLO",
       {srv(banner), do_(act::settled), srv(ehlo_plain), do_(act::settled)},
       {"greeting 220, settle", "> EHLO probe.example", "ready", ""},
       settle_cfg},
      {"STARTTLS accepted: EHLO again after the handshake",
       {srv(banner), srv("250-mx\r\n250 STARTTLS\r\n"), do_(act::starttls),
        srv("220 2.0.0 Ready to start TLS\r\n"), do_(act::tls), srv(ehlo_pipe)},
       {"> EHLO probe.example, greeting 220", "ready", "> STARTTLS", "starttls-ready",
        "> EHLO probe.example", "ready"}},
      {"STARTTLS refused: still usable",
       {srv(banner), srv(ehlo_plain), do_(act::starttls), srv("454 4.7.0 TLS not available\r\n"),
        sub("<>", {"<b@y.example>"})},
       {"> EHLO probe.example, greeting 220", "ready", "> STARTTLS", "starttls-refused 454",
        "> MAIL FROM:<>"}},
      {"bytes injected after STARTTLS 220",
       {srv(banner), srv(ehlo_plain), do_(act::starttls), srv("220 go ahead\r\n250 injected\r\n")},
       {"> EHLO probe.example, greeting 220", "ready", "> STARTTLS",
        "starttls-ready, failed protocol error, close"}},
      {"HELO name is cleaned of CR and LF",
       {srv(banner)},
       {"> EHLO aDATA, greeting 220"},
       dirty_helo},
      {"a batch in one write, QUIT with it, one done per envelope",
       {srv(banner), srv(ehlo_pipe),
        bat({env("<a@x.example>", "<b@y.example>"), env("<>", "<c@y.example>")}, true),
        srv("250 ok\r\n554 no\r\n250 ok\r\n"), srv("250 ok\r\n250 ok\r\n221 bye\r\n")},
       {"> EHLO probe.example, greeting 220", "ready",
        "> MAIL FROM:<a@x.example>|RCPT TO:<b@y.example>|RSET|MAIL FROM:<>|RCPT "
        "TO:<c@y.example>|QUIT",
        "done MAIL:250 RCPT:554", "done RSET:250 MAIL:250 RCPT:250, closed, close"}},
      {"a batch without QUIT: ready again, RSET before the next",
       {srv(banner), srv(ehlo_pipe),
        bat({env("<a@x.example>", "<b@y.example>"), env("<>", "<c@y.example>")}, false),
        srv("250 ok\r\n554 no\r\n250 ok\r\n250 ok\r\n250 ok\r\n"),
        sub("<a@x.example>", {"<d@y.example>"})},
       {"> EHLO probe.example, greeting 220", "ready",
        "> MAIL FROM:<a@x.example>|RCPT TO:<b@y.example>|RSET|MAIL FROM:<>|RCPT TO:<c@y.example>",
        "done MAIL:250 RCPT:554, done RSET:250 MAIL:250 RCPT:250",
        "> RSET|MAIL FROM:<a@x.example>|RCPT TO:<d@y.example>"}},
      {"a batch, MAIL refused in the first: its RCPT answered, the second judged alone",
       {srv(banner), srv(ehlo_pipe),
        bat({env("<a@x.example>", "<b@y.example>"), env("<>", "<c@y.example>")}, true),
        srv("553 5.1.8 no\r\n503 5.5.1 need MAIL\r\n250 ok\r\n250 ok\r\n550 no\r\n"),
        do_(act::eof)},
       {"> EHLO probe.example, greeting 220", "ready",
        "> MAIL FROM:<a@x.example>|RCPT TO:<b@y.example>|RSET|MAIL FROM:<>|RCPT "
        "TO:<c@y.example>|QUIT",
        "done MAIL:553 RCPT:503, done RSET:250 MAIL:250 RCPT:550", "closed, close"}},
      {"a batch without PIPELINING: one command at a time, MAIL refused skips only its RCPT",
       {srv(banner), srv(ehlo_plain),
        bat({env("<a@x.example>", "<b@y.example>"), env("<>", "<c@y.example>")}, true),
        srv("553 no\r\n"), srv("250 ok\r\n"), srv("250 ok\r\n"), srv("250 ok\r\n"),
        srv("221 bye\r\n")},
       {"> EHLO probe.example, greeting 220", "ready", "> MAIL FROM:<a@x.example>",
        "> RSET, done MAIL:553 RCPT:-", "> MAIL FROM:<>", "> RCPT TO:<c@y.example>",
        "> QUIT, done RSET:250 MAIL:250 RCPT:250", "closed, close"}},
      {"a batch ending in XCLIENT: it closes the group, QUIT waits for its reply",
       {srv(banner), srv(ehlo_pipe),
        bat({env("<a@x.example>", "<b@y.example>"),
             env("<a@x.example>", "<b@y.example>", "ADDR=127.0.0.1")},
            true),
        srv("250 ok\r\n554 no\r\n250 ok\r\n502 5.5.2 what\r\n"), srv("221 bye\r\n")},
       {"> EHLO probe.example, greeting 220", "ready",
        "> MAIL FROM:<a@x.example>|RCPT TO:<b@y.example>|RSET|XCLIENT ADDR=127.0.0.1",
        "> QUIT, done MAIL:250 RCPT:554, done RSET:250 XCLIENT:502 EHLO:- MAIL:- RCPT:-",
        "closed, close"}},
      {"421 in the second envelope of a batch: the first done, the second failed",
       {srv(banner), srv(ehlo_pipe),
        bat({env("<a@x.example>", "<b@y.example>"), env("<>", "<c@y.example>"),
             env("<>", "<d@y.example>")},
            true),
        srv("250 ok\r\n554 no\r\n250 ok\r\n421 4.7.0 too many errors\r\n")},
       {"> EHLO probe.example, greeting 220", "ready",
        "> MAIL FROM:<a@x.example>|RCPT TO:<b@y.example>|RSET|MAIL FROM:<>|RCPT "
        "TO:<c@y.example>|RSET|MAIL FROM:<>|RCPT TO:<d@y.example>|QUIT",
        "done MAIL:250 RCPT:554, failed service closing (421) RSET:250 MAIL:421 RCPT:?, close"}},
      {"a batch refused when one envelope could inject a command",
       {srv(banner), srv(ehlo_pipe),
        bat({env("<a@x.example>", "<b@y.example>"), env("<>", "<c@y>\r\nDATA")}, true),
        bat({}, true)},
       {"> EHLO probe.example, greeting 220", "ready", "submit error: RCPT TO holds CR, LF or NUL",
        "submit error: no envelope"}},
      {"nothing after close",
       {srv("421 bye\r\n"), srv("250 ok\r\n"), do_(act::eof), do_(act::timeout)},
       {"failed service closing (421), close", "", "", ""}},
  };
}

TEST(ClientSession, Dialogues) {
  for (const auto& c : dialogue_cases()) {
    client_session s(c.cfg);
    std::vector<std::string> got;
    for (const auto& a : c.acts) {
      client_step st;
      switch (a.kind) {
        case act::server:
          st = s.feed(a.bytes);
          break;
        case act::submit: {
          auto r = s.submit(a.env);
          if (!r) {
            got.push_back("submit error: " + r.error());
            continue;
          }
          st = std::move(*r);
          break;
        }
        case act::batch: {
          auto r = s.submit(a.envs, a.quit_after);
          if (!r) {
            got.push_back("submit error: " + r.error());
            continue;
          }
          st = std::move(*r);
          break;
        }
        case act::quit:
          st = s.quit();
          break;
        case act::timeout:
          st = s.timeout();
          break;
        case act::eof:
          st = s.disconnected();
          break;
        case act::settled:
          st = s.settled();
          break;
        case act::starttls: {
          auto r = s.starttls();
          if (!r) {
            got.push_back("starttls error: " + r.error());
            continue;
          }
          st = std::move(*r);
          break;
        }
        case act::tls:
          st = s.tls_started();
          break;
      }
      got.push_back(transcript(st));
    }
    EXPECT_EQ(join(got, "\n"), join(c.want, "\n")) << "case: " << c.name;
  }
}

// submit() refuses what could inject a command, and refuses when not ready.
TEST(ClientSession, SubmitRefusals) {
  const struct {
    std::string name;
    envelope env;
  } cases[] = {
      {"CRLF in MAIL", {"", "<a@x>\r\nDATA", {"<b@y>"}}},
      {"LF in RCPT", {"", "<a@x>", {"<b@y>\nDATA"}}},
      {"CR in XCLIENT", {"ADDR=1\rDATA", "<a@x>", {"<b@y>"}}},
      {"NUL in RCPT", {"", "<a@x>", {std::string("<b\0@y>", 6)}}},
      {"no RCPT", {"", "<a@x>", {}}},
      {"over-long RCPT", {"", "<a@x>", {"<" + std::string(1200, 'b') + "@y>"}}},
  };
  for (const auto& c : cases) {
    client_session s(client_config{});
    s.feed(banner);
    s.feed(ehlo_plain);
    ASSERT_TRUE(s.ready());
    auto r = s.submit(c.env);
    EXPECT_FALSE(r.has_value()) << "case: " << c.name
                                << " got bytes: " << (r ? r->send : std::string());
    EXPECT_TRUE(s.ready()) << "case: " << c.name;
  }
  client_session fresh(client_config{});
  auto r = fresh.submit(envelope{"", "<a@x>", {"<b@y>"}});
  EXPECT_FALSE(r.has_value()) << "submit before the greeting must be refused";
}

// Whatever the server says, the client never writes DATA or BDAT.
TEST(ClientSession, NeverSendsData) {
  const std::vector<std::string> server_lines = {
      "220 x\r\n",  "250-x\r\n250-PIPELINING\r\n250 CHUNKING\r\n",
      "250 ok\r\n", "354 go ahead\r\n",
      "250 ok\r\n", "250 ok\r\n",
      "221 bye\r\n"};
  client_session s(client_config{});
  std::string written;
  for (const auto& l : server_lines) {
    written += s.feed(l).send;
    if (s.ready()) {
      auto r = s.submit(envelope{"", "<a@x>", {"<b@y>"}});
      if (r) written += r->send;
    }
  }
  EXPECT_EQ(written.find("DATA"), std::string::npos) << "written: " << written;
  EXPECT_EQ(written.find("BDAT"), std::string::npos) << "written: " << written;
}

}  // namespace
}  // namespace mx::smtp
