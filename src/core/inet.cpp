#include "core/inet.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace mx::inet {

namespace {

constexpr std::array<std::uint8_t, 12> v4_mapped_prefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return false;
  if (text.size() > 1 && text[0] == '0') return false;  // "025" is a typo, not a port
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

std::optional<ip_address> ip_address::parse_v4(std::string_view text) {
  // Strict dotted quad: four decimal octets 0..255, no leading zeros (which some parsers read as
  // octal), no signs, no spaces, nothing after.
  ip_address out;
  out.fam = family::v4;
  std::size_t pos = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (pos >= text.size() || text[pos] != '.') return std::nullopt;
      ++pos;
    }
    std::size_t start = pos;
    unsigned value = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 3) {
      value = value * 10 + static_cast<unsigned>(text[pos] - '0');
      ++pos;
    }
    const std::size_t digits = pos - start;
    if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) return std::nullopt;
    out.bytes[static_cast<std::size_t>(octet)] = static_cast<std::uint8_t>(value);
  }
  if (pos != text.size()) return std::nullopt;
  return out;
}

std::optional<ip_address> ip_address::parse_v6(std::string_view text) {
  // inet_pton is a pure function of its input and accepts exactly the RFC 4291 2.2 text forms
  // (including the embedded IPv4 form), and nothing else: no zone index, no brackets.
  if (text.empty() || text.size() > 45) return std::nullopt;  // INET6_ADDRSTRLEN - 1
  std::array<char, 46> buf{};  // NUL-terminated copy for inet_pton
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\0') return std::nullopt;
    buf[i] = text[i];
  }
  // The embedded IPv4 part must obey the same strict rules as parse_v4.
  if (auto colon = text.rfind(':'); colon != std::string_view::npos &&
                                    text.find('.', colon) != std::string_view::npos) {
    if (!parse_v4(text.substr(colon + 1))) return std::nullopt;
  }
  ip_address out;
  out.fam = family::v6;
  if (inet_pton(AF_INET6, buf.data(), out.bytes.data()) != 1) return std::nullopt;
  return out;
}

std::optional<ip_address> ip_address::parse(std::string_view text) {
  if (text.find(':') != std::string_view::npos) return parse_v6(text);
  return parse_v4(text);
}

bool ip_address::is_v4_mapped() const {
  if (fam != family::v6) return false;
  for (std::size_t i = 0; i < v4_mapped_prefix.size(); ++i) {
    if (bytes[i] != v4_mapped_prefix[i]) return false;
  }
  return true;
}

bool ip_address::is_unspecified() const {
  const std::size_t n = is_v4() ? 4 : 16;
  for (std::size_t i = 0; i < n; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

ip_address ip_address::unmapped() const {
  if (!is_v4_mapped()) return *this;
  ip_address out;
  out.fam = family::v4;
  for (std::size_t i = 0; i < 4; ++i) out.bytes[i] = bytes[12 + i];
  return out;
}

std::string ip_address::to_string() const {
  std::array<char, INET6_ADDRSTRLEN> buf{};
  // inet_ntop writes the RFC 5952 canonical form (lowercase, longest zero run compressed, a
  // single zero field not compressed, ::ffff:a.b.c.d for mapped addresses).
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf.data(), buf.size());
  return buf.data();
}

std::optional<cidr> cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto addr = ip_address::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  const int max_prefix = addr->is_v4() ? 32 : 128;
  int prefix = max_prefix;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3 || (p.size() > 1 && p[0] == '0')) return std::nullopt;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (ec != std::errc() || end != p.data() + p.size() || prefix < 0 || prefix > max_prefix) {
      return std::nullopt;
    }
  }
  // Host bits must be zero: "10.0.0.1/8" usually hides a typo in a trust decision.
  for (int bit = prefix; bit < max_prefix; ++bit) {
    if (addr->bytes[static_cast<std::size_t>(bit / 8)] & (0x80u >> (bit % 8))) return std::nullopt;
  }
  return cidr{*addr, prefix};
}

bool cidr::contains(const ip_address& addr) const {
  // An IPv4-mapped client is the IPv4 host it names: match it against v4 networks as such.
  const ip_address candidate = (network.is_v4() && addr.is_v4_mapped()) ? addr.unmapped() : addr;
  if (candidate.fam != network.fam) return false;
  const int full = prefix / 8;
  for (int i = 0; i < full; ++i) {
    if (candidate.bytes[static_cast<std::size_t>(i)] != network.bytes[static_cast<std::size_t>(i)]) {
      return false;
    }
  }
  if (const int rest = prefix % 8; rest != 0) {
    const auto mask = static_cast<std::uint8_t>(0xffu << (8 - rest));
    const auto i = static_cast<std::size_t>(full);
    if ((candidate.bytes[i] & mask) != (network.bytes[i] & mask)) return false;
  }
  return true;
}

std::string cidr::to_string() const {
  return network.to_string() + "/" + std::to_string(prefix);
}

std::optional<endpoint> endpoint::parse(std::string_view text) {
  endpoint out;
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    auto addr = ip_address::parse_v6(host);
    if (!addr) return std::nullopt;
    out.address = *addr;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    auto addr = ip_address::parse_v4(host);  // IPv6 must be bracketed
    if (!addr) return std::nullopt;
    out.address = *addr;
  }
  if (!parse_port(port, out.port)) return std::nullopt;
  return out;
}

std::string endpoint::to_string() const {
  if (address.is_v6()) return "[" + address.to_string() + "]:" + std::to_string(port);
  return address.to_string() + ":" + std::to_string(port);
}

}  // namespace mx::inet
