#include "policy/dnsbl_sites.hpp"

#include <charconv>

#include <fmt/format.h>

namespace mx::policy::dnsbl {

namespace {

// Parses a decimal number in [min, max] that is the whole of `text`.
std::optional<long> parse_number(std::string_view text, long min, long max) {
  if (text.empty() || text.size() > 7) return std::nullopt;
  std::size_t i = 0;
  if (text[0] == '-' || text[0] == '+') {
    if (min >= 0 && text[0] == '-') return std::nullopt;
    i = 1;
  }
  if (i == text.size()) return std::nullopt;
  long v = 0;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    v = v * 10 + (text[i] - '0');
  }
  if (text[0] == '-') v = -v;
  if (v < min || v > max) return std::nullopt;
  return v;
}

std::optional<std::uint8_t> parse_octet(std::string_view text) {
  auto v = parse_number(text, 0, 255);
  if (!v || text[0] == '+') return std::nullopt;
  return static_cast<std::uint8_t>(*v);
}

// "n", or "[item;item...]" where an item is "n" or "n..m" with n <= m.
mx::expected<octet_pattern, std::string> parse_octet_pattern(std::string_view text) {
  octet_pattern out;
  if (text.empty()) return mx::unexpected(std::string("empty octet"));
  if (text.front() != '[') {
    auto v = parse_octet(text);
    if (!v) return mx::unexpected(fmt::format("bad octet \"{}\" (want 0-255)", text));
    out.ranges.push_back({*v, *v});
    return out;
  }
  if (text.size() < 3 || text.back() != ']') {
    return mx::unexpected(fmt::format("bad octet pattern \"{}\" (want [n..m] or [a;b])", text));
  }
  std::string_view body = text.substr(1, text.size() - 2);
  while (true) {
    const std::size_t semi = body.find(';');
    const std::string_view item = body.substr(0, semi);
    const std::size_t dots = item.find("..");
    std::optional<std::uint8_t> lo;
    std::optional<std::uint8_t> hi;
    if (dots == std::string_view::npos) {
      lo = hi = parse_octet(item);
    } else {
      lo = parse_octet(item.substr(0, dots));
      hi = parse_octet(item.substr(dots + 2));
    }
    if (!lo || !hi) {
      return mx::unexpected(fmt::format("bad octet pattern item \"{}\" in \"{}\"", item, text));
    }
    if (*lo > *hi) {
      return mx::unexpected(fmt::format("empty range \"{}\" in \"{}\"", item, text));
    }
    out.ranges.push_back({*lo, *hi});
    if (semi == std::string_view::npos) break;
    body.remove_prefix(semi + 1);
  }
  return out;
}

mx::expected<reply_pattern, std::string> parse_pattern(std::string_view text) {
  reply_pattern out;
  std::size_t octet = 0;
  std::size_t start = 0;
  // Dots inside [..] belong to a range, not to the address.
  int depth = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] == '[') ++depth;
    if (i < text.size() && text[i] == ']') --depth;
    if (depth < 0 || depth > 1) {
      return mx::unexpected(fmt::format("unbalanced brackets in pattern \"{}\"", text));
    }
    if (i == text.size() && depth != 0) {
      return mx::unexpected(fmt::format("unbalanced brackets in pattern \"{}\"", text));
    }
    if (i == text.size() || (text[i] == '.' && depth == 0)) {
      if (octet == 4) return mx::unexpected(fmt::format("pattern \"{}\" has over 4 octets", text));
      auto p = parse_octet_pattern(text.substr(start, i - start));
      if (!p) return mx::unexpected(fmt::format("pattern \"{}\": {}", text, p.error()));
      out.octets[octet++] = std::move(*p);
      start = i + 1;
    }
  }
  if (octet != 4) return mx::unexpected(fmt::format("pattern \"{}\" needs 4 octets", text));
  return out;
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

constexpr char hex_digits[] = "0123456789abcdef";

// Wire length of a presentation name without escapes: one octet per character, one for the
// first label's length, one for the root.
bool fits_wire(std::string_view text) {
  return text.size() + 2 <= 255;
}

}  // namespace

bool octet_pattern::matches(std::uint8_t v) const {
  for (const range& r : ranges) {
    if (v >= r.lo && v <= r.hi) return true;
  }
  return false;
}

bool reply_pattern::matches(const a_record& r) const {
  for (std::size_t i = 0; i < 4; ++i) {
    if (!octets[i].matches(r[i])) return false;
  }
  return true;
}

std::string reply_pattern::to_string() const {
  std::string out;
  for (std::size_t i = 0; i < 4; ++i) {
    if (i > 0) out += '.';
    const auto& rs = octets[i].ranges;
    if (rs.size() == 1 && rs[0].lo == rs[0].hi) {
      out += std::to_string(rs[0].lo);
      continue;
    }
    out += '[';
    for (std::size_t j = 0; j < rs.size(); ++j) {
      if (j > 0) out += ';';
      out += std::to_string(rs[j].lo);
      if (rs[j].hi != rs[j].lo) out += ".." + std::to_string(rs[j].hi);
    }
    out += ']';
  }
  return out;
}

std::string site::to_string() const {
  std::string out = domain;
  if (pattern) out += "=" + pattern->to_string();
  if (weight != 1) out += "*" + std::to_string(weight);
  return out;
}

std::optional<std::string> canonical_zone(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty() || !fits_wire(text)) return std::nullopt;
  std::string out;
  out.reserve(text.size());
  std::size_t label = 0;
  for (char c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
    } else {
      if (!name_char(c) || ++label > 63) return std::nullopt;
    }
    out += c;
  }
  if (label == 0) return std::nullopt;
  return out;
}

mx::expected<site, std::string> parse_site(std::string_view text) {
  site out;
  std::string_view rest = text;
  // The weight comes last; '*' appears nowhere else in an entry.
  if (const std::size_t star = rest.find('*'); star != std::string_view::npos) {
    const std::string_view w = rest.substr(star + 1);
    auto v = parse_number(w, -max_weight, max_weight);
    if (!v) {
      return mx::unexpected(fmt::format("\"{}\": bad weight \"{}\" (want an integer, |w| <= {})",
                                        text, w, max_weight));
    }
    out.weight = static_cast<int>(*v);
    rest = rest.substr(0, star);
  }
  std::string_view domain = rest;
  if (const std::size_t eq = rest.find('='); eq != std::string_view::npos) {
    domain = rest.substr(0, eq);
    auto p = parse_pattern(rest.substr(eq + 1));
    if (!p) return mx::unexpected(fmt::format("\"{}\": {}", text, p.error()));
    out.pattern = std::move(*p);
  }
  auto zone = canonical_zone(domain);
  if (!zone) {
    return mx::unexpected(fmt::format("\"{}\": bad list domain \"{}\"", text, domain));
  }
  out.domain = std::move(*zone);
  return out;
}

std::optional<std::string> ip_query_name(const inet::ip_address& ip, std::string_view zone) {
  auto z = canonical_zone(zone);
  if (!z) return std::nullopt;
  const inet::ip_address a = ip.unmapped();
  std::string out;
  if (a.is_v4()) {
    out = fmt::format("{}.{}.{}.{}.", a.bytes[3], a.bytes[2], a.bytes[1], a.bytes[0]);
  } else {
    out.reserve(64 + z->size());
    for (std::size_t i = 16; i-- > 0;) {
      out += hex_digits[a.bytes[i] & 0x0f];
      out += '.';
      out += hex_digits[a.bytes[i] >> 4];
      out += '.';
    }
  }
  out += *z;
  if (!fits_wire(out)) return std::nullopt;
  return out;
}

std::optional<std::string> domain_query_name(std::string_view domain, std::string_view zone) {
  auto d = canonical_zone(domain);
  auto z = canonical_zone(zone);
  if (!d || !z) return std::nullopt;
  std::string out = *d + "." + *z;
  if (!fits_wire(out)) return std::nullopt;
  return out;
}

code_kind classify_code(const a_record& r) {
  if (r[0] != 127) return code_kind::list_error;
  if (r[1] == 0 && r[2] == 0 && r[3] == 1) return code_kind::list_error;
  if (r[1] == 255 && r[2] == 255) return code_kind::list_error;
  return code_kind::listing;
}

std::string to_string(const a_record& r) {
  return fmt::format("{}.{}.{}.{}", r[0], r[1], r[2], r[3]);
}

std::string_view name_of(list_status s) {
  switch (s) {
    case list_status::not_listed:
      return "not listed";
    case list_status::listed:
      return "listed";
    case list_status::list_error:
      return "list error";
    case list_status::failed:
      return "failed";
  }
  return "?";
}

list_result classify_answer(const site& s, std::span<const a_record> records) {
  list_result out{s.domain, s.weight, list_status::not_listed, {}};
  for (const a_record& r : records) {
    if (classify_code(r) == code_kind::list_error) {
      out.status = list_status::list_error;
      out.codes.push_back(r);
    }
  }
  if (out.status == list_status::list_error) return out;
  for (const a_record& r : records) {
    if (!s.pattern || s.pattern->matches(r)) {
      out.status = list_status::listed;
      out.codes.push_back(r);
    }
  }
  return out;
}

list_result failed_lookup(const site& s) {
  return list_result{s.domain, s.weight, list_status::failed, {}};
}

verdict score(std::span<const list_result> results) {
  verdict v;
  for (const list_result& r : results) {
    switch (r.status) {
      case list_status::listed:
        v.score += r.weight;
        if (r.weight > 0 && (!v.blame || r.weight > v.listed[*v.blame].weight)) {
          v.blame = v.listed.size();
        }
        v.listed.push_back(r);
        break;
      case list_status::list_error:
      case list_status::failed:
        v.errors.push_back(r);
        break;
      case list_status::not_listed:
        break;
    }
  }
  return v;
}

std::string sanitize_txt(std::string_view txt, std::size_t max_len) {
  std::string out;
  for (char c : txt) {
    const auto u = static_cast<unsigned char>(c);
    const char p = (u >= 0x20 && u < 0x7f) ? c : (u == '\t' ? ' ' : '?');
    if (p == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += p;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > max_len) {
    const std::size_t keep = max_len >= 3 ? max_len - 3 : 0;
    out.resize(keep);
    out += std::string_view("...").substr(0, max_len - keep);
  }
  return out;
}

smtp::reply blocked_reply(const inet::ip_address& client, std::string_view list,
                          std::string_view txt, bool defer) {
  std::string text = fmt::format("Service unavailable; client [{}] blocked using {}",
                                 client.unmapped().to_string(), sanitize_txt(list, 255));
  const std::string clean = sanitize_txt(txt);
  if (!clean.empty()) text += "; " + clean;
  return defer ? smtp::reply::make(450, "4.7.1", text) : smtp::reply::make(554, "5.7.1", text);
}

}  // namespace mx::policy::dnsbl
