#include "smtp/session.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace mx::smtp {
namespace {

// Answers the session's requests as a shell would: every sender, recipients in example.test
// (anything else 554 5.7.1), every message 250 (its content is recorded).
struct fake_shell {
  std::vector<std::string> messages;
  std::vector<std::string> auths;
  std::vector<std::string> senders;
  std::function<reply(const session_request&)> decide = [this](const session_request& req) {
    if (const auto* s = std::get_if<sender_request>(&req)) {
      senders.push_back(s->sender.mailbox());
      return server_session::sender_ok();
    }
    if (const auto* r = std::get_if<recipient_request>(&req)) {
      if (r->recipient.domain_key == "example.test" || r->recipient.has(address_flag::unqualified)) {
        return server_session::recipient_ok();
      }
      return reply::make(554, "5.7.1", "<" + r->recipient.mailbox() + ">: Relay access denied");
    }
    if (const auto* a = std::get_if<auth_request>(&req)) {
      auths.push_back(a->mechanism + ":" + a->user + ":" + a->password);
      return a->user == "alice" && a->password == "secret"
                 ? reply::make(235, "2.7.0", "Authentication successful")
                 : reply::make(535, "5.7.8", "Error: authentication failed");
    }
    messages.push_back(std::get<message_request>(req).content);
    return reply::make(250, "2.0.0", "Ok: queued");
  };
};

std::string summary(const reply& r) {
  return r.enhanced.empty() ? std::to_string(r.code) : fmt::format("{} {}", r.code, r.enhanced);
}

// Feeds bytes and answers every request; returns reply summaries ("250 2.1.0", "354").
std::vector<std::string> drive(server_session& s, fake_shell& shell, std::string_view bytes) {
  std::vector<std::string> got;
  step st = s.feed(bytes);
  for (;;) {
    for (const auto& r : st.replies) got.push_back(summary(r));
    if (!st.request) break;
    if (std::holds_alternative<starttls_request>(*st.request)) {
      got.emplace_back("<handshake>");
      st = s.tls_established();
      continue;
    }
    st = s.resolve(shell.decide(*st.request));
  }
  return got;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " | ") + s;
  return out;
}

struct dialogue_case {
  std::string name;
  std::vector<std::string> client;  // one feed() each
  std::vector<std::string> want;    // reply summaries after the greeting, over all feeds
  bool want_closed = false;
  session_config cfg = {};
};

session_config small_cfg() {
  session_config c;
  c.hostname = "mx.example.test";
  c.max_recipients = 2;
  c.max_message_size = 200;
  c.max_errors = 10;
  return c;
}

const std::string hello = "EHLO client.example\r\n";
const std::string mail = "MAIL FROM:<a@sender.example>\r\n";
const std::string rcpt = "RCPT TO:<b@example.test>\r\n";

std::vector<dialogue_case> dialogue_cases() {
  return {
      {"helo", {"HELO client\r\n"}, {"250"}},
      {"ehlo without name", {"EHLO\r\n"}, {"501 5.5.4"}},
      {"helo with two words", {"HELO a b\r\n"}, {"501 5.5.4"}},
      {"lower-case verbs", {"ehlo c\r\n", "mail from:<a@b.example>\r\n"}, {"250", "250 2.1.0"}},
      {"mail before helo", {mail}, {"503 5.5.1"}},
      {"rcpt before mail", {hello, rcpt}, {"250", "503 5.5.1"}},
      {"data before mail", {hello, "DATA\r\n"}, {"250", "503 5.5.1"}},
      {"data without valid recipients", {hello, mail, "RCPT TO:<x@elsewhere.example>\r\n", "DATA\r\n"},
       {"250", "250 2.1.0", "554 5.7.1", "554 5.5.1"}},
      {"data with argument", {hello, mail, rcpt, "DATA x\r\n"}, {"250", "250 2.1.0", "250 2.1.5", "501 5.5.4"}},
      {"unknown command", {"FOO\r\n"}, {"500 5.5.2"}},
      {"empty line", {"\r\n"}, {"500 5.5.2"}},
      {"not implemented", {"EXPN list\r\n", "BDAT 10\r\n", "STARTTLS\r\n"}, {"502 5.5.1", "502 5.5.1", "502 5.5.1"}},
      {"nested mail", {hello, mail, mail}, {"250", "250 2.1.0", "503 5.5.1"}},
      {"mail syntax", {hello, "MAIL TO:<a@b.example>\r\n", "MAIL <a@b.example>\r\n"}, {"250", "501 5.5.4", "501 5.5.4"}},
      {"mail space after colon", {hello, "MAIL FROM: <a@b.example>\r\n"}, {"250", "250 2.1.0"}},
      {"null sender", {hello, "MAIL FROM:<>\r\n"}, {"250", "250 2.1.0"}},
      {"bad sender", {hello, "MAIL FROM:<a@@b>\r\n"}, {"250", "501 5.1.7"}},
      {"sender without brackets", {hello, "MAIL FROM:a@b.example\r\n"}, {"250", "501 5.1.7"}},
      {"junk after path", {hello, "MAIL FROM:<a@b.example>x\r\n"}, {"250", "501 5.1.7"}},
      {"bad recipient", {hello, mail, "RCPT TO:<b@>\r\n"}, {"250", "250 2.1.0", "501 5.1.3"}},
      {"null recipient", {hello, mail, "RCPT TO:<>\r\n"}, {"250", "250 2.1.0", "501 5.1.3"}},
      {"unqualified recipient", {hello, mail, "RCPT TO:<bob>\r\n"}, {"250", "250 2.1.0", "501 5.1.3"}},
      {"postmaster unqualified", {hello, mail, "RCPT TO:<Postmaster>\r\n"}, {"250", "250 2.1.0", "250 2.1.5"}},
      {"rcpt syntax", {hello, mail, "RCPT <b@example.test>\r\n"}, {"250", "250 2.1.0", "501 5.5.4"}},
      {"rcpt parameter", {hello, mail, "RCPT TO:<b@example.test> NOTIFY=NEVER\r\n"}, {"250", "250 2.1.0", "555 5.5.4"}},
      {"relay refused by the shell", {hello, mail, "RCPT TO:<x@relay.example>\r\n"}, {"250", "250 2.1.0", "554 5.7.1"}},
      {"size ok", {hello, "MAIL FROM:<a@b.example> SIZE=100\r\n"}, {"250", "250 2.1.0"}},
      {"size too big", {hello, "MAIL FROM:<a@b.example> SIZE=201\r\n"}, {"250", "552 5.3.4"}, false, small_cfg()},
      {"size overflow", {hello, "MAIL FROM:<a@b.example> SIZE=99999999999999999999999\r\n"}, {"250", "552 5.3.4"}},
      {"size not a number", {hello, "MAIL FROM:<a@b.example> SIZE=1x\r\n"}, {"250", "501 5.5.4"}},
      {"size twice", {hello, "MAIL FROM:<a@b.example> SIZE=1 SIZE=2\r\n"}, {"250", "555 5.5.4"}},
      {"body 8bitmime", {hello, "MAIL FROM:<a@b.example> BODY=8BITMIME\r\n"}, {"250", "250 2.1.0"}},
      {"body 7bit", {hello, "MAIL FROM:<a@b.example> body=7bit\r\n"}, {"250", "250 2.1.0"}},
      {"body binarymime", {hello, "MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n"}, {"250", "501 5.5.4"}},
      {"unknown parameter", {hello, "MAIL FROM:<a@b.example> FOO=1\r\n"}, {"250", "555 5.5.4"}},
      {"empty parameter value", {hello, "MAIL FROM:<a@b.example> SIZE=\r\n"}, {"250", "501 5.5.4"}},
      {"parameters after HELO", {"HELO c\r\n", "MAIL FROM:<a@b.example> SIZE=10\r\n"}, {"250", "555 5.5.4"}},
      {"smtputf8", {hello, "MAIL FROM:<j\xc3\xb6rg@b.example> SMTPUTF8\r\n", "RCPT TO:<b\xc3\xb6@example.test>\r\n"},
       {"250", "250 2.1.0", "250 2.1.5"}},
      {"utf8 sender without SMTPUTF8", {hello, "MAIL FROM:<j\xc3\xb6rg@b.example>\r\n"}, {"250", "553 5.6.7"}},
      {"utf8 recipient without SMTPUTF8", {hello, mail, "RCPT TO:<b\xc3\xb6@example.test>\r\n"},
       {"250", "250 2.1.0", "553 5.6.7"}},
      {"max recipients", {hello, mail, rcpt, rcpt, rcpt}, {"250", "250 2.1.0", "250 2.1.5", "250 2.1.5", "452 4.5.3"}, false, small_cfg()},
      {"rset", {hello, mail, "RSET\r\n", rcpt}, {"250", "250 2.1.0", "250 2.0.0", "503 5.5.1"}},
      {"rset with argument", {"RSET x\r\n"}, {"501 5.5.4"}},
      {"ehlo resets the transaction", {hello, mail, hello, rcpt}, {"250", "250 2.1.0", "250", "503 5.5.1"}},
      {"noop", {"NOOP\r\n", "NOOP anything\r\n"}, {"250 2.0.0", "250 2.0.0"}},
      {"vrfy never discloses", {"VRFY root\r\n", "VRFY\r\n"}, {"252 2.0.0", "501 5.5.4"}},
      {"help", {"HELP\r\n"}, {"214 2.0.0"}},
      {"quit", {"QUIT\r\n", "NOOP\r\n"}, {"221 2.0.0"}, true},
      {"http verb", {"GET / HTTP/1.0\r\n"}, {"521 5.7.0"}, true},
      {"full transaction", {hello, mail, rcpt, "DATA\r\n", "Subject: x\r\n\r\nbody\r\n.\r\n", "QUIT\r\n"},
       {"250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "221 2.0.0"}, true},
      {"pipelined transaction", {hello, mail + rcpt + "DATA\r\n", "body\r\n.\r\n"},
       {"250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0"}},
      {"transaction after message", {hello, mail, rcpt, "DATA\r\n", "x\r\n.\r\n", rcpt},
       {"250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "503 5.5.1"}},
      // Line limits (RFC 5321 4.5.3.1).
      {"command line 512 with CRLF", {"NOOP " + std::string(505, 'x') + "\r\n"}, {"250 2.0.0"}},
      {"command line 513 with CRLF", {"NOOP " + std::string(506, 'x') + "\r\n", "NOOP\r\n"}, {"500 5.5.2", "250 2.0.0"}},
      {"over-long line split over feeds", {std::string(400, 'x'), std::string(400, 'y'), std::string(400, 'z') + "\r\nNOOP\r\n"},
       {"500 5.5.2", "250 2.0.0"}},
      {"over-long line ending in CR then LF", {std::string(600, 'x') + "\r", "\nNOOP\r\n"}, {"500 5.5.2", "250 2.0.0"}},
      {"bare LF in a command", {"NOOP\nNOOP\r\n", "NOOP\r\n"}, {"500 5.5.2", "250 2.0.0"}},
      {"bare CR in a command", {"NO\rOP\r\n"}, {"500 5.5.2"}},
      {"NUL in a command", {std::string("NOOP\0\r\n", 7)}, {"500 5.5.2"}},
      {"LF-only mail command never runs", {hello, "MAIL FROM:<a@b.example>\nRCPT TO:<b@example.test>\r\n"}, {"250", "500 5.5.2"}},
      // Pipelining discipline (RFC 2920 3.1).
      {"data after EHLO in the same write", {"EHLO c\r\nMAIL FROM:<a@b.example>\r\n"}, {"554 5.5.0"}, true},
      {"message in the DATA write", {hello, mail, rcpt, "DATA\r\nSubject: x\r\n.\r\n"}, {"250", "250 2.1.0", "250 2.1.5", "554 5.5.0"}, true},
      {"anything after NOOP", {"NOOP\r\nNOOP\r\n"}, {"554 5.5.0"}, true},
      {"RSET MAIL RCPT pipelined", {hello, "RSET\r\n" + mail + rcpt + rcpt}, {"250", "250 2.0.0", "250 2.1.0", "250 2.1.5", "250 2.1.5"}},
      // Data.
      {"empty message", {hello, mail, rcpt, "DATA\r\n", ".\r\n"}, {"250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0"}},
      {"message too big", {hello, mail, rcpt, "DATA\r\n", std::string(150, 'x') + "\r\n" + std::string(60, 'y') + "\r\n.\r\n", "NOOP\r\n"},
       {"250", "250 2.1.0", "250 2.1.5", "354", "552 5.3.4", "250 2.0.0"}, false, small_cfg()},
      {"text line of 1000 with CRLF", {hello, mail, rcpt, "DATA\r\n", std::string(998, 'x') + "\r\n.\r\n"},
       {"250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0"}},
      {"text line of 1001 with CRLF", {hello, mail, rcpt, "DATA\r\n", std::string(999, 'x') + "\r\n.\r\n"},
       {"250", "250 2.1.0", "250 2.1.5", "354", "550 5.6.0"}},
      {"huge line over several feeds", {hello, mail, rcpt, "DATA\r\n", std::string(5000, 'x'), std::string(5000, 'x'), "\r\n.\r\n", "NOOP\r\n"},
       {"250", "250 2.1.0", "250 2.1.5", "354", "550 5.6.0", "250 2.0.0"}},
      // Errors and pregreet.
      {"too many errors", {"A\r\n", "B\r\n", "C\r\n", "D\r\n", "E\r\n", "F\r\n", "G\r\n", "H\r\n", "I\r\n", "J\r\n", "NOOP\r\n"},
       {"500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "421 4.7.0"}, true},
  };
}

TEST(server_session, dialogues) {
  for (const auto& c : dialogue_cases()) {
    session_config cfg = c.cfg;
    server_session s(cfg);
    fake_shell shell;
    const step greeting = s.greet();
    ASSERT_EQ(greeting.replies.size(), 1u);
    EXPECT_EQ(greeting.replies[0].code, 220);
    std::vector<std::string> got;
    for (const auto& chunk : c.client) {
      for (auto& r : drive(s, shell, chunk)) got.push_back(r);
    }
    EXPECT_EQ(join(got), join(c.want)) << "case: " << c.name;
    EXPECT_EQ(s.closed(), c.want_closed) << "case: " << c.name;
  }
}

// Splitting the same client bytes at every point must not change the dialogue: the session is
// independent of how TCP segments the stream.
TEST(server_session, any_split_same_transcript) {
  const std::string stream_a = "MAIL FROM:<a@b.example>\r\nRCPT TO:<x@example.test>\r\nRCPT TO:<y@example.test>\r\nDATA\r\n";
  const std::string stream_b = "line one\r\n..dot\r\n.\r\n";
  auto run = [&](std::size_t cut_a, std::size_t cut_b) {
    server_session s({});
    fake_shell shell;
    s.greet();
    std::vector<std::string> got = drive(s, shell, hello);
    for (auto& r : drive(s, shell, stream_a.substr(0, cut_a))) got.push_back(r);
    for (auto& r : drive(s, shell, stream_a.substr(cut_a))) got.push_back(r);
    for (auto& r : drive(s, shell, stream_b.substr(0, cut_b))) got.push_back(r);
    for (auto& r : drive(s, shell, stream_b.substr(cut_b))) got.push_back(r);
    return join(got) + " / " + (shell.messages.empty() ? "-" : shell.messages[0]);
  };
  const std::string want = run(stream_a.size(), stream_b.size());
  EXPECT_EQ(want, "250 | 250 2.1.0 | 250 2.1.5 | 250 2.1.5 | 354 | 250 2.0.0 / line one\r\n.dot\r\n");
  for (std::size_t a = 0; a <= stream_a.size(); ++a) {
    for (std::size_t b = 0; b <= stream_b.size(); b += 3) {
      EXPECT_EQ(run(a, b), want) << "cut at " << a << " and " << b;
    }
  }
}

TEST(server_session, message_content_is_unstuffed) {
  struct content_case {
    std::string data;
    std::string want;
  };
  const content_case cases[] = {
      {".\r\n", ""},
      {"a\r\n.\r\n", "a\r\n"},
      {"..\r\n.\r\n", ".\r\n"},
      {"..a\r\n...b\r\n.\r\n", ".a\r\n..b\r\n"},
      {"a.\r\n.a\r\n.\r\n", "a.\r\na\r\n"},
      {"\r\n\r\n.\r\n", "\r\n\r\n"},
      {"8bit \xc3\xa9t\xc3\xa9\r\n.\r\n", "8bit \xc3\xa9t\xc3\xa9\r\n"},
  };
  for (const auto& c : cases) {
    server_session s({});
    fake_shell shell;
    s.greet();
    drive(s, shell, hello);
    drive(s, shell, mail + rcpt + "DATA\r\n");
    const auto got = drive(s, shell, c.data);
    ASSERT_EQ(shell.messages.size(), 1u) << "data: " << c.data << " replies: " << join(got);
    EXPECT_EQ(shell.messages[0], c.want) << "data: " << c.data;
  }
}

// SMTP smuggling (CVE-2023-51764 family): a fake end of data followed by a second transaction.
// Only CRLF.CRLF ends data; the message holding the fake end is refused and the smuggled
// commands never run.
TEST(server_session, smuggling_is_refused) {
  const std::string fake_ends[] = {
      "\n.\n",   "\r.\r",   "\n.\r\n", "\r.\r\n", "\r\n.\n", "\r\n.\r",
      "\n..\n",  std::string("\r\n\0.\r\n", 6), "\n.\r",
  };
  for (const auto& fake : fake_ends) {
    server_session s({});
    fake_shell shell;
    s.greet();
    drive(s, shell, hello);
    drive(s, shell, mail + rcpt + "DATA\r\n");
    const std::string smuggled = "Subject: real\r\n\r\nbody" + fake +
                                 "MAIL FROM:<admin@bank.example>\r\nRCPT TO:<b@example.test>\r\n"
                                 "DATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n";
    const auto got = drive(s, shell, smuggled);
    std::string shown;
    for (char ch : fake) shown += ch == '\r' ? "<CR>" : ch == '\n' ? "<LF>" : ch == '\0' ? "<NUL>" : std::string(1, ch);
    EXPECT_EQ(join(got), "550 5.6.0") << "fake end: " << shown;
    EXPECT_TRUE(shell.messages.empty()) << "fake end: " << shown;
    EXPECT_EQ(shell.senders.size(), 1u) << "smuggled MAIL ran; fake end: " << shown;
    EXPECT_FALSE(s.closed()) << "fake end: " << shown;
    // The session is in sync afterwards.
    EXPECT_EQ(join(drive(s, shell, "NOOP\r\n")), "250 2.0.0") << "fake end: " << shown;
  }
}

TEST(server_session, ehlo_advertises_extensions) {
  session_config cfg;
  cfg.hostname = "mx.example.test";
  cfg.max_message_size = 12345;
  server_session s(cfg);
  s.greet();
  const step st = s.feed("EHLO c\r\n");
  ASSERT_EQ(st.replies.size(), 1u);
  EXPECT_EQ(st.wire(),
            "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 12345\r\n250-8BITMIME\r\n"
            "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n");
  cfg.smtputf8 = false;
  server_session s2(cfg);
  s2.greet();
  EXPECT_EQ(s2.feed("EHLO c\r\n").replies[0].lines.back(), "ENHANCEDSTATUSCODES");
  EXPECT_EQ(s2.feed("MAIL FROM:<a@b.example> SMTPUTF8\r\n").replies[0].code, 555);
}

TEST(server_session, greeting_and_pregreet) {
  session_config cfg;
  cfg.hostname = "mx.example.test";
  {
    server_session s(cfg);
    const step st = s.feed("EHLO early\r\n");
    EXPECT_TRUE(st.pregreet);
    EXPECT_EQ(st.wire(), "554 5.5.0 Error: talked before the greeting\r\n");
    EXPECT_TRUE(s.closed());
    EXPECT_TRUE(s.greet().replies.empty());
  }
  {
    cfg.reject_pregreet = false;
    server_session s(cfg);
    const step st = s.feed("EHLO early\r\n");
    EXPECT_TRUE(st.pregreet);
    EXPECT_TRUE(st.replies.empty());
    const step g = s.greet();
    ASSERT_EQ(g.replies.size(), 2u);
    EXPECT_EQ(g.replies[0].wire(), "220 mx.example.test ESMTP\r\n");
    EXPECT_EQ(g.replies[1].code, 250);
  }
}

TEST(server_session, decisions_hold_input) {
  server_session s({});
  s.greet();
  s.feed(hello);
  step st = s.feed(mail + rcpt);
  ASSERT_TRUE(st.request.has_value());
  EXPECT_TRUE(std::holds_alternative<sender_request>(*st.request));
  EXPECT_EQ(s.current_phase(), phase::deciding);
  EXPECT_TRUE(st.replies.empty());
  // More input while deciding is only buffered.
  EXPECT_TRUE(s.feed("RSET\r\n").replies.empty());
  st = s.resolve(server_session::sender_ok());
  ASSERT_EQ(st.replies.size(), 1u);
  ASSERT_TRUE(st.request.has_value());
  EXPECT_TRUE(std::holds_alternative<recipient_request>(*st.request));
  st = s.resolve(reply::make(450, "4.7.1", "try later"));
  EXPECT_EQ(st.wire(), "450 4.7.1 try later\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(s.rejections(), 1u);
  EXPECT_EQ(s.current_phase(), phase::command);
}

TEST(server_session, storage_failure_and_shutdown_answers) {
  server_session s({});
  s.greet();
  s.feed(hello);
  step st = s.feed(mail);
  st = s.resolve(server_session::sender_ok());
  st = s.feed(rcpt);
  st = s.resolve(server_session::recipient_ok());
  st = s.feed("DATA\r\n");
  EXPECT_EQ(s.current_phase(), phase::data);
  st = s.feed("x\r\n.\r\n");
  ASSERT_TRUE(st.request.has_value());
  st = s.resolve(reply::make(451, "4.3.0", "Error: queue file write error"));
  EXPECT_EQ(st.wire(), "451 4.3.0 Error: queue file write error\r\n");
  EXPECT_FALSE(s.current_transaction().sender.has_value());
  EXPECT_FALSE(s.closed());
  st = s.feed(mail);
  st = s.resolve(reply::make(421, "4.3.2", "Service shutting down"));
  EXPECT_TRUE(st.close);
  EXPECT_TRUE(s.closed());
}

TEST(server_session, timeout_closes) {
  session_config cfg;
  cfg.hostname = "mx.example.test";
  server_session s(cfg);
  s.greet();
  const step st = s.timeout();
  EXPECT_EQ(st.wire(), "421 4.4.2 mx.example.test Error: timeout exceeded\r\n");
  EXPECT_TRUE(st.close);
  EXPECT_EQ(s.current_phase(), phase::closed);
  EXPECT_TRUE(s.feed("NOOP\r\n").replies.empty());
}

TEST(server_session, policy_rejections_have_their_own_limit) {
  session_config cfg;
  cfg.max_errors = 2;
  cfg.max_rejections = 3;
  server_session s(cfg);
  fake_shell shell;
  s.greet();
  drive(s, shell, hello);
  drive(s, shell, mail);
  // One protocol error does not combine with refusals to reach either limit early.
  EXPECT_EQ(join(drive(s, shell, "BOGUS\r\n")), "500 5.5.2");
  const auto got = drive(s, shell, "RCPT TO:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nRCPT TO:<c@x.example>\r\n");
  EXPECT_EQ(join(got), "554 5.7.1 | 554 5.7.1 | 554 5.7.1 | 421 4.7.0");
  EXPECT_EQ(s.errors(), 1u);
  EXPECT_EQ(s.rejections(), 3u);
  EXPECT_TRUE(s.closed());
}

TEST(reply, wire_never_splits_on_client_text) {
  const reply r = reply::make(554, "5.7.1", "<a\r\n250 ok@x>: Relay access denied");
  EXPECT_EQ(r.wire(), "554 5.7.1 <a  250 ok@x>: Relay access denied\r\n");
  const reply multi{250, "", {"mx", "PIPELINING"}};
  EXPECT_EQ(multi.wire(), "250-mx\r\n250 PIPELINING\r\n");
}

}  // namespace
}  // namespace mx::smtp

namespace mx::smtp {
namespace {

TEST(server_session, command_summary) {
  server_session s({});
  fake_shell shell;
  s.greet();
  drive(s, shell, hello);
  drive(s, shell, mail);
  drive(s, shell, rcpt);
  drive(s, shell, "RCPT TO:<x@elsewhere.example>\r\n");
  drive(s, shell, "DATA\r\n");
  drive(s, shell, "x\r\n.\r\n");
  drive(s, shell, "BOGUS\r\n");
  drive(s, shell, "QUIT\r\n");
  EXPECT_EQ(s.command_summary(), "ehlo=1 mail=1 rcpt=1/2 data=1 quit=1 unknown=0/1 commands=5/7");
}

}  // namespace
}  // namespace mx::smtp

namespace mx::smtp {
namespace {

session_config tls_cfg() {
  session_config c;
  c.hostname = "mx.example.test";
  c.tls_available = true;
  c.auth_available = true;
  return c;
}

session_config submission_cfg() {
  session_config c = tls_cfg();
  c.require_tls = true;
  c.require_auth = true;
  return c;
}

session_config implicit_tls_submission_cfg() {
  session_config c = submission_cfg();
  c.tls_active = true;
  return c;
}

// "\0alice\0secret" and friends.
const std::string plain_ok = "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n";
const std::string plain_bad = "AUTH PLAIN AGFsaWNlAHdyb25n\r\n";  // alice / wrong

TEST(server_session, starttls_and_auth_dialogues) {
  const dialogue_case cases[] = {
      {"starttls then ehlo again", {hello, "STARTTLS\r\n", hello}, {"250", "220 2.0.0", "<handshake>", "250"}, false, tls_cfg()},
      {"starttls resets helo", {hello, "STARTTLS\r\n", mail}, {"250", "220 2.0.0", "<handshake>", "503 5.5.1"}, false, tls_cfg()},
      {"starttls resets the transaction", {hello, mail, "STARTTLS\r\n", "EHLO c\r\n", rcpt}, {"250", "250 2.1.0", "220 2.0.0", "<handshake>", "250", "503 5.5.1"}, false, tls_cfg()},
      // CVE-2011-0411: commands injected after STARTTLS in the same write never run.
      {"injected plaintext is discarded", {hello, "STARTTLS\r\nRSET\r\nMAIL FROM:<x@evil.example>\r\n", "EHLO c\r\n"}, {"250", "220 2.0.0", "<handshake>", "250"}, false, tls_cfg()},
      {"second starttls", {hello, "STARTTLS\r\n", hello, "STARTTLS\r\n"}, {"250", "220 2.0.0", "<handshake>", "250", "503 5.5.1"}, false, tls_cfg()},
      {"starttls with argument", {hello, "STARTTLS x\r\n"}, {"250", "501 5.5.4"}, false, tls_cfg()},
      {"starttls not offered", {hello, "STARTTLS\r\n"}, {"250", "502 5.5.1"}},
      {"auth before tls", {hello, plain_ok}, {"250", "538 5.7.11"}, false, tls_cfg()},
      {"auth plain after tls", {hello, "STARTTLS\r\n", hello, plain_ok}, {"250", "220 2.0.0", "<handshake>", "250", "235 2.7.0"}, false, tls_cfg()},
      {"auth plain wrong password", {hello, "STARTTLS\r\n", hello, plain_bad}, {"250", "220 2.0.0", "<handshake>", "250", "535 5.7.8"}, false, tls_cfg()},
      {"auth plain in two steps", {"EHLO c\r\n", "AUTH PLAIN\r\n", "AGFsaWNlAHNlY3JldA==\r\n"}, {"250", "334", "235 2.7.0"}, false, implicit_tls_submission_cfg()},
      {"auth plain empty initial response", {"EHLO c\r\n", "AUTH PLAIN =\r\n"}, {"250", "501 5.5.2"}, false, implicit_tls_submission_cfg()},
      {"auth login", {"EHLO c\r\n", "AUTH LOGIN\r\n", "YWxpY2U=\r\n", "c2VjcmV0\r\n"}, {"250", "334", "334", "235 2.7.0"}, false, implicit_tls_submission_cfg()},
      {"auth login with initial user", {"EHLO c\r\n", "AUTH LOGIN YWxpY2U=\r\n", "c2VjcmV0\r\n"}, {"250", "334", "235 2.7.0"}, false, implicit_tls_submission_cfg()},
      {"auth cancelled", {"EHLO c\r\n", "AUTH LOGIN\r\n", "*\r\n", "NOOP\r\n"}, {"250", "334", "501 5.7.0", "250 2.0.0"}, false, implicit_tls_submission_cfg()},
      {"auth bad base64", {"EHLO c\r\n", "AUTH PLAIN\r\n", "not base64!\r\n"}, {"250", "334", "501 5.5.2"}, false, implicit_tls_submission_cfg()},
      {"auth sloppy base64", {"EHLO c\r\n", "AUTH PLAIN AGFsaWNlAHNlY3JldA\r\n"}, {"250", "501 5.5.2"}, false, implicit_tls_submission_cfg()},
      {"auth plain proxy identity", {"EHLO c\r\n", "AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==\r\n"}, {"250", "501 5.5.2"}, false, implicit_tls_submission_cfg()},
      {"auth unknown mechanism", {"EHLO c\r\n", "AUTH CRAM-MD5\r\n"}, {"250", "504 5.5.4"}, false, implicit_tls_submission_cfg()},
      {"auth twice", {"EHLO c\r\n", plain_ok, plain_ok}, {"250", "235 2.7.0", "503 5.5.1"}, false, implicit_tls_submission_cfg()},
      {"auth before ehlo", {plain_ok}, {"503 5.5.1"}, false, implicit_tls_submission_cfg()},
      {"auth not offered", {hello, plain_ok}, {"250", "502 5.5.1"}},
      {"auth inside a transaction", {"EHLO c\r\n", plain_ok, mail, plain_ok}, {"250", "235 2.7.0", "250 2.1.0", "503 5.5.1"}, false, implicit_tls_submission_cfg()},
      // Submission: TLS first, then AUTH, then mail.
      {"submission needs tls", {hello, mail}, {"250", "530 5.7.0"}, false, submission_cfg()},
      {"submission needs auth", {"EHLO c\r\n", mail}, {"250", "530 5.7.0"}, false, implicit_tls_submission_cfg()},
      {"submission after auth", {"EHLO c\r\n", plain_ok, mail, rcpt}, {"250", "235 2.7.0", "250 2.1.0", "250 2.1.5"}, false, implicit_tls_submission_cfg()},
      {"submission failed auth", {"EHLO c\r\n", plain_bad, mail}, {"250", "535 5.7.8", "530 5.7.0"}, false, implicit_tls_submission_cfg()},
      {"auth line up to 12288 octets", {"EHLO c\r\n", "AUTH PLAIN " + std::string(12000, 'A') + "\r\n", "NOOP\r\n"}, {"250", "501 5.5.2", "250 2.0.0"}, false, implicit_tls_submission_cfg()},
      {"auth line over 12288 octets", {"EHLO c\r\n", "AUTH PLAIN " + std::string(13000, 'A') + "\r\n", "NOOP\r\n"}, {"250", "500 5.5.2", "250 2.0.0"}, false, implicit_tls_submission_cfg()},
  };
  for (const auto& c : cases) {
    server_session s(c.cfg);
    fake_shell shell;
    s.greet();
    std::vector<std::string> got;
    for (const auto& chunk : c.client) {
      for (auto& r : drive(s, shell, chunk)) got.push_back(r);
    }
    EXPECT_EQ(join(got), join(c.want)) << "case: " << c.name;
  }
}

TEST(server_session, ehlo_offers_starttls_then_auth) {
  server_session s(tls_cfg());
  s.greet();
  const auto before = s.feed("EHLO c\r\n").replies.at(0).lines;
  EXPECT_NE(std::find(before.begin(), before.end(), "STARTTLS"), before.end());
  EXPECT_EQ(std::find(before.begin(), before.end(), "AUTH PLAIN LOGIN"), before.end())
      << "AUTH must not be offered before TLS";
  step st = s.feed("STARTTLS\r\n");
  ASSERT_TRUE(st.request && std::holds_alternative<starttls_request>(*st.request));
  EXPECT_EQ(st.wire(), "220 2.0.0 Ready to start TLS\r\n");
  // Bytes arriving before the handshake completes are dropped too.
  EXPECT_TRUE(s.feed("RSET\r\n").replies.empty());
  s.tls_established();
  EXPECT_TRUE(s.tls_active());
  const auto after = s.feed("EHLO c\r\n").replies.at(0).lines;
  EXPECT_EQ(std::find(after.begin(), after.end(), "STARTTLS"), after.end());
  EXPECT_NE(std::find(after.begin(), after.end(), "AUTH PLAIN LOGIN"), after.end());
}

TEST(server_session, auth_hands_credentials_to_the_shell) {
  server_session s(implicit_tls_submission_cfg());
  fake_shell shell;
  s.greet();
  drive(s, shell, "EHLO c\r\n");
  EXPECT_EQ(s.feed("AUTH PLAIN\r\n").wire(), "334 \r\n");  // RFC 4954: "334" SP CRLF
  drive(s, shell, "AGFsaWNlAHNlY3JldA==\r\n");
  ASSERT_EQ(shell.auths.size(), 1u);
  EXPECT_EQ(shell.auths[0], "PLAIN:alice:secret");
  EXPECT_EQ(s.authenticated_user(), "alice");
}

}  // namespace
}  // namespace mx::smtp
