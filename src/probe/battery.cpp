#include "probe/battery.hpp"

#include <fmt/format.h>

#include <array>

#include "smtp/address.hpp"

namespace mx::probe {

namespace {

using K = test_kind;
using F = test_family;
using S = probe_special;

// The catalogue, in run order. nmap's rows keep nmap's sender ({fl}@{I} for its tests 4-16) so
// that a target's answers compare one to one with nmap's.
constexpr std::array<catalogue_entry, 42> rows = {{
    // -- controls
    {"ctl-local", "local control: postmaster", K::local_control, F::control, S::none, "<{from}>",
     "<postmaster@{L}>", "nothing: a server must accept postmaster at its own domains",
     "RFC 5321 4.5.1"},
    {"plain", "plain external", K::relay, F::plain, S::none, "<{from}>", "<{to}@{T}>",
     "relays for anyone (nmap test 2)", "RFC 5321 3.6.2; nmap smtp-open-relay #2"},
    {"ctl-any", "accept-all control: random .invalid", K::accept_all_control, F::control, S::none,
     "<{from}>", "<nobody-{rand}@{rand}.invalid>",
     "accepts any recipient at RCPT (real relay, sink, catch-all or honeypot)",
     "RFC 2606 (.invalid)"},
    // -- nmap smtp-open-relay, tests 1 and 3-16
    {"nmap-01", "null sender", K::relay, F::sender, S::none, "<>", "<{to}@{T}>",
     "trusts bounces (the null reverse-path)", "nmap smtp-open-relay #1; RFC 5321 4.5.5"},
    {"nmap-03", "sender at the banner hostname", K::relay, F::sender, S::none, "<{fl}@{H}>",
     "<{to}@{T}>", "relays for senders claiming its own hostname", "nmap smtp-open-relay #3"},
    {"nmap-04", "sender at the target's IP literal", K::relay, F::sender, S::none, "<{fl}@{I}>",
     "<{to}@{T}>", "relays for senders claiming its own address", "nmap smtp-open-relay #4"},
    {"nmap-05", "percent hack via IP literal", K::relay, F::trick, S::none, "<{fl}@{I}>",
     "<{to}%{T}@{I}>", "routes user%domain@self to domain (sendmail percent hack)",
     "nmap smtp-open-relay #5; RFC 1123 5.2.16"},
    {"nmap-06", "percent hack via hostname", K::relay, F::trick, S::none, "<{fl}@{I}>",
     "<{to}%{T}@{H}>", "percent hack through its hostname", "nmap smtp-open-relay #6"},
    {"nmap-07", "quoted local part with @", K::relay, F::trick, S::none, "<{fl}@{I}>",
     "<\"{to}@{T}\">", "unquotes \"user@domain\" and relays to it",
     "nmap smtp-open-relay #7; RFC 5321 4.1.2"},
    {"nmap-08", "quoted local part with %", K::relay, F::trick, S::none, "<{fl}@{I}>",
     "<\"{to}%{T}\">", "unquotes \"user%domain\" into a percent hack", "nmap smtp-open-relay #8"},
    {"nmap-09", "double @ via IP literal", K::relay, F::trick, S::none, "<{fl}@{I}>",
     "<{to}@{T}@{I}>", "reads the first '@' of user@domain@self", "nmap smtp-open-relay #9"},
    {"nmap-10", "quoted and routed via IP literal", K::relay, F::trick, S::none, "<{fl}@{I}>",
     "<\"{to}@{T}\"@{I}>", "delivers \"user@domain\"@self by unquoting",
     "nmap smtp-open-relay #10; Postfix resolve_dequoted_address"},
    {"nmap-11", "double @ via hostname", K::relay, F::trick, S::none, "<{fl}@{I}>",
     "<{to}@{T}@{H}>", "reads the first '@' of user@domain@hostname", "nmap smtp-open-relay #11"},
    {"nmap-12", "source route via IP literal", K::relay, F::trick, S::none, "<{fl}@{I}>",
     "<@{I}:{to}@{T}>", "follows a source route (must be ignored)",
     "nmap smtp-open-relay #12; RFC 5321 3.6.1, appendix C"},
    {"nmap-13", "source route via hostname", K::relay, F::trick, S::none, "<{fl}@{I}>",
     "<@{H}:{to}@{T}>", "follows a source route through its hostname",
     "nmap smtp-open-relay #13; RFC 5321 3.6.1"},
    {"nmap-14", "bang path, bare", K::relay, F::trick, S::none, "<{fl}@{I}>", "<{T}!{to}>",
     "routes a UUCP bang path", "nmap smtp-open-relay #14; RFC 976"},
    {"nmap-15", "bang path via IP literal", K::relay, F::trick, S::none, "<{fl}@{I}>",
     "<{T}!{to}@{I}>", "routes domain!user@self", "nmap smtp-open-relay #15"},
    {"nmap-16", "bang path via hostname", K::relay, F::trick, S::none, "<{fl}@{I}>",
     "<{T}!{to}@{H}>", "routes domain!user@hostname", "nmap smtp-open-relay #16"},
    // -- senders the target may trust
    {"sender-local", "sender in a local domain", K::relay, F::sender, S::none, "<{fl}@{L}>",
     "<{to}@{T}>", "relays for senders claiming its own domain (a forged From is free)",
     "RFC 5321 7.1"},
    {"sender-localhost", "sender at localhost", K::relay, F::sender, S::none, "<{fl}@localhost>",
     "<{to}@{T}>", "relays for senders claiming localhost", "RFC 5321 7.1"},
    {"sender-loopback", "sender at [127.0.0.1]", K::relay, F::sender, S::none, "<{fl}@[127.0.0.1]>",
     "<{to}@{T}>", "relays for senders claiming the loopback address", "RFC 5321 7.1"},
    // -- recipient tricks through the target's own names
    {"percent-local", "percent hack via local domain", K::relay, F::trick, S::none, "<{from}>",
     "<{to}%{T}@{L}>", "routes user%domain@localdomain to domain", "RFC 1123 5.2.16"},
    {"percent-localhost", "percent hack via localhost", K::relay, F::trick, S::none, "<{from}>",
     "<{to}%{T}@localhost>", "percent hack through localhost", "RFC 1123 5.2.16"},
    {"percent-loopback", "percent hack via [127.0.0.1]", K::relay, F::trick, S::none, "<{from}>",
     "<{to}%{T}@[127.0.0.1]>", "percent hack through the loopback literal", "RFC 1123 5.2.16"},
    {"double-at-local", "double @ via local domain", K::relay, F::trick, S::none, "<{from}>",
     "<{to}@{T}@{L}>", "reads the first '@' of user@domain@localdomain", "RFC 5321 4.1.2"},
    {"quoted-at-local", "quoted @ via local domain", K::relay, F::trick, S::none, "<{from}>",
     "<\"{to}@{T}\"@{L}>", "unquotes \"user@domain\"@localdomain",
     "RFC 5321 4.1.2; Postfix resolve_dequoted_address"},
    {"quoted-percent-local", "quoted % via local domain", K::relay, F::trick, S::none, "<{from}>",
     "<\"{to}%{T}\"@{L}>", "unquotes \"user%domain\"@localdomain into a percent hack",
     "RFC 5321 4.1.2"},
    {"escaped-at", "backslash-escaped @ via local domain", K::relay, F::trick, S::none, "<{from}>",
     "<{to}\\@{T}@{L}>", "unescapes user\\@domain@localdomain",
     "RFC 5321 4.1.2 (quoted-pair only inside quotes)"},
    {"source-route-local", "source route via local domain", K::relay, F::trick, S::none, "<{from}>",
     "<@{L}:{to}@{T}>", "follows a source route through its domain", "RFC 5321 3.6.1, appendix C"},
    {"source-route-multihop", "multi-hop source route", K::relay, F::trick, S::none, "<{from}>",
     "<@{I},@{L}:{to}@{T}>", "follows a two-hop source route", "RFC 5321 3.6.1, appendix C"},
    {"bang-local", "bang path via local domain", K::relay, F::trick, S::none, "<{from}>",
     "<{T}!{to}@{L}>", "routes domain!user@localdomain", "RFC 976"},
    // -- malformed and unusual recipient paths
    {"no-brackets", "no angle brackets", K::relay, F::trick, S::none, "<{from}>", "{to}@{T}",
     "accepts a path without <> and parses it its own way", "RFC 5321 4.1.1.3"},
    {"trailing-at", "trailing @", K::relay, F::trick, S::none, "<{from}>", "<{to}@{T}@>",
     "takes user@domain@ as user@domain, or the empty domain as its own", "RFC 5321 4.1.2"},
    {"trailing-dot", "trailing dot", K::relay, F::trick, S::none, "<{from}>", "<{to}@{T}.>",
     "compares domain. and domain differently", "RFC 1034 3.1"},
    {"mixed-case", "mixed-case domain", K::relay, F::trick, S::none, "<{from}>", "<{to}@{Tmix}>",
     "compares domains case-sensitively", "RFC 5321 2.4"},
    {"ipv4-literal", "external IPv4 literal", K::relay, F::trick, S::none, "<{from}>",
     "<{to}@[192.0.2.25]>", "relays to an address literal that is not its own",
     "RFC 5321 4.1.3; RFC 5737"},
    {"ipv6-literal", "external IPv6 literal", K::relay, F::trick, S::none, "<{from}>",
     "<{to}@[IPv6:2001:db8::25]>", "relays to an IPv6 literal that is not its own",
     "RFC 5321 4.1.3; RFC 3849"},
    {"unqualified", "unqualified recipient", K::info, F::trick, S::none, "<{from}>", "<{to}>",
     "nothing by itself: the target qualifies it with its own domain", "RFC 5321 4.1.1.3"},
    {"unqualified-percent", "unqualified percent hack", K::relay, F::trick, S::none, "<{from}>",
     "<{to}%{T}>", "qualifies user%domain with its own domain, then routes it", "RFC 1123 5.2.16"},
    {"double-percent", "double percent hack via local domain", K::relay, F::trick, S::none,
     "<{from}>", "<{to}%{T}%{L}@{L}>", "strips one percent hop and routes the next",
     "RFC 1123 5.2.16"},
    // -- identity spoofing: the target must not believe us
    {"xclient", "XCLIENT ADDR=127.0.0.1", K::relay, F::spoof, S::xclient, "<{from}>", "<{to}@{T}>",
     "lets any client claim to be 127.0.0.1 (XCLIENT not limited to trusted hosts)",
     "Postfix XCLIENT_README (smtpd_authorized_xclient_hosts)"},
    {"proxy", "PROXY v1 header claiming 127.0.0.1", K::relay, F::spoof, S::proxy, "<{from}>",
     "<{to}@{T}>", "takes a PROXY header from any client as its real address",
     "HAProxy PROXY protocol v1; Postfix postscreen_upstream_proxy_protocol"},
}};

bool needs(std::string_view tmpl, std::string_view placeholder) {
  return tmpl.find(placeholder) != std::string_view::npos;
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  std::size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

bool inside(std::string_view name, std::string_view domain) {
  // name == domain, or name is a subdomain of domain
  if (name.empty() || domain.empty()) return false;
  if (name == domain) return true;
  return name.size() > domain.size() && name.substr(name.size() - domain.size()) == domain &&
         name[name.size() - domain.size() - 1] == '.';
}

}  // namespace

std::span<const catalogue_entry> catalogue() {
  return rows;
}

std::vector<test_case> starttls_copies(const std::vector<test_case>& battery) {
  std::vector<test_case> out;
  for (const auto& t : battery) {
    if (!t.preamble.empty()) continue;
    test_case c = t;
    c.id += "+tls";
    c.form += " (after STARTTLS)";
    c.after_starttls = true;
    out.push_back(std::move(c));
  }
  return out;
}

std::string address_literal(const inet::ip_address& ip) {
  const inet::ip_address u = ip.unmapped();
  return u.is_v4() ? "[" + u.to_string() + "]" : "[IPv6:" + u.to_string() + "]";
}

std::string mixed_case(std::string_view s) {
  std::string out;
  bool up = true;
  for (char c : s) {
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (letter) {
      const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
      out += up ? static_cast<char>(lower - 32) : lower;
      up = !up;
    } else {
      out += c;
    }
  }
  return out;
}

std::string hostname_of(std::string_view first_line) {
  const std::size_t sp = first_line.find(' ');
  const std::string_view word = first_line.substr(0, sp);
  auto name = smtp::canonical_domain(word);
  if (!name || name->find('.') == std::string::npos) return {};  // "ESMTP", "localhost"...
  return *name;
}

std::string effective_local_domain(const target_identity& id) {
  if (!id.local_domains.empty()) return id.local_domains.front();
  return id.banner_host;
}

bool test_domain_is_own(const target_identity& id, std::string_view test_domain) {
  for (const auto& d : id.local_domains) {
    if (inside(test_domain, d) || inside(d, test_domain)) return true;
  }
  return inside(id.banner_host, test_domain) || inside(test_domain, id.banner_host);
}

std::vector<test_case> build_battery(const target_identity& id, const battery_options& opts) {
  const std::string from =
      opts.from.empty() ? fmt::format("mxguard-probe@{}", opts.test_domain) : opts.from;
  const std::size_t at = from.rfind('@');
  const std::string from_local = at == std::string::npos ? from : from.substr(0, at);
  const std::string local = effective_local_domain(id);
  const std::string literal = id.address ? address_literal(*id.address) : std::string();

  std::vector<test_case> out;
  for (const auto& row : rows) {
    if (!opts.spoofing && row.special != probe_special::none) continue;
    const std::string both = std::string(row.mail) + std::string(row.rcpt);
    if (needs(both, "{H}") && id.banner_host.empty()) continue;
    if (needs(both, "{L}") && local.empty()) continue;
    if (needs(both, "{I}") && literal.empty()) continue;
    if (row.special == probe_special::proxy && !id.address) continue;

    auto expand = [&](std::string_view tmpl) {
      std::string s(tmpl);
      s = replace_all(std::move(s), "{from}", from);
      s = replace_all(std::move(s), "{fl}", from_local);
      s = replace_all(std::move(s), "{to}", opts.to);
      s = replace_all(std::move(s), "{Tmix}", mixed_case(opts.test_domain));
      s = replace_all(std::move(s), "{T}", opts.test_domain);
      s = replace_all(std::move(s), "{H}", id.banner_host);
      s = replace_all(std::move(s), "{I}", literal);
      s = replace_all(std::move(s), "{L}", local);
      s = replace_all(std::move(s), "{rand}", opts.token);
      return s;
    };
    test_case t;
    t.id = std::string(row.id);
    t.form = std::string(row.form);
    t.kind = row.kind;
    t.family = row.family;
    t.mail = expand(row.mail);
    t.rcpt = expand(row.rcpt);
    t.entry = &row;
    if (row.special == probe_special::xclient) t.xclient = "ADDR=127.0.0.1";
    if (row.special == probe_special::proxy) {
      const inet::ip_address dst = id.address->unmapped();
      t.preamble =
          dst.is_v4()
              ? fmt::format("PROXY TCP4 127.0.0.1 {} 40025 {}\r\n", dst.to_string(), id.port)
              : fmt::format("PROXY TCP6 ::1 {} 40025 {}\r\n", dst.to_string(), id.port);
    }
    bool repeat = false;
    for (const auto& earlier : out) {
      repeat = repeat || (earlier.mail == t.mail && earlier.rcpt == t.rcpt &&
                          earlier.xclient == t.xclient && earlier.preamble == t.preamble);
    }
    if (!repeat) out.push_back(std::move(t));
  }
  return out;
}

}  // namespace mx::probe
