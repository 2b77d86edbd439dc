// probe/spec: the TARGET arguments of `mxguard probe`: "host", "host:port", "192.0.2.1",
// "192.0.2.1:2525", "[2001:db8::1]:2525", "2001:db8::1" (no port: a bare IPv6 address), and
// "mx:DOMAIN" (every MX of DOMAIN, resolved by the shell; "mx:DOMAIN:PORT" probes them on PORT).
// Also --targets files: one target a line, '#' starts a comment. Pure: no name resolution here.
//
// SECURITY: target text comes from the command line or a file; it is parsed strictly (a host
// name must be a valid domain name, a port 1-65535) and never reaches a shell or a format string.
// RFCs: 5321 4.1.2 (domain syntax, via smtp::canonical_domain), 3696 2 (numeric TLDs), 3986
//   3.2.2 (bracketed IPv6 with a port), 4291 2.2 (IPv6 text).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/inet.hpp"
#include "core/result.hpp"

namespace mx::probe {

inline constexpr std::uint16_t default_port = 25;

struct target_spec {
  std::string text;                    // as given
  bool mx = false;                     // "mx:DOMAIN": host is the domain whose MX hosts to test
  std::string host;                    // a canonical domain name, or the IP's text
  std::optional<inet::ip_address> ip;  // set when host is an address
  std::uint16_t port = default_port;

  friend bool operator==(const target_spec&, const target_spec&) = default;
};

expected<target_spec, std::string> parse_target(std::string_view text);

// One target a line; blank lines and '#' comments skipped. Errors name the line: "line 3: ...".
expected<std::vector<target_spec>, std::string> parse_target_list(std::string_view text);

}  // namespace mx::probe
