// Test helpers for the DNS list tests (dnsbl_sites, dnsbl_check): addresses and A records from
// text.
#pragma once

#include <gtest/gtest.h>

#include <string_view>

#include "core/inet.hpp"
#include "policy/dnsbl_sites.hpp"

namespace mx::policy::dnsbl::testing {

inline inet::ip_address ip(std::string_view text) {
  auto parsed = inet::ip_address::parse(text);
  if (!parsed) ADD_FAILURE() << "test bug: bad IP " << text;
  return parsed.value_or(inet::ip_address{});
}

inline a_record rec(std::string_view text) {
  const inet::ip_address a = ip(text);
  return {a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]};
}

}  // namespace mx::policy::dnsbl::testing
