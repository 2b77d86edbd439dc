// The option table: every configuration key mxguard knows, in one place. To add an option, add a
// row here and a member to the struct in config.hpp; parsing, validation, defaults, `check-config
// --show` and docs/config.md follow from the row.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "config/option_table.hpp"
#include "core/inet.hpp"
#include "core/result.hpp"
#include "dnsbl/dataset.hpp"
#include "policy/dnsbl_sites.hpp"
#include "policy/relay.hpp"
#include "smtp/address.hpp"

namespace mx::config::detail {
namespace {

// A member of a section struct inside `config`, so one row can read and write it.
template <class S, class T>
struct field {
  using value_type = T;
  static constexpr bool in_array = false;
  S config::*section;
  T S::*member;
  T& operator()(config& c, std::size_t) const { return (c.*section).*member; }
  const T& operator()(const config& c, std::size_t) const { return (c.*section).*member; }
};

// A member of one table of an array of tables ([[dnsbld.zone]], [[smtpd.listener]]): the
// array is `(c.*section).*array`, the value is `element.*member`.
template <class S, class E, class T>
struct element_field {
  using value_type = T;
  static constexpr bool in_array = true;
  S config::*section;
  std::vector<E> S::*array;
  T E::*member;
  T& operator()(config& c, std::size_t i) const { return ((c.*section).*array).at(i).*member; }
  const T& operator()(const config& c, std::size_t i) const {
    return ((c.*section).*array).at(i).*member;
  }
};

template <class T>
element_field<dnsbld_config, dnsbld_zone_config, T> zone_field(T dnsbld_zone_config::*member) {
  return {&config::dnsbld, &dnsbld_config::zones, member};
}

template <class T>
element_field<smtpd_config, listener_config, T> listener_field(T listener_config::*member) {
  return {&config::smtpd, &smtpd_config::listeners, member};
}

// The key of option `o` as a message names it, for the table `element` of an array.
template <class F>
std::string key_for(const option& o, std::size_t element) {
  return key_text(o.section, o.name, F::in_array, element);
}

problem at(const toml::node& node, std::string message) {
  const auto& begin = node.source().begin;
  return problem{static_cast<int>(begin.line), static_cast<int>(begin.column), std::move(message)};
}

problem wrong_type(const toml::node& node, std::string_view key, std::string_view want) {
  return at(node, fmt::format("{}: expected {}, got {}", key, want, type_name(node.type())));
}

template <class F>
option bool_option(std::string section, std::string name, bool def, std::string help, F f) {
  option o;
  o.section = std::move(section);
  o.name = std::move(name);
  o.type = "boolean";
  o.default_toml = def ? "true" : "false";
  o.bounds = "true or false";
  o.help = std::move(help);
  o.apply = [o, f](const toml::node& node, config& out, std::size_t i) -> std::optional<problem> {
    const auto* v = node.as_boolean();
    if (v == nullptr) return wrong_type(node, key_for<F>(o, i), "a boolean (true or false)");
    f(out, i) = v->get();
    return std::nullopt;
  };
  o.show = [f](const config& c, std::size_t i) -> std::string {
    return f(c, i) ? "true" : "false";
  };
  return o;
}

template <class F>
option integer_option(std::string section, std::string name, std::int64_t def, std::int64_t min,
                      std::int64_t max, std::string help, F f) {
  using T = typename F::value_type;
  static_assert(std::is_integral_v<T>);
  option o;
  o.section = std::move(section);
  o.name = std::move(name);
  o.type = "integer";
  o.default_toml = std::to_string(def);
  o.bounds = fmt::format("{} .. {}", min, max);
  o.help = std::move(help);
  o.apply = [o, min, max, f](const toml::node& node, config& out,
                             std::size_t i) -> std::optional<problem> {
    const auto* v = node.as_integer();
    if (v == nullptr) return wrong_type(node, key_for<F>(o, i), "an integer");
    const std::int64_t n = v->get();
    if (n < min || n > max) {
      return at(node, fmt::format("{}: {} is out of bounds ({})", key_for<F>(o, i), n, o.bounds));
    }
    f(out, i) = static_cast<T>(n);
    return std::nullopt;
  };
  o.show = [f](const config& c, std::size_t i) { return std::to_string(f(c, i)); };
  return o;
}

// A file or directory path. Relative paths are taken from the working directory, as given.
template <class F>
option path_option(std::string section, std::string name, const std::string& def, bool may_be_empty,
                   std::string help, F f) {
  option o;
  o.section = std::move(section);
  o.name = std::move(name);
  o.type = "path";
  o.default_toml = toml_string(def);
  o.bounds = may_be_empty ? "a path, or \"\" for none" : "a non-empty path";
  o.help = std::move(help);
  o.apply = [o, may_be_empty, f](const toml::node& node, config& out,
                                 std::size_t i) -> std::optional<problem> {
    const std::string key = key_for<F>(o, i);
    const auto* v = node.as_string();
    if (v == nullptr) return wrong_type(node, key, "a string (a path)");
    const std::string& text = v->get();
    if (text.empty() && !may_be_empty) return at(node, fmt::format("{}: must not be empty", key));
    if (text.find('\0') != std::string::npos || text.size() > 4096) {
      return at(node, fmt::format("{}: {} is not a usable path", key, display_text(text)));
    }
    f(out, i) = text;
    return std::nullopt;
  };
  o.show = [f](const config& c, std::size_t i) { return toml_string(f(c, i)); };
  return o;
}

// A string that must be one of `choices` (the first is the default).
template <class F>
option choice_option(std::string section, std::string name, std::vector<std::string> choices,
                     std::string help, F f) {
  option o;
  o.section = std::move(section);
  o.name = std::move(name);
  o.type = "string";
  o.default_toml = toml_string(choices.front());
  std::string listed;
  for (const auto& c : choices) listed += (listed.empty() ? "" : ", ") + toml_string(c);
  o.bounds = "one of " + listed;
  o.help = std::move(help);
  o.apply = [o, choices, listed, f](const toml::node& node, config& out,
                                    std::size_t i) -> std::optional<problem> {
    const std::string key = key_for<F>(o, i);
    const auto* v = node.as_string();
    if (v == nullptr) return wrong_type(node, key, "a string");
    if (std::find(choices.begin(), choices.end(), v->get()) == choices.end()) {
      return at(node, fmt::format("{}: {} is not one of {}", key, display_text(v->get()), listed));
    }
    f(out, i) = v->get();
    return std::nullopt;
  };
  o.show = [f](const config& c, std::size_t i) { return toml_string(f(c, i)); };
  return o;
}

// A POSIX user name (the portable set, as useradd accepts): [a-z_][a-z0-9_-]*, at most 32.
template <class F>
option user_option(std::string section, std::string name, std::string def, std::string help,
                   F f) {
  option o;
  o.section = std::move(section);
  o.name = std::move(name);
  o.type = "user name";
  o.default_toml = toml_string(def);
  o.bounds = "a user name: `[a-z_][a-z0-9_-]*`, at most 32 characters";
  o.help = std::move(help);
  o.apply = [o, f](const toml::node& node, config& out, std::size_t i) -> std::optional<problem> {
    const std::string key = key_for<F>(o, i);
    const auto* v = node.as_string();
    if (v == nullptr) return wrong_type(node, key, "a string (a user name)");
    const std::string& text = v->get();
    const bool ok = !text.empty() && text.size() <= 32 &&
                    (text[0] == '_' || (text[0] >= 'a' && text[0] <= 'z')) &&
                    std::all_of(text.begin(), text.end(), [](char c) {
                      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                             c == '-';
                    });
    if (!ok) return at(node, fmt::format("{}: {} is not a user name", key, display_text(text)));
    f(out, i) = text;
    return std::nullopt;
  };
  o.show = [f](const config& c, std::size_t i) { return toml_string(f(c, i)); };
  return o;
}

// A string that must be a domain name; stored in canonical form.
// A domain option without a default (def = nullopt) is required in its array of tables.
template <class F>
option domain_option(std::string section, std::string name, const std::optional<std::string>& def,
                     std::string help, F f) {
  option o;
  o.section = std::move(section);
  o.name = std::move(name);
  o.type = "domain";
  o.default_toml = def ? toml_string(*def) : "";
  o.required = !def;
  o.bounds = "a domain name (RFC 5321), stored lowercase without a trailing dot";
  o.help = std::move(help);
  o.apply = [o, f](const toml::node& node, config& out, std::size_t i) -> std::optional<problem> {
    const std::string key = key_for<F>(o, i);
    const auto* v = node.as_string();
    if (v == nullptr) return wrong_type(node, key, "a string (a domain name)");
    auto canonical = smtp::canonical_domain(v->get());
    if (!canonical) {
      return at(node, fmt::format("{}: {} is not a domain name (RFC 5321 Domain syntax)", key,
                                  display_text(v->get())));
    }
    f(out, i) = std::move(*canonical);
    return std::nullopt;
  };
  o.show = [f](const config& c, std::size_t i) { return toml_string(f(c, i)); };
  return o;
}

// How one list item is read from its string and written back. `parse` returns the reason an
// item is refused as a phrase that follows the quoted item: "is not a CIDR network".
template <class T>
struct item_codec {
  std::function<expected<T, std::string>(std::string_view text)> parse;
  std::function<std::string(const T& item)> text;
};

// A list option without a default (def = nullopt) is required in its array of tables.
template <class T, class F>
option list_option(std::string section, std::string name, std::string type,
                   const std::optional<std::vector<std::string>>& def, std::size_t min_items,
                   std::string bounds, std::string help, F f, item_codec<T> codec) {
  static_assert(std::is_same_v<typename F::value_type, std::vector<T>>);
  option o;
  o.section = std::move(section);
  o.name = std::move(name);
  o.type = std::move(type);
  if (def) {
    std::string d = "[";
    for (std::size_t i = 0; i < def->size(); ++i) {
      if (i > 0) d += ", ";
      d += toml_string((*def)[i]);
    }
    o.default_toml = d + "]";
  }
  o.required = !def;
  o.bounds = std::move(bounds) + "; no duplicates";
  o.help = std::move(help);
  o.apply = [o, min_items, f, codec](const toml::node& node, config& out,
                                     std::size_t element) -> std::optional<problem> {
    const std::string key = key_for<F>(o, element);
    const auto* arr = node.as_array();
    if (arr == nullptr) return wrong_type(node, key, "an array of strings");
    if (arr->size() < min_items) {
      return at(node, fmt::format("{}: needs at least {} entr{}", key, min_items,
                                  min_items == 1 ? "y" : "ies"));
    }
    std::vector<T> items;
    std::vector<std::string> seen;  // canonical text of each item, to find duplicates
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::node& item = *arr->get(i);
      const std::string item_key = fmt::format("{}[{}]", key, i);
      const auto* s = item.as_string();
      if (s == nullptr) return wrong_type(item, item_key, "a string");
      auto parsed = codec.parse(s->get());
      if (!parsed) {
        return at(item, fmt::format("{}: {} {}", item_key, display_text(s->get()), parsed.error()));
      }
      std::string canonical = codec.text(*parsed);
      auto dup = std::find(seen.begin(), seen.end(), canonical);
      if (dup != seen.end()) {
        // A repeated entry is harmless to the policy but usually a typo for another value.
        return at(item, fmt::format("{}: {} repeats {}[{}]", item_key, display_text(s->get()), key,
                                    dup - seen.begin()));
      }
      seen.push_back(std::move(canonical));
      items.push_back(std::move(*parsed));
    }
    f(out, element) = std::move(items);
    return std::nullopt;
  };
  o.show = [f, codec](const config& c, std::size_t element) {
    std::string s = "[";
    const auto& items = f(c, element);
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) s += ", ";
      s += toml_string(codec.text(items[i]));
    }
    return s + "]";
  };
  return o;
}

using expected_text = expected<std::string, std::string>;

item_codec<std::string> domain_codec() {
  return {[](std::string_view text) -> expected_text {
            auto d = smtp::canonical_domain(text);
            if (!d) return unexpected{std::string("is not a domain name (RFC 5321 Domain syntax)")};
            return *d;
          },
          [](const std::string& d) { return d; }};
}

item_codec<inet::endpoint> endpoint_codec() {
  return {[](std::string_view text) -> expected<inet::endpoint, std::string> {
            auto e = inet::endpoint::parse(text);
            if (!e) {
              return unexpected{std::string(
                  "is not a listen endpoint (IP:port, IPv6 as [addr]:port; no host names)")};
            }
            return *e;
          },
          [](const inet::endpoint& e) { return e.to_string(); }};
}

// Explains why a text that looks like "address/prefix" is not a network: usually host bits.
std::string cidr_reason(std::string_view text) {
  std::string generic("is not a CIDR network (address/prefix)");
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return generic;
  auto addr = inet::ip_address::parse(text.substr(0, slash));
  const std::string_view digits = text.substr(slash + 1);
  if (!addr || digits.empty() || digits.size() > 3 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return generic;
  }
  const int prefix = std::stoi(std::string(digits));
  const int width = addr->is_v4() ? 32 : 128;
  if (prefix > width) return fmt::format("is not a CIDR network (prefix longer than {})", width);
  inet::ip_address net = *addr;
  for (int bit = prefix; bit < width; ++bit) {
    net.bytes[static_cast<std::size_t>(bit / 8)] &=
        static_cast<std::uint8_t>(~(0x80u >> static_cast<unsigned>(bit % 8)));
  }
  if (net != *addr) {
    return fmt::format("is not a CIDR network (host bits set? the network is {}/{})",
                       net.to_string(), prefix);
  }
  return generic;
}

item_codec<inet::cidr> cidr_codec() {
  return {[](std::string_view text) -> expected<inet::cidr, std::string> {
            auto c = inet::cidr::parse(text);
            if (!c) return unexpected{cidr_reason(text)};
            return *c;
          },
          [](const inet::cidr& c) { return c.to_string(); }};
}

item_codec<inet::ip_address> own_address_codec() {
  return {[](std::string_view text) -> expected<inet::ip_address, std::string> {
            auto a = inet::ip_address::parse(text);
            if (!a) return unexpected{std::string("is not an IP address")};
            // [0.0.0.0] as "our address" would make a meaningless literal local.
            if (a->is_unspecified()) {
              return unexpected{std::string("is the wildcard address, not an address of ours")};
            }
            return *a;
          },
          [](const inet::ip_address& a) { return a.to_string(); }};
}

// Every restriction, for messages and docs (policy has no list of its own).
const std::vector<policy::restriction>& all_restrictions() {
  using policy::restriction;
  static const std::vector<restriction> all = {restriction::permit_trusted_networks,
                                               restriction::permit_authenticated,
                                               restriction::reject_unauth_destination,
                                               restriction::defer_unauth_destination,
                                               restriction::permit,
                                               restriction::reject,
                                               restriction::defer};
  return all;
}

std::string restriction_names() {
  std::string s;
  for (auto r : all_restrictions()) {
    if (!s.empty()) s += ", ";
    s += policy::name_of(r);
  }
  return s;
}

item_codec<policy::restriction> restriction_codec() {
  return {[](std::string_view text) -> expected<policy::restriction, std::string> {
            auto r = policy::parse_restriction(text);
            if (!r)
              return unexpected{"is not a relay restriction (one of " + restriction_names() + ")"};
            return *r;
          },
          [](const policy::restriction& r) { return std::string(policy::name_of(r)); }};
}

// "ip4set:zones/relays.txt,zones/more.txt" (rbldnsd's dataset argument); kept in canonical
// form. The files are read by `serve`, not here: a config can be checked where the data is not.
item_codec<std::string> dataset_codec() {
  return {[](std::string_view text) -> expected_text {
            auto spec = dnsbl::parse_dataset_spec(text);
            if (!spec) {
              return unexpected{"is not a dataset (type:file[,file]...; types ip4set, ip4tset, "
                                "ip4trie, ip6tset, ip6trie, dnset, combined): " +
                                spec.error()};
            }
            std::string canonical(dnsbl::name_of(spec->type));
            for (std::size_t i = 0; i < spec->files.size(); ++i) {
              canonical += (i == 0 ? ':' : ',') + spec->files[i];
            }
            return canonical;
          },
          [](const std::string& d) { return d; }};
}

// A postscreen_dnsbl_sites entry ("zen.spamhaus.org=127.0.0.[2..11]*3"), kept canonical.
item_codec<std::string> dnsbl_site_codec() {
  return {[](std::string_view text) -> expected_text {
            auto site = policy::dnsbl::parse_site(text);
            if (!site) {
              return unexpected{"is not a DNS list entry (zone[=127.0.0.[2..11]][*weight]): " +
                                site.error()};
            }
            return site->to_string();
          },
          [](const std::string& d) { return d; }};
}

// A DNS server for the resolver: "IP" (port 53), "IP:port", "[IPv6]:port"; no host names.
item_codec<std::string> dns_server_codec() {
  return {[](std::string_view text) -> expected_text {
            if (auto ep = inet::endpoint::parse(text); ep && ep->port != 0) return ep->to_string();
            if (auto ip = inet::ip_address::parse(text)) {
              return inet::endpoint{*ip, 53}.to_string();
            }
            return unexpected{std::string(
                "is not a DNS server (IP, IP:port or [IPv6]:port; port 1-65535; no host names)")};
          },
          [](const std::string& d) { return d; }};
}

std::vector<std::string> default_restriction_names() {
  std::vector<std::string> names;
  for (auto r : policy::default_restrictions()) names.emplace_back(policy::name_of(r));
  return names;
}

std::vector<option> build_table() {
  const std::string s = "smtpd";
  using S = smtpd_config;
  constexpr auto sm = &config::smtpd;
  std::vector<option> t;
  t.push_back(list_option<inet::endpoint>(
      s, "listen", "list of endpoints", std::vector<std::string>{"127.0.0.1:2525"}, 1,
      "1 or more; `IP:port`, IPv6 as `[addr]:port`; `0.0.0.0` / `[::]` listen on every address",
      "Addresses and ports the SMTP server listens on. Non-wildcard addresses are also the "
      "server's own addresses (`user@[addr]` is local).",
      field<S, std::vector<inet::endpoint>>{sm, &S::listen}, endpoint_codec()));
  t.push_back(domain_option(
      s, "hostname", "localhost",
      "The server's name: greeting, EHLO reply, Received headers. The relay-safety proof also "
      "tries senders and HELO names that claim it.",
      field<S, std::string>{sm, &S::hostname}));
  t.push_back(list_option<std::string>(
      s, "local_domains", "list of domains", std::vector<std::string>{}, 0, "domain names",
      "Domains whose mail this server accepts for final delivery. Matched exactly (no "
      "subdomains), case-insensitively, with a trailing dot ignored.",
      field<S, std::vector<std::string>>{sm, &S::local_domains}, domain_codec()));
  t.push_back(list_option<std::string>(
      s, "relay_domains", "list of domains", std::vector<std::string>{}, 0, "domain names, none also in `local_domains`",
      "Domains this server relays for ANY client (backup MX). Matched exactly, like "
      "`local_domains`.",
      field<S, std::vector<std::string>>{sm, &S::relay_domains}, domain_codec()));
  t.push_back(list_option<inet::cidr>(
      s, "trusted_networks", "list of CIDR networks", std::vector<std::string>{"127.0.0.0/8", "::1/128"}, 0,
      "`addr/prefix` with host bits zero (a bare address is a host network)",
      "Clients in these networks may relay to any destination (`permit_trusted_networks`). "
      "IPv4-mapped IPv6 clients match IPv4 networks. Keep this to networks you run.",
      field<S, std::vector<inet::cidr>>{sm, &S::trusted_networks}, cidr_codec()));
  t.push_back(list_option<inet::ip_address>(
      s, "own_addresses", "list of IP addresses", std::vector<std::string>{}, 0, "IP addresses, not wildcards",
      "Further addresses of this server (e.g. behind NAT): a recipient `user@[addr]` for one of "
      "them, or for a non-wildcard `listen` address, is local.",
      field<S, std::vector<inet::ip_address>>{sm, &S::own_addresses}, own_address_codec()));
  t.push_back(list_option<policy::restriction>(
      s, "relay_restrictions", "list of restriction names", default_restriction_names(), 1,
      "1 or more of: " + restriction_names(),
      "Evaluated in order for each recipient; the first permit, reject or defer wins. When all "
      "say nothing the list ends closed (only local and relay domains are accepted). `permit` "
      "makes an open relay and the relay-safety proof reports it.",
      field<S, std::vector<policy::restriction>>{sm, &S::relay_restrictions}, restriction_codec()));
  t.push_back(integer_option(
      s, "max_recipients", 100, 1, 100000,
      "Recipients accepted per message; more get 452 4.5.3 (RFC 5321 4.5.3.1.8 asks for at "
      "least 100).",
      field<S, std::uint32_t>{sm, &S::max_recipients}));
  t.push_back(integer_option(
      s, "max_message_size", 10485760, 1024, std::int64_t{1} << 31,
      "Largest message in octets, advertised as SIZE; larger ones get 552 5.3.4.",
      field<S, std::uint64_t>{sm, &S::max_message_size}));
  t.push_back(integer_option(
      s, "max_errors", 10, 1, 1000,
      "Protocol errors (bad syntax, commands out of sequence, unknown commands, bad line ends) a "
      "client may make in one session before 421 4.7.0 and close.",
      field<S, std::uint32_t>{sm, &S::max_errors}));
  t.push_back(integer_option(
      s, "max_rejections", 100, 1, 100000,
      "Refusals by policy (relay denied, unknown user) in one session before 421 4.7.0 and close. "
      "Counted apart from max_errors so that a relay tester sees each of its tests refused, while "
      "a harvester is still cut off.",
      field<S, std::uint32_t>{sm, &S::max_rejections}));
  t.push_back(bool_option(
      s, "soft_reject", false,
      "Turn every relay rejection into a 4xx deferral, so that mail refused by mistake is retried "
      "while you test a new config. Never leave it on: refused spam keeps coming back.",
      field<S, bool>{sm, &S::soft_reject}));
  t.push_back(bool_option(
      s, "allow_open_relay", false,
      "Let `serve` start although the relay-safety proof finds a relay path for outsiders (it "
      "then warns at start and hourly). `check-config` still exits 1. Never set this on a server "
      "reachable from the Internet.",
      field<S, bool>{sm, &S::allow_open_relay}));
  t.push_back(path_option(
      s, "mail_dir", "var/mail", false,
      "Root of local delivery: Maildir per recipient, `<mail_dir>/<domain>/<mailbox>/{tmp,new,cur}`. "
      "Created if missing; `serve` refuses to start if it is not writable.",
      field<S, std::string>{sm, &S::mail_dir}));
  t.push_back(path_option(
      s, "queue_dir", "var/queue", false,
      "Where relayed mail (from trusted networks, or to relay domains) is stored durably, one file "
      "per message with its envelope, in `new/`.",
      field<S, std::string>{sm, &S::queue_dir}));
  t.push_back(path_option(
      s, "recipients", "", true,
      "File of valid local recipients, one address per line (`user@domain [mailbox]`, or "
      "`@domain mailbox` for a catch-all). Unknown users get 550 5.1.1 at RCPT. `postmaster@` "
      "every local domain is always accepted. Empty: only postmaster.",
      field<S, std::string>{sm, &S::recipients}));
  t.push_back(integer_option(
      s, "max_connections", 1000, 1, 1000000,
      "Simultaneous SMTP sessions in all; beyond, new clients get 421 4.7.0 and are closed.",
      field<S, std::uint32_t>{sm, &S::max_connections}));
  t.push_back(integer_option(
      s, "max_connections_per_ip", 50, 1, 1000000,
      "Simultaneous sessions from one client address; beyond, 421 4.7.0.",
      field<S, std::uint32_t>{sm, &S::max_connections_per_ip}));
  t.push_back(integer_option(
      s, "greet_delay", 0, 0, 60000,
      "Milliseconds to wait before the 220 banner. A client that talks first is a pregreet "
      "(554 5.5.0 and close), as postscreen does. 0: greet at once.",
      field<S, std::uint32_t>{sm, &S::greet_delay}));
  const std::pair<const char*, std::pair<std::uint32_t S::*, std::pair<int, const char*>>> timeouts[] = {
      {"timeout_greeting", {&S::timeout_greeting, {300, "Seconds from the banner to the first command."}}},
      {"timeout_mail", {&S::timeout_mail, {300, "Seconds waiting for MAIL (RFC 5321 4.5.3.2.2)."}}},
      {"timeout_rcpt", {&S::timeout_rcpt, {300, "Seconds waiting for RCPT or DATA once MAIL is accepted (4.5.3.2.3)."}}},
      {"timeout_data_init", {&S::timeout_data_init, {120, "Seconds from the 354 to the first data bytes (4.5.3.2.4)."}}},
      {"timeout_data_block", {&S::timeout_data_block, {180, "Seconds between data blocks (4.5.3.2.5)."}}},
      {"timeout_data_term", {&S::timeout_data_term, {600, "Seconds for the whole DATA phase, 354 to the final dot (4.5.3.2.6)."}}},
      {"timeout_idle", {&S::timeout_idle, {300, "Seconds for any other wait, and for each write to a slow reader (4.5.3.2.7)."}}},
  };
  for (const auto& [name, row] : timeouts) {
    t.push_back(integer_option(s, name, row.second.first, 1, 86400, row.second.second,
                                              field<S, std::uint32_t>{sm, row.first}));
  }
  t.push_back(integer_option(
      s, "session_lifetime", 3600, 1, 86400,
      "Seconds a connection may last in all, whatever it does.",
      field<S, std::uint32_t>{sm, &S::session_lifetime}));
  t.push_back(integer_option(
      s, "shutdown_grace", 30, 0, 3600,
      "On SIGTERM, seconds that sessions inside DATA may take to finish before the server exits.",
      field<S, std::uint32_t>{sm, &S::shutdown_grace}));

  t.push_back(path_option(
      s, "sender_login_maps", "", true,
      "A file of `address user[, user...]` and `@domain user` lines: the envelope senders each "
      "authenticated user may use (RFC 6409 6.1); any other sender gets 553 5.7.1. \"\": not "
      "checked. The null sender `<>` is always allowed.",
      field<S, std::string>{sm, &S::sender_login_maps}));

  t.push_back(list_option<std::string>(
      s, "dnsbl", "list of DNS list entries", std::vector<std::string>{}, 0,
      "Postfix postscreen_dnsbl_sites entries: `zone[=a.b.c.d][*weight]`, each octet a number, "
      "`[n..m]` or `[a;b;n..m]`; weight -100000 .. 100000, default 1",
      "IP block lists (RFC 5782) asked about every client at connect, in parallel: "
      "`bl.example.test*2`, `zen.spamhaus.org=127.0.0.[2..11]*3`, "
      "`list.dnswl.org=127.0.[0..255].[1..3]*-5`. A pattern limits which answers count; a "
      "list counts its weight once however many records it returns; negative weights are "
      "allowlists. Answers outside 127.0.0.0/8, 127.0.0.1 and 127.255.255.0/24 are list errors "
      "and never count; timeouts and SERVFAIL fail open. Never asked for trusted_networks, "
      "submission listeners or authenticated clients. Queries go to [resolver]; see docs/smtpd_dnsbl.md.",
      field<S, std::vector<std::string>>{sm, &S::dnsbl}, dnsbl_site_codec()));
  t.push_back(integer_option(
      s, "dnsbl_threshold", 1, 1, 1000000,
      "A client is blocked when the weights of the lists that list it (`dnsbl`, `rhsbl_sender`, "
      "`rhsbl_helo` together) add up to at least this.",
      field<S, std::int32_t>{sm, &S::dnsbl_threshold}));
  t.push_back(list_option<std::string>(
      s, "rhsbl_sender", "list of DNS list entries", std::vector<std::string>{}, 0,
      "entries as in `dnsbl`",
      "Domain lists (RFC 5782 3) asked about the domain of each MAIL FROM (at MAIL; the result "
      "is used at RCPT). Their weights add into the same score as `dnsbl`.",
      field<S, std::vector<std::string>>{sm, &S::rhsbl_sender}, dnsbl_site_codec()));
  t.push_back(list_option<std::string>(
      s, "rhsbl_helo", "list of DNS list entries", std::vector<std::string>{}, 0,
      "entries as in `dnsbl`",
      "Domain lists asked about the HELO/EHLO name (address literals are not asked). Their "
      "weights add into the same score as `dnsbl`.",
      field<S, std::vector<std::string>>{sm, &S::rhsbl_helo}, dnsbl_site_codec()));
  t.push_back(choice_option(
      s, "dnsbl_action", {"reject", "defer", "log"},
      "What a blocked client gets: `reject` answers every RCPT with `554 5.7.1 Service "
      "unavailable; client [ip] blocked using <list>; <TXT>`; `defer` with 450 4.7.1 (the "
      "client retries: for trying out lists); `log` only logs the verdict and accepts the mail.",
      field<S, std::string>{sm, &S::dnsbl_action}));
  t.push_back(choice_option(
      s, "dnsbl_reject_at", {"rcpt", "connect"},
      "`rcpt` (Postfix's smtpd_delay_reject): the refusal comes at each RCPT, so the log line "
      "has the sender and recipient, and the lists have until then to answer. `connect`: the "
      "IP lists are awaited before the banner (at most [resolver] timeout, overlapping "
      "greet_delay) and a blocked client gets the 554 in place of the 220 (RFC 5321 3.1) and "
      "503 to everything but QUIT; with `defer` it gets 421 4.7.1 and is closed. Domain lists "
      "are still checked at RCPT.",
      field<S, std::string>{sm, &S::dnsbl_reject_at}));

  const std::string l = "smtpd.listener";
  using L = listener_config;
  t.push_back(list_option<inet::endpoint>(
      l, "listen", "list of endpoints", std::nullopt, 1,
      "1 or more; `IP:port`, IPv6 as `[addr]:port`",
      "Addresses and ports of this listener.",
      listener_field(&L::listen), endpoint_codec()));
  t.push_back(choice_option(
      l, "role", {"submission", "mx"},
      "`submission` (RFC 6409): AUTH is required before MAIL (530 5.7.0), trusted_networks never "
      "grant relaying and DNSBLs are not consulted for authenticated users. `mx`: like "
      "`[smtpd] listen`.",
      listener_field(&L::role)));
  t.push_back(choice_option(
      l, "tls", {"starttls", "implicit", "none"},
      "`starttls` offers STARTTLS (RFC 3207; needs [tls]); `implicit` speaks TLS from the first "
      "byte (RFC 8314, port 465; submission only); `none` offers no TLS.",
      listener_field(&L::tls)));
  t.push_back(bool_option(
      l, "require_tls", false,
      "Refuse every command but EHLO, HELO, STARTTLS, NOOP, RSET and QUIT with 530 5.7.0 until "
      "STARTTLS. Never on a public MX (RFC 3207 4).",
      listener_field(&L::require_tls)));
  t.push_back(bool_option(
      l, "auth_without_tls", false,
      "Offer AUTH without TLS. Allowed only when every `listen` address is loopback: passwords "
      "in plaintext must not cross a network.",
      listener_field(&L::auth_without_tls)));

  t.push_back(path_option(
      "tls", "cert", "", true,
      "PEM certificate chain (leaf first) presented by every TLS listener; read at start and on "
      "SIGHUP. TLS 1.2 and 1.3 only.",
      field<tls_config, std::string>{&config::tls, &tls_config::cert}));
  t.push_back(path_option(
      "tls", "key", "", true,
      "PEM private key of `cert`; read at start (before dropping privileges) and on SIGHUP.",
      field<tls_config, std::string>{&config::tls, &tls_config::key}));

  t.push_back(path_option(
      "auth", "passwd_file", "", true,
      "Credentials for SMTP AUTH (RFC 4954), one `user:{SCHEME}hash` line each (Dovecot "
      "passwd-file; schemes CRYPT (yescrypt `$y$`, bcrypt, SHA-crypt), BLF-CRYPT, SHA512-CRYPT, "
      "SHA256-CRYPT). `mxguard passwd USER` prints a line. AUTH PLAIN and LOGIN are offered "
      "only under TLS unless a listener allows `auth_without_tls`.",
      field<auth_config, std::string>{&config::auth, &auth_config::passwd_file}));
  t.push_back(integer_option(
      "auth", "max_failures", 5, 1, 1000,
      "Failed AUTH attempts per client IP and per user within `failure_window` before the "
      "client gets 421 4.7.0 and is disconnected; each failure waits longer than the last.",
      field<auth_config, std::uint32_t>{&config::auth, &auth_config::max_failures}));
  t.push_back(integer_option(
      "auth", "failure_window", 300, 1, 86400,
      "Seconds over which failed AUTH attempts are counted.",
      field<auth_config, std::uint32_t>{&config::auth, &auth_config::failure_window}));

  const std::string r = "resolver";
  using R = resolver_config;
  constexpr auto rm = &config::resolver;
  t.push_back(list_option<std::string>(
      r, "servers", "list of DNS servers", std::vector<std::string>{}, 0,
      "`IP` (port 53), `IP:port`, `[IPv6]:port`; no host names",
      "Recursive DNS servers asked about the DNS lists, in order. Empty: the nameservers of "
      "/etc/resolv.conf. Public lists refuse queries through big public resolvers: use your "
      "own.",
      field<R, std::vector<std::string>>{rm, &R::servers}, dns_server_codec()));
  t.push_back(integer_option(
      r, "timeout", 2000, 50, 30000,
      "Milliseconds to wait for a DNS answer before trying again (c-ares doubles it per round). "
      "Also the longest a session waits for its DNS list answers: a list that has not answered "
      "by then counts as not listing (fail open, logged).",
      field<R, std::uint32_t>{rm, &R::timeout}));
  t.push_back(integer_option(
      r, "tries", 2, 1, 10,
      "Tries per server before a query fails.",
      field<R, std::uint32_t>{rm, &R::tries}));
  t.push_back(integer_option(
      r, "max_ttl", 3600, 0, 604800,
      "Seconds an answer is cached at most, whatever its TTL (NXDOMAIN too, for its SOA's "
      "negative TTL up to 900 s). 0: no cache.",
      field<R, std::uint32_t>{rm, &R::max_ttl}));

  t.push_back(user_option(
      "service", "user", "mxguard",
      "Started as root, mxguard binds its listeners and reads the TLS key, then runs as this "
      "user (and its primary group) before serving a single client. A user that does not exist "
      "is an error. Ignored when not started as root.",
      field<service_config, std::string>{&config::service, &service_config::user}));

  const std::string d = "dnsbld";
  using D = dnsbld_config;
  constexpr auto dm = &config::dnsbld;
  t.push_back(list_option<inet::endpoint>(
      d, "listen", "list of endpoints", std::vector<std::string>{"127.0.0.1:5353"}, 1,
      "1 or more; `IP:port`, IPv6 as `[addr]:port`",
      "Addresses and ports the DNSBL server answers on, UDP and TCP on each.",
      field<D, std::vector<inet::endpoint>>{dm, &D::listen}, endpoint_codec()));
  t.push_back(list_option<inet::cidr>(
      d, "axfr_allow", "list of CIDR networks", std::vector<std::string>{}, 0,
      "`addr/prefix` with host bits zero (a bare address is a host network)",
      "Clients that may transfer the zones (AXFR over TCP, RFC 5936), e.g. secondaries running "
      "BIND, NSD or Knot. Everyone else gets REFUSED.",
      field<D, std::vector<inet::cidr>>{dm, &D::axfr_allow}, cidr_codec()));
  t.push_back(integer_option(
      d, "default_ttl", 2100, 1, 604800,
      "Seconds: the TTL of records whose data files set no `$TTL` (rbldnsd `-t`, 35 minutes).",
      field<D, std::uint32_t>{dm, &D::default_ttl}));
  t.push_back(integer_option(
      d, "udp_payload", 1232, 512, 4096,
      "EDNS0 UDP payload size we offer (RFC 6891): the largest UDP answer. Larger answers are "
      "sent with TC set and the client retries over TCP. 1232 avoids IP fragmentation.",
      field<D, std::uint32_t>{dm, &D::udp_payload}));
  t.push_back(integer_option(
      d, "udp_sockets", 0, 0, 256,
      "UDP sockets (each with its own thread) per listen address, sharing the port with "
      "SO_REUSEPORT. 0: one per CPU core.",
      field<D, std::uint32_t>{dm, &D::udp_sockets}));
  t.push_back(integer_option(
      d, "tcp_timeout", 10, 1, 3600,
      "Seconds a TCP connection may stay idle, or take to send one whole query, before it is "
      "closed (RFC 7766 6.2.3).",
      field<D, std::uint32_t>{dm, &D::tcp_timeout}));
  t.push_back(integer_option(
      d, "max_tcp_connections", 1000, 1, 1000000,
      "Simultaneous TCP connections; beyond, new ones are closed at once.",
      field<D, std::uint32_t>{dm, &D::max_tcp_connections}));
  t.push_back(bool_option(
      d, "test_points", true,
      "RFC 5782 5 test points: every IPv4 list lists 127.0.0.2 and never 127.0.0.1 (IPv6: "
      "::ffff:7f00:2 and :1; domain lists: TEST and INVALID), whatever the data says.",
      field<D, bool>{dm, &D::test_points}));
  t.push_back(bool_option(
      d, "accept_host_bits", false,
      "Accept CIDR entries with host bits set in the data files (`10.1.2.3/8` read as "
      "`10.0.0.0/8`, rbldnsd `-e`); otherwise such lines are warnings and skipped.",
      field<D, bool>{dm, &D::accept_host_bits}));
  t.push_back(integer_option(
      d, "check_interval", 1, 0, 3600,
      "Seconds between checks of the data files' modification times; a changed file reloads "
      "its zones (as SIGHUP does). 0: reload on SIGHUP only.",
      field<D, std::uint32_t>{dm, &D::check_interval}));
  t.push_back(integer_option(
      d, "load_threads", 0, 0, 64,
      "Threads that parse one large data file (1 MiB and more a thread) at start and on reload: "
      "the first part is read in order, the others meanwhile, and the loaded data is the same "
      "whatever the number. 0: one per CPU core; 1: one thread, leaving the other cores to the "
      "queries being answered during a reload.",
      field<D, std::uint32_t>{dm, &D::load_threads}));

  const std::string z = "dnsbld.zone";
  using Z = dnsbld_zone_config;
  t.push_back(domain_option(
      z, "name", std::nullopt,
      "The zone's apex (`bl.example.test`): queries for names below it are answered from its "
      "datasets; names outside every zone get REFUSED.",
      zone_field(&Z::name)));
  t.push_back(list_option<std::string>(
      z, "datasets", "list of datasets", std::nullopt, 1,
      "1 or more `type:file[,file]...`; types `ip4set`, `ip4tset`, `ip4trie`, `ip6tset`, "
      "`ip6trie`, `dnset`, `combined`",
      "The zone's data in rbldnsd's formats (docs/dnsbl.md), consulted in order: an entry listed "
      "in several gets the records of each. The files of one dataset are read as one; paths are "
      "relative to the working directory.",
      zone_field(&Z::datasets), dataset_codec()));
  return t;
}

}  // namespace

const std::vector<option>& option_table() {
  static const std::vector<option> table = build_table();
  return table;
}

const std::vector<section_doc>& section_table() {
  static const std::vector<section_doc> sections = {
      {"smtpd",
       "The SMTP server: where it listens, which domains it serves, who may relay, and its "
       "limits. `serve` runs it when the file has this section.",
       &config::has_smtpd,
       {},
       {}},
      {"smtpd.listener",
       "Further SMTP listeners, one table `[[smtpd.listener]]` each: submission (587 with "
       "STARTTLS, 465 with implicit TLS) or more MX addresses.",
       nullptr,
       [](const config& c) { return c.smtpd.listeners.size(); },
       [](config& c) { c.smtpd.listeners.emplace_back(); }},
      {"tls",
       "The certificate and key for STARTTLS (RFC 3207) and implicit TLS (RFC 8314). With this "
       "section, `[smtpd] listen` offers STARTTLS.",
       &config::has_tls,
       {},
       {}},
      {"auth",
       "SMTP AUTH (RFC 4954): who may log in to relay (`permit_authenticated`).",
       &config::has_auth,
       {},
       {}},
      {"resolver",
       "The DNS resolver of smtpd's DNS list checks (`dnsbl`, `rhsbl_sender`, `rhsbl_helo`): "
       "answers are cached by TTL. Changes take effect on SIGHUP for new sessions.",
       &config::has_resolver,
       {},
       {}},
      {"service",
       "The process: the user it runs as.",
       &config::has_service,
       {},
       {}},
      {"dnsbld",
       "The DNSBL server (RFC 5782), serving rbldnsd's data files over UDP and TCP. `serve` runs "
       "it when the file has this section; data files are read at start, on SIGHUP and when "
       "they change, and a reload that fails keeps the last good data.",
       &config::has_dnsbld,
       {},
       {}},
      {"dnsbld.zone",
       "One table `[[dnsbld.zone]]` per zone the DNSBL server answers for.",
       nullptr,
       [](const config& c) { return c.dnsbld.zones.size(); },
       [](config& c) { c.dnsbld.zones.emplace_back(); }},
  };
  return sections;
}

}  // namespace mx::config::detail
