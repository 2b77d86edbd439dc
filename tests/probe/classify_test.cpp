#include "probe/classify.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace mx::probe {
namespace {

smtp::reply rep(int code, std::string enhanced = "", std::string text = "text") {
  return smtp::reply{code, std::move(enhanced), {std::move(text)}};
}

dialogue_line line(line_kind k, std::string sent, std::optional<smtp::reply> answer,
                   bool was_sent = true) {
  return dialogue_line{k, std::move(sent), was_sent, std::move(answer)};
}

// ---- judge ----

TEST(Judge, Table) {
  using L = line_kind;
  const auto mail_ok = line(L::mail, "MAIL FROM:<a@x>", rep(250, "2.1.0", "Ok"));
  const struct {
    std::string name;
    std::vector<dialogue_line> lines;
    test_outcome want;
    std::string want_detail;
  } cases[] = {
      {"RCPT 250",
       {mail_ok, line(L::rcpt, "RCPT TO:<b@y>", rep(250, "2.1.5", "Ok"))},
       test_outcome::accepted,
       "250 2.1.5 Ok"},
      {"RCPT 251",
       {mail_ok, line(L::rcpt, "RCPT TO:<b@y>", rep(251, "", "will forward"))},
       test_outcome::accepted,
       "251 will forward"},
      {"RCPT 554",
       {mail_ok, line(L::rcpt, "RCPT TO:<b@y>", rep(554, "5.7.1", "Relay denied"))},
       test_outcome::refused,
       "554 5.7.1 Relay denied"},
      {"RCPT 450",
       {mail_ok, line(L::rcpt, "RCPT TO:<b@y>", rep(450, "4.7.1", "greylisted"))},
       test_outcome::deferred,
       "450 4.7.1 greylisted"},
      {"RCPT 530",
       {mail_ok, line(L::rcpt, "RCPT TO:<b@y>", rep(530, "5.7.0", "Auth"))},
       test_outcome::auth_required,
       "530 5.7.0 Auth"},
      {"RCPT 550 5.7.0",
       {mail_ok, line(L::rcpt, "RCPT TO:<b@y>", rep(550, "5.7.0", "TLS first"))},
       test_outcome::auth_required,
       "550 5.7.0 TLS first"},
      {"RCPT 550 5.7.1 is a refusal",
       {mail_ok, line(L::rcpt, "RCPT TO:<b@y>", rep(550, "5.7.1", "no"))},
       test_outcome::refused,
       "550 5.7.1 no"},
      {"RCPT 354 is nonsense",
       {mail_ok, line(L::rcpt, "RCPT TO:<b@y>", rep(354))},
       test_outcome::not_completed,
       "354 text"},
      {"MAIL 553, RCPT skipped",
       {line(L::mail, "MAIL FROM:<a@x>", rep(553, "5.1.8", "bad sender")),
        line(L::rcpt, "RCPT TO:<b@y>", std::nullopt, false)},
       test_outcome::mail_refused,
       "MAIL 553 5.1.8 bad sender"},
      {"MAIL 451",
       {line(L::mail, "MAIL FROM:<a@x>", rep(451, "4.3.0"))},
       test_outcome::deferred,
       "MAIL 451 4.3.0 text"},
      {"MAIL 530",
       {line(L::mail, "MAIL FROM:<a@x>", rep(530, "5.7.0", "Must issue STARTTLS"))},
       test_outcome::auth_required,
       "MAIL 530 5.7.0 Must issue STARTTLS"},
      {"RCPT unanswered",
       {mail_ok, line(L::rcpt, "RCPT TO:<b@y>", std::nullopt)},
       test_outcome::not_completed,
       "no answer to RCPT TO:<b@y>"},
      {"RCPT never reached",
       {mail_ok, line(L::rcpt, "RCPT TO:<b@y>", std::nullopt, false)},
       test_outcome::not_completed,
       "no RCPT answer"},
      {"RSET refused does not matter",
       {line(L::rset, "RSET", rep(502)), mail_ok, line(L::rcpt, "RCPT TO:<b@y>", rep(554))},
       test_outcome::refused,
       "554 text"},
      {"XCLIENT refused",
       {line(L::xclient, "XCLIENT ADDR=127.0.0.1", rep(502, "5.5.2", "unknown")),
        line(L::ehlo, "EHLO p", std::nullopt, false), line(L::mail, "MAIL", std::nullopt, false)},
       test_outcome::refused,
       "XCLIENT 502 5.5.2 unknown"},
      {"XCLIENT accepted, relay accepted",
       {line(L::xclient, "XCLIENT ADDR=127.0.0.1", rep(220)), line(L::ehlo, "EHLO p", rep(250)),
        mail_ok, line(L::rcpt, "RCPT TO:<b@y>", rep(250))},
       test_outcome::accepted,
       "250 text"},
      {"PROXY answered as a command",
       {line(L::banner, "", rep(220)), line(L::proxy, "PROXY TCP4 ...", rep(500, "5.5.2", "what")),
        line(L::mail, "MAIL", std::nullopt, false)},
       test_outcome::refused,
       "the PROXY header was answered as a command: 500 5.5.2 what"},
      {"PROXY banner refused",
       {line(L::banner, "", rep(554, "5.5.0", "pregreet")), line(L::proxy, "PROXY", std::nullopt)},
       test_outcome::refused,
       "banner 554 5.5.0 pregreet"},
      {"PROXY silent, relay refused",
       {line(L::banner, "", rep(220)), line(L::proxy, "PROXY", std::nullopt), mail_ok,
        line(L::rcpt, "RCPT TO:<b@y>", rep(554))},
       test_outcome::refused,
       "554 text"},
      {"PROXY silent, relay accepted",
       {line(L::banner, "", rep(220)), line(L::proxy, "PROXY", std::nullopt), mail_ok,
        line(L::rcpt, "RCPT TO:<b@y>", rep(250))},
       test_outcome::accepted,
       "250 text"},
      {"no greeting on the PROXY connection",
       {line(L::banner, "", std::nullopt)},
       test_outcome::not_completed,
       "no greeting"},
      {"control characters in replies are neutralised",
       {mail_ok, line(L::rcpt, "RCPT TO:<b@y>", rep(554, "", "a\x1b[31mb"))},
       test_outcome::refused,
       "554 a?[31mb"},
      {"empty", {}, test_outcome::not_completed, "no RCPT answer"},
  };
  for (const auto& c : cases) {
    std::string detail;
    const test_outcome got = judge(c.lines, &detail);
    EXPECT_EQ(name(got), name(c.want)) << "case: " << c.name;
    EXPECT_EQ(detail, c.want_detail) << "case: " << c.name;
  }
}

// ---- classify ----

// A result spec: "250", "554 5.7.1", "451 4.7.1" (the RCPT reply), "M553" / "M530 5.7.0" (MAIL
// refused), "-" (no answer to RCPT), "X502" (XCLIENT refused), "P500" (PROXY answered).
std::vector<dialogue_line> lines_for(const test_case& t, const std::string& spec) {
  auto parse = [](std::string_view s) {
    const int code = std::stoi(std::string(s.substr(0, 3)));
    std::string enhanced = s.size() > 4 ? std::string(s.substr(4)) : std::string();
    return rep(code, enhanced);
  };
  std::vector<dialogue_line> out;
  const auto mail_ok = line(line_kind::mail, "MAIL FROM:" + t.mail, rep(250, "2.1.0", "Ok"));
  if (spec == "-") {
    out = {mail_ok, line(line_kind::rcpt, "RCPT TO:" + t.rcpt, std::nullopt)};
  } else if (spec[0] == 'M') {
    out = {line(line_kind::mail, "MAIL FROM:" + t.mail, parse(spec.substr(1))),
           line(line_kind::rcpt, "RCPT TO:" + t.rcpt, std::nullopt, false)};
  } else if (spec[0] == 'X') {
    out = {line(line_kind::xclient, "XCLIENT " + t.xclient, parse(spec.substr(1)))};
  } else if (spec[0] == 'P') {
    out = {line(line_kind::banner, "", rep(220)),
           line(line_kind::proxy, "PROXY", parse(spec.substr(1)))};
  } else {
    out = {mail_ok, line(line_kind::rcpt, "RCPT TO:" + t.rcpt, parse(spec))};
  }
  return out;
}

const std::vector<test_case>& battery() {
  static const std::vector<test_case> b = [] {
    target_identity id;
    id.address = *inet::ip_address::parse("192.0.2.10");
    id.banner_host = "mx.example.org";
    id.local_domains = {"example.org"};
    battery_options o;
    o.token = "t0k";
    return build_battery(id, o);
  }();
  return b;
}

// Facts from overrides over defaults: relay tests "554 5.7.1", the local control "250", the
// accept-all control "554 5.7.1", info tests "250". An override of "" drops the test.
target_facts facts_with(const std::map<std::string, std::string>& overrides) {
  target_facts f;
  f.session = true;
  f.test_domain = "example.net";
  for (const auto& t : battery()) {
    std::string spec = t.kind == test_kind::local_control ? "250"
                       : t.kind == test_kind::info        ? "250"
                                                          : "554 5.7.1";
    if (auto it = overrides.find(t.id); it != overrides.end()) spec = it->second;
    if (spec.empty()) continue;
    test_result r;
    r.test = t;
    r.lines = lines_for(t, spec);
    r.outcome = judge(r.lines, &r.detail);
    r.attempts = 1;
    f.results.push_back(std::move(r));
  }
  return f;
}

std::map<std::string, std::string> every_relay(const std::string& spec) {
  std::map<std::string, std::string> m;
  for (const auto& t : battery()) {
    if (t.kind == test_kind::relay) m[t.id] = spec;
  }
  return m;
}

struct classify_case {
  std::string name;
  target_facts facts;
  verdict want;
  bool accepts_all = false;
  bool unsafe = false;
  std::string reason_has;  // a substring of the joined reasons
};

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

TEST(Classify, Table) {
  auto all_530 = every_relay("530 5.7.0");
  auto mixed_530 = every_relay("554 5.7.1");
  mixed_530["plain"] = "530 5.7.0";
  auto all_mail_refused = every_relay("M553");
  all_mail_refused["ctl-local"] = "M553";
  auto no_session = facts_with({});
  no_session.session = false;
  no_session.session_failure = "banner: 554 5.7.1 go away";
  no_session.results.clear();
  auto own = facts_with({{"plain", "250"}});
  own.test_domain_own = true;
  auto no_relay = facts_with(every_relay(""));

  const std::vector<classify_case> cases = {
      {"every relay refused, local accepted", facts_with({}), verdict::closed, false, false,
       "every relay variant was refused"},
      {"plain external accepted", facts_with({{"plain", "250"}}), verdict::open, false, false,
       "plain external (plain): MAIL FROM:<mxguard-probe@example.net> "
       "RCPT TO:<relaytest@example.net> -> 250 text; accepts relay at RCPT, not verified by "
       "delivery"},
      {"accepts all", facts_with({{"plain", "250"}, {"ctl-any", "250"}}), verdict::open, true,
       false, "accepts-all: <nobody-t0k@t0k.invalid> was accepted too"},
      {"only the percent hack passes: unsafe parsing", facts_with({{"nmap-05", "250"}}),
       verdict::open, false, true, "unsafe parsing: the plain external test was refused"},
      {"tricks pass and the plain test too: not unsafe parsing",
       facts_with({{"nmap-05", "250"}, {"plain", "250"}}), verdict::open, false, false,
       "percent hack via IP literal"},
      {"a trick passes, plain not completed: no qualifier",
       facts_with({{"nmap-05", "250"}, {"plain", "-"}}), verdict::open, false, false, ""},
      {"sender spoofing passes: open, not unsafe parsing", facts_with({{"sender-local", "250"}}),
       verdict::open, false, false, "sender in a local domain"},
      {"XCLIENT spoof passes", facts_with({{"xclient", "250"}}), verdict::open, false, false,
       "XCLIENT"},
      {"open wins over incomplete tests", facts_with({{"plain", "250"}, {"nmap-03", "-"}}),
       verdict::open, false, false, ""},
      {"every relay deferred: greylisting", facts_with(every_relay("451 4.7.1")), verdict::tempfail,
       false, false, "deferred (4xx: greylisting or deferral)"},
      {"one relay deferred", facts_with({{"plain", "450 4.7.1"}}), verdict::tempfail, false, false,
       "1 of"},
      {"local control deferred", facts_with({{"ctl-local", "450 4.2.0"}}), verdict::tempfail, false,
       false, "the local control <postmaster@example.org> was deferred"},
      {"MAIL needs auth for the local control", facts_with({{"ctl-local", "M530 5.7.0"}}),
       verdict::auth_required, false, false, "MAIL 530 5.7.0"},
      {"every relay variant meets 530", facts_with(all_530), verdict::auth_required, false, false,
       "every relay variant met authentication"},
      {"some 530 among refusals: closed, noted", facts_with(mixed_530), verdict::closed, false,
       false, "1 refusals asked for authentication"},
      {"a relay test did not complete", facts_with({{"nmap-09", "-"}}), verdict::inconclusive,
       false, false, "did not complete, e.g. double @ via IP literal: no answer to RCPT TO:"},
      {"local control refused", facts_with({{"ctl-local", "550 5.1.1"}}), verdict::inconclusive,
       false, false, "the local control <postmaster@example.org> was not accepted"},
      {"no local control", facts_with({{"ctl-local", ""}}), verdict::inconclusive, false, false,
       "no local control"},
      {"MAIL refused for every sender", facts_with(all_mail_refused), verdict::inconclusive, false,
       false, "MAIL was refused for every sender"},
      {"accept-all control accepted alone", facts_with({{"ctl-any", "250"}}), verdict::inconclusive,
       false, false, "was accepted while every relay variant was refused"},
      {"no session", no_session, verdict::inconclusive, false, false, "banner: 554 5.7.1 go away"},
      {"test domain is own: an acceptance proves nothing", own, verdict::inconclusive, false, false,
       "is the target's own"},
      {"an info test accepted is not a relay", facts_with({{"unqualified", "250"}}),
       verdict::closed, false, false, ""},
      {"PROXY answered as a command counts as refused", facts_with({{"proxy", "P500"}}),
       verdict::closed, false, false, ""},
      {"XCLIENT refused counts as refused", facts_with({{"xclient", "X502"}}), verdict::closed,
       false, false, ""},
      {"no relay variant at all", no_relay, verdict::inconclusive, false, false,
       "no relay variant was run"},
  };
  for (const auto& c : cases) {
    const classification got = classify(c.facts);
    EXPECT_EQ(name(got.v), name(c.want)) << "case: " << c.name << "\nreasons:\n"
                                         << joined(got.reasons);
    EXPECT_EQ(got.accepts_all, c.accepts_all) << "case: " << c.name;
    EXPECT_EQ(got.unsafe_parsing, c.unsafe) << "case: " << c.name;
    EXPECT_NE(joined(got.reasons).find(c.reason_has), std::string::npos)
        << "case: " << c.name << "\nwant a reason containing: " << c.reason_has
        << "\ngot reasons:\n"
        << joined(got.reasons);
    EXPECT_FALSE(got.reasons.empty()) << "case: " << c.name << ": a verdict always says why";
  }
}

TEST(Classify, ExitCode) {
  using V = verdict;
  const struct {
    std::vector<verdict> in;
    int want;
  } cases[] = {
      {{}, 0},
      {{V::closed}, 0},
      {{V::closed, V::closed}, 0},
      {{V::open}, 1},
      {{V::closed, V::open, V::inconclusive}, 1},
      {{V::tempfail}, 2},
      {{V::auth_required, V::closed}, 2},
      {{V::closed, V::inconclusive}, 2},
  };
  for (const auto& c : cases) {
    std::string in;
    for (auto v : c.in) in += std::string(name(v)) + " ";
    EXPECT_EQ(exit_code(c.in), c.want) << "verdicts: " << in;
  }
}

}  // namespace
}  // namespace mx::probe
