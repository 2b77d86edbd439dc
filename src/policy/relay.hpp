// policy/relay: who may relay. A pure function of (client IP, TLS, authenticated identity, HELO,
// sender, recipient) evaluated as an ordered list of named restrictions, like Postfix's
// smtpd_relay_restrictions. No I/O: the smtpd shell asks, this answers.
//
// Default list: permit_trusted_networks, permit_authenticated, reject_unauth_destination.
// Each restriction answers dunno, permit or reject/defer; the first non-dunno answer wins.
// When every restriction says dunno the list ends CLOSED: local and relay-domain recipients are
// accepted, anything else is refused. Open relaying must be asked for by name (`permit`), and
// the relay-safety proof (policy/relay_proof) reports it.
//
// SECURITY:
//  - A recipient is local only if its domain is exactly a configured local domain (canonical
//    form) or an address literal equal to one of the server's own addresses.
//  - A routed recipient (source route, or '%', '!', '@', ':' in the local part) is never local and
//    never relay-domain; for an untrusted, unauthenticated client it is refused with 554 5.7.1
//    Relay access denied even when its domain is local (Postfix's allow_untrusted_routing = no).
//  - The sender address, sender domain and HELO name never grant relaying: they are in the
//    request only so that reply texts and logs can carry them.
//  - Trusted networks match IPv4-mapped IPv6 clients as IPv4.
// RFCs: 5321 3.6 (relaying), 3.6.2 (source routes), 4.5.1 (postmaster), 7.1 (open relays);
//       3463 (5.7.1 delivery not authorized; 4.7.1 for the test-mode deferral).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/inet.hpp"
#include "smtp/address.hpp"
#include "smtp/reply.hpp"

namespace mx::policy {

enum class restriction : std::uint8_t {
  permit_trusted_networks,    // client IP in trusted_networks -> permit
  permit_authenticated,       // SMTP AUTH succeeded -> permit
  reject_unauth_destination,  // not local/relay domain (or routed) -> 554 5.7.1
  defer_unauth_destination,   // same, but 454 4.7.1 (while an admin tests)
  permit,                     // permit anything: an OPEN RELAY; must be asked for by name
  reject,                     // refuse everything that reaches it: 554 5.7.1
  defer,                      // defer everything that reaches it: 450 4.7.1
};
std::optional<restriction> parse_restriction(std::string_view name);
std::string_view name_of(restriction r);
std::vector<restriction> default_restrictions();

enum class destination : std::uint8_t {
  local,         // our own domain or address literal, not routed
  relay_domain,  // a configured relay domain (backup MX), not routed
  external,      // anything else
  routed,        // source route or %, !, @, : in the local part, whatever the domain
};
std::string_view name_of(destination d);

struct relay_config {
  std::vector<std::string> local_domains;       // canonical (smtp::canonical_domain)
  std::vector<std::string> relay_domains;       // canonical
  std::vector<inet::cidr> trusted_networks;
  std::vector<inet::ip_address> own_addresses;  // literals [a.b.c.d] equal to these are local
  std::vector<restriction> restrictions = default_restrictions();
  bool soft_reject = false;  // every reject becomes a 4xx deferral (testing a new config)
};

struct relay_request {
  inet::ip_address client;
  bool tls = false;
  std::string auth_user;        // empty: not authenticated
  std::string helo;             // never grants relaying
  const smtp::address* sender = nullptr;  // never grants relaying; may be null or "<>"
  const smtp::address* recipient = nullptr;  // required
};

struct verdict {
  enum class kind : std::uint8_t { permit_local, permit_relay, reject, defer };
  kind k = kind::reject;
  smtp::reply reply;          // 250 2.1.5 Ok / 554 5.7.1 <rcpt>: Relay access denied / 454 ...
  std::string decided_by;     // restriction name, or "end of list"

  bool permitted() const { return k == kind::permit_local || k == kind::permit_relay; }
};

destination classify(const relay_config& cfg, const smtp::address& recipient);
verdict evaluate(const relay_config& cfg, const relay_request& req);

}  // namespace mx::policy
