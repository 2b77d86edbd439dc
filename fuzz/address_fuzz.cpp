// Fuzz target for the RFC 5321 Path parser (smtp/address.hpp): any bytes, under every option
// combination, must parse or fail cleanly, and a success must satisfy the invariants the relay
// policy relies on. A broken invariant traps, so libFuzzer reports it as a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/address.hpp"

namespace {

using namespace mx::smtp;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

bool has_upper_ascii(std::string_view s) {
  for (const char c : s) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

bool has_non_ascii(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

void check_address(const address& a, std::string_view path, const parse_options& opts) {
  require(a.local_part_raw.size() <= 64);
  require(a.domain.size() <= 255);
  require(!has_upper_ascii(a.domain_key));
  require(a.domain_key.empty() || a.domain_key.back() != '.');
  require(a.literal_ip.has_value() ==
          (a.kind == domain_kind::ipv4_literal || a.kind == domain_kind::ipv6_literal));
  require(a.has(address_flag::address_literal) ==
          (a.kind != domain_kind::none && a.kind != domain_kind::name));
  require(a.has(address_flag::source_route) == !a.source_route.empty());
  // Non-ASCII is accepted only when the client enabled it, and is then always flagged.
  require(has_non_ascii(path) == a.has(address_flag::utf8));
  if (a.has(address_flag::utf8)) require(opts.smtputf8);
  if (a.is_null()) {
    require(opts.allow_null && path == "<>" && a.flags == address_flag::null_path);
    require(a.mailbox().empty());
    return;
  }
  if (a.kind == domain_kind::none) {
    require(opts.allow_postmaster && a.has(address_flag::unqualified));
    require(a.flags == address_flag::unqualified && a.source_route.empty());
  }
  // Routing characters in the decoded local part are always flagged.
  for (const char c : a.local_part) {
    if (c == '%') require(a.has(address_flag::percent));
    if (c == '!') require(a.has(address_flag::bang));
    if (c == '@') require(a.has(address_flag::at_in_local));
    if (c == ':') require(a.has(address_flag::colon_in_local));
  }
  // A name's key is what canonical_domain (the config side) gives for the same text.
  if (a.kind == domain_kind::name && !a.has(address_flag::utf8)) {
    const auto canonical = canonical_domain(a.domain);
    require(canonical.has_value() && *canonical == a.domain_key);
  }
  // The mailbox as written, put back in brackets, names the same mailbox.
  if (!a.has(address_flag::source_route)) {
    const std::string again = "<" + a.mailbox() + ">";
    auto re = parse_address(again, opts);
    require(re.has_value());
    require(re->domain_key == a.domain_key && re->local_part == a.local_part);
    require(re->kind == a.kind && re->literal_ip == a.literal_ip);
    require(re->flags == (a.flags & ~address_flag::trailing_dot));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  for (unsigned combo = 0; combo < 8; ++combo) {
    parse_options opts;
    opts.smtputf8 = (combo & 1) != 0;
    opts.allow_null = (combo & 2) != 0;
    opts.allow_postmaster = (combo & 4) != 0;

    auto path = parse_path(input, opts);
    auto whole = parse_address(input, opts);
    if (path) {
      require(path->length >= 2 && path->length <= size && path->length <= 256);
      require(input.front() == '<' && input[path->length - 1] == '>');
      check_address(path->addr, input.substr(0, path->length), opts);
      // The whole input is one path exactly when nothing follows it.
      require(whole.has_value() == (path->length == size));
      if (whole) require(whole->domain_key == path->addr.domain_key);
    } else {
      require(!describe(path.error()).empty());
      require(!whole.has_value());
      if (input.empty() || input.front() != '<') {
        require(path.error() == address_error::missing_brackets);
      }
    }
  }

  // canonical_domain is idempotent and yields lowercase, dot-free keys.
  if (auto key = canonical_domain(input)) {
    require(!key->empty() && key->size() <= 255 && !has_upper_ascii(*key));
    require(key->back() != '.');
    require(canonical_domain(*key) == key);
  }
  return 0;
}
