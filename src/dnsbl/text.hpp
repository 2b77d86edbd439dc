// dnsbl/text: the small grammars of rbldnsd data files, parsed exactly as rbldnsd 0.998 / 1.0
// parses them (ip4parse.c, ip6addr.c, rbldnsd_util.c), so the same files mean the same thing.
//
//   ip4 prefix   1-4 decimal octets "127", "127.0", "127.0.0", "127.0.0.2"; an octet is any run of
//                digits worth 0..255 (leading zeros are decimal, as in rbldnsd)
//   ip4 range    prefix ["/" bits] | prefix "-" prefix (the last boundary completed with 255s; a
//                one-octet end replaces the start's last octet: "127.0.0.1-255", "127.16-31")
//   ip4 cidr     prefix ["/" bits]; a bare number needs "/bits"
//   ip6 prefix   up to 8 hex groups, one "::" allowed (then the address is complete, 128 bits)
//   ip6 cidr     prefix ["/" bits]; a bare group needs "/bits"
//   time         digits with an optional unit s, m, h, d, w (any case)
//   value        ":A:TXT", ":A:" (no TXT), ":A" (the default TXT) or "TXT" (the default A); A is
//                an address or a number N meaning 127.0.0.N
//
// Each parser takes a std::string_view by reference and consumes what it read, so callers can
// check what follows. Separators are space and tab; comments start with '#' or ';'.
//
// SECURITY: data files are operator input, not peer input, but a reload must never crash the
// server: every parser is bounds-checked on a string_view, refuses overflow, and never throws.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mx::dnsbl::text {

inline bool is_space(char c) {
  return c == ' ' || c == '\t';
}
inline bool is_comment(char c) {
  return c == '#' || c == ';';
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
void skip_space(std::string_view& s);
// True when s is empty or continues with a separator, a comment or ':' (what may follow a key).
bool at_key_end(std::string_view s);

// An IPv4 prefix: returns the number of bits given (8, 16, 24 or 32) and the address with the
// missing octets zero, or nullopt.
struct ip4_prefix {
  std::uint32_t addr = 0;
  int bits = 0;
};
std::optional<ip4_prefix> parse_ip4_prefix(std::string_view& s);

// Plain address lines, the form of nearly every line of a big list: "a.b.c.d\n", 1 to 3 digits
// an octet, each worth at most 255, nothing else on the line. Reads such lines from the start of
// text into out (at most max of them) and returns the octets of the lines read; stops at the
// first other line, or where fewer than 16 octets are left. A line it reads, classify() and
// parse_ip4_prefix() read as the same lone /32; every other line is left to them. It looks at 16
// octets at once (SSE2; the octets' values with an SSSE3 shuffle where the CPU has one), a few
// nanoseconds a line where the general parsers take tens; without SSE2 it reads nothing.
std::size_t plain_ip4_lines(std::string_view text, std::uint32_t* out, std::size_t max,
                            std::size_t& count);
// The same with SSE2 alone, whatever the CPU (tests and fuzzing check both).
std::size_t plain_ip4_lines_sse2(std::string_view text, std::uint32_t* out, std::size_t max,
                                 std::size_t& count);

// A plain domain name (no escapes, labels of 1 to 63 octets, no trailing dot, at most 255
// octets in wire form) appended to out as a set's key: its labels in reverse order, each after
// its length octet, ASCII letters lowered ("Mail.Example.COM" -> "\3com\7example\4mail").
// False, with out untouched, for any other text: dns::name::from_text reads those (escapes, a
// trailing dot) or refuses them. The same key as from_text, to_lower and a reversed walk of the
// labels, without building a name.
bool append_reversed_name(std::string_view name, std::string& out);

struct ip4_range {
  std::uint32_t lo = 0;
  std::uint32_t hi = 0;
  int bits = 32;  // CIDR/prefix bits; 32 for an a-b range
};
std::optional<ip4_range> parse_ip4_range(std::string_view& s);  // rbldnsd ip4range()
// rbldnsd ip4cidr(): hi is lo | host mask.
std::optional<ip4_range> parse_ip4_cidr(std::string_view& s);
// rbldnsd ip4addr(): inet_aton's short forms, "2" = 0.0.0.2, "127.2" = 127.0.0.2.
std::optional<ip4_prefix> parse_ip4_addr(std::string_view& s);

inline std::uint32_t ip4_mask(int bits) {
  return bits <= 0 ? 0u : bits >= 32 ? 0xFFFFFFFFu : ~((1u << (32 - bits)) - 1u);
}

using ip6_bytes = std::array<std::uint8_t, 16>;
struct ip6_prefix {
  ip6_bytes addr{};
  int bits = 0;  // 16 * groups, or 128 with "::"; for a cidr the "/bits" value
};
std::optional<ip6_prefix> parse_ip6_prefix(std::string_view& s);
std::optional<ip6_prefix> parse_ip6_cidr(std::string_view& s);
// Zeroes the host bits; true when some were set.
bool ip6_clear_host(ip6_bytes& addr, int bits);

// rbldnsd parse_time(): seconds; consumes trailing separators. nullopt on overflow or junk.
std::optional<std::uint32_t> parse_time(std::string_view& s);
// rbldnsd parse_uint32(): plain decimal followed by the end or a separator.
std::optional<std::uint32_t> parse_uint32(std::string_view& s);
// $TIMESTAMP's yyyy[:-]mm[:-]dd[[:-]hh[[:-]mi[[:-]ss]]], or "0" / "-" for none (returns 0).
std::optional<std::int64_t> parse_timestamp(std::string_view& s);

// An A value and a raw TXT template. txt_from_default: ":A" without a second colon, so the TXT
// template comes from the default value in scope.
struct a_txt {
  std::uint32_t a = 0;
  std::string_view txt;
  bool has_a = false;
  bool txt_from_default = false;
  bool truncated = false;  // TXT template cut to 255 octets
};
enum class value_error { bad_a, junk_after_a };
// s is what follows the key (leading separators already skipped), or a default-value line.
std::optional<a_txt> parse_value(std::string_view s, value_error& err);

// rbldnsd ip6atos(): lowercase hex groups, the longest run (two or more) of zero groups as "::".
// The buffer form writes at most 39 chars and returns the length (no allocation).
std::size_t ip6_to_text(const ip6_bytes& addr, char* buf);
std::string ip6_to_text(const ip6_bytes& addr);
// Dotted quad into buf (at least 16 chars); returns the length.
std::size_t ip4_to_text(std::uint32_t addr, char* buf);

}  // namespace mx::dnsbl::text
