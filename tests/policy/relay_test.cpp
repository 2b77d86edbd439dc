// Tests for policy/relay: restriction names, classify() and evaluate(). Recipients are built by
// hand (smtp::address fields are public) so that these tests pin the policy, not the parser.
#include "policy/relay.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace mx::policy {
namespace {

namespace af = smtp::address_flag;

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

inet::ip_address ip(std::string_view text) {
  auto parsed = inet::ip_address::parse(text);
  if (!parsed) ADD_FAILURE() << "test bug: bad IP " << text;
  return parsed.value_or(inet::ip_address{});
}

inet::cidr net(std::string_view text) {
  auto parsed = inet::cidr::parse(text);
  if (!parsed) ADD_FAILURE() << "test bug: bad CIDR " << text;
  return parsed.value_or(inet::cidr{});
}

// user@domain with a domain name; `raw` is the local part as written, `local` decoded.
smtp::address named(std::string raw, std::string domain, std::uint32_t flags = 0,
                    std::string local = "") {
  smtp::address a;
  a.local_part = local.empty() ? raw : local;
  a.local_part_raw = std::move(raw);
  a.domain = domain;
  a.domain_key = lower(domain);
  a.kind = smtp::domain_kind::name;
  a.flags = flags;
  return a;
}

smtp::address routed_via(std::vector<std::string> route, std::string local, std::string domain) {
  smtp::address a = named(std::move(local), std::move(domain), af::source_route);
  a.source_route = std::move(route);
  return a;
}

// user@[a.b.c.d] or user@[IPv6:x]; the key is built the way address.hpp documents it.
smtp::address literal(std::string raw, std::string_view addr, std::uint32_t flags = 0) {
  const inet::ip_address parsed = ip(addr);
  smtp::address a;
  a.local_part = raw;
  a.local_part_raw = std::move(raw);
  if (parsed.is_v4()) {
    a.domain = "[" + std::string(addr) + "]";
    a.domain_key = "[" + parsed.to_string() + "]";
    a.kind = smtp::domain_kind::ipv4_literal;
  } else {
    a.domain = "[IPv6:" + std::string(addr) + "]";
    a.domain_key = "[ipv6:" + parsed.to_string() + "]";
    a.kind = smtp::domain_kind::ipv6_literal;
  }
  a.literal_ip = parsed;
  a.flags = flags | af::address_literal;
  return a;
}

smtp::address general_literal(std::string content) {
  smtp::address a;
  a.local_part = a.local_part_raw = "user";
  a.domain = "[" + content + "]";
  a.domain_key = lower(a.domain);
  a.kind = smtp::domain_kind::general_literal;
  a.flags = af::address_literal;
  return a;
}

smtp::address unqualified(std::string local) {
  smtp::address a;
  a.local_part = a.local_part_raw = std::move(local);
  a.kind = smtp::domain_kind::none;
  a.flags = af::unqualified;
  return a;
}

smtp::address null_path() {
  smtp::address a;
  a.kind = smtp::domain_kind::none;
  a.flags = af::null_path;
  return a;
}

std::string_view kind_name(verdict::kind k) {
  switch (k) {
    case verdict::kind::permit_local:
      return "permit_local";
    case verdict::kind::permit_relay:
      return "permit_relay";
    case verdict::kind::reject:
      return "reject";
    case verdict::kind::defer:
      return "defer";
  }
  return "?";
}

// The configuration most tests start from.
relay_config base_config() {
  relay_config cfg;
  cfg.local_domains = {"example.test", "example.org"};
  cfg.relay_domains = {"backup.example"};
  cfg.trusted_networks = {net("127.0.0.0/8"), net("::1/128"), net("10.0.0.0/8")};
  cfg.own_addresses = {ip("192.0.2.10"), ip("2001:db8::10"), ip("::ffff:198.51.100.5")};
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// Restriction names

TEST(relay_restriction, name_round_trip) {
  const std::vector<std::pair<restriction, std::string_view>> cases = {
      {restriction::permit_trusted_networks, "permit_trusted_networks"},
      {restriction::permit_authenticated, "permit_authenticated"},
      {restriction::reject_unauth_destination, "reject_unauth_destination"},
      {restriction::defer_unauth_destination, "defer_unauth_destination"},
      {restriction::permit, "permit"},
      {restriction::reject, "reject"},
      {restriction::defer, "defer"},
  };
  for (const auto& [r, name] : cases) {
    EXPECT_EQ(name_of(r), name) << "restriction #" << static_cast<int>(r);
    const auto parsed = parse_restriction(name);
    ASSERT_TRUE(parsed.has_value()) << "input: " << name << " got: nullopt";
    EXPECT_EQ(*parsed, r) << "input: " << name << " got: " << name_of(*parsed);
  }
}

TEST(relay_restriction, unknown_names_refused) {
  const std::vector<std::string_view> cases = {
      "",
      "Permit",
      "PERMIT",
      " permit",
      "permit ",
      "permit_mynetworks",
      "reject_unauth",
      "permit_sasl_authenticated",
      "dunno",
      "ok",
      "permit\n",
      std::string_view("permit\0", 7),
  };
  for (const auto name : cases) {
    const auto got = parse_restriction(name);
    EXPECT_FALSE(got.has_value()) << "input: \"" << name << "\" got: " << name_of(*got)
                                  << " want: nullopt";
  }
}

TEST(relay_restriction, default_list) {
  const std::vector<restriction> want = {restriction::permit_trusted_networks,
                                         restriction::permit_authenticated,
                                         restriction::reject_unauth_destination};
  EXPECT_EQ(default_restrictions(), want);
  EXPECT_EQ(relay_config{}.restrictions, want) << "relay_config must default to the safe list";
}

TEST(relay_destination, names) {
  const std::vector<std::pair<destination, std::string_view>> cases = {
      {destination::local, "local"},
      {destination::relay_domain, "relay_domain"},
      {destination::external, "external"},
      {destination::routed, "routed"},
  };
  for (const auto& [d, want] : cases) {
    EXPECT_EQ(name_of(d), want) << "destination #" << static_cast<int>(d);
  }
}

// ---------------------------------------------------------------------------------------------
// classify

struct classify_case {
  std::string name;
  smtp::address rcpt;
  destination want;
};

TEST(relay_classify, table) {
  const relay_config cfg = base_config();
  const std::vector<classify_case> cases = {
      // Local domains: exact canonical key only.
      {"local domain", named("user", "example.test"), destination::local},
      {"second local domain", named("user", "example.org"), destination::local},
      {"mixed case local (key is canonical)", named("User", "EXAMPLE.Test"), destination::local},
      {"trailing dot local (flag only)", named("user", "example.test", af::trailing_dot),
       destination::local},
      {"quoted local part without routing",
       named("\"john doe\"", "example.test", af::quoted, "john doe"), destination::local},
      {"subdomain of local", named("user", "mail.example.test"), destination::external},
      {"superdomain of local", named("user", "test"), destination::external},
      {"local as prefix", named("user", "example.test.evil"), destination::external},
      {"local as suffix without dot", named("user", "badexample.test"), destination::external},
      // Relay domains.
      {"relay domain", named("user", "backup.example"), destination::relay_domain},
      {"subdomain of relay domain", named("user", "mx.backup.example"), destination::external},
      {"external", named("user", "other.test"), destination::external},
      // Routing makes a recipient routed, whatever its domain.
      {"percent via local", named("user%other.test", "example.test", af::percent),
       destination::routed},
      {"bang via local", named("other.test!user", "example.test", af::bang), destination::routed},
      {"quoted at via local",
       named("\"user@other.test\"", "example.test", af::quoted | af::at_in_local,
             "user@other.test"),
       destination::routed},
      {"escaped at via local",
       named("\"user\\@other.test\"", "example.test",
             af::quoted | af::quoted_pair | af::at_in_local, "user@other.test"),
       destination::routed},
      {"colon via local",
       named("\"other.test:user\"", "example.test", af::quoted | af::colon_in_local,
             "other.test:user"),
       destination::routed},
      {"source route via local to external", routed_via({"example.test"}, "user", "other.test"),
       destination::routed},
      {"source route to local", routed_via({"other.test"}, "user", "example.test"),
       destination::routed},
      {"percent via relay domain", named("user%other.test", "backup.example", af::percent),
       destination::routed},
      {"percent via external", named("user%example.test", "other.test", af::percent),
       destination::routed},
      {"percent via own IPv4 literal", literal("user%other.test", "192.0.2.10", af::percent),
       destination::routed},
      // Address literals: own addresses only, compared unmapped.
      {"own IPv4 literal", literal("user", "192.0.2.10"), destination::local},
      {"other IPv4 literal", literal("user", "192.0.2.11"), destination::external},
      {"own IPv6 literal", literal("user", "2001:db8::10"), destination::local},
      {"other IPv6 literal", literal("user", "2001:db8::11"), destination::external},
      {"own IPv4 as mapped IPv6 literal", literal("user", "::ffff:192.0.2.10"), destination::local},
      {"own mapped address as IPv4 literal", literal("user", "198.51.100.5"), destination::local},
      {"other mapped IPv6 literal", literal("user", "::ffff:192.0.2.11"), destination::external},
      {"general literal", general_literal("x-tag:192.0.2.10"), destination::external},
      // A name whose key looks like an own literal is still a name.
      {"name kind with literal-looking key", named("user", "[192.0.2.10]"), destination::external},
      // RFC 5321 4.5.1: unqualified postmaster is ours.
      {"unqualified Postmaster", unqualified("Postmaster"), destination::local},
      {"unqualified postmaster lowercase", unqualified("postmaster"), destination::local},
      {"unqualified other user", unqualified("user"), destination::external},
      {"null path", null_path(), destination::external},
      {"null path never postmaster",
       [] {
         smtp::address a = unqualified("Postmaster");
         a.flags |= af::null_path;
         return a;
       }(),
       destination::external},
  };
  for (const auto& c : cases) {
    const destination got = classify(cfg, c.rcpt);
    EXPECT_EQ(got, c.want) << c.name << ": got " << name_of(got) << " want " << name_of(c.want);
  }
}

TEST(relay_classify, empty_config_claims_nothing) {
  const relay_config cfg;  // no domains, no addresses
  const std::vector<classify_case> cases = {
      {"name", named("user", "example.test"), destination::external},
      {"IPv4 literal", literal("user", "192.0.2.10"), destination::external},
      {"IPv6 literal", literal("user", "2001:db8::10"), destination::external},
      {"percent", named("user%a.test", "example.test", af::percent), destination::routed},
      {"postmaster", unqualified("Postmaster"), destination::local},
  };
  for (const auto& c : cases) {
    const destination got = classify(cfg, c.rcpt);
    EXPECT_EQ(got, c.want) << c.name << ": got " << name_of(got) << " want " << name_of(c.want);
  }
}

TEST(relay_classify, literal_without_ip_is_external) {
  relay_config cfg = base_config();
  smtp::address a = literal("user", "192.0.2.10");
  a.literal_ip.reset();
  EXPECT_EQ(classify(cfg, a), destination::external) << "got " << name_of(classify(cfg, a));
}

// ---------------------------------------------------------------------------------------------
// evaluate

struct eval_case {
  std::string name;
  std::optional<std::vector<restriction>> restrictions;  // nullopt: defaults
  bool soft_reject = false;
  std::string client;
  std::string auth_user;
  smtp::address rcpt;
  verdict::kind want_kind;
  int want_code;
  std::string want_enhanced;
  std::string want_text_suffix;  // the text is "<" + mailbox + ">: " + this, or "Ok"
  std::string want_decided_by;
};

constexpr auto permit_local = verdict::kind::permit_local;
constexpr auto permit_relay = verdict::kind::permit_relay;
constexpr auto reject = verdict::kind::reject;
constexpr auto defer = verdict::kind::defer;
const std::string relay_denied = "Relay access denied";
const std::string access_denied = "Recipient address rejected: Access denied";
const std::string try_later = "Recipient address rejected: Try again later";

using R = restriction;

std::vector<eval_case> eval_cases() {
  const auto ext = named("user", "other.test");
  const auto local = named("user", "example.test");
  const auto relay = named("user", "backup.example");
  const auto pct_local = named("user%other.test", "example.test", af::percent);
  const auto pct_relay = named("user%other.test", "backup.example", af::percent);
  const auto route_local = routed_via({"example.test"}, "user", "other.test");
  const std::string outsider = "203.0.113.7";
  return {
      // Default list, outsider.
      {"outsider to local",
       {},
       false,
       outsider,
       "",
       local,
       permit_local,
       250,
       "2.1.5",
       "Ok",
       "end of list"},
      {"outsider to relay domain",
       {},
       false,
       outsider,
       "",
       relay,
       permit_relay,
       250,
       "2.1.5",
       "Ok",
       "end of list"},
      {"outsider to external",
       {},
       false,
       outsider,
       "",
       ext,
       reject,
       554,
       "5.7.1",
       relay_denied,
       "reject_unauth_destination"},
      {"outsider percent hack via local",
       {},
       false,
       outsider,
       "",
       pct_local,
       reject,
       554,
       "5.7.1",
       relay_denied,
       "reject_unauth_destination"},
      {"outsider percent hack via relay domain",
       {},
       false,
       outsider,
       "",
       pct_relay,
       reject,
       554,
       "5.7.1",
       relay_denied,
       "reject_unauth_destination"},
      {"outsider source route via local",
       {},
       false,
       outsider,
       "",
       route_local,
       reject,
       554,
       "5.7.1",
       relay_denied,
       "reject_unauth_destination"},
      {"outsider to own IPv4 literal",
       {},
       false,
       outsider,
       "",
       literal("user", "192.0.2.10"),
       permit_local,
       250,
       "2.1.5",
       "Ok",
       "end of list"},
      {"outsider to own IPv6 literal",
       {},
       false,
       outsider,
       "",
       literal("user", "2001:db8::10"),
       permit_local,
       250,
       "2.1.5",
       "Ok",
       "end of list"},
      {"outsider to other IPv4 literal",
       {},
       false,
       outsider,
       "",
       literal("user", "192.0.2.11"),
       reject,
       554,
       "5.7.1",
       relay_denied,
       "reject_unauth_destination"},
      {"outsider to general literal",
       {},
       false,
       outsider,
       "",
       general_literal("x-tag:abc"),
       reject,
       554,
       "5.7.1",
       relay_denied,
       "reject_unauth_destination"},
      {"outsider to unqualified Postmaster",
       {},
       false,
       outsider,
       "",
       unqualified("Postmaster"),
       permit_local,
       250,
       "2.1.5",
       "Ok",
       "end of list"},
      // Trusted networks, including IPv4-mapped clients and boundaries.
      {"trusted to external",
       {},
       false,
       "127.0.0.1",
       "",
       ext,
       permit_relay,
       250,
       "2.1.5",
       "Ok",
       "permit_trusted_networks"},
      {"trusted to local",
       {},
       false,
       "127.0.0.1",
       "",
       local,
       permit_local,
       250,
       "2.1.5",
       "Ok",
       "permit_trusted_networks"},
      {"trusted routed via local is relayed, not delivered",
       {},
       false,
       "127.0.0.1",
       "",
       pct_local,
       permit_relay,
       250,
       "2.1.5",
       "Ok",
       "permit_trusted_networks"},
      {"trusted IPv4-mapped client",
       {},
       false,
       "::ffff:127.0.0.1",
       "",
       ext,
       permit_relay,
       250,
       "2.1.5",
       "Ok",
       "permit_trusted_networks"},
      {"trusted IPv4-mapped client in 10/8",
       {},
       false,
       "::ffff:10.9.8.7",
       "",
       ext,
       permit_relay,
       250,
       "2.1.5",
       "Ok",
       "permit_trusted_networks"},
      {"untrusted IPv4-mapped client",
       {},
       false,
       "::ffff:203.0.113.7",
       "",
       ext,
       reject,
       554,
       "5.7.1",
       relay_denied,
       "reject_unauth_destination"},
      {"trusted IPv6 client",
       {},
       false,
       "::1",
       "",
       ext,
       permit_relay,
       250,
       "2.1.5",
       "Ok",
       "permit_trusted_networks"},
      {"untrusted IPv6 client",
       {},
       false,
       "2001:db8::7",
       "",
       ext,
       reject,
       554,
       "5.7.1",
       relay_denied,
       "reject_unauth_destination"},
      {"last address of 10/8",
       {},
       false,
       "10.255.255.255",
       "",
       ext,
       permit_relay,
       250,
       "2.1.5",
       "Ok",
       "permit_trusted_networks"},
      {"first address after 10/8",
       {},
       false,
       "11.0.0.0",
       "",
       ext,
       reject,
       554,
       "5.7.1",
       relay_denied,
       "reject_unauth_destination"},
      // Authentication.
      {"authenticated outsider to external",
       {},
       false,
       outsider,
       "alice",
       ext,
       permit_relay,
       250,
       "2.1.5",
       "Ok",
       "permit_authenticated"},
      {"authenticated outsider to local",
       {},
       false,
       outsider,
       "alice",
       local,
       permit_local,
       250,
       "2.1.5",
       "Ok",
       "permit_authenticated"},
      {"authenticated routed is relayed",
       {},
       false,
       outsider,
       "alice",
       pct_local,
       permit_relay,
       250,
       "2.1.5",
       "Ok",
       "permit_authenticated"},
      // Order: the first non-dunno answer wins.
      {"reject_unauth_destination before trusted rejects trusted external",
       std::vector{R::reject_unauth_destination, R::permit_trusted_networks}, false, "127.0.0.1",
       "", ext, reject, 554, "5.7.1", relay_denied, "reject_unauth_destination"},
      {"reject_unauth_destination before trusted: local falls through to trusted",
       std::vector{R::reject_unauth_destination, R::permit_trusted_networks}, false, "127.0.0.1",
       "", local, permit_local, 250, "2.1.5", "Ok", "permit_trusted_networks"},
      {"permit_authenticated first", std::vector{R::permit_authenticated, R::reject}, false,
       outsider, "alice", ext, permit_relay, 250, "2.1.5", "Ok", "permit_authenticated"},
      {"permit_authenticated first, not authenticated",
       std::vector{R::permit_authenticated, R::reject}, false, outsider, "", ext, reject, 554,
       "5.7.1", access_denied, "reject"},
      // defer_unauth_destination.
      {"defer_unauth_destination external", std::vector{R::defer_unauth_destination}, false,
       outsider, "", ext, defer, 454, "4.7.1", relay_denied, "defer_unauth_destination"},
      {"defer_unauth_destination routed", std::vector{R::defer_unauth_destination}, false, outsider,
       "", pct_local, defer, 454, "4.7.1", relay_denied, "defer_unauth_destination"},
      {"defer_unauth_destination local", std::vector{R::defer_unauth_destination}, false, outsider,
       "", local, permit_local, 250, "2.1.5", "Ok", "end of list"},
      // permit / reject / defer by name.
      {"permit: open relay", std::vector{R::permit}, false, outsider, "", ext, permit_relay, 250,
       "2.1.5", "Ok", "permit"},
      {"permit: local", std::vector{R::permit}, false, outsider, "", local, permit_local, 250,
       "2.1.5", "Ok", "permit"},
      {"permit: routed via local is relayed", std::vector{R::permit}, false, outsider, "",
       pct_local, permit_relay, 250, "2.1.5", "Ok", "permit"},
      {"reject: even local", std::vector{R::reject}, false, outsider, "", local, reject, 554,
       "5.7.1", access_denied, "reject"},
      {"defer: even local", std::vector{R::defer}, false, outsider, "", local, defer, 450, "4.7.1",
       try_later, "defer"},
      // End of list: closed.
      {"empty list: external", std::vector<R>{}, false, outsider, "", ext, reject, 554, "5.7.1",
       relay_denied, "end of list"},
      {"empty list: routed via local", std::vector<R>{}, false, outsider, "", pct_local, reject,
       554, "5.7.1", relay_denied, "end of list"},
      {"empty list: local", std::vector<R>{}, false, outsider, "", local, permit_local, 250,
       "2.1.5", "Ok", "end of list"},
      {"empty list: relay domain", std::vector<R>{}, false, outsider, "", relay, permit_relay, 250,
       "2.1.5", "Ok", "end of list"},
      {"trusted only: outsider external ends closed", std::vector{R::permit_trusted_networks},
       false, outsider, "", ext, reject, 554, "5.7.1", relay_denied, "end of list"},
      {"trusted only: outsider routed relay domain ends closed",
       std::vector{R::permit_trusted_networks}, false, outsider, "", pct_relay, reject, 554,
       "5.7.1", relay_denied, "end of list"},
      {"authenticated only: authenticated-looking outsider without user",
       std::vector{R::permit_authenticated}, false, outsider, "", ext, reject, 554, "5.7.1",
       relay_denied, "end of list"},
      // soft_reject: rejects become 4xx, permits and defers are unchanged.
      {"soft_reject relay access denied",
       {},
       true,
       outsider,
       "",
       ext,
       defer,
       454,
       "4.7.1",
       relay_denied,
       "reject_unauth_destination"},
      {"soft_reject generic reject", std::vector{R::reject}, true, outsider, "", local, defer, 450,
       "4.7.1", access_denied, "reject"},
      {"soft_reject end of list", std::vector<R>{}, true, outsider, "", ext, defer, 454, "4.7.1",
       relay_denied, "end of list"},
      {"soft_reject leaves permits alone",
       {},
       true,
       "127.0.0.1",
       "",
       ext,
       permit_relay,
       250,
       "2.1.5",
       "Ok",
       "permit_trusted_networks"},
      {"soft_reject leaves local alone",
       {},
       true,
       outsider,
       "",
       local,
       permit_local,
       250,
       "2.1.5",
       "Ok",
       "end of list"},
      {"soft_reject leaves defer alone", std::vector{R::defer}, true, outsider, "", local, defer,
       450, "4.7.1", try_later, "defer"},
  };
}

void expect_verdict(const verdict& got, const eval_case& c) {
  EXPECT_EQ(got.k, c.want_kind) << c.name << ": got " << kind_name(got.k) << " want "
                                << kind_name(c.want_kind);
  EXPECT_EQ(got.permitted(), c.want_kind == permit_local || c.want_kind == permit_relay) << c.name;
  EXPECT_EQ(got.reply.code, c.want_code) << c.name << ": got " << got.reply.wire();
  EXPECT_EQ(got.reply.enhanced, c.want_enhanced) << c.name << ": got " << got.reply.wire();
  const std::string want_text =
      c.want_code == 250 ? c.want_text_suffix : "<" + c.rcpt.mailbox() + ">: " + c.want_text_suffix;
  EXPECT_EQ(got.reply.text(), want_text) << c.name;
  EXPECT_EQ(got.decided_by, c.want_decided_by) << c.name;
}

TEST(relay_evaluate, table) {
  for (const auto& c : eval_cases()) {
    relay_config cfg = base_config();
    if (c.restrictions) cfg.restrictions = *c.restrictions;
    cfg.soft_reject = c.soft_reject;
    relay_request req;
    req.client = ip(c.client);
    req.auth_user = c.auth_user;
    req.recipient = &c.rcpt;
    expect_verdict(evaluate(cfg, req), c);
  }
}

TEST(relay_evaluate, reply_text_names_the_recipient_as_written) {
  const relay_config cfg = base_config();
  const std::vector<std::pair<smtp::address, std::string>> cases = {
      {named("user", "other.test"), "<user@other.test>: Relay access denied"},
      {named("User", "Other.TEST"), "<User@Other.TEST>: Relay access denied"},
      {named("user%other.test", "example.test", af::percent),
       "<user%other.test@example.test>: Relay access denied"},
  };
  for (const auto& [rcpt, want] : cases) {
    relay_request req;
    req.client = ip("203.0.113.7");
    req.recipient = &rcpt;
    const verdict got = evaluate(cfg, req);
    EXPECT_EQ(got.reply.text(), want) << "got: " << got.reply.wire();
  }
}

TEST(relay_evaluate, trusted_networks_wide_open) {
  // 0.0.0.0/0 admits IPv4 and IPv4-mapped clients but not native IPv6 ones; ::/0 the reverse of
  // the first and both of the latter.
  struct row {
    std::string network;
    std::string client;
    bool want_permitted;
  };
  const std::vector<row> cases = {
      {"0.0.0.0/0", "203.0.113.7", true},
      {"0.0.0.0/0", "::ffff:203.0.113.7", true},
      {"0.0.0.0/0", "2001:db8::7", false},
      {"::/0", "2001:db8::7", true},
      {"::/0", "::ffff:203.0.113.7", true},
      {"::/0", "203.0.113.7", false},
      {"203.0.113.0/24", "::ffff:203.0.113.200", true},
      {"203.0.113.0/24", "::ffff:203.0.114.1", false},
  };
  const smtp::address rcpt = named("user", "other.test");
  for (const auto& c : cases) {
    relay_config cfg = base_config();
    cfg.trusted_networks = {net(c.network)};
    relay_request req;
    req.client = ip(c.client);
    req.recipient = &rcpt;
    const verdict got = evaluate(cfg, req);
    EXPECT_EQ(got.permitted(), c.want_permitted)
        << "trusted " << c.network << " client " << c.client << ": got " << got.reply.wire();
  }
}

// HELO, sender and TLS must never change a verdict: each variant is compared with the same
// request without them, and the baselines themselves are pinned so the test cannot pass vacuously.
TEST(relay_evaluate, helo_sender_tls_never_grant_relaying) {
  const relay_config cfg = base_config();
  struct baseline {
    std::string name;
    std::string client;
    smtp::address rcpt;
    verdict::kind want;
  };
  const std::vector<baseline> baselines = {
      {"outsider external", "203.0.113.7", named("user", "other.test"), reject},
      {"outsider percent via local", "203.0.113.7",
       named("user%other.test", "example.test", af::percent), reject},
      {"outsider mapped external", "::ffff:203.0.113.7", named("user", "other.test"), reject},
      {"outsider IPv6 external", "2001:db8::7", named("user", "other.test"), reject},
      {"outsider local", "203.0.113.7", named("user", "example.test"), permit_local},
      {"trusted external", "127.0.0.1", named("user", "other.test"), permit_relay},
  };
  struct variant {
    std::string name;
    std::string helo;
    std::optional<smtp::address> sender;
    bool tls;
  };
  const std::vector<variant> variants = {
      {"sender claims a local domain", "", named("user", "example.test"), false},
      {"sender is local postmaster", "", named("postmaster", "example.test"), false},
      {"sender claims a relay domain", "", named("user", "backup.example"), false},
      {"sender claims own IPv4 literal", "", literal("user", "192.0.2.10"), false},
      {"null sender", "", null_path(), false},
      {"HELO is the server hostname", "mx.example.test", std::nullopt, false},
      {"HELO is a local domain", "example.test", std::nullopt, false},
      {"HELO is [own ip]", "[192.0.2.10]", std::nullopt, false},
      {"HELO is [IPv6:own ip]", "[IPv6:2001:db8::10]", std::nullopt, false},
      {"HELO localhost", "localhost", std::nullopt, false},
      {"TLS", "", std::nullopt, true},
      {"everything at once", "mx.example.test", named("postmaster", "example.test"), true},
  };
  for (const auto& b : baselines) {
    relay_request base_req;
    base_req.client = ip(b.client);
    base_req.recipient = &b.rcpt;
    const verdict want = evaluate(cfg, base_req);
    ASSERT_EQ(want.k, b.want) << b.name << ": got " << kind_name(want.k) << " want "
                              << kind_name(b.want);
    for (const auto& v : variants) {
      relay_request req = base_req;
      req.helo = v.helo;
      req.tls = v.tls;
      if (v.sender) req.sender = &*v.sender;
      const verdict got = evaluate(cfg, req);
      EXPECT_EQ(got.k, want.k) << b.name << " with " << v.name << ": got " << kind_name(got.k)
                               << " want " << kind_name(want.k);
      EXPECT_EQ(got.reply, want.reply) << b.name << " with " << v.name << ": got "
                                       << got.reply.wire() << " want " << want.reply.wire();
      EXPECT_EQ(got.decided_by, want.decided_by) << b.name << " with " << v.name;
    }
  }
}

}  // namespace
}  // namespace mx::policy
