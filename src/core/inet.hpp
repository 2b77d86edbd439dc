// core/inet: IP addresses, CIDR networks and listen endpoints, parsed from text. Pure: no sockets,
// no name resolution.
//
// SECURITY: trusted_networks decide who may relay, so parsing is strict. IPv4 is dotted-quad
// decimal only (no octal "010.1.1.1", hex, or short "127.1" forms that inet_aton would take), a
// CIDR's host bits must be zero ("10.0.0.1/8" is refused, as it usually hides a typo), and an
// IPv4-mapped IPv6 client (::ffff:a.b.c.d) matches IPv4 networks as the IPv4 address it is.
// RFCs: 4291 2.2 and 2.5.5.2 (IPv6 text, IPv4-mapped), 4632 (CIDR), 5952 (IPv6 output form).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mx::inet {

struct ip_address {
  enum class family : std::uint8_t { v4, v6 };

  family fam = family::v4;
  // v4: bytes[0..3] hold the address, the rest zero. v6: all 16 bytes.
  std::array<std::uint8_t, 16> bytes{};

  // "192.0.2.1" or "2001:db8::1" (no brackets, no zone index). nullopt on anything else.
  static std::optional<ip_address> parse(std::string_view text);
  static std::optional<ip_address> parse_v4(std::string_view text);
  static std::optional<ip_address> parse_v6(std::string_view text);

  bool is_v4() const { return fam == family::v4; }
  bool is_v6() const { return fam == family::v6; }
  bool is_v4_mapped() const;       // ::ffff:a.b.c.d
  bool is_unspecified() const;     // 0.0.0.0 or ::
  ip_address unmapped() const;     // a v4-mapped v6 address as v4; anything else unchanged
  std::string to_string() const;   // dotted quad, or RFC 5952 form

  friend auto operator<=>(const ip_address&, const ip_address&) = default;
};

struct cidr {
  ip_address network;
  int prefix = 0;  // 0..32 for v4, 0..128 for v6

  // "10.0.0.0/8", "::1/128"; a bare address is a host network (/32 or /128).
  static std::optional<cidr> parse(std::string_view text);
  // An IPv4-mapped client is matched as IPv4 against v4 networks (and as itself against v6).
  bool contains(const ip_address& addr) const;
  std::string to_string() const;

  friend bool operator==(const cidr&, const cidr&) = default;
};

struct endpoint {
  ip_address address;
  std::uint16_t port = 0;

  // "127.0.0.1:2525", "[::1]:2525", "0.0.0.0:25". Port 0 means "any free port" (tests).
  static std::optional<endpoint> parse(std::string_view text);
  std::string to_string() const;

  friend bool operator==(const endpoint&, const endpoint&) = default;
};

}  // namespace mx::inet
