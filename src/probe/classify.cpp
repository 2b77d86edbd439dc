#include "probe/classify.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace mx::probe {

namespace {

bool relay(const test_result& r) {
  return r.test.kind == test_kind::relay;
}

std::string rcpt_text(const test_result& r) {
  return fmt::format("MAIL FROM:{} RCPT TO:{}", r.test.mail, r.test.rcpt);
}

const test_result* find_kind(const std::vector<test_result>& results, test_kind k) {
  for (const auto& r : results) {
    if (r.test.kind == k) return &r;
  }
  return nullptr;
}

}  // namespace

std::string one_line(const smtp::reply& r, std::size_t max) {
  std::string text = r.lines.empty() ? std::string() : r.lines.front();
  if (text.size() > max) text = text.substr(0, max) + "...";
  for (char& c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  std::string out = std::to_string(r.code);
  if (!r.enhanced.empty()) out += " " + r.enhanced;
  if (!text.empty()) out += " " + text;
  return out;
}

std::string_view name(test_outcome o) {
  switch (o) {
    case test_outcome::accepted:
      return "accepted";
    case test_outcome::refused:
      return "refused";
    case test_outcome::deferred:
      return "deferred";
    case test_outcome::auth_required:
      return "auth-required";
    case test_outcome::mail_refused:
      return "mail-refused";
    case test_outcome::not_completed:
      return "not-completed";
  }
  return "?";
}

std::string_view name(verdict v) {
  switch (v) {
    case verdict::closed:
      return "CLOSED";
    case verdict::open:
      return "OPEN";
    case verdict::tempfail:
      return "TEMPFAIL";
    case verdict::auth_required:
      return "AUTH-REQUIRED";
    case verdict::inconclusive:
      return "INCONCLUSIVE";
  }
  return "?";
}

bool auth_demanded(const smtp::reply& r) {
  return r.code == 530 || (r.klass() == 5 && r.enhanced == "5.7.0");
}

test_outcome judge(const std::vector<dialogue_line>& lines, std::string* detail) {
  std::string ignored;
  std::string& why = detail ? *detail : ignored;
  why.clear();
  for (const auto& l : lines) {
    if (!l.was_sent) continue;  // skipped after a refusal that already decided
    if (!l.answer) {
      if (l.kind == line_kind::proxy) continue;  // silence: the header was taken, or ignored
      why = l.kind == line_kind::banner ? "no greeting" : "no answer to " + l.sent;
      return test_outcome::not_completed;
    }
    const smtp::reply& r = *l.answer;
    const std::string said = one_line(r);
    switch (l.kind) {
      case line_kind::banner:
        if (r.klass() != 2) {
          why = "banner " + said;
          return test_outcome::refused;
        }
        break;
      case line_kind::proxy:
        why = "the PROXY header was answered as a command: " + said;
        return test_outcome::refused;
      case line_kind::xclient:
      case line_kind::ehlo:
      case line_kind::helo:
        if (r.klass() != 2) {
          why = l.sent.substr(0, l.sent.find(' ')) + " " + said;
          return test_outcome::refused;
        }
        break;
      case line_kind::rset:
        break;
      case line_kind::mail:
        if (r.klass() == 2) break;
        why = "MAIL " + said;
        if (auth_demanded(r)) return test_outcome::auth_required;
        return r.klass() == 4 ? test_outcome::deferred : test_outcome::mail_refused;
      case line_kind::rcpt:
        why = said;
        if (r.klass() == 2) return test_outcome::accepted;
        if (auth_demanded(r)) return test_outcome::auth_required;
        if (r.klass() == 4) return test_outcome::deferred;
        return r.klass() == 3 ? test_outcome::not_completed : test_outcome::refused;
    }
  }
  if (why.empty()) why = "no RCPT answer";
  return test_outcome::not_completed;
}

classification classify(const target_facts& facts) {
  classification c;
  if (!facts.session) {
    c.v = verdict::inconclusive;
    c.reasons.push_back(facts.session_failure.empty() ? "no SMTP session" : facts.session_failure);
    return c;
  }
  if (facts.test_domain_own) {
    c.v = verdict::inconclusive;
    c.reasons.push_back(fmt::format(
        "the test domain {} is the target's own (a local domain or its hostname): an accepted "
        "recipient there proves nothing; choose another --test-domain",
        facts.test_domain));
    return c;
  }

  const auto& results = facts.results;
  const test_result* local = find_kind(results, test_kind::local_control);
  const test_result* any = find_kind(results, test_kind::accept_all_control);
  const bool any_accepted = any && any->outcome == test_outcome::accepted;

  // OPEN
  std::vector<const test_result*> accepted;
  for (const auto& r : results) {
    if (relay(r) && r.outcome == test_outcome::accepted) accepted.push_back(&r);
  }
  if (!accepted.empty()) {
    c.v = verdict::open;
    c.accepts_all = any_accepted;
    const test_result* plain = nullptr;  // the plain external test(s): before and after TLS
    bool plain_refused = true;
    for (const auto& r : results) {
      if (!relay(r) || r.test.family != test_family::plain) continue;
      if (!plain) plain = &r;
      plain_refused = plain_refused && r.outcome == test_outcome::refused;
    }
    c.unsafe_parsing = plain && plain_refused &&
                       std::all_of(accepted.begin(), accepted.end(), [](const test_result* r) {
                         return r->test.family == test_family::trick;
                       });
    for (const auto* r : accepted) {
      c.reasons.push_back(
          fmt::format("{} ({}): {} -> {}; accepts relay at RCPT, not verified by "
                      "delivery",
                      r->test.form, r->test.id, rcpt_text(*r), r->detail));
    }
    if (c.accepts_all) {
      c.reasons.push_back(fmt::format(
          "accepts-all: {} was accepted too (a relay, a sink, a catch-all or a honeypot; only "
          "delivery could tell, and we never deliver)",
          any->test.rcpt));
    }
    if (c.unsafe_parsing) {
      c.reasons.push_back(
          fmt::format("unsafe parsing: the plain external test was refused ({}) "
                      "but address tricks passed",
                      plain->detail));
    }
    return c;
  }

  std::size_t relay_total = 0;
  std::size_t relay_auth = 0;
  std::size_t relay_completed = 0;
  std::size_t relay_mail_refused = 0;
  std::vector<const test_result*> deferred;
  std::vector<const test_result*> incomplete;
  for (const auto& r : results) {
    if (!relay(r)) continue;
    ++relay_total;
    if (r.outcome != test_outcome::not_completed) ++relay_completed;
    if (r.outcome == test_outcome::auth_required) ++relay_auth;
    if (r.outcome == test_outcome::mail_refused) ++relay_mail_refused;
    if (r.outcome == test_outcome::deferred) deferred.push_back(&r);
    if (r.outcome == test_outcome::not_completed) incomplete.push_back(&r);
  }

  // AUTH-REQUIRED
  if (local && local->outcome == test_outcome::auth_required) {
    c.v = verdict::auth_required;
    c.reasons.push_back(
        fmt::format("the local control {} met {}", local->test.rcpt, local->detail));
    return c;
  }
  if (relay_completed > 0 && relay_auth == relay_completed) {
    c.v = verdict::auth_required;
    const test_result* first = nullptr;
    for (const auto& r : results) {
      if (relay(r) && r.outcome == test_outcome::auth_required && !first) first = &r;
    }
    c.reasons.push_back(
        fmt::format("every relay variant met authentication, e.g. {}", first->detail));
    return c;
  }

  // TEMPFAIL
  if (!deferred.empty() || (local && local->outcome == test_outcome::deferred)) {
    c.v = verdict::tempfail;
    if (!deferred.empty()) {
      c.reasons.push_back(fmt::format(
          "{} of {} relay variants deferred (4xx: greylisting or "
          "deferral), e.g. {}: {}",
          deferred.size(), relay_total, deferred.front()->test.form, deferred.front()->detail));
    }
    if (local && local->outcome == test_outcome::deferred) {
      c.reasons.push_back(
          fmt::format("the local control {} was deferred: {}", local->test.rcpt, local->detail));
    }
    return c;
  }

  // INCONCLUSIVE
  if (!incomplete.empty()) {
    const test_result* example = incomplete.front();  // prefer one that was tried
    for (const auto* r : incomplete) {
      if (r->attempts > 0) {
        example = r;
        break;
      }
    }
    c.reasons.push_back(fmt::format("{} of {} relay variants did not complete, e.g. {}: {}",
                                    incomplete.size(), relay_total, example->test.form,
                                    example->detail));
  }
  if (relay_total > 0 && relay_mail_refused == relay_total) {
    c.reasons.push_back("MAIL was refused for every sender: recipients were never judged");
  }
  if (!local) {
    c.reasons.push_back(
        "no local control: no local domain is known (give --local-domain) and the banner names "
        "no host");
  } else if (local->outcome != test_outcome::accepted) {
    c.reasons.push_back(fmt::format(
        "the local control {} was not accepted ({}): refusing relays proves nothing when local "
        "mail is refused too; give a domain the target serves with --local-domain",
        local->test.rcpt, local->detail));
  }
  if (any_accepted) {
    c.reasons.push_back(
        fmt::format("{} was accepted while every relay variant was refused", any->test.rcpt));
  }
  if (relay_total == 0) c.reasons.push_back("no relay variant was run");
  if (!c.reasons.empty()) {
    c.v = verdict::inconclusive;
    return c;
  }

  c.v = verdict::closed;
  c.reasons.push_back(
      fmt::format("every relay variant was refused ({} tests); the local control "
                  "{} was accepted",
                  relay_total, local->test.rcpt));
  if (relay_auth > 0) {
    c.reasons.push_back(
        fmt::format("{} refusals asked for authentication (530 / 5.7.0)", relay_auth));
  }
  return c;
}

int exit_code(const std::vector<verdict>& verdicts) {
  bool other = false;
  for (verdict v : verdicts) {
    if (v == verdict::open) return 1;
    if (v != verdict::closed) other = true;
  }
  return other ? 2 : 0;
}

}  // namespace mx::probe
