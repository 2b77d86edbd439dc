// policy/relay_proof: the relay-safety proof behind `mxguard check-config` and `serve`'s start.
//
// Evaluates the configured relay policy over untrusted identities (external IPv4 and IPv6
// clients, IPv4-mapped IPv6 clients, HELO names and senders that claim the server's own names and
// addresses, the null sender) times every recipient form of the address-trick catalogue (plain
// external, percent hack, bang paths, quoted and escaped local parts, source routes, address
// literals, trailing dot, mixed case...), built from the config's own domains, hostname and
// addresses. Every recipient string goes through smtp::parse_address exactly as the server would
// parse it, then policy::evaluate. Each case knows its ground truth (is this destination ours?),
// independently of policy::classify, so a classification bug is caught too.
//
// A finding is a path by which an unauthenticated outsider gets an external destination
// permitted. Relay domains are relayed for anyone by design and are not findings.
//
// SECURITY: this is what stands between a config typo and an open relay; it must never report
// "safe" for a config through which some outsider can relay.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "policy/relay.hpp"

namespace mx::policy {

struct relay_finding {
  std::string client;      // "203.0.113.7", "::ffff:203.0.113.7"
  std::string helo;
  std::string sender;      // as in MAIL FROM, with brackets: "<>", "<postmaster@example.test>"
  std::string recipient;   // as in RCPT TO, with brackets
  std::string form;        // catalogue name: "plain external", "percent hack via local domain"...
  std::string decided_by;  // the restriction that permitted it
  std::string to_string() const;
};

struct relay_proof_result {
  std::vector<relay_finding> findings;
  std::size_t cases = 0;  // (client, helo, sender, recipient) combinations evaluated
  bool safe() const { return findings.empty(); }
};

// `also_untrusted`: further clients to treat as outsiders, e.g. addresses inside
// trusted_networks when proving a submission listener (which must not trust them).
relay_proof_result prove_relay_safety(const relay_config& policy, const std::string& hostname,
                                      const std::vector<inet::ip_address>& also_untrusted = {});

}  // namespace mx::policy
