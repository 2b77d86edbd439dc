// RFC 5321 4.1.2 Path parser. See address.hpp for the grammar and the security notes.
//
// How errors are chosen, so that callers and tests can rely on them:
//   - the first octet that cannot continue the grammar decides the error, left to right:
//     syntax, or utf8_not_enabled / invalid_utf8 where the grammar would take UTF8-non-ascii;
//   - only a syntactically complete Path is then checked against the RFC 5321 4.5.3.1 limits
//     (local part, then domain, then the whole path), and only then for being unqualified.
// Scanning works on positions in the input and allocates nothing; the result strings are built
// once, at the end, from the spans that passed.
#include "smtp/address.hpp"

namespace mx::smtp {

namespace {

constexpr std::size_t max_local_part = 64;  // RFC 5321 4.5.3.1.1
constexpr std::size_t max_domain = 255;     // RFC 5321 4.5.3.1.2
constexpr std::size_t max_path = 256;       // RFC 5321 4.5.3.1.3, including "<" and ">"
constexpr std::size_t max_label = 63;       // RFC 1035 2.3.4; RFC 5321 leaves it to DNS

using scan = expected<std::size_t, address_error>;

unsigned char octet(std::string_view s, std::size_t i) {
  return static_cast<unsigned char>(s[i]);
}

bool is_alpha(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool is_let_dig(unsigned char c) {
  return is_alpha(c) || is_digit(c);
}
bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

// RFC 5322 3.2.3 atext (ASCII part).
bool is_atext(unsigned char c) {
  static constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
  return is_let_dig(c) || specials.find(static_cast<char>(c)) != std::string_view::npos;
}

// RFC 5321 4.1.2 qtextSMTP (ASCII part): printable, without '"' and '\'.
bool is_qtext(unsigned char c) {
  return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

// RFC 5321 4.1.3 dcontent: printable, without '[', '\' and ']'.
bool is_dcontent(unsigned char c) {
  return c >= 33 && c <= 126 && c != '[' && c != '\\' && c != ']';
}

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Length of the well-formed UTF-8 sequence starting at s[i] (a non-ASCII lead octet), or 0.
// RFC 3629 section 4 table: this excludes overlong forms (C0, C1, E0 80-9F, F0 80-8F),
// surrogates (ED A0-BF) and code points above U+10FFFF (F4 90-BF, F5-FF).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const unsigned char lead = octet(s, i);
  std::size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;  // overlong below U+0800
    if (lead == 0xED) hi = 0x9F;  // UTF-16 surrogates U+D800..U+DFFF
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;  // overlong below U+10000
    if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // continuation octet, C0/C1 (overlong), F5..FF
  }
  if (s.size() - i < len) return 0;
  // Only the second octet has a narrowed range; the rest are plain continuation octets.
  const unsigned char second = octet(s, i + 1);
  if (second < lo || second > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    const unsigned char c = octet(s, i + k);
    if (c < 0x80 || c > 0xBF) return 0;
  }
  return len;
}

// One UTF8-non-ascii character at s[i], where the grammar allows it (RFC 6531 3.3).
scan take_utf8(std::string_view s, std::size_t i, bool enabled, bool& saw_utf8) {
  if (!enabled) return unexpected(address_error::utf8_not_enabled);
  const std::size_t len = utf8_sequence(s, i);
  if (len == 0) return unexpected(address_error::invalid_utf8);
  saw_utf8 = true;
  return i + len;
}

bool may_start_label(unsigned char c) {
  return is_let_dig(c) || c == '-' || c >= 0x80;
}

// Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str] (or a U-label with
// SMTPUTF8), from s[pos]. Returns the position after the last label; a dot that does not lead
// into another label (a trailing dot) is left for the caller.
scan scan_domain_name(std::string_view s, std::size_t pos, bool utf8_ok, bool& saw_utf8) {
  std::size_t i = pos;
  for (;;) {
    const std::size_t start = i;
    bool ends_with_hyphen = false;
    while (i < s.size()) {
      const unsigned char c = octet(s, i);
      if (is_let_dig(c)) {
        ++i;
        ends_with_hyphen = false;
      } else if (c == '-') {
        if (i == start) return unexpected(address_error::syntax);
        ++i;
        ends_with_hyphen = true;
      } else if (c >= 0x80) {
        auto next = take_utf8(s, i, utf8_ok, saw_utf8);
        if (!next) return next;
        i = *next;
        ends_with_hyphen = false;
      } else {
        break;
      }
    }
    if (i == start || ends_with_hyphen || i - start > max_label) {
      return unexpected(address_error::syntax);
    }
    if (i + 1 < s.size() && s[i] == '.' && may_start_label(octet(s, i + 1))) {
      ++i;
      continue;
    }
    return i;
  }
}

// Dot-string = Atom *("." Atom); an empty atom (leading, trailing or double dot) is an error.
scan scan_dot_string(std::string_view s, std::size_t pos, bool utf8_ok, bool& saw_utf8) {
  std::size_t i = pos;
  for (;;) {
    const std::size_t start = i;
    while (i < s.size()) {
      const unsigned char c = octet(s, i);
      if (is_atext(c)) {
        ++i;
      } else if (c >= 0x80) {
        auto next = take_utf8(s, i, utf8_ok, saw_utf8);
        if (!next) return next;
        i = *next;
      } else {
        break;
      }
    }
    if (i == start) return unexpected(address_error::syntax);
    if (i < s.size() && s[i] == '.') {
      ++i;
      continue;
    }
    return i;
  }
}

// Quoted-string = DQUOTE *QcontentSMTP DQUOTE, s[pos] being the opening quote. A '>' inside is
// content, which is why the path end is found by parsing rather than by searching for '>'.
scan scan_quoted_string(std::string_view s, std::size_t pos, bool utf8_ok, bool& saw_utf8,
                        bool& saw_pair) {
  std::size_t i = pos + 1;
  while (i < s.size()) {
    const unsigned char c = octet(s, i);
    if (c == '"') return i + 1;
    if (c == '\\') {
      // quoted-pairSMTP = "\" %d32-126; RFC 6531 does not extend it to UTF-8.
      if (i + 1 >= s.size()) break;
      const unsigned char escaped = octet(s, i + 1);
      if (escaped < 32 || escaped > 126) break;
      saw_pair = true;
      i += 2;
    } else if (c >= 0x80) {
      auto next = take_utf8(s, i, utf8_ok, saw_utf8);
      if (!next) return next;
      i = *next;
    } else if (is_qtext(c)) {
      ++i;
    } else {
      break;
    }
  }
  return unexpected(address_error::syntax);
}

// The local part with quotes removed and quoted pairs resolved (input already validated).
std::string decode_local_part(std::string_view raw) {
  if (raw.empty() || raw.front() != '"') return std::string(raw);
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 1; i + 1 < raw.size(); ++i) {
    if (raw[i] == '\\') ++i;
    out += raw[i];
  }
  return out;
}

// IPv4-address-literal = Snum 3("." Snum), Snum 0-255. Stricter than RFC 5321's 1*3DIGIT: a
// leading zero is refused, since some resolvers read "010" as octal and others as decimal.
bool is_strict_dotted_quad(std::string_view t) {
  std::size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= t.size() || t[i] != '.') return false;
      ++i;
    }
    const std::size_t start = i;
    unsigned value = 0;
    while (i < t.size() && is_digit(octet(t, i)) && i - start < 4) {
      value = value * 10 + static_cast<unsigned>(t[i] - '0');
      ++i;
    }
    const std::size_t len = i - start;
    if (len == 0 || len > 3 || value > 255 || (len > 1 && t[start] == '0')) return false;
  }
  return i == t.size();
}

// Standardized-tag = Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig.
bool is_ldh_str(std::string_view t) {
  if (t.empty() || !is_let_dig(octet(t, t.size() - 1))) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const unsigned char c = octet(t, i);
    if (!is_let_dig(c) && c != '-') return false;
  }
  return true;
}

// RFC 4291 2.2 text (IPv6-addr of RFC 5321 4.1.3). Only hex digits, ':' and '.' may appear: no
// zone index, no whitespace. An embedded IPv4 tail must be a strict dotted quad too.
std::optional<inet::ip_address> parse_ipv6_literal(std::string_view t) {
  for (std::size_t i = 0; i < t.size(); ++i) {
    const unsigned char c = octet(t, i);
    if (!is_hex(c) && c != ':' && c != '.') return std::nullopt;
  }
  if (t.find('.') != std::string_view::npos) {
    const std::size_t colon = t.rfind(':');
    if (colon == std::string_view::npos || !is_strict_dotted_quad(t.substr(colon + 1))) {
      return std::nullopt;
    }
  }
  auto ip = inet::ip_address::parse_v6(t);
  if (!ip || !ip->is_v6()) return std::nullopt;
  return ip;
}

struct literal_result {
  domain_kind kind = domain_kind::none;
  std::optional<inet::ip_address> ip;
};

// address-literal = "[" ( IPv4 / "IPv6:" IPv6 / General-address-literal ) "]", without the
// brackets. A literal without ':' can only be IPv4; with one, the part before it is the tag.
std::optional<literal_result> parse_literal(std::string_view content) {
  const std::size_t colon = content.find(':');
  literal_result out;
  if (colon == std::string_view::npos) {
    if (!is_strict_dotted_quad(content)) return std::nullopt;
    out.ip = inet::ip_address::parse_v4(content);
    if (!out.ip || !out.ip->is_v4()) return std::nullopt;
    out.kind = domain_kind::ipv4_literal;
    return out;
  }
  const std::string_view tag = content.substr(0, colon);
  const std::string_view rest = content.substr(colon + 1);
  if (!is_ldh_str(tag) || rest.empty()) return std::nullopt;
  if (iequals(tag, "IPv6")) {
    out.ip = parse_ipv6_literal(rest);
    if (!out.ip) return std::nullopt;
    out.kind = domain_kind::ipv6_literal;
    return out;
  }
  // dcontent was checked by the caller.
  out.kind = domain_kind::general_literal;
  return out;
}

// The canonical key of a parsed literal, built only once the path is known to be within limits.
std::string literal_key(const literal_result& lit, std::string_view content) {
  switch (lit.kind) {
    case domain_kind::ipv4_literal:
      return "[" + lit.ip->to_string() + "]";
    case domain_kind::ipv6_literal:
      return "[ipv6:" + lit.ip->to_string() + "]";
    default:
      // No tag but IPv6 is defined (RFC 5321 4.1.3), so the content has no case semantics of its
      // own: the whole key is folded, like every other key.
      return "[" + lowercase(content) + "]";
  }
}

}  // namespace

std::string address::mailbox() const {
  if (is_null()) return {};
  if (has(address_flag::unqualified)) return local_part_raw;
  std::string out;
  out.reserve(local_part_raw.size() + 1 + domain.size());
  out += local_part_raw;
  out += '@';
  out += domain;
  return out;
}

std::string_view describe(address_error e) {
  switch (e) {
    case address_error::syntax:
      return "bad address syntax";
    case address_error::missing_brackets:
      return "address must be enclosed in <>";
    case address_error::null_not_allowed:
      return "null address not allowed here";
    case address_error::unqualified:
      return "address must include a domain";
    case address_error::local_too_long:
      return "local part too long";
    case address_error::domain_too_long:
      return "domain too long";
    case address_error::path_too_long:
      return "path too long";
    case address_error::utf8_not_enabled:
      return "non-ASCII address without SMTPUTF8";
    case address_error::invalid_utf8:
      return "invalid UTF-8 in address";
  }
  return "bad address";
}

expected<parsed_path, address_error> parse_path(std::string_view input, const parse_options& opts) {
  const auto fail = [](address_error e) { return unexpected(e); };
  const std::size_t n = input.size();
  if (n == 0 || input[0] != '<') return fail(address_error::missing_brackets);

  std::size_t i = 1;
  if (i < n && input[i] == '>') {
    if (!opts.allow_null) return fail(address_error::null_not_allowed);
    parsed_path out;
    out.addr.flags = address_flag::null_path;
    out.length = 2;
    return out;
  }

  bool saw_utf8 = false;
  bool saw_pair = false;

  // A-d-l ":" -- recognised so that it can be refused; never used for routing.
  const std::size_t route_begin = i;
  std::size_t route_end = i;
  if (i < n && input[i] == '@') {
    for (;;) {
      auto next = scan_domain_name(input, i + 1, opts.smtputf8, saw_utf8);
      if (!next) return fail(next.error());
      i = *next;
      if (i < n && input[i] == ',' && i + 1 < n && input[i + 1] == '@') {
        ++i;
        continue;
      }
      if (i < n && input[i] == ':') {
        route_end = i;
        ++i;
        break;
      }
      return fail(address_error::syntax);
    }
  }
  const bool routed = route_end > route_begin;

  // Local-part.
  const std::size_t local_begin = i;
  const bool quoted = i < n && input[i] == '"';
  {
    auto next = quoted ? scan_quoted_string(input, i, opts.smtputf8, saw_utf8, saw_pair)
                       : scan_dot_string(input, i, opts.smtputf8, saw_utf8);
    if (!next) return fail(next.error());
    i = *next;
  }
  const std::size_t local_end = i;
  const std::size_t local_len = local_end - local_begin;

  if (i < n && input[i] == '>') {
    // "<Postmaster>" (RFC 5321 4.1.1.3) is the only mailbox that may lack a domain.
    const std::size_t length = i + 1;
    if (local_len > max_local_part) return fail(address_error::local_too_long);
    if (length > max_path) return fail(address_error::path_too_long);
    const std::string_view raw = input.substr(local_begin, local_len);
    if (!opts.allow_postmaster || routed || !iequals(raw, "postmaster")) {
      return fail(address_error::unqualified);
    }
    parsed_path out;
    out.addr.local_part = std::string(raw);
    out.addr.local_part_raw = std::string(raw);
    out.addr.flags = address_flag::unqualified;
    out.length = length;
    return out;
  }
  if (i >= n || input[i] != '@') return fail(address_error::syntax);
  ++i;

  // Domain / address-literal.
  const std::size_t domain_begin = i;
  std::size_t domain_end = 0;  // set by each branch below
  bool trailing_dot = false;
  std::optional<literal_result> literal;
  if (i < n && input[i] == '[') {
    std::size_t j = i + 1;
    while (j < n && is_dcontent(octet(input, j))) ++j;
    if (j >= n || input[j] != ']') return fail(address_error::syntax);
    literal = parse_literal(input.substr(i + 1, j - i - 1));
    if (!literal) return fail(address_error::syntax);
    i = j + 1;
    domain_end = i;
  } else {
    auto next = scan_domain_name(input, i, opts.smtputf8, saw_utf8);
    if (!next) return fail(next.error());
    i = *next;
    domain_end = i;
    if (i < n && input[i] == '.') {
      trailing_dot = true;
      ++i;
    }
  }
  if (i >= n || input[i] != '>') return fail(address_error::syntax);
  const std::size_t length = i + 1;

  const std::size_t domain_len = domain_end - domain_begin;
  if (local_len > max_local_part) return fail(address_error::local_too_long);
  if (domain_len > max_domain) return fail(address_error::domain_too_long);
  if (length > max_path) return fail(address_error::path_too_long);

  parsed_path out;
  address& a = out.addr;
  a.local_part_raw = std::string(input.substr(local_begin, local_len));
  a.local_part = decode_local_part(a.local_part_raw);
  a.domain = std::string(input.substr(domain_begin, domain_len));
  std::uint32_t flags = 0;
  if (literal) {
    a.kind = literal->kind;
    a.literal_ip = literal->ip;
    a.domain_key = literal_key(*literal, input.substr(domain_begin + 1, domain_len - 2));
    flags |= address_flag::address_literal;
  } else {
    a.kind = domain_kind::name;
    a.domain_key = lowercase(a.domain);
  }
  if (routed) {
    flags |= address_flag::source_route;
    // Validated above as "@" Domain *("," "@" Domain): split on ','.
    std::string_view route = input.substr(route_begin, route_end - route_begin);
    while (!route.empty()) {
      const std::size_t comma = route.find(',');
      const std::string_view hop = route.substr(0, comma);
      a.source_route.emplace_back(hop.substr(1));
      route = comma == std::string_view::npos ? std::string_view() : route.substr(comma + 1);
    }
  }
  // Routing characters count wherever they came from: bare, quoted or escaped.
  for (const char c : a.local_part) {
    if (c == '%') flags |= address_flag::percent;
    if (c == '!') flags |= address_flag::bang;
    if (c == '@') flags |= address_flag::at_in_local;
    if (c == ':') flags |= address_flag::colon_in_local;
  }
  if (quoted) flags |= address_flag::quoted;
  if (saw_pair) flags |= address_flag::quoted_pair;
  if (trailing_dot) flags |= address_flag::trailing_dot;
  if (saw_utf8) flags |= address_flag::utf8;
  a.flags = flags;
  out.length = length;
  return out;
}

expected<address, address_error> parse_address(std::string_view input, const parse_options& opts) {
  auto parsed = parse_path(input, opts);
  if (!parsed) return unexpected(parsed.error());
  if (parsed->length != input.size()) return unexpected(address_error::syntax);
  return std::move(parsed->addr);
}

std::optional<std::string> canonical_domain(std::string_view name) {
  bool saw_utf8 = false;
  auto end = scan_domain_name(name, 0, /*utf8_ok=*/false, saw_utf8);
  if (!end) return std::nullopt;
  const std::size_t len = *end;
  std::size_t i = len;
  if (i < name.size() && name[i] == '.') ++i;
  if (i != name.size() || len > max_domain) return std::nullopt;
  return lowercase(name.substr(0, len));
}

}  // namespace mx::smtp
