#include "policy/relay_proof.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

namespace mx::policy {

namespace {

// "The Internet": addresses spread over the IPv4 space (so a too-wide trusted network such as
// 0.0.0.0/1 or 128.0.0.0/1 catches at least one), documentation ranges, and IPv6 from several
// RIR blocks. Loopback and private ranges are deliberately absent: trusting them is normal.
constexpr std::string_view outsider_v4[] = {
    "203.0.113.7", "198.51.100.23", "192.0.2.99",      "1.2.3.4",   "45.33.32.156",
    "81.2.69.160", "151.101.1.69",  "185.199.108.153", "223.5.5.5",
};
constexpr std::string_view outsider_v6[] = {
    "2001:db8::7",
    "2a00:1450:4001::1",
    "2600:1f18::1",
    "2c0f:fb50::1",
};

// The external test domain: the first of these that the config does not claim in any way.
constexpr std::string_view external_candidates[] = {
    "relay-proof.invalid",         "relay-proof-2.invalid",       "relay-proof-3.invalid",
    "mxguard-relay-proof.invalid", "relay-proof.example.invalid",
};
// External literals: the first that is not one of our own addresses.
constexpr std::string_view external_v4_literals[] = {"198.51.100.77", "203.0.113.78", "192.0.2.79",
                                                     "1.2.3.5"};
constexpr std::string_view external_v6_literals[] = {"2001:db8::99", "2001:db8::9a",
                                                     "2a00:1450:4001::99"};

constexpr smtp::parse_options rcpt_options{
    .smtputf8 = true, .allow_null = false, .allow_postmaster = true};
constexpr smtp::parse_options mail_options{
    .smtputf8 = true, .allow_null = true, .allow_postmaster = false};

struct outsider {
  std::string text;
  inet::ip_address ip;
};

// One recipient of the catalogue. `ours` is this proof's own ground truth, worked out from how
// the string was built and NOT from policy::classify, so a classification bug becomes a finding.
struct rcpt_case {
  std::string form;
  std::string text;  // with brackets, as in RCPT TO:
  bool ours = false;
};

struct via {
  std::string text;  // as written after '@': "example.test", "[192.0.2.1]", "[IPv6:2001:db8::1]"
  std::string kind;  // "local domain", "hostname", "relay domain", "own IPv4 literal"...
  bool is_name = true;
  bool ours = false;  // delivering to this via, unrouted, stays with us (or our relay domains)
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// "ReLaY-PrOoF.InVaLiD": every other letter upper-cased.
std::string mixed_case(std::string_view s) {
  std::string out(s);
  bool up = true;
  for (char& c : out) {
    if (c < 'a' || c > 'z') continue;
    if (up) c = static_cast<char>(c - 'a' + 'A');
    up = !up;
  }
  return out;
}

// The proof's own notion of "a domain name we accept mail for": the configured local and relay
// domains, compared without case and without one trailing dot. Kept separate from classify.
class ground_truth {
 public:
  explicit ground_truth(const relay_config& cfg) {
    for (const auto& d : cfg.local_domains) names_.insert(strip(d));
    for (const auto& d : cfg.relay_domains) names_.insert(strip(d));
    for (const auto& ip : cfg.own_addresses) ips_.insert(ip.unmapped());
  }
  bool name_is_ours(std::string_view name) const { return names_.count(strip(name)) != 0; }
  bool ip_is_ours(const inet::ip_address& ip) const { return ips_.count(ip.unmapped()) != 0; }
  // Whether the name collides with anything we claim, as itself or as a suffix of ours, so the
  // external test domain stays external in every composite the catalogue builds.
  bool touches(std::string_view name) const {
    const std::string n = strip(name);
    for (const auto& d : names_) {
      if (d == n) return true;
      if (d.size() > n.size() && d.compare(d.size() - n.size(), n.size(), n) == 0) return true;
      if (n.size() > d.size() && n.compare(n.size() - d.size(), d.size(), d) == 0) return true;
    }
    return false;
  }

 private:
  static std::string strip(std::string_view name) {
    std::string n = lower(name);
    if (!n.empty() && n.back() == '.') n.pop_back();
    return n;
  }
  std::set<std::string> names_;
  std::set<inet::ip_address> ips_;
};

std::string pick_external(const ground_truth& truth) {
  for (const auto c : external_candidates) {
    if (!truth.touches(c)) return std::string(c);
  }
  // Every candidate is claimed by the config (absurd but possible): build one that cannot be.
  std::string name = "relay-proof";
  while (truth.touches(name + ".invalid")) name += "-x";
  return name + ".invalid";
}

template <std::size_t N>
std::optional<inet::ip_address> pick_literal(const ground_truth& truth,
                                             const std::string_view (&candidates)[N]) {
  for (const auto c : candidates) {
    const auto ip = inet::ip_address::parse(c);
    if (ip && !truth.ip_is_ours(*ip)) return ip;
  }
  return std::nullopt;
}

std::string literal_of(const inet::ip_address& ip) {
  const inet::ip_address u = ip.unmapped();
  return u.is_v4() ? "[" + u.to_string() + "]" : "[IPv6:" + u.to_string() + "]";
}

std::vector<via> build_vias(const relay_config& cfg, const std::string& hostname,
                            const ground_truth& truth) {
  std::vector<via> out;
  std::set<std::string> seen;
  auto add = [&](std::string text, std::string kind, bool is_name, bool ours) {
    if (text.empty() || !seen.insert(lower(text)).second) return;
    out.push_back(via{std::move(text), std::move(kind), is_name, ours});
  };
  for (const auto& d : cfg.local_domains) add(d, "local domain", true, truth.name_is_ours(d));
  add(hostname, "hostname", true, truth.name_is_ours(hostname));
  for (const auto& d : cfg.relay_domains) add(d, "relay domain", true, truth.name_is_ours(d));
  for (const auto& ip : cfg.own_addresses) {
    const inet::ip_address u = ip.unmapped();
    add(literal_of(u), u.is_v4() ? "own IPv4 literal" : "own IPv6 literal", false, true);
    if (u.is_v4()) {
      // The same host written as an IPv4-mapped IPv6 literal.
      if (auto mapped = inet::ip_address::parse("::ffff:" + u.to_string())) {
        add("[IPv6:" + mapped->to_string() + "]", "own IPv4-mapped IPv6 literal", false, true);
      }
    }
  }
  return out;
}

std::vector<rcpt_case> build_catalogue(const std::vector<via>& vias, const std::string& ext,
                                       const ground_truth& truth) {
  std::vector<rcpt_case> out;
  auto add = [&](std::string form, std::string text, bool ours) {
    out.push_back(rcpt_case{std::move(form), "<" + std::move(text) + ">", ours});
  };

  // Forms that need no via: plainly somewhere else.
  add("plain external", "user@" + ext, false);
  add("mixed case external", "User@" + mixed_case(ext), false);
  add("trailing dot external", "user@" + ext + ".", false);
  add("bang path unqualified", ext + "!user", false);
  add("unqualified user", "user", false);
  add("unqualified postmaster", "Postmaster", true);
  if (auto ip = pick_literal(truth, external_v4_literals)) {
    add("external IPv4 literal", "user@[" + ip->to_string() + "]", false);
    add("percent hack via external IPv4 literal", "user%" + ext + "@[" + ip->to_string() + "]",
        false);
  }
  if (auto ip = pick_literal(truth, external_v6_literals)) {
    add("external IPv6 literal", "user@[IPv6:" + ip->to_string() + "]", false);
  }
  add("general address literal", "user@[x-relay-proof:" + ext + "]", false);

  for (std::size_t i = 0; i < vias.size(); ++i) {
    const via& v = vias[i];
    // A second hop for the double forms: the next via that is a name, since a literal is not
    // allowed in a source route or a Dot-string (the string would just fail to parse).
    std::string hop2 = ext;
    for (std::size_t k = 1; k < vias.size(); ++k) {
      const via& next = vias[(i + k) % vias.size()];
      if (next.is_name) {
        hop2 = next.text;
        break;
      }
    }
    const std::string& at = v.text;
    const std::string on = " via " + v.kind;

    // The via itself, unrouted: ours exactly when the via is (the legitimate controls).
    add("plain" + on, "user@" + at, v.ours);
    add("percent hack" + on, "user%" + ext + "@" + at, false);
    add("double percent hack" + on, "user%" + ext + "%" + hop2 + "@" + at, false);
    add("bang path" + on, ext + "!user@" + at, false);
    add("quoted at" + on, "\"user@" + ext + "\"@" + at, false);
    add("quoted percent" + on, "\"user%" + ext + "\"@" + at, false);
    add("escaped at" + on, "\"user\\@" + ext + "\"@" + at, false);
    add("quoted colon" + on, "\"" + ext + ":user\"@" + at, false);
    add("double at" + on, "user@" + ext + "@" + at, false);
    add("source route" + on, "@" + at + ":user@" + ext, false);
    add("two-hop source route" + on, "@" + at + ",@" + hop2 + ":user@" + ext, false);
    add("source route and percent hack" + on, "@" + at + ":user%" + ext + "@" + at, false);
    add("source route through external" + on, "@" + ext + ":user@" + at, false);
    if (v.is_name) {
      add("upper case" + on, "USER@" + upper(at), v.ours);
      add("trailing dot" + on, "user@" + at + ".", v.ours);
      add("upper-case percent hack" + on, "user%" + ext + "@" + upper(at), false);
      add("trailing dot percent hack" + on, "user%" + ext + "@" + at + ".", false);
      // Suffix tricks: a subdomain or superdomain of ours is not ours unless configured itself.
      add("suffix trick (via.ext)" + on, "user@" + at + "." + ext,
          truth.name_is_ours(at + "." + ext));
      add("suffix trick (ext.via)" + on, "user@" + ext + "." + at,
          truth.name_is_ours(ext + "." + at));
    }
  }
  return out;
}

std::vector<std::string> build_helos(const relay_config& cfg, const std::string& hostname,
                                     const std::string& ext) {
  std::vector<std::string> out;
  auto add = [&](std::string h) {
    if (std::find(out.begin(), out.end(), h) == out.end()) out.push_back(std::move(h));
  };
  if (!hostname.empty()) add(hostname);
  for (const auto& ip : cfg.own_addresses) add(literal_of(ip));
  for (const auto& d : cfg.local_domains) add(d);
  add("localhost");
  add("mail." + ext);
  return out;
}

std::vector<std::string> build_senders(const relay_config& cfg, const std::string& hostname,
                                       const std::string& ext) {
  std::vector<std::string> out;
  auto add = [&](std::string s) {
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
  };
  add("<>");
  for (const auto& d : cfg.local_domains) {
    add("<postmaster@" + d + ">");
    add("<user@" + d + ">");
  }
  if (!hostname.empty()) add("<user@" + hostname + ">");
  for (const auto& ip : cfg.own_addresses) add("<user@" + literal_of(ip) + ">");
  add("<sender@" + ext + ">");
  return out;
}

}  // namespace

std::string relay_finding::to_string() const {
  return fmt::format("client {} HELO {} MAIL FROM:{} RCPT TO:{} ({}) permitted by {}", client, helo,
                     sender, recipient, form, decided_by);
}

relay_proof_result prove_relay_safety(const relay_config& policy, const std::string& hostname,
                                      const std::vector<inet::ip_address>& also_untrusted) {
  const ground_truth truth(policy);
  const std::string ext = pick_external(truth);

  std::vector<outsider> clients;
  for (const auto text : outsider_v4) {
    if (auto ip = inet::ip_address::parse(text)) clients.push_back({std::string(text), *ip});
    // The same outsider over an IPv6 socket: it must not match more than it would as IPv4.
    const std::string mapped = "::ffff:" + std::string(text);
    if (auto ip = inet::ip_address::parse(mapped)) clients.push_back({mapped, *ip});
  }
  for (const auto text : outsider_v6) {
    if (auto ip = inet::ip_address::parse(text)) clients.push_back({std::string(text), *ip});
  }
  for (const auto& ip : also_untrusted) clients.push_back({ip.to_string(), ip});

  const std::vector<std::string> helos = build_helos(policy, hostname, ext);

  // Senders and recipients go through the parser exactly as MAIL and RCPT would; what fails to
  // parse is refused with 501 before the policy is asked, so it is no relay path.
  std::vector<std::pair<std::string, smtp::address>> senders;
  for (auto& s : build_senders(policy, hostname, ext)) {
    auto parsed = smtp::parse_address(s, mail_options);
    if (parsed) senders.emplace_back(std::move(s), std::move(*parsed));
  }
  struct parsed_case {
    rcpt_case c;
    smtp::address addr;
  };
  std::vector<parsed_case> rcpts;
  for (auto& c : build_catalogue(build_vias(policy, hostname, truth), ext, truth)) {
    auto parsed = smtp::parse_address(c.text, rcpt_options);
    if (parsed) rcpts.push_back({std::move(c), std::move(*parsed)});
  }

  relay_proof_result result;
  std::set<std::pair<std::string, std::string>> reported;  // (client, form)
  for (const auto& client : clients) {
    for (const auto& rc : rcpts) {
      for (const bool tls : {false, true}) {
        for (const auto& helo : helos) {
          for (const auto& [sender_text, sender] : senders) {
            relay_request req;
            req.client = client.ip;
            req.tls = tls;
            req.helo = helo;
            req.sender = &sender;
            req.recipient = &rc.addr;
            const verdict v = evaluate(policy, req);
            ++result.cases;
            if (rc.c.ours || !v.permitted()) continue;
            if (!reported.emplace(client.text, rc.c.form).second) continue;
            result.findings.push_back(
                relay_finding{client.text, helo, sender_text, rc.c.text, rc.c.form, v.decided_by});
          }
        }
      }
    }
  }
  return result;
}

}  // namespace mx::policy
