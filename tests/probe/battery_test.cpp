#include "probe/battery.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace mx::probe {
namespace {

inet::ip_address ip(std::string_view s) {
  return *inet::ip_address::parse(s);
}

target_identity full_identity() {
  target_identity id;
  id.address = ip("192.0.2.10");
  id.port = 2525;
  id.banner_host = "mx.example.org";
  id.local_domains = {"example.org", "example.com"};
  return id;
}

battery_options opts() {
  battery_options o;
  o.test_domain = "example.net";
  o.token = "k3y";
  return o;
}

const test_case* find(const std::vector<test_case>& b, std::string_view id) {
  for (const auto& t : b) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

// Every catalogue row, expanded for one target with everything known. Written out by hand: this
// is the battery a reviewer reads.
TEST(Battery, EveryFormExpanded) {
  const struct {
    std::string id;
    std::string mail;
    std::string rcpt;
  } want[] = {
      {"ctl-local", "<mxguard-probe@example.net>", "<postmaster@example.org>"},
      {"plain", "<mxguard-probe@example.net>", "<relaytest@example.net>"},
      {"ctl-any", "<mxguard-probe@example.net>", "<nobody-k3y@k3y.invalid>"},
      {"nmap-01", "<>", "<relaytest@example.net>"},
      {"nmap-03", "<mxguard-probe@mx.example.org>", "<relaytest@example.net>"},
      {"nmap-04", "<mxguard-probe@[192.0.2.10]>", "<relaytest@example.net>"},
      {"nmap-05", "<mxguard-probe@[192.0.2.10]>", "<relaytest%example.net@[192.0.2.10]>"},
      {"nmap-06", "<mxguard-probe@[192.0.2.10]>", "<relaytest%example.net@mx.example.org>"},
      {"nmap-07", "<mxguard-probe@[192.0.2.10]>", "<\"relaytest@example.net\">"},
      {"nmap-08", "<mxguard-probe@[192.0.2.10]>", "<\"relaytest%example.net\">"},
      {"nmap-09", "<mxguard-probe@[192.0.2.10]>", "<relaytest@example.net@[192.0.2.10]>"},
      {"nmap-10", "<mxguard-probe@[192.0.2.10]>", "<\"relaytest@example.net\"@[192.0.2.10]>"},
      {"nmap-11", "<mxguard-probe@[192.0.2.10]>", "<relaytest@example.net@mx.example.org>"},
      {"nmap-12", "<mxguard-probe@[192.0.2.10]>", "<@[192.0.2.10]:relaytest@example.net>"},
      {"nmap-13", "<mxguard-probe@[192.0.2.10]>", "<@mx.example.org:relaytest@example.net>"},
      {"nmap-14", "<mxguard-probe@[192.0.2.10]>", "<example.net!relaytest>"},
      {"nmap-15", "<mxguard-probe@[192.0.2.10]>", "<example.net!relaytest@[192.0.2.10]>"},
      {"nmap-16", "<mxguard-probe@[192.0.2.10]>", "<example.net!relaytest@mx.example.org>"},
      {"sender-local", "<mxguard-probe@example.org>", "<relaytest@example.net>"},
      {"sender-localhost", "<mxguard-probe@localhost>", "<relaytest@example.net>"},
      {"sender-loopback", "<mxguard-probe@[127.0.0.1]>", "<relaytest@example.net>"},
      {"percent-local", "<mxguard-probe@example.net>", "<relaytest%example.net@example.org>"},
      {"percent-localhost", "<mxguard-probe@example.net>", "<relaytest%example.net@localhost>"},
      {"percent-loopback", "<mxguard-probe@example.net>", "<relaytest%example.net@[127.0.0.1]>"},
      {"double-at-local", "<mxguard-probe@example.net>", "<relaytest@example.net@example.org>"},
      {"quoted-at-local", "<mxguard-probe@example.net>", "<\"relaytest@example.net\"@example.org>"},
      {"quoted-percent-local", "<mxguard-probe@example.net>",
       "<\"relaytest%example.net\"@example.org>"},
      {"escaped-at", "<mxguard-probe@example.net>", "<relaytest\\@example.net@example.org>"},
      {"source-route-local", "<mxguard-probe@example.net>", "<@example.org:relaytest@example.net>"},
      {"source-route-multihop", "<mxguard-probe@example.net>",
       "<@[192.0.2.10],@example.org:relaytest@example.net>"},
      {"bang-local", "<mxguard-probe@example.net>", "<example.net!relaytest@example.org>"},
      {"no-brackets", "<mxguard-probe@example.net>", "relaytest@example.net"},
      {"trailing-at", "<mxguard-probe@example.net>", "<relaytest@example.net@>"},
      {"trailing-dot", "<mxguard-probe@example.net>", "<relaytest@example.net.>"},
      {"mixed-case", "<mxguard-probe@example.net>", "<relaytest@ExAmPlE.nEt>"},
      {"ipv4-literal", "<mxguard-probe@example.net>", "<relaytest@[192.0.2.25]>"},
      {"ipv6-literal", "<mxguard-probe@example.net>", "<relaytest@[IPv6:2001:db8::25]>"},
      {"unqualified", "<mxguard-probe@example.net>", "<relaytest>"},
      {"unqualified-percent", "<mxguard-probe@example.net>", "<relaytest%example.net>"},
      {"double-percent", "<mxguard-probe@example.net>",
       "<relaytest%example.net%example.org@example.org>"},
      {"xclient", "<mxguard-probe@example.net>", "<relaytest@example.net>"},
      {"proxy", "<mxguard-probe@example.net>", "<relaytest@example.net>"},
  };
  const auto battery = build_battery(full_identity(), opts());
  ASSERT_EQ(battery.size(), std::size(want)) << "every row applies to a fully known target";
  for (std::size_t i = 0; i < battery.size(); ++i) {
    EXPECT_EQ(battery[i].id, want[i].id) << "position " << i;
    EXPECT_EQ(battery[i].mail, want[i].mail) << "test " << want[i].id;
    EXPECT_EQ(battery[i].rcpt, want[i].rcpt) << "test " << want[i].id;
    ASSERT_NE(battery[i].entry, nullptr) << "test " << want[i].id;
    EXPECT_FALSE(battery[i].entry->reference.empty()) << "test " << want[i].id;
    EXPECT_FALSE(battery[i].entry->exploits.empty()) << "test " << want[i].id;
  }
  EXPECT_EQ(find(battery, "xclient")->xclient, "ADDR=127.0.0.1");
  EXPECT_EQ(find(battery, "proxy")->preamble, "PROXY TCP4 127.0.0.1 192.0.2.10 40025 2525\r\n");
  EXPECT_EQ(find(battery, "plain")->preamble, "");
  EXPECT_EQ(find(battery, "plain")->xclient, "");
}

// nmap's 16 tests are all there (#2 is our "plain"), and at least the forms.
TEST(Battery, Coverage) {
  const auto battery = build_battery(full_identity(), opts());
  std::size_t nmap = 0;
  std::size_t relay = 0;
  for (const auto& t : battery) {
    if (t.entry->reference.find("nmap smtp-open-relay") != std::string_view::npos) ++nmap;
    if (t.kind == test_kind::relay) ++relay;
  }
  EXPECT_EQ(nmap, 16u);
  EXPECT_GE(relay, 35u);
}

struct omission_case {
  std::string name;
  target_identity id;
  battery_options o;
  std::vector<std::string> absent;
  std::vector<std::string> present;
  std::map<std::string, std::string> rcpt;  // id -> want rcpt
  std::map<std::string, std::string> mail;  // id -> want mail
};

TEST(Battery, WhatATargetCannotFill) {
  target_identity no_host = full_identity();
  no_host.banner_host.clear();
  target_identity no_local = full_identity();
  no_local.local_domains.clear();
  target_identity nothing = full_identity();
  nothing.banner_host.clear();
  nothing.local_domains.clear();
  target_identity no_addr = full_identity();
  no_addr.address.reset();
  target_identity loopback = full_identity();
  loopback.address = ip("127.0.0.1");
  target_identity v6 = full_identity();
  v6.address = ip("2001:db8::10");
  target_identity mapped = full_identity();
  mapped.address = ip("::ffff:192.0.2.10");
  battery_options no_spoof = opts();
  no_spoof.spoofing = false;
  battery_options custom = opts();
  custom.from = "alice@sender.example";
  custom.to = "bob";
  custom.test_domain = "dest.example";

  const std::vector<omission_case> cases = {
      {"no banner hostname: {H} rows go, {L} still from local domains",
       no_host,
       opts(),
       {"nmap-03", "nmap-06", "nmap-11", "nmap-13", "nmap-16"},
       {"ctl-local", "percent-local", "sender-local"},
       {{"ctl-local", "<postmaster@example.org>"}},
       {}},
      {"no local domain: {L} is the banner hostname",
       no_local,
       opts(),
       {"sender-local"},
       {"ctl-local", "percent-local", "nmap-03"},
       {{"ctl-local", "<postmaster@mx.example.org>"},
        {"percent-local", "<relaytest%example.net@mx.example.org>"}},
       {}},
      {"neither: no control, no {H} or {L} rows",
       nothing,
       opts(),
       {"ctl-local", "percent-local", "nmap-06", "bang-local", "source-route-multihop"},
       {"plain", "ctl-any", "nmap-05", "proxy"},
       {},
       {}},
      {"no address: no {I} rows, no PROXY",
       no_addr,
       opts(),
       {"nmap-04", "nmap-05", "nmap-15", "source-route-multihop", "proxy"},
       {"plain", "xclient", "nmap-01"},
       {},
       {}},
      {"loopback target: sender-loopback repeats nmap-04",
       loopback,
       opts(),
       {"sender-loopback"},
       {"nmap-04", "percent-loopback"},
       {{"nmap-05", "<relaytest%example.net@[127.0.0.1]>"}},
       {{"nmap-04", "<mxguard-probe@[127.0.0.1]>"}}},
      {"IPv6 target",
       v6,
       opts(),
       {},
       {"proxy"},
       {{"nmap-05", "<relaytest%example.net@[IPv6:2001:db8::10]>"}},
       {{"nmap-04", "<mxguard-probe@[IPv6:2001:db8::10]>"}}},
      {"IPv4-mapped target is written as IPv4",
       mapped,
       opts(),
       {},
       {},
       {{"nmap-12", "<@[192.0.2.10]:relaytest@example.net>"}},
       {}},
      {"spoofing off", full_identity(), no_spoof, {"xclient", "proxy"}, {"plain"}, {}, {}},
      {"custom sender, recipient and test domain",
       full_identity(),
       custom,
       {},
       {},
       {{"plain", "<bob@dest.example>"},
        {"nmap-08", "<\"bob%dest.example\">"},
        {"mixed-case", "<bob@DeSt.ExAmPlE>"}},
       {{"plain", "<alice@sender.example>"}, {"nmap-04", "<alice@[192.0.2.10]>"}}},
  };
  for (const auto& c : cases) {
    const auto b = build_battery(c.id, c.o);
    for (const auto& id : c.absent) {
      EXPECT_EQ(find(b, id), nullptr) << "case: " << c.name << ": " << id << " should be absent";
    }
    for (const auto& id : c.present) {
      EXPECT_NE(find(b, id), nullptr) << "case: " << c.name << ": " << id << " should be present";
    }
    for (const auto& [id, want] : c.rcpt) {
      const auto* t = find(b, id);
      ASSERT_NE(t, nullptr) << "case: " << c.name << ": " << id;
      EXPECT_EQ(t->rcpt, want) << "case: " << c.name << ": " << id;
    }
    for (const auto& [id, want] : c.mail) {
      const auto* t = find(b, id);
      ASSERT_NE(t, nullptr) << "case: " << c.name << ": " << id;
      EXPECT_EQ(t->mail, want) << "case: " << c.name << ": " << id;
    }
    // No two tests share an envelope.
    std::set<std::string> seen;
    for (const auto& t : b) {
      EXPECT_TRUE(seen.insert(t.mail + " " + t.rcpt + " " + t.xclient + " " + t.preamble).second)
          << "case: " << c.name << ": duplicate envelope " << t.id;
    }
  }
  const auto v6b = build_battery(v6, opts());
  EXPECT_EQ(find(v6b, "proxy")->preamble, "PROXY TCP6 ::1 2001:db8::10 40025 2525\r\n");
}

TEST(Battery, Order) {
  const auto b = build_battery(full_identity(), opts());
  ASSERT_GE(b.size(), 4u);
  EXPECT_EQ(b[0].kind, test_kind::local_control);
  EXPECT_EQ(b[1].family, test_family::plain);
  EXPECT_EQ(b[2].kind, test_kind::accept_all_control);
  EXPECT_EQ(b[b.size() - 2].id, "xclient");
  EXPECT_EQ(b.back().id, "proxy") << "PROXY needs its own connection: last";
}

TEST(Battery, HostnameOf) {
  const struct {
    std::string line;
    std::string want;
  } cases[] = {
      {"mx.example.test ESMTP Postfix", "mx.example.test"},
      {"MX.Example.TEST", "mx.example.test"},
      {"mx.example.test.", "mx.example.test"},
      {"ESMTP ready", ""},
      {"localhost ESMTP", ""},
      {"", ""},
      {" mx.example.test", ""},
      {"[192.0.2.1] ESMTP", ""},
      {"bad_name.example ESMTP", ""},
      {"a.b", "a.b"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(hostname_of(c.line), c.want) << "line: " << c.line;
  }
}

TEST(Battery, MixedCaseAndLiterals) {
  EXPECT_EQ(mixed_case("example.net"), "ExAmPlE.nEt");
  EXPECT_EQ(mixed_case("a-b.c9d"), "A-b.C9d");
  EXPECT_EQ(mixed_case(""), "");
  EXPECT_EQ(address_literal(ip("192.0.2.1")), "[192.0.2.1]");
  EXPECT_EQ(address_literal(ip("2001:db8::1")), "[IPv6:2001:db8::1]");
  EXPECT_EQ(address_literal(ip("::ffff:192.0.2.1")), "[192.0.2.1]");
}

TEST(Battery, TestDomainIsOwn) {
  const struct {
    std::string test_domain;
    std::string banner;
    std::vector<std::string> local;
    bool want;
  } cases[] = {
      {"example.net", "mx.example.org", {"example.org"}, false},
      {"example.org", "mx.example.org", {"example.org"}, true},
      {"sub.example.org", "", {"example.org"}, true},
      {"org", "", {"example.org"}, true},
      {"example.org", "mx.example.org", {}, true},
      {"mx.example.org", "mx.example.org", {}, true},
      {"xexample.org", "mx.example.org", {"example.org"}, false},
      {"example.net", "", {}, false},
  };
  for (const auto& c : cases) {
    target_identity id;
    id.banner_host = c.banner;
    id.local_domains = c.local;
    EXPECT_EQ(test_domain_is_own(id, c.test_domain), c.want)
        << "test domain " << c.test_domain << " banner " << c.banner;
  }
}

// The catalogue's ids are unique and every row documents itself.
TEST(Battery, CatalogueRows) {
  std::set<std::string_view> ids;
  for (const auto& row : catalogue()) {
    EXPECT_TRUE(ids.insert(row.id).second) << "duplicate id " << row.id;
    EXPECT_FALSE(row.form.empty()) << row.id;
    EXPECT_FALSE(row.exploits.empty()) << row.id;
    EXPECT_FALSE(row.reference.empty()) << row.id;
    EXPECT_EQ(row.rcpt.find("DATA"), std::string_view::npos) << row.id;
  }
}

}  // namespace
}  // namespace mx::probe
