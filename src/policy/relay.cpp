#include "policy/relay.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace mx::policy {

namespace {

struct restriction_name {
  restriction r;
  std::string_view name;
};

// One table for parse_restriction and name_of, so the two cannot drift apart.
constexpr std::array<restriction_name, 7> restriction_names{{
    {restriction::permit_trusted_networks, "permit_trusted_networks"},
    {restriction::permit_authenticated, "permit_authenticated"},
    {restriction::reject_unauth_destination, "reject_unauth_destination"},
    {restriction::defer_unauth_destination, "defer_unauth_destination"},
    {restriction::permit, "permit"},
    {restriction::reject, "reject"},
    {restriction::defer, "defer"},
}};

// What one restriction said before the list turns it into a verdict.
enum class answer : std::uint8_t { dunno, permit, reject_relay, defer_relay, reject, defer };

bool is_own_address(const relay_config& cfg, const inet::ip_address& ip) {
  // Unmapped on both sides: [IPv6:::ffff:192.0.2.1] is the same host as [192.0.2.1].
  const inet::ip_address want = ip.unmapped();
  return std::any_of(cfg.own_addresses.begin(), cfg.own_addresses.end(),
                     [&](const inet::ip_address& own) { return own.unmapped() == want; });
}

bool contains(const std::vector<std::string>& domains, const std::string& key) {
  return std::find(domains.begin(), domains.end(), key) != domains.end();
}

bool is_trusted(const relay_config& cfg, const inet::ip_address& client) {
  // cidr::contains matches an IPv4-mapped client as IPv4 against IPv4 networks.
  return std::any_of(cfg.trusted_networks.begin(), cfg.trusted_networks.end(),
                     [&](const inet::cidr& net) { return net.contains(client); });
}

bool is_postmaster(std::string_view local) {
  constexpr std::string_view want = "postmaster";
  if (local.size() != want.size()) return false;
  for (std::size_t i = 0; i < want.size(); ++i) {
    char c = local[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != want[i]) return false;
  }
  return true;
}

std::string rcpt_prefix(const smtp::address& rcpt) {
  return "<" + rcpt.mailbox() + ">: ";
}

smtp::reply relay_denied(const smtp::address& rcpt) {
  return smtp::reply::make(554, "5.7.1", rcpt_prefix(rcpt) + "Relay access denied");
}

smtp::reply relay_deferred(const smtp::address& rcpt) {
  return smtp::reply::make(454, "4.7.1", rcpt_prefix(rcpt) + "Relay access denied");
}

smtp::reply access_denied(const smtp::address& rcpt) {
  return smtp::reply::make(554, "5.7.1",
                           rcpt_prefix(rcpt) + "Recipient address rejected: Access denied");
}

smtp::reply access_deferred(const smtp::address& rcpt) {
  return smtp::reply::make(450, "4.7.1",
                           rcpt_prefix(rcpt) + "Recipient address rejected: Try again later");
}

answer ask(restriction r, const relay_config& cfg, const relay_request& req, destination dest) {
  switch (r) {
    case restriction::permit_trusted_networks:
      return is_trusted(cfg, req.client) ? answer::permit : answer::dunno;
    case restriction::permit_authenticated:
      return req.auth_user.empty() ? answer::dunno : answer::permit;
    case restriction::reject_unauth_destination:
    case restriction::defer_unauth_destination: {
      // Routed and external recipients both fall through: routing is never honoured for a client
      // that no earlier restriction permitted (allow_untrusted_routing = no).
      if (dest == destination::local || dest == destination::relay_domain) return answer::dunno;
      return r == restriction::reject_unauth_destination ? answer::reject_relay
                                                         : answer::defer_relay;
    }
    case restriction::permit:
      return answer::permit;
    case restriction::reject:
      return answer::reject;
    case restriction::defer:
      return answer::defer;
  }
  // An out-of-range enum value is a broken invariant; refuse rather than guess.
  return answer::reject;
}

verdict permit_verdict(destination dest, std::string decided_by) {
  // A permitted routed recipient is relayed (handed on), never delivered locally, even when its
  // domain is ours: local delivery of "user%ext@local" would be the percent hack itself.
  verdict v;
  v.k = dest == destination::local ? verdict::kind::permit_local : verdict::kind::permit_relay;
  v.reply = smtp::reply::make(250, "2.1.5", "Ok");
  v.decided_by = std::move(decided_by);
  return v;
}

verdict refuse(const relay_config& cfg, answer a, const smtp::address& rcpt,
               std::string decided_by) {
  verdict v;
  v.decided_by = std::move(decided_by);
  switch (a) {
    case answer::reject_relay:
      v.k = verdict::kind::reject;
      v.reply = relay_denied(rcpt);
      break;
    case answer::defer_relay:
      v.k = verdict::kind::defer;
      v.reply = relay_deferred(rcpt);
      break;
    case answer::defer:
      v.k = verdict::kind::defer;
      v.reply = access_deferred(rcpt);
      break;
    case answer::reject:
    case answer::dunno:
    case answer::permit:
      v.k = verdict::kind::reject;
      v.reply = access_denied(rcpt);
      break;
  }
  // soft_reject: an admin is testing a config, so a mistaken 5xx must not bounce real mail. The
  // text stays; the codes become their 4xx equivalents (454 for relay access, as Postfix's
  // defer_unauth_destination; 450 otherwise; enhanced 5.x.y -> 4.x.y).
  if (cfg.soft_reject && v.k == verdict::kind::reject) {
    v.k = verdict::kind::defer;
    v.reply.code = a == answer::reject_relay ? 454 : 450;
    if (!v.reply.enhanced.empty() && v.reply.enhanced[0] == '5') v.reply.enhanced[0] = '4';
  }
  return v;
}

}  // namespace

std::optional<restriction> parse_restriction(std::string_view name) {
  for (const auto& entry : restriction_names) {
    if (entry.name == name) return entry.r;
  }
  return std::nullopt;
}

std::string_view name_of(restriction r) {
  for (const auto& entry : restriction_names) {
    if (entry.r == r) return entry.name;
  }
  return "unknown";
}

std::vector<restriction> default_restrictions() {
  return {restriction::permit_trusted_networks, restriction::permit_authenticated,
          restriction::reject_unauth_destination};
}

std::string_view name_of(destination d) {
  switch (d) {
    case destination::local:
      return "local";
    case destination::relay_domain:
      return "relay_domain";
    case destination::external:
      return "external";
    case destination::routed:
      return "routed";
  }
  return "unknown";
}

destination classify(const relay_config& cfg, const smtp::address& recipient) {
  // Routing first: a route through one of our names is still a route to somewhere else.
  if (recipient.is_routed()) return destination::routed;
  switch (recipient.kind) {
    case smtp::domain_kind::name:
      // Exact match on the canonical key only; a subdomain or superdomain of a local domain is
      // someone else's.
      if (contains(cfg.local_domains, recipient.domain_key)) return destination::local;
      if (contains(cfg.relay_domains, recipient.domain_key)) return destination::relay_domain;
      return destination::external;
    case smtp::domain_kind::ipv4_literal:
    case smtp::domain_kind::ipv6_literal:
      if (recipient.literal_ip && is_own_address(cfg, *recipient.literal_ip)) {
        return destination::local;
      }
      return destination::external;
    case smtp::domain_kind::general_literal:
      return destination::external;
    case smtp::domain_kind::none:
      // RFC 5321 4.5.1: <Postmaster> without a domain is the postmaster of this server. Nothing
      // else unqualified is ours (the null path is never a recipient).
      if (recipient.has(smtp::address_flag::unqualified) &&
          !recipient.has(smtp::address_flag::null_path) && is_postmaster(recipient.local_part)) {
        return destination::local;
      }
      return destination::external;
  }
  return destination::external;
}

verdict evaluate(const relay_config& cfg, const relay_request& req) {
  if (req.recipient == nullptr) invariant_failed("policy::evaluate without a recipient");
  const smtp::address& rcpt = *req.recipient;
  const destination dest = classify(cfg, rcpt);

  // req.helo, req.sender and req.tls are deliberately never read: none of them grants relaying.
  for (const restriction r : cfg.restrictions) {
    const answer a = ask(r, cfg, req, dest);
    if (a == answer::dunno) continue;
    if (a == answer::permit) return permit_verdict(dest, std::string(name_of(r)));
    return refuse(cfg, a, rcpt, std::string(name_of(r)));
  }

  // End of list: closed. Only our own and relay-domain recipients get through.
  if (dest == destination::local || dest == destination::relay_domain) {
    return permit_verdict(dest, "end of list");
  }
  return refuse(cfg, answer::reject_relay, rcpt, "end of list");
}

}  // namespace mx::policy
