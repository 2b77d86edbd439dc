// smtp/address: the RFC 5321 4.1.2 Path grammar, in full, as a pure parser.
//
//   Reverse-path / Forward-path = "<" [ A-d-l ":" ] Mailbox ">"   (and "<>" for a null sender)
//   A-d-l     = At-domain *( "," At-domain )      ; source route: parsed, flagged, never followed
//   Mailbox   = Local-part "@" ( Domain / address-literal )
//   Local-part = Dot-string / Quoted-string        ; quoted pairs "\x" inside quotes
//   address-literal = "[" ( IPv4 / "IPv6:" IPv6 / General-address-literal ) "]"
//   With SMTPUTF8 (RFC 6531 3.3) atext, qtext and sub-domains also take UTF-8 (validated).
//
// SECURITY: this parser is where relay tricks are seen. It never interprets routing: a source
// route, or a local part holding '%', '!', '@' or ':' (quoted, escaped or bare) sets a flag, and
// the relay policy refuses such recipients for untrusted clients (percent hack, bang paths,
// "a@b"@host, user@[1.2.3.4]@dom...). Domains get one canonical form (lowercase ASCII, one trailing
// dot accepted and removed, flagged) so "EXAMPLE.test." and "example.test" compare equal and a
// trailing dot cannot dodge the local-domain check. Lengths are bounded per RFC 5321 4.5.3.1
// (local part 64, domain 255, path 256 octets including the angle brackets).
// RFCs: 5321 4.1.2, 4.1.3, 4.5.3.1; 6531 3.3; 3629 (UTF-8 validity); 4291 (IPv6 literal text).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/inet.hpp"
#include "core/result.hpp"

namespace mx::smtp {

enum class domain_kind : std::uint8_t {
  none,             // null path "<>" or an unqualified local part ("<Postmaster>")
  name,             // example.test
  ipv4_literal,     // [192.0.2.1]
  ipv6_literal,     // [IPv6:2001:db8::1]
  general_literal,  // [tag:content] (RFC 5321 4.1.3 General-address-literal)
};

// Bit flags describing what was seen. Several may be set.
namespace address_flag {
inline constexpr std::uint32_t source_route = 1u << 0;   // "<@a,@b:user@c>"
inline constexpr std::uint32_t percent = 1u << 1;        // '%' in the local part
inline constexpr std::uint32_t bang = 1u << 2;           // '!' in the local part
inline constexpr std::uint32_t at_in_local = 1u << 3;    // '@' in the (quoted/escaped) local part
inline constexpr std::uint32_t colon_in_local = 1u << 4; // ':' in the local part
inline constexpr std::uint32_t quoted = 1u << 5;         // the local part is a Quoted-string
inline constexpr std::uint32_t quoted_pair = 1u << 6;    // a "\x" quoted pair was used
inline constexpr std::uint32_t address_literal = 1u << 7;  // domain is [...]
inline constexpr std::uint32_t trailing_dot = 1u << 8;   // "user@example.test." (dot removed)
inline constexpr std::uint32_t utf8 = 1u << 9;           // non-ASCII octets (needs SMTPUTF8)
inline constexpr std::uint32_t unqualified = 1u << 10;   // no "@domain" ("<Postmaster>")
inline constexpr std::uint32_t null_path = 1u << 11;     // "<>"

// The flags that make a recipient "routed": never local, never relayed for outsiders.
inline constexpr std::uint32_t routing =
    source_route | percent | bang | at_in_local | colon_in_local;
}  // namespace address_flag

struct address {
  std::string local_part;      // decoded: quotes removed, quoted pairs resolved ("a@b" -> a@b)
  std::string local_part_raw;  // as written ("\"a@b\"")
  std::string domain;          // as written, without a trailing dot; literals keep brackets
  std::string domain_key;      // canonical: lowercase ASCII (UTF-8 octets kept); literals in
                               // normal form: "[192.0.2.1]", "[ipv6:2001:db8::1]" (RFC 5952)
  domain_kind kind = domain_kind::none;
  std::optional<inet::ip_address> literal_ip;  // for ipv4_literal / ipv6_literal
  std::vector<std::string> source_route;       // At-domains as written, without '@'
  std::uint32_t flags = 0;

  bool is_null() const { return (flags & address_flag::null_path) != 0; }
  bool has(std::uint32_t f) const { return (flags & f) != 0; }
  bool is_routed() const { return (flags & address_flag::routing) != 0; }
  // "local_part_raw@domain" (the mailbox as written, without route or brackets); "" for <>.
  std::string mailbox() const;
};

enum class address_error : std::uint8_t {
  syntax,              // not a Path
  missing_brackets,    // no "<...>" around the path
  null_not_allowed,    // "<>" where a mailbox is required (RCPT)
  unqualified,         // no "@domain", and not <Postmaster> where that is allowed
  local_too_long,      // > 64 octets
  domain_too_long,     // > 255 octets
  path_too_long,       // > 256 octets including "<" and ">"
  utf8_not_enabled,    // non-ASCII without SMTPUTF8
  invalid_utf8,        // bad UTF-8 sequence
};
std::string_view describe(address_error e);

struct parse_options {
  bool smtputf8 = false;            // accept UTF-8 (the client said SMTPUTF8 on MAIL)
  bool allow_null = false;          // "<>" is a valid reverse-path (MAIL only)
  bool allow_postmaster = false;    // "<Postmaster>" (any case) without a domain (RCPT only)
};

struct parsed_path {
  address addr;
  std::size_t length = 0;  // octets of the input consumed, from "<" through ">"
};

// Parses a Path at the start of `input` ("<...>", possibly followed by " SIZE=..." parameters,
// which are left for the caller: `length` says where they start). Never throws, never allocates
// beyond the address itself.
expected<parsed_path, address_error> parse_path(std::string_view input, const parse_options& opts);

// Convenience: the whole input must be one Path.
expected<address, address_error> parse_address(std::string_view input, const parse_options& opts);

// Canonical form of a configured domain name (lowercase, trailing dot removed); nullopt when the
// text is not a valid domain (RFC 5321 Domain syntax, 255 octets). Shared by the config loader
// and the relay policy, so both sides compare the same way.
std::optional<std::string> canonical_domain(std::string_view name);

}  // namespace mx::smtp
