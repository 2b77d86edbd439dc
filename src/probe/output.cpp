#include "probe/output.hpp"

#include <fmt/format.h>

#include <map>

namespace mx::probe {

namespace {

std::string_view kind_name(test_kind k) {
  switch (k) {
    case test_kind::relay:
      return "relay";
    case test_kind::local_control:
      return "local-control";
    case test_kind::accept_all_control:
      return "accept-all-control";
    case test_kind::info:
      return "info";
  }
  return "?";
}

std::string_view family_name(test_family f) {
  switch (f) {
    case test_family::plain:
      return "plain";
    case test_family::sender:
      return "sender";
    case test_family::trick:
      return "trick";
    case test_family::spoof:
      return "spoof";
    case test_family::control:
      return "control";
  }
  return "?";
}

// The reply as sent on the wire, one string per line, without CRLF.
std::vector<std::string> wire_lines(const smtp::reply& r) {
  std::vector<std::string> out;
  const std::string w = r.wire();
  std::size_t pos = 0;
  while (pos < w.size()) {
    const std::size_t crlf = w.find("\r\n", pos);
    if (crlf == std::string::npos) break;
    out.push_back(w.substr(pos, crlf - pos));
    pos = crlf + 2;
  }
  return out;
}

std::string json_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += json_string(items[i]);
  }
  return out + "]";
}

std::string json_reply(const std::optional<smtp::reply>& r) {
  if (!r) return "null";
  return fmt::format("{{\"code\": {}, \"enhanced\": {}, \"lines\": {}}}", r->code,
                     json_string(r->enhanced), json_list(wire_lines(*r)));
}

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string verdict_text(const target_report& r) {
  std::string out(name(r.result.v));
  const auto q = qualifiers(r.result);
  if (!q.empty()) {
    out += " (";
    for (std::size_t i = 0; i < q.size(); ++i) out += (i ? ", " : "") + q[i];
    out += ")";
  }
  return out;
}

}  // namespace

std::string json_string(std::string_view s) {
  std::string out = "\"";
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c == '\n') {
      out += "\\n";
      ++i;
    } else if (c == '\r') {
      out += "\\r";
      ++i;
    } else if (c == '\t') {
      out += "\\t";
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", c);
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      // A well-formed UTF-8 sequence (RFC 3629 table) passes; anything else is U+FFFD.
      std::size_t n = 0;
      unsigned char lo = 0x80;
      unsigned char hi = 0xbf;
      if (c >= 0xc2 && c <= 0xdf) {
        n = 1;
      } else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
      } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
      }
      bool ok = n > 0 && i + n < s.size();
      for (std::size_t k = 1; ok && k <= n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        ok = b >= (k == 1 ? lo : 0x80) && b <= (k == 1 ? hi : 0xbf);
      }
      if (ok) {
        out.append(s.substr(i, n + 1));
        i += n + 1;
      } else {
        out += "\\ufffd";
        ++i;
      }
    }
  }
  return out + "\"";
}

std::string printable(std::string_view s, std::size_t max) {
  std::string out(s.substr(0, max));
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  if (s.size() > max) out += "...";
  return out;
}

std::vector<std::string> qualifiers(const classification& c) {
  std::vector<std::string> out;
  if (c.accepts_all) out.emplace_back("accepts-all");
  if (c.unsafe_parsing) out.emplace_back("unsafe parsing");
  return out;
}

std::string format_table(const target_report& r) {
  std::string out;
  out += fmt::format("== {}", printable(r.target, 120));
  if (!r.endpoint.empty() && r.endpoint != r.target) out += fmt::format(" ({})", r.endpoint);
  out += fmt::format("  {}\n", verdict_text(r));
  if (r.banner) out += fmt::format("banner:       {}\n", one_line(*r.banner, 120));
  if (r.hello) {
    std::string caps = r.caps.esmtp ? "ESMTP" : "SMTP (HELO)";
    for (const auto& k : r.caps.keywords) caps += " " + printable(k, 40);
    out += fmt::format("extensions:   {}\n", printable(caps, 160));
  }
  if (!r.local_domain.empty()) out += fmt::format("local domain: {}\n", r.local_domain);
  if (!r.facts.results.empty()) {
    std::map<test_outcome, std::size_t> counts;
    for (const auto& t : r.facts.results) ++counts[t.outcome];
    out += fmt::format(
        "tests:        {} ({} accepted, {} refused, {} deferred, {} auth-required, "
        "{} MAIL refused, {} not completed); {} connection{}\n",
        r.facts.results.size(), counts[test_outcome::accepted], counts[test_outcome::refused],
        counts[test_outcome::deferred], counts[test_outcome::auth_required],
        counts[test_outcome::mail_refused], counts[test_outcome::not_completed], r.connections,
        r.connections == 1 ? "" : "s");
    out +=
        fmt::format("  {} {} {} {}\n", pad("id", 22), pad("form", 38), pad("outcome", 14), "reply");
    for (const auto& t : r.facts.results) {
      const bool mark = t.test.kind == test_kind::relay && t.outcome == test_outcome::accepted;
      out += fmt::format("{} {} {} {} {}\n", mark ? "!" : " ", pad(t.test.id, 22),
                         pad(t.test.form, 38), pad(std::string(name(t.outcome)), 14),
                         printable(t.detail, 90));
    }
  }
  out += fmt::format("verdict: {}\n", verdict_text(r));
  for (const auto& reason : r.result.reasons) out += "  - " + printable(reason, 400) + "\n";
  for (const auto& note : r.notes) out += "note: " + printable(note, 400) + "\n";
  return out;
}

std::string format_summary(const std::vector<target_report>& reports) {
  std::string out;
  for (const auto& r : reports) {
    out += fmt::format("{} {}", pad(verdict_text(r), 14), printable(r.target, 120));
    if (!r.endpoint.empty() && r.endpoint != r.target) out += " (" + r.endpoint + ")";
    out += "\n";
  }
  return out;
}

std::string format_json(const std::vector<target_report>& reports) {
  std::string out = "{\"targets\": [";
  std::map<verdict, std::size_t> counts;
  std::vector<verdict> verdicts;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const target_report& r = reports[i];
    ++counts[r.result.v];
    verdicts.push_back(r.result.v);
    if (i) out += ",";
    out += "\n  {";
    out += fmt::format("\"target\": {}, \"endpoint\": {}, \"verdict\": {}, \"qualifiers\": {}, ",
                       json_string(r.target), json_string(r.endpoint),
                       json_string(name(r.result.v)), json_list(qualifiers(r.result)));
    out += fmt::format("\"reasons\": {}, \"notes\": {}, ", json_list(r.result.reasons),
                       json_list(r.notes));
    out += fmt::format(
        "\"banner\": {}, \"ehlo\": {}, \"banner_host\": {}, \"local_domain\": {}, "
        "\"test_domain\": {}, ",
        json_reply(r.banner), json_reply(r.hello), json_string(r.banner_host),
        json_string(r.local_domain), json_string(r.facts.test_domain));
    out += fmt::format(
        "\"capabilities\": {{\"esmtp\": {}, \"pipelining\": {}, \"starttls\": {}, "
        "\"xclient\": {}, \"keywords\": {}}}, ",
        r.caps.esmtp, r.caps.pipelining, r.caps.starttls, r.caps.xclient,
        json_list(r.caps.keywords));
    out += fmt::format("\"connections\": {}, \"tests\": [", r.connections);
    for (std::size_t j = 0; j < r.facts.results.size(); ++j) {
      const test_result& t = r.facts.results[j];
      if (j) out += ",";
      out += fmt::format(
          "\n    {{\"id\": {}, \"form\": {}, \"kind\": {}, \"family\": {}, \"outcome\": {}, "
          "\"detail\": {}, \"attempts\": {}, \"after_starttls\": {}, \"commands\": [",
          json_string(t.test.id), json_string(t.test.form), json_string(kind_name(t.test.kind)),
          json_string(family_name(t.test.family)), json_string(name(t.outcome)),
          json_string(t.detail), t.attempts, t.test.after_starttls);
      for (std::size_t k = 0; k < t.lines.size(); ++k) {
        const dialogue_line& l = t.lines[k];
        if (k) out += ", ";
        out += fmt::format("{{\"send\": {}, \"sent\": {}, \"reply\": {}}}",
                           l.kind == line_kind::banner ? "null" : json_string(l.sent), l.was_sent,
                           json_reply(l.answer));
      }
      out += "]}";
    }
    out += "]}";
  }
  out += "\n],\n\"summary\": {";
  out += fmt::format("\"targets\": {}", reports.size());
  for (verdict v : {verdict::open, verdict::closed, verdict::tempfail, verdict::auth_required,
                    verdict::inconclusive}) {
    out += fmt::format(", {}: {}", json_string(name(v)), counts[v]);
  }
  out += fmt::format("}},\n\"exit\": {}}}\n", exit_code(verdicts));
  return out;
}

std::string format_test_list() {
  std::string out;
  out +=
      "Placeholders: {from} the sender (--from), {fl} its local part, {to} the recipient local "
      "part (--to),\n{T} the test domain (--test-domain), {Tmix} it in mixed case, {H} the "
      "banner hostname, {I} the target's\nIP literal, {L} the first local domain (else {H}), "
      "{rand} a random token.\nWhen STARTTLS is offered (--starttls auto), every test but proxy "
      "runs again inside TLS as "
      "<id>+tls.\n\n";
  for (const auto& row : catalogue()) {
    out += fmt::format("{}  {} [{}, {}]\n", pad(std::string(row.id), 22), row.form,
                       kind_name(row.kind), family_name(row.family));
    std::string form;
    if (row.special == probe_special::proxy) {
      form = "PROXY TCP4 127.0.0.1 {I} 40025 {port} (first, on its own connection), then ";
    }
    if (row.special == probe_special::xclient) form = "XCLIENT ADDR=127.0.0.1, EHLO, then ";
    out += fmt::format("{}  {}MAIL FROM:{} RCPT TO:{}\n", pad("", 22), form, row.mail, row.rcpt);
    out += fmt::format("{}  exploits:  {}\n", pad("", 22), row.exploits);
    out += fmt::format("{}  reference: {}\n", pad("", 22), row.reference);
  }
  return out;
}

}  // namespace mx::probe
