#include "probe/spec.hpp"

#include <fmt/format.h>

#include <charconv>

#include "smtp/address.hpp"

namespace mx::probe {

namespace {

std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

expected<target_spec, std::string> parse_target(std::string_view text) {
  target_spec t;
  t.text = std::string(text);
  auto bad = [&](std::string_view why) {
    return unexpected(fmt::format("bad target \"{}\": {}", text, why));
  };
  if (text.empty()) return bad("empty");
  if (text.size() > 300) return bad("too long");

  if (text.substr(0, 3) == "mx:" || text.substr(0, 3) == "MX:") {
    std::string_view domain = text.substr(3);
    if (const std::size_t colon = domain.rfind(':'); colon != std::string_view::npos) {
      const auto port = parse_port(domain.substr(colon + 1));
      if (!port) return bad("port must be 1-65535");
      t.port = *port;
      domain = domain.substr(0, colon);
    }
    const auto name = smtp::canonical_domain(domain);
    if (!name || domain.empty()) return bad("mx: needs a domain name");
    t.mx = true;
    t.host = *name;
    return t;
  }

  std::string_view host = text;
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("no closing ']'");
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("expected ':port' after ']'");
      const auto port = parse_port(rest.substr(1));
      if (!port) return bad("port must be 1-65535");
      t.port = *port;
    }
    const auto ip = inet::ip_address::parse(host);
    if (!ip || !ip->is_v6()) return bad("brackets hold an IPv6 address");
    t.ip = ip;
    t.host = ip->to_string();
    return t;
  }

  if (const auto ip6 = inet::ip_address::parse_v6(text); ip6 && text.find(':') != text.rfind(':')) {
    t.ip = ip6;  // a bare IPv6 address: no port (use brackets for one)
    t.host = ip6->to_string();
    return t;
  }
  const std::size_t colon = text.rfind(':');
  if (colon != std::string_view::npos) {
    host = text.substr(0, colon);
    const auto port = parse_port(text.substr(colon + 1));
    if (!port) return bad("port must be 1-65535");
    t.port = *port;
  }
  if (host.empty()) return bad("no host");
  if (const auto ip4 = inet::ip_address::parse_v4(host)) {
    t.ip = ip4;
    t.host = ip4->to_string();
    return t;
  }
  const auto name = smtp::canonical_domain(host);
  if (!name) return bad("not a host name or IP address");
  // An all-numeric last label is no host name (RFC 3696 2): "010.1.1.1" is a mistyped address.
  const std::string_view last = std::string_view(*name).substr(name->rfind('.') + 1);
  if (last.find_first_not_of("0123456789") == std::string_view::npos) {
    return bad("not a host name or IP address");
  }
  t.host = *name;
  return t;
}

expected<std::vector<target_spec>, std::string> parse_target_list(std::string_view text) {
  std::vector<target_spec> out;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    ++line_no;
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = trim(line);
    if (!line.empty()) {
      auto t = parse_target(line);
      if (!t) return unexpected(fmt::format("line {}: {}", line_no, t.error()));
      out.push_back(std::move(*t));
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return out;
}

}  // namespace mx::probe
