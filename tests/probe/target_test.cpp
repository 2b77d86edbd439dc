// Whole probes of one target against scripted servers, with no sockets: the harness plays the
// shell (net/probe_runner) and a server, line by line.
#include "probe/target.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mx::probe {
namespace {

// What a scripted server does with one command line: a reply ("250 ok\r\n"), or one of these.
const std::string hang_up = "<close>";   // close the connection without a reply
const std::string silence = "<silent>";  // say nothing, ever again (a reply timeout follows)

struct conn_state {
  int conn = 0;  // 0 for the first connection
  int n = 0;     // command lines received on this connection so far (this one included)
  bool proxied = false;
  bool xclient = false;
  bool in_mail = false;
  int errors = 0;
  bool tls = false;
};

struct script {
  std::function<std::string(const conn_state&)> greeting = [](const conn_state&) {
    return std::string("220 mx.example.test ESMTP\r\n");
  };
  std::function<std::string(conn_state&, const std::string&)> respond;
  bool refuse_connect = false;
  // STARTTLS, played by the harness: offered in EHLO until TLS is up; 220, or 454 when refused;
  // the handshake succeeds unless handshake_fails.
  bool offer_tls = false;
  bool refuse_tls = false;
  bool handshake_fails = false;
};

bool starts(const std::string& s, std::string_view p) {
  return s.compare(0, p.size(), p) == 0;
}

// A Postfix-like MX: PIPELINING; local domain example.test (postmaster and alice exist);
// everything else "554 5.7.1 Relay access denied". `rcpt` overrides the RCPT decision.
std::string postfix_like(
    conn_state& st, const std::string& line,
    const std::function<std::string(const conn_state&, const std::string&)>& rcpt = nullptr) {
  if (starts(line, "EHLO")) return "250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
  if (starts(line, "HELO")) return "250 mx.example.test\r\n";
  if (starts(line, "RSET")) {
    st.in_mail = false;
    return "250 2.0.0 Ok\r\n";
  }
  if (starts(line, "MAIL")) {
    st.in_mail = true;
    return "250 2.1.0 Ok\r\n";
  }
  if (starts(line, "RCPT")) {
    if (!st.in_mail) return "503 5.5.1 Error: need MAIL command\r\n";
    if (rcpt) {
      std::string r = rcpt(st, line);
      if (!r.empty()) return r;
    }
    if (line == "RCPT TO:<postmaster@example.test>") return "250 2.1.5 Ok\r\n";
    return "554 5.7.1 <" + line.substr(8) + ">: Relay access denied\r\n";
  }
  if (starts(line, "QUIT")) return "221 2.0.0 Bye\r\n";
  if (starts(line, "DATA") || starts(line, "BDAT")) return "554 never\r\n";
  return "502 5.5.2 Error: command not recognized\r\n";
}

struct run_result {
  target_report report;
  std::vector<std::string> sent;    // every line the probe wrote, "#n " prefixed by connection
  std::vector<std::string> writes;  // every write, "#n " prefixed, lines joined by '|'
  int connections = 0;
  std::vector<std::string> actions;
};

// `before_report`: called on the machine once it is done, before report() (add_part).
// `first_conn`: the number of the first connection (scripts may key on it).
run_result drive(
    const script& s, target_config cfg,
    const std::function<void(target_probe&, const run_result&)>& before_report = nullptr,
    int first_conn = 0) {
  run_result out;
  target_probe p(std::move(cfg));
  probe_action a = p.start();
  conn_state st;
  st.conn = first_conn - 1;
  std::string pending;
  bool open = false;
  bool server_closed = false;
  bool silent = false;
  for (int guard = 0; guard < 20000; ++guard) {
    if (!a.send.empty()) {
      EXPECT_TRUE(open) << "wrote on a closed connection: " << a.send;
      std::string joined = a.send.substr(0, a.send.size() - 2);
      for (std::size_t i = 0; (i = joined.find("\r\n", i)) != std::string::npos;) {
        joined.replace(i, 2, "|");
      }
      out.writes.push_back("#" + std::to_string(st.conn) + " " + joined);
      std::size_t pos = 0;
      while (pos < a.send.size()) {
        const auto crlf = a.send.find("\r\n", pos);
        const std::string line = a.send.substr(pos, crlf - pos);
        pos = crlf + 2;
        out.sent.push_back("#" + std::to_string(st.conn) + " " + line);
        if (server_closed || silent) continue;
        ++st.n;
        if (starts(line, "PROXY ") && st.n == 1 && !s.respond) continue;
        std::string r;
        if (line == "STARTTLS" && s.offer_tls && !st.tls) {
          r = s.refuse_tls ? "454 4.7.0 TLS not available due to local problem\r\n"
                           : "220 2.0.0 Ready to start TLS\r\n";
        } else {
          r = s.respond(st, line);
          if (starts(line, "EHLO") && s.offer_tls && !st.tls && starts(r, "250-")) {
            r.insert(r.find("\r\n") + 2, "250-STARTTLS\r\n");
          }
        }
        if (r.size() > hang_up.size() &&
            r.compare(r.size() - hang_up.size(), hang_up.size(), hang_up) == 0) {
          pending += r.substr(0, r.size() - hang_up.size());  // a last reply, then close
          server_closed = true;
        } else if (r == hang_up) {
          server_closed = true;
        } else if (r == silence) {
          silent = true;
        } else {
          pending += r;
        }
      }
    }
    if (a.close) open = false;
    out.actions.push_back(std::string(name(a.next)));
    switch (a.next) {
      case probe_action::type::connect: {
        EXPECT_FALSE(open) << "connect while a connection is open";
        ++out.connections;
        if (s.refuse_connect) {
          a = p.connect_failed("Connection refused");
          continue;
        }
        st = conn_state{st.conn + 1, 0, false, false, false, 0, false};
        open = true;
        server_closed = silent = false;
        const std::string g = s.greeting(st);
        if (g == hang_up) {
          server_closed = true;
        } else if (g == silence) {
          silent = true;
        } else {
          pending = g;
        }
        a = p.connected();
        continue;
      }
      case probe_action::type::read:
      case probe_action::type::settle:
        if (!pending.empty()) {
          const std::string bytes = std::move(pending);
          pending.clear();
          a = p.received(bytes);
        } else if (server_closed) {
          a = p.closed_by_peer();
        } else if (a.next == probe_action::type::settle) {
          a = p.settled();
        } else {
          a = p.timed_out();
        }
        continue;
      case probe_action::type::start_tls:
        EXPECT_TRUE(pending.empty()) << "bytes after the STARTTLS 220";
        if (s.handshake_fails) {
          a = p.tls_failed("handshake failure");
        } else {
          st.tls = true;
          out.sent.push_back("#" + std::to_string(st.conn) + " <TLS>");
          a = p.tls_started();
        }
        continue;
      case probe_action::type::done:
        if (before_report) before_report(p, out);
        out.report = p.report();
        return out;
    }
  }
  ADD_FAILURE() << "the probe did not finish";
  out.report = p.report();
  return out;
}

target_config config(std::vector<std::string> local = {"example.test"}) {
  target_config c;
  c.target = "127.0.0.1:2525";
  c.identity.address = *inet::ip_address::parse("127.0.0.1");
  c.identity.port = 2525;
  c.identity.local_domains = std::move(local);
  c.battery.token = "r4nd";
  c.client.helo = "probe.example";
  return c;
}

const test_result* result_of(const target_report& r, std::string_view id) {
  for (const auto& t : r.facts.results) {
    if (t.test.id == id) return &t;
  }
  return nullptr;
}

std::string accepted_ids(const target_report& r) {
  std::string out;
  for (const auto& t : r.facts.results) {
    if (t.test.kind == test_kind::relay && t.outcome == test_outcome::accepted) {
      out += (out.empty() ? "" : " ") + t.test.id;
    }
  }
  return out;
}

std::string reasons(const target_report& r) {
  std::string out;
  for (const auto& s : r.result.reasons) out += s + "\n";
  for (const auto& s : r.notes) out += "note: " + s + "\n";
  return out;
}

struct target_case {
  std::string name;
  script s;
  target_config cfg;
  verdict want;
  std::string want_accepted = "";  // the relay tests accepted, in battery order
  bool accepts_all = false;
  bool unsafe = false;
  int want_connections = -1;  // -1: don't check
  std::string note_has = "";
};

std::vector<target_case> cases() {
  std::vector<target_case> out;
  auto add = [&](target_case c) { out.push_back(std::move(c)); };

  script closed;
  closed.respond = [](conn_state& st, const std::string& l) { return postfix_like(st, l); };
  add({"closed Postfix-like MX", closed, config(), verdict::closed, "", false, false, 2});

  script closed_no_local = closed;
  add({"closed, but no local domain given: the hostname is not local", closed_no_local, config({}),
       verdict::inconclusive, "", false, false, 2,
       "no --local-domain given: the banner hostname mx.example.test stands in"});

  script open = closed;
  open.respond = [](conn_state& st, const std::string& l) {
    return postfix_like(st, l, [](const conn_state&, const std::string&) {
      return std::string("250 2.1.5 Ok\r\n");
    });
  };
  {
    target_case c{
        "open relay accepting everything", open, config(), verdict::open, "", true, false, 2};
    // every relay test but the ones a Postfix-like parser never sees differently: all of them
    std::string all;
    for (const auto& t : build_battery(
             [] {
               target_identity id;
               id.address = *inet::ip_address::parse("127.0.0.1");
               id.port = 2525;
               id.banner_host = "mx.example.test";
               id.local_domains = {"example.test"};
               return id;
             }(),
             [] {
               battery_options o;
               o.token = "r4nd";
               return o;
             }())) {
      // XCLIENT and PROXY are refused by a server that does not speak them, open or not
      if (t.kind == test_kind::relay && t.family != test_family::spoof) {
        all += (all.empty() ? "" : " ") + t.id;
      }
    }
    c.want_accepted = all;
    add(c);
  }

  script percent = closed;
  percent.respond = [](conn_state& st, const std::string& l) {
    return postfix_like(st, l, [](const conn_state&, const std::string& line) {
      return line == "RCPT TO:<relaytest%example.net@example.test>"
                 ? std::string("250 2.1.5 Ok\r\n")
                 : std::string();
    });
  };
  add({"accepts only the percent hack via local domain", percent, config(), verdict::open,
       "percent-local", false, true, 2});

  script greylist = closed;
  greylist.respond = [](conn_state& st, const std::string& l) {
    return postfix_like(st, l, [](const conn_state&, const std::string& line) {
      return line.find("postmaster@") != std::string::npos
                 ? std::string()
                 : std::string("451 4.7.1 Greylisted, try again later\r\n");
    });
  };
  add({"greylisting", greylist, config(), verdict::tempfail, "", false, false, 2});

  script auth;
  auth.respond = [](conn_state& st, const std::string& l) {
    if (starts(l, "MAIL")) return std::string("530 5.7.0 Authentication required\r\n");
    return postfix_like(st, l);
  };
  add({"authentication required at MAIL", auth, config(), verdict::auth_required, "", false, false,
       2});

  script banner554;
  banner554.greeting = [](const conn_state&) {
    return std::string("554 5.7.1 mx.example.test: no SMTP service here\r\n");
  };
  banner554.respond = [](conn_state& st, const std::string& l) { return postfix_like(st, l); };
  add({"banner 554", banner554, config(), verdict::inconclusive, "", false, false, 1});

  script banner421 = banner554;
  banner421.greeting = [](const conn_state&) { return std::string("421 4.3.2 busy\r\n"); };
  add({"banner 421", banner421, config(), verdict::inconclusive, "", false, false, 1});

  script refused;
  refused.refuse_connect = true;
  refused.respond = closed.respond;
  add({"connection refused", refused, config(), verdict::inconclusive, "", false, false, 1});

  script drop_once = closed;
  drop_once.respond = [](conn_state& st, const std::string& l) {
    if (st.conn == 0 && st.n == 12) return hang_up;  // mid-run, once
    return postfix_like(st, l);
  };
  add({"disconnect mid-run, once", drop_once, config(), verdict::closed, "", false, false, 3,
       "reconnected 1 time"});

  script drop_often = closed;
  drop_often.respond = [](conn_state& st, const std::string& l) {
    if (st.n == 5 && !starts(l, "PROXY")) return hang_up;  // every connection, after one test
    return postfix_like(st, l);
  };
  add({"disconnect on every connection after one test", drop_often, config(), verdict::closed});

  script drop_always = closed;
  drop_always.respond = [](conn_state& st, const std::string& l) {
    if (starts(l, "RCPT") && st.conn > 0) return hang_up;  // never answers RCPT again
    if (starts(l, "RCPT") && st.n > 3) return hang_up;
    return postfix_like(st, l);
  };
  // ctl-local on the first connection, then two attempts each for three tests, then it gives up
  add({"hangs up on every RCPT after the first test", drop_always, config(), verdict::inconclusive,
       "", false, false, 6});

  script hard_limit = closed;
  hard_limit.respond = [](conn_state& st, const std::string& l) {
    if (starts(l, "RCPT") && st.n > 20 && !starts(l, "RCPT TO:<postmaster")) {
      return std::string("421 4.7.0 mx.example.test Error: too many errors\r\n");
    }
    return postfix_like(st, l);
  };
  add({"421 after too many errors, then a new session", hard_limit, config(), verdict::closed, "",
       false, false, -1, "reconnected"});

  // mxguard serve's max_errors: the error reply and a 421 in one write, then close.
  script error_limit = closed;
  error_limit.respond = [](conn_state& st, const std::string& l) {
    if (starts(l, "RCPT") && l.find('"') != std::string::npos) ++st.errors;
    if (starts(l, "RCPT") && st.errors >= 2) {
      return std::string(
                 "501 5.1.3 Bad recipient address syntax\r\n"
                 "421 4.7.0 mx.example.test Error: too many errors\r\n") +
             hang_up;
    }
    return postfix_like(st, l);
  };
  add({"error reply and 421 together, then close", error_limit, config(), verdict::closed, "",
       false, false, -1, "reconnected"});

  script stall = closed;
  stall.respond = [](conn_state& st, const std::string& l) {
    if (starts(l, "RCPT") && st.n > 8) return silence;
    return postfix_like(st, l);
  };
  add({"stops answering mid-run", stall, config(), verdict::inconclusive, "", false, false, 1});

  script xclient = closed;
  xclient.respond = [](conn_state& st, const std::string& l) {
    if (starts(l, "XCLIENT ADDR=127.0.0.1")) {
      st.xclient = true;
      return std::string("220 mx.example.test ESMTP\r\n");
    }
    return postfix_like(st, l, [](const conn_state& s, const std::string&) {
      return s.xclient ? std::string("250 2.1.5 Ok\r\n") : std::string();
    });
  };
  add({"honours XCLIENT from anyone", xclient, config(), verdict::open, "xclient", false, false,
       2});

  script proxy_ok = closed;
  proxy_ok.respond = [](conn_state& st, const std::string& l) {
    if (starts(l, "PROXY TCP4 127.0.0.1 127.0.0.1 40025 2525") && st.n == 1) {
      st.proxied = true;
      return std::string();  // taken silently, as a proxy-protocol listener does
    }
    return postfix_like(st, l, [](const conn_state& s, const std::string&) {
      return s.proxied ? std::string("250 2.1.5 Ok\r\n") : std::string();
    });
  };
  add({"honours PROXY from anyone", proxy_ok, config(), verdict::open, "proxy", false, false, 2});

  script pregreet = closed;
  pregreet.greeting = [](const conn_state& st) {
    return st.conn == 1 ? std::string("554 5.5.0 pregreet\r\n")
                        : std::string("220 mx.example.test ESMTP\r\n");
  };
  add({"refuses the PROXY connection's greeting", pregreet, config(), verdict::closed, "", false,
       false, 2});

  script proxy_hangup = closed;
  proxy_hangup.respond = [](conn_state& st, const std::string& l) {
    if (starts(l, "PROXY")) return hang_up;
    return postfix_like(st, l);
  };
  proxy_hangup.greeting = [](const conn_state& st) {
    return st.conn == 1 ? std::string() : std::string("220 mx.example.test ESMTP\r\n");
  };
  add({"hangs up on the PROXY header", proxy_hangup, config(), verdict::closed, "", false, false,
       2});

  script helo_only;
  helo_only.respond = [](conn_state& st, const std::string& l) {
    if (starts(l, "EHLO")) return std::string("502 5.5.2 Error: command not recognized\r\n");
    return postfix_like(st, l);
  };
  add({"HELO-only server", helo_only, config(), verdict::closed, "", false, false, 2});

  script closes_first = closed;
  closes_first.greeting = [](const conn_state&) { return hang_up; };
  add({"closes before the greeting", closes_first, config(), verdict::inconclusive, "", false,
       false, 1});

  target_config own = config();
  own.battery.test_domain = "example.test";
  add({"test domain is the target's own", open, own, verdict::inconclusive, "", false, false, 2});

  return out;
}

std::size_t count_tls(const target_report& r) {
  std::size_t n = 0;
  for (const auto& t : r.facts.results) n += t.test.after_starttls ? 1 : 0;
  return n;
}

// STARTTLS: the battery again inside TLS, or a note when TLS cannot be had.
TEST(TargetProbe, Starttls) {
  script closed;
  closed.offer_tls = true;
  closed.respond = [](conn_state& st, const std::string& l) { return postfix_like(st, l); };
  script after_tls_open = closed;
  after_tls_open.respond = [](conn_state& st, const std::string& l) {
    return postfix_like(st, l, [](const conn_state& s, const std::string&) {
      return s.tls ? std::string("250 2.1.5 Ok\r\n") : std::string();
    });
  };
  script refused = closed;
  refused.refuse_tls = true;
  script broken = closed;
  broken.handshake_fails = true;
  script no_tls = closed;
  no_tls.offer_tls = false;
  target_config always = config();
  always.starttls = tls_use::always;
  target_config never = config();
  never.starttls = tls_use::never;

  const std::size_t plain_tests = build_battery(
                                      [] {
                                        target_identity id;
                                        id.address = *inet::ip_address::parse("127.0.0.1");
                                        id.port = 2525;
                                        id.banner_host = "mx.example.test";
                                        id.local_domains = {"example.test"};
                                        return id;
                                      }(),
                                      battery_options{})
                                      .size();
  const struct {
    std::string name;
    script s;
    target_config cfg;
    verdict want;
    std::size_t want_tls_tests;
    std::size_t want_tests;
    std::string note_has;
  } cases[] = {
      {"closed before and after STARTTLS", closed, config(), verdict::closed, plain_tests - 1,
       2 * plain_tests - 1, "STARTTLS offered: the battery ran before and after it"},
      {"relays only inside TLS", after_tls_open, config(), verdict::open, plain_tests - 1,
       2 * plain_tests - 1, ""},
      {"STARTTLS refused: plain text only", refused, config(), verdict::closed, 0, plain_tests,
       "STARTTLS was refused: 454 4.7.0 TLS not available due to local problem: the battery ran "
       "in plain text only"},
      {"handshake fails: plain text only", broken, config(), verdict::closed, 0, plain_tests,
       "the TLS handshake failed: handshake failure: the battery ran in plain text only"},
      {"--starttls always", closed, always, verdict::closed, plain_tests - 1, plain_tests,
       "ran inside TLS"},
      {"--starttls always, not offered", no_tls, always, verdict::inconclusive, 0, 0, ""},
      {"--starttls never", closed, never, verdict::closed, 0, plain_tests, ""},
  };
  for (const auto& c : cases) {
    const run_result r = drive(c.s, c.cfg);
    EXPECT_EQ(name(r.report.result.v), name(c.want)) << "case: " << c.name << "\n"
                                                     << reasons(r.report);
    EXPECT_EQ(count_tls(r.report), c.want_tls_tests) << "case: " << c.name;
    EXPECT_EQ(r.report.facts.results.size(), c.want_tests) << "case: " << c.name;
    if (!c.note_has.empty()) {
      EXPECT_NE(reasons(r.report).find(c.note_has), std::string::npos)
          << "case: " << c.name << "\nwant: " << c.note_has << "\ngot:\n"
          << reasons(r.report);
    }
    if (c.want == verdict::open) {
      for (const auto& t : r.report.facts.results) {
        if (t.outcome == test_outcome::accepted && t.test.kind == test_kind::relay) {
          EXPECT_TRUE(t.test.after_starttls) << "case: " << c.name << ": " << t.test.id;
        }
      }
    }
    // After the handshake the client says EHLO again before anything else (RFC 3207 4.2).
    for (std::size_t i = 0; i + 1 < r.sent.size(); ++i) {
      if (r.sent[i].find(" <TLS>") != std::string::npos) {
        EXPECT_NE(r.sent[i + 1].find(" EHLO "), std::string::npos)
            << "case: " << c.name << ": after TLS came " << r.sent[i + 1];
      }
    }
  }
  const run_result never_run = drive(closed, never);
  for (const auto& l : never_run.sent) {
    EXPECT_EQ(l.find("STARTTLS"), std::string::npos) << "--starttls never sent " << l;
  }
}

TEST(TargetProbe, Scripts) {
  for (const auto& c : cases()) {
    const run_result r = drive(c.s, c.cfg);
    EXPECT_EQ(name(r.report.result.v), name(c.want)) << "case: " << c.name << "\n"
                                                     << reasons(r.report);
    if (c.want == verdict::open) {
      EXPECT_EQ(accepted_ids(r.report), c.want_accepted) << "case: " << c.name;
    }
    EXPECT_EQ(r.report.result.accepts_all, c.accepts_all) << "case: " << c.name;
    EXPECT_EQ(r.report.result.unsafe_parsing, c.unsafe) << "case: " << c.name;
    if (c.want_connections >= 0) {
      EXPECT_EQ(r.connections, c.want_connections) << "case: " << c.name;
      EXPECT_EQ(r.report.connections, static_cast<std::size_t>(c.want_connections))
          << "case: " << c.name;
    }
    if (!c.note_has.empty()) {
      EXPECT_NE(reasons(r.report).find(c.note_has), std::string::npos)
          << "case: " << c.name << "\nwant: " << c.note_has << "\ngot:\n"
          << reasons(r.report);
    }
    // Never a message: no DATA, no BDAT, on any connection.
    for (const auto& l : r.sent) {
      const std::string cmd = l.substr(l.find(' ') + 1);
      EXPECT_FALSE(starts(cmd, "DATA") || starts(cmd, "BDAT")) << "case: " << c.name << ": " << l;
    }
    // The budget holds.
    EXPECT_LE(r.report.connections, r.report.facts.results.size() + 2) << "case: " << c.name;
  }
}

// The dialogue on one connection: EHLO, then envelopes in pipelined groups with RSET between
// them, QUIT at the end; the PROXY header first on its own connection.
TEST(TargetProbe, WireOrder) {
  script closed;
  closed.respond = [](conn_state& st, const std::string& l) { return postfix_like(st, l); };
  const run_result r = drive(closed, config());
  ASSERT_GE(r.sent.size(), 10u);
  const std::vector<std::string> want_head = {
      "#0 EHLO probe.example",
      "#0 MAIL FROM:<mxguard-probe@example.net>",
      "#0 RCPT TO:<postmaster@example.test>",
      "#0 RSET",
      "#0 MAIL FROM:<mxguard-probe@example.net>",
      "#0 RCPT TO:<relaytest@example.net>",
      "#0 RSET",
      "#0 MAIL FROM:<mxguard-probe@example.net>",
      "#0 RCPT TO:<nobody-r4nd@r4nd.invalid>",
  };
  for (std::size_t i = 0; i < want_head.size(); ++i) {
    EXPECT_EQ(r.sent[i], want_head[i]) << "line " << i;
  }
  const std::vector<std::string> want_tail = {
      "#0 QUIT", "#1 PROXY TCP4 127.0.0.1 127.0.0.1 40025 2525",
      "#1 QUIT",  // the header was answered as a command: nothing more to learn there
  };
  ASSERT_GE(r.sent.size(), want_tail.size());
  for (std::size_t i = 0; i < want_tail.size(); ++i) {
    EXPECT_EQ(r.sent[r.sent.size() - want_tail.size() + i], want_tail[i]) << "tail line " << i;
  }
  const test_result* proxy = result_of(r.report, "proxy");
  ASSERT_NE(proxy, nullptr);
  EXPECT_EQ(name(proxy->outcome), name(test_outcome::refused));
  EXPECT_EQ(proxy->detail,
            "the PROXY header was answered as a command: 502 5.5.2 Error: command not recognized");
  const test_result* xclient = result_of(r.report, "xclient");
  ASSERT_NE(xclient, nullptr);
  EXPECT_EQ(xclient->detail, "XCLIENT 502 5.5.2 Error: command not recognized");
  // Every test ran once, and every one has its dialogue.
  for (const auto& t : r.report.facts.results) {
    EXPECT_EQ(t.attempts, 1) << t.test.id;
    EXPECT_FALSE(t.lines.empty()) << t.test.id;
  }
  EXPECT_EQ(r.report.banner_host, "mx.example.test");
  EXPECT_TRUE(r.report.caps.pipelining);
}

// After a disconnect, the interrupted test runs again on the new connection.
TEST(TargetProbe, RetryAfterDisconnect) {
  script s;
  s.respond = [](conn_state& st, const std::string& l) {
    if (st.conn == 0 && l == "RCPT TO:<relaytest@example.net>") return hang_up;
    return postfix_like(st, l);
  };
  const run_result r = drive(s, config());
  const test_result* plain = result_of(r.report, "plain");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->attempts, 2);
  EXPECT_EQ(name(plain->outcome), name(test_outcome::refused));
  EXPECT_EQ(name(r.report.result.v), name(verdict::closed)) << reasons(r.report);
}

// Every test's outcome, in battery order: what must not change with the way tests are sent.
// With `mask`, a test `mask` never ran shows as "-" (the PROXY probe beside the main session
// runs even when the main session gave up before reaching it: more evidence, not less).
std::string outcomes(const target_report& r, const target_report* mask = nullptr) {
  std::string out;
  for (std::size_t i = 0; i < r.facts.results.size(); ++i) {
    const auto& t = r.facts.results[i];
    const bool masked = mask && i < mask->facts.results.size() &&
                        mask->facts.results[i].test.id == t.test.id &&
                        mask->facts.results[i].attempts == 0;
    out += t.test.id + "=" + (masked ? std::string("-") : std::string(name(t.outcome))) + " ";
  }
  return out;
}

// The PROXY probe run beside the main session (part main + part proxy, joined by add_part). The
// proxy part's connection is numbered after the main session's, as in a single run, so scripts
// that key on connection numbers treat it the same.
run_result drive_split(const script& s, target_config cfg) {
  target_config proxy_cfg = cfg;
  proxy_cfg.part = probe_part::proxy;
  cfg.part = probe_part::main;
  run_result proxy;
  run_result main = drive(s, cfg, [&](target_probe& p, const run_result& so_far) {
    proxy = drive(s, proxy_cfg, nullptr, so_far.connections);
    p.add_part(proxy.report);
  });
  main.connections += proxy.connections;
  main.sent.insert(main.sent.end(), proxy.sent.begin(), proxy.sent.end());
  return main;
}

// Pipelining several tests per write, and running the PROXY probe beside the main session, save
// round trips only: every scripted server gets the same verdict and the same outcome per test as
// with one test per write and the PROXY probe after the main session.
TEST(TargetProbe, BatchingAndSplitKeepVerdicts) {
  for (const auto& c : cases()) {
    target_config one = c.cfg;
    one.pipeline_tests = 1;
    const run_result want = drive(c.s, one);
    const std::string want_outcomes = outcomes(want.report);
    struct variant {
      std::string name;
      run_result got;
      bool split = false;
    };
    target_config batched = c.cfg;
    batched.pipeline_tests = 16;
    target_config all_at_once = c.cfg;
    all_at_once.pipeline_tests = 64;
    const variant variants[] = {
        {"16 per write", drive(c.s, batched)},
        {"64 per write", drive(c.s, all_at_once)},
        {"16 per write, PROXY beside", drive_split(c.s, batched), true},
        {"1 per write, PROXY beside", drive_split(c.s, one), true},
    };
    for (const auto& v : variants) {
      EXPECT_EQ(name(v.got.report.result.v), name(want.report.result.v))
          << "case: " << c.name << ", " << v.name << "\n"
          << reasons(v.got.report);
      if (v.split) {
        EXPECT_EQ(outcomes(v.got.report, &want.report), outcomes(want.report, &want.report))
            << "case: " << c.name << ", " << v.name;
      } else {
        EXPECT_EQ(outcomes(v.got.report), want_outcomes) << "case: " << c.name << ", " << v.name;
      }
      EXPECT_EQ(v.got.report.result.accepts_all, want.report.result.accepts_all)
          << "case: " << c.name << ", " << v.name;
      EXPECT_EQ(v.got.report.result.unsafe_parsing, want.report.result.unsafe_parsing)
          << "case: " << c.name << ", " << v.name;
      EXPECT_EQ(v.got.report.connections, static_cast<std::size_t>(v.got.connections))
          << "case: " << c.name << ", " << v.name;
      EXPECT_LE(v.got.report.connections, v.got.report.facts.results.size() + 2)
          << "case: " << c.name << ", " << v.name;
      for (const auto& l : v.got.sent) {
        const std::string cmd = l.substr(l.find(' ') + 1);
        EXPECT_FALSE(starts(cmd, "DATA") || starts(cmd, "BDAT"))
            << "case: " << c.name << ", " << v.name << ": " << l;
      }
    }
  }
}

// With PIPELINING, tests share writes and QUIT rides in the last one; without it, one command
// per write as before.
TEST(TargetProbe, WritesPerConnection) {
  script closed;
  closed.respond = [](conn_state& st, const std::string& l) { return postfix_like(st, l); };
  script no_pipelining;
  no_pipelining.respond = [](conn_state& st, const std::string& l) {
    std::string r = postfix_like(st, l);
    if (starts(l, "EHLO")) r = "250-mx.example.test\r\n250 8BITMIME\r\n";
    return r;
  };
  target_config no_spoof = config();
  no_spoof.battery.spoofing = false;  // the last test is a plain one: QUIT can join it
  no_spoof.pipeline_tests = 16;
  const std::size_t tests = drive(closed, no_spoof).report.facts.results.size();
  ASSERT_GT(tests, 16u);
  const std::size_t batches = (tests + 15) / 16;
  const struct {
    std::string name;
    script s;
    target_config cfg;
    std::size_t want_writes;
    std::string want_last;  // the end of the last write
  } rows[] = {
      {"16 per write, QUIT in the last", closed, no_spoof, 1 + batches, "|QUIT"},
      {"no PIPELINING: one command per write", no_pipelining, no_spoof, 3 * tests + 1, "QUIT"},
  };
  for (const auto& row : rows) {
    const run_result r = drive(row.s, row.cfg);
    EXPECT_EQ(r.writes.size(), row.want_writes) << "case: " << row.name;
    ASSERT_FALSE(r.writes.empty()) << "case: " << row.name;
    const std::string& last = r.writes.back();
    EXPECT_EQ(last.substr(last.size() - std::min(last.size(), row.want_last.size())), row.want_last)
        << "case: " << row.name << ", last write: " << last;
    EXPECT_EQ(name(r.report.result.v), name(verdict::closed)) << "case: " << row.name;
  }
}

// A hang-up inside a batch: the test it cut runs again, and so do the later tests of the batch
// (never answered), once each, on the next connection.
TEST(TargetProbe, HangUpInsideABatch) {
  script s;
  s.respond = [](conn_state& st, const std::string& l) {
    if (st.conn == 0 && l == "RCPT TO:<relaytest@example.net>") return hang_up;
    return postfix_like(st, l);
  };
  target_config cfg = config();
  cfg.pipeline_tests = 16;
  const run_result r = drive(s, cfg);
  const test_result* plain = result_of(r.report, "plain");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->attempts, 2);
  bool after = false;
  for (const auto& t : r.report.facts.results) {
    if (after) {
      EXPECT_EQ(t.attempts, 1) << t.test.id;
      EXPECT_NE(t.outcome, test_outcome::not_completed) << t.test.id << ": " << t.detail;
    }
    after = after || t.test.id == "plain";
  }
  EXPECT_EQ(name(r.report.result.v), name(verdict::closed)) << reasons(r.report);
  EXPECT_EQ(r.connections, 3);  // the first, the reconnection, the PROXY probe
}

// The PROXY part alone: one connection, the header first; nothing at all without an address.
TEST(TargetProbe, ProxyPart) {
  script closed;
  closed.respond = [](conn_state& st, const std::string& l) { return postfix_like(st, l); };
  target_config cfg = config();
  cfg.part = probe_part::proxy;
  const run_result r = drive(closed, cfg);
  ASSERT_EQ(r.report.facts.results.size(), 1u);
  EXPECT_EQ(r.report.facts.results[0].test.id, "proxy");
  EXPECT_EQ(name(r.report.facts.results[0].outcome), name(test_outcome::refused));
  ASSERT_FALSE(r.sent.empty());
  EXPECT_EQ(r.sent.front(), "#0 PROXY TCP4 127.0.0.1 127.0.0.1 40025 2525");
  EXPECT_EQ(r.connections, 1);

  target_config v6 = config();
  v6.part = probe_part::proxy;
  v6.identity.address = *inet::ip_address::parse("::1");
  const run_result r6 = drive(closed, v6);
  ASSERT_FALSE(r6.sent.empty());
  EXPECT_EQ(r6.sent.front(), "#0 PROXY TCP6 ::1 ::1 40025 2525");

  // Garbage after the test is recorded (in answer to QUIT) fails the session, and changes
  // nothing: the one test stays recorded once.
  script garbage = closed;
  garbage.respond = [](conn_state& st, const std::string& l) {
    return starts(l, "QUIT") ? std::string("HTTP/1.1 400 Bad Request\r\n") : postfix_like(st, l);
  };
  const run_result rg = drive(garbage, cfg);
  ASSERT_EQ(rg.report.facts.results.size(), 1u);
  EXPECT_EQ(rg.report.facts.results[0].attempts, 1);
  EXPECT_EQ(name(rg.report.facts.results[0].outcome), name(test_outcome::refused));

  target_config none = config();
  none.part = probe_part::proxy;
  none.battery.spoofing = false;
  const run_result r0 = drive(closed, none);
  EXPECT_EQ(r0.connections, 0);
  EXPECT_TRUE(r0.report.facts.results.empty());
}

}  // namespace
}  // namespace mx::probe
