// Tests for policy/relay_proof: configs that are relay-safe must prove safe, and each way of
// opening the relay must be found and named.
#include "policy/relay_proof.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace mx::policy {
namespace {

using R = restriction;

inet::ip_address ip(std::string_view text) {
  auto parsed = inet::ip_address::parse(text);
  if (!parsed) ADD_FAILURE() << "test bug: bad IP " << text;
  return parsed.value_or(inet::ip_address{});
}

std::vector<inet::cidr> nets(std::initializer_list<std::string_view> texts) {
  std::vector<inet::cidr> out;
  for (const auto t : texts) {
    auto parsed = inet::cidr::parse(t);
    if (!parsed) ADD_FAILURE() << "test bug: bad CIDR " << t;
    if (parsed) out.push_back(*parsed);
  }
  return out;
}

// The bundled config's shape: one local domain, loopback trusted, default restrictions.
relay_config default_config() {
  relay_config cfg;
  cfg.local_domains = {"example.test"};
  cfg.trusted_networks = nets({"127.0.0.0/8", "::1/128"});
  cfg.own_addresses = {ip("192.0.2.10"), ip("2001:db8::10")};
  return cfg;
}

// A finding we require: client by prefix, form exactly, decided_by exactly when given.
struct want_finding {
  std::string client_prefix;
  std::string form;
  std::string decided_by;
};

bool matches(const relay_finding& f, const want_finding& w) {
  return f.client.rfind(w.client_prefix, 0) == 0 && f.form == w.form &&
         (w.decided_by.empty() || f.decided_by == w.decided_by);
}

std::string dump(const relay_proof_result& r, std::size_t max = 10) {
  std::string out =
      std::to_string(r.findings.size()) + " findings in " + std::to_string(r.cases) + " cases";
  for (std::size_t i = 0; i < r.findings.size() && i < max; ++i) {
    out += "\n  " + r.findings[i].to_string();
  }
  return out;
}

struct proof_case {
  std::string name;
  relay_config cfg;
  std::string hostname;
  bool want_safe;
  std::vector<want_finding> want;  // findings that must be present (unsafe cases)
};

std::vector<proof_case> proof_cases() {
  std::vector<proof_case> out;
  auto add = [&](std::string name, relay_config cfg, bool safe, std::vector<want_finding> want) {
    out.push_back({std::move(name), std::move(cfg), "mx.example.test", safe, std::move(want)});
  };
  relay_config c;

  add("default config", default_config(), true, {});

  c = default_config();
  c.trusted_networks = nets({"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12",
                             "192.168.0.0/16", "fc00::/7", "fe80::/10"});
  add("private networks trusted", c, true, {});

  c = default_config();
  c.local_domains = {"example.test", "example.org", "mail.example.test"};
  c.own_addresses = {ip("192.0.2.10"), ip("198.51.100.5"), ip("2001:db8::10")};
  add("several local domains and addresses", c, true, {});

  c = default_config();
  c.trusted_networks = nets({"0.0.0.0/0"});
  add("trusts 0.0.0.0/0", c, false,
      {{"203.0.113.7", "plain external", "permit_trusted_networks"},
       {"::ffff:203.0.113.7", "plain external", "permit_trusted_networks"},
       {"203.0.113.7", "percent hack via local domain", "permit_trusted_networks"}});

  c = default_config();
  c.trusted_networks = nets({"::/0"});
  add("trusts ::/0 (IPv4-mapped clients)", c, false,
      {{"::ffff:", "plain external", "permit_trusted_networks"},
       {"2001:db8::7", "plain external", "permit_trusted_networks"}});

  c = default_config();
  c.trusted_networks = nets({"127.0.0.0/8", "128.0.0.0/1"});
  add("trusts the upper half of IPv4", c, false,
      {{"151.101.1.69", "plain external", "permit_trusted_networks"}});

  c = default_config();
  c.trusted_networks = nets({"::1/128", "2000::/3"});
  add("trusts global unicast IPv6", c, false,
      {{"2a00:1450:4001::1", "plain external", "permit_trusted_networks"}});

  c = relay_config{};
  c.relay_domains = {"backup.example"};
  c.trusted_networks = nets({"127.0.0.0/8", "::1/128"});
  add("relay_domains only", c, true, {});

  c = default_config();
  c.relay_domains = {"backup.example"};
  add("local and relay domains", c, true, {});

  c = default_config();
  c.restrictions = {R::permit};
  add("restrictions [permit]", c, false,
      {{"203.0.113.7", "plain external", "permit"},
       {"2001:db8::7", "plain external", "permit"},
       {"203.0.113.7", "percent hack via local domain", "permit"},
       {"203.0.113.7", "percent hack via own IPv4 literal", "permit"},
       {"203.0.113.7", "bang path via hostname", "permit"},
       {"203.0.113.7", "source route via local domain", "permit"},
       {"203.0.113.7", "quoted at via local domain", "permit"},
       {"203.0.113.7", "escaped at via local domain", "permit"},
       {"203.0.113.7", "suffix trick (ext.via) via local domain", "permit"},
       {"203.0.113.7", "external IPv4 literal", "permit"},
       {"203.0.113.7", "general address literal", "permit"}});

  c = default_config();
  c.relay_domains = {"backup.example"};
  c.restrictions = {R::permit};
  add("[permit] with a relay domain: routed via the relay domain is found", c, false,
      {{"203.0.113.7", "percent hack via relay domain", "permit"}});

  c = default_config();
  c.restrictions = {R::permit_trusted_networks};
  add("restrictions [permit_trusted_networks] ends closed", c, true, {});

  c = default_config();
  c.restrictions = {R::permit_authenticated};
  add("restrictions [permit_authenticated] ends closed", c, true, {});

  c = default_config();
  c.restrictions = {};
  add("empty restrictions end closed", c, true, {});

  c = default_config();
  c.restrictions = {R::reject_unauth_destination, R::permit};
  add("reject_unauth_destination before permit", c, true, {});

  c = default_config();
  c.restrictions = {R::permit_trusted_networks, R::permit, R::reject_unauth_destination};
  add("permit before reject_unauth_destination", c, false,
      {{"203.0.113.7", "plain external", "permit"}});

  c = default_config();
  c.restrictions = {R::defer_unauth_destination};
  add("defer_unauth_destination", c, true, {});

  c = default_config();
  c.restrictions = {R::permit};
  c.soft_reject = true;
  add("soft_reject does not hide an open relay", c, false,
      {{"203.0.113.7", "plain external", "permit"}});

  c = default_config();
  c.local_domains = {"relay-proof.invalid"};
  c.restrictions = {R::permit};
  add("local domain equal to the proof's test domain", c, false,
      {{"203.0.113.7", "plain external", "permit"}});
  return out;
}

TEST(relay_proof, configs) {
  for (const auto& c : proof_cases()) {
    const relay_proof_result got = prove_relay_safety(c.cfg, c.hostname);
    EXPECT_GT(got.cases, 0u) << c.name;
    EXPECT_EQ(got.safe(), c.want_safe) << c.name << ": got " << dump(got);
    for (const auto& w : c.want) {
      const bool found = std::any_of(got.findings.begin(), got.findings.end(),
                                     [&](const relay_finding& f) { return matches(f, w); });
      EXPECT_TRUE(found) << c.name << ": want a finding client " << w.client_prefix << "* form \""
                         << w.form << "\" by " << w.decided_by << "; got " << dump(got, 200);
    }
  }
}

// Every finding must be a real relay path: re-parsed and re-evaluated, the policy permits it, the
// destination is not ours, the client is an outsider and no credentials were used.
TEST(relay_proof, findings_are_real_paths) {
  const smtp::parse_options rcpt_opts{
      .smtputf8 = true, .allow_null = false, .allow_postmaster = true};
  const smtp::parse_options mail_opts{
      .smtputf8 = true, .allow_null = true, .allow_postmaster = false};
  const auto private_nets = nets({"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                  "::1/128", "fc00::/7", "fe80::/10"});
  for (const auto& c : proof_cases()) {
    const relay_proof_result got = prove_relay_safety(c.cfg, c.hostname);
    for (const auto& f : got.findings) {
      const std::string where = c.name + ": " + f.to_string();
      const auto client = inet::ip_address::parse(f.client);
      ASSERT_TRUE(client.has_value()) << where;
      for (const auto& n : private_nets) {
        EXPECT_FALSE(n.contains(*client)) << where << ": client is not an outsider";
      }
      const auto rcpt = smtp::parse_address(f.recipient, rcpt_opts);
      ASSERT_TRUE(rcpt.has_value()) << where << ": recipient does not parse";
      const auto sender = smtp::parse_address(f.sender, mail_opts);
      ASSERT_TRUE(sender.has_value()) << where << ": sender does not parse";
      const destination d = classify(c.cfg, *rcpt);
      EXPECT_TRUE(d == destination::external || d == destination::routed)
          << where << ": got destination " << name_of(d);
      relay_request req;
      req.client = *client;
      req.helo = f.helo;
      req.sender = &*sender;
      req.recipient = &*rcpt;
      const verdict v = evaluate(c.cfg, req);
      EXPECT_TRUE(v.permitted()) << where << ": got " << v.reply.wire();
      EXPECT_EQ(v.decided_by, f.decided_by) << where;
    }
  }
}

TEST(relay_proof, findings_are_deduplicated_per_client_and_form) {
  for (const auto& c : proof_cases()) {
    const relay_proof_result got = prove_relay_safety(c.cfg, c.hostname);
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& f : got.findings) {
      EXPECT_TRUE(seen.emplace(f.client, f.form).second)
          << c.name << ": duplicate finding " << f.to_string();
    }
    EXPECT_LT(got.findings.size(), got.cases / 10) << c.name << ": " << dump(got);
  }
}

// The catalogue must exercise every client, HELO and sender on every recipient: an open relay by
// name yields a plain-external finding for each outsider client, IPv4, IPv4-mapped and IPv6.
TEST(relay_proof, every_outsider_client_is_tried) {
  relay_config cfg = default_config();
  cfg.restrictions = {R::permit};
  const relay_proof_result got = prove_relay_safety(cfg, "mx.example.test");
  const std::vector<std::string> want_clients = {
      "203.0.113.7",  "198.51.100.23",      "192.0.2.99",     "1.2.3.4",
      "45.33.32.156", "81.2.69.160",        "151.101.1.69",   "185.199.108.153",
      "223.5.5.5",    "::ffff:203.0.113.7", "::ffff:1.2.3.4", "::ffff:223.5.5.5",
      "2001:db8::7",  "2a00:1450:4001::1",  "2600:1f18::1",   "2c0f:fb50::1",
  };
  for (const auto& client : want_clients) {
    const bool found = std::any_of(got.findings.begin(), got.findings.end(), [&](const auto& f) {
      return f.client == client && f.form == "plain external";
    });
    EXPECT_TRUE(found) << "want a plain external finding for client " << client << "; got "
                       << dump(got, 40);
  }
}

// The legitimate controls (our own domains and addresses, unrouted) are permitted even for an
// open relay by name, and are never findings.
TEST(relay_proof, controls_are_never_findings) {
  relay_config cfg = default_config();
  cfg.relay_domains = {"backup.example"};
  cfg.restrictions = {R::permit};
  const relay_proof_result got = prove_relay_safety(cfg, "example.test");
  ASSERT_FALSE(got.safe()) << "test bug: [permit] must be unsafe";
  const std::vector<std::string> controls = {
      "<user@example.test>",   "<USER@EXAMPLE.TEST>", "<user@example.test.>",
      "<user@backup.example>", "<user@[192.0.2.10]>", "<user@[IPv6:2001:db8::10]>",
      "<Postmaster>",
  };
  for (const auto& f : got.findings) {
    EXPECT_EQ(std::count(controls.begin(), controls.end(), f.recipient), 0)
        << "a control was reported: " << f.to_string();
  }
}

// Trusting one outsider network is found for exactly those clients.
TEST(relay_proof, narrow_trust_names_only_the_trusted_clients) {
  relay_config cfg = default_config();
  cfg.trusted_networks = nets({"127.0.0.0/8", "203.0.113.0/24"});
  const relay_proof_result got = prove_relay_safety(cfg, "mx.example.test");
  ASSERT_FALSE(got.safe()) << dump(got);
  std::set<std::string> clients;
  for (const auto& f : got.findings) clients.insert(f.client);
  const std::set<std::string> want = {"203.0.113.7", "::ffff:203.0.113.7"};
  EXPECT_EQ(clients, want) << dump(got, 40);
}

TEST(relay_proof, finding_to_string) {
  struct row {
    relay_finding f;
    std::string want;
  };
  const std::vector<row> cases = {
      {{"203.0.113.7", "mx.example.test", "<>", "<user@relay-proof.invalid>", "plain external",
        "permit_trusted_networks"},
       "client 203.0.113.7 HELO mx.example.test MAIL FROM:<> RCPT TO:<user@relay-proof.invalid> "
       "(plain external) permitted by permit_trusted_networks"},
      {{"::ffff:1.2.3.4", "[192.0.2.10]", "<postmaster@example.test>",
        "<user%relay-proof.invalid@example.test>", "percent hack via local domain", "permit"},
       "client ::ffff:1.2.3.4 HELO [192.0.2.10] MAIL FROM:<postmaster@example.test> "
       "RCPT TO:<user%relay-proof.invalid@example.test> (percent hack via local domain) "
       "permitted by permit"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(c.f.to_string(), c.want);
  }
}

}  // namespace
}  // namespace mx::policy
