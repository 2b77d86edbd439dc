// probe/battery: the open-relay test catalogue of `mxguard probe` and the builder that turns it
// into one target's battery, from that target's own identities: the banner hostname, its IP
// literal, its local domains, "localhost" and "[127.0.0.1]". Pure: no I/O, no randomness (the
// caller supplies the random token of the accept-all control).
//
// The catalogue holds nmap's 16 smtp-open-relay tests (same MAIL/RCPT forms, so verdicts can be
// compared) and ours: sender spoofing, percent hack, double '@', quoted and escaped local parts,
// source routes, bang paths, malformed paths, external address literals, and two
// identity-spoofing probes (XCLIENT, PROXY v1) that only matter if the target honours them from
// us. Two controls make verdicts honest: postmaster at a local domain (RFC 5321 4.5.1: must be
// accepted, or a refusal proves nothing) and a random mailbox at a random .invalid domain (a
// target that accepts it accepts anything at RCPT).
//
// SECURITY: the battery never contains DATA; its envelopes go through smtp::client_session,
// which cannot send one. Every test's final destination is the test domain (or an external
// literal from RFC 5737 / RFC 3849 documentation ranges), never a real third party by default:
// the default test domain is reserved by RFC 2606.
// RFCs: 5321 (4.1.1.2-3 MAIL/RCPT, 4.1.2 paths, 3.6.1 source routes, 4.5.1 postmaster, 4.1.3
//   literals), 3207 (STARTTLS), 2606 (reserved names), 5737 and 3849 (documentation addresses),
//   1123 5.2.16 and RFC 976 (bang paths), Postfix XCLIENT_README, HAProxy PROXY protocol v1.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/inet.hpp"

namespace mx::probe {

// The default destination: reserved by RFC 2606, served by nobody we test.
inline constexpr std::string_view default_test_domain = "example.net";
inline constexpr std::string_view default_to = "relaytest";

enum class test_kind : std::uint8_t {
  relay,               // a relay variant: 2xx at RCPT means the target relays
  local_control,       // postmaster@<local domain>: must be accepted for a CLOSED verdict
  accept_all_control,  // <random>@<random>.invalid: accepted means "accepts anything"
  info,                // reported, never judged (an unqualified recipient is the target's own)
};

enum class test_family : std::uint8_t {
  plain,   // an external recipient written plainly
  sender,  // a plain external recipient with a sender the target may trust
  trick,   // an address trick in the recipient (routing, quoting, malformed paths)
  spoof,   // a claim to be someone else (XCLIENT, PROXY)
  control,
};

enum class probe_special : std::uint8_t { none, xclient, proxy };

// One row of the catalogue. Templates use {from} (the whole sender address), {fl} (its local
// part), {to} (the recipient local part), {T} (the test domain), {Tmix} (it in mixed case), {H}
// (the banner hostname), {I} (the target's IP literal), {L} (the first local domain; the banner
// hostname when none is given) and {rand} (the caller's random token).
struct catalogue_entry {
  std::string_view id;
  std::string_view form;  // short human name
  test_kind kind;
  test_family family;
  probe_special special;
  std::string_view mail;       // after "MAIL FROM:"
  std::string_view rcpt;       // after "RCPT TO:"
  std::string_view exploits;   // what a server that accepts it gets wrong
  std::string_view reference;  // RFC section or the tool that introduced it
};

std::span<const catalogue_entry> catalogue();

// A test as run against one target.
struct test_case {
  std::string id;
  std::string form;
  test_kind kind = test_kind::relay;
  test_family family = test_family::plain;
  std::string mail;      // after "MAIL FROM:"
  std::string rcpt;      // after "RCPT TO:"
  std::string xclient;   // "ADDR=127.0.0.1" for the XCLIENT probe, else empty
  std::string preamble;  // the PROXY v1 header line (with CRLF) for the PROXY probe, else empty
  bool after_starttls = false;  // runs inside TLS, after STARTTLS (RFC 3207) and a new EHLO
  const catalogue_entry* entry = nullptr;

  friend bool operator==(const test_case& a, const test_case& b) {
    return a.id == b.id && a.mail == b.mail && a.rcpt == b.rcpt && a.xclient == b.xclient &&
           a.preamble == b.preamble;
  }
};

// What the builder knows about the target.
struct target_identity {
  std::optional<inet::ip_address> address;  // the address we connect to ({I}; PROXY destination)
  std::uint16_t port = 25;
  std::string banner_host;                 // {H}: from the greeting; empty when it named none
  std::vector<std::string> local_domains;  // canonical; {L} is the first
};

struct battery_options {
  std::string test_domain{default_test_domain};  // canonical domain name
  std::string from;            // the sender address; empty: "mxguard-probe@<test domain>"
  std::string to{default_to};  // the recipient local part
  std::string token = "0";     // random, [a-z0-9]: the accept-all control's mailbox and domain
  bool spoofing = true;        // include the XCLIENT and PROXY probes
};

// The effective local domain ({L}): the first given, else the banner hostname, else empty.
std::string effective_local_domain(const target_identity& id);

// The battery for one target, in run order: controls first, the spoofing probes last (XCLIENT
// changes the session; PROXY needs a connection of its own). Rows whose placeholders the target
// cannot fill ({H} with no banner hostname, {L} with no local domain and no hostname, PROXY with
// no address) are left out, and so is a row whose envelope repeats an earlier row's exactly.
std::vector<test_case> build_battery(const target_identity& id, const battery_options& opts);

// The battery again, for after STARTTLS: every test but the PROXY probe (whose header must be
// the connection's first bytes), with "+tls" after its id and after_starttls set. A server may
// trust a TLS client more (RFC 3207 4.1 warns against it); these copies find out.
std::vector<test_case> starttls_copies(const std::vector<test_case>& battery);

// "[192.0.2.1]" or "[IPv6:2001:db8::1]".
std::string address_literal(const inet::ip_address& ip);

// "ExAmPlE.nEt": letters alternate case, from upper.
std::string mixed_case(std::string_view s);

// The hostname a greeting or EHLO line names ("mx.example.test" from "mx.example.test ESMTP"),
// canonical; empty when the first word is not a domain name.
std::string hostname_of(std::string_view first_line);

// The test domain is the target's own (a local domain, the banner hostname, or one inside the
// other): then an accepted "relay" test proves nothing. nmap gets this wrong.
bool test_domain_is_own(const target_identity& id, std::string_view test_domain);

}  // namespace mx::probe
