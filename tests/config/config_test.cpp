// Tests for config/: the option table, the strict loader (every error located), defaults,
// relay_policy(), the reference and the effective-config round trip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/option_table.hpp"
#include "core/inet.hpp"
#include "policy/relay.hpp"

namespace mx::config {
namespace {

std::string effective(std::string_view toml) {
  auto cfg = load_string(toml, "test.toml");
  if (!cfg) return "ERROR " + cfg.error().to_string();
  return effective_toml(*cfg);
}

// ---------------------------------------------------------------------------------------------
// Defaults: what an empty file gives, one row per option.

struct default_case {
  std::string section;
  std::string line;  // as effective_toml prints it
};

// The lines effective_toml prints for [section] (up to the next table header).
std::string section_text(const std::string& effective_text, const std::string& section) {
  const std::string head = "[" + section + "]\n";
  const auto begin = effective_text.find(head);
  if (begin == std::string::npos) return "";
  const auto end = effective_text.find("\n[", begin + head.size());
  return effective_text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

TEST(ConfigDefaults, EmptySectionsGiveEveryDefault) {
  const std::vector<default_case> cases = {
      {"smtpd", R"(listen = ["127.0.0.1:2525"])"},
      {"smtpd", R"(hostname = "localhost")"},
      {"smtpd", R"(local_domains = [])"},
      {"smtpd", R"(relay_domains = [])"},
      {"smtpd", R"(trusted_networks = ["127.0.0.0/8", "::1/128"])"},
      {"smtpd", R"(own_addresses = [])"},
      {"smtpd", R"(relay_restrictions = ["permit_trusted_networks", "permit_authenticated", "reject_unauth_destination"])"},
      {"smtpd", R"(max_recipients = 100)"},
      {"smtpd", R"(max_message_size = 10485760)"},
      {"smtpd", R"(max_errors = 10)"},
      {"smtpd", R"(soft_reject = false)"},
      {"smtpd", R"(allow_open_relay = false)"},
      {"smtpd", R"(mail_dir = "var/mail")"},
      {"smtpd", R"(queue_dir = "var/queue")"},
      {"smtpd", R"(recipients = "")"},
      {"smtpd", R"(max_rejections = 100)"},
      {"smtpd", R"(max_connections = 1000)"},
      {"smtpd", R"(max_connections_per_ip = 50)"},
      {"smtpd", R"(greet_delay = 0)"},
      {"smtpd", R"(timeout_greeting = 300)"},
      {"smtpd", R"(timeout_mail = 300)"},
      {"smtpd", R"(timeout_rcpt = 300)"},
      {"smtpd", R"(timeout_data_init = 120)"},
      {"smtpd", R"(timeout_data_block = 180)"},
      {"smtpd", R"(timeout_data_term = 600)"},
      {"smtpd", R"(timeout_idle = 300)"},
      {"smtpd", R"(session_lifetime = 3600)"},
      {"smtpd", R"(shutdown_grace = 30)"},
      {"smtpd", R"(sender_login_maps = "")"},
      {"smtpd", R"(dnsbl = [])"},
      {"smtpd", R"(dnsbl_threshold = 1)"},
      {"smtpd", R"(rhsbl_sender = [])"},
      {"smtpd", R"(rhsbl_helo = [])"},
      {"smtpd", R"(dnsbl_action = "reject")"},
      {"smtpd", R"(dnsbl_reject_at = "rcpt")"},
      {"resolver", R"(servers = [])"},
      {"resolver", R"(timeout = 2000)"},
      {"resolver", R"(tries = 2)"},
      {"resolver", R"(max_ttl = 3600)"},
      {"[smtpd.listener]", R"(role = "submission")"},
      {"[smtpd.listener]", R"(tls = "starttls")"},
      {"[smtpd.listener]", R"(require_tls = false)"},
      {"[smtpd.listener]", R"(auth_without_tls = false)"},
      {"auth", R"(max_failures = 5)"},
      {"auth", R"(failure_window = 300)"},
      {"service", R"(user = "mxguard")"},
      {"dnsbld", R"(listen = ["127.0.0.1:5353"])"},
      {"dnsbld", R"(axfr_allow = [])"},
      {"dnsbld", R"(default_ttl = 2100)"},
      {"dnsbld", R"(udp_payload = 1232)"},
      {"dnsbld", R"(udp_sockets = 0)"},
      {"dnsbld", R"(tcp_timeout = 10)"},
      {"dnsbld", R"(max_tcp_connections = 1000)"},
      {"dnsbld", R"(test_points = true)"},
      {"dnsbld", R"(accept_host_bits = false)"},
      {"dnsbld", R"(check_interval = 1)"},
      {"dnsbld", R"(load_threads = 0)"},
  };
  // [tls] cert and key and [auth] passwd_file have no useful default: their sections need them,
  // so they are set here (and excluded from the count below).
  const std::string got = effective(
      "[smtpd]\n[dnsbld]\n[service]\n[resolver]\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n"
      "[auth]\npasswd_file = \"passwd\"\n[[smtpd.listener]]\nlisten = [\"127.0.0.1:587\"]\n");
  for (const auto& c : cases) {
    const std::string section = section_text(got, c.section);
    EXPECT_NE(section.find("\n" + c.line + "\n"), std::string::npos)
        << "want line in [" << c.section << "]: " << c.line << "\ngot:\n"
        << got;
  }
  // Every option with a default has a row above: a new option needs its default pinned here.
  // The keys of [[dnsbld.zone]] have none: each table must set them.
  std::size_t with_default = 0;
  for (const auto& opt : detail::option_table()) {
    if (opt.section == "dnsbld.zone" || opt.key() == "smtpd.listener.listen") {
      EXPECT_TRUE(opt.required) << opt.key() << ": want required";
    } else if (opt.section == "tls" || opt.key() == "auth.passwd_file") {
      EXPECT_FALSE(opt.required) << opt.key();  // required by the cross-check when declared
    } else {
      EXPECT_FALSE(opt.required) << opt.key();
      ++with_default;
    }
  }
  EXPECT_EQ(with_default, cases.size()) << "options with defaults in the table vs. rows here";
}

TEST(ConfigDefaults, OnlyDeclaredSectionsArePrinted) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"", {}},
      {"[smtpd]\n", {"[smtpd]"}},
      {"[dnsbld]\n", {"[dnsbld]"}},
      {"[dnsbld]\n[smtpd]\n", {"[smtpd]", "[dnsbld]"}},
      {"[resolver]\n", {"[resolver]"}},
      {"[[dnsbld.zone]]\nname = \"a.test\"\ndatasets = [\"dnset:d\"]\n",
       {"[dnsbld]", "[[dnsbld.zone]]"}},
  };
  for (const auto& [in, want] : cases) {
    const std::string got = effective(in);
    std::vector<std::string> headers;
    std::size_t pos = 0;
    while (pos < got.size()) {
      const auto nl = got.find('\n', pos);
      const std::string line = got.substr(pos, nl - pos);
      if (!line.empty() && line.front() == '[') headers.push_back(line);
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
    EXPECT_EQ(headers, want) << "input:\n" << in << "got:\n" << got;
  }
}

TEST(ConfigDefaults, StructDefaultsMatchTheTable) {
  auto cfg = load_string("", "empty.toml");
  ASSERT_TRUE(cfg.has_value()) << cfg.error().to_string();
  const auto& s = cfg->smtpd;
  ASSERT_EQ(s.listen.size(), 1u);
  EXPECT_EQ(s.listen[0].to_string(), "127.0.0.1:2525");
  EXPECT_EQ(s.hostname, "localhost");
  EXPECT_EQ(s.relay_restrictions, policy::default_restrictions());
  EXPECT_EQ(s.max_recipients, 100u);
  EXPECT_EQ(s.max_message_size, 10485760u);
  EXPECT_EQ(s.max_errors, 10u);
  EXPECT_FALSE(s.allow_open_relay);
  EXPECT_FALSE(s.soft_reject);
  EXPECT_EQ(cfg->source, "empty.toml");
  EXPECT_FALSE(cfg->has_smtpd);
  EXPECT_FALSE(cfg->has_dnsbld);
  // The struct's own initialisers agree with the table's defaults.
  EXPECT_TRUE(cfg->dnsbld.zones.empty());
  dnsbld_config d;
  d.listen = cfg->dnsbld.listen;  // no initialiser in the struct (a vector of endpoints)
  EXPECT_TRUE(d == cfg->dnsbld) << effective_toml(*cfg);
  EXPECT_TRUE(resolver_config{} == cfg->resolver) << effective_toml(*cfg);
  EXPECT_FALSE(cfg->has_resolver);
  ASSERT_EQ(cfg->dnsbld.listen.size(), 1u);
  EXPECT_EQ(cfg->dnsbld.listen[0].to_string(), "127.0.0.1:5353");
  // An explicit but empty section has the same values as none, and is declared.
  auto with_section = load_string("[smtpd]\n[dnsbld]\n", "empty.toml");
  ASSERT_TRUE(with_section.has_value()) << with_section.error().to_string();
  EXPECT_TRUE(with_section->smtpd == cfg->smtpd) << "got:\n" << effective_toml(*with_section);
  EXPECT_TRUE(with_section->dnsbld == cfg->dnsbld) << "got:\n" << effective_toml(*with_section);
  EXPECT_TRUE(with_section->has_smtpd);
  EXPECT_TRUE(with_section->has_dnsbld);
}

TEST(ConfigLoad, DnsbldZones) {
  struct zone_case {
    std::string name;
    std::string toml;
    std::vector<dnsbld_zone_config> want;
  };
  const std::vector<zone_case> cases = {
      {"one zone, canonical name and datasets",
       "[[dnsbld.zone]]\nname = \"BL.Example.TEST.\"\n"
       "datasets = [\"ip4set:a.txt:b.txt\", \"dnset:d.txt\"]\n",
       {{"bl.example.test", {"ip4set:a.txt,b.txt", "dnset:d.txt"}}}},
      {"two zones in order, after [dnsbld] keys",
       "[dnsbld]\nlisten = [\"127.0.0.1:0\"]\n[[dnsbld.zone]]\nname = \"b.test\"\n"
       "datasets = [\"ip4tset:t\"]\n[[dnsbld.zone]]\nname = \"a.test\"\n"
       "datasets = [\"ip6trie:x,y\", \"combined:c\"]\n",
       {{"b.test", {"ip4tset:t"}}, {"a.test", {"ip6trie:x,y", "combined:c"}}}},
      {"inline array of tables",
       "[dnsbld]\nzone = [{name = \"a.test\", datasets = [\"ip4trie:z\"]}]\n",
       {{"a.test", {"ip4trie:z"}}}},
      {"no zones", "[dnsbld]\nzone = []\n", {}},
  };
  for (const auto& c : cases) {
    auto got = load_string(c.toml, "z.toml");
    ASSERT_TRUE(got.has_value()) << c.name << ": " << got.error().to_string();
    EXPECT_TRUE(got->has_dnsbld) << c.name;
    EXPECT_FALSE(got->has_smtpd) << c.name;
    EXPECT_TRUE(got->dnsbld.zones == c.want) << c.name << "\ngot:\n" << effective_toml(*got);
  }
}

// ---------------------------------------------------------------------------------------------
// Valid configs: input -> the effective lines that must result (canonical forms).

struct valid_case {
  std::string name;
  std::string toml;
  std::vector<std::string> want_lines;
};

TEST(ConfigLoad, ValidConfigs) {
  const std::vector<valid_case> cases = {
      {"bundled shape",
       "[smtpd]\nlisten = [\"127.0.0.1:2525\", \"[::1]:2525\"]\nhostname = \"mx.example.test\"\n"
       "local_domains = [\"example.test\"]\n",
       {R"(listen = ["127.0.0.1:2525", "[::1]:2525"])", R"(hostname = "mx.example.test")",
        R"(local_domains = ["example.test"])"}},
      {"hostname canonical: lowercase, trailing dot removed",
       "[smtpd]\nhostname = \"MX.Example.TEST.\"\n",
       {R"(hostname = "mx.example.test")"}},
      {"domains canonical",
       "[smtpd]\nlocal_domains = [\"Example.Test\", \"b.test.\"]\n",
       {R"(local_domains = ["example.test", "b.test"])"}},
      {"relay domains",
       "[smtpd]\nrelay_domains = [\"backup.test\"]\n",
       {R"(relay_domains = ["backup.test"])"}},
      {"trusted networks may be empty",
       "[smtpd]\ntrusted_networks = []\n",
       {R"(trusted_networks = [])"}},
      {"trusted networks v4 and v6",
       "[smtpd]\ntrusted_networks = [\"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.1\"]\n",
       {R"(trusted_networks = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1/32"])"}},
      {"wildcard listen",
       "[smtpd]\nlisten = [\"0.0.0.0:25\", \"[::]:25\"]\n",
       {R"(listen = ["0.0.0.0:25", "[::]:25"])"}},
      {"own addresses",
       "[smtpd]\nown_addresses = [\"192.0.2.1\", \"2001:db8::1\"]\n",
       {R"(own_addresses = ["192.0.2.1", "2001:db8::1"])"}},
      {"restrictions in any order",
       "[smtpd]\nrelay_restrictions = [\"reject_unauth_destination\"]\n",
       {R"(relay_restrictions = ["reject_unauth_destination"])"}},
      {"every restriction name",
       "[smtpd]\nrelay_restrictions = [\"permit_trusted_networks\", \"permit_authenticated\", "
       "\"defer_unauth_destination\", \"reject_unauth_destination\", \"permit\", \"reject\", "
       "\"defer\"]\n",
       {R"(relay_restrictions = ["permit_trusted_networks", "permit_authenticated", "defer_unauth_destination", "reject_unauth_destination", "permit", "reject", "defer"])"}},
      {"dns lists canonical",
       "[smtpd]\ndnsbl = [\"BL.Example.Test.*2\", \"zen.test=127.0.0.[2..11]\", "
       "\"wl.test=127.0.[0..255].[1;3]*-5\"]\nrhsbl_sender = [\"dbl.test*1\"]\n",
       {R"(dnsbl = ["bl.example.test*2", "zen.test=127.0.0.[2..11]", "wl.test=127.0.[0..255].[1;3]*-5"])",
        R"(rhsbl_sender = ["dbl.test"])"}},
      {"resolver servers canonical",
       "[resolver]\nservers = [\"127.0.0.1\", \"[::1]:5353\"]\n",
       {R"(servers = ["127.0.0.1:53", "[::1]:5353"])"}},
      {"integers",
       "[smtpd]\nmax_recipients = 5\nmax_message_size = 2048\nmax_errors = 3\n",
       {"max_recipients = 5", "max_message_size = 2048", "max_errors = 3"}},
      {"booleans",
       "[smtpd]\nsoft_reject = true\nallow_open_relay = true\n",
       {"soft_reject = true", "allow_open_relay = true"}},
      {"dotted keys and inline table", "smtpd = { max_recipients = 7 }\n", {"max_recipients = 7"}},
      {"dotted key at top level", "smtpd.max_errors = 4\n", {"max_errors = 4"}},
      {"comments and blank lines", "# c\n\n[smtpd] # c\nmax_errors = 9 # c\n", {"max_errors = 9"}},
      {"multi-line array with trailing comma",
       "[smtpd]\nlocal_domains = [\n  \"a.test\",\n  \"b.test\",\n]\n",
       {R"(local_domains = ["a.test", "b.test"])"}},
  };
  for (const auto& c : cases) {
    const std::string got = effective(c.toml);
    for (const auto& want : c.want_lines) {
      EXPECT_NE(got.find(want + "\n"), std::string::npos)
          << c.name << "\ninput:\n"
          << c.toml << "want line: " << want << "\ngot:\n"
          << got;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Invalid configs: the error's line, column and a fragment of its message.

struct invalid_case {
  std::string name;
  std::string toml;
  int line;
  int column;
  std::string fragment;
};

TEST(ConfigLoad, InvalidConfigsAreLocated) {
  const std::vector<invalid_case> cases = {
      // Unknown names.
      {"unknown section", "[smptd]\n", 1, 2, "unknown section [smptd] (did you mean smtpd?)"},
      {"unknown key", "[smtpd]\nmax_recipient = 5\n", 2, 1,
       "unknown key smtpd.max_recipient (did you mean max_recipients?)"},
      {"unknown key, no suggestion", "[smtpd]\nfoo = 1\n", 2, 1, "unknown key smtpd.foo"},
      {"key outside a section", "listen = []\n", 1, 1, "unknown key listen outside any section"},
      {"subtable inside smtpd", "[smtpd.tls]\n", 1, 8, "unknown key smtpd.tls"},
      {"odd key is escaped", "[smtpd]\n\"a\\nb\" = 1\n", 2, 1, "unknown key smtpd.\"a\\x0ab\""},
      {"section of the wrong type", "smtpd = 5\n", 1, 9, "smtpd: expected a table"},
      // Wrong types.
      {"integer as string", "[smtpd]\nmax_recipients = \"100\"\n", 2, 18,
       "smtpd.max_recipients: expected an integer, got a string"},
      {"integer as float", "[smtpd]\nmax_errors = 1.5\n", 2, 14,
       "smtpd.max_errors: expected an integer, got a float"},
      {"boolean as string", "[smtpd]\nallow_open_relay = \"no\"\n", 2, 20,
       "smtpd.allow_open_relay: expected a boolean"},
      {"boolean as integer", "[smtpd]\nsoft_reject = 0\n", 2, 15,
       "smtpd.soft_reject: expected a boolean"},
      {"list as string", "[smtpd]\ntrusted_networks = \"10.0.0.0/8\"\n", 2, 20,
       "smtpd.trusted_networks: expected an array of strings, got a string"},
      {"list item not a string", "[smtpd]\nlisten = [\"127.0.0.1:25\", 25]\n", 2, 27,
       "smtpd.listen[1]: expected a string, got an integer"},
      {"hostname as list", "[smtpd]\nhostname = [\"a\"]\n", 2, 12,
       "smtpd.hostname: expected a string"},
      // Malformed items, each at its own position.
      {"CIDR host bits", "[smtpd]\ntrusted_networks = [\"127.0.0.0/8\", \"10.0.0.1/8\"]\n", 2, 36,
       "smtpd.trusted_networks[1]: \"10.0.0.1/8\" is not a CIDR network (host bits set? the "
       "network is 10.0.0.0/8)"},
      {"CIDR v6 host bits", "[smtpd]\ntrusted_networks = [\"2001:db8::1/32\"]\n", 2, 21,
       "host bits set? the network is 2001:db8::/32"},
      {"CIDR prefix too long", "[smtpd]\ntrusted_networks = [\"10.0.0.0/33\"]\n", 2, 21,
       "prefix longer than 32"},
      {"CIDR garbage", "[smtpd]\ntrusted_networks = [\"ten/8\"]\n", 2, 21,
       "\"ten/8\" is not a CIDR network"},
      {"CIDR octal-looking", "[smtpd]\ntrusted_networks = [\"010.0.0.0/8\"]\n", 2, 21,
       "is not a CIDR network"},
      {"endpoint without port", "[smtpd]\nlisten = [\"127.0.0.1\"]\n", 2, 11,
       "smtpd.listen[0]: \"127.0.0.1\" is not a listen endpoint"},
      {"endpoint host name", "[smtpd]\nlisten = [\"localhost:25\"]\n", 2, 11,
       "is not a listen endpoint"},
      {"endpoint v6 without brackets", "[smtpd]\nlisten = [\"::1:25\"]\n", 2, 11,
       "is not a listen endpoint"},
      {"bad hostname", "[smtpd]\nhostname = \"mx..example\"\n", 2, 12,
       "smtpd.hostname: \"mx..example\" is not a domain name"},
      {"empty hostname", "[smtpd]\nhostname = \"\"\n", 2, 12, "is not a domain name"},
      {"bad local domain", "[smtpd]\nlocal_domains = [\"ok.test\", \"bad domain\"]\n", 2, 29,
       "smtpd.local_domains[1]: \"bad domain\" is not a domain name"},
      {"bad relay domain", "[smtpd]\nrelay_domains = [\"-x\"]\n", 2, 18, "smtpd.relay_domains[0]"},
      {"own address not an IP", "[smtpd]\nown_addresses = [\"192.0.2\"]\n", 2, 18,
       "smtpd.own_addresses[0]: \"192.0.2\" is not an IP address"},
      {"own address wildcard", "[smtpd]\nown_addresses = [\"::\"]\n", 2, 18,
       "is the wildcard address"},
      {"unknown restriction", "[smtpd]\nrelay_restrictions = [\"permit_mynetworks\"]\n", 2, 23,
       "smtpd.relay_restrictions[0]: \"permit_mynetworks\" is not a relay restriction (one of "
       "permit_trusted_networks"},
      {"control octets are escaped", "[smtpd]\nhostname = \"a\\u001bb\"\n", 2, 12,
       "\"a\\x1bb\" is not a domain name"},
      // Bounds.
      {"empty listen", "[smtpd]\nlisten = []\n", 2, 10, "smtpd.listen: needs at least 1 entry"},
      {"empty restrictions", "[smtpd]\nrelay_restrictions = []\n", 2, 22,
       "smtpd.relay_restrictions: needs at least 1 entry"},
      {"max_recipients 0", "[smtpd]\nmax_recipients = 0\n", 2, 18,
       "smtpd.max_recipients: 0 is out of bounds (1 .. 100000)"},
      {"negative", "[smtpd]\nmax_errors = -1\n", 2, 14,
       "smtpd.max_errors: -1 is out of bounds (1 .. 1000)"},
      // Duplicates, at the repeated item.
      {"duplicate domain (canonically)", "[smtpd]\nlocal_domains = [\"a.test\", \"A.TEST.\"]\n", 2,
       28, "smtpd.local_domains[1]: \"A.TEST.\" repeats smtpd.local_domains[0]"},
      {"duplicate network", "[smtpd]\ntrusted_networks = [\"::1/128\", \"::1\"]\n", 2, 32,
       "repeats smtpd.trusted_networks[0]"},
      {"duplicate restriction", "[smtpd]\nrelay_restrictions = [\"reject\", \"reject\"]\n", 2, 33,
       "repeats smtpd.relay_restrictions[0]"},
      {"duplicate listen", "[smtpd]\nlisten = [\"127.0.0.1:25\", \"127.0.0.1:25\"]\n", 2, 27,
       "repeats smtpd.listen[0]"},
      // Across options.
      {"domain both local and relay",
       "[smtpd]\nlocal_domains = [\"a.test\"]\nrelay_domains = [\"b.test\", \"a.test\"]\n", 3, 28,
       "smtpd.relay_domains[1]: \"a.test\" is also smtpd.local_domains[0]"},
      // [dnsbld] and its zones.
      {"unknown section near dnsbld", "[dnsbl]\n", 1, 2,
       "unknown section [dnsbl] (did you mean dnsbld?)"},
      {"dnsbld empty listen", "[dnsbld]\nlisten = []\n", 2, 10,
       "dnsbld.listen: needs at least 1 entry"},
      {"dnsbld axfr host bits", "[dnsbld]\naxfr_allow = [\"10.0.0.1/8\"]\n", 2, 15,
       "dnsbld.axfr_allow[0]: \"10.0.0.1/8\" is not a CIDR network (host bits set?"},
      {"dnsbld payload bounds", "[dnsbld]\nudp_payload = 511\n", 2, 15,
       "dnsbld.udp_payload: 511 is out of bounds (512 .. 4096)"},
      {"zone as a plain table", "[dnsbld.zone]\nname = \"a.test\"\n", 1, 1,
       "dnsbld.zone: expected an array of tables ([[dnsbld.zone]]), got a table"},
      {"zone as a string", "[dnsbld]\nzone = \"a.test\"\n", 2, 8,
       "dnsbld.zone: expected an array of tables"},
      {"zone item not a table", "[dnsbld]\nzone = [1]\n", 2, 9,
       "dnsbld.zone[0]: expected a table, got an integer"},
      {"zone without name", "[dnsbld]\n\n[[dnsbld.zone]]\ndatasets = [\"dnset:d\"]\n", 3, 1,
       "dnsbld.zone[0]: name is required"},
      {"zone without datasets", "[[dnsbld.zone]]\nname = \"a.test\"\n", 1, 1,
       "dnsbld.zone[0]: datasets is required"},
      {"zone unknown key",
       "[[dnsbld.zone]]\nname = \"a.test\"\ndataset = []\ndatasets = [\"dnset:d\"]\n", 3, 1,
       "unknown key dnsbld.zone[0].dataset (did you mean datasets?)"},
      {"zone bad name",
       "[[dnsbld.zone]]\nname = \"a.test\"\ndatasets = [\"dnset:d\"]\n[[dnsbld.zone]]\n"
       "name = \"bad zone\"\ndatasets = [\"dnset:d\"]\n",
       5, 8, "dnsbld.zone[1].name: \"bad zone\" is not a domain name"},
      {"zone bad dataset type",
       "[[dnsbld.zone]]\nname = \"a.test\"\ndatasets = [\"dnset:d\", \"ipset:x\"]\n", 3, 24,
       "dnsbld.zone[0].datasets[1]: \"ipset:x\" is not a dataset"},
      {"zone dataset without file", "[[dnsbld.zone]]\nname = \"a.test\"\ndatasets = [\"dnset\"]\n",
       3, 13, "dnsbld.zone[0].datasets[0]: \"dnset\" is not a dataset"},
      {"zone empty datasets", "[[dnsbld.zone]]\nname = \"a.test\"\ndatasets = []\n", 3, 12,
       "dnsbld.zone[0].datasets: needs at least 1 entry"},
      {"zone duplicate dataset",
       "[[dnsbld.zone]]\nname = \"a.test\"\ndatasets = [\"dnset:d\", \"dnset:d\"]\n", 3, 24,
       "dnsbld.zone[0].datasets[1]: \"dnset:d\" repeats dnsbld.zone[0].datasets[0]"},
      {"zone named twice",
       "[[dnsbld.zone]]\nname = \"a.test\"\ndatasets = [\"dnset:d\"]\n[[dnsbld.zone]]\n"
       "name = \"A.test.\"\ndatasets = [\"ip4set:i\"]\n",
       5, 8, "dnsbld.zone[1].name: \"a.test\" repeats dnsbld.zone[0]"},
      {"dnsbld and smtpd on one TCP port",
       "[smtpd]\nlisten = [\"127.0.0.1:53\"]\n[dnsbld]\nlisten = [\"[::1]:53\", \"0.0.0.0:53\"]\n", 4,
       23, "dnsbld.listen[1]: 0.0.0.0:53 overlaps smtpd.listen[0]"},
      // [tls], [auth], [service] and [[smtpd.listener]]: what a listener promises must work.
      {"tls without cert", "[tls]\nkey = \"k.pem\"\n", 1, 1, "tls.cert: required in [tls]"},
      {"tls without key", "[tls]\ncert = \"c.pem\"\n", 1, 1, "tls.key: required in [tls]"},
      {"auth without passwd_file", "[auth]\nmax_failures = 3\n", 1, 1,
       "auth.passwd_file: required in [auth]"},
      {"bad user name", "[service]\nuser = \"Root User\"\n", 2, 8,
       "service.user: \"Root User\" is not a user name"},
      {"listener without listen", "[[smtpd.listener]]\nrole = \"mx\"\n", 1, 1,
       "smtpd.listener[0]: listen is required"},
      {"listener bad role", "[[smtpd.listener]]\nlisten = [\"127.0.0.1:587\"]\nrole = \"relay\"\n",
       3, 8, "smtpd.listener[0].role: \"relay\" is not one of \"submission\", \"mx\""},
      {"listener starttls without [tls]",
       "[auth]\npasswd_file = \"p\"\n[[smtpd.listener]]\nlisten = [\"127.0.0.1:587\"]\n", 3, 1,
       "smtpd.listener[0].tls: tls = \"starttls\" needs a [tls] section"},
      {"implicit TLS on an MX",
       "[tls]\ncert = \"c\"\nkey = \"k\"\n[[smtpd.listener]]\nlisten = [\"127.0.0.1:465\"]\n"
       "role = \"mx\"\ntls = \"implicit\"\n",
       6, 8, "smtpd.listener[0].role: tls = \"implicit\" is for submission"},
      {"require_tls without tls",
       "[[smtpd.listener]]\nlisten = [\"127.0.0.1:2526\"]\nrole = \"mx\"\ntls = \"none\"\n"
       "require_tls = true\n",
       5, 15, "require_tls = true needs tls = \"starttls\""},
      {"plaintext AUTH beyond loopback",
       "[auth]\npasswd_file = \"p\"\n[[smtpd.listener]]\nlisten = [\"192.0.2.1:587\"]\n"
       "tls = \"none\"\nauth_without_tls = true\n",
       6, 20, "192.0.2.1:587 is not a loopback address"},
      {"plaintext AUTH on a wildcard",
       "[auth]\npasswd_file = \"p\"\n[[smtpd.listener]]\nlisten = [\"0.0.0.0:587\"]\n"
       "tls = \"none\"\nauth_without_tls = true\n",
       6, 20, "is not a loopback address"},
      {"submission without [auth]",
       "[tls]\ncert = \"c\"\nkey = \"k\"\n[[smtpd.listener]]\nlisten = [\"127.0.0.1:587\"]\n", 4, 1,
       "smtpd.listener[0].role: a submission listener needs [auth] passwd_file"},
      {"submission that can never authenticate",
       "[auth]\npasswd_file = \"p\"\n[[smtpd.listener]]\nlisten = [\"127.0.0.1:587\"]\n"
       "tls = \"none\"\n",
       5, 7, "could never authenticate anyone"},
      {"listener on the MX port",
       "[smtpd]\nlisten = [\"127.0.0.1:2525\"]\n[[smtpd.listener]]\nlisten = [\"0.0.0.0:2525\"]\n"
       "role = \"mx\"\ntls = \"none\"\n",
       4, 10, "0.0.0.0:2525 overlaps smtpd.listen[0]"},
      {"two listeners on one port",
       "[[smtpd.listener]]\nlisten = [\"127.0.0.1:26\"]\nrole = \"mx\"\ntls = \"none\"\n"
       "[[smtpd.listener]]\nlisten = [\"127.0.0.1:26\"]\nrole = \"mx\"\ntls = \"none\"\n",
       6, 10, "smtpd.listener[1].listen: 127.0.0.1:26 overlaps smtpd.listener[0].listen"},
      // DNS lists (issue 6) and [resolver].
      {"dnsbl bad pattern", "[smtpd]\ndnsbl = [\"ok.test\", \"bl.test=127.0.0.[5..2]\"]\n", 2, 21,
       "smtpd.dnsbl[1]: \"bl.test=127.0.0.[5..2]\" is not a DNS list entry"},
      {"dnsbl bad weight", "[smtpd]\ndnsbl = [\"bl.test*x\"]\n", 2, 10,
       "smtpd.dnsbl[0]: \"bl.test*x\" is not a DNS list entry"},
      {"dnsbl weight too large", "[smtpd]\ndnsbl = [\"bl.test*1000001\"]\n", 2, 10,
       "is not a DNS list entry"},
      {"dnsbl bad zone", "[smtpd]\ndnsbl = [\"bl test\"]\n", 2, 10, "is not a DNS list entry"},
      {"dnsbl duplicate (canonically)", "[smtpd]\ndnsbl = [\"BL.test.\", \"bl.test*1\"]\n", 2,
       22, "smtpd.dnsbl[1]: \"bl.test*1\" repeats smtpd.dnsbl[0]"},
      {"rhsbl_sender not a string", "[smtpd]\nrhsbl_sender = [1]\n", 2, 17,
       "smtpd.rhsbl_sender[0]: expected a string"},
      {"rhsbl_helo bad entry", "[smtpd]\nrhsbl_helo = [\"=127.0.0.2\"]\n", 2, 15,
       "smtpd.rhsbl_helo[0]"},
      {"dnsbl threshold 0", "[smtpd]\ndnsbl_threshold = 0\n", 2, 19,
       "smtpd.dnsbl_threshold: 0 is out of bounds (1 .. 1000000)"},
      {"dnsbl action", "[smtpd]\ndnsbl_action = \"drop\"\n", 2, 16,
       "smtpd.dnsbl_action: \"drop\" is not one of \"reject\", \"defer\", \"log\""},
      {"dnsbl reject_at", "[smtpd]\ndnsbl_reject_at = \"data\"\n", 2, 19,
       "smtpd.dnsbl_reject_at: \"data\" is not one of \"rcpt\", \"connect\""},
      {"resolver host name", "[resolver]\nservers = [\"dns.example\"]\n", 2, 12,
       "resolver.servers[0]: \"dns.example\" is not a DNS server"},
      {"resolver port 0", "[resolver]\nservers = [\"127.0.0.1:0\"]\n", 2, 12,
       "is not a DNS server"},
      {"resolver duplicate server", "[resolver]\nservers = [\"127.0.0.1\", \"127.0.0.1:53\"]\n",
       2, 25, "resolver.servers[1]: \"127.0.0.1:53\" repeats resolver.servers[0]"},
      {"resolver timeout", "[resolver]\ntimeout = 10\n", 2, 11,
       "resolver.timeout: 10 is out of bounds (50 .. 30000)"},
      {"resolver tries", "[resolver]\ntries = 0\n", 2, 9, "resolver.tries: 0 is out of bounds"},
      {"resolver unknown key", "[resolver]\nserver = []\n", 2, 1,
       "unknown key resolver.server (did you mean servers?)"},
      // TOML syntax, located by toml++.
      {"unclosed section header", "[smtpd\n", 1, 7, "TOML syntax"},
      {"missing value", "[smtpd]\nmax_errors =\n", 2, 13, "TOML syntax"},
      {"duplicate key", "[smtpd]\nmax_errors = 1\nmax_errors = 2\n", 3, 14, "TOML syntax"},
      {"unterminated string", "[smtpd]\nhostname = \"abc\n", 2, 16, "TOML syntax"},
      {"integer overflow", "[smtpd]\nmax_errors = 99999999999999999999\n", 2, 34, "TOML syntax"},
      {"NUL octet", std::string("[smtpd]\nmax_errors = 1\0\n", 24), 2, 15, "TOML syntax"},
      {"invalid UTF-8", "[smtpd]\nhostname = \"\xff\"\n", 2, 12, "TOML syntax"},
  };
  for (const auto& c : cases) {
    auto got = load_string(c.toml, "x.toml");
    ASSERT_FALSE(got.has_value()) << c.name << ": loaded, want an error\ninput:\n" << c.toml;
    const auto& e = got.error();
    EXPECT_EQ(e.file, "x.toml") << c.name;
    EXPECT_EQ(e.line, c.line) << c.name << ": line\nmessage: " << e.message;
    EXPECT_EQ(e.column, c.column) << c.name << ": column\nmessage: " << e.message;
    EXPECT_NE(e.message.find(c.fragment), std::string::npos)
        << c.name << "\ngot:  " << e.message << "\nwant: ..." << c.fragment << "...";
  }
}

TEST(ConfigLoad, FirstErrorInTheFileIsReported) {
  // toml++ keeps keys sorted; the report must follow the file, not the alphabet.
  const std::string toml = "[smtpd]\nmax_recipients = 0\nhostname = \"a..b\"\nzzz = 1\n";
  auto got = load_string(toml, "x.toml");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().line, 2) << got.error().message;
  EXPECT_NE(got.error().message.find("max_recipients"), std::string::npos) << got.error().message;
}

// ---------------------------------------------------------------------------------------------
// Bounds of every bounded option: the edges pass, one beyond fails.

struct bound_case {
  std::string key;
  std::string value;
  bool ok;
  std::string section = "smtpd";
};

TEST(ConfigLoad, EveryOptionsBounds) {
  const std::vector<bound_case> cases = {
      {"max_recipients", "0", false},
      {"max_recipients", "1", true},
      {"max_recipients", "100000", true},
      {"max_recipients", "100001", false},
      {"max_message_size", "1023", false},
      {"max_message_size", "1024", true},
      {"max_message_size", "2147483648", true},
      {"max_message_size", "2147483649", false},
      {"max_errors", "0", false},
      {"max_errors", "1", true},
      {"max_errors", "1000", true},
      {"max_errors", "1001", false},
      {"listen", "[]", false},
      {"listen", R"(["[::1]:0"])", true},
      {"relay_restrictions", "[]", false},
      {"relay_restrictions", R"(["reject"])", true},
      {"local_domains", "[]", true},
      {"relay_domains", "[]", true},
      {"trusted_networks", "[]", true},
      {"own_addresses", "[]", true},
      {"soft_reject", "true", true},
      {"soft_reject", "1", false},
      {"allow_open_relay", "false", true},
      {"allow_open_relay", "\"false\"", false},
      {"hostname", "\"a\"", true},
      {"hostname", "\"a.\"", true},
      {"listen", "[]", false, "dnsbld"},
      {"listen", R"(["[::1]:0", "127.0.0.1:0"])", true, "dnsbld"},
      {"axfr_allow", R"(["127.0.0.1", "::1/128"])", true, "dnsbld"},
      {"default_ttl", "0", false, "dnsbld"},
      {"default_ttl", "1", true, "dnsbld"},
      {"default_ttl", "604800", true, "dnsbld"},
      {"default_ttl", "604801", false, "dnsbld"},
      {"udp_payload", "512", true, "dnsbld"},
      {"udp_payload", "4096", true, "dnsbld"},
      {"udp_payload", "4097", false, "dnsbld"},
      {"udp_sockets", "0", true, "dnsbld"},
      {"udp_sockets", "256", true, "dnsbld"},
      {"udp_sockets", "257", false, "dnsbld"},
      {"tcp_timeout", "0", false, "dnsbld"},
      {"tcp_timeout", "3600", true, "dnsbld"},
      {"tcp_timeout", "3601", false, "dnsbld"},
      {"max_tcp_connections", "0", false, "dnsbld"},
      {"max_tcp_connections", "1", true, "dnsbld"},
      {"test_points", "false", true, "dnsbld"},
      {"test_points", "0", false, "dnsbld"},
      {"accept_host_bits", "true", true, "dnsbld"},
      {"check_interval", "0", true, "dnsbld"},
      {"check_interval", "3600", true, "dnsbld"},
      {"check_interval", "3601", false, "dnsbld"},
      {"load_threads", "0", true, "dnsbld"},
      {"load_threads", "64", true, "dnsbld"},
      {"load_threads", "65", false, "dnsbld"},
      {"dnsbl_threshold", "1", true},
      {"dnsbl_threshold", "1000000", true},
      {"dnsbl_threshold", "1000001", false},
      {"dnsbl", R"(["zen.spamhaus.org=127.0.0.[2..11]*3", "list.dnswl.org=127.0.[0..255].[1..3]*-5"])", true},
      {"rhsbl_sender", R"(["dbl.example.test"])", true},
      {"dnsbl_action", R"("log")", true},
      {"dnsbl_reject_at", R"("connect")", true},
      {"servers", R"(["127.0.0.1:5353", "[::1]:53", "192.0.2.53"])", true, "resolver"},
      {"timeout", "49", false, "resolver"},
      {"timeout", "50", true, "resolver"},
      {"timeout", "30000", true, "resolver"},
      {"timeout", "30001", false, "resolver"},
      {"tries", "10", true, "resolver"},
      {"tries", "11", false, "resolver"},
      {"max_ttl", "0", true, "resolver"},
      {"max_ttl", "604800", true, "resolver"},
      {"max_ttl", "604801", false, "resolver"},
  };
  for (const auto& c : cases) {
    const std::string toml = "[" + c.section + "]\n" + c.key + " = " + c.value + "\n";
    auto got = load_string(toml, "b.toml");
    EXPECT_EQ(got.has_value(), c.ok)
        << c.key << " = " << c.value
        << (got.has_value() ? "" : "\nerror: " + got.error().to_string());
    if (got.has_value() && c.ok && c.value.front() != '[' && c.value.front() != '"') {
      EXPECT_NE(effective_toml(*got).find(c.key + " = " + c.value + "\n"), std::string::npos)
          << c.key << " = " << c.value << "\ngot:\n"
          << effective_toml(*got);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// relay_policy(): what the policy and the proof see.

struct policy_case {
  std::string name;
  std::string toml;
  std::vector<std::string> want_own;  // own_addresses, in order
};

TEST(ConfigRelayPolicy, OwnAddressesFromListenAndOwnAddresses) {
  const std::vector<policy_case> cases = {
      {"default listen", "", {"127.0.0.1"}},
      {"wildcards are not ours", "[smtpd]\nlisten = [\"0.0.0.0:25\", \"[::]:25\"]\n", {}},
      {"mixed, deduplicated",
       "[smtpd]\nlisten = [\"192.0.2.1:25\", \"192.0.2.1:587\", \"[::]:25\", \"[::1]:25\"]\n"
       "own_addresses = [\"198.51.100.1\", \"::1\"]\n",
       {"192.0.2.1", "::1", "198.51.100.1"}},
      {"own addresses only",
       "[smtpd]\nlisten = [\"0.0.0.0:25\"]\nown_addresses = [\"192.0.2.9\"]\n",
       {"192.0.2.9"}},
  };
  for (const auto& c : cases) {
    auto cfg = load_string(c.toml, "p.toml");
    ASSERT_TRUE(cfg.has_value()) << c.name << ": " << cfg.error().to_string();
    const auto got = relay_policy(*cfg);
    std::vector<std::string> own;
    for (const auto& a : got.own_addresses) own.push_back(a.to_string());
    EXPECT_EQ(own, c.want_own) << c.name;
  }
}

TEST(ConfigRelayPolicy, CopiesDomainsNetworksAndRestrictions) {
  auto cfg = load_string(
      "[smtpd]\nlocal_domains = [\"Example.TEST\"]\nrelay_domains = [\"backup.test.\"]\n"
      "trusted_networks = [\"10.0.0.0/8\"]\nrelay_restrictions = [\"permit_authenticated\", "
      "\"defer_unauth_destination\"]\nsoft_reject = true\n",
      "p.toml");
  ASSERT_TRUE(cfg.has_value()) << cfg.error().to_string();
  const auto got = relay_policy(*cfg);
  EXPECT_EQ(got.local_domains, std::vector<std::string>{"example.test"});
  EXPECT_EQ(got.relay_domains, std::vector<std::string>{"backup.test"});
  ASSERT_EQ(got.trusted_networks.size(), 1u);
  EXPECT_EQ(got.trusted_networks[0].to_string(), "10.0.0.0/8");
  const std::vector<policy::restriction> want_r = {policy::restriction::permit_authenticated,
                                                   policy::restriction::defer_unauth_destination};
  EXPECT_EQ(got.restrictions, want_r);
  EXPECT_TRUE(got.soft_reject);
  auto defaults = load_string("", "p.toml");
  ASSERT_TRUE(defaults.has_value());
  EXPECT_FALSE(relay_policy(*defaults).soft_reject);
  EXPECT_EQ(relay_policy(*defaults).restrictions, policy::default_restrictions());
}

// ---------------------------------------------------------------------------------------------
// Output from the table.

TEST(ConfigReference, HasARowForEveryOptionWithItsDefault) {
  const std::string md = reference_markdown();
  for (const auto& opt : detail::option_table()) {
    const std::string def = opt.required ? "(required)" : "`" + opt.default_toml + "`";
    const std::string row = "| `" + opt.name + "` | " + opt.type + " | " + def + " |";
    EXPECT_NE(md.find(row), std::string::npos) << "want row start: " << row;
  }
  for (const auto& s : detail::section_table()) {
    const std::string heading = s.is_array() ? "## [[" + s.name + "]]\n" : "## [" + s.name + "]\n";
    EXPECT_NE(md.find(heading), std::string::npos) << "want heading: " << heading;
  }
}

TEST(ConfigReference, EffectiveTomlRoundTrips) {
  const std::vector<std::string> inputs = {
      "",
      "[smtpd]\nlisten = [\"0.0.0.0:25\", \"[2001:db8::1]:587\"]\nhostname = \"MX.test.\"\n"
      "local_domains = [\"a.test\", \"B.test\"]\nrelay_domains = [\"c.test\"]\n"
      "trusted_networks = [\"192.0.2.0/24\", \"2001:db8::/48\"]\nown_addresses = [\"192.0.2.7\"]\n"
      "relay_restrictions = [\"permit\"]\nmax_recipients = 1\nmax_message_size = 2147483648\n"
      "max_errors = 1000\nsoft_reject = true\nallow_open_relay = true\n",
      "[[dnsbld.zone]]\nname = \"Bl.Test\"\ndatasets = [\"ip4set:a:b\", \"dnset:\\\"q\\\".txt\"]\n"
      "[dnsbld]\nlisten = [\"[::1]:53\"]\naxfr_allow = [\"192.0.2.0/24\"]\ntest_points = false\n"
      "[[dnsbld.zone]]\nname = \"b.test\"\ndatasets = [\"combined:c\"]\n[smtpd]\nmax_errors = 2\n",
      "[dnsbld]\n",
  };
  for (const auto& in : inputs) {
    auto first = load_string(in, "r.toml");
    ASSERT_TRUE(first.has_value()) << first.error().to_string();
    const std::string text = effective_toml(*first);
    auto second = load_string(text, "r.toml");
    ASSERT_TRUE(second.has_value()) << second.error().to_string() << "\n" << text;
    EXPECT_TRUE(*first == *second) << "input:\n"
                                   << in << "effective:\n"
                                   << text << "reloaded:\n"
                                   << effective_toml(*second);
  }
}

TEST(ConfigReference, DisplayTextEscapes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"abc", "\"abc\""},
      {"a\"b\\c", "\"a\\\"b\\\\c\""},
      {std::string("a\0b", 3), "\"a\\x00b\""},
      {"\r\n\x1b\x7f\xc3\xa9", "\"\\x0d\\x0a\\x1b\\x7f\\xc3\\xa9\""},
      {std::string(81, 'x'), "\"" + std::string(80, 'x') + "...\""},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(detail::display_text(in), want) << "input size " << in.size();
  }
}

// ---------------------------------------------------------------------------------------------
// Files and error text.

TEST(ConfigError, ToString) {
  const std::vector<std::pair<config_error, std::string>> cases = {
      {config_error{"c.toml", 7, 20, "msg"}, "c.toml:7:20: msg"},
      {config_error{"c.toml", 0, 0, "cannot open"}, "c.toml: cannot open"},
  };
  for (const auto& [e, want] : cases) EXPECT_EQ(e.to_string(), want);
}

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mxguard-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigFile, LoadsAFileAndNamesItInErrors) {
  const std::string good = write("good.toml", "[smtpd]\nmax_errors = 3\n");
  auto cfg = load_file(good);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().to_string();
  EXPECT_EQ(cfg->source, good);
  EXPECT_EQ(cfg->smtpd.max_errors, 3u);

  const std::string bad = write("bad.toml", "[smtpd]\n\nmax_errors = 0\n");
  auto err = load_file(bad);
  ASSERT_FALSE(err.has_value());
  EXPECT_EQ(err.error().to_string(),
            bad + ":3:14: smtpd.max_errors: 0 is out of bounds (1 .. 1000)");
}

TEST_F(ConfigFile, UnreadableFileIsLineZero) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {(dir_ / "missing.toml").string(), "cannot open config file"},
      {dir_.string(), "cannot read config file"},  // a directory
  };
  for (const auto& [path, fragment] : cases) {
    auto got = load_file(path);
    ASSERT_FALSE(got.has_value()) << path;
    EXPECT_EQ(got.error().line, 0) << path;
    EXPECT_EQ(got.error().file, path);
    EXPECT_NE(got.error().message.find(fragment), std::string::npos)
        << "got: " << got.error().message << "\nwant: " << fragment;
  }
}

// The source tree, found from this file's path (CMake compiles it by absolute path).
std::filesystem::path source_dir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

TEST_F(ConfigFile, BundledConfigLoads) {
  auto cfg = load_file((source_dir() / "config" / "mxguard.toml").string());
  ASSERT_TRUE(cfg.has_value()) << cfg.error().to_string();
  EXPECT_FALSE(cfg->smtpd.allow_open_relay);
  EXPECT_EQ(cfg->smtpd.hostname, "mx.example.test");
  EXPECT_TRUE(cfg->has_smtpd);
  // The bundled DNSBL example stays on loopback and its data files exist.
  if (cfg->has_dnsbld) {
    for (const auto& e : cfg->dnsbld.listen) {
      EXPECT_TRUE(e.address.to_string() == "127.0.0.1" || e.address.to_string() == "::1")
          << e.to_string();
    }
    EXPECT_TRUE(cfg->dnsbld.axfr_allow.empty() ||
                cfg->dnsbld.axfr_allow.front().to_string() == "127.0.0.1/32");
    for (const auto& z : cfg->dnsbld.zones) {
      for (const auto& d : z.datasets) {
        const std::string file = d.substr(d.find(':') + 1);
        EXPECT_TRUE(std::filesystem::exists(source_dir() / file)) << file;
      }
    }
  }
}

TEST_F(ConfigFile, ExampleDnsbldConfigLoads) {
  auto cfg = load_file((source_dir() / "config" / "dnsbld.toml").string());
  ASSERT_TRUE(cfg.has_value()) << cfg.error().to_string();
  EXPECT_TRUE(cfg->has_dnsbld);
  EXPECT_FALSE(cfg->has_smtpd);
  const std::vector<std::string> want_listen = {"127.0.0.1:5353", "[::1]:5353"};
  std::vector<std::string> listen;
  for (const auto& e : cfg->dnsbld.listen) listen.push_back(e.to_string());
  EXPECT_EQ(listen, want_listen) << "loopback only";
  EXPECT_TRUE(cfg->dnsbld.axfr_allow.empty());
  ASSERT_EQ(cfg->dnsbld.zones.size(), 2u);
  for (const auto& z : cfg->dnsbld.zones) {
    for (const auto& d : z.datasets) {
      const std::string file = d.substr(d.find(':') + 1);
      EXPECT_TRUE(std::filesystem::exists(source_dir() / file)) << z.name << ": " << file;
    }
  }
}

TEST(ConfigReference, CheckedInDocsAreCurrent) {
  const auto path = source_dir() / "docs" / "config.md";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << "cannot read " << path;
  const std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, reference_markdown()) << path << " is stale: run `make docs`";
}

}  // namespace
}  // namespace mx::config
