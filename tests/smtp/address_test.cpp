// Table-driven tests for the RFC 5321 4.1.2 Path parser (smtp/address.hpp), including every form
// of Postfix's resolve_clnt test input: the address tricks the relay policy must see.
#include "smtp/address.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace mx::smtp {

// Readable got/want output for the enums.
std::ostream& operator<<(std::ostream& os, address_error e) {
  return os << describe(e);
}
std::ostream& operator<<(std::ostream& os, domain_kind k) {
  switch (k) {
    case domain_kind::none:
      return os << "none";
    case domain_kind::name:
      return os << "name";
    case domain_kind::ipv4_literal:
      return os << "ipv4_literal";
    case domain_kind::ipv6_literal:
      return os << "ipv6_literal";
    case domain_kind::general_literal:
      return os << "general_literal";
  }
  return os << "?";
}

namespace {

using namespace std::string_literals;
namespace f = address_flag;
using E = address_error;
using K = domain_kind;

// Shows control and non-ASCII octets, so a failure message names the exact input.
std::string show(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string flag_names(std::uint32_t flags) {
  static const std::pair<std::uint32_t, const char*> names[] = {
      {f::source_route, "source_route"},
      {f::percent, "percent"},
      {f::bang, "bang"},
      {f::at_in_local, "at_in_local"},
      {f::colon_in_local, "colon_in_local"},
      {f::quoted, "quoted"},
      {f::quoted_pair, "quoted_pair"},
      {f::address_literal, "address_literal"},
      {f::trailing_dot, "trailing_dot"},
      {f::utf8, "utf8"},
      {f::unqualified, "unqualified"},
      {f::null_path, "null_path"},
  };
  std::string out;
  for (const auto& [bit, name] : names) {
    if (flags & bit) {
      if (!out.empty()) out += '|';
      out += name;
      flags &= ~bit;
    }
  }
  if (flags != 0) out += "|unknown:" + std::to_string(flags);
  return out.empty() ? "0" : out;
}

std::string opt_names(const parse_options& o) {
  std::string out = "{";
  if (o.smtputf8) out += "smtputf8 ";
  if (o.allow_null) out += "allow_null ";
  if (o.allow_postmaster) out += "allow_postmaster ";
  return out + "}";
}

const parse_options plain{};
const parse_options mail{.smtputf8 = false, .allow_null = true, .allow_postmaster = false};
const parse_options rcpt{.smtputf8 = false, .allow_null = false, .allow_postmaster = true};
const parse_options u8{.smtputf8 = true, .allow_null = false, .allow_postmaster = false};
const parse_options u8mail{.smtputf8 = true, .allow_null = true, .allow_postmaster = false};

// A valid domain name of exactly n octets (labels of at most 63 octets).
std::string domain_of_length(std::size_t n) {
  std::string out;
  std::size_t remaining = n;
  char letter = 'a';
  while (remaining > 0) {
    std::size_t take = std::min<std::size_t>(63, remaining);
    if (remaining - take == 1) --take;  // never leave room for a lone trailing dot
    out.append(take, letter);
    letter = letter == 'z' ? 'a' : static_cast<char>(letter + 1);
    remaining -= take;
    if (remaining > 0) {
      out += '.';
      --remaining;
    }
  }
  return out;
}

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

struct path_case {
  std::string input;
  parse_options opts;
  std::optional<address_error> error;  // set: parse_address must fail with this
  std::string local;                   // decoded local part
  std::string domain;                  // as written, without a trailing dot
  std::string key;                     // domain_key
  domain_kind kind = domain_kind::none;
  std::uint32_t flags = 0;
  std::vector<std::string> route;
};

path_case ok(std::string in, parse_options o, std::string local, std::string domain,
             std::string key, domain_kind kind, std::uint32_t flags,
             std::vector<std::string> route = {}) {
  return {std::move(in),  o,    std::nullopt, std::move(local), std::move(domain),
          std::move(key), kind, flags,        std::move(route)};
}

// The common case: a domain name written in lowercase, so domain == key.
path_case ok_name(std::string in, parse_options o, std::string local, std::string domain,
                  std::uint32_t flags = 0, std::vector<std::string> route = {}) {
  std::string key = domain;
  return ok(std::move(in), o, std::move(local), std::move(domain), std::move(key), K::name, flags,
            std::move(route));
}

path_case bad(std::string in, parse_options o, address_error e) {
  path_case c;
  c.input = std::move(in);
  c.opts = o;
  c.error = e;
  return c;
}

std::vector<path_case> path_cases() {
  const std::string l64(64, 'l');
  const std::string l65(65, 'l');
  const std::string e2 = "\xc3\xa9";  // U+00E9, two octets
  std::vector<path_case> v = {
      // --- plain mailboxes ---
      ok_name("<user@example.test>", plain, "user", "example.test"),
      ok("<User@Example.TEST>", plain, "User", "Example.TEST", "example.test", K::name, 0),
      ok_name("<a@b>", plain, "a", "b"),
      ok_name("<first.last@sub.example.test>", plain, "first.last", "sub.example.test"),
      ok_name("<x+tag@example.test>", plain, "x+tag", "example.test"),
      ok_name("<!#$%&'*+-/=?^_`{|}~@example.test>", plain, "!#$%&'*+-/=?^_`{|}~", "example.test",
              f::percent | f::bang),
      ok_name("<a@b-c.example>", plain, "a", "b-c.example"),
      ok_name("<a@a--b.example>", plain, "a", "a--b.example"),
      ok_name("<a@xn--bcher-kva.example>", plain, "a", "xn--bcher-kva.example"),
      // Numeric labels are a domain NAME, not an address literal.
      ok_name("<a@1.2.3.4>", plain, "a", "1.2.3.4"), ok_name("<a@123>", plain, "a", "123"),
      ok_name("<a@h>", plain, "a", "h"), ok("<A@B>", plain, "A", "B", "b", K::name, 0),
      ok("<MiXeD@ExAmPlE.TeSt>", rcpt, "MiXeD", "ExAmPlE.TeSt", "example.test", K::name, 0),
      ok_name("<user@example.test>", u8mail, "user", "example.test"),
      ok_name("<0@0>", plain, "0", "0"),

      // --- null path: "<>" only where allowed (MAIL) ---
      ok("<>", mail, "", "", "", K::none, f::null_path),
      ok("<>", u8mail, "", "", "", K::none, f::null_path), bad("<>", plain, E::null_not_allowed),
      bad("<>", rcpt, E::null_not_allowed), bad("<>", u8, E::null_not_allowed),
      bad("< >", mail, E::syntax), bad("<<>>", mail, E::syntax), bad("<>x", mail, E::syntax),
      bad("<>>", mail, E::syntax),

      // --- Postfix resolve_clnt.in forms ---
      ok_name("<a%b@host>", plain, "a%b", "host", f::percent),
      bad("<user@[1.2.3.4]@dom>", plain, E::syntax),
      ok_name("<dom!user@host>", plain, "dom!user", "host", f::bang),
      ok_name("<\"a@b\"@host>", plain, "a@b", "host", f::quoted | f::at_in_local),
      ok_name("<\"a%b\"@host>", plain, "a%b", "host", f::quoted | f::percent),
      ok_name("<@host:user@dom>", plain, "user", "dom", f::source_route, {"host"}),
      ok_name("<@a,@b:user@c>", plain, "user", "c", f::source_route, {"a", "b"}),
      ok_name("<user@dom.>", plain, "user", "dom", f::trailing_dot),
      ok("<user@[ipv6:1:2:3:4:5:6:7:8]>", plain, "user", "[ipv6:1:2:3:4:5:6:7:8]",
         "[ipv6:1:2:3:4:5:6:7:8]", K::ipv6_literal, f::address_literal),
      ok("<user%host@[1.2.3.4]>", plain, "user%host", "[1.2.3.4]", "[1.2.3.4]", K::ipv4_literal,
         f::percent | f::address_literal),
      bad("<user@host@dom>", plain, E::syntax), bad("< user@host>", plain, E::syntax),
      bad("<user@host >", plain, E::syntax), bad("<user @host>", plain, E::syntax),
      bad("<user@ host>", plain, E::syntax), bad("<user@ho st>", plain, E::syntax),
      ok_name("<\"a\\\"b\"@host>", plain, "a\"b", "host", f::quoted | f::quoted_pair),
      ok_name("<\"a\\@b\"@host>", plain, "a@b", "host",
              f::quoted | f::quoted_pair | f::at_in_local),
      ok_name("<\"a:b\"@host>", plain, "a:b", "host", f::quoted | f::colon_in_local),
      ok_name("<\"user@host\"@dom>", plain, "user@host", "dom", f::quoted | f::at_in_local),
      ok_name("<\"@a:b\"@c>", plain, "@a:b", "c", f::quoted | f::at_in_local | f::colon_in_local),
      ok_name("<user%host%other@dom>", plain, "user%host%other", "dom", f::percent),
      ok_name("<host!user%dom@host2>", plain, "host!user%dom", "host2", f::bang | f::percent),
      ok_name("<\"a!b\"@h>", plain, "a!b", "h", f::quoted | f::bang),
      ok_name("<\"a\\%b\"@h>", plain, "a%b", "h", f::quoted | f::quoted_pair | f::percent),
      ok_name("<\"a\\!b\"@h>", plain, "a!b", "h", f::quoted | f::quoted_pair | f::bang),
      ok_name("<\"a\\:b\"@h>", plain, "a:b", "h", f::quoted | f::quoted_pair | f::colon_in_local),
      ok("<\"user@dom\"@[192.0.2.1]>", plain, "user@dom", "[192.0.2.1]", "[192.0.2.1]",
         K::ipv4_literal, f::quoted | f::at_in_local | f::address_literal),
      ok_name("<@a:\"x@y\"@b>", plain, "x@y", "b", f::source_route | f::quoted | f::at_in_local,
              {"a"}),
      bad("<a:b@host>", plain, E::syntax),    // ':' is not atext; only quoted
      bad("<a\\@b@host>", plain, E::syntax),  // quoted pairs only inside quotes
      bad("<a@b:c@host>", plain, E::syntax),

      // --- source routes ---
      ok_name("<@a:b@c>", plain, "b", "c", f::source_route, {"a"}),
      ok("<@A.Example,@b-c.d:u@D>", plain, "u", "D", "d", K::name, f::source_route,
         {"A.Example", "b-c.d"}),
      ok_name("<@a,@b,@c:u@d>", plain, "u", "d", f::source_route, {"a", "b", "c"}),
      ok_name("<@a:b@c.>", plain, "b", "c", f::source_route | f::trailing_dot, {"a"}),
      ok_name("<@a:b%c@d>", plain, "b%c", "d", f::source_route | f::percent, {"a"}),
      bad("<@a@b:c@d>", plain, E::syntax), bad("<@a,b:c@d>", plain, E::syntax),
      bad("<@a:>", plain, E::syntax), bad("<@a,@b>", plain, E::syntax),
      bad("<@:user@dom>", plain, E::syntax), bad("<@a,:user@dom>", plain, E::syntax),
      bad("<@a,,@b:user@dom>", plain, E::syntax),
      bad("<@[1.2.3.4]:user@dom>", plain, E::syntax),  // A-d-l takes Domain only
      bad("<@a.:u@d>", plain, E::syntax), bad("<@-a:u@d>", plain, E::syntax),
      bad("<@a:@b:u@d>", plain, E::syntax), bad("<@a:u>", plain, E::unqualified),
      bad("<@a:Postmaster>", rcpt, E::unqualified),  // <Postmaster> takes no route

      // --- <Postmaster> and unqualified mailboxes ---
      ok("<Postmaster>", rcpt, "Postmaster", "", "", K::none, f::unqualified),
      ok("<postmaster>", rcpt, "postmaster", "", "", K::none, f::unqualified),
      ok("<POSTMASTER>", rcpt, "POSTMASTER", "", "", K::none, f::unqualified),
      bad("<Postmaster>", plain, E::unqualified), bad("<Postmaster>", mail, E::unqualified),
      bad("<\"Postmaster\">", rcpt, E::unqualified), bad("<postmaster2>", rcpt, E::unqualified),
      bad("<post.master>", rcpt, E::unqualified), bad("<user>", rcpt, E::unqualified),
      bad("<user>", plain, E::unqualified), bad("<user>", mail, E::unqualified),
      bad("<" + l65 + ">", rcpt, E::local_too_long),
      ok_name("<Postmaster@example.test>", rcpt, "Postmaster", "example.test"),
      bad("<Postmaster@>", rcpt, E::syntax), bad("<Postmaster >", rcpt, E::syntax),

      // --- Dot-string ---
      bad("<a..b@host>", plain, E::syntax), bad("<.a@host>", plain, E::syntax),
      bad("<a.@host>", plain, E::syntax), bad("<.@host>", plain, E::syntax),
      bad("<@host>", plain, E::syntax), bad("<a b@host>", plain, E::syntax),
      bad("<a(b)@host>", plain, E::syntax), bad("<a,b@host>", plain, E::syntax),
      bad("<a;b@host>", plain, E::syntax), bad("<a[b@host>", plain, E::syntax),
      bad("<a\"b@host>", plain, E::syntax), bad("<a<b@host>", plain, E::syntax),
      bad("<a>b@host>", plain, E::unqualified),  // the path ends at the first bare '>'
      bad("<a@@host>", plain, E::syntax), bad("<a@b@>", plain, E::syntax),
      bad("<@>", plain, E::syntax), bad("<@@a:b@c>", plain, E::syntax),

      // --- Quoted-string ---
      ok_name("<\"\"@host>", plain, "", "host", f::quoted),
      ok_name("<\"a b\"@host>", plain, "a b", "host", f::quoted),
      ok_name("<\"abc\"@host>", plain, "abc", "host", f::quoted),
      ok_name("<\"a\\\\b\"@host>", plain, "a\\b", "host", f::quoted | f::quoted_pair),
      ok_name("<\"a\\ b\"@host>", plain, "a b", "host", f::quoted | f::quoted_pair),
      ok_name("<\"a\\~b\"@host>", plain, "a~b", "host", f::quoted | f::quoted_pair),
      ok_name("<\"a>b\"@host>", plain, "a>b", "host", f::quoted),
      ok_name("<\"a\\>b\"@host>", plain, "a>b", "host", f::quoted | f::quoted_pair),
      ok_name("<\"<>\"@host>", plain, "<>", "host", f::quoted),
      ok_name("<\"a.b..c\"@host>", plain, "a.b..c", "host", f::quoted),
      bad("<\"a\"b@host>", plain, E::syntax), bad("<\"a\".b@host>", plain, E::syntax),
      bad("<a.\"b\"@host>", plain, E::syntax), bad("<\"abc@host>", plain, E::syntax),
      bad("<\"a\\\"@host>", plain, E::syntax),  // the escaped quote does not close
      bad("<\"a\\\tb\"@host>", plain, E::syntax), bad("<\"a\tb\"@host>", plain, E::syntax),
      bad("<\"a\\", plain, E::syntax), bad("<\"", plain, E::syntax),

      // --- control octets anywhere ---
      bad("<a\0b@host>"s, plain, E::syntax), bad("<a@ho\0st>"s, plain, E::syntax),
      bad("<\"a\0b\"@host>"s, plain, E::syntax), bad("<\"a\\\0\"@host>"s, plain, E::syntax),
      bad("<a@host>\0"s, plain, E::syntax), bad("<\0>"s, mail, E::syntax),
      bad("<a\r\n@host>", plain, E::syntax), bad("<\"a\rb\"@host>", plain, E::syntax),
      bad("<\"a\nb\"@host>", plain, E::syntax), bad("<\"a\\\r\"@host>", plain, E::syntax),
      bad("<a@host\r\n>", plain, E::syntax), bad("<a\x7f@host>", plain, E::syntax),
      bad("<\"a\x7f\"@host>", plain, E::syntax), bad("<a@[1.2.3.4\r]>", plain, E::syntax),

      // --- brackets ---
      bad("user@host", plain, E::missing_brackets), bad("", plain, E::missing_brackets),
      bad(" <user@host>", plain, E::missing_brackets),
      bad("user@host>", plain, E::missing_brackets), bad(">", plain, E::missing_brackets),
      bad("\"<a@b>\"", plain, E::missing_brackets), bad("<user@host", plain, E::syntax),
      bad("<", plain, E::syntax), bad("<user@host>>", plain, E::syntax),
      bad("<<user@host>>", plain, E::syntax), bad("<user@host> ", plain, E::syntax),
      bad("<user@host>x", plain, E::syntax),

      // --- domain names ---
      bad("<a@-host>", plain, E::syntax), bad("<a@host->", plain, E::syntax),
      bad("<a@ho-st.-x>", plain, E::syntax), bad("<a@x-.y>", plain, E::syntax),
      bad("<a@host..example>", plain, E::syntax), bad("<a@.host>", plain, E::syntax),
      bad("<a@host..>", plain, E::syntax), bad("<a@.>", plain, E::syntax),
      bad("<a@>", plain, E::syntax), bad("<a@ho_st>", plain, E::syntax),
      bad("<a@host,x>", plain, E::syntax), bad("<a@host:25>", plain, E::syntax),
      bad("<a@-.x>", plain, E::syntax),
      ok("<a@Host.Example.>", plain, "a", "Host.Example", "host.example", K::name, f::trailing_dot),
      ok_name("<a@b.c.>", plain, "a", "b.c", f::trailing_dot), bad("<a@b.c..>", plain, E::syntax),
      ok_name("<a@" + std::string(63, 'x') + ".test>", plain, "a", std::string(63, 'x') + ".test"),
      bad("<a@" + std::string(64, 'x') + ".test>", plain, E::syntax),  // label > 63 octets

      // --- length limits (RFC 5321 4.5.3.1) ---
      ok_name("<" + l64 + "@b>", plain, l64, "b"), bad("<" + l65 + "@b>", plain, E::local_too_long),
      ok_name("<\"" + std::string(62, 'q') + "\"@b>", plain, std::string(62, 'q'), "b", f::quoted),
      bad("<\"" + std::string(63, 'q') + "\"@b>", plain, E::local_too_long),  // 65 as written
      // A domain of 252 octets is the longest that fits a 256-octet path with a 1-octet local part.
      ok_name("<a@" + domain_of_length(252) + ">", plain, "a", domain_of_length(252)),
      bad("<a@" + domain_of_length(253) + ">", plain, E::path_too_long),
      bad("<a@" + domain_of_length(255) + ">", plain, E::path_too_long),  // domain ok, path not
      bad("<a@" + domain_of_length(256) + ">", plain, E::domain_too_long),
      bad("<a@" + domain_of_length(300) + ">", plain, E::domain_too_long),
      // The trailing dot is not part of the domain, but it is part of the path.
      ok_name("<a@" + domain_of_length(251) + ".>", plain, "a", domain_of_length(251),
              f::trailing_dot),
      bad("<a@" + domain_of_length(252) + ".>", plain, E::path_too_long),
      // Path exactly 256 / 257 octets with a 64-octet local part.
      ok_name("<" + l64 + "@" + domain_of_length(189) + ">", plain, l64, domain_of_length(189)),
      bad("<" + l64 + "@" + domain_of_length(190) + ">", plain, E::path_too_long),
      // The route counts toward the path.
      ok_name("<@" + domain_of_length(100) + ":" + l64 + "@" + domain_of_length(87) + ">", plain,
              l64, domain_of_length(87), f::source_route, {domain_of_length(100)}),
      bad("<@" + domain_of_length(100) + ":" + l64 + "@" + domain_of_length(88) + ">", plain,
          E::path_too_long),
      // Syntax errors win over length errors.
      bad("<" + l65 + "@-b>", plain, E::syntax),
      bad("<" + std::string(300, 'x') + ">", rcpt, E::local_too_long),
      // Limits come before the unqualified check, for a routed local-only path too.
      bad("<@" + domain_of_length(252) + ":u>", rcpt, E::path_too_long),  // 257 octets
      bad("<@" + domain_of_length(251) + ":u>", rcpt, E::unqualified),    // 256 octets

      // --- IPv4 address literals ---
      ok("<a@[192.0.2.1]>", plain, "a", "[192.0.2.1]", "[192.0.2.1]", K::ipv4_literal,
         f::address_literal),
      ok("<a@[0.0.0.0]>", plain, "a", "[0.0.0.0]", "[0.0.0.0]", K::ipv4_literal,
         f::address_literal),
      ok("<a@[255.255.255.255]>", plain, "a", "[255.255.255.255]", "[255.255.255.255]",
         K::ipv4_literal, f::address_literal),
      ok("<a@[127.0.0.1]>", mail, "a", "[127.0.0.1]", "[127.0.0.1]", K::ipv4_literal,
         f::address_literal),
      bad("<a@[256.1.1.1]>", plain, E::syntax), bad("<a@[1.2.3.04]>", plain, E::syntax),
      bad("<a@[01.2.3.4]>", plain, E::syntax), bad("<a@[1.2.3.00]>", plain, E::syntax),
      bad("<a@[1.2.3]>", plain, E::syntax), bad("<a@[1.2.3.4.5]>", plain, E::syntax),
      bad("<a@[1.2.3.4 ]>", plain, E::syntax), bad("<a@[ 1.2.3.4]>", plain, E::syntax),
      bad("<a@[1.2.3.4]x>", plain, E::syntax), bad("<a@[1.2.3.4>", plain, E::syntax),
      bad("<a@1.2.3.4]>", plain, E::syntax), bad("<a@[]>", plain, E::syntax),
      bad("<a@[1.2.3.4].>", plain, E::syntax), bad("<a@[1.2.3.-4]>", plain, E::syntax),
      bad("<a@[0x1.2.3.4]>", plain, E::syntax), bad("<a@[1.2.3.4444]>", plain, E::syntax),
      bad("<a@[1..3.4]>", plain, E::syntax), bad("<a@[1.2.3.4.]>", plain, E::syntax),
      bad("<a@[2130706433]>", plain, E::syntax), bad("<a@[[1.2.3.4]]>", plain, E::syntax),

      // --- IPv6 address literals (RFC 4291 text, RFC 5952 key) ---
      ok("<a@[IPv6:2001:db8::1]>", plain, "a", "[IPv6:2001:db8::1]", "[ipv6:2001:db8::1]",
         K::ipv6_literal, f::address_literal),
      ok("<a@[ipv6:2001:DB8::1]>", plain, "a", "[ipv6:2001:DB8::1]", "[ipv6:2001:db8::1]",
         K::ipv6_literal, f::address_literal),
      ok("<a@[IPV6:2001:0db8:0000:0000:0000:0000:0000:0001]>", plain, "a",
         "[IPV6:2001:0db8:0000:0000:0000:0000:0000:0001]", "[ipv6:2001:db8::1]", K::ipv6_literal,
         f::address_literal),
      ok("<a@[iPv6:::1]>", plain, "a", "[iPv6:::1]", "[ipv6:::1]", K::ipv6_literal,
         f::address_literal),
      ok("<a@[IPv6:::]>", plain, "a", "[IPv6:::]", "[ipv6:::]", K::ipv6_literal,
         f::address_literal),
      ok("<a@[IPv6:::ffff:192.0.2.1]>", plain, "a", "[IPv6:::ffff:192.0.2.1]",
         "[ipv6:::ffff:192.0.2.1]", K::ipv6_literal, f::address_literal),
      ok("<a@[IPv6:::FFFF:c000:0201]>", plain, "a", "[IPv6:::FFFF:c000:0201]",
         "[ipv6:::ffff:192.0.2.1]", K::ipv6_literal, f::address_literal),
      ok("<a@[IPv6:2001:db8:0:0:1:0:0:1]>", plain, "a", "[IPv6:2001:db8:0:0:1:0:0:1]",
         "[ipv6:2001:db8::1:0:0:1]", K::ipv6_literal, f::address_literal),
      ok("<a@[IPv6:2001:db8::1:0:0:0:1]>", plain, "a", "[IPv6:2001:db8::1:0:0:0:1]",
         "[ipv6:2001:db8:0:1::1]", K::ipv6_literal, f::address_literal),
      ok("<a@[IPv6:1:2:3:4:5:6:1.2.3.4]>", plain, "a", "[IPv6:1:2:3:4:5:6:1.2.3.4]",
         "[ipv6:1:2:3:4:5:6:102:304]", K::ipv6_literal, f::address_literal),
      ok("<a@[IPv6:fe80::]>", plain, "a", "[IPv6:fe80::]", "[ipv6:fe80::]", K::ipv6_literal,
         f::address_literal),
      ok("<\"a@b\"@[IPv6:::1]>", plain, "a@b", "[IPv6:::1]", "[ipv6:::1]", K::ipv6_literal,
         f::quoted | f::at_in_local | f::address_literal),
      bad("<a@[IPv6:2001:db8::1::2]>", plain, E::syntax),
      bad("<a@[IPv6:2001:db8::g]>", plain, E::syntax),
      bad("<a@[IPv6:fe80::1%eth0]>", plain, E::syntax), bad("<a@[IPv6:1.2.3.4]>", plain, E::syntax),
      bad("<a@[IPv6:::ffff:1.2.3.04]>", plain, E::syntax),
      bad("<a@[IPv6:::ffff:256.1.1.1]>", plain, E::syntax),
      bad("<a@[IPv6:1:2:3:4:5:6:7:8:9]>", plain, E::syntax),
      bad("<a@[IPv6:1:2:3:4:5:6:7]>", plain, E::syntax), bad("<a@[IPv6:]>", plain, E::syntax),
      bad("<a@[IPv6:12345::]>", plain, E::syntax), bad("<a@[IPv6: ::1]>", plain, E::syntax),
      bad("<a@[IPv6:::1]x>", plain, E::syntax), bad("<a@[IPv6:::1>", plain, E::syntax),
      bad("<a@IPv6:::1>", plain, E::syntax),

      // --- General-address-literal: [Standardized-tag:dcontent] ---
      ok("<a@[x-tag:content]>", plain, "a", "[x-tag:content]", "[x-tag:content]",
         K::general_literal, f::address_literal),
      ok("<a@[X-Tag:Content]>", plain, "a", "[X-Tag:Content]", "[x-tag:content]",
         K::general_literal, f::address_literal),
      ok("<a@[tag:a:b:c]>", plain, "a", "[tag:a:b:c]", "[tag:a:b:c]", K::general_literal,
         f::address_literal),
      // A literal without the IPv6 tag is general, even when its content looks like an address.
      ok("<a@[2001:db8::1]>", plain, "a", "[2001:db8::1]", "[2001:db8::1]", K::general_literal,
         f::address_literal),
      ok("<a@[IPv4:1.2.3.4]>", plain, "a", "[IPv4:1.2.3.4]", "[ipv4:1.2.3.4]", K::general_literal,
         f::address_literal),
      ok("<a@[-tag:x]>", plain, "a", "[-tag:x]", "[-tag:x]", K::general_literal,
         f::address_literal),  // Ldh-str may begin with '-'
      ok("<a@[t:!\"#$%&'()*+,-./09;<=>?@AZ^_`az{|}~]>", plain, "a",
         "[t:!\"#$%&'()*+,-./09;<=>?@AZ^_`az{|}~]", "[t:!\"#$%&'()*+,-./09;<=>?@az^_`az{|}~]",
         K::general_literal, f::address_literal),
      bad("<a@[tag-:x]>", plain, E::syntax), bad("<a@[:x]>", plain, E::syntax),
      bad("<a@[tag:]>", plain, E::syntax), bad("<a@[tag:x y]>", plain, E::syntax),
      bad("<a@[tag:x[y]>", plain, E::syntax), bad("<a@[tag:x\\y]>", plain, E::syntax),
      bad("<a@[ta_g:x]>", plain, E::syntax), bad("<a@[ta.g:x]>", plain, E::syntax),

      // --- UTF-8 (RFC 6531 3.3), validated strictly (RFC 3629) ---
      bad("<" + e2 + "@example.test>", plain, E::utf8_not_enabled),
      bad("<" + e2 + "@example.test>", mail, E::utf8_not_enabled),
      ok_name("<" + e2 + "@example.test>", u8, e2, "example.test", f::utf8),
      ok_name("<" + e2 + "@example.test>", u8mail, e2, "example.test", f::utf8),
      ok_name("<a@b\xc3\xbc"
              "cher.example>",
              u8, "a",
              "b\xc3\xbc"
              "cher.example",
              f::utf8),
      ok("<a@B\xc3\x9c"
         "CHER.Example>",
         u8, "a",
         "B\xc3\x9c"
         "CHER.Example",
         "b\xc3\x9c"
         "cher.example",
         K::name, f::utf8),  // only ASCII is case-folded
      bad("<a@b\xc3\xbc"
          "cher.example>",
          plain, E::utf8_not_enabled),
      ok_name("<\"" + e2 + " x\"@h>", u8, e2 + " x", "h", f::quoted | f::utf8),
      bad("<\"" + e2 + "\"@h>", plain, E::utf8_not_enabled),
      ok_name("<a." + e2 + ".b@h>", u8, "a." + e2 + ".b", "h", f::utf8),
      ok_name("<@" + e2 + ".example:a@b>", u8, "a", "b", f::utf8 | f::source_route,
              {e2 + ".example"}),
      bad("<@" + e2 + ".example:a@b>", plain, E::utf8_not_enabled),
      ok_name("<\xc2\x80@h>", u8, "\xc2\x80", "h", f::utf8),                  // U+0080
      ok_name("<\xe0\xa0\x80@h>", u8, "\xe0\xa0\x80", "h", f::utf8),          // U+0800
      ok_name("<\xed\x9f\xbf@h>", u8, "\xed\x9f\xbf", "h", f::utf8),          // U+D7FF
      ok_name("<\xef\xbf\xbf@h>", u8, "\xef\xbf\xbf", "h", f::utf8),          // U+FFFF
      ok_name("<\xf0\x90\x80\x80@h>", u8, "\xf0\x90\x80\x80", "h", f::utf8),  // U+10000
      ok_name("<\xf0\x9f\x98\x80@h>", u8, "\xf0\x9f\x98\x80", "h", f::utf8),  // U+1F600
      ok_name("<\xf4\x8f\xbf\xbf@h>", u8, "\xf4\x8f\xbf\xbf", "h", f::utf8),  // U+10FFFF
      bad("<\xc0\xaf@h>", u8, E::invalid_utf8),                               // overlong '/'
      bad("<\xc1\xbf@h>", u8, E::invalid_utf8),                               // overlong
      bad("<\xe0\x80\xaf@h>", u8, E::invalid_utf8),                           // overlong
      bad("<\xf0\x80\x80\xaf@h>", u8, E::invalid_utf8),                       // overlong
      bad("<\xed\xa0\x80@h>", u8, E::invalid_utf8),                           // surrogate U+D800
      bad("<\xed\xbf\xbf@h>", u8, E::invalid_utf8),                           // surrogate U+DFFF
      bad("<\xf4\x90\x80\x80@h>", u8, E::invalid_utf8),                       // U+110000
      bad("<\xf5\x80\x80\x80@h>", u8, E::invalid_utf8), bad("<\xff@h>", u8, E::invalid_utf8),
      bad("<\xff@h>", plain, E::utf8_not_enabled),
      bad("<\x80@h>", u8, E::invalid_utf8),              // lone continuation
      bad("<\xc3@h>", u8, E::invalid_utf8),              // truncated
      bad("<\xe2\x82@h>", u8, E::invalid_utf8),          // truncated
      bad("<a@h\xc3>", u8, E::invalid_utf8),             // truncated before '>'
      bad("<a@h\xc3", u8, E::invalid_utf8),              // truncated at end of input
      bad("<\"\xed\xa0\x80\"@h>", u8, E::invalid_utf8),  // in a quoted string
      bad("<\"a\\" + e2 + "\"@h>", u8, E::syntax),       // quoted pairs are ASCII only
      bad("<a@[" + e2 + "]>", u8, E::syntax),            // no UTF-8 in literals
      bad("<a@[" + e2 + "]>", plain, E::syntax), bad("<a@[tag:" + e2 + "]>", u8, E::syntax),
      bad("<a@-" + e2 + ">", u8, E::syntax), bad("<a@" + e2 + "->", u8, E::syntax),
      ok_name("<" + repeat(e2, 32) + "@h>", u8, repeat(e2, 32), "h", f::utf8),  // 64 octets
      bad("<" + repeat(e2, 33) + "@h>", u8, E::local_too_long),                 // 66 octets
  };
  return v;
}

void check_address(const address& got, const path_case& c, const std::string& ctx) {
  EXPECT_EQ(got.local_part, c.local) << ctx;
  EXPECT_EQ(got.domain, c.domain) << ctx;
  EXPECT_EQ(got.domain_key, c.key) << ctx;
  EXPECT_EQ(got.kind, c.kind) << ctx;
  EXPECT_EQ(flag_names(got.flags), flag_names(c.flags)) << ctx;
  EXPECT_EQ(got.source_route, c.route) << ctx;
  const bool ip_kind = c.kind == K::ipv4_literal || c.kind == K::ipv6_literal;
  EXPECT_EQ(got.literal_ip.has_value(), ip_kind) << ctx;
}

TEST(AddressTable, HasEnoughCases) {
  EXPECT_GE(path_cases().size(), 150u) << "issue 2 asks for at least 150 address cases";
}

TEST(AddressTable, ParseAddress) {
  for (const auto& c : path_cases()) {
    const std::string ctx = "input: " + show(c.input) + " opts: " + opt_names(c.opts);
    auto got = parse_address(c.input, c.opts);
    if (c.error) {
      ASSERT_FALSE(got.has_value()) << ctx << " got: success, want: " << *c.error;
      EXPECT_EQ(got.error(), *c.error) << ctx;
      continue;
    }
    ASSERT_TRUE(got.has_value()) << ctx << " got: " << got.error() << ", want: success";
    check_address(*got, c, ctx);
  }
}

// A valid path followed by parameters parses the same, and `length` stops before them.
TEST(AddressTable, ParsePathWithParameters) {
  for (const auto& c : path_cases()) {
    if (c.error) continue;
    const std::string input = c.input + " SIZE=100";
    const std::string ctx = "input: " + show(input) + " opts: " + opt_names(c.opts);
    auto got = parse_path(input, c.opts);
    ASSERT_TRUE(got.has_value()) << ctx << " got: " << got.error() << ", want: success";
    EXPECT_EQ(got->length, c.input.size()) << ctx;
    check_address(got->addr, c, ctx);
  }
}

// "<" + mailbox() + ">" of an unrouted result names the same mailbox.
TEST(AddressTable, MailboxReparses) {
  for (const auto& c : path_cases()) {
    if (c.error || (c.flags & (f::source_route | f::null_path))) continue;
    const std::string ctx = "input: " + show(c.input);
    auto first = parse_address(c.input, c.opts);
    ASSERT_TRUE(first.has_value()) << ctx;
    const std::string again = "<" + first->mailbox() + ">";
    auto second = parse_address(again, c.opts);
    ASSERT_TRUE(second.has_value())
        << ctx << " reparsing " << show(again) << " got: " << second.error();
    EXPECT_EQ(second->domain_key, first->domain_key) << ctx;
    EXPECT_EQ(second->local_part, first->local_part) << ctx;
    EXPECT_EQ(second->kind, first->kind) << ctx;
    EXPECT_EQ(flag_names(second->flags), flag_names(first->flags & ~f::trailing_dot)) << ctx;
  }
}

// domain_key of a domain name is exactly what canonical_domain gives for the same text, so the
// config side and the SMTP side compare equal.
TEST(AddressTable, DomainKeyMatchesCanonicalDomain) {
  for (const auto& c : path_cases()) {
    if (c.error || c.kind != K::name || (c.flags & f::utf8)) continue;
    const std::string ctx = "input: " + show(c.input);
    auto got = parse_address(c.input, c.opts);
    ASSERT_TRUE(got.has_value()) << ctx;
    EXPECT_EQ(canonical_domain(got->domain), std::optional<std::string>(got->domain_key)) << ctx;
  }
}

TEST(Address, MailboxText) {
  struct mailbox_case {
    std::string input;
    parse_options opts;
    std::string want;
  };
  const std::vector<mailbox_case> cases = {
      {"<User@Example.TEST>", plain, "User@Example.TEST"},
      {"<@a,@b:u@D.>", plain, "u@D"},
      {"<\"a b\"@h>", plain, "\"a b\"@h"},
      {"<\"a\\\"b\"@h>", plain, "\"a\\\"b\"@h"},
      {"<>", mail, ""},
      {"<Postmaster>", rcpt, "Postmaster"},
      {"<a@[IPv6:::1]>", plain, "a@[IPv6:::1]"},
      {"<a@[192.0.2.1]>", plain, "a@[192.0.2.1]"},
      {"<a%b@c>", plain, "a%b@c"},
  };
  for (const auto& c : cases) {
    auto got = parse_address(c.input, c.opts);
    ASSERT_TRUE(got.has_value()) << "input: " << show(c.input) << " got: " << got.error();
    EXPECT_EQ(got->mailbox(), c.want) << "input: " << show(c.input);
  }
}

TEST(Address, LiteralIp) {
  struct ip_case {
    std::string input;
    std::string want_ip;  // parsed with inet::ip_address::parse
    bool v6;
  };
  const std::vector<ip_case> cases = {
      {"<a@[192.0.2.1]>", "192.0.2.1", false},
      {"<a@[0.0.0.0]>", "0.0.0.0", false},
      {"<a@[IPv6:2001:db8::1]>", "2001:db8::1", true},
      {"<a@[IPv6:0:0:0:0:0:0:0:1]>", "::1", true},
      // A v4-mapped literal stays IPv6 here; the policy decides how to compare it.
      {"<a@[IPv6:::ffff:192.0.2.1]>", "::ffff:192.0.2.1", true},
  };
  for (const auto& c : cases) {
    const std::string ctx = "input: " + show(c.input);
    auto got = parse_address(c.input, plain);
    ASSERT_TRUE(got.has_value()) << ctx << " got: " << got.error();
    ASSERT_TRUE(got->literal_ip.has_value()) << ctx;
    EXPECT_EQ(got->literal_ip, inet::ip_address::parse(c.want_ip)) << ctx;
    EXPECT_EQ(got->literal_ip->is_v6(), c.v6) << ctx;
  }
}

TEST(Address, PathLength) {
  struct length_case {
    std::string input;
    parse_options opts;
    std::optional<address_error> error;
    std::size_t want = 0;
  };
  const std::vector<length_case> cases = {
      {"<a@b> SIZE=100", plain, std::nullopt, 5},
      {"<a@b>", plain, std::nullopt, 5},
      {"<a@b>>", plain, std::nullopt, 5},
      {"<a@b><c@d>", plain, std::nullopt, 5},
      {"<a@b>\r\n", plain, std::nullopt, 5},
      {"<> SIZE=1 BODY=8BITMIME", mail, std::nullopt, 2},
      {"<>>", mail, std::nullopt, 2},
      {"<\"a>b\"@c> X=1", plain, std::nullopt, 9},
      {"<\"a\\>\"@b> BODY=8BITMIME", plain, std::nullopt, 9},
      {"<\"a> <b\"@c> SIZE=5", plain, std::nullopt, 11},
      {"<Postmaster> NOTIFY=NEVER", rcpt, std::nullopt, 12},
      {"<@x:a@b.> SIZE=1", plain, std::nullopt, 9},
      {"<a@[IPv6:::1]> SIZE=1", plain, std::nullopt, 14},
      {"<a@b SIZE=100>", plain, E::syntax},
      {"a@b> SIZE=100", plain, E::missing_brackets},
      {" <a@b> SIZE=100", plain, E::missing_brackets},
      {"<> SIZE=1", rcpt, E::null_not_allowed},
      {"<a@b", plain, E::syntax},
  };
  for (const auto& c : cases) {
    const std::string ctx = "input: " + show(c.input) + " opts: " + opt_names(c.opts);
    auto got = parse_path(c.input, c.opts);
    if (c.error) {
      ASSERT_FALSE(got.has_value()) << ctx << " got length " << got->length;
      EXPECT_EQ(got.error(), *c.error) << ctx;
      continue;
    }
    ASSERT_TRUE(got.has_value()) << ctx << " got: " << got.error();
    EXPECT_EQ(got->length, c.want) << ctx;
  }
}

TEST(Address, Describe) {
  const address_error all[] = {E::syntax,        E::missing_brackets, E::null_not_allowed,
                               E::unqualified,   E::local_too_long,   E::domain_too_long,
                               E::path_too_long, E::utf8_not_enabled, E::invalid_utf8};
  EXPECT_EQ(describe(E::syntax), "bad address syntax");
  EXPECT_EQ(describe(E::local_too_long), "local part too long");
  for (std::size_t i = 0; i < std::size(all); ++i) {
    EXPECT_FALSE(describe(all[i]).empty()) << "error #" << i;
    for (std::size_t j = i + 1; j < std::size(all); ++j) {
      EXPECT_NE(describe(all[i]), describe(all[j])) << "errors #" << i << " and #" << j;
    }
  }
}

TEST(Address, CanonicalDomain) {
  struct domain_case {
    std::string input;
    std::optional<std::string> want;
  };
  const std::vector<domain_case> cases = {
      {"example.test", "example.test"},
      {"Example.TEST", "example.test"},
      {"example.test.", "example.test"},
      {"EXAMPLE.TEST.", "example.test"},
      {"localhost", "localhost"},
      {"A-1.B-2", "a-1.b-2"},
      {"xn--bcher-kva.test", "xn--bcher-kva.test"},
      {"1.2.3.4", "1.2.3.4"},
      {"a.b.c.d.e", "a.b.c.d.e"},
      {std::string(63, 'X') + ".test", std::string(63, 'x') + ".test"},
      {domain_of_length(255), domain_of_length(255)},
      {domain_of_length(255) + ".", domain_of_length(255)},
      {"", std::nullopt},
      {".", std::nullopt},
      {"..", std::nullopt},
      {"a..b", std::nullopt},
      {"a..", std::nullopt},
      {".a", std::nullopt},
      {"-a", std::nullopt},
      {"a-", std::nullopt},
      {"a.-b", std::nullopt},
      {"a_b", std::nullopt},
      {"a b", std::nullopt},
      {" a", std::nullopt},
      {"a ", std::nullopt},
      {"a\0"s, std::nullopt},
      {"a\n", std::nullopt},
      {"[1.2.3.4]", std::nullopt},
      {"user@example.test", std::nullopt},
      {"b\xc3\xbc"
       "cher.test",
       std::nullopt},
      {std::string(64, 'x') + ".test", std::nullopt},
      {domain_of_length(256), std::nullopt},
      {domain_of_length(256) + ".", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(canonical_domain(c.input), c.want) << "input: " << show(c.input);
  }
}

TEST(Address, DomainOfLengthHelper) {
  for (const std::size_t n : {1u, 62u, 63u, 64u, 65u, 127u, 189u, 252u, 255u, 256u}) {
    EXPECT_EQ(domain_of_length(n).size(), n);
    if (n <= 255) {
      EXPECT_TRUE(canonical_domain(domain_of_length(n)).has_value()) << "n=" << n;
    }
  }
}

}  // namespace
}  // namespace mx::smtp
