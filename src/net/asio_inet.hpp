// net/asio_inet: conversions between Asio's addresses and core/inet's, shared by the network
// shells (smtp_server, dns_server, probe_runner).
// SECURITY: none of its own; an IPv4-mapped IPv6 peer stays mapped here (policy decides).
#pragma once

#include <asio/ip/address.hpp>

#include <algorithm>

#include "core/inet.hpp"

namespace mx::net {

inline inet::ip_address to_inet(const asio::ip::address& a) {
  inet::ip_address out;
  if (a.is_v4()) {
    out.fam = inet::ip_address::family::v4;
    const auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out.bytes.begin());
  } else {
    out.fam = inet::ip_address::family::v6;
    const auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), out.bytes.begin());
  }
  return out;
}

}  // namespace mx::net
