// policy/dnsbl_sites: the pure half of DNSBL checking. Parses Postfix postscreen_dnsbl_sites
// entries, builds the DNS names to query, classifies a list's A answer, adds weights into a score
// and builds the reject reply. No I/O: the smtpd shell and `mxguard lookup` ask the resolver and
// hand the answers in here.
//
// SECURITY:
//  - A list answers through the DNS, so its answer is untrusted. Only 127.0.0.0/8 answers can be
//    listings. Anything outside it (an NXDOMAIN-rewriting resolver's web server, a wildcard),
//    127.0.0.1 (RFC 5782 2.1 says it is never a listing), and 127.255.255.0/24 (Spamhaus's
//    "query refused" codes 127.255.255.252/254/255) are list errors: never a listing, never a
//    score. An answer holding one error record is a list error as a whole: a list that mixes
//    error codes into a listing is not answering the question we asked.
//  - A list counts once per client however many A records match (Postfix does the same), so a
//    list cannot inflate its own weight by answering many records.
//  - Query names are built only from a parsed IP address or from a domain made of letters,
//    digits, '-' and '_' labels, never from raw client text; a name that would exceed 255 octets
//    on the wire is refused rather than truncated.
//  - TXT text from a list goes into an SMTP reply: only printable ASCII survives, bounded in
//    length (smtp::reply::wire() also strips CR/LF/NUL; this is stricter).
//  - Weights are bounded (|weight| <= max_weight) so a score sum cannot overflow.
// RFCs: 5782 2.1 (IPv4 names, 127.0.0.2 test point, 127.0.0.1 never listed), 2.3 (A and TXT),
//       2.4 (IPv6 nibble names), 3 (domain lists), 5 (test points); 1035 2.3.4 (name limits);
//       5321 4.2 (reply), 3463 (5.7.1, 4.7.1). Postfix postscreen(8) postscreen_dnsbl_sites.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/inet.hpp"
#include "core/result.hpp"
#include "smtp/reply.hpp"

namespace mx::policy::dnsbl {

inline constexpr int max_weight = 100000;
inline constexpr std::size_t max_txt_length = 200;  // in a reply, after sanitizing

using a_record = std::array<std::uint8_t, 4>;

// One octet of a reply pattern: a union of inclusive ranges ("2", "[2..11]", "[2;4;10..11]").
struct octet_pattern {
  struct range {
    std::uint8_t lo = 0;
    std::uint8_t hi = 255;
    friend bool operator==(const range&, const range&) = default;
  };
  std::vector<range> ranges;

  bool matches(std::uint8_t v) const;
  friend bool operator==(const octet_pattern&, const octet_pattern&) = default;
};

// "127.0.0.[2..11]": four octet patterns.
struct reply_pattern {
  std::array<octet_pattern, 4> octets;

  bool matches(const a_record& r) const;
  std::string to_string() const;  // canonical text, e.g. "127.0.0.[2..11]"
  friend bool operator==(const reply_pattern&, const reply_pattern&) = default;
};

// One postscreen_dnsbl_sites entry: domain[=pattern][*weight].
struct site {
  std::string domain;                    // lower case, no trailing dot
  std::optional<reply_pattern> pattern;  // none: any listing code matches
  int weight = 1;                        // negative for allowlists

  std::string to_string() const;  // canonical entry text
  friend bool operator==(const site&, const site&) = default;
};

// Parses "bl.example.test", "zen.spamhaus.org=127.0.0.[2..11]*3", "list.dnswl.org=127.0.[0..255].
// [1..3]*-5". The error says what is wrong, for config messages.
mx::expected<site, std::string> parse_site(std::string_view text);

// A zone or domain as a DNSBL name takes it: lower case, trailing dot dropped, labels of 1-63
// letters, digits, '-' or '_'. nullopt otherwise.
std::optional<std::string> canonical_zone(std::string_view text);

// "4.3.2.1.zone" for 1.2.3.4 (an IPv4-mapped IPv6 client is queried as IPv4), or the 32 reversed
// nibbles of an IPv6 address then the zone (RFC 5782 2.4). nullopt when the zone is not a
// canonical_zone or the name would exceed 255 octets.
std::optional<std::string> ip_query_name(const inet::ip_address& ip, std::string_view zone);

// "example.com.dbl.zone" for a domain list (RFC 5782 3). nullopt when the domain or zone is not a
// canonical_zone, or the name would exceed 255 octets.
std::optional<std::string> domain_query_name(std::string_view domain, std::string_view zone);

enum class code_kind : std::uint8_t {
  listing,     // 127.0.0.2 - 127.255.254.255, except 127.0.0.1
  list_error,  // outside 127.0.0.0/8, 127.0.0.1, 127.255.255.0/24
};
code_kind classify_code(const a_record& r);
std::string to_string(const a_record& r);

// How one list (site) answered for one client.
enum class list_status : std::uint8_t {
  not_listed,  // NXDOMAIN, NODATA, or listing codes that the site's pattern does not match
  listed,      // at least one listing code matched; counts once
  list_error,  // an error code in the answer (see SECURITY): never counts
  failed,      // timeout, SERVFAIL, resolver error: fails open, never counts
};
std::string_view name_of(list_status s);

struct list_result {
  std::string list;  // the site's domain
  int weight = 0;    // the site's weight (counted only when listed)
  list_status status = list_status::not_listed;
  std::vector<a_record> codes;  // listed: the matching codes; list_error: the error codes
  friend bool operator==(const list_result&, const list_result&) = default;
};

// Classifies a list's A records for the site (an empty span is NXDOMAIN or NODATA).
list_result classify_answer(const site& s, std::span<const a_record> records);
// A lookup that did not produce an answer (timeout, SERVFAIL).
list_result failed_lookup(const site& s);

struct verdict {
  int score = 0;                     // sum of the weights of the listed sites
  std::vector<list_result> listed;   // sites that matched, in input order
  std::vector<list_result> errors;   // list errors and failed lookups, in input order
  std::optional<std::size_t> blame;  // index into `listed`: the highest positive weight, first
                                     // on ties (the list named in the reply); none if none > 0
  bool reached(int threshold) const { return !listed.empty() && score >= threshold; }
};
verdict score(std::span<const list_result> results);

// Printable ASCII only (others become '?'), runs of spaces collapsed, trimmed, at most max_len
// octets (cut with "...").
std::string sanitize_txt(std::string_view txt, std::size_t max_len = max_txt_length);

// "554 5.7.1 Service unavailable; client [ip] blocked using <list>[; <TXT>]", or
// "450 4.7.1 ..." when defer is true. The TXT is sanitized here; empty means none.
smtp::reply blocked_reply(const inet::ip_address& client, std::string_view list,
                          std::string_view txt, bool defer);

}  // namespace mx::policy::dnsbl
