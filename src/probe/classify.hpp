// probe/classify: from one target's test results to its verdict. Pure.
//
// Each test is judged from its replies (judge): accepted (2xx at RCPT), refused (5xx), deferred
// (4xx), auth-required (530 or 5.7.0), MAIL refused for that sender, or not completed. The
// target's verdict (classify), first rule that applies:
//   INCONCLUSIVE  no usable session (connect failed, banner 554/421, EHLO and HELO refused), or the
//                 test domain is the target's own (then an acceptance proves nothing);
//   OPEN          a relay variant got 2xx at RCPT ("accepts relay at RCPT, not verified by
//                 delivery"), with the qualifiers "accepts-all" (the random .invalid control was
//                 accepted too: a relay, a sink, a catch-all or a honeypot; only delivery could
//                 tell, and we never deliver) and "unsafe parsing" (only address tricks passed
//                 while the plain external test was refused);
//   AUTH-REQUIRED the local control, or every relay variant, met 530 / 5.7.0 (authentication or
//                 STARTTLS first): nothing could be tested;
//   TEMPFAIL      a relay variant or the local control got 4xx (greylisting, deferral);
//   INCONCLUSIVE  a relay variant did not complete (timeout, disconnect), MAIL was refused for
//                 every sender, the local control was refused or missing, or the accept-all
//                 control was accepted while every relay variant was refused;
//   CLOSED        every relay variant 5xx and the local control 2xx.
//
// SECURITY: a verdict is a claim about someone's server; CLOSED needs positive evidence (the
// local control accepted), so a server that refuses everything from us is never called CLOSED.
// RFCs: 5321 4.2 (reply classes), 4.5.1 (postmaster); 3463 (5.7.0); 4954 6 (530).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probe/battery.hpp"
#include "smtp/reply.hpp"

namespace mx::probe {

// One line of a test's dialogue: what was sent and the reply. `banner` is the greeting of the
// PROXY probe's own connection (nothing sent); `proxy` is the PROXY header, whose answer, if
// any, means the target read it as a command.
enum class line_kind : std::uint8_t { banner, proxy, xclient, ehlo, helo, rset, mail, rcpt };

struct dialogue_line {
  line_kind kind = line_kind::rcpt;
  std::string sent;  // without CRLF; empty for the banner
  bool was_sent = true;
  std::optional<smtp::reply> answer;

  friend bool operator==(const dialogue_line&, const dialogue_line&) = default;
};

enum class test_outcome : std::uint8_t {
  accepted,       // 2xx at RCPT
  refused,        // 5xx at RCPT (or XCLIENT / PROXY refused: the spoof did not take)
  deferred,       // 4xx at MAIL or RCPT
  auth_required,  // 530 or 5.7.0 at MAIL or RCPT
  mail_refused,   // 5xx at MAIL: this sender was refused, the recipient never judged
  not_completed,  // no answer: timeout, disconnect, protocol error, not run
};
std::string_view name(test_outcome o);

struct test_result {
  test_case test;
  std::vector<dialogue_line> lines;  // the last attempt
  test_outcome outcome = test_outcome::not_completed;
  std::string detail;  // the deciding reply, or why it did not complete
  int attempts = 0;
};

// "554 5.7.1 <a@b>: Relay access denied" (the first line; control characters shown as '?',
// at most `max` octets of text): server text is untrusted and may hold terminal escapes.
std::string one_line(const smtp::reply& r, std::size_t max = 200);

// True for "authenticate (or STARTTLS) first": 530 (RFC 4954 6), or enhanced code 5.7.0.
bool auth_demanded(const smtp::reply& r);

// Judges one test from its dialogue; `detail` gets the deciding reply or the missing step.
test_outcome judge(const std::vector<dialogue_line>& lines, std::string* detail);

enum class verdict : std::uint8_t { closed, open, tempfail, auth_required, inconclusive };
std::string_view name(verdict v);  // "CLOSED", "OPEN", "TEMPFAIL", "AUTH-REQUIRED", "INCONCLUSIVE"

struct target_facts {
  bool session = false;         // a greeting and an accepted EHLO/HELO, at least once
  std::string session_failure;  // why not
  bool test_domain_own = false;
  std::string test_domain;
  std::vector<test_result> results;
};

struct classification {
  verdict v = verdict::inconclusive;
  bool accepts_all = false;
  bool unsafe_parsing = false;
  std::vector<std::string> reasons;  // OPEN: each accepted variant and its reply

  friend bool operator==(const classification&, const classification&) = default;
};

classification classify(const target_facts& facts);

// 0 every target CLOSED; 1 any OPEN; 2 any TEMPFAIL, AUTH-REQUIRED or INCONCLUSIVE (none OPEN).
int exit_code(const std::vector<verdict>& verdicts);

}  // namespace mx::probe
